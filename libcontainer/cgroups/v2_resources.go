package cgroups

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/opencontainers/runtime-spec/specs-go"
)

// The cgroup v2 mapping of linux.resources. Every write goes to the
// container's one directory (Controller UnifiedKey); Enable names the
// controller that must be on in the ancestors' cgroup.subtree_control for
// the file to exist. Devices are not files on v2: see devicefilter.

// v2Write is a write to the container's cgroup2 directory.
func v2Write(enable, file, value, field string) cgroupWrite {
	return cgroupWrite{Controller: UnifiedKey, Enable: enable, File: file, Value: value, Field: field}
}

// planV2 maps linux.resources to cgroup v2 files. Zero numeric memory and
// cpu values mean "not set", as on v1. Fields v2 has no file for are
// refused with the field named, rather than silently dropped.
func planV2(res *specs.LinuxResources) ([]writeStep, error) {
	if res == nil {
		return nil, nil
	}
	var ws []cgroupWrite
	if res.CPU != nil {
		cpu, err := planV2CPU(res.CPU)
		if err != nil {
			return nil, err
		}
		ws = append(ws, cpu...)
	}
	if res.Memory != nil {
		mem, err := planV2Memory(res.Memory)
		if err != nil {
			return nil, err
		}
		ws = append(ws, mem...)
	}
	if res.Pids != nil && res.Pids.Limit != nil {
		v := "max"
		if *res.Pids.Limit > 0 {
			v = strconv.FormatInt(*res.Pids.Limit, 10)
		}
		ws = append(ws, v2Write("pids", "pids.max", v, "linux.resources.pids.limit"))
	}
	if res.BlockIO != nil {
		io, err := planV2IO(res.BlockIO)
		if err != nil {
			return nil, err
		}
		ws = append(ws, io...)
	}
	for i, l := range res.HugepageLimits {
		field := fmt.Sprintf("linux.resources.hugepageLimits[%d]", i)
		if !isPageSize(l.Pagesize) {
			return nil, fieldError(field+".pageSize", "%q is not a size like 2MB or 1GB", l.Pagesize)
		}
		ws = append(ws, v2Write("hugetlb", "hugetlb."+l.Pagesize+".max", strconv.FormatUint(l.Limit, 10), field))
	}
	if n := res.Network; n != nil && (n.ClassID != nil || len(n.Priorities) > 0) {
		return nil, fieldError("linux.resources.network", "net_cls and net_prio exist only on cgroup v1; this host is pure cgroup v2")
	}
	ws = append(ws, planRdma(res.Rdma, placement{})...)
	unified, err := planUnified(res.Unified)
	if err != nil {
		return nil, err
	}
	// linux.resources.unified comes last: it is the raw override of
	// whatever the structured fields wrote.
	ws = append(ws, unified...)
	steps := make([]writeStep, 0, len(ws))
	for _, w := range ws {
		steps = append(steps, writeStep{Writes: []cgroupWrite{w}})
	}
	return steps, nil
}

// cpuWeight converts cgroup v1 cpu.shares (2..262144, default 1024) to v2
// cpu.weight (1..10000, default 100) by the linear map between the two
// ranges that the kernel's cgroup v2 documentation implies and that other
// runtimes use, so that a config means the same on both.
func cpuWeight(shares uint64) uint64 {
	shares = min(max(shares, 2), 262144)
	return 1 + ((shares-2)*9999)/262142
}

// ioWeight converts a blkio weight (10..1000) to io.weight (1..10000).
func ioWeight(w uint16) uint64 {
	v := min(max(uint64(w), 10), 1000)
	return 1 + (v-10)*9999/990
}

