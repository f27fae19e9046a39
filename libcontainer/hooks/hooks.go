// Package hooks runs OCI lifecycle hooks: each hook gets the container's
// state JSON on stdin, exactly its own argv and environment, and its
// timeout.
package hooks

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// outputTail bounds how much of a hook's stderr (and stdout) goes into an
// error message: the end is where the reason usually is.
const outputTail = 4096

// Run runs hooks in order and stops at the first failure, which it returns
// as "error running <name> hook #<i> (<path>): exit status N: <stderr>".
// name is the lifecycle phase ("prestart", "createRuntime", ...).
//
// Each hook gets the state JSON on stdin, its Args as argv (Args[0] is
// argv[0], as in execve; the path when Args is empty), exactly its Env
// (nothing of nsrun's own environment), and is killed with SIGKILL, with
// its process group, once Timeout seconds have passed.
//
// stdin, stdout and stderr are anonymous memory files (memfd), not pipes:
//   - a hook that exits (or closes stdin) without reading cannot cause
//     EPIPE or SIGPIPE, whatever the size of the state;
//   - a hook that leaves a daemon behind holding its stdout/stderr does not
//     keep nsrun waiting for EOF, and the caller's own stdout/stderr (which
//     containerd waits on) are never handed to a hook;
//   - the output is kept for the error message, as runc does; a successful
//     hook's output is discarded.
func Run(name string, hooks []specs.Hook, state *specs.State) error {
	if len(hooks) == 0 {
		return nil
	}
	stateJSON, err := json.Marshal(state)
	if err != nil {
		return fmt.Errorf("%s hooks: encode state: %w", name, err)
	}
	for i, h := range hooks {
		if err := runOne(name, i, h, stateJSON); err != nil {
			return err
		}
	}
	return nil
}

// RunAll runs every hook even when some fail and returns all failures
// joined. It is for poststart and poststop, whose failures the spec turns
// into warnings: the caller logs the result and carries on.
func RunAll(name string, hooks []specs.Hook, state *specs.State) error {
	if len(hooks) == 0 {
		return nil
	}
	stateJSON, err := json.Marshal(state)
	if err != nil {
		return fmt.Errorf("%s hooks: encode state: %w", name, err)
	}
	var errs []error
	for i, h := range hooks {
		if err := runOne(name, i, h, stateJSON); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// TimeoutError is returned (wrapped) when a hook ran past its timeout.
type TimeoutError struct {
	Path    string
	Timeout time.Duration
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("hook %s timed out after %s", e.Path, e.Timeout)
}

func runOne(phase string, index int, h specs.Hook, stateJSON []byte) (retErr error) {
	defer func() {
		if retErr != nil {
			var te *TimeoutError
			if errors.As(retErr, &te) {
				// The path is already in the timeout text.
				retErr = fmt.Errorf("error running %s hook #%d: %w", phase, index, retErr)
			} else {
				retErr = fmt.Errorf("error running %s hook #%d (%s): %w", phase, index, h.Path, retErr)
			}
		}
	}()
	if !filepath.IsAbs(h.Path) {
		return fmt.Errorf("hooks.%s[%d].path must be absolute", phase, index)
	}
	var timeout time.Duration
	if h.Timeout != nil {
		if *h.Timeout <= 0 {
			return fmt.Errorf("hooks.%s[%d].timeout must be positive, got %d", phase, index, *h.Timeout)
		}
		timeout = time.Duration(*h.Timeout) * time.Second
	}

	stdin, err := memFile("nsrun-hook-stdin")
	if err != nil {
		return err
	}
	defer stdin.Close()
	if _, err := stdin.Write(stateJSON); err != nil {
		return fmt.Errorf("write state to memfd: %w", err)
	}
	if _, err := stdin.Seek(0, 0); err != nil {
		return fmt.Errorf("rewind state memfd: %w", err)
	}
	stdout, err := memFile("nsrun-hook-stdout")
	if err != nil {
		return err
	}
	defer stdout.Close()
	stderr, err := memFile("nsrun-hook-stderr")
	if err != nil {
		return err
	}
	defer stderr.Close()

	env := h.Env
	if env == nil {
		env = []string{} // nil would make os/exec pass nsrun's environment
	}
	cmd := &exec.Cmd{
		Path:   h.Path,
		Args:   h.Args, // empty: os/exec uses {Path}
		Env:    env,
		Stdin:  stdin,
		Stdout: stdout,
		Stderr: stderr,
		// Its own process group, so that a timeout also kills what a hook
		// script started and is waiting for. Pdeathsig: a hook must not
		// outlive an nsrun that was killed while waiting for it.
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL},
	}
	// The parent-death signal follows the forking thread, not the process:
	// keep this goroutine on that thread until the hook is reaped, so no
	// thread exit can fire it early.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	var expired <-chan time.Time
	if timeout > 0 {
		timer := time.NewTimer(timeout)
		defer timer.Stop()
		expired = timer.C
	}
	select {
	case err := <-done:
		if err != nil {
			return withOutput(err, stdout, stderr)
		}
		return nil
	case <-expired:
		// The group id is the hook's pid (Setpgid with Pgid 0).
		_ = unix.Kill(-cmd.Process.Pid, unix.SIGKILL)
		<-done
		return withOutput(&TimeoutError{Path: h.Path, Timeout: timeout}, stdout, stderr)
	}
}

// memFile returns an anonymous, close-on-exec memory file. os/exec dups
// it onto the hook's fd 0/1/2 without the flag.
func memFile(name string) (*os.File, error) {
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("memfd_create(%s): %w", name, err)
	}
	return os.NewFile(uintptr(fd), name), nil
}

// withOutput adds the tail of the hook's stderr, and of its stdout, to err.
func withOutput(err error, stdout, stderr *os.File) error {
	msg := ""
	if e := tail(stderr); e != "" {
		msg = ": " + e
	}
	if o := tail(stdout); o != "" {
		msg += " (stdout: " + o + ")"
	}
	if msg == "" {
		return err
	}
	return fmt.Errorf("%w%s", err, msg)
}

// tail reads the last outputTail bytes of f, trimmed.
func tail(f *os.File) string {
	st, err := f.Stat()
	if err != nil || st.Size() == 0 {
		return ""
	}
	off := st.Size() - outputTail
	prefix := ""
	if off < 0 {
		off = 0
	} else if off > 0 {
		prefix = "..."
	}
	buf := make([]byte, st.Size()-off)
	n, _ := f.ReadAt(buf, off)
	s := strings.TrimSpace(strings.ToValidUTF8(string(buf[:n]), "?"))
	if s == "" {
		return ""
	}
	return prefix + s
}
