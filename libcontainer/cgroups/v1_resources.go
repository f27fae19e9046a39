package cgroups

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/opencontainers/runtime-spec/specs-go"
)

// cgroupWrite is one value written to one cgroup file. Plans are built from
// linux.resources by pure functions so that the mapping is unit-testable;
// v1_apply.go executes them.
type cgroupWrite struct {
	// Controller is the v1 controller whose hierarchy holds File, or
	// UnifiedKey for the container's cgroup2 directory.
	Controller string
	File       string
	// Alt is tried when File does not exist (BFQ's names for the weights
	// that CFQ used to provide).
	Alt   string
	Value string
	// AltValue, when set, is written to Alt instead of Value (the v2
	// io.weight fallback has another scale than io.bfq.weight).
	AltValue string
	// Field is the JSON path of the config field, named in errors.
	Field string
	// Enable is, for unified writes, the controller to turn on in the
	// ancestors' cgroup.subtree_control first.
	Enable string
	// EnableIfKnown: Enable is a guess (the prefix of a
	// linux.resources.unified key) and is skipped when the host has no
	// such controller.
	EnableIfKnown bool
	// Optional marks an implicit write: a missing file is not an error.
	Optional bool
}

// writeStep is a group of writes. Reversible steps hold two writes whose
// valid order depends on the current values (memory limit vs memory+swap,
// CFS period vs quota): when the first fails with EINVAL, the applier writes
// them the other way round.
type writeStep struct {
	Writes     []cgroupWrite
	Reversible bool
}

// Controller locations used by plans.
type placement struct {
	// onV1 reports whether a controller is a mounted v1 hierarchy.
	onV1 func(controller string) bool
}

// isPageSize reports whether s is a huge page size as the kernel names it
// in hugetlb file names: digits, then KB, MB or GB (2MB, 1GB). A plain
// function rather than a regexp: compiling one at start-up costs every nsrun
// process, and linking package regexp costs its initialisation.
func isPageSize(s string) bool {
	digits := strings.TrimLeft(s, "0123456789")
	if digits == s || len(digits) != 2 || digits[1] != 'B' {
		return false
	}
	return digits[0] == 'K' || digits[0] == 'M' || digits[0] == 'G'
}

// planResources maps linux.resources to cgroup v1 (and hybrid unified)
// writes. As in runc, a zero value of a numeric memory or cpu field means
// "not set" (several clients send zeros for unset values); nil pointers are
// always "not set".
func planResources(res *specs.LinuxResources, pl placement) ([]writeStep, error) {
	if res == nil {
		return nil, nil
	}
	var steps []writeStep
	add := func(ws ...cgroupWrite) {
		for _, w := range ws {
			steps = append(steps, writeStep{Writes: []cgroupWrite{w}})
		}
	}
	if len(res.Unified) > 0 {
		return nil, fieldError("linux.resources.unified", "cgroup v2 files cannot be set on this cgroup v1 (hybrid) host")
	}
	devs, err := planDevices(res.Devices)
	if err != nil {
		return nil, err
	}
	add(devs...)
	if res.CPU != nil {
		cpuSteps, err := planCPU(res.CPU)
		if err != nil {
			return nil, err
		}
		steps = append(steps, cpuSteps...)
	}
	if res.Memory != nil {
		memSteps, err := planMemory(res.Memory)
		if err != nil {
			return nil, err
		}
		steps = append(steps, memSteps...)
	}
	if res.Pids != nil && res.Pids.Limit != nil {
		v := "max"
		if *res.Pids.Limit > 0 {
			v = strconv.FormatInt(*res.Pids.Limit, 10)
		}
		add(cgroupWrite{Controller: "pids", File: "pids.max", Value: v, Field: "linux.resources.pids.limit"})
	}
	if res.BlockIO != nil {
		add(planBlockIO(res.BlockIO)...)
	}
	huge, err := planHugepages(res.HugepageLimits, pl)
	if err != nil {
		return nil, err
	}
	add(huge...)
	if res.Network != nil {
		add(planNetwork(res.Network)...)
	}
	add(planRdma(res.Rdma, pl)...)
	return steps, nil
}

