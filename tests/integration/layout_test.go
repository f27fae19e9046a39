package integration

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// timeScale stretches the tests' waits: NSRUN_TEST_TIME_SCALE=10 in the
// VM lane, where everything runs 5-80 times slower (TCG emulation).
var timeScale = func() int {
	if n, err := strconv.Atoi(os.Getenv("NSRUN_TEST_TIME_SCALE")); err == nil && n > 0 {
		return n
	}
	return 1
}()

// pureV2 is true on a host whose /sys/fs/cgroup is the cgroup2 hierarchy
// itself (the cgroup v2 VM lane); the same tests then check the v2 files.
var pureV2 = func() bool {
	var st unix.Statfs_t
	return unix.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}()

// unifiedRoot is where the cgroup2 hierarchy is mounted.
func unifiedRoot() string {
	if pureV2 {
		return "/sys/fs/cgroup"
	}
	return "/sys/fs/cgroup/unified"
}

// cgroupPathDir is the container's directory for cgroupsPath p: in the
// hierarchy named on v1, the one cgroup2 directory on v2.
func cgroupPathDir(hierarchy, p string) string {
	if pureV2 {
		return filepath.Join("/sys/fs/cgroup", p)
	}
	return filepath.Join("/sys/fs/cgroup", hierarchy, p)
}

// expectCgroupValues checks cgroup files given by their v1 names
// ("memory/memory.limit_in_bytes") under the container's cgroupsPath p.
// On pure v2 each is checked in its v2 form (file and value converted as
// nsrun's v2 mapping does).
func expectCgroupValues(t *testing.T, p string, want map[string]string) {
	t.Helper()
	if !pureV2 {
		for f, w := range want {
			hier, file, _ := strings.Cut(f, "/")
			if got := readCgroupFile(t, filepath.Join(cgroupPathDir(hier, p), file)); got != w {
				t.Errorf("%s = %q, want %q", f, got, w)
			}
		}
		return
	}
	dir := cgroupPathDir("", p)
	for file, w := range v2Expectations(t, want) {
		if got := readCgroupFile(t, filepath.Join(dir, file)); got != w {
			t.Errorf("%s = %q, want %q (v2 form of %v)", file, got, w, want)
		}
	}
}

// v2Expectations converts v1 file expectations to the v2 files.
func v2Expectations(t *testing.T, v1 map[string]string) map[string]string {
	t.Helper()
	unlimited := func(v string) string {
		if v == "9223372036854771712" || v == "-1" {
			return "max"
		}
		return v
	}
	out := map[string]string{}
	for f, v := range v1 {
		switch f {
		case "memory/memory.limit_in_bytes":
			out["memory.max"] = unlimited(v)
		case "memory/memory.memsw.limit_in_bytes":
			// memory.swap.max is swap alone: memsw - limit.
			lim, ok := v1["memory/memory.limit_in_bytes"]
			if !ok {
				t.Logf("memory+swap %s: no limit given to derive memory.swap.max from", v)
				continue
			}
			if unlimited(v) == "max" {
				out["memory.swap.max"] = "max"
				continue
			}
			m, _ := strconv.ParseInt(v, 10, 64)
			l, _ := strconv.ParseInt(lim, 10, 64)
			out["memory.swap.max"] = strconv.FormatInt(m-l, 10)
		case "memory/memory.soft_limit_in_bytes":
			out["memory.low"] = v
		case "pids/pids.max", "cpuset/cpuset.cpus", "cpuset/cpuset.mems":
			_, file, _ := strings.Cut(f, "/")
			out[file] = v
		case "cpu/cpu.shares":
			s, _ := strconv.ParseUint(v, 10, 64)
			out["cpu.weight"] = strconv.FormatUint(1+((s-2)*9999)/262142, 10)
		case "cpu/cpu.cfs_quota_us":
			period, ok := v1["cpu/cpu.cfs_period_us"]
			if !ok {
				period = "100000" // the kernel's default
			}
			q := v
			if q == "-1" {
				q = "max"
			}
			out["cpu.max"] = q + " " + period
		case "cpu/cpu.cfs_period_us":
			if _, ok := v1["cpu/cpu.cfs_quota_us"]; !ok {
				t.Fatalf("test bug: period %s without a quota to check", v)
			}
		default:
			t.Fatalf("test bug: no v2 form known for %s", f)
		}
	}
	return out
}
