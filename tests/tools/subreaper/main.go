// Command subreaper runs a command as a child subreaper.
//
//	subreaper CMD [ARGS...]
//
// PID 1 on the test machines does not reap orphans, so every harness that
// starts containers runs under this tool: the container inits that outlive
// `create` (and anything else that is orphaned below us) are re-parented
// here and reaped, instead of piling up as zombies.
//
// The command inherits stdin, stdout and stderr. SIGINT, SIGTERM, SIGHUP and
// SIGQUIT are forwarded to it. subreaper exits with the command's status
// (128+N when the command was killed by signal N) as soon as the command
// itself exits; orphans still alive then move on to the next subreaper up.
package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"

	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: subreaper CMD [ARGS...]")
		os.Exit(2)
	}
	status, err := run(os.Args[1], os.Args[2:])
	if err != nil {
		fmt.Fprintf(os.Stderr, "subreaper: %v\n", err)
		os.Exit(127)
	}
	os.Exit(status)
}

// run starts the command and reaps every child until the command exits.
// It returns the exit status to pass on.
func run(name string, args []string) (int, error) {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return 0, fmt.Errorf("prctl(PR_SET_CHILD_SUBREAPER): %w", err)
	}

	path, err := exec.LookPath(name)
	if err != nil {
		return 0, fmt.Errorf("look up %s: %w", name, err)
	}

	// Register before the start so that a signal arriving between the start
	// and the forwarding loop is queued rather than killing us.
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT)

	// os.StartProcess rather than exec.Cmd: we reap with wait4(-1), which
	// would race with exec.Cmd.Wait for the command's own status.
	proc, err := os.StartProcess(path, append([]string{name}, args...), &os.ProcAttr{
		Files: []*os.File{os.Stdin, os.Stdout, os.Stderr},
	})
	if err != nil {
		return 0, fmt.Errorf("start %s: %w", path, err)
	}

	go func() {
		for sig := range signals {
			// The child may already be gone; nothing to do then.
			_ = proc.Signal(sig)
		}
	}()

	return reapUntil(proc.Pid)
}

// reapUntil reaps every child (the command and all orphans) and returns when
// the command with the given pid has been reaped.
func reapUntil(pid int) (int, error) {
	for {
		var ws unix.WaitStatus
		got, err := unix.Wait4(-1, &ws, 0, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("wait4: %w", err)
		}
		if got != pid {
			continue // an orphan: reaped, nothing else to do
		}
		switch {
		case ws.Exited():
			return ws.ExitStatus(), nil
		case ws.Signaled():
			return 128 + int(ws.Signal()), nil
		}
	}
}
