package container

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/moby/sys/mountinfo"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/nsrun/nsrun/libcontainer/cgroups"
	"github.com/nsrun/nsrun/libcontainer/state"
)

// Container is an existing container, locked for one operation.
type Container struct {
	dir *state.Container
	St  *state.State
}

// Open locks and loads container id.
func Open(root state.Root, id string) (*Container, error) {
	dir, err := root.Open(id)
	if err != nil {
		return nil, err
	}
	st, err := dir.Load()
	if err != nil {
		dir.Unlock()
		return nil, err
	}
	return &Container{dir: dir, St: st}, nil
}

// Close releases the lock.
func (c *Container) Close() { c.dir.Unlock() }

// Status derives the OCI status from the record and the init process.
func (c *Container) Status() specs.ContainerState {
	st := c.St
	if !alive(st.Pid, st.InitStartTime) {
		return specs.StateStopped
	}
	switch st.Status {
	case state.StatusCreating:
		return specs.StateCreating
	case state.StatusCreated:
		if _, err := os.Lstat(c.dir.Path(state.FifoName)); err == nil {
			return specs.StateCreated
		}
	}
	if frozen, err := c.cgroups().Frozen(); err == nil && frozen {
		return statePaused
	}
	return specs.StateRunning
}

// OCIState is the state JSON of `nsrun state`.
func (c *Container) OCIState() *OCIStateJSON {
	status := c.Status()
	pid := c.St.Pid
	if status == specs.StateStopped {
		pid = 0
	}
	return &OCIStateJSON{
		State:   *ociState(c.St, status),
		Pid:     pid,
		Rootfs:  c.St.Rootfs,
		Created: c.St.Created.Format(time.RFC3339Nano),
		Owner:   c.St.Owner,
	}
}

// OCIStateJSON is runtime-spec's State plus the fields runc prints and
// CRI-O parses.
type OCIStateJSON struct {
	specs.State
	Pid     int    `json:"pid"`
	Rootfs  string `json:"rootfs"`
	Created string `json:"created"`
	Owner   string `json:"owner"`
}

func (c *Container) cgroups() cgroups.Manager { return cgroups.Load(c.St.Cgroups) }

// Start releases the user program of a created container.
func (c *Container) Start() error {
	switch s := c.Status(); s {
	case specs.StateCreated:
	case specs.StateStopped:
		return fmt.Errorf("cannot start a container that has stopped")
	default:
		return fmt.Errorf("cannot start a container in the %s state", s)
	}
	fifoPath := c.dir.Path(state.FifoName)
	if err := releaseInit(fifoPath, c.St.Pid, c.St.InitStartTime); err != nil {
		return err
	}
	// No state.json write: once the fifo is gone, Status derives "running"
	// from the live init; recording it too would only cost a write.
	os.Remove(fifoPath)
	if h, err := c.St.Hooks(); err != nil {
		logrus.Warnf("poststart hook: %v", err)
	} else if err := runHooks("poststart", h, ociState(c.St, specs.StateRunning)); err != nil {
		logrus.Warnf("poststart hook: %v", err)
	}
	return nil
}

// releaseInit opens the read side of the exec fifo, which unblocks the
// init's open of the write side. The init writes one byte once through,
// and its write end closes when it executes the user program (or dies):
// end-of-file tells that the program runs, as poststart hooks require. A
// failure between the release and execve (a startContainer hook, execve
// itself) arrives as text after that byte and is returned. A dead init
// never writes: poll, and check it.
func releaseInit(fifoPath string, pid int, start uint64) error {
	fd, err := unix.Open(fifoPath, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open exec fifo: %w", err)
	}
	defer unix.Close(fd)
	var got []byte // the '0' byte, then any failure text
	done := func() error {
		switch {
		case len(got) == 0:
			return errors.New("container init exited before the user program started")
		case len(got) > 1:
			return fmt.Errorf("container process failed to start: %s", got[1:])
		}
		return nil
	}
	buf := make([]byte, 4096)
	for {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, 100)
		if err != nil && err != unix.EINTR {
			return fmt.Errorf("wait for init: %w", err)
		}
		if n > 0 && fds[0].Revents&(unix.POLLIN|unix.POLLHUP) != 0 {
			n, err := unix.Read(fd, buf)
			if n > 0 {
				if len(got) < 8192 {
					got = append(got, buf[:n]...)
				}
				continue
			}
			if n == 0 && err == nil {
				return done() // end-of-file: every writer is gone
			}
		}
		if !alive(pid, start) {
			// Anything it wrote is still in the pipe.
			for n, _ := unix.Read(fd, buf); n > 0; n, _ = unix.Read(fd, buf) {
				got = append(got, buf[:n]...)
			}
			return done()
		}
	}
}

