package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func readCgroupFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return strings.TrimSpace(string(data))
}

func TestCgroupResourcesApplied(t *testing.T) {
	b := newBundle(t, "sleep", "30")
	lim, swap := int64(64<<20), int64(128<<20)
	shares, quota, period := uint64(512), int64(50000), uint64(100000)
	pids := int64(32)
	b.Spec.Linux.CgroupsPath = "/nsrun-it/" + t.Name()
	b.Spec.Linux.Resources.Memory = &specs.LinuxMemory{Limit: &lim, Swap: &swap}
	b.Spec.Linux.Resources.CPU = &specs.LinuxCPU{Shares: &shares, Quota: &quota, Period: &period, Cpus: "0"}
	b.Spec.Linux.Resources.Pids = &specs.LinuxPids{Limit: &pids}
	b.write()
	id := newID(t)
	b.cleanup(id)
	mustOK(t, b.nsrun("create", "-b", b.Dir, id), "create")
	pid := b.state(id)["pid"].(float64)
	base := "/nsrun-it/" + t.Name()
	expectCgroupValues(t, base, map[string]string{
		"memory/memory.limit_in_bytes":       "67108864",
		"memory/memory.memsw.limit_in_bytes": "134217728",
		"cpu/cpu.shares":                     "512",
		"cpu/cpu.cfs_quota_us":               "50000",
		"cpu/cpu.cfs_period_us":              "100000",
		"cpuset/cpuset.cpus":                 "0",
		"pids/pids.max":                      "32",
	})
	// The init is in the container's cgroup in every hierarchy.
	procs := readCgroupFile(t, filepath.Join(cgroupPathDir("memory", base), "cgroup.procs"))
	if !strings.Contains(procs, fmtInt(int64(pid))) {
		t.Errorf("init %v not in memory cgroup: %q", pid, procs)
	}
	mustOK(t, b.nsrun("delete", "--force", id), "delete")
	for _, h := range []string{"memory", "cpu", "pids", "cpuset", "devices", "freezer"} {
		if _, err := os.Stat(cgroupPathDir(h, base)); err == nil {
			t.Errorf("cgroup %s left after delete", cgroupPathDir(h, base))
		}
	}
	if _, err := os.Stat(cgroupPathDir("memory", "/nsrun-it")); err == nil {
		t.Errorf("parent cgroup %s left after delete", cgroupPathDir("memory", "/nsrun-it"))
	}
}

func fmtInt(n int64) string {
	if n == 0 {
		return "0"
	}
	var d []byte
	for n > 0 {
		d = append([]byte{byte('0' + n%10)}, d...)
		n /= 10
	}
	return string(d)
}

func TestDevicesCgroupDenies(t *testing.T) {
	// mknod is allowed (c *:* m) but reading /dev/mem (1:1) is not.
	b := newBundle(t, "sh", "-c", "mknod /dev/mem2 c 1 1 && head -c 1 /dev/mem2 >/dev/null 2>/tmp/err; cat /tmp/err")
	b.Spec.Process.Capabilities.Bounding = append(b.Spec.Process.Capabilities.Bounding, "CAP_MKNOD")
	b.Spec.Process.Capabilities.Effective = append(b.Spec.Process.Capabilities.Effective, "CAP_MKNOD")
	b.Spec.Process.Capabilities.Permitted = append(b.Spec.Process.Capabilities.Permitted, "CAP_MKNOD")
	r := b.run(newID(t))
	mustOK(t, r, "run")
	if !strings.Contains(r.Stdout, "Operation not permitted") {
		t.Fatalf("open of a denied device: %q", r.Stdout)
	}
}

func TestHugetlbOnUnified(t *testing.T) {
	if _, err := os.Stat("/sys/kernel/mm/hugepages/hugepages-2048kB"); err != nil {
		t.Skip("no 2MB huge pages on this kernel")
	}
	b := newBundle(t, "sleep", "30")
	b.Spec.Linux.CgroupsPath = "/nsrun-it-huge/" + t.Name()
	b.Spec.Linux.Resources.HugepageLimits = []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 4 << 20}}
	b.write()
	id := newID(t)
	b.cleanup(id)
	mustOK(t, b.nsrun("create", "-b", b.Dir, id), "create")
	var file string
	for _, f := range []string{"/sys/fs/cgroup/hugetlb/nsrun-it-huge/" + t.Name() + "/hugetlb.2MB.limit_in_bytes",
		unifiedRoot() + "/nsrun-it-huge/" + t.Name() + "/hugetlb.2MB.max"} {
		if _, err := os.Stat(f); err == nil {
			file = f
		}
	}
	if file == "" {
		t.Fatal("no hugetlb limit file for the container")
	}
	if got := readCgroupFile(t, file); got != "4194304" {
		t.Fatalf("%s = %q", file, got)
	}
}
