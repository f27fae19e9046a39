package stats

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Unlimited is what a limit reads as when its cgroup v2 file says "max":
// runc reports memory limits that way (its cgroup reader maps "max" to
// the largest uint64), so clients comparing against it keep working. The
// pids limit is the exception, 0 as on v1.
const Unlimited = math.MaxUint64

// ReadV2 reads the usage of the container whose cgroup2 directory is dir.
// The files of a controller that is not enabled for the cgroup are absent:
// that section stays zero. A file that exists but cannot be read or
// parsed is an error naming it.
func ReadV2(dir string) (*Stats, error) {
	s := &Stats{Hugetlb: map[string]Hugetlb{}}
	for _, read := range []func(string, *Stats) error{
		readCPUV2, readCPUSetV2, readMemoryV2, readPidsV2, readIOV2, readHugetlbV2,
	} {
		if err := read(dir, s); err != nil {
			return nil, fmt.Errorf("stats of %s: %w", dir, err)
		}
	}
	return s, nil
}

// readCPUV2 reads cpu.stat, whose times are microseconds where the schema
// wants nanoseconds. The usage keys are there even without the cpu
// controller (it is core accounting); the throttling keys only with it,
// and then read as 0. cgroup2 keeps no per-CPU split: Percpu stays empty.
func readCPUV2(dir string, s *Stats) error {
	kv, err := readFlatKeyed(dir, "cpu.stat")
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	s.CPU.Usage.Total = kv["usage_usec"] * 1000
	s.CPU.Usage.User = kv["user_usec"] * 1000
	s.CPU.Usage.Kernel = kv["system_usec"] * 1000
	s.CPU.Throttling = Throttling{
		Periods:          kv["nr_periods"],
		ThrottledPeriods: kv["nr_throttled"],
		ThrottledTime:    kv["throttled_usec"] * 1000,
	}
	return nil
}

// readCPUSetV2 fills the CPUs and memory nodes in effect, as the v1
// reader does from cpuset.effective_*. runc leaves the cpuset section
// empty on v2; the two lists are omitempty, so filling them only adds
// information. The v1 flags (cpu_exclusive, mem_hardwall, ...) have no
// v2 file and stay 0.
func readCPUSetV2(dir string, s *Stats) error {
	cpus, err := readTrimmed(dir, "cpuset.cpus.effective")
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	mems, err := readTrimmed(dir, "cpuset.mems.effective")
	if err != nil {
		return err
	}
	if s.CPUSet.CPUs, err = parseCPUList(cpus); err != nil {
		return fmt.Errorf("cpuset.cpus.effective: %w", err)
	}
	if s.CPUSet.Mems, err = parseCPUList(mems); err != nil {
		return fmt.Errorf("cpuset.mems.effective: %w", err)
	}
	return nil
}

// readMemoryV2 fills the memory section the way runc does on v2:
//   - usage: memory.current, memory.max (Unlimited for "max"),
//     memory.peak as max (kernels >= 5.19; 0 before). No failcnt.
//   - swap: memory+swap, as v1's memsw counters were, because clients
//     written for v1 subtract usage from it: usage is memory.current +
//     memory.swap.current, limit is memory.max + memory.swap.max
//     (Unlimited if either is). No peak: the two peaks need not coincide.
//     Without swap accounting (no memory.swap.* files) swap counts as 0,
//     so the entry equals the memory one, as in runc.
//   - raw: memory.stat; cache: its "file" (page cache).
//   - kernel and kernelTCP stay zero: v2 has no separate counters (the
//     "kernel" and "sock" of memory.stat carry that usage).
func readMemoryV2(dir string, s *Stats) error {
	m := &s.Memory
	usage, ok, err := readMemoryPairV2(dir, "memory")
	if err != nil || !ok {
		return err
	}
	if usage.Max, err = readOptionalUint(dir, "memory.peak"); err != nil {
		return err
	}
	m.Usage = usage
	swap, _, err := readMemoryPairV2(dir, "memory.swap")
	if err != nil {
		return err
	}
	m.Swap = MemoryEntry{Usage: usage.Usage + swap.Usage, Limit: addLimits(usage.Limit, swap.Limit)}
	if m.Raw, err = readFlatKeyed(dir, "memory.stat"); err != nil {
		return err
	}
	m.Cache = m.Raw["file"]
	return nil
}

// readMemoryPairV2 reads prefix.current and prefix.max; ok is false when
// prefix.current is absent (controller or swap accounting off).
func readMemoryPairV2(dir, prefix string) (e MemoryEntry, ok bool, err error) {
	if e.Usage, err = readUint(dir, prefix+".current"); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return MemoryEntry{}, false, nil
		}
		return MemoryEntry{}, false, err
	}
	// Past here a missing file is an error: .current without .max is
	// not a controller that is off.
	if e.Limit, err = readLimit(dir, prefix+".max"); err != nil {
		return MemoryEntry{}, false, err
	}
	return e, true, nil
}

// addLimits sums a memory and a swap limit, staying Unlimited when
// either is (runc lets an unlimited memory.max wrap the sum around).
func addLimits(a, b uint64) uint64 {
	if a == Unlimited || b == Unlimited || a+b < a {
		return Unlimited
	}
	return a + b
}

