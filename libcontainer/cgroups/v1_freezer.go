package cgroups

import (
	"fmt"
	"path/filepath"
	"time"
)

// freezeTimeout bounds Freeze and Thaw. A v1 freeze can stay in FREEZING
// while a task sleeps uninterruptibly (e.g. in a vfork or a D-state I/O).
const freezeTimeout = 5 * time.Second

func (m *hybridManager) freezerState() (string, error) {
	dir, ok := m.dirFor("freezer")
	if !ok {
		return "", fmt.Errorf("freezer: the freezer cgroup hierarchy is not mounted")
	}
	return filepath.Join(dir, "freezer.state"), nil
}

func (m *hybridManager) Freeze() error {
	if err := m.setFreezer("FROZEN"); err != nil {
		// Do not leave the container half frozen.
		if file, ferr := m.freezerState(); ferr == nil {
			_ = writeCgroupFile(file, "THAWED")
		}
		return err
	}
	return nil
}

func (m *hybridManager) Thaw() error { return m.setFreezer("THAWED") }

// setFreezer writes want and waits until freezer.state reports it. The
// write is repeated while waiting: tasks that were forked during the
// FREEZING phase are only caught by a new write.
func (m *hybridManager) setFreezer(want string) error {
	file, err := m.freezerState()
	if err != nil {
		return err
	}
	deadline := time.Now().Add(freezeTimeout)
	delay := 100 * time.Microsecond
	for {
		if err := writeCgroupFile(file, want); err != nil {
			return fmt.Errorf("freezer: %w", err)
		}
		got, err := readTrimmed(file)
		if err != nil {
			return fmt.Errorf("freezer: %w", err)
		}
		if got == want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("freezer: %s still %s after %v", file, got, freezeTimeout)
		}
		time.Sleep(delay)
		delay = min(2*delay, 10*time.Millisecond)
	}
}

func (m *hybridManager) Frozen() (bool, error) {
	file, err := m.freezerState()
	if err != nil {
		return false, err
	}
	state, err := readTrimmed(file)
	if err != nil {
		return false, fmt.Errorf("freezer: %w", err)
	}
	return state == "FROZEN", nil
}
