package cgroups

import (
	"os"
	"os/exec"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestIntegrationKillAllCatchesForks: a shell that forks without pause,
// in a cgroup but no PID namespace (nothing dies with it). KillAll must
// leave the cgroups empty, so that Destroy succeeds; one listing and one
// kill per pid would miss the children born in between. Odd rounds take
// the path of a host without cgroup.kill (freeze, kill, thaw, repeat).
func TestIntegrationKillAllCatchesForks(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	l, err := DetectLayout()
	if err != nil {
		t.Fatal(err)
	}
	removeTestParentAtEnd(t, l)
	// The loop's children outlive the shell: reap them here, not leave
	// them to a PID 1 that does not reap.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
		for {
			if pid, err := unix.Wait4(-1, nil, unix.WNOHANG, nil); pid <= 0 || err != nil {
				return
			}
		}
	})
	for round := range 6 {
		mgr, err := New(testParent+"/kill", "x")
		if err != nil {
			t.Fatal(err)
		}
		if err := mgr.Create(nil); err != nil {
			t.Fatal(err)
		}
		// Forks into the cgroup it was moved to: sleeps in the background,
		// and subshells that double-fork so that some are orphans.
		cmd := exec.Command("sh", "-c", "read x; while :; do sleep 30 & (sleep 30 &) ; done")
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if err := mgr.Apply(cmd.Process.Pid); err != nil {
			cmd.Process.Kill()
			t.Fatal(err)
		}
		stdin.Close() // the loop starts inside the cgroup
		time.Sleep(time.Duration(50+round*50) * time.Millisecond)
		if pids, _ := mgr.Pids(); len(pids) < 3 {
			t.Fatalf("round %d: the fork loop has not started: pids %v", round, pids)
		}
		kill := mgr.KillAll
		if round%2 == 1 {
			kill = func() error { return killAll(mgr, "") }
		}
		if err := kill(); err != nil {
			t.Fatalf("round %d: KillAll: %v", round, err)
		}
		cmd.Wait()
		if pids, err := mgr.Pids(); err != nil || len(pids) > 0 {
			t.Fatalf("round %d: after KillAll: pids %v, %v", round, pids, err)
		}
		if err := mgr.Destroy(); err != nil {
			t.Fatalf("round %d: Destroy after KillAll: %v", round, err)
		}
	}
}
