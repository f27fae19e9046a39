package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// runtime is one OCI runtime under test, with its own state directory.
type runtime struct {
	name    string
	path    string
	root    string // private --root
	scratch string // pid files and command output
	bundle  string

	// samples per scenario
	run    []sample
	cycle  []sample
	failed error // set once a command failed; the runtime is dropped
}

// sample is one container's measurements.
type sample struct {
	elapsed   time.Duration // wall time for the container, see the scenarios
	peakRSSKB int64         // wait4 ru_maxrss of run, or of create
	parkedKB  int64         // VmRSS of the created, not yet started process
}

// command runs `runtime --root R args...` and returns its rusage. Output
// goes to a file, not a pipe: the container inherits create's stdio, and a
// pipe would make us wait for the container as well as for the runtime.
func (r *runtime) command(args ...string) (*syscall.Rusage, error) {
	out, err := os.CreateTemp(r.scratch, "output-")
	if err != nil {
		return nil, fmt.Errorf("output file: %w", err)
	}
	defer os.Remove(out.Name())
	defer out.Close()
	cmd := exec.Command(r.path, append([]string{"--root", r.root}, args...)...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		msg, _ := os.ReadFile(out.Name())
		return nil, fmt.Errorf("%s %s: %w: %s", r.name, strings.Join(args, " "), err, strings.TrimSpace(string(msg)))
	}
	ru, _ := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	return ru, nil
}

// measureRun times `run ID`: the runtime creates, starts, waits for and
// deletes the container of /bin/true.
func (r *runtime) measureRun(id string) (sample, error) {
	start := time.Now()
	ru, err := r.command("run", "-b", r.bundle, id)
	elapsed := time.Since(start)
	if err != nil {
		return sample{}, err
	}
	return sample{elapsed: elapsed, peakRSSKB: maxRSS(ru)}, nil
}

// measureCycle times `create --pid-file F ID`, `start ID`, the wait for the
// container's exit and `delete ID`. Reading the parked process's VmRSS
// between create and start is not timed.
func (r *runtime) measureCycle(id string) (sample, error) {
	pidFile := filepath.Join(r.scratch, id+".pid")
	defer os.Remove(pidFile)

	t0 := time.Now()
	ru, err := r.command("create", "-b", r.bundle, "--pid-file", pidFile, id)
	created := time.Since(t0)
	if err != nil {
		return sample{}, err
	}
	pid, err := readPid(pidFile)
	if err != nil {
		_, _ = r.command("delete", "--force", id)
		return sample{}, err
	}
	parked := vmRSSKB(pid)

	t1 := time.Now()
	if _, err := r.command("start", id); err != nil {
		_, _ = r.command("delete", "--force", id)
		return sample{}, err
	}
	if err := waitExit(pid, 10*time.Second); err != nil {
		_, _ = r.command("delete", "--force", id)
		return sample{}, fmt.Errorf("%s: container %s: %w", r.name, id, err)
	}
	if _, err := r.command("delete", id); err != nil {
		return sample{}, err
	}
	return sample{elapsed: created + time.Since(t1), peakRSSKB: maxRSS(ru), parkedKB: parked}, nil
}

func maxRSS(ru *syscall.Rusage) int64 {
	if ru == nil {
		return 0
	}
	return ru.Maxrss // kilobytes on Linux
}

func readPid(path string) (int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("read pid file: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return 0, fmt.Errorf("pid file %s: %w", path, err)
	}
	return pid, nil
}

// vmRSSKB returns the VmRSS of a process in kB, or 0 if it cannot be read.
func vmRSSKB(pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb
		}
	}
	return 0
}

// waitExit waits until the container process is gone. We are a subreaper,
// so once `create` returned the container's init is normally our child and
// wait4 reaps it; if it is not (a runtime that keeps a monitor process), we
// poll until it has exited.
func waitExit(pid int, timeout time.Duration) error {
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(pid, &ws, 0, nil)
		if err == nil {
			return nil
		}
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if !errors.Is(err, unix.ECHILD) {
			return fmt.Errorf("wait4 %d: %w", pid, err)
		}
		break
	}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if processGone(pid) {
			return nil
		}
		time.Sleep(200 * time.Microsecond)
	}
	return fmt.Errorf("process %d still running after %s", pid, timeout)
}

// processGone reports whether pid no longer runs (absent or a zombie).
func processGone(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// The state follows the parenthesised command name.
	i := bytes.LastIndexByte(data, ')')
	return i < 0 || i+2 >= len(data) || data[i+2] == 'Z'
}

// reapOrphans collects zombies that were re-parented to us (we are a
// subreaper). Called only between commands, when no exec.Cmd is waiting.
func reapOrphans() {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}

// cleanup force-deletes whatever containers a failed measurement left.
func (r *runtime) cleanup() {
	entries, err := os.ReadDir(r.root)
	if err != nil {
		return
	}
	for _, e := range entries {
		if e.IsDir() {
			_, _ = r.command("delete", "--force", e.Name())
		}
	}
}
