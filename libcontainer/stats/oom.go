package stats

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// OOMWatcher reports OOM events of a cgroup v1 memory cgroup. It has two
// sources, because either alone misses cases: the eventfd registered on
// memory.oom_control through cgroup.event_control wakes a poller the
// moment the cgroup goes under OOM (also when the OOM killer is disabled
// and nothing is killed), but the kernel signals it too when the cgroup is
// removed; the oom_kill counter of memory.oom_control tells real kills
// apart from that, and counts kills whatever the timing.
type OOMWatcher struct {
	dir      string
	efd      int
	lastKill uint64
}

// WatchOOM registers an OOM notification on the memory cgroup dir.
func WatchOOM(dir string) (*OOMWatcher, error) {
	control, err := os.Open(filepath.Join(dir, "memory.oom_control"))
	if err != nil {
		return nil, fmt.Errorf("oom notification: %w", err)
	}
	// The registration holds its own reference to the file: ours can go.
	defer control.Close()
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("oom notification: eventfd: %w", err)
	}
	w := &OOMWatcher{dir: dir, efd: efd}
	reg := fmt.Sprintf("%d %d", efd, control.Fd())
	ctl := filepath.Join(dir, "cgroup.event_control")
	if err := os.WriteFile(ctl, []byte(reg), 0); err != nil {
		unix.Close(efd)
		return nil, fmt.Errorf("oom notification: register on %s: %w", ctl, err)
	}
	if w.lastKill, err = w.killCount(); err != nil {
		unix.Close(efd)
		return nil, err
	}
	return w, nil
}

// Fd is the eventfd to poll for readability.
func (w *OOMWatcher) Fd() int { return w.efd }

// Close drops the registration (the kernel removes it with the eventfd).
func (w *OOMWatcher) Close() error { return unix.Close(w.efd) }

// Check drains the eventfd and reports whether an OOM happened since the
// last Check: a notification for a cgroup that still exists, or a rise of
// the oom_kill counter. Several OOMs between two checks count as one.
func (w *OOMWatcher) Check() (bool, error) {
	notified := false
	var buf [8]byte
	if n, err := unix.Read(w.efd, buf[:]); err == nil && n == 8 && binary.NativeEndian.Uint64(buf[:]) > 0 {
		notified = true
	} else if err != nil && err != unix.EAGAIN {
		return false, fmt.Errorf("oom notification: read eventfd: %w", err)
	}
	kills, err := w.killCount()
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			// The cgroup went away: that is what the notification said.
			return false, nil
		}
		return false, err
	}
	rose := kills > w.lastKill
	w.lastKill = kills
	return notified || rose, nil
}

// killCount reads oom_kill of memory.oom_control (kernels >= 4.13).
func (w *OOMWatcher) killCount() (uint64, error) {
	kv, err := readKeyValues(w.dir, "memory.oom_control")
	if err != nil {
		return 0, fmt.Errorf("oom notification: %w", err)
	}
	return kv["oom_kill"], nil
}
