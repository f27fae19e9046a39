package stats

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// unifiedKey is the Paths key of the container's cgroup2 directory on a
// hybrid host (cgroups.UnifiedKey; not imported, so that this package
// depends only on the paths it is given).
const unifiedKey = "unified"

// Dirs maps a controller name ("memory", "cpuacct", ...) to the container's
// directory in that controller's v1 hierarchy; the key "unified" is its
// cgroup2 directory on a hybrid host.
type Dirs map[string]string

// DirsFromPaths turns a cgroup record's paths (hierarchy keys such as
// "cpu,cpuacct" -> directory) into one entry per controller.
func DirsFromPaths(paths map[string]string) Dirs {
	d := Dirs{}
	for key, dir := range paths {
		if key == unifiedKey {
			d[unifiedKey] = dir
			continue
		}
		for _, c := range strings.Split(key, ",") {
			d[c] = dir
		}
	}
	return d
}

// ReadV1 reads the usage of the container whose cgroups are d. A controller
// that is not mounted leaves its section zero; a file that should exist but
// cannot be read is an error naming it.
func ReadV1(d Dirs) (*Stats, error) {
	s := &Stats{Hugetlb: map[string]Hugetlb{}}
	steps := []struct {
		ctrl string
		read func(dir string, s *Stats) error
	}{
		{"cpuacct", readCPUAcct},
		{"cpu", readThrottling},
		{"cpuset", readCPUSet},
		{"memory", readMemory},
		{"pids", readPids},
		{"blkio", readBlkio},
		{"hugetlb", readHugetlbV1},
		{unifiedKey, readHugetlbUnified},
	}
	for _, st := range steps {
		dir, ok := d[st.ctrl]
		if !ok {
			continue
		}
		if err := st.read(dir, s); err != nil {
			return nil, fmt.Errorf("stats of %s: %w", dir, err)
		}
	}
	return s, nil
}

func readCPUAcct(dir string, s *Stats) error {
	var err error
	u := &s.CPU.Usage
	if u.Total, err = readUint(dir, "cpuacct.usage"); err != nil {
		return err
	}
	if u.Percpu, err = readUintList(dir, "cpuacct.usage_percpu"); err != nil {
		return err
	}
	// usage_user/usage_sys are nanoseconds; cpuacct.stat would be clock
	// ticks (10 ms here), too coarse for a short-lived container.
	if u.User, err = readUint(dir, "cpuacct.usage_user"); err != nil {
		return err
	}
	if u.Kernel, err = readUint(dir, "cpuacct.usage_sys"); err != nil {
		return err
	}
	// cpuacct.usage_all: a header line, then "cpu user system" per CPU.
	lines, err := readLines(dir, "cpuacct.usage_all")
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil // older kernels lack it; the totals above stand
		}
		return err
	}
	for _, line := range lines[min(1, len(lines)):] {
		f := strings.Fields(line)
		if len(f) != 3 {
			return fmt.Errorf("cpuacct.usage_all: unexpected line %q", line)
		}
		user, err1 := strconv.ParseUint(f[1], 10, 64)
		sys, err2 := strconv.ParseUint(f[2], 10, 64)
		if err := errors.Join(err1, err2); err != nil {
			return fmt.Errorf("cpuacct.usage_all: %w", err)
		}
		u.PercpuUser = append(u.PercpuUser, user)
		u.PercpuKernel = append(u.PercpuKernel, sys)
	}
	return nil
}

func readThrottling(dir string, s *Stats) error {
	kv, err := readKeyValues(dir, "cpu.stat")
	if err != nil {
		return err
	}
	s.CPU.Throttling = Throttling{Periods: kv["nr_periods"], ThrottledPeriods: kv["nr_throttled"], ThrottledTime: kv["throttled_time"]}
	return nil
}

