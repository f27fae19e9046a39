package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// killWait bounds KillAll: SIGKILL cannot be caught, but a task in an
// uninterruptible sleep leaves its cgroup only when the sleep ends.
const killWait = 10 * time.Second

// killAll is KillAll of both drivers. unifiedDir is the container's cgroup2
// directory, "" when it has none.
//
// A listing of cgroup.procs followed by one kill(2) per pid races with
// fork: a child born after the listing survives, keeps the cgroup busy and
// delete leaves it behind (this is what a container without a PID namespace
// of its own, whose init's death takes nothing with it, runs into with a
// busy shell loop). So, first, cgroup.kill (Linux 5.14) of the cgroup2
// directory kills the whole subtree at once, forks in flight included; then,
// and for hosts or hierarchies without it, the remaining pids are killed
// with the freezer holding them still, and the listing is repeated until it
// is empty: a process has not left its cgroups before it is reaped or
// becomes a zombie, and Destroy's rmdir needs them gone.
func killAll(m Manager, unifiedDir string) error {
	deadline := time.Now().Add(killWait)
	if unifiedDir != "" {
		err := writeCgroupFile(filepath.Join(unifiedDir, "cgroup.kill"), "1")
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("kill %s: %w", unifiedDir, err)
		}
	}
	delay := 100 * time.Microsecond
	for round := 0; ; round++ {
		pids, err := m.Pids()
		if err != nil {
			return fmt.Errorf("kill the container's processes: %w", err)
		}
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("kill the container's processes: pids %v still in its cgroups %v after SIGKILL", pids, killWait)
		}
		// The first rounds give cgroup.kill's victims time to leave; after
		// that, or without cgroup.kill, kill what is listed. A frozen task
		// dies of SIGKILL only once thawed (v1), hence thaw afterwards.
		if unifiedDir == "" || round >= 8 {
			frozen := m.Freeze() == nil
			for _, pid := range pids {
				_ = unix.Kill(pid, unix.SIGKILL)
			}
			if frozen {
				_ = m.Thaw()
			}
		}
		time.Sleep(delay)
		delay = min(2*delay, 10*time.Millisecond)
	}
}