// readPidsV2 reads pids.current and pids.max; "max" is limit 0, as on v1
// and in runc. Without the pids controller, runc counts the processes of
// cgroup.procs (cgroup.threads in a threaded cgroup, where reading
// cgroup.procs fails with EOPNOTSUPP); so do we, the limit staying 0.
func readPidsV2(dir string, s *Stats) error {
	cur, err := readUint(dir, "pids.current")
	if errors.Is(err, fs.ErrNotExist) {
		return countProcsV2(dir, s)
	}
	if err != nil {
		return err
	}
	s.Pids.Current = cur
	limit, err := readLimit(dir, "pids.max")
	if err != nil {
		return err
	}
	if limit != Unlimited {
		s.Pids.Limit = limit
	}
	return nil
}

func countProcsV2(dir string, s *Stats) error {
	lines, err := readLines(dir, "cgroup.procs")
	if errors.Is(err, unix.EOPNOTSUPP) {
		lines, err = readLines(dir, "cgroup.threads")
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	s.Pids.Current = uint64(len(lines))
	return nil
}

// readIOV2 maps io.stat onto v1's blkio tables as runc does: rbytes and
// wbytes become io_service_bytes_recursive Read/Write, rios and wios
// io_serviced_recursive Read/Write (v2 counts are recursive by nature).
// The discard counters and any other key (io.cost's, ...) have no table
// and are skipped. Entries keep the file's order of devices.
func readIOV2(dir string, s *Stats) error {
	const file = "io.stat"
	lines, err := readLines(dir, file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	b := &s.Blkio
	for _, line := range lines {
		f := strings.Fields(line)
		majStr, minStr, ok := strings.Cut(f[0], ":")
		if !ok {
			return fmt.Errorf("%s: unexpected line %q", file, line)
		}
		maj, err1 := strconv.ParseUint(majStr, 10, 64)
		mnr, err2 := strconv.ParseUint(minStr, 10, 64)
		if err := errors.Join(err1, err2); err != nil {
			return fmt.Errorf("%s: line %q: %w", file, line, err)
		}
		for _, kv := range f[1:] {
			key, val, ok := strings.Cut(kv, "=")
			if !ok {
				return fmt.Errorf("%s: line %q: no = in %q", file, line, kv)
			}
			var table *[]BlkioEntry
			var op string
			switch key {
			case "rbytes":
				table, op = &b.IoServiceBytesRecursive, "Read"
			case "wbytes":
				table, op = &b.IoServiceBytesRecursive, "Write"
			case "rios":
				table, op = &b.IoServicedRecursive, "Read"
			case "wios":
				table, op = &b.IoServicedRecursive, "Write"
			default:
				continue
			}
			n, err := strconv.ParseUint(val, 10, 64)
			if err != nil {
				return fmt.Errorf("%s: line %q: %w", file, line, err)
			}
			*table = append(*table, BlkioEntry{Major: maj, Minor: mnr, Op: op, Value: n})
		}
	}
	return nil
}

// readHugetlbV2 reads each page size whose hugetlb.<size>.current is in
// dir (the files exist only where hugetlb is enabled): usage is .current
// and failcnt the "max" count of .events (allocations refused at the
// limit). Max is the peak usage in the schema, which cgroup2 does not
// keep: it stays 0, as in runc. The limit, .max, has no field.
func readHugetlbV2(dir string, s *Stats) error {
	names, err := filepath.Glob(filepath.Join(dir, "hugetlb.*.current"))
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		size := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(name), "hugetlb."), ".current")
		if strings.Contains(size, ".") {
			continue // hugetlb.<size>.rsvd.current: reservations, not usage
		}
		var h Hugetlb
		if h.Usage, err = readUint(dir, "hugetlb."+size+".current"); err != nil {
			return err
		}
		ev, err := readFlatKeyed(dir, "hugetlb."+size+".events")
		if err != nil {
			return err
		}
		h.Failcnt = ev["max"]
		s.Hugetlb[size] = h
	}
	return nil
}

// readLimit reads a single-value limit file, "max" being Unlimited.
func readLimit(dir, file string) (uint64, error) {
	v, err := readTrimmed(dir, file)
	if err != nil {
		return 0, err
	}
	if v == "max" {
		return Unlimited, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", file, err)
	}
	return n, nil
}

// readOptionalUint reads a counter that older kernels lack (0 then).
func readOptionalUint(dir, file string) (uint64, error) {
	n, err := readUint(dir, file)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	return n, err
}

// readFlatKeyed parses a cgroup2 flat-keyed file ("key value" lines:
// cpu.stat, memory.stat, memory.events, hugetlb.*.events). Unlike the
// lenient v1 helper, a malformed line is an error naming the file: v2
// defines the format, so a line that breaks it means a misread. A
// negative value reads as 0, as runc does, since kernel accounting bugs
// have briefly made some memory.stat counters negative.
func readFlatKeyed(dir, file string) (map[string]uint64, error) {
	lines, err := readLines(dir, file)
	if err != nil {
		return nil, err
	}
	out := make(map[string]uint64, len(lines))
	for _, line := range lines {
		f := strings.Fields(line)
		if len(f) != 2 {
			return nil, fmt.Errorf("%s: unexpected line %q", file, line)
		}
		n, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			if i, ierr := strconv.ParseInt(f[1], 10, 64); ierr == nil && i < 0 {
				n, err = 0, nil
			}
		}
		if err != nil {
			return nil, fmt.Errorf("%s: line %q: %w", file, line, err)
		}
		out[f[0]] = n
	}
	return out, nil
}