func planV2CPU(c *specs.LinuxCPU) ([]cgroupWrite, error) {
	var ws []cgroupWrite
	if c.Cpus != "" {
		ws = append(ws, v2Write("cpuset", "cpuset.cpus", c.Cpus, "linux.resources.cpu.cpus"))
	}
	if c.Mems != "" {
		ws = append(ws, v2Write("cpuset", "cpuset.mems", c.Mems, "linux.resources.cpu.mems"))
	}
	if c.Shares != nil && *c.Shares != 0 {
		ws = append(ws, v2Write("cpu", "cpu.weight", strconv.FormatUint(cpuWeight(*c.Shares), 10), "linux.resources.cpu.shares"))
	}
	quotaSet := c.Quota != nil && *c.Quota != 0
	periodSet := c.Period != nil && *c.Period != 0
	if quotaSet || periodSet {
		// cpu.max holds both: "$QUOTA $PERIOD". A period alone keeps the
		// quota unlimited; a quota alone takes the kernel's default period.
		quota := "max"
		if quotaSet && *c.Quota > 0 {
			quota = strconv.FormatInt(*c.Quota, 10)
		}
		v := quota
		if periodSet {
			v += " " + strconv.FormatUint(*c.Period, 10)
		}
		field := "linux.resources.cpu.quota"
		if !quotaSet {
			field = "linux.resources.cpu.period"
		}
		ws = append(ws, v2Write("cpu", "cpu.max", v, field))
	}
	if c.Burst != nil {
		ws = append(ws, v2Write("cpu", "cpu.max.burst", strconv.FormatUint(*c.Burst, 10), "linux.resources.cpu.burst"))
	}
	if (c.RealtimePeriod != nil && *c.RealtimePeriod != 0) || (c.RealtimeRuntime != nil && *c.RealtimeRuntime != 0) {
		return nil, fieldError("linux.resources.cpu.realtimeRuntime", "real-time CPU bandwidth exists only on cgroup v1; this host is pure cgroup v2")
	}
	if c.Idle != nil {
		if *c.Idle != 0 && *c.Idle != 1 {
			return nil, fieldError("linux.resources.cpu.idle", "must be 0 or 1, got %d", *c.Idle)
		}
		ws = append(ws, v2Write("cpu", "cpu.idle", strconv.FormatInt(*c.Idle, 10), "linux.resources.cpu.idle"))
	}
	return ws, nil
}

// planV2Memory maps memory. runtime-spec's swap is the memory+swap limit
// (v1's memsw); v2's memory.swap.max is swap alone, so it gets swap-limit.
func planV2Memory(m *specs.LinuxMemory) ([]cgroupWrite, error) {
	var ws []cgroupWrite
	set := func(p *int64) bool { return p != nil && *p != 0 }
	limitValue := func(v int64) string {
		if v < 0 {
			return "max"
		}
		return strconv.FormatInt(v, 10)
	}
	if set(m.Limit) {
		ws = append(ws, v2Write("memory", "memory.max", limitValue(*m.Limit), "linux.resources.memory.limit"))
	}
	if set(m.Swap) {
		swap, err := v2SwapMax(m.Limit, *m.Swap)
		if err != nil {
			return nil, err
		}
		ws = append(ws, v2Write("memory", "memory.swap.max", swap, "linux.resources.memory.swap"))
	}
	if set(m.Reservation) {
		ws = append(ws, v2Write("memory", "memory.low", limitValue(*m.Reservation), "linux.resources.memory.reservation"))
	}
	if set(m.Kernel) || set(m.KernelTCP) {
		return nil, fieldError("linux.resources.memory.kernel", "kernel memory limits exist only on cgroup v1 (kernel memory is part of memory.max on v2)")
	}
	if m.Swappiness != nil && *m.Swappiness > 100 {
		return nil, fieldError("linux.resources.memory.swappiness", "must be 0..100, got %d", *m.Swappiness)
	}
	// Swappiness has no per-cgroup file on v2. Clients (Docker, podman)
	// send their default for every container, so a refusal would break
	// them all; the value cannot be honoured and is ignored, as in runc.
	if m.DisableOOMKiller != nil && *m.DisableOOMKiller {
		return nil, fieldError("linux.resources.memory.disableOOMKiller", "cgroup v2 cannot disable the OOM killer")
	}
	// useHierarchy: v2 is always hierarchical.
	return ws, nil
}

