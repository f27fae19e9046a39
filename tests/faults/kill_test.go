package faults

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nsrun/nsrun/tests/tools/testenv"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// blocker is a hook that records its pid in a marker file and then blocks
// reading a line from a fifo, until release writes it.
type blocker struct {
	name     string // the hook's phase
	hook     specs.Hook
	marker   string
	fifo     *os.File // held open: the line stays in the pipe until read
	released bool
}

func newBlocker(t *testing.T, dir, name string) *blocker {
	t.Helper()
	fifo := filepath.Join(dir, name+".fifo")
	marker := filepath.Join(dir, name+".pid")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(fifo, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := &blocker{name: name, marker: marker, fifo: f}
	b.hook = specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c",
		fmt.Sprintf("echo $$ > %[1]s.tmp && mv %[1]s.tmp %[1]s; read x <> %[2]s", marker, fifo)}}
	t.Cleanup(func() { b.release(); f.Close() })
	return b
}

// pid is the hook process's pid, as it wrote it.
func (b *blocker) pid(t *testing.T) int { return pidIn(t, b.marker) }

// blocked reports whether the hook runs and waits.
func (b *blocker) blocked() bool { _, err := os.Stat(b.marker); return err == nil }

// release lets the hook go, whether it reads already or not yet.
func (b *blocker) release() {
	if !b.released {
		b.released = true
		b.fifo.Write([]byte("go\n"))
	}
}

// killPoint is a moment of create at which a process is SIGKILLed.
type killPoint struct {
	name string
	// setup adjusts the container (hooks, namespaces) before create.
	setup func(c *ctr)
	// when reports that create reached the point; p is the create process.
	when func(c *ctr, p *proc) bool
	// racy: the point may pass before it is seen.
	racy bool
}

func exists(path string) bool { _, err := os.Lstat(path); return err == nil }

// childOf returns a child of pid (any thread's), 0 when it has none.
func childOf(pid int) int {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, task := range tasks {
		data, _ := os.ReadFile(task)
		if f := strings.Fields(string(data)); len(f) > 0 {
			n, _ := strconv.Atoi(f[0])
			return n
		}
	}
	return 0
}

// createUntil starts create and calls victim with the create process as
// soon as when holds, then waits for create. hit is false when create
// finished before the point was reached.
func (c *ctr) createUntil(when func(p *proc) bool, victim func(p *proc)) (hit bool, r result) {
	c.t.Helper()
	p, err := startNsrun(c.Root, "create", "-b", c.Dir, c.ID)
	if err != nil {
		c.t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); {
		if st, _ := procStat(p.cmd.Process.Pid); st == "Z" || st == "" {
			break
		}
		if when(p) {
			victim(p)
			hit = true
			break
		}
	}
	return hit, p.wait()
}

func killRuntime(p *proc) { p.cmd.Process.Signal(syscall.SIGKILL) }

// checkHalfCreated runs state and list on a container whose create was
// killed: each must answer (a state or a clear error), not crash.
func (c *ctr) checkHalfCreated(what string) {
	c.t.Helper()
	r := c.nsrun("state", c.ID)
	noPanic(c.t, r, what+": state")
	if r.Code == 0 {
		var st map[string]any
		if err := json.Unmarshal([]byte(r.Stdout), &st); err != nil {
			c.t.Errorf("%s: state printed no JSON: %s", what, r)
		}
	} else if strings.TrimSpace(r.Stderr) == "" {
		c.t.Errorf("%s: state failed without a message: %s", what, r)
	}
	r = c.nsrun("list")
	noPanic(c.t, r, what+": list")
	if r.Code != 0 {
		c.t.Errorf("%s: list: %s", what, r)
	}
}

// TestKillCreateAtDelays SIGKILLs create after 0, 3, 6, ... ms; a killed
// create must leave nothing that delete --force cannot remove, and
// another container must not notice.
func TestKillCreateAtDelays(t *testing.T) {
	by := startBystander(t)
	for _, hostMounts := range []bool{false, true} {
		for d := 0 * time.Millisecond; d <= 90*time.Millisecond; d += 3 * time.Millisecond {
			what := fmt.Sprintf("killed after %v (hostMounts %v)", d, hostMounts)
			c := newCtr(t, "sleep", "1000")
			if hostMounts {
				withOwnRootfs(c)
				testenv.WithoutNamespace(c.Spec, specs.MountNamespace)
			}
			c.write()
			start := time.Now()
			c.createUntil(func(*proc) bool { return time.Since(start) >= d }, killRuntime)
			pid := c.recordedPid()
			c.checkHalfCreated(what)
			c.forceDelete(what, pid)
			by.check(what)
		}
	}
}

// withOwnRootfs gives c a copy of the rootfs inside its bundle (a
// container without a mount namespace mounts on it in ours).
func withOwnRootfs(c *ctr) {
	dst := filepath.Join(c.Dir, "rootfs")
	if out, err := exec.Command("cp", "-a", rootfs, dst).CombinedOutput(); err != nil {
		c.t.Fatalf("cp rootfs: %v %s", err, out)
	}
	c.Spec.Root.Path = "rootfs"
}

