package cgroups

import (
	"reflect"
	"strings"
	"testing"
)

const sampleMountinfo = `22 1 0:21 / /sys rw,nosuid - sysfs sysfs rw
30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
31 30 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 30 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,release_agent=/x,name=systemd
40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
41 30 0:38 / /tmp/netcls rw,relatime - cgroup cgroup rw,net_cls,net_prio
42 1 0:31 /sub /mnt/mem rw,relatime - cgroup cgroup rw,memory
43 1 0:38 /deep /mnt/net rw,relatime - cgroup cgroup rw,net_cls,net_prio
`

func TestParseLayout(t *testing.T) {
	l, err := parseLayout(strings.NewReader(sampleMountinfo))
	if err != nil {
		t.Fatal(err)
	}
	want := []Hierarchy{
		{Key: "cpu,cpuacct", Controllers: []string{"cpu", "cpuacct"}, Mountpoint: "/sys/fs/cgroup/cpu,cpuacct", Root: "/"},
		{Key: "memory", Controllers: []string{"memory"}, Mountpoint: "/sys/fs/cgroup/memory", Root: "/"},
		{Key: "name=systemd", Controllers: []string{"name=systemd"}, Mountpoint: "/sys/fs/cgroup/systemd", Root: "/"},
		{Key: "net_cls,net_prio", Controllers: []string{"net_cls", "net_prio"}, Mountpoint: "/tmp/netcls", Root: "/"},
	}
	if !reflect.DeepEqual(l.V1, want) {
		t.Errorf("V1 = %+v\nwant %+v", l.V1, want)
	}
	if l.Unified == nil || l.Unified.Mountpoint != "/sys/fs/cgroup/unified" || l.Unified.Root != "/" {
		t.Errorf("Unified = %+v", l.Unified)
	}
}

func TestParseLayoutPrefersRootMount(t *testing.T) {
	in := "42 1 0:31 /sub /mnt/mem rw - cgroup cgroup rw,memory\n34 30 0:31 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
	l, err := parseLayout(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(l.V1) != 1 || l.V1[0].Mountpoint != "/sys/fs/cgroup/memory" {
		t.Errorf("V1 = %+v", l.V1)
	}
}

func TestParseProcCgroup(t *testing.T) {
	in := "9:name=systemd:/\n4:memory:/process_api/abc\n1:cpu,cpuacct:/c\n0::/u\n"
	got, err := parseProcCgroup(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := ProcCgroup{"name=systemd": "/", "memory": "/process_api/abc", "cpu": "/c", "cpuacct": "/c", UnifiedKey: "/u"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if _, err := parseProcCgroup(strings.NewReader("garbage\n")); err == nil {
		t.Error("bad line accepted")
	}
}

func TestDirUnder(t *testing.T) {
	cases := []struct{ mp, root, p, want string }{
		{"/sys/fs/cgroup/memory", "/", "/nsrun/c1", "/sys/fs/cgroup/memory/nsrun/c1"},
		{"/mnt/mem", "/sub", "/sub/c1", "/mnt/mem/c1"},
		{"/mnt/mem", "/sub", "/subway/c1", ""},
	}
	for _, c := range cases {
		got, err := dirUnder(c.mp, c.root, c.p)
		if c.want == "" {
			if err == nil {
				t.Errorf("dirUnder(%q,%q,%q) = %q, want error", c.mp, c.root, c.p, got)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("dirUnder(%q,%q,%q) = %q, %v; want %q", c.mp, c.root, c.p, got, err, c.want)
		}
	}
}

func TestNewHybridManagerPaths(t *testing.T) {
	l, err := parseLayout(strings.NewReader(sampleMountinfo))
	if err != nil {
		t.Fatal(err)
	}
	l.Unified.Controllers = []string{"hugetlb"}
	own := ProcCgroup{"cpu": "/", "cpuacct": "/", "memory": "/proc_api/x", "name=systemd": "/", "net_cls": "/", "net_prio": "/", UnifiedKey: "/"}
	m, err := newHybridManager(l, own, "rel", "c1")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"cpu,cpuacct":      "/sys/fs/cgroup/cpu,cpuacct/rel",
		"memory":           "/sys/fs/cgroup/memory/proc_api/x/rel",
		"name=systemd":     "/sys/fs/cgroup/systemd/rel",
		"net_cls,net_prio": "/tmp/netcls/rel",
		UnifiedKey:         "/sys/fs/cgroup/unified/rel",
	}
	if got := m.Paths(); !reflect.DeepEqual(got, want) {
		t.Errorf("Paths = %v\nwant %v", got, want)
	}
	// Without controllers on cgroup2 there is no unified part.
	l.Unified.Controllers = nil
	m, err = newHybridManager(l, own, "", "c1")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m.Paths()[UnifiedKey]; ok || m.Paths()["memory"] != "/sys/fs/cgroup/memory/nsrun/c1" {
		t.Errorf("Paths = %v", m.Paths())
	}
}