// v2SwapMax turns the memory+swap limit into memory.swap.max.
func v2SwapMax(limit *int64, swap int64) (string, error) {
	if swap < 0 {
		return "max", nil
	}
	if limit == nil || *limit == 0 {
		return "", fieldError("linux.resources.memory.swap", "a memory+swap limit needs linux.resources.memory.limit on cgroup v2 (memory.swap.max is swap alone)")
	}
	if *limit < 0 {
		return "", fieldError("linux.resources.memory.swap", "%d is a memory+swap limit but linux.resources.memory.limit is unlimited", swap)
	}
	if swap < *limit {
		return "", fieldError("linux.resources.memory.swap", "%d is below linux.resources.memory.limit %d (swap is the memory+swap limit)", swap, *limit)
	}
	return strconv.FormatInt(swap-*limit, 10), nil
}

// planV2IO maps blockIO to the io controller. Weights go to BFQ's
// io.bfq.weight when the scheduler provides it (same 1..1000 scale as the
// spec), else to io.weight, converted.
func planV2IO(b *specs.LinuxBlockIO) ([]cgroupWrite, error) {
	var ws []cgroupWrite
	// A weight of 0 means "not set" (see planBlockIO).
	if b.LeafWeight != nil && *b.LeafWeight != 0 {
		return nil, fieldError("linux.resources.blockIO.leafWeight", "leaf weights exist only on cgroup v1")
	}
	if b.Weight != nil && *b.Weight != 0 {
		w := v2Write("io", "io.bfq.weight", strconv.FormatUint(uint64(*b.Weight), 10), "linux.resources.blockIO.weight")
		w.AltValue = strconv.FormatUint(ioWeight(*b.Weight), 10)
		w.Alt = "io.weight"
		ws = append(ws, w)
	}
	for i, d := range b.WeightDevice {
		field := fmt.Sprintf("linux.resources.blockIO.weightDevice[%d]", i)
		if d.LeafWeight != nil {
			return nil, fieldError(field+".leafWeight", "leaf weights exist only on cgroup v1")
		}
		if d.Weight != nil {
			w := v2Write("io", "io.bfq.weight", fmt.Sprintf("%d:%d %d", d.Major, d.Minor, *d.Weight), field+".weight")
			w.Alt, w.AltValue = "io.weight", fmt.Sprintf("%d:%d %d", d.Major, d.Minor, ioWeight(*d.Weight))
			ws = append(ws, w)
		}
	}
	throttle := func(list []specs.LinuxThrottleDevice, key, name string) {
		for i, d := range list {
			rate := "max"
			if d.Rate > 0 {
				rate = strconv.FormatUint(d.Rate, 10)
			}
			ws = append(ws, v2Write("io", "io.max", fmt.Sprintf("%d:%d %s=%s", d.Major, d.Minor, key, rate), fmt.Sprintf("linux.resources.blockIO.%s[%d]", name, i)))
		}
	}
	throttle(b.ThrottleReadBpsDevice, "rbps", "throttleReadBpsDevice")
	throttle(b.ThrottleWriteBpsDevice, "wbps", "throttleWriteBpsDevice")
	throttle(b.ThrottleReadIOPSDevice, "riops", "throttleReadIOPSDevice")
	throttle(b.ThrottleWriteIOPSDevice, "wiops", "throttleWriteIOPSDevice")
	return ws, nil
}

// planUnified writes linux.resources.unified as given, in key order. Keys
// are file names in the container's directory: a path ("a/b", "..") could
// reach another cgroup, and the core files that move processes or change
// the tree are nsrun's to manage. Unknown keys are still tried; the kernel
// decides (a missing file is reported with the key named).
func planUnified(u map[string]string) ([]cgroupWrite, error) {
	keys := make([]string, 0, len(u))
	for k := range u {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var ws []cgroupWrite
	for _, k := range keys {
		field := fmt.Sprintf("linux.resources.unified[%q]", k)
		if k == "" || strings.ContainsRune(k, '/') || k == "." || k == ".." {
			return nil, fieldError(field, "not a cgroup file name")
		}
		switch k {
		case "cgroup.procs", "cgroup.threads", "cgroup.subtree_control", "cgroup.type", "cgroup.kill", "cgroup.freeze":
			return nil, fieldError(field, "%s is managed by nsrun, not by linux.resources", k)
		}
		ctrl, _, _ := strings.Cut(k, ".")
		if ctrl == "cgroup" {
			ctrl = ""
		}
		w := v2Write(ctrl, k, u[k], field)
		w.EnableIfKnown = true
		ws = append(ws, w)
	}
	return ws, nil
}