// killPoints are the moments of create found by watching what it makes.
func killPoints(t *testing.T, hook **blocker) []killPoint {
	stateHas := func(c *ctr, s string) bool {
		data, _ := os.ReadFile(c.statePath())
		return strings.Contains(string(data), s)
	}
	return []killPoint{
		{name: "state dir made", when: func(c *ctr, _ *proc) bool { return exists(filepath.Join(c.Root, c.ID)) }},
		{name: "lock file made", when: func(c *ctr, _ *proc) bool { return exists(filepath.Join(c.Root, c.ID, "lock")) }},
		{name: "cgroup dir made", when: func(c *ctr, _ *proc) bool { return len(c.cgroupDirs()) > 0 }},
		{name: "state.json written", when: func(c *ctr, _ *proc) bool { return exists(c.statePath()) }},
		{name: "exec fifo made", when: func(c *ctr, _ *proc) bool { return exists(filepath.Join(c.Root, c.ID, "exec.fifo")) }},
		{name: "init spawned (waits for its config)", when: func(c *ctr, p *proc) bool { return childOf(p.cmd.Process.Pid) != 0 }},
		{name: "init pid recorded", when: func(c *ctr, _ *proc) bool { return c.recordedPid() != 0 }},
		{name: "createRuntime hook blocks",
			setup: func(c *ctr) {
				*hook = newBlocker(t, c.Dir, "createRuntime")
				c.Spec.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{(*hook).hook}}
			},
			when: func(c *ctr, _ *proc) bool { return (*hook).blocked() }},
		{name: "createContainer hook blocks (in the init)",
			setup: func(c *ctr) {
				*hook = newBlocker(t, c.Dir, "createContainer")
				c.Spec.Hooks = &specs.Hooks{CreateContainer: []specs.Hook{(*hook).hook}}
			},
			when: func(c *ctr, _ *proc) bool { return (*hook).blocked() }},
		{name: "status created recorded", racy: true, when: func(c *ctr, _ *proc) bool { return stateHas(c, `"status":"created"`) }},
	}
}

// TestKillCreateAtPoints SIGKILLs create at each point of killPoints.
func TestKillCreateAtPoints(t *testing.T) {
	by := startBystander(t)
	var hook *blocker
	for _, kp := range killPoints(t, &hook) {
		for _, hostMounts := range []bool{false, true} {
			what := fmt.Sprintf("runtime killed at %q (hostMounts %v)", kp.name, hostMounts)
			c := newCtr(t, "sleep", "1000")
			hook = nil
			if hostMounts {
				withOwnRootfs(c)
				testenv.WithoutNamespace(c.Spec, specs.MountNamespace)
			}
			if kp.setup != nil {
				kp.setup(c)
			}
			c.write()
			hit, r := c.createUntil(func(p *proc) bool { return kp.when(c, p) }, killRuntime)
			for try := 0; !hit && kp.racy && try < 20; try++ {
				// Between the last write and the exit: a narrow window.
				c.forceDelete(what)
				hit, r = c.createUntil(func(p *proc) bool { return kp.when(c, p) }, killRuntime)
			}
			if !hit && !kp.racy {
				t.Errorf("%s: create ended before the point: %s", what, r)
			}
			pids := []int{c.recordedPid()}
			if hook != nil && hook.blocked() && hook.name != "createContainer" {
				// The hook, still blocked, is never released: a runtime
				// hook must die with the runtime (parent-death signal).
				// A createContainer hook (its pid is the container's)
				// dies with the init delete kills: the cgroup check.
				pids = append(pids, hook.pid(t))
			}
			c.checkHalfCreated(what)
			c.forceDelete(what, pids...)
			by.check(what)
		}
	}
}

// TestInitDiesDuringSetup SIGKILLs the container's init at each point
// where it exists: create must fail with a clear error and undo itself.
func TestInitDiesDuringSetup(t *testing.T) {
	by := startBystander(t)
	var hook *blocker
	points := []killPoint{
		{name: "init spawned", when: func(c *ctr, p *proc) bool { return childOf(p.cmd.Process.Pid) != 0 }},
		{name: "init pid recorded", when: func(c *ctr, _ *proc) bool { return c.recordedPid() != 0 }},
		{name: "createRuntime hook blocks",
			setup: func(c *ctr) {
				hook = newBlocker(t, c.Dir, "createRuntime")
				c.Spec.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{hook.hook}}
			},
			when: func(c *ctr, _ *proc) bool { return hook.blocked() }},
		{name: "createContainer hook blocks",
			setup: func(c *ctr) {
				hook = newBlocker(t, c.Dir, "createContainer")
				c.Spec.Hooks = &specs.Hooks{CreateContainer: []specs.Hook{hook.hook}}
			},
			when: func(c *ctr, _ *proc) bool { return hook.blocked() }},
	}
	for _, kp := range points {
		what := fmt.Sprintf("init killed at %q", kp.name)
		c := newCtr(t, "sleep", "1000")
		hook = nil
		if kp.setup != nil {
			kp.setup(c)
		}
		c.write()
		var victim int
		hit, r := c.createUntil(func(p *proc) bool { return kp.when(c, p) }, func(p *proc) {
			if victim = c.recordedPid(); victim == 0 {
				victim = childOf(p.cmd.Process.Pid)
			}
			unix.Kill(victim, unix.SIGKILL)
			if hook != nil {
				// A createRuntime hook is the runtime's: it must end for
				// create to notice.
				hook.release()
			}
		})
		if !hit {
			t.Errorf("%s: create ended before the point: %s", what, r)
			continue
		}
		clearError(t, r, what+": create")
		t.Logf("%s: %s", what, strings.TrimSpace(r.Stderr))
		c.assertGone(what, victim)
		clearError(t, c.nsrun("state", c.ID), what+": state", "does not exist")
		c.forceDelete(what, victim)
		by.check(what)
	}
}