func planCPU(c *specs.LinuxCPU) ([]writeStep, error) {
	var steps []writeStep
	one := func(w cgroupWrite) { steps = append(steps, writeStep{Writes: []cgroupWrite{w}}) }
	if c.Cpus != "" {
		one(cgroupWrite{Controller: "cpuset", File: "cpuset.cpus", Value: c.Cpus, Field: "linux.resources.cpu.cpus"})
	}
	if c.Mems != "" {
		one(cgroupWrite{Controller: "cpuset", File: "cpuset.mems", Value: c.Mems, Field: "linux.resources.cpu.mems"})
	}
	if c.Shares != nil && *c.Shares != 0 {
		one(cgroupWrite{Controller: "cpu", File: "cpu.shares", Value: strconv.FormatUint(*c.Shares, 10), Field: "linux.resources.cpu.shares"})
	}
	var pair []cgroupWrite
	if c.Period != nil && *c.Period != 0 {
		pair = append(pair, cgroupWrite{Controller: "cpu", File: "cpu.cfs_period_us", Value: strconv.FormatUint(*c.Period, 10), Field: "linux.resources.cpu.period"})
	}
	if c.Quota != nil && *c.Quota != 0 {
		pair = append(pair, cgroupWrite{Controller: "cpu", File: "cpu.cfs_quota_us", Value: strconv.FormatInt(*c.Quota, 10), Field: "linux.resources.cpu.quota"})
	}
	if len(pair) > 0 {
		steps = append(steps, writeStep{Writes: pair, Reversible: len(pair) == 2})
	}
	if c.Burst != nil {
		one(cgroupWrite{Controller: "cpu", File: "cpu.cfs_burst_us", Value: strconv.FormatUint(*c.Burst, 10), Field: "linux.resources.cpu.burst"})
	}
	pair = nil
	if c.RealtimePeriod != nil && *c.RealtimePeriod != 0 {
		pair = append(pair, cgroupWrite{Controller: "cpu", File: "cpu.rt_period_us", Value: strconv.FormatUint(*c.RealtimePeriod, 10), Field: "linux.resources.cpu.realtimePeriod"})
	}
	if c.RealtimeRuntime != nil && *c.RealtimeRuntime != 0 {
		pair = append(pair, cgroupWrite{Controller: "cpu", File: "cpu.rt_runtime_us", Value: strconv.FormatInt(*c.RealtimeRuntime, 10), Field: "linux.resources.cpu.realtimeRuntime"})
	}
	if len(pair) > 0 {
		steps = append(steps, writeStep{Writes: pair, Reversible: len(pair) == 2})
	}
	if c.Idle != nil {
		if *c.Idle != 0 && *c.Idle != 1 {
			return nil, fieldError("linux.resources.cpu.idle", "must be 0 or 1, got %d", *c.Idle)
		}
		one(cgroupWrite{Controller: "cpu", File: "cpu.idle", Value: strconv.FormatInt(*c.Idle, 10), Field: "linux.resources.cpu.idle"})
	}
	return steps, nil
}

func planMemory(m *specs.LinuxMemory) ([]writeStep, error) {
	var steps []writeStep
	one := func(w cgroupWrite) { steps = append(steps, writeStep{Writes: []cgroupWrite{w}}) }
	set := func(p *int64) bool { return p != nil && *p != 0 }
	if set(m.Limit) && set(m.Swap) && *m.Limit > 0 && *m.Swap > 0 && *m.Swap < *m.Limit {
		return nil, fieldError("linux.resources.memory.swap", "%d is below linux.resources.memory.limit %d (swap is the memory+swap limit)", *m.Swap, *m.Limit)
	}
	var pair []cgroupWrite
	if set(m.Limit) {
		pair = append(pair, cgroupWrite{Controller: "memory", File: "memory.limit_in_bytes", Value: strconv.FormatInt(*m.Limit, 10), Field: "linux.resources.memory.limit"})
	}
	switch {
	case set(m.Swap):
		pair = append(pair, cgroupWrite{Controller: "memory", File: "memory.memsw.limit_in_bytes", Value: strconv.FormatInt(*m.Swap, 10), Field: "linux.resources.memory.swap"})
	case set(m.Limit) && *m.Limit == -1:
		// An unlimited memory limit is refused while memory+swap is
		// limited below it: lift memory+swap too, where it exists.
		pair = append(pair, cgroupWrite{Controller: "memory", File: "memory.memsw.limit_in_bytes", Value: "-1", Field: "linux.resources.memory.limit", Optional: true})
	}
	if len(pair) > 0 {
		steps = append(steps, writeStep{Writes: pair, Reversible: len(pair) == 2})
	}
	if set(m.Reservation) {
		one(cgroupWrite{Controller: "memory", File: "memory.soft_limit_in_bytes", Value: strconv.FormatInt(*m.Reservation, 10), Field: "linux.resources.memory.reservation"})
	}
	if set(m.Kernel) {
		one(cgroupWrite{Controller: "memory", File: "memory.kmem.limit_in_bytes", Value: strconv.FormatInt(*m.Kernel, 10), Field: "linux.resources.memory.kernel"})
	}
	if set(m.KernelTCP) {
		one(cgroupWrite{Controller: "memory", File: "memory.kmem.tcp.limit_in_bytes", Value: strconv.FormatInt(*m.KernelTCP, 10), Field: "linux.resources.memory.kernelTCP"})
	}
	if m.Swappiness != nil {
		if *m.Swappiness > 100 {
			return nil, fieldError("linux.resources.memory.swappiness", "must be 0..100, got %d", *m.Swappiness)
		}
		one(cgroupWrite{Controller: "memory", File: "memory.swappiness", Value: strconv.FormatUint(*m.Swappiness, 10), Field: "linux.resources.memory.swappiness"})
	}
	if m.DisableOOMKiller != nil {
		one(cgroupWrite{Controller: "memory", File: "memory.oom_control", Value: boolDigit(*m.DisableOOMKiller), Field: "linux.resources.memory.disableOOMKiller"})
	}
	if m.UseHierarchy != nil {
		one(cgroupWrite{Controller: "memory", File: "memory.use_hierarchy", Value: boolDigit(*m.UseHierarchy), Field: "linux.resources.memory.useHierarchy"})
	}
	return steps, nil
}

