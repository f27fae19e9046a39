package cgroups

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
)

func i64(v int64) *int64   { return &v }
func u64(v uint64) *uint64 { return &v }
func u32(v uint32) *uint32 { return &v }
func u16(v uint16) *uint16 { return &v }
func boolp(v bool) *bool   { return &v }
func onV1(ctrls ...string) placement {
	set := map[string]bool{}
	for _, c := range ctrls {
		set[c] = true
	}
	return placement{onV1: func(c string) bool { return set[c] }}
}

// flat lists "controller:file=value" of a plan, in order.
func flat(steps []writeStep) []string {
	var out []string
	for _, s := range steps {
		for _, w := range s.Writes {
			out = append(out, w.Controller+":"+w.File+"="+w.Value)
		}
	}
	return out
}

func TestDeviceRule(t *testing.T) {
	cases := []struct {
		in   specs.LinuxDeviceCgroup
		want string
	}{
		{specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: i64(1), Minor: i64(3), Access: "rwm"}, "c 1:3 rwm"},
		{specs.LinuxDeviceCgroup{Access: "rwm"}, "a *:* rwm"},
		{specs.LinuxDeviceCgroup{Type: "b", Major: i64(8)}, "b 8:* rwm"},
		{specs.LinuxDeviceCgroup{Type: "c", Major: i64(-1), Minor: i64(5), Access: "m"}, "c *:5 m"},
	}
	for _, c := range cases {
		got, err := deviceRule(c.in)
		if err != nil || got != c.want {
			t.Errorf("deviceRule(%+v) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, bad := range []specs.LinuxDeviceCgroup{{Type: "x"}, {Access: "rwx"}, {Access: "rwmr"}, {Type: "c", Major: i64(-2)}} {
		if _, err := deviceRule(bad); err == nil {
			t.Errorf("deviceRule(%+v) accepted", bad)
		}
	}
}

func TestPlanResourcesFull(t *testing.T) {
	res := &specs.LinuxResources{
		Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}, {Allow: true, Type: "c", Major: i64(1), Minor: i64(3), Access: "rwm"}},
		Memory: &specs.LinuxMemory{Limit: i64(100), Reservation: i64(50), Swap: i64(200), Kernel: i64(300), KernelTCP: i64(400),
			Swappiness: u64(10), DisableOOMKiller: boolp(true), UseHierarchy: boolp(true)},
		CPU: &specs.LinuxCPU{Shares: u64(512), Quota: i64(50000), Period: u64(100000), Burst: u64(1000), RealtimeRuntime: i64(10),
			RealtimePeriod: u64(20), Cpus: "0-1", Mems: "0", Idle: i64(1)},
		Pids: &specs.LinuxPids{Limit: i64(0)},
		BlockIO: &specs.LinuxBlockIO{Weight: u16(500), LeafWeight: u16(300),
			WeightDevice:            []specs.LinuxWeightDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 0}, Weight: u16(100), LeafWeight: u16(90)}},
			ThrottleReadBpsDevice:   []specs.LinuxThrottleDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 0}, Rate: 1}},
			ThrottleWriteBpsDevice:  []specs.LinuxThrottleDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 0}, Rate: 2}},
			ThrottleReadIOPSDevice:  []specs.LinuxThrottleDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 0}, Rate: 3}},
			ThrottleWriteIOPSDevice: []specs.LinuxThrottleDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 0}, Rate: 4}}},
		HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 4194304}},
		Network:        &specs.LinuxNetwork{ClassID: u32(0x100001), Priorities: []specs.LinuxInterfacePriority{{Name: "eth0", Priority: 5}}},
		Rdma:           map[string]specs.LinuxRdma{"mlx4_0": {HcaHandles: u32(2)}},
	}
	steps, err := planResources(res, onV1())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"devices:devices.deny=a *:* rwm",
		"devices:devices.allow=c 1:3 rwm",
		"cpuset:cpuset.cpus=0-1",
		"cpuset:cpuset.mems=0",
		"cpu:cpu.shares=512",
		"cpu:cpu.cfs_period_us=100000",
		"cpu:cpu.cfs_quota_us=50000",
		"cpu:cpu.cfs_burst_us=1000",
		"cpu:cpu.rt_period_us=20",
		"cpu:cpu.rt_runtime_us=10",
		"cpu:cpu.idle=1",
		"memory:memory.limit_in_bytes=100",
		"memory:memory.memsw.limit_in_bytes=200",
		"memory:memory.soft_limit_in_bytes=50",
		"memory:memory.kmem.limit_in_bytes=300",
		"memory:memory.kmem.tcp.limit_in_bytes=400",
		"memory:memory.swappiness=10",
		"memory:memory.oom_control=1",
		"memory:memory.use_hierarchy=1",
		"pids:pids.max=max",
		"blkio:blkio.weight=500",
		"blkio:blkio.leaf_weight=300",
		"blkio:blkio.weight_device=8:0 100",
		"blkio:blkio.leaf_weight_device=8:0 90",
		"blkio:blkio.throttle.read_bps_device=8:0 1",
		"blkio:blkio.throttle.write_bps_device=8:0 2",
		"blkio:blkio.throttle.read_iops_device=8:0 3",
		"blkio:blkio.throttle.write_iops_device=8:0 4",
		"unified:hugetlb.2MB.max=4194304",
		"net_cls:net_cls.classid=1048577",
		"net_prio:net_prio.ifpriomap=eth0 5",
		"unified:rdma.max=mlx4_0 hca_handle=2 hca_object=max",
	}
	if got := flat(steps); !reflect.DeepEqual(got, want) {
		t.Errorf("plan:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// hugetlb and rdma as v1 hierarchies.
	steps, err = planResources(&specs.LinuxResources{HugepageLimits: res.HugepageLimits, Rdma: res.Rdma}, onV1("hugetlb", "rdma"))
	if err != nil {
		t.Fatal(err)
	}
	want = []string{"hugetlb:hugetlb.2MB.limit_in_bytes=4194304", "rdma:rdma.max=mlx4_0 hca_handle=2 hca_object=max"}
	if got := flat(steps); !reflect.DeepEqual(got, want) {
		t.Errorf("plan = %v, want %v", got, want)
	}
}

func TestPlanResourcesMemoryUnlimited(t *testing.T) {
	steps, err := planResources(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(-1)}}, onV1())
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 1 || !steps[0].Reversible || len(steps[0].Writes) != 2 || !steps[0].Writes[1].Optional || steps[0].Writes[1].Value != "-1" {
		t.Errorf("steps = %+v", steps)
	}
	// Zero means unset, as in runc.
	steps, _ = planResources(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(0), Swap: i64(0)}, CPU: &specs.LinuxCPU{Shares: u64(0)}}, onV1())
	if len(steps) != 0 {
		t.Errorf("zero values planned %v", flat(steps))
	}
	// Docker sends blockIO.weight 0 when --blkio-weight is not given.
	zeroIO := &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{Weight: u16(0), LeafWeight: u16(0)}}
	if steps, _ = planResources(zeroIO, onV1()); len(steps) != 0 {
		t.Errorf("zero weights planned %v", flat(steps))
	}
	if steps, err = planV2(zeroIO); err != nil || len(steps) != 0 {
		t.Errorf("zero weights on v2: %v, %v", flat(steps), err)
	}
}

