package hooks

import (
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestMain makes the test a subreaper: tests kill hooks' background
// children, and on this kind of host PID 1 does not reap orphans, so the
// test reaps them itself instead of leaving zombies behind.
func TestMain(m *testing.M) {
	_ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
	code := m.Run()
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if err != nil { // ECHILD: nothing left
			break
		}
		if pid == 0 {
			time.Sleep(20 * time.Millisecond)
		}
	}
	os.Exit(code)
}
