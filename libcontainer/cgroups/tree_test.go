package cgroups

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// The raw-fd walks find processes in sub-cgroups and remove whole trees.
func TestCgroupTreeWalks(t *testing.T) {
	base := "/sys/fs/cgroup/pids"
	if _, err := os.Stat(filepath.Join(base, "cgroup.procs")); err != nil || os.Geteuid() != 0 {
		t.Skip("needs root and the v1 pids hierarchy at " + base)
	}
	dir := filepath.Join(base, "nsrun-tree-test-"+strconv.Itoa(os.Getpid()))
	sub := filepath.Join(dir, "a", "b")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeCgroupTree(dir, time.Now().Add(time.Second)) })

	cmd := exec.Command("sleep", "100")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	if err := writeCgroupFile(filepath.Join(sub, "cgroup.procs"), strconv.Itoa(cmd.Process.Pid)); err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	// A tiny buffer: cgroup.procs and the listings take several reads.
	if err := collectPids(dir, seen, make([]byte, 32)); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 1 || !seen[cmd.Process.Pid] {
		t.Errorf("collectPids = %v, want %d", seen, cmd.Process.Pid)
	}
	if !hasChildCgroups(dir) || hasChildCgroups(sub) {
		t.Error("hasChildCgroups is wrong")
	}
	if err := collectPids(filepath.Join(dir, "gone"), seen, make([]byte, 64)); err != nil {
		t.Errorf("collectPids of a missing cgroup: %v", err)
	}

	// A busy tree is refused (after the retries), an empty one removed.
	if err := removeCgroupTree(dir, time.Now().Add(20*time.Millisecond)); err == nil {
		t.Fatal("removeCgroupTree removed a cgroup with a process in it")
	}
	cmd.Process.Kill()
	cmd.Wait()
	if err := removeCgroupTree(dir, time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s still there: %v", dir, err)
	}
	if err := removeCgroupTree(dir, time.Now()); err != nil {
		t.Errorf("removing a missing tree: %v", err)
	}
}
