package stats

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// OOMSource is what an events loop needs of an OOM watcher, whichever
// cgroup version it watches: an fd to poll for readability, and Check to
// run when it is readable (and once more before giving up on the
// container, to catch a kill that raced its exit).
type OOMSource interface {
	Fd() int
	Check() (bool, error)
	Close() error
}

var (
	_ OOMSource = (*OOMWatcher)(nil)
	_ OOMSource = (*OOMWatcherV2)(nil)
)

// OOMWatcherV2 reports OOM kills in a cgroup v2 memory cgroup. cgroup2
// has no OOM notification of its own: the kernel instead raises a
// file-modified event on memory.events whenever one of its counters
// changes, which inotify delivers. The event says only "something
// changed" (high and max breaches change it too, often), so Check reads
// the oom_kill counter to tell a kill apart. memory.events is
// hierarchical: a kill in a sub-cgroup of the container counts too.
//
// Only kills count, as in runc: the "oom" counter of memory.events also
// rises when the OOM killer is invoked and finds nothing to kill (a task
// already exiting frees the memory), and v2 has no knob to disable the
// killer, the other case v1's eventfd reports.
type OOMWatcherV2 struct {
	dir      string
	fd       int
	lastKill uint64
}

// WatchOOMV2 watches the memory.events file of the cgroup2 directory dir.
// It fails with fs.ErrNotExist in the chain when the memory controller is
// not enabled there (as on a hybrid host, where memory is on v1).
func WatchOOMV2(dir string) (*OOMWatcherV2, error) {
	w := &OOMWatcherV2{dir: dir, fd: -1}
	// The baseline is read before the watch is added, not after: a kill
	// in between then raises the counter past the baseline, and the next
	// Check reports it; read after, it would be absorbed into the
	// baseline while its inotify event made the fd readable for a Check
	// that finds nothing new.
	var err error
	if w.lastKill, err = w.killCount(); err != nil {
		return nil, err
	}
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("oom notification: inotify_init1: %w", err)
	}
	file := w.eventsPath()
	if _, err := unix.InotifyAddWatch(fd, file, unix.IN_MODIFY); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("oom notification: watch %s: %w", file, err)
	}
	w.fd = fd
	return w, nil
}

// Fd is the inotify fd to poll for readability.
func (w *OOMWatcherV2) Fd() int { return w.fd }

// Close drops the watch with the inotify instance.
func (w *OOMWatcherV2) Close() error { return unix.Close(w.fd) }

// Check drains the pending inotify events and reports whether oom_kill
// rose since the last Check (or since WatchOOMV2). Several kills between
// two checks count as one. A cgroup that is gone reports false: it can
// have no new kill, and its removal is not an OOM.
func (w *OOMWatcherV2) Check() (bool, error) {
	if err := w.drain(); err != nil {
		return false, err
	}
	kills, err := w.killCount()
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ENODEV) {
			// ENODEV: the open file of a removed cgroup.
			return false, nil
		}
		return false, err
	}
	rose := kills > w.lastKill
	w.lastKill = kills
	return rose, nil
}

// drain reads events until none is left, so that the fd stops polling
// readable. Their content is not needed: the counter is the truth.
func (w *OOMWatcherV2) drain() error {
	// Room for many events at once: a watch on a file gets nameless
	// events of unix.SizeofInotifyEvent bytes.
	var buf [64 * unix.SizeofInotifyEvent]byte
	for {
		_, err := unix.Read(w.fd, buf[:])
		switch err {
		case nil, unix.EINTR:
			continue
		case unix.EAGAIN:
			return nil
		default:
			return fmt.Errorf("oom notification: read inotify: %w", err)
		}
	}
}

func (w *OOMWatcherV2) eventsPath() string { return filepath.Join(w.dir, "memory.events") }

// killCount reads oom_kill of memory.events.
func (w *OOMWatcherV2) killCount() (uint64, error) {
	kv, err := readFlatKeyed(w.dir, "memory.events")
	if err != nil {
		return 0, fmt.Errorf("oom notification: %w", err)
	}
	return kv["oom_kill"], nil
}
