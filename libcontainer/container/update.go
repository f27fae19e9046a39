package container

import (
	"errors"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"
)

// Update applies req to the cgroups of a live (created, running or paused)
// container and records the result in the config snapshot, so that later
// commands see the resources in effect. Fields req leaves unset (nil, or
// zero for the numeric memory and cpu fields, as in Create) keep their
// values.
//
// Device rules: on cgroup v2 a device list in req replaces the config's
// (nsrun's default rules and linux.devices are kept after it); the new
// eBPF program is attached before the old one is detached, so no access
// slips through meanwhile. On cgroup v1 they are not updated, as with
// runc: rewriting devices.deny/allow of a live cgroup passes through a
// deny-all, and clients such as containerd send the container's whole
// resources object, whose device list was already applied at create.
func (c *Container) Update(req *specs.LinuxResources) error {
	switch c.Status() {
	case specs.StateStopped:
		return errors.New("container not running")
	case specs.StateCreating:
		return errors.New("container is being created")
	}
	if req == nil {
		req = &specs.LinuxResources{}
	}
	spec, err := c.St.Spec()
	if err != nil {
		return err
	}
	if spec == nil {
		spec = &specs.Spec{}
	}
	if spec.Linux == nil {
		spec.Linux = &specs.Linux{}
	}
	var devices []specs.LinuxDeviceCgroup
	if len(req.Devices) > 0 {
		if c.St.Cgroups != nil && c.St.Cgroups.V2 {
			devices = req.Devices
		} else {
			logrus.Debugf("update: linux.resources.devices (%d rules) left as they are on cgroup v1", len(req.Devices))
		}
	}
	req.Devices = nil
	// As runc does: an unlimited memory limit without a swap value means
	// memory+swap unlimited too.
	if m := req.Memory; m != nil && m.Limit != nil && *m.Limit == -1 && !setI64(m.Swap) {
		m.Swap = i64(-1)
	}
	cur := spec.Linux.Resources
	cg := c.cgroups()
	upd := withPartners(req, cur)
	if devices != nil {
		upd.Devices = deviceRules(devices, spec.Linux.Devices)
	}
	if err := cg.Update(upd); err != nil {
		return fmt.Errorf("update: %w", err)
	}
	spec.Linux.Resources = mergeResources(cur, req)
	if devices != nil {
		spec.Linux.Resources.Devices = devices
	}
	if err := c.St.SetSpec(spec); err != nil {
		return err
	}
	c.St.Cgroups = cg.Record()
	if err := c.dir.Save(c.St); err != nil {
		return fmt.Errorf("update: record resources: %w", err)
	}
	return nil
}

func setI64(p *int64) bool  { return p != nil && *p != 0 }
func setU64(p *uint64) bool { return p != nil && *p != 0 }

// withPartners returns req where each half of an order-sensitive pair
// (memory limit / memory+swap, CFS period / quota, RT period / runtime)
// that req sets alone is joined by its partner's recorded value: the
// cgroup driver then writes the two in a valid order, and checks them
// against each other (swap below limit) rather than letting the kernel
// answer EINVAL.
func withPartners(req, cur *specs.LinuxResources) *specs.LinuxResources {
	out := *req
	if cur == nil {
		return &out
	}
	if req.Memory != nil && cur.Memory != nil {
		m, c := *req.Memory, cur.Memory
		if setI64(m.Limit) && !setI64(m.Swap) && setI64(c.Swap) {
			m.Swap = c.Swap
		}
		if setI64(m.Swap) && !setI64(m.Limit) && setI64(c.Limit) {
			m.Limit = c.Limit
		}
		// A recorded checkBeforeUpdate guards every later update.
		if m.CheckBeforeUpdate == nil {
			m.CheckBeforeUpdate = c.CheckBeforeUpdate
		}
		out.Memory = &m
	}
	if req.CPU != nil && cur.CPU != nil {
		p, c := *req.CPU, cur.CPU
		if setI64(p.Quota) && !setU64(p.Period) && setU64(c.Period) {
			p.Period = c.Period
		}
		if setU64(p.Period) && !setI64(p.Quota) && setI64(c.Quota) {
			p.Quota = c.Quota
		}
		if setI64(p.RealtimeRuntime) && !setU64(p.RealtimePeriod) && setU64(c.RealtimePeriod) {
			p.RealtimePeriod = c.RealtimePeriod
		}
		if setU64(p.RealtimePeriod) && !setI64(p.RealtimeRuntime) && setI64(c.RealtimeRuntime) {
			p.RealtimeRuntime = c.RealtimeRuntime
		}
		out.CPU = &p
	}
	return &out
}

