package procattr

import (
	"fmt"
	"slices"

	"github.com/opencontainers/runtime-spec/specs-go"

	"golang.org/x/sys/unix"
)

// rlimitByName maps the rlimit names of config.md to setrlimit resources.
var rlimitByName = map[string]int{
	"RLIMIT_AS":         unix.RLIMIT_AS,
	"RLIMIT_CORE":       unix.RLIMIT_CORE,
	"RLIMIT_CPU":        unix.RLIMIT_CPU,
	"RLIMIT_DATA":       unix.RLIMIT_DATA,
	"RLIMIT_FSIZE":      unix.RLIMIT_FSIZE,
	"RLIMIT_LOCKS":      unix.RLIMIT_LOCKS,
	"RLIMIT_MEMLOCK":    unix.RLIMIT_MEMLOCK,
	"RLIMIT_MSGQUEUE":   unix.RLIMIT_MSGQUEUE,
	"RLIMIT_NICE":       unix.RLIMIT_NICE,
	"RLIMIT_NOFILE":     unix.RLIMIT_NOFILE,
	"RLIMIT_NPROC":      unix.RLIMIT_NPROC,
	"RLIMIT_RSS":        unix.RLIMIT_RSS,
	"RLIMIT_RTPRIO":     unix.RLIMIT_RTPRIO,
	"RLIMIT_RTTIME":     unix.RLIMIT_RTTIME,
	"RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING,
	"RLIMIT_STACK":      unix.RLIMIT_STACK,
}

// RlimitResource returns the setrlimit resource number of a name such as
// "RLIMIT_NOFILE", and whether the name is known.
func RlimitResource(name string) (int, bool) {
	v, ok := rlimitByName[name]
	return v, ok
}

// RlimitNames returns the rlimit types this build knows, sorted (for
// `nsrun features`).
func RlimitNames() []string {
	out := make([]string, 0, len(rlimitByName))
	for n := range rlimitByName {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// SetRlimits applies process.rlimits to the process (rlimits are per
// process, inherited across execve).
//
// It goes through unix.Prlimit, which is Go's own prlimit: setting
// RLIMIT_NOFILE through it tells the Go runtime not to restore its saved
// start-up NOFILE limit at execve, so the configured value is what the
// user program gets. A type not set here keeps the inherited value.
//
// Raising a hard limit above the current one needs CAP_SYS_RESOURCE; on a
// host that withholds it the kernel answers EPERM, returned with the
// entry's JSON path.
func SetRlimits(rl []specs.POSIXRlimit) error {
	for i, r := range rl {
		res, ok := rlimitByName[r.Type]
		if !ok {
			return fmt.Errorf("process.rlimits[%d]: unknown rlimit type %q", i, r.Type)
		}
		if r.Soft > r.Hard {
			return fmt.Errorf("process.rlimits[%d] (%s): soft limit %d is above hard limit %d", i, r.Type, r.Soft, r.Hard)
		}
		lim := unix.Rlimit{Cur: r.Soft, Max: r.Hard}
		if err := unix.Prlimit(0, res, &lim, nil); err != nil {
			return fmt.Errorf("process.rlimits[%d] (%s): setrlimit(soft=%d, hard=%d): %w", i, r.Type, r.Soft, r.Hard, err)
		}
	}
	return nil
}
