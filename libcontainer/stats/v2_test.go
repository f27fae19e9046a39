package stats

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// writeFiles makes a fake cgroup2 directory holding files.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// fullV2 is a cgroup with every controller enabled, the files formatted
// as the kernel writes them (6.x).
func fullV2() map[string]string {
	return map[string]string{
		"cpu.stat": "usage_usec 123456\nuser_usec 100000\nsystem_usec 23456\n" +
			"core_sched.force_idle_usec 0\nnr_periods 10\nnr_throttled 3\nthrottled_usec 5000\nnr_bursts 0\nburst_usec 0\n",
		"cpuset.cpus.effective": "0-3,6\n",
		"cpuset.mems.effective": "0\n",
		"memory.current":        "1048576\n",
		"memory.max":            "67108864\n",
		"memory.peak":           "2097152\n",
		"memory.swap.current":   "4096\n",
		"memory.swap.max":       "8192\n",
		"memory.stat":           "anon 700000\nfile 300000\nkernel 40960\nsock 0\nshmem 0\npgfault 1234\n",
		"pids.current":          "3\n",
		"pids.max":              "100\n",
		"io.stat": "8:0 rbytes=1024 wbytes=2048 rios=1 wios=2 dbytes=0 dios=0\n" +
			"253:1 rbytes=10 wbytes=20 rios=3 wios=4 dbytes=5 dios=6\n",
		"hugetlb.2MB.current":      "4194304\n",
		"hugetlb.2MB.max":          "max\n",
		"hugetlb.2MB.events":       "max 7\n",
		"hugetlb.2MB.events.local": "max 7\n",
		"hugetlb.2MB.rsvd.current": "0\n",
		"hugetlb.2MB.rsvd.max":     "max\n",
		"hugetlb.1GB.current":      "0\n",
		"hugetlb.1GB.max":          "0\n",
		"hugetlb.1GB.events":       "max 0\n",
	}
}

func TestReadV2Full(t *testing.T) {
	s, err := ReadV2(writeFiles(t, fullV2()))
	if err != nil {
		t.Fatal(err)
	}
	want := &Stats{
		CPU: CPU{
			Usage:      CPUUsage{Total: 123456000, User: 100000000, Kernel: 23456000},
			Throttling: Throttling{Periods: 10, ThrottledPeriods: 3, ThrottledTime: 5000000},
		},
		CPUSet: CPUSet{CPUs: []uint16{0, 1, 2, 3, 6}, Mems: []uint16{0}},
		Memory: Memory{
			Cache: 300000,
			Usage: MemoryEntry{Usage: 1048576, Limit: 67108864, Max: 2097152},
			Swap:  MemoryEntry{Usage: 1048576 + 4096, Limit: 67108864 + 8192},
			Raw:   map[string]uint64{"anon": 700000, "file": 300000, "kernel": 40960, "sock": 0, "shmem": 0, "pgfault": 1234},
		},
		Pids: Pids{Current: 3, Limit: 100},
		Blkio: Blkio{
			IoServiceBytesRecursive: []BlkioEntry{
				{8, 0, "Read", 1024}, {8, 0, "Write", 2048}, {253, 1, "Read", 10}, {253, 1, "Write", 20},
			},
			IoServicedRecursive: []BlkioEntry{
				{8, 0, "Read", 1}, {8, 0, "Write", 2}, {253, 1, "Read", 3}, {253, 1, "Write", 4},
			},
		},
		Hugetlb: map[string]Hugetlb{"2MB": {Usage: 4194304, Failcnt: 7}, "1GB": {}},
	}
	if !reflect.DeepEqual(s, want) {
		got, _ := json.MarshalIndent(s, "", " ")
		exp, _ := json.MarshalIndent(want, "", " ")
		t.Fatalf("got\n%s\nwant\n%s", got, exp)
	}
}

// An empty directory is a cgroup with no controller enabled and no
// cpu.stat: every section zero, hugetlb an empty object as on v1.
func TestReadV2NoControllers(t *testing.T) {
	s, err := ReadV2(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s, &Stats{Hugetlb: map[string]Hugetlb{}}) {
		t.Fatalf("got %+v", s)
	}
	out, _ := json.Marshal(s)
	if !strings.Contains(string(out), `"hugetlb":{}`) {
		t.Fatalf("hugetlb not an empty object: %s", out)
	}
}

// The swap entry is memory+swap (runc's v1-compatible convention).
func TestReadV2SwapSemantics(t *testing.T) {
	for _, tc := range []struct {
		name             string
		memMax, swapMax  string // "" leaves the swap files out
		wantMem, wantSwp uint64
	}{
		{"both limited", "1000", "500", 1000, 1500},
		{"swap unlimited", "1000", "max", 1000, Unlimited},
		{"memory unlimited", "max", "500", Unlimited, Unlimited},
		{"both unlimited", "max", "max", Unlimited, Unlimited},
		{"no swap accounting", "1000", "", 1000, 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string]string{"memory.current": "100\n", "memory.max": tc.memMax + "\n", "memory.stat": "file 7\n"}
			wantSwapUsage := uint64(100)
			if tc.swapMax != "" {
				files["memory.swap.current"] = "20\n"
				files["memory.swap.max"] = tc.swapMax + "\n"
				wantSwapUsage = 120
			}
			s, err := ReadV2(writeFiles(t, files))
			if err != nil {
				t.Fatal(err)
			}
			m := s.Memory
			if m.Usage != (MemoryEntry{Usage: 100, Limit: tc.wantMem}) {
				t.Errorf("usage entry %+v", m.Usage)
			}
			if m.Swap != (MemoryEntry{Usage: wantSwapUsage, Limit: tc.wantSwp}) {
				t.Errorf("swap entry %+v, want usage %d limit %d", m.Swap, wantSwapUsage, tc.wantSwp)
			}
			if m.Cache != 7 {
				t.Errorf("cache %d", m.Cache)
			}
		})
	}
}