// Signal sends sig to the init, or with all to every process of the
// container's cgroup.
func (c *Container) Signal(sig syscall.Signal, all bool) error {
	switch c.Status() {
	case specs.StateStopped:
		return errors.New("container not running")
	case specs.StateCreating:
		return errors.New("container is being created")
	}
	if all {
		pids, err := c.cgroups().Pids()
		if err != nil {
			return fmt.Errorf("list container processes: %w", err)
		}
		for _, pid := range pids {
			if err := unix.Kill(pid, sig); err != nil && err != unix.ESRCH {
				return fmt.Errorf("signal %d: %w", pid, err)
			}
		}
	} else if err := unix.Kill(c.St.Pid, sig); err != nil {
		if err == unix.ESRCH {
			return errors.New("container not running: no such process")
		}
		return fmt.Errorf("signal init: %w", err)
	}
	// A frozen process dies of SIGKILL only once thawed; other signals
	// wait for resume, as on any stopped process.
	if sig == unix.SIGKILL && c.Status() == statePaused {
		return c.cgroups().Thaw()
	}
	return nil
}

// Delete destroys the container. A created container is killed first (as
// runc does; containerd relies on it), a running one only with force.
func (c *Container) Delete(force bool) error {
	status := c.Status()
	switch status {
	case specs.StateStopped, specs.StateCreated, specs.StateCreating:
	default:
		if !force {
			return fmt.Errorf("cannot delete container %s that is not stopped: %s", c.St.ID, status)
		}
	}
	if err := c.killAll(); err != nil {
		return err
	}
	return c.destroy()
}

// killAll SIGKILLs the init and everything else in the container's
// cgroups (see cgroups.KillAll) and waits until the init is gone.
func (c *Container) killAll() error {
	if alive(c.St.Pid, c.St.InitStartTime) {
		unix.Kill(c.St.Pid, unix.SIGKILL)
	}
	if err := c.cgroups().KillAll(); err != nil {
		return err
	}
	deadline := time.Now().Add(10 * time.Second)
	for alive(c.St.Pid, c.St.InitStartTime) {
		if time.Now().After(deadline) {
			return fmt.Errorf("container init %d did not die after SIGKILL", c.St.Pid)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return nil
}

// destroy removes the cgroups and the state, and runs the poststop hooks.
func (c *Container) destroy() error {
	if c.St.HostMounts {
		if err := unmountRootfs(c.St.Rootfs, c.St.RootfsBaseMount); err != nil {
			return err
		}
	}
	if err := c.cgroups().Destroy(); err != nil {
		return fmt.Errorf("remove cgroups: %w", err)
	}
	if h, err := c.St.Hooks(); err != nil {
		logrus.Warnf("poststop hook: %v", err)
	} else if err := runHooks("poststop", h, ociState(c.St, specs.StateStopped)); err != nil {
		logrus.Warnf("poststop hook: %v", err)
	}
	return c.dir.Remove()
}

// ForceDeleteIncomplete is delete --force of a container whose state.json
// is missing (its create was killed) or damaged: what the lock file
// records (see state.Container.Save) is killed and removed, then the
// directory. Without a record there is nothing known to kill: only the
// directory goes, with a warning when state.json was there but damaged.
func ForceDeleteIncomplete(root state.Root, id string) error {
	dir, err := root.Open(id)
	if err != nil {
		return err
	}
	st, err := dir.Load()
	if err != nil {
		st, err = dir.Recover()
	}
	if err != nil {
		if !errors.Is(err, state.ErrIncomplete) {
			logrus.Warnf("delete --force: %v: removing only the state directory", err)
		} else if _, serr := os.Lstat(dir.Path("state.json")); serr == nil {
			logrus.Warnf("delete --force: container %s: no record of its processes and cgroups: removing only the state directory", id)
		}
		return dir.Remove()
	}
	c := &Container{dir: dir, St: st}
	if err := c.Delete(true); err != nil {
		dir.Unlock()
		return err
	}
	return nil
}

// unmountRootfs detaches what a container without a mount namespace of its
// own mounted on its rootfs: every mount stacked on the rootfs path above
// the one that was there before create (base, 0 for none). A rootfs that
// is itself a mount of the caller's (containerd's overlay) stays.
func unmountRootfs(rootfs string, base int) error {
	if p, err := filepath.EvalSymlinks(rootfs); err == nil {
		rootfs = p // mountinfo speaks of real paths
	}
	for i := 0; i < 16; i++ {
		top, err := topMountID(rootfs)
		if err != nil {
			return err
		}
		if top == 0 || top == base {
			return nil
		}
		if err := unix.Unmount(rootfs, unix.MNT_DETACH|unix.UMOUNT_NOFOLLOW); err != nil {
			return fmt.Errorf("unmount rootfs %s: %w", rootfs, err)
		}
	}
	return fmt.Errorf("unmount rootfs %s: still mounted", rootfs)
}

// topMountID returns the ID of the topmost mount at path, 0 when path is
// not a mount point.
func topMountID(path string) (int, error) {
	if p, err := filepath.EvalSymlinks(path); err == nil {
		path = p
	}
	mounts, err := mountinfo.GetMounts(mountinfo.SingleEntryFilter(path))
	if err != nil {
		return 0, fmt.Errorf("read mountinfo: %w", err)
	}
	top := 0
	for _, m := range mounts {
		// Mounts stacked on one path appear in mount order.
		top = m.ID
	}
	return top, nil
}
