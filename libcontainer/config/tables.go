package config

import (
	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/nsrun/nsrun/libcontainer/capabilities"
	"github.com/nsrun/nsrun/libcontainer/procattr"
)

// CapabilityValue returns the number of a capability named like
// "CAP_SYS_ADMIN", and whether the name is known. The table lives with the
// code that applies capabilities.
func CapabilityValue(name string) (int, bool) {
	v, ok := capabilities.Lookup(name)
	return int(v), ok
}

// RlimitResource returns the setrlimit resource number of a name such as
// "RLIMIT_NOFILE", and whether the name is known. The table lives with the
// code that applies rlimits.
func RlimitResource(name string) (int, bool) {
	return procattr.RlimitResource(name)
}

var schedulerPolicies = map[specs.LinuxSchedulerPolicy]bool{
	specs.SchedOther: true, specs.SchedFIFO: true, specs.SchedRR: true,
	specs.SchedBatch: true, specs.SchedISO: true, specs.SchedIdle: true,
	specs.SchedDeadline: true,
}

var schedulerFlags = map[specs.LinuxSchedulerFlag]bool{
	specs.SchedFlagResetOnFork: true, specs.SchedFlagReclaim: true,
	specs.SchedFlagDLOverrun: true, specs.SchedFlagKeepPolicy: true,
	specs.SchedFlagKeepParams: true, specs.SchedFlagUtilClampMin: true,
	specs.SchedFlagUtilClampMax: true,
}

var ioPriorityClasses = map[specs.IOPriorityClass]bool{
	specs.IOPRIO_CLASS_RT: true, specs.IOPRIO_CLASS_BE: true, specs.IOPRIO_CLASS_IDLE: true,
}

var namespaceTypes = map[specs.LinuxNamespaceType]bool{
	specs.PIDNamespace: true, specs.NetworkNamespace: true, specs.MountNamespace: true,
	specs.IPCNamespace: true, specs.UTSNamespace: true, specs.UserNamespace: true,
	specs.CgroupNamespace: true, specs.TimeNamespace: true,
}
