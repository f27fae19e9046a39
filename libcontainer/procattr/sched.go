package procattr

import (
	"fmt"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

var schedPolicies = map[specs.LinuxSchedulerPolicy]uint32{
	specs.SchedOther:    unix.SCHED_NORMAL,
	specs.SchedFIFO:     unix.SCHED_FIFO,
	specs.SchedRR:       unix.SCHED_RR,
	specs.SchedBatch:    unix.SCHED_BATCH,
	specs.SchedIdle:     unix.SCHED_IDLE,
	specs.SchedDeadline: unix.SCHED_DEADLINE,
}

var schedFlags = map[specs.LinuxSchedulerFlag]uint64{
	specs.SchedFlagResetOnFork:  unix.SCHED_FLAG_RESET_ON_FORK,
	specs.SchedFlagReclaim:      unix.SCHED_FLAG_RECLAIM,
	specs.SchedFlagDLOverrun:    unix.SCHED_FLAG_DL_OVERRUN,
	specs.SchedFlagKeepPolicy:   unix.SCHED_FLAG_KEEP_POLICY,
	specs.SchedFlagKeepParams:   unix.SCHED_FLAG_KEEP_PARAMS,
	specs.SchedFlagUtilClampMin: unix.SCHED_FLAG_UTIL_CLAMP_MIN,
	specs.SchedFlagUtilClampMax: unix.SCHED_FLAG_UTIL_CLAMP_MAX,
}

// SetScheduler applies process.scheduler with sched_setattr(2). pid 0
// means the calling thread only (scheduling attributes are per thread):
// call it on the thread that will execve. nil leaves the inherited policy.
func SetScheduler(s *specs.Scheduler) error {
	if s == nil {
		return nil
	}
	attr, err := schedAttr(s)
	if err != nil {
		return err
	}
	if err := unix.SchedSetAttr(0, attr, 0); err != nil {
		return fmt.Errorf("process.scheduler: sched_setattr(policy=%s nice=%d priority=%d): %w", s.Policy, s.Nice, s.Priority, err)
	}
	return nil
}

func schedAttr(s *specs.Scheduler) (*unix.SchedAttr, error) {
	policy, ok := schedPolicies[s.Policy]
	if !ok {
		if s.Policy == specs.SchedISO {
			return nil, fmt.Errorf("process.scheduler.policy: %s is not implemented by Linux", s.Policy)
		}
		return nil, fmt.Errorf("process.scheduler.policy: unknown policy %q", s.Policy)
	}
	attr := &unix.SchedAttr{
		Policy:   policy,
		Nice:     s.Nice,
		Priority: uint32(s.Priority),
		Runtime:  s.Runtime,
		Deadline: s.Deadline,
		Period:   s.Period,
	}
	if s.Priority < 0 {
		return nil, fmt.Errorf("process.scheduler.priority: %d is negative", s.Priority)
	}
	for i, f := range s.Flags {
		bit, ok := schedFlags[f]
		if !ok {
			return nil, fmt.Errorf("process.scheduler.flags[%d]: unknown flag %q", i, f)
		}
		attr.Flags |= bit
	}
	return attr, nil
}

// SchedulerPolicies and SchedulerFlags list what SetScheduler accepts
// (for `nsrun features`).
func SchedulerPolicies() []string {
	return sortedKeys(schedPolicies)
}

func SchedulerFlags() []string {
	return sortedKeys(schedFlags)
}

// I/O priority encoding of ioprio_set(2): class in the top bits.
const (
	ioprioClassShift = 13
	ioprioWhoProcess = 1 // IOPRIO_WHO_PROCESS: a process or thread id; 0 = the calling thread
)

var ioprioClasses = map[specs.IOPriorityClass]int{
	specs.IOPRIO_CLASS_RT:   1,
	specs.IOPRIO_CLASS_BE:   2,
	specs.IOPRIO_CLASS_IDLE: 3,
}

// SetIOPriority applies process.ioPriority with ioprio_set(2) on the
// calling thread (I/O priority is per thread and inherited by execve).
// nil leaves the inherited priority.
func SetIOPriority(p *specs.LinuxIOPriority) error {
	if p == nil {
		return nil
	}
	class, ok := ioprioClasses[p.Class]
	if !ok {
		return fmt.Errorf("process.ioPriority.class: unknown class %q", p.Class)
	}
	if p.Priority < 0 || p.Priority > 7 {
		return fmt.Errorf("process.ioPriority.priority: %d is outside [0, 7]", p.Priority)
	}
	prio := class<<ioprioClassShift | p.Priority
	if _, _, errno := unix.Syscall(unix.SYS_IOPRIO_SET, ioprioWhoProcess, 0, uintptr(prio)); errno != 0 {
		return fmt.Errorf("process.ioPriority: ioprio_set(class=%s priority=%d): %w", p.Class, p.Priority, errno)
	}
	return nil
}

// IOPriorityClasses lists the accepted classes (for `nsrun features`).
func IOPriorityClasses() []string {
	return sortedKeys(ioprioClasses)
}