func TestReadV2Pids(t *testing.T) {
	s, err := ReadV2(writeFiles(t, map[string]string{"pids.current": "5\n", "pids.max": "max\n"}))
	if err != nil {
		t.Fatal(err)
	}
	if s.Pids != (Pids{Current: 5}) {
		t.Errorf("unlimited pids: %+v", s.Pids)
	}
	// Without the pids controller the processes are counted.
	s, err = ReadV2(writeFiles(t, map[string]string{"cgroup.procs": "12\n34\n56\n"}))
	if err != nil {
		t.Fatal(err)
	}
	if s.Pids != (Pids{Current: 3}) {
		t.Errorf("pids from cgroup.procs: %+v", s.Pids)
	}
}

// Kernel accounting bugs have made memory.stat counters briefly negative.
func TestReadV2NegativeCounter(t *testing.T) {
	s, err := ReadV2(writeFiles(t, map[string]string{
		"memory.current": "100\n", "memory.max": "max\n", "memory.stat": "anon 5\nfile -4096\n",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if s.Memory.Raw["file"] != 0 || s.Memory.Raw["anon"] != 5 {
		t.Fatalf("raw %v", s.Memory.Raw)
	}
}

// A file that exists but does not parse is an error naming it.
func TestReadV2ParseErrors(t *testing.T) {
	mem := map[string]string{"memory.current": "1\n", "memory.max": "max\n", "memory.stat": "file 0\n"}
	for _, tc := range []struct {
		file, content string
		base          map[string]string
	}{
		{"cpu.stat", "usage_usec lots\n", nil},
		{"cpu.stat", "usage_usec\n", nil},
		{"memory.max", "plenty\n", mem},
		{"memory.current", "-\n", mem},
		{"memory.peak", "x\n", mem},
		{"memory.swap.max", "x\n", map[string]string{"memory.current": "1\n", "memory.max": "max\n", "memory.stat": "\n", "memory.swap.current": "0\n"}},
		{"memory.stat", "file\n", mem},
		{"pids.max", "many\n", map[string]string{"pids.current": "1\n"}},
		{"io.stat", "8-0 rbytes=1\n", nil},
		{"io.stat", "8:0 rbytes=1 wbytes=two\n", nil},
		{"io.stat", "8:0 rbytes\n", nil},
		{"hugetlb.2MB.events", "max\n", map[string]string{"hugetlb.2MB.current": "0\n"}},
		{"hugetlb.2MB.current", "0x\n", map[string]string{"hugetlb.2MB.events": "max 0\n"}},
		{"cpuset.cpus.effective", "0-a\n", map[string]string{"cpuset.mems.effective": "0\n"}},
		{"cpuset.mems.effective", "x\n", map[string]string{"cpuset.cpus.effective": "0\n"}},
	} {
		files := map[string]string{tc.file: tc.content}
		for k, v := range tc.base {
			if k != tc.file {
				files[k] = v
			}
		}
		_, err := ReadV2(writeFiles(t, files))
		if err == nil || !strings.Contains(err.Error(), tc.file) {
			t.Errorf("%s %q: error %v does not name the file", tc.file, tc.content, err)
		}
	}
}

// Half a controller's files is not the "controller off" case.
func TestReadV2MissingCompanion(t *testing.T) {
	for _, files := range []map[string]string{
		{"memory.current": "1\n", "memory.stat": "file 0\n"}, // no memory.max
		{"memory.current": "1\n", "memory.max": "max\n"},     // no memory.stat
		{"pids.current": "1\n"},                              // no pids.max
		{"hugetlb.2MB.current": "0\n"},                       // no events
		{"cpuset.cpus.effective": "0\n"},                     // no mems
		{"memory.current": "1\n", "memory.max": "1\n", "memory.stat": "", "memory.swap.current": "0\n"}, // no swap.max
	} {
		if _, err := ReadV2(writeFiles(t, files)); err == nil {
			t.Errorf("%v: no error", files)
		}
	}
}

// cgroup2Dir is this process's cgroup2 directory, or "" when cgroup2 is
// not mounted.
func cgroup2Dir(t *testing.T) string {
	t.Helper()
	mi, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Skip(err)
	}
	defer mi.Close()
	mnt := ""
	sc := bufio.NewScanner(mi)
	for sc.Scan() {
		_, post, ok := strings.Cut(sc.Text(), " - ")
		f := strings.Fields(sc.Text())
		if ok && strings.HasPrefix(post, "cgroup2 ") && len(f) > 4 {
			mnt = f[4]
			break
		}
	}
	data, err := os.ReadFile("/proc/self/cgroup")
	if mnt == "" || err != nil {
		return ""
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rel, ok := strings.CutPrefix(line, "0::"); ok {
			return filepath.Join(mnt, rel)
		}
	}
	return ""
}

// The real files of this host parse: on the hybrid host cgroup2 holds few
// controllers, in the v2 VM lane all of them.
func TestReadV2Host(t *testing.T) {
	dir := cgroup2Dir(t)
	if dir == "" {
		t.Skip("no cgroup2 mounted")
	}
	s, err := ReadV2(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "cpu.stat")); err == nil && s.CPU.Usage.Total == 0 {
		t.Errorf("%s: cpu.stat read as no usage", dir)
	}
	t.Logf("%s: cpu %+v memory usage %+v pids %+v", dir, s.CPU.Usage, s.Memory.Usage, s.Pids)
}
