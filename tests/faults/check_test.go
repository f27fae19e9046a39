package faults

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// statePath is the container's state.json.
func (c *ctr) statePath() string { return filepath.Join(c.Root, c.ID, "state.json") }

// cgroupDirs lists the container's cgroup directories that exist now.
func (c *ctr) cgroupDirs() []string {
	dirs, _ := filepath.Glob("/sys/fs/cgroup/*" + c.Cgroup)
	if _, err := os.Stat("/sys/fs/cgroup" + c.Cgroup); err == nil {
		dirs = append(dirs, "/sys/fs/cgroup"+c.Cgroup)
	}
	return dirs
}

// recordedPid is the init pid in state.json, 0 when unknown.
func (c *ctr) recordedPid() int {
	data, err := os.ReadFile(c.statePath())
	if err != nil {
		return 0
	}
	var st struct {
		Pid int `json:"pid"`
	}
	json.Unmarshal(data, &st)
	return st.Pid
}

// procStat returns the state letter and parent of pid ("" when gone).
func procStat(pid int) (state string, ppid int) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", 0
	}
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return "", 0
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 2 {
		return "", 0
	}
	ppid, _ = strconv.Atoi(f[1])
	return f[0], ppid
}

// allPids lists every process on the host.
func allPids() []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// reapOrphans reaps the zombies re-parented to us (we are a subreaper) and
// returns the live processes whose parent we are, but for those in keep.
// Only call it while no exec.Cmd of ours is running.
func reapOrphans(keep map[int]bool) []int {
	var live []int
	self := os.Getpid()
	for _, pid := range allPids() {
		st, ppid := procStat(pid)
		if ppid != self || keep[pid] {
			continue
		}
		if st == "Z" {
			var ws unix.WaitStatus
			unix.Wait4(pid, &ws, unix.WNOHANG, nil)
			continue
		}
		live = append(live, pid)
	}
	return live
}

// inCgroup lists the processes whose /proc/<pid>/cgroup names path.
func inCgroup(path string) []int {
	var out []int
	for _, pid := range allPids() {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			if strings.HasSuffix(line, ":"+path) || strings.Contains(line, ":"+path+"/") {
				out = append(out, pid)
				break
			}
		}
	}
	return out
}

// mountsUnder lists the mountinfo lines that name one of paths.
func mountsUnder(paths ...string) []string {
	data, _ := os.ReadFile("/proc/self/mountinfo")
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		for _, p := range paths {
			if p != "" && strings.Contains(line, " "+p) {
				out = append(out, line)
				break
			}
		}
	}
	return out
}

// keepPids are live children of the test that are not leaks (the
// bystander's init).
var keepPids = map[int]bool{}

// leftovers describes what is left of container c: processes (pids, its
// cgroup's members, live orphans of ours), mounts of its bundle or the
// shared rootfs, cgroup directories, its state directory. pids are
// processes known to belong to it (its init).
func (c *ctr) leftovers(pids ...int) []string {
	var out []string
	for _, pid := range pids {
		if st, _ := procStat(pid); pid > 0 && st != "" && st != "Z" {
			out = append(out, fmt.Sprintf("process %d (state %s)", pid, st))
		}
	}
	if l := reapOrphans(keepPids); len(l) > 0 {
		out = append(out, fmt.Sprintf("orphaned processes %v", describePids(l)))
	}
	if l := inCgroup(c.Cgroup); len(l) > 0 {
		out = append(out, fmt.Sprintf("processes in the cgroup %v", describePids(l)))
	}
	if l := mountsUnder(c.Dir, rootfs); len(l) > 0 {
		out = append(out, fmt.Sprintf("mounts %q", l))
	}
	if l := c.cgroupDirs(); len(l) > 0 {
		out = append(out, fmt.Sprintf("cgroup dirs %v", l))
	}
	if _, err := os.Lstat(filepath.Join(c.Root, c.ID)); err == nil {
		entries, _ := os.ReadDir(filepath.Join(c.Root, c.ID))
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		out = append(out, fmt.Sprintf("state dir %v", names))
	}
	return out
}

func describePids(pids []int) []string {
	var out []string
	for _, pid := range pids {
		cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		out = append(out, fmt.Sprintf("%d:%q", pid, strings.ReplaceAll(strings.TrimRight(string(cmd), "\x00"), "\x00", " ")))
	}
	return out
}

// assertGone fails the test if anything of c remains; processes get a
// moment to finish dying (a SIGKILLed process is reaped asynchronously).
func (c *ctr) assertGone(what string, pids ...int) {
	c.t.Helper()
	var left []string
	for deadline := time.Now().Add(3 * time.Second); ; {
		if left = c.leftovers(pids...); len(left) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(left) > 0 {
		c.t.Errorf("%s: left behind: %s", what, strings.Join(left, "; "))
	}
}

// forceDelete runs delete --force, which must succeed, and checks that
// nothing of the container is left.
func (c *ctr) forceDelete(what string, pids ...int) {
	c.t.Helper()
	r := runWithin(c.t, 20*time.Second, c.Root, "delete", "--force", c.ID)
	noPanic(c.t, r, what+": delete --force")
	if r.Code != 0 {
		c.t.Errorf("%s: delete --force: %s", what, r)
	}
	c.assertGone(what, pids...)
}

// bystander is a running container that the faults of a test must not
// disturb.
type bystander struct {
	c     *ctr
	pid   int
	state []byte
}

func startBystander(t *testing.T) *bystander {
	t.Helper()
	c := newCtr(t, "sleep", "1000")
	c.write()
	mustOK(t, c.nsrun("create", "-b", c.Dir, c.ID), "bystander create")
	mustOK(t, c.nsrun("start", c.ID), "bystander start")
	b := &bystander{c: c, pid: c.recordedPid()}
	keepPids[b.pid] = true
	t.Cleanup(func() {
		c.forceDelete("bystander")
		delete(keepPids, b.pid)
	})
	var err error
	if b.state, err = os.ReadFile(c.statePath()); err != nil {
		t.Fatal(err)
	}
	return b
}

// check fails the test unless the bystander still runs, untouched.
func (b *bystander) check(what string) {
	t := b.c.t
	t.Helper()
	r := b.c.nsrun("state", b.c.ID)
	var st struct {
		Status string `json:"status"`
		Pid    int    `json:"pid"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &st); err != nil || st.Status != "running" || st.Pid != b.pid {
		t.Fatalf("%s: bystander disturbed: %s", what, r)
	}
	if data, err := os.ReadFile(b.c.statePath()); err != nil || !bytes.Equal(data, b.state) {
		t.Fatalf("%s: bystander state.json changed (%v)", what, err)
	}
}