func readCPUSet(dir string, s *Stats) error {
	c := &s.CPUSet
	var err error
	for _, f := range []struct {
		file string
		list *[]uint16
	}{{"cpuset.effective_cpus", &c.CPUs}, {"cpuset.effective_mems", &c.Mems}} {
		data, rerr := os.ReadFile(filepath.Join(dir, f.file))
		if rerr != nil {
			return rerr
		}
		if *f.list, err = parseCPUList(strings.TrimSpace(string(data))); err != nil {
			return fmt.Errorf("%s: %w", f.file, err)
		}
	}
	for _, f := range []struct {
		file string
		dst  *uint64
	}{
		{"cpuset.cpu_exclusive", &c.CPUExclusive}, {"cpuset.mem_hardwall", &c.MemHardwall},
		{"cpuset.mem_exclusive", &c.MemExclusive}, {"cpuset.memory_migrate", &c.MemoryMigrate},
		{"cpuset.memory_spread_page", &c.MemorySpreadPage}, {"cpuset.memory_spread_slab", &c.MemorySpreadSlab},
		{"cpuset.memory_pressure", &c.MemoryPressure}, {"cpuset.sched_load_balance", &c.SchedLoadBalance},
	} {
		if *f.dst, err = readUint(dir, f.file); err != nil {
			return err
		}
	}
	v, err := readTrimmed(dir, "cpuset.sched_relax_domain_level")
	if err != nil {
		return err
	}
	if c.SchedRelaxDomainLevel, err = strconv.ParseInt(v, 10, 64); err != nil {
		return fmt.Errorf("cpuset.sched_relax_domain_level: %w", err)
	}
	return nil
}

// parseCPUList parses the kernel's list format: "0-3,5".
func parseCPUList(s string) ([]uint16, error) {
	var out []uint16
	if s == "" {
		return nil, nil
	}
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.ParseUint(lo, 10, 16)
		if err != nil {
			return nil, err
		}
		b := a
		if isRange {
			if b, err = strconv.ParseUint(hi, 10, 16); err != nil {
				return nil, err
			}
		}
		for i := a; i <= b; i++ {
			out = append(out, uint16(i))
		}
	}
	return out, nil
}

func readMemory(dir string, s *Stats) error {
	m := &s.Memory
	raw, err := readKeyValues(dir, "memory.stat")
	if err != nil {
		return err
	}
	m.Raw = raw
	m.Cache = raw["cache"]
	families := []struct {
		prefix   string
		dst      *MemoryEntry
		optional bool // absent without swap accounting / kmem
	}{
		{"memory", &m.Usage, false},
		{"memory.memsw", &m.Swap, true},
		{"memory.kmem", &m.Kernel, true},
		{"memory.kmem.tcp", &m.KernelTCP, true},
	}
	for _, f := range families {
		e, err := readMemoryEntry(dir, f.prefix)
		if err != nil {
			if f.optional && errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return err
		}
		*f.dst = e
	}
	return nil
}

func readMemoryEntry(dir, prefix string) (MemoryEntry, error) {
	var e MemoryEntry
	var err error
	for _, f := range []struct {
		name string
		dst  *uint64
	}{{"usage_in_bytes", &e.Usage}, {"max_usage_in_bytes", &e.Max}, {"failcnt", &e.Failcnt}, {"limit_in_bytes", &e.Limit}} {
		if *f.dst, err = readUint(dir, prefix+"."+f.name); err != nil {
			return e, err
		}
	}
	return e, nil
}

func readPids(dir string, s *Stats) error {
	var err error
	if s.Pids.Current, err = readUint(dir, "pids.current"); err != nil {
		return err
	}
	v, err := readTrimmed(dir, "pids.max")
	if err != nil {
		return err
	}
	if v == "max" {
		return nil // unlimited: limit 0, as runc reports it
	}
	if s.Pids.Limit, err = strconv.ParseUint(v, 10, 64); err != nil {
		return fmt.Errorf("pids.max: %w", err)
	}
	return nil
}

// readBlkio reads BFQ's counters when the kernel has them, else the
// throttling layer's (which count every I/O whatever the scheduler); the
// CFQ files runc reads first are gone since 5.0.
func readBlkio(dir string, s *Stats) error {
	b := &s.Blkio
	prefix := "blkio.bfq."
	if _, err := os.Stat(filepath.Join(dir, prefix+"io_service_bytes_recursive")); err != nil {
		prefix = "blkio.throttle."
	}
	var err error
	if b.IoServiceBytesRecursive, err = readBlkioEntries(dir, prefix+"io_service_bytes_recursive"); err != nil {
		return err
	}
	if b.IoServicedRecursive, err = readBlkioEntries(dir, prefix+"io_serviced_recursive"); err != nil {
		return err
	}
	return nil
}

