package faults

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func shHook(script string, timeout int) specs.Hook {
	h := specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", script}}
	if timeout > 0 {
		h.Timeout = &timeout
	}
	return h
}

// hanging is a hook that starts a background sleeper (recording its pid in
// pidFile), then sleeps itself.
func hanging(pidFile string, timeout int) specs.Hook {
	return shHook(fmt.Sprintf("sleep 1000 & echo $! > %s; sleep 1000", pidFile), timeout)
}

// pidIn reads the pid a hook wrote.
func pidIn(t *testing.T, file string) int {
	data, err := os.ReadFile(file)
	if err != nil {
		t.Errorf("hook did not run: %v", err)
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	return pid
}

// TestFailingCreateHooks: a hook of create that hangs past its timeout,
// crashes, fails or closes its stdin at once. A failure fails create
// cleanly, in bounded time; a hook that only closes stdin is fine.
func TestFailingCreateHooks(t *testing.T) {
	by := startBystander(t)
	cases := []struct {
		name  string
		set   func(h *specs.Hooks, dir string)
		wants []string // nil: create succeeds
		pid   string   // file where a hook leaves a pid that must die
	}{
		{"createRuntime hangs", func(h *specs.Hooks, dir string) {
			h.CreateRuntime = []specs.Hook{hanging(filepath.Join(dir, "bg.pid"), 1)}
		}, []string{"createRuntime", "timed out"}, "bg.pid"},
		{"prestart hangs", func(h *specs.Hooks, dir string) {
			h.Prestart = []specs.Hook{hanging(filepath.Join(dir, "bg.pid"), 1)}
		}, []string{"prestart", "timed out"}, "bg.pid"},
		{"createContainer hangs (in the init)", func(h *specs.Hooks, dir string) {
			// Its pids are the container's: the cgroup check finds them.
			h.CreateContainer = []specs.Hook{hanging(filepath.Join(dir, "bg.pid"), 1)}
		}, []string{"createContainer", "timed out"}, ""},
		{"createRuntime SIGSEGV", func(h *specs.Hooks, dir string) {
			h.CreateRuntime = []specs.Hook{shHook("kill -SEGV $$", 0)}
		}, []string{"createRuntime", "segmentation fault"}, ""},
		{"createContainer SIGSEGV", func(h *specs.Hooks, dir string) {
			h.CreateContainer = []specs.Hook{shHook("kill -SEGV $$", 0)}
		}, []string{"createContainer", "segmentation fault"}, ""},
		{"createRuntime exit 1", func(h *specs.Hooks, dir string) {
			h.CreateRuntime = []specs.Hook{shHook("echo hook says no >&2; exit 1", 0)}
		}, []string{"createRuntime", "exit status 1", "hook says no"}, ""},
		{"hook missing", func(h *specs.Hooks, dir string) {
			h.CreateRuntime = []specs.Hook{{Path: filepath.Join(dir, "no-such-hook")}}
		}, []string{"createRuntime", "no-such-hook"}, ""},
		{"hooks close stdin at once", func(h *specs.Hooks, dir string) {
			h.Prestart = []specs.Hook{shHook("exec 0<&-; exit 0", 0)}
			h.CreateRuntime = []specs.Hook{shHook("exec 0<&-; sleep 0.1", 0)}
			h.CreateContainer = []specs.Hook{shHook("exec 0<&-; exit 0", 0)}
		}, nil, ""},
	}
	for _, tc := range cases {
		c := newCtr(t, "sleep", "1000")
		c.Spec.Hooks = &specs.Hooks{}
		tc.set(c.Spec.Hooks, c.Dir)
		c.write()
		r := runWithin(t, 20*time.Second, c.Root, "create", "-b", c.Dir, c.ID)
		if r.Took > 10*time.Second {
			t.Errorf("%s: create took %v", tc.name, r.Took)
		}
		var pids []int
		if tc.pid != "" {
			pids = append(pids, pidIn(t, filepath.Join(c.Dir, tc.pid)))
		}
		if tc.wants == nil {
			mustOK(t, r, tc.name)
			mustOK(t, c.nsrun("start", c.ID), tc.name+": start")
			pids = append(pids, c.recordedPid())
			c.forceDelete(tc.name, pids...)
		} else {
			clearError(t, r, tc.name, tc.wants...)
			c.assertGone(tc.name, pids...)
		}
		by.check(tc.name)
	}
}

// TestFailingLaterHooks: startContainer failing fails start; poststart and
// poststop hooks that hang or crash only warn, in bounded time.
func TestFailingLaterHooks(t *testing.T) {
	cases := []struct {
		name      string
		hooks     specs.Hooks
		startFail []string // start must fail with these; nil: it succeeds
		warn      string   // what start or delete warns of
	}{
		// The init runs startContainer after start released it; when one
		// fails it exits instead of running the program and writes why
		// into the exec fifo start still reads (runc's start exits 0
		// there). The container must be stopped, the program never run.
		{"startContainer exit 1", specs.Hooks{StartContainer: []specs.Hook{shHook("echo not today >&2; exit 1", 0)}},
			[]string{"startContainer hook #0", "exit status 1", "not today"}, ""},
		{"startContainer hangs", specs.Hooks{StartContainer: []specs.Hook{shHook("sleep 1000", 1)}},
			[]string{"startContainer", "timed out"}, ""},
		{"poststart hangs", specs.Hooks{Poststart: []specs.Hook{shHook("sleep 1000", 1)}}, nil, "timed out"},
		{"poststart SIGSEGV", specs.Hooks{Poststart: []specs.Hook{shHook("kill -SEGV $$", 0)}}, nil, "segmentation fault"},
		{"poststop hangs", specs.Hooks{Poststop: []specs.Hook{shHook("sleep 1000", 1)}}, nil, "timed out"},
		{"poststop SIGSEGV", specs.Hooks{Poststop: []specs.Hook{shHook("kill -SEGV $$", 0), shHook("exit 3", 0)}}, nil, "exit status 3"},
	}
	for _, tc := range cases {
		c := newCtr(t, "sleep", "1000")
		c.Spec.Hooks = &tc.hooks
		c.write()
		mustOK(t, c.nsrun("create", "-b", c.Dir, c.ID), tc.name+": create")
		pid := c.recordedPid()
		r := runWithin(t, 20*time.Second, c.Root, "start", c.ID)
		stderr := r.Stderr
		if tc.startFail != nil {
			clearError(t, r, tc.name+": start", tc.startFail...)
		} else {
			mustOK(t, r, tc.name+": start")
		}
		if tc.hooks.StartContainer != nil {
			deadline := time.Now().Add(5 * time.Second)
			for !strings.Contains(c.nsrun("state", c.ID).Stdout, `"stopped"`) {
				if time.Now().After(deadline) {
					t.Fatalf("%s: the container runs: %s", tc.name, c.nsrun("state", c.ID).Stdout)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
		r = runWithin(t, 20*time.Second, c.Root, "delete", "--force", c.ID)
		mustOK(t, r, tc.name+": delete --force")
		if tc.warn != "" && !strings.Contains(stderr+r.Stderr, tc.warn) {
			t.Errorf("%s: no warning %q: start: %s; delete: %s", tc.name, tc.warn, stderr, r.Stderr)
		}
		c.assertGone(tc.name, pid)
	}
}

// TestLateFailureWithFullStderr: the program cannot be executed (a script
// whose interpreter is missing: execve fails only at start) and the
// container's stderr, which the init inherited from create, is a pipe that
// is full and never read. start must still fail, in bounded time, with the
// reason; the init used to write to its stderr first and block there, and
// start waited for it forever.
func TestLateFailureWithFullStderr(t *testing.T) {
	scripts := t.TempDir()
	os.Chmod(scripts, 0o755)
	if err := os.WriteFile(filepath.Join(scripts, "bad"), []byte("#!/no/such/interpreter\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	c := newCtr(t, "/scripts/bad")
	c.Spec.Mounts = append(c.Spec.Mounts, specs.Mount{Destination: "/scripts", Type: "bind", Source: scripts, Options: []string{"bind", "ro"}})
	c.write()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	create := exec.Command(nsrunBin, "--root", c.Root, "create", "-b", c.Dir, c.ID)
	create.Stderr = w
	if err := create.Run(); err != nil {
		w.Close()
		t.Fatalf("create: %v", err)
	}
	pid := c.recordedPid()
	// Fill the pipe: the init holds its write end as stderr.
	fd := int(w.Fd()) // (each Fd() call makes the fd blocking again)
	unix.SetNonblock(fd, true)
	filler := make([]byte, 4096)
	for {
		if _, err := unix.Write(fd, filler); err != nil {
			break
		}
	}
	// Blocking again (the flag is the pipe's, shared with the init): a
	// write there now waits for a reader, not fails with EAGAIN.
	unix.SetNonblock(fd, false)
	w.Close()
	res := runWithin(t, 20*time.Second, c.Root, "start", c.ID)
	clearError(t, res, "start of a program that cannot be executed, stderr full", "failed to start", "no such file or directory")
	c.forceDelete("late failure with a full stderr", pid)
}