func boolDigit(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// planBlockIO maps blockIO. The kernel's CFQ files (blkio.weight,
// blkio.leaf_weight, blkio.*weight_device) are gone since 5.0; like runc, a
// weight falls back to BFQ's blkio.bfq.weight(_device). BFQ has no leaf
// weights, so those fail with "not available". A weight of 0 (outside
// every scheduler's range) means "not set", as in runc: Docker sends it for
// containers started without --blkio-weight.
func planBlockIO(b *specs.LinuxBlockIO) []cgroupWrite {
	var out []cgroupWrite
	if b.Weight != nil && *b.Weight != 0 {
		out = append(out, cgroupWrite{Controller: "blkio", File: "blkio.weight", Alt: "blkio.bfq.weight", Value: strconv.FormatUint(uint64(*b.Weight), 10), Field: "linux.resources.blockIO.weight"})
	}
	if b.LeafWeight != nil && *b.LeafWeight != 0 {
		out = append(out, cgroupWrite{Controller: "blkio", File: "blkio.leaf_weight", Value: strconv.FormatUint(uint64(*b.LeafWeight), 10), Field: "linux.resources.blockIO.leafWeight"})
	}
	for i, d := range b.WeightDevice {
		field := fmt.Sprintf("linux.resources.blockIO.weightDevice[%d]", i)
		if d.Weight != nil {
			out = append(out, cgroupWrite{Controller: "blkio", File: "blkio.weight_device", Alt: "blkio.bfq.weight_device", Value: fmt.Sprintf("%d:%d %d", d.Major, d.Minor, *d.Weight), Field: field + ".weight"})
		}
		if d.LeafWeight != nil {
			out = append(out, cgroupWrite{Controller: "blkio", File: "blkio.leaf_weight_device", Value: fmt.Sprintf("%d:%d %d", d.Major, d.Minor, *d.LeafWeight), Field: field + ".leafWeight"})
		}
	}
	throttle := func(list []specs.LinuxThrottleDevice, file, name string) {
		for i, d := range list {
			out = append(out, cgroupWrite{Controller: "blkio", File: file, Value: fmt.Sprintf("%d:%d %d", d.Major, d.Minor, d.Rate), Field: fmt.Sprintf("linux.resources.blockIO.%s[%d]", name, i)})
		}
	}
	throttle(b.ThrottleReadBpsDevice, "blkio.throttle.read_bps_device", "throttleReadBpsDevice")
	throttle(b.ThrottleWriteBpsDevice, "blkio.throttle.write_bps_device", "throttleWriteBpsDevice")
	throttle(b.ThrottleReadIOPSDevice, "blkio.throttle.read_iops_device", "throttleReadIOPSDevice")
	throttle(b.ThrottleWriteIOPSDevice, "blkio.throttle.write_iops_device", "throttleWriteIOPSDevice")
	return out
}

// planHugepages writes hugetlb.<size>.limit_in_bytes when hugetlb is a v1
// hierarchy, else hugetlb.<size>.max in the unified directory.
func planHugepages(limits []specs.LinuxHugepageLimit, pl placement) ([]cgroupWrite, error) {
	var out []cgroupWrite
	v1 := pl.onV1 != nil && pl.onV1("hugetlb")
	for i, l := range limits {
		field := fmt.Sprintf("linux.resources.hugepageLimits[%d]", i)
		if !isPageSize(l.Pagesize) {
			return nil, fieldError(field+".pageSize", "%q is not a size like 2MB or 1GB", l.Pagesize)
		}
		v := strconv.FormatUint(l.Limit, 10)
		if v1 {
			out = append(out, cgroupWrite{Controller: "hugetlb", File: "hugetlb." + l.Pagesize + ".limit_in_bytes", Value: v, Field: field})
		} else {
			out = append(out, cgroupWrite{Controller: UnifiedKey, File: "hugetlb." + l.Pagesize + ".max", Value: v, Field: field, Enable: "hugetlb"})
		}
	}
	return out, nil
}

func planNetwork(n *specs.LinuxNetwork) []cgroupWrite {
	var out []cgroupWrite
	if n.ClassID != nil {
		out = append(out, cgroupWrite{Controller: "net_cls", File: "net_cls.classid", Value: strconv.FormatUint(uint64(*n.ClassID), 10), Field: "linux.resources.network.classID"})
	}
	for i, p := range n.Priorities {
		out = append(out, cgroupWrite{Controller: "net_prio", File: "net_prio.ifpriomap", Value: fmt.Sprintf("%s %d", p.Name, p.Priority), Field: fmt.Sprintf("linux.resources.network.priorities[%d]", i)})
	}
	return out
}

// planRdma writes rdma.max on a v1 rdma hierarchy or, failing that, in the
// unified directory.
func planRdma(rdma map[string]specs.LinuxRdma, pl placement) []cgroupWrite {
	devs := make([]string, 0, len(rdma))
	for d := range rdma {
		devs = append(devs, d)
	}
	sort.Strings(devs)
	v1 := pl.onV1 != nil && pl.onV1("rdma")
	limit := func(p *uint32) string {
		if p == nil {
			return "max"
		}
		return strconv.FormatUint(uint64(*p), 10)
	}
	var out []cgroupWrite
	for _, d := range devs {
		r := rdma[d]
		w := cgroupWrite{Controller: "rdma", File: "rdma.max", Value: fmt.Sprintf("%s hca_handle=%s hca_object=%s", d, limit(r.HcaHandles), limit(r.HcaObjects)), Field: fmt.Sprintf("linux.resources.rdma[%q]", d)}
		if !v1 {
			w.Controller, w.Enable = UnifiedKey, "rdma"
		}
		out = append(out, w)
	}
	return out
}

// planDevices writes the rules in the given order.
func planDevices(rules []specs.LinuxDeviceCgroup) ([]cgroupWrite, error) {
	var out []cgroupWrite
	for i, r := range rules {
		field := fmt.Sprintf("linux.resources.devices[%d]", i)
		rule, err := deviceRule(r)
		if err != nil {
			return nil, fieldError(field, "%v", err)
		}
		file := "devices.deny"
		if r.Allow {
			file = "devices.allow"
		}
		out = append(out, cgroupWrite{Controller: "devices", File: file, Value: rule, Field: field})
	}
	return out, nil
}

// deviceRule formats a rule as the v1 devices controller reads it:
// "c 1:3 rwm"; an empty type is "a", a nil major/minor is "*", an empty
// access is "rwm".
func deviceRule(r specs.LinuxDeviceCgroup) (string, error) {
	t := r.Type
	switch t {
	case "":
		t = "a"
	case "a", "b", "c":
	default:
		return "", fmt.Errorf("type %q is not a, b or c", r.Type)
	}
	access := r.Access
	if access == "" {
		access = "rwm"
	}
	if strings.Trim(access, "rwm") != "" || len(access) > 3 {
		return "", fmt.Errorf("access %q is not a combination of r, w, m", r.Access)
	}
	num := func(p *int64) (string, error) {
		if p == nil || *p == -1 {
			return "*", nil
		}
		if *p < 0 {
			return "", fmt.Errorf("negative device number %d", *p)
		}
		return strconv.FormatInt(*p, 10), nil
	}
	major, err := num(r.Major)
	if err != nil {
		return "", err
	}
	minor, err := num(r.Minor)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s %s:%s %s", t, major, minor, access), nil
}

// altValue is what goes to Alt.
func (w cgroupWrite) altValue() string {
	if w.AltValue != "" {
		return w.AltValue
	}
	return w.Value
}
