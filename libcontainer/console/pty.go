// Package console allocates the container's pseudo-terminal, hands its
// master to the caller (--console-socket) and, for a foreground `run -t` /
// `exec -t`, proxies it to nsrun's own terminal.
package console

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// withFd runs fn with f's descriptor without f.Fd()'s side effect of
// switching a pollable file to blocking mode.
func withFd(f *os.File, fn func(fd int) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

// NewPty opens a new pseudo-terminal pair through /dev/ptmx, unlocks it
// and returns the master and the slave's path (/dev/pts/N). The init calls
// it after pivot_root, so /dev/ptmx (a symlink to pts/ptmx there) belongs
// to the container's own devpts instance and N is valid inside it.
//
// The master is close-on-exec and in blocking mode: the O_NONBLOCK flag
// would be shared with whoever receives it over the console socket.
func NewPty() (master *os.File, slavePath string, err error) {
	fd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, "", &os.PathError{Op: "open", Path: "/dev/ptmx", Err: err}
	}
	// unlockpt(3)
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		unix.Close(fd)
		return nil, "", fmt.Errorf("unlock pty (TIOCSPTLCK): %w", err)
	}
	// ptsname(3); it also proves that what we opened is a pty master.
	n, err := unix.IoctlGetUint32(fd, unix.TIOCGPTN)
	if err != nil {
		unix.Close(fd)
		return nil, "", fmt.Errorf("get pty number (TIOCGPTN): %w", err)
	}
	return os.NewFile(uintptr(fd), "/dev/ptmx"), fmt.Sprintf("/dev/pts/%d", n), nil
}

// SetSize applies process.consoleSize to the pty (either side).
func SetSize(f *os.File, height, width uint) error {
	if height > 0xffff || width > 0xffff {
		return fmt.Errorf("process.consoleSize: %dx%d is too large", height, width)
	}
	ws := &unix.Winsize{Row: uint16(height), Col: uint16(width)}
	return withFd(f, func(fd int) error {
		if err := unix.IoctlSetWinsize(fd, unix.TIOCSWINSZ, ws); err != nil {
			return fmt.Errorf("process.consoleSize: set window size %dx%d: %w", height, width, err)
		}
		return nil
	})
}

// ClearONLCR turns off the pty's "\n" -> "\r\n" output translation (the
// pty's termios is shared by both sides). Useful when the output does not
// go to a terminal.
func ClearONLCR(f *os.File) error {
	return withFd(f, func(fd int) error {
		t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
		if err != nil {
			return fmt.Errorf("get termios: %w", err)
		}
		t.Oflag &^= unix.ONLCR
		if err := unix.IoctlSetTermios(fd, unix.TCSETS, t); err != nil {
			return fmt.Errorf("set termios: %w", err)
		}
		return nil
	})
}

// MountConsole bind-mounts the pty slave onto /dev/console, creating an
// empty file there first if nothing exists. A symlink at /dev/console is
// refused rather than followed or removed: the rootfs comes from an image,
// and a mount must not land where a link points.
func MountConsole(slavePath string) error {
	return mountConsoleAt(slavePath, "/dev/console")
}

func mountConsoleAt(slavePath, target string) error {
	st, err := os.Lstat(target)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// O_EXCL|O_NOFOLLOW: fail rather than follow anything that
		// appeared in between.
		fd, err := unix.Open(target, unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_RDONLY|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return fmt.Errorf("create %s: %w", target, err)
		}
		unix.Close(fd)
	case err != nil:
		return fmt.Errorf("mount console: %w", err)
	case st.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("mount console: %s is a symlink: refusing to mount over it", target)
	case st.IsDir():
		return fmt.Errorf("mount console: %s is a directory", target)
	}
	if err := unix.Mount(slavePath, target, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind-mount %s on %s: %w", slavePath, target, err)
	}
	return nil
}

// SetupSlaveStdio makes the slave the controlling terminal of a new
// session and fds 0, 1 and 2 of the calling process. The slave must be a
// devpts file: a path planted by the image is refused.
func SetupSlaveStdio(slavePath string) error {
	if _, err := unix.Setsid(); err != nil {
		return fmt.Errorf("setsid: %w", err)
	}
	fd, err := unix.Open(slavePath, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: slavePath, Err: err}
	}
	defer func() {
		if fd > 2 {
			unix.Close(fd)
		}
	}()
	var sfs unix.Statfs_t
	if err := unix.Fstatfs(fd, &sfs); err != nil {
		return &os.PathError{Op: "fstatfs", Path: slavePath, Err: err}
	}
	if sfs.Type != unix.DEVPTS_SUPER_MAGIC {
		return fmt.Errorf("%s is not on a devpts file system", slavePath)
	}
	if err := unix.IoctlSetInt(fd, unix.TIOCSCTTY, 0); err != nil {
		return fmt.Errorf("make %s the controlling terminal (TIOCSCTTY): %w", slavePath, err)
	}
	for i := 0; i <= 2; i++ {
		if fd == i {
			continue
		}
		if err := unix.Dup3(fd, i, 0); err != nil {
			return fmt.Errorf("dup %s onto fd %d: %w", slavePath, i, err)
		}
	}
	return nil
}

// ChownStdio gives fds 0-2 to the container user when they are terminals
// or pipes, so that the user can reopen them (/dev/stdout,
// /proc/self/fd/N), as runc does. Regular files and /dev/null are left
// alone: changing the owner of a file or device shared with the host
// would be a surprise. EPERM and EINVAL are ignored: a pipe from outside a
// user namespace cannot be given away, and that is fine.
func ChownStdio(uid, gid int) error {
	for i := 0; i <= 2; i++ {
		var st unix.Stat_t
		if err := unix.Fstat(i, &st); err != nil {
			if errors.Is(err, unix.EBADF) {
				continue
			}
			return fmt.Errorf("fstat fd %d: %w", i, err)
		}
		isTTY := false
		if _, err := unix.IoctlGetTermios(i, unix.TCGETS); err == nil {
			isTTY = true
		}
		if !isTTY && st.Mode&unix.S_IFMT != unix.S_IFIFO {
			continue
		}
		if int(st.Uid) == uid && int(st.Gid) == gid {
			continue
		}
		if err := unix.Fchown(i, uid, gid); err != nil && !errors.Is(err, unix.EPERM) && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("chown fd %d to %d:%d: %w", i, uid, gid, err)
		}
	}
	return nil
}
