package cgroups

import (
	"reflect"
	"strings"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
)

// flatV2 lists "enable:file=value" of a v2 plan, in order.
func flatV2(steps []writeStep) []string {
	var out []string
	for _, s := range steps {
		for _, w := range s.Writes {
			if w.Controller != UnifiedKey {
				out = append(out, "NOT-UNIFIED "+w.Controller)
			}
			out = append(out, w.Enable+":"+w.File+"="+w.Value)
		}
	}
	return out
}

func TestPlanV2Full(t *testing.T) {
	dev := specs.LinuxBlockIODevice{Major: 8, Minor: 0}
	res := &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: i64(64 << 20), Reservation: i64(32 << 20), Swap: i64(96 << 20), Swappiness: u64(60), UseHierarchy: boolp(true)},
		CPU:    &specs.LinuxCPU{Shares: u64(1024), Quota: i64(50000), Period: u64(100000), Burst: u64(1000), Cpus: "0-1", Mems: "0", Idle: i64(0)},
		Pids:   &specs.LinuxPids{Limit: i64(32)},
		BlockIO: &specs.LinuxBlockIO{Weight: u16(500),
			WeightDevice:            []specs.LinuxWeightDevice{{LinuxBlockIODevice: dev, Weight: u16(10)}},
			ThrottleReadBpsDevice:   []specs.LinuxThrottleDevice{{LinuxBlockIODevice: dev, Rate: 1048576}},
			ThrottleWriteIOPSDevice: []specs.LinuxThrottleDevice{{LinuxBlockIODevice: dev, Rate: 0}},
		},
		HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 4 << 20}},
		Rdma:           map[string]specs.LinuxRdma{"mlx5_0": {HcaHandles: u32(3)}},
		Unified:        map[string]string{"memory.high": "50000000", "io.latency": "8:0 target=10"},
	}
	steps, err := planV2(res)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"cpuset:cpuset.cpus=0-1",
		"cpuset:cpuset.mems=0",
		"cpu:cpu.weight=39",
		"cpu:cpu.max=50000 100000",
		"cpu:cpu.max.burst=1000",
		"cpu:cpu.idle=0",
		"memory:memory.max=67108864",
		"memory:memory.swap.max=33554432",
		"memory:memory.low=33554432",
		"pids:pids.max=32",
		"io:io.bfq.weight=500",
		"io:io.bfq.weight=8:0 10",
		"io:io.max=8:0 rbps=1048576",
		"io:io.max=8:0 wiops=max",
		"hugetlb:hugetlb.2MB.max=4194304",
		"rdma:rdma.max=mlx5_0 hca_handle=3 hca_object=max",
		"io:io.latency=8:0 target=10",
		"memory:memory.high=50000000",
	}
	if got := flatV2(steps); !reflect.DeepEqual(got, want) {
		t.Errorf("plan:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// The io.weight fallback carries the converted value.
	for _, s := range steps {
		w := s.Writes[0]
		if w.File == "io.bfq.weight" && w.altValue() != "4950" && w.altValue() != "8:0 1" {
			t.Errorf("io.weight fallback of %q: %q", w.Value, w.altValue())
		}
	}
}

func TestV2Conversions(t *testing.T) {
	for shares, want := range map[uint64]uint64{2: 1, 1024: 39, 262144: 10000, 1: 1, 1 << 30: 10000} {
		if got := cpuWeight(shares); got != want {
			t.Errorf("cpuWeight(%d) = %d, want %d", shares, got, want)
		}
	}
	for w, want := range map[uint16]uint64{10: 1, 1000: 10000, 500: 4950} {
		if got := ioWeight(w); got != want {
			t.Errorf("ioWeight(%d) = %d, want %d", w, got, want)
		}
	}
	cases := []struct {
		limit *int64
		swap  int64
		want  string
		err   string
	}{
		{i64(100), 300, "200", ""},
		{i64(100), 100, "0", ""},
		{i64(100), -1, "max", ""},
		{nil, -1, "max", ""},
		{i64(-1), -1, "max", ""},
		{i64(100), 50, "", "below"},
		{nil, 100, "", "needs linux.resources.memory.limit"},
		{i64(-1), 100, "", "unlimited"},
	}
	for _, c := range cases {
		got, err := v2SwapMax(c.limit, c.swap)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) || !strings.Contains(err.Error(), "linux.resources.memory.swap") {
				t.Errorf("v2SwapMax(%v, %d) error %v, want %q", c.limit, c.swap, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("v2SwapMax(%v, %d) = %q, %v; want %q", c.limit, c.swap, got, err, c.want)
		}
	}
}

func TestPlanV2CPUMaxForms(t *testing.T) {
	for _, c := range []struct {
		cpu  specs.LinuxCPU
		want string
	}{
		{specs.LinuxCPU{Quota: i64(20000)}, "20000"},
		{specs.LinuxCPU{Quota: i64(-1), Period: u64(50000)}, "max 50000"},
		{specs.LinuxCPU{Period: u64(50000)}, "max 50000"},
	} {
		steps, err := planV2(&specs.LinuxResources{CPU: &c.cpu})
		if err != nil || len(steps) != 1 || steps[0].Writes[0].Value != c.want {
			t.Errorf("%+v: %v %v, want cpu.max=%q", c.cpu, flatV2(steps), err, c.want)
		}
	}
}

func TestPlanV2Refuses(t *testing.T) {
	cases := map[string]*specs.LinuxResources{
		"linux.resources.network":                    {Network: &specs.LinuxNetwork{ClassID: u32(1)}},
		"linux.resources.cpu.realtimeRuntime":        {CPU: &specs.LinuxCPU{RealtimeRuntime: i64(5)}},
		"linux.resources.memory.kernel":              {Memory: &specs.LinuxMemory{Kernel: i64(5)}},
		"linux.resources.memory.disableOOMKiller":    {Memory: &specs.LinuxMemory{DisableOOMKiller: boolp(true)}},
		"linux.resources.blockIO.leafWeight":         {BlockIO: &specs.LinuxBlockIO{LeafWeight: u16(5)}},
		`linux.resources.unified["../x"]`:            {Unified: map[string]string{"../x": "1"}},
		`linux.resources.unified["cgroup.procs"]`:    {Unified: map[string]string{"cgroup.procs": "1"}},
		"linux.resources.hugepageLimits[0].pageSize": {HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2M"}}},
	}
	for field, res := range cases {
		_, err := planV2(res)
		if err == nil || !strings.HasPrefix(err.Error(), field+":") {
			t.Errorf("%s: error %v", field, err)
		}
	}
	// Accepted and ignored, as every client sends them.
	if steps, err := planV2(&specs.LinuxResources{Memory: &specs.LinuxMemory{Swappiness: u64(60), DisableOOMKiller: boolp(false)}}); err != nil || len(steps) != 0 {
		t.Errorf("swappiness/disableOOMKiller=false: %v %v", flatV2(steps), err)
	}
}