func TestPlanResourcesErrors(t *testing.T) {
	cases := []struct {
		res   specs.LinuxResources
		field string
	}{
		{specs.LinuxResources{Unified: map[string]string{"memory.max": "1"}}, "linux.resources.unified"},
		{specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(200), Swap: i64(100)}}, "linux.resources.memory.swap"},
		{specs.LinuxResources{Memory: &specs.LinuxMemory{Swappiness: u64(101)}}, "linux.resources.memory.swappiness"},
		{specs.LinuxResources{CPU: &specs.LinuxCPU{Idle: i64(2)}}, "linux.resources.cpu.idle"},
		{specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "../x"}}}, "linux.resources.hugepageLimits[0].pageSize"},
		{specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Type: "z"}}}, "linux.resources.devices[0]"},
	}
	for _, c := range cases {
		_, err := planResources(&c.res, onV1())
		if err == nil || !strings.HasPrefix(err.Error(), c.field) {
			t.Errorf("planResources(%+v) error = %v, want one naming %s", c.res, err, c.field)
		}
	}
}

// fakeCgroups builds directories with empty interface files standing in for
// cgroupfs, and a Manager loaded on them.
func fakeCgroups(t *testing.T, files map[string][]string) (*hybridManager, map[string]string) {
	t.Helper()
	root := t.TempDir()
	paths := map[string]string{}
	for key, names := range files {
		dir := filepath.Join(root, strings.ReplaceAll(key, "=", "_"), "c1")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			if err := os.WriteFile(filepath.Join(dir, n), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		paths[key] = dir
	}
	return loadHybridManager(&Record{Paths: paths}), paths
}

func TestUpdateWritesFiles(t *testing.T) {
	m, paths := fakeCgroups(t, map[string][]string{
		"memory":      {"memory.limit_in_bytes", "memory.memsw.limit_in_bytes"},
		"cpu,cpuacct": {"cpu.shares"},
		"blkio":       {"blkio.bfq.weight"},
		"pids":        {"pids.max"},
	})
	err := m.Update(&specs.LinuxResources{
		Memory:  &specs.LinuxMemory{Limit: i64(1 << 20), Swap: i64(2 << 20)},
		CPU:     &specs.LinuxCPU{Shares: u64(256)},
		BlockIO: &specs.LinuxBlockIO{Weight: u16(300)},
		Pids:    &specs.LinuxPids{Limit: i64(-1)},
	})
	if err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{
		filepath.Join(paths["memory"], "memory.limit_in_bytes"):       "1048576",
		filepath.Join(paths["memory"], "memory.memsw.limit_in_bytes"): "2097152",
		filepath.Join(paths["cpu,cpuacct"], "cpu.shares"):             "256",
		filepath.Join(paths["blkio"], "blkio.bfq.weight"):             "300",
		filepath.Join(paths["pids"], "pids.max"):                      "max",
	} {
		if got, _ := os.ReadFile(file); string(got) != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
}

func TestUpdateErrorsNameField(t *testing.T) {
	m, _ := fakeCgroups(t, map[string][]string{"memory": {"memory.limit_in_bytes"}, "blkio": {}})
	cases := []struct {
		res  specs.LinuxResources
		want string
	}{
		{specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(1), Swap: i64(2)}}, "linux.resources.memory.swap: memory.memsw.limit_in_bytes not available"},
		{specs.LinuxResources{Memory: &specs.LinuxMemory{Kernel: i64(1)}}, "linux.resources.memory.kernel: memory.kmem.limit_in_bytes not available"},
		{specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{Weight: u16(10)}}, "linux.resources.blockIO.weight: neither blkio.weight nor blkio.bfq.weight"},
		{specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{LeafWeight: u16(10)}}, "linux.resources.blockIO.leafWeight: blkio.leaf_weight not available"},
		{specs.LinuxResources{Network: &specs.LinuxNetwork{ClassID: u32(1)}}, "linux.resources.network.classID: the net_cls cgroup hierarchy is not mounted"},
		{specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(5)}}, "linux.resources.pids.limit: the pids cgroup hierarchy is not mounted"},
		{specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 1}}}, "linux.resources.hugepageLimits[0]: the hugetlb controller is neither"},
		{specs.LinuxResources{Rdma: map[string]specs.LinuxRdma{"d": {}}}, `linux.resources.rdma["d"]: the rdma controller is neither`},
	}
	for _, c := range cases {
		err := m.Update(&c.res)
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("Update(%+v) = %v, want prefix %q", c.res, err, c.want)
		}
	}
	// An unlimited memory limit lifts memsw only where it exists.
	if err := m.Update(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(-1)}}); err != nil {
		t.Errorf("limit -1 without memsw: %v", err)
	}
}

func TestCreateNeedsNew(t *testing.T) {
	if err := Load(&Record{Paths: map[string]string{"memory": "/nonexistent"}}).Create(nil); err == nil {
		t.Error("Create on a loaded manager succeeded")
	}
}