// mergeResources returns cur with every field req sets replaced. List
// entries are keyed (a device's major:minor, a page size, an interface
// name) and replace the entry with the same key, as a write of the same
// cgroup file would.
func mergeResources(cur, req *specs.LinuxResources) *specs.LinuxResources {
	var out specs.LinuxResources
	if cur != nil {
		out = *cur
	}
	if req.Memory != nil {
		out.Memory = mergeMemory(out.Memory, req.Memory)
	}
	if req.CPU != nil {
		out.CPU = mergeCPU(out.CPU, req.CPU)
	}
	if req.Pids != nil && req.Pids.Limit != nil {
		out.Pids = &specs.LinuxPids{Limit: req.Pids.Limit}
	}
	if req.BlockIO != nil {
		out.BlockIO = mergeBlockIO(out.BlockIO, req.BlockIO)
	}
	if len(req.HugepageLimits) > 0 {
		out.HugepageLimits = mergeKeyed(out.HugepageLimits, req.HugepageLimits, func(l specs.LinuxHugepageLimit) string { return l.Pagesize })
	}
	if req.Network != nil {
		n := specs.LinuxNetwork{}
		if out.Network != nil {
			n = *out.Network
		}
		if req.Network.ClassID != nil {
			n.ClassID = req.Network.ClassID
		}
		n.Priorities = mergeKeyed(n.Priorities, req.Network.Priorities, func(p specs.LinuxInterfacePriority) string { return p.Name })
		out.Network = &n
	}
	if len(req.Rdma) > 0 {
		m := map[string]specs.LinuxRdma{}
		for k, v := range out.Rdma {
			m[k] = v
		}
		for k, v := range req.Rdma {
			m[k] = v
		}
		out.Rdma = m
	}
	if len(req.Unified) > 0 {
		m := map[string]string{}
		for k, v := range out.Unified {
			m[k] = v
		}
		for k, v := range req.Unified {
			m[k] = v
		}
		out.Unified = m
	}
	return &out
}

func mergeMemory(cur, req *specs.LinuxMemory) *specs.LinuxMemory {
	var m specs.LinuxMemory
	if cur != nil {
		m = *cur
	}
	for _, f := range []struct{ dst, src **int64 }{
		{&m.Limit, &req.Limit}, {&m.Reservation, &req.Reservation}, {&m.Swap, &req.Swap},
		{&m.Kernel, &req.Kernel}, {&m.KernelTCP, &req.KernelTCP},
	} {
		if setI64(*f.src) {
			*f.dst = *f.src
		}
	}
	if req.Swappiness != nil {
		m.Swappiness = req.Swappiness
	}
	for _, f := range []struct{ dst, src **bool }{
		{&m.DisableOOMKiller, &req.DisableOOMKiller}, {&m.UseHierarchy, &req.UseHierarchy}, {&m.CheckBeforeUpdate, &req.CheckBeforeUpdate},
	} {
		if *f.src != nil {
			*f.dst = *f.src
		}
	}
	return &m
}

func mergeCPU(cur, req *specs.LinuxCPU) *specs.LinuxCPU {
	var c specs.LinuxCPU
	if cur != nil {
		c = *cur
	}
	for _, f := range []struct{ dst, src **uint64 }{{&c.Shares, &req.Shares}, {&c.Period, &req.Period}, {&c.RealtimePeriod, &req.RealtimePeriod}} {
		if setU64(*f.src) {
			*f.dst = *f.src
		}
	}
	for _, f := range []struct{ dst, src **int64 }{{&c.Quota, &req.Quota}, {&c.RealtimeRuntime, &req.RealtimeRuntime}} {
		if setI64(*f.src) {
			*f.dst = *f.src
		}
	}
	if req.Burst != nil {
		c.Burst = req.Burst
	}
	if req.Idle != nil {
		c.Idle = req.Idle
	}
	if req.Cpus != "" {
		c.Cpus = req.Cpus
	}
	if req.Mems != "" {
		c.Mems = req.Mems
	}
	return &c
}

func mergeBlockIO(cur, req *specs.LinuxBlockIO) *specs.LinuxBlockIO {
	var b specs.LinuxBlockIO
	if cur != nil {
		b = *cur
	}
	if req.Weight != nil {
		b.Weight = req.Weight
	}
	if req.LeafWeight != nil {
		b.LeafWeight = req.LeafWeight
	}
	dev := func(d specs.LinuxBlockIODevice) string { return fmt.Sprintf("%d:%d", d.Major, d.Minor) }
	b.WeightDevice = mergeKeyed(b.WeightDevice, req.WeightDevice, func(d specs.LinuxWeightDevice) string { return dev(d.LinuxBlockIODevice) })
	thr := func(d specs.LinuxThrottleDevice) string { return dev(d.LinuxBlockIODevice) }
	b.ThrottleReadBpsDevice = mergeKeyed(b.ThrottleReadBpsDevice, req.ThrottleReadBpsDevice, thr)
	b.ThrottleWriteBpsDevice = mergeKeyed(b.ThrottleWriteBpsDevice, req.ThrottleWriteBpsDevice, thr)
	b.ThrottleReadIOPSDevice = mergeKeyed(b.ThrottleReadIOPSDevice, req.ThrottleReadIOPSDevice, thr)
	b.ThrottleWriteIOPSDevice = mergeKeyed(b.ThrottleWriteIOPSDevice, req.ThrottleWriteIOPSDevice, thr)
	return &b
}

// mergeKeyed replaces the entries of cur whose key an entry of req has and
// appends the others, keeping cur's order.
func mergeKeyed[T any](cur, req []T, key func(T) string) []T {
	if len(req) == 0 {
		return cur
	}
	out := append([]T{}, cur...)
	for _, r := range req {
		replaced := false
		for i := range out {
			if key(out[i]) == key(r) {
				out[i], replaced = r, true
				break
			}
		}
		if !replaced {
			out = append(out, r)
		}
	}
	return out
}
