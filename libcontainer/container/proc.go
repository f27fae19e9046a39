package container

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// procStat is what nsrun reads from /proc/<pid>/stat.
type procStat struct {
	State     byte
	Flags     uint64 // PF_* of the (leader) task
	Threads   int
	StartTime uint64
}

// pfExiting is the kernel's PF_EXITING task flag: the task is in do_exit.
const pfExiting = 0x4

// readStat parses /proc/<pid>/stat. The command name may hold spaces and
// parentheses, so fields are counted from the last ')'.
func readStat(pid int) (*procStat, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	i := bytes.LastIndexByte(data, ')')
	if i < 0 || i+2 >= len(data) {
		return nil, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	fields := strings.Fields(string(data[i+2:]))
	// fields[0] is field 3 (state); starttime is field 22.
	if len(fields) < 20 {
		return nil, fmt.Errorf("parse /proc/%d/stat: %d fields", pid, len(fields))
	}
	start, err := strconv.ParseUint(fields[19], 10, 64)
	if err != nil {
		return nil, fmt.Errorf("parse /proc/%d/stat starttime: %w", pid, err)
	}
	flags, err := strconv.ParseUint(fields[6], 10, 64)
	if err != nil {
		return nil, fmt.Errorf("parse /proc/%d/stat flags: %w", pid, err)
	}
	threads, err := strconv.Atoi(fields[17])
	if err != nil {
		return nil, fmt.Errorf("parse /proc/%d/stat num_threads: %w", pid, err)
	}
	return &procStat{State: fields[0][0], Flags: flags, Threads: threads, StartTime: start}, nil
}

// StartTime returns the start time of pid (clock ticks since boot).
func StartTime(pid int) (uint64, error) {
	st, err := readStat(pid)
	if err != nil {
		return 0, err
	}
	return st.StartTime, nil
}

// alive reports whether pid is still the process that started at start:
// not gone, not a zombie, not exiting, not a newer process with a reused
// PID.
//
// Exiting counts as gone: a PID namespace's init that was killed stays in
// do_exit (zap_pid_ns_processes) until every process of the namespace has
// been reaped, and one whose parent is outside the namespace (an `exec`'d
// process, re-parented to the caller's subreaper) is reaped only when that
// parent gets to it. The init has left its cgroups by then, so delete can
// go on rather than wait on the caller (which may be waiting for delete).
func alive(pid int, start uint64) bool {
	if pid <= 0 {
		return false
	}
	st, err := readStat(pid)
	if err != nil {
		return false
	}
	if st.State == 'Z' || st.State == 'X' {
		return false
	}
	// A leader that called exit while other threads go on is PF_EXITING
	// too: only a lone exiting thread is the process ending.
	if st.Flags&pfExiting != 0 && st.Threads <= 1 {
		return false
	}
	return st.StartTime == start
}

// ParseSignal accepts what runc accepts: a number, or a name with or
// without "SIG", in any case.
func ParseSignal(s string) (syscall.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, fmt.Errorf("invalid signal %q", s)
		}
		return syscall.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	sig := unix.SignalNum(name)
	if sig == 0 {
		return 0, fmt.Errorf("unknown signal %q", s)
	}
	return sig, nil
}
