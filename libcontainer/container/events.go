package container

import (
	"errors"
	"fmt"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nsrun/nsrun/libcontainer/cgroups"
	"github.com/nsrun/nsrun/libcontainer/stats"
)

// Monitor reads a container's usage and follows it without holding its
// lock: `events` runs for as long as the container does, and must not
// block delete, pause or update meanwhile.
type Monitor struct {
	ID   string
	dirs stats.Dirs
	// v2dir is the container's cgroup on a pure cgroup v2 host ("" on v1).
	v2dir string
	pid   int
	start uint64
}

// Monitor snapshots what Stats and Stream need. The caller may Close the
// container afterwards.
func (c *Container) Monitor() (*Monitor, error) {
	switch c.Status() {
	case specs.StateStopped:
		return nil, errors.New("container not running")
	case specs.StateCreating:
		return nil, errors.New("container is being created")
	}
	mon := &Monitor{ID: c.St.ID, pid: c.St.Pid, start: c.St.InitStartTime}
	if r := c.St.Cgroups; r != nil && r.V2 {
		mon.v2dir = r.Paths[cgroups.UnifiedKey]
	} else {
		mon.dirs = stats.DirsFromPaths(c.cgroups().Paths())
	}
	return mon, nil
}

// Stats reads the container's current usage.
func (m *Monitor) Stats() (*stats.Stats, error) {
	if m.v2dir != "" {
		return stats.ReadV2(m.v2dir)
	}
	return stats.ReadV1(m.dirs)
}

// watchOOM returns the OOM event source of the container's memory cgroup
// (nil when there is none).
func (m *Monitor) watchOOM() (stats.OOMSource, error) {
	if m.v2dir != "" {
		return stats.WatchOOMV2(m.v2dir)
	}
	if dir, ok := m.dirs["memory"]; ok {
		return stats.WatchOOM(dir)
	}
	return nil, nil
}

// Stream emits a stats event at once and then every interval, and an oom
// event whenever the memory cgroup reports an OOM, until the container's
// init exits (then it returns nil) or emit fails.
func (m *Monitor) Stream(interval time.Duration, emit func(*stats.Event) error) error {
	if interval <= 0 {
		return fmt.Errorf("events: interval must be positive, got %v", interval)
	}
	// A pidfd turns readable when the init exits (zombie or reaped), so the
	// stream ends promptly whatever the interval. Opened first, then the
	// start time checked: the pidfd then surely refers to our init.
	pidfd, err := unix.PidfdOpen(m.pid, 0)
	if err != nil {
		if err == unix.ESRCH {
			return nil
		}
		return fmt.Errorf("events: pidfd_open %d: %w", m.pid, err)
	}
	defer unix.Close(pidfd)
	if !alive(m.pid, m.start) {
		return nil
	}
	oom, err := m.watchOOM()
	if err != nil {
		return fmt.Errorf("events: %w", err)
	}
	if oom != nil {
		defer oom.Close()
	}
	checkOOM := func() error {
		if oom == nil {
			return nil
		}
		hit, err := oom.Check()
		if err != nil || !hit {
			return err
		}
		return emit(&stats.Event{Type: stats.TypeOOM, ID: m.ID})
	}
	next := time.Now()
	for {
		if now := time.Now(); !now.Before(next) {
			s, err := m.Stats()
			if err != nil {
				if !alive(m.pid, m.start) {
					return checkOOM()
				}
				return fmt.Errorf("events: %w", err)
			}
			if err := emit(&stats.Event{Type: stats.TypeStats, ID: m.ID, Data: s}); err != nil {
				return err
			}
			next = now.Add(interval)
		}
		fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
		if oom != nil {
			fds = append(fds, unix.PollFd{Fd: int32(oom.Fd()), Events: unix.POLLIN})
		}
		timeout := max(int(time.Until(next).Milliseconds()), 0)
		n, err := unix.Poll(fds, timeout+1)
		if err != nil && err != unix.EINTR {
			return fmt.Errorf("events: poll: %w", err)
		}
		if n <= 0 {
			continue
		}
		if len(fds) > 1 && fds[1].Revents != 0 {
			if err := checkOOM(); err != nil {
				return err
			}
		}
		if fds[0].Revents != 0 {
			// The init is gone: an OOM kill of it is reported before the
			// stream ends.
			return checkOOM()
		}
	}
}
