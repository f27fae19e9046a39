package cgroups

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"
)

// The v2 freezer: cgroup.freeze asks, the "frozen" key of cgroup.events
// tells when every task of the subtree has stopped. Unlike v1, new tasks
// forked meanwhile are caught by the kernel, so one write is enough.

func (m *unifiedManager) Freeze() error {
	if err := m.setFrozen(true); err != nil {
		// Do not leave the container half frozen.
		_ = writeCgroupFile(filepath.Join(m.dir, "cgroup.freeze"), "0")
		return err
	}
	return nil
}

func (m *unifiedManager) Thaw() error { return m.setFrozen(false) }

func (m *unifiedManager) setFrozen(frozen bool) error {
	want := "0"
	if frozen {
		want = "1"
	}
	if err := writeCgroupFile(filepath.Join(m.dir, "cgroup.freeze"), want); err != nil {
		return fmt.Errorf("freezer: %w", err)
	}
	deadline := time.Now().Add(freezeTimeout)
	delay := 100 * time.Microsecond
	for {
		got, err := m.eventsFrozen()
		if err != nil {
			return err
		}
		if got == frozen {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("freezer: %s not frozen=%s after %v", m.dir, want, freezeTimeout)
		}
		time.Sleep(delay)
		delay = min(2*delay, 10*time.Millisecond)
	}
}

// eventsFrozen reads "frozen" from cgroup.events.
func (m *unifiedManager) eventsFrozen() (bool, error) {
	file := filepath.Join(m.dir, "cgroup.events")
	data, err := readTrimmed(file)
	if err != nil {
		return false, fmt.Errorf("freezer: %w", err)
	}
	for _, line := range strings.Split(data, "\n") {
		if k, v, ok := strings.Cut(line, " "); ok && k == "frozen" {
			return v == "1", nil
		}
	}
	return false, fmt.Errorf("freezer: no frozen key in %s", file)
}

// Frozen reports the requested state (cgroup.freeze): a container asked
// to pause is "paused" for state even while its last task is stopping.
func (m *unifiedManager) Frozen() (bool, error) {
	v, err := readTrimmed(filepath.Join(m.dir, "cgroup.freeze"))
	if err != nil {
		return false, fmt.Errorf("freezer: %w", err)
	}
	return v == "1", nil
}
