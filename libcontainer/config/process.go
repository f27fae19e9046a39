package config

import (
	"path/filepath"

	"github.com/opencontainers/runtime-spec/specs-go"
)

// Kernel limits worth checking before anything is set up.
const (
	minOOMScoreAdj = -1000
	maxOOMScoreAdj = 1000
	maxIOPriority  = 7
	minNice        = -20
	maxNice        = 19
	minRTPriority  = 1
	maxRTPriority  = 99
	// minDeadlineRuntime is 1 << DL_SCALE, the kernel's resolution for
	// SCHED_DEADLINE parameters.
	minDeadlineRuntime = 1024
)

// ValidateProcess checks a process object on its own, as `exec --process`
// needs it. path is the JSON path of the object ("process" inside a
// config.json, "" for a standalone process file) and prefixes every error.
func ValidateProcess(proc *specs.Process, path string) error {
	var p problems
	if proc == nil {
		where := path
		if where == "" {
			where = "process"
		}
		p.add(where, "must be set")
		return p.err()
	}
	validateProcess(&p, proc, path)
	return p.err()
}

func validateProcess(p *problems, proc *specs.Process, path string) {
	argsPath := field(path, "args")
	switch {
	case len(proc.Args) == 0:
		p.add(argsPath, "must not be empty")
	case proc.Args[0] == "":
		p.add(index(argsPath, 0), "must not be empty (it names the program to run)")
	}
	checkStrings(p, argsPath, proc.Args)

	cwdPath := field(path, "cwd")
	switch {
	case hasNUL(proc.Cwd):
		p.add(cwdPath, "contains a NUL byte")
	case !filepath.IsAbs(proc.Cwd):
		p.add(cwdPath, "must be an absolute path, got %q", proc.Cwd)
	}

	validateEnv(p, field(path, "env"), proc.Env)
	validateUser(p, &proc.User, field(path, "user"))
	validateRlimits(p, proc.Rlimits, field(path, "rlimits"))
	validateCapabilities(p, proc.Capabilities, field(path, "capabilities"))

	if proc.OOMScoreAdj != nil {
		if v := *proc.OOMScoreAdj; v < minOOMScoreAdj || v > maxOOMScoreAdj {
			p.add(field(path, "oomScoreAdj"), "must be between %d and %d, got %d", minOOMScoreAdj, maxOOMScoreAdj, v)
		}
	}
	validateScheduler(p, proc.Scheduler, field(path, "scheduler"))
	validateIOPriority(p, proc.IOPriority, field(path, "ioPriority"))

	if hasNUL(proc.ApparmorProfile) {
		p.add(field(path, "apparmorProfile"), "contains a NUL byte")
	}
	if hasNUL(proc.SelinuxLabel) {
		p.add(field(path, "selinuxLabel"), "contains a NUL byte")
	}
}

func validateUser(p *problems, u *specs.User, path string) {
	if u.Umask != nil && *u.Umask > 0o777 {
		p.add(field(path, "umask"), "must be at most 0777 (511), got %d", *u.Umask)
	}
	checkLen(p, field(path, "additionalGids"), len(u.AdditionalGids))
	if hasNUL(u.Username) {
		p.add(field(path, "username"), "contains a NUL byte")
	}
}

func validateRlimits(p *problems, rlimits []specs.POSIXRlimit, path string) {
	if !checkLen(p, path, len(rlimits)) {
		return
	}
	seen := make(map[string]int, len(rlimits))
	for i, rl := range rlimits {
		rp := index(path, i)
		if _, ok := RlimitResource(rl.Type); !ok {
			p.add(field(rp, "type"), "unknown rlimit type %q", rl.Type)
		} else if first, dup := seen[rl.Type]; dup {
			p.add(field(rp, "type"), "duplicate rlimit type %q (also at index %d)", rl.Type, first)
		} else {
			seen[rl.Type] = i
		}
		if rl.Soft > rl.Hard {
			p.add(rp, "soft limit %d is greater than hard limit %d", rl.Soft, rl.Hard)
		}
	}
}

func validateCapabilities(p *problems, c *specs.LinuxCapabilities, path string) {
	if c == nil {
		return
	}
	sets := []struct {
		name string
		caps []string
	}{
		{"bounding", c.Bounding},
		{"effective", c.Effective},
		{"inheritable", c.Inheritable},
		{"permitted", c.Permitted},
		{"ambient", c.Ambient},
	}
	for _, set := range sets {
		sp := field(path, set.name)
		if !checkLen(p, sp, len(set.caps)) {
			continue
		}
		for i, name := range set.caps {
			if _, ok := CapabilityValue(name); !ok {
				p.add(index(sp, i), "unknown capability %q", name)
			}
		}
	}
}

// validateScheduler applies the rules of sched_setattr(2) that the kernel
// would otherwise report as a bare EINVAL.
func validateScheduler(p *problems, s *specs.Scheduler, path string) {
	if s == nil {
		return
	}
	policyPath := field(path, "policy")
	switch {
	case s.Policy == "":
		p.add(policyPath, "must be set")
	case !schedulerPolicies[s.Policy]:
		p.add(policyPath, "unknown scheduler policy %q", s.Policy)
	}
	if s.Nice < minNice || s.Nice > maxNice {
		p.add(field(path, "nice"), "must be between %d and %d, got %d", minNice, maxNice, s.Nice)
	}
	realtime := s.Policy == specs.SchedFIFO || s.Policy == specs.SchedRR
	switch {
	case realtime && (s.Priority < minRTPriority || s.Priority > maxRTPriority):
		p.add(field(path, "priority"), "must be between %d and %d for %s, got %d", minRTPriority, maxRTPriority, s.Policy, s.Priority)
	case !realtime && s.Priority != 0:
		p.add(field(path, "priority"), "can only be set for SCHED_FIFO or SCHED_RR, not %q", s.Policy)
	}
	if s.Policy == specs.SchedDeadline {
		// The kernel's __checkparam_dl: 0 < 1024 <= runtime <= deadline <= period (0 = deadline).
		if s.Deadline == 0 {
			p.add(field(path, "deadline"), "must be set for SCHED_DEADLINE")
		}
		if s.Runtime < minDeadlineRuntime {
			p.add(field(path, "runtime"), "must be at least %d ns for SCHED_DEADLINE, got %d", minDeadlineRuntime, s.Runtime)
		}
		if s.Runtime > s.Deadline {
			p.add(field(path, "runtime"), "must not exceed deadline (%d > %d)", s.Runtime, s.Deadline)
		}
		if s.Period != 0 && s.Deadline > s.Period {
			p.add(field(path, "deadline"), "must not exceed period (%d > %d)", s.Deadline, s.Period)
		}
	} else if s.Runtime != 0 || s.Deadline != 0 || s.Period != 0 {
		p.add(path, "runtime, deadline and period can only be set for SCHED_DEADLINE")
	}
	flagsPath := field(path, "flags")
	if !checkLen(p, flagsPath, len(s.Flags)) {
		return
	}
	for i, f := range s.Flags {
		if !schedulerFlags[f] {
			p.add(index(flagsPath, i), "unknown scheduler flag %q", f)
		}
	}
}

func validateIOPriority(p *problems, io *specs.LinuxIOPriority, path string) {
	if io == nil {
		return
	}
	if !ioPriorityClasses[io.Class] {
		p.add(field(path, "class"), "unknown I/O priority class %q", io.Class)
	}
	if io.Priority < 0 || io.Priority > maxIOPriority {
		p.add(field(path, "priority"), "must be between 0 and %d, got %d", maxIOPriority, io.Priority)
	}
}
