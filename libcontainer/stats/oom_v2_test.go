package stats

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// readable polls fd for up to ms milliseconds.
func readable(t *testing.T, fd, ms int) bool {
	t.Helper()
	for {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, ms)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		return n > 0 && fds[0].Revents&unix.POLLIN != 0
	}
}

func memoryEvents(high, oom, kill string) string {
	return "low 0\nhigh " + high + "\nmax 0\noom " + oom + "\noom_kill " + kill + "\noom_group_kill 0\n"
}

// The inotify mechanics on a plain file: this host's memory controller is
// on v1, so no cgroup2 memory.events exists to watch here (the kernel's
// own notification is exercised in the cgroup v2 VM lane). A write to a
// regular file raises the same IN_MODIFY the kernel raises on
// memory.events when a counter changes.
func TestWatchOOMV2Mechanics(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "memory.events")
	write := func(content string) {
		t.Helper()
		if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Kills before the watch are not news.
	write(memoryEvents("0", "2", "2"))
	w, err := WatchOOMV2(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()

	if fl, err := unix.FcntlInt(uintptr(w.Fd()), unix.F_GETFD, 0); err != nil || fl&unix.FD_CLOEXEC == 0 {
		t.Errorf("fd not close-on-exec (flags %#x, %v)", fl, err)
	}
	if fl, err := unix.FcntlInt(uintptr(w.Fd()), unix.F_GETFL, 0); err != nil || fl&unix.O_NONBLOCK == 0 {
		t.Errorf("fd not non-blocking (flags %#x, %v)", fl, err)
	}
	if readable(t, w.Fd(), 0) {
		t.Fatal("readable before any change")
	}
	if hit, err := w.Check(); err != nil || hit {
		t.Fatalf("Check before any change: %v, %v", hit, err)
	}

	// A kill: readable, reported once, drained.
	write(memoryEvents("0", "3", "3"))
	if !readable(t, w.Fd(), 2000) {
		t.Fatal("not readable after oom_kill rose")
	}
	if hit, err := w.Check(); err != nil || !hit {
		t.Fatalf("Check after a kill: %v, %v", hit, err)
	}
	if readable(t, w.Fd(), 0) {
		t.Fatal("still readable after Check")
	}
	if hit, err := w.Check(); err != nil || hit {
		t.Fatalf("second Check: %v, %v", hit, err)
	}

	// Another counter moving wakes the poller but is no OOM kill.
	write(memoryEvents("9", "4", "3"))
	if !readable(t, w.Fd(), 2000) {
		t.Fatal("not readable after high rose")
	}
	if hit, err := w.Check(); err != nil || hit {
		t.Fatalf("Check after high/oom without kill: %v, %v", hit, err)
	}

	// Several kills between two checks count as one.
	write(memoryEvents("9", "5", "4"))
	write(memoryEvents("9", "6", "7"))
	if !readable(t, w.Fd(), 2000) {
		t.Fatal("not readable after kills")
	}
	if hit, err := w.Check(); err != nil || !hit {
		t.Fatalf("Check after kills: %v, %v", hit, err)
	}

	// The cgroup going away is no OOM and no error.
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	if hit, err := w.Check(); err != nil || hit {
		t.Fatalf("Check after removal: %v, %v", hit, err)
	}
}

// The memory controller off (this host's cgroup2): a not-exist error.
func TestWatchOOMV2NoMemoryController(t *testing.T) {
	_, err := WatchOOMV2(t.TempDir())
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("got %v, want fs.ErrNotExist", err)
	}
}

// On a host whose cgroup2 has the memory controller (the v2 VM lane), the
// real memory.events can be watched and shows no kill of this test.
// TestWatchOOMV2Host causes a real OOM kill in a child cgroup of the
// cgroup2 hierarchy and checks that the watcher wakes up and reports it.
// It needs the memory controller on cgroup2: the pure-v2 VM lane runs it;
// on a hybrid host with memory on v1 it cannot.
func TestWatchOOMV2Host(t *testing.T) {
	dir := cgroup2Dir(t)
	if dir == "" {
		t.Skip("no cgroup2 mounted")
	}
	ctrls, err := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
	if err != nil || !strings.Contains(string(ctrls), "memory") {
		t.Skipf("no memory controller on cgroup2 here (%q): it is a v1 hierarchy", ctrls)
	}
	// A sibling cgroup of ours (ours holds processes: no-internal-process),
	// or a child when we are in the root (which has no memory.max).
	parent := filepath.Dir(dir)
	if _, err := os.Stat(filepath.Join(dir, "memory.max")); err != nil {
		parent = dir
	}
	sub, _ := os.ReadFile(filepath.Join(parent, "cgroup.subtree_control"))
	if !strings.Contains(string(sub), "memory") {
		if err := os.WriteFile(filepath.Join(parent, "cgroup.subtree_control"), []byte("+memory"), 0); err != nil {
			t.Skipf("cannot enable memory in %s: %v", parent, err)
		}
		defer os.WriteFile(filepath.Join(parent, "cgroup.subtree_control"), []byte("-memory"), 0)
	}
	cg := filepath.Join(parent, "nsrun-oom-test-"+strconv.Itoa(os.Getpid()))
	if err := os.Mkdir(cg, 0o755); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(cg)
	if err := os.WriteFile(filepath.Join(cg, "memory.max"), []byte("16777216"), 0); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(cg, "memory.swap.max"), []byte("0"), 0)
	w, err := WatchOOMV2(cg)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if hit, err := w.Check(); err != nil || hit {
		t.Fatalf("Check before any OOM: %v %v", hit, err)
	}
	fd, err := unix.Open(cg, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	// 64 MiB held in a shell variable: killed at 16 MiB.
	cmd := exec.Command("/bin/busybox", "sh", "-c", "x=$(yes | head -c 67108864); echo ${#x}")
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("the memory hog survived 16 MiB: %s", out)
	}
	if !readable(t, w.Fd(), 10000) {
		t.Fatal("no inotify event on memory.events after the OOM kill")
	}
	if hit, err := w.Check(); err != nil || !hit {
		t.Fatalf("Check after the OOM kill: %v %v", hit, err)
	}
}