// readBlkioEntries parses "MAJ:MIN Op Value" lines; the "Total N" line
// is skipped.
func readBlkioEntries(dir, file string) ([]BlkioEntry, error) {
	lines, err := readLines(dir, file)
	if err != nil {
		return nil, err
	}
	var out []BlkioEntry
	for _, line := range lines {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		majStr, minStr, ok := strings.Cut(f[0], ":")
		if !ok {
			return nil, fmt.Errorf("%s: unexpected line %q", file, line)
		}
		maj, err1 := strconv.ParseUint(majStr, 10, 64)
		mnr, err2 := strconv.ParseUint(minStr, 10, 64)
		val, err3 := strconv.ParseUint(f[2], 10, 64)
		if err := errors.Join(err1, err2, err3); err != nil {
			return nil, fmt.Errorf("%s: line %q: %w", file, line, err)
		}
		out = append(out, BlkioEntry{Major: maj, Minor: mnr, Op: f[1], Value: val})
	}
	return out, nil
}

// hugePageSizes lists the kernel's huge page sizes as cgroup file names
// spell them ("2MB", "1GB").
func hugePageSizes() ([]string, error) {
	entries, err := os.ReadDir("/sys/kernel/mm/hugepages")
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	var out []string
	for _, e := range entries {
		kb, ok := strings.CutPrefix(e.Name(), "hugepages-")
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSuffix(kb, "kB"), 10, 64)
		if err != nil {
			continue
		}
		switch {
		case n >= 1<<20 && n%(1<<20) == 0:
			out = append(out, fmt.Sprintf("%dGB", n>>20))
		case n >= 1<<10 && n%(1<<10) == 0:
			out = append(out, fmt.Sprintf("%dMB", n>>10))
		default:
			out = append(out, fmt.Sprintf("%dKB", n))
		}
	}
	return out, nil
}

func readHugetlbV1(dir string, s *Stats) error {
	sizes, err := hugePageSizes()
	if err != nil {
		return err
	}
	for _, size := range sizes {
		var h Hugetlb
		p := "hugetlb." + size + "."
		if h.Usage, err = readUint(dir, p+"usage_in_bytes"); err != nil {
			return err
		}
		if h.Max, err = readUint(dir, p+"max_usage_in_bytes"); err != nil {
			return err
		}
		if h.Failcnt, err = readUint(dir, p+"failcnt"); err != nil {
			return err
		}
		s.Hugetlb[size] = h
	}
	return nil
}

// readHugetlbUnified reads hugetlb from the container's cgroup2 directory
// on a hybrid host. Its files exist only where hugetlb is enabled in the
// parent's subtree_control (create enables it for hugepageLimits): without
// them there is nothing to report. cgroup2 keeps no peak usage (Max stays
// 0); failcnt is the "max" count of hugetlb.<size>.events.
func readHugetlbUnified(dir string, s *Stats) error {
	sizes, err := hugePageSizes()
	if err != nil {
		return err
	}
	for _, size := range sizes {
		if _, done := s.Hugetlb[size]; done {
			continue // a v1 hugetlb hierarchy already answered
		}
		usage, err := readUint(dir, "hugetlb."+size+".current")
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		ev, err := readKeyValues(dir, "hugetlb."+size+".events")
		if err != nil {
			return err
		}
		s.Hugetlb[size] = Hugetlb{Usage: usage, Failcnt: ev["max"]}
	}
	return nil
}

func readTrimmed(dir, file string) (string, error) {
	data, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(data)), nil
}

func readUint(dir, file string) (uint64, error) {
	v, err := readTrimmed(dir, file)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", file, err)
	}
	return n, nil
}

func readUintList(dir, file string) ([]uint64, error) {
	v, err := readTrimmed(dir, file)
	if err != nil {
		return nil, err
	}
	var out []uint64
	for _, f := range strings.Fields(v) {
		n, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		out = append(out, n)
	}
	return out, nil
}

func readLines(dir, file string) ([]string, error) {
	f, err := os.Open(filepath.Join(dir, file))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			lines = append(lines, line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	return lines, nil
}

// readKeyValues parses "key value" lines of unsigned numbers (memory.stat,
// cpu.stat, memory.oom_control). Lines whose value is not a number are
// skipped.
func readKeyValues(dir, file string) (map[string]uint64, error) {
	lines, err := readLines(dir, file)
	if err != nil {
		return nil, err
	}
	out := make(map[string]uint64, len(lines))
	for _, line := range lines {
		k, v, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		if n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64); err == nil {
			out[k] = n
		}
	}
	return out, nil
}
