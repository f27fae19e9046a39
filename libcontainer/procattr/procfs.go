package procattr

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// openProcFile opens name (relative, e.g. "sys/kernel/hostname") below
// /proc for writing and checks that what it got really lives on a procfs.
// The container's image is not trusted: it may have planted a file or a
// symlink at /proc/... that a write must not go through. /proc itself
// must be a procfs, resolution stays below it (RESOLVE_BENEATH) and
// refuses magic links (plain symlinks are allowed: /proc/self is one),
// and the opened file must be on a procfs too.
func openProcFile(name string, flags int) (*os.File, error) {
	path := "/proc/" + name
	dir, err := unix.Open("/proc", unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: "/proc", Err: err}
	}
	defer unix.Close(dir)
	if err := checkProcfs(dir, "/proc"); err != nil {
		return nil, err
	}
	fd, err := unix.Openat2(dir, name, &unix.OpenHow{
		Flags:   uint64(flags | unix.O_CLOEXEC | unix.O_NOCTTY),
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS,
	})
	if errors.Is(err, unix.ENOSYS) {
		// Kernels before 5.6: plain openat; the statfs check remains.
		fd, err = unix.Openat(dir, name, flags|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	if err := checkProcfs(fd, path); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), path), nil
}

func checkProcfs(fd int, path string) error {
	var st unix.Statfs_t
	if err := unix.Fstatfs(fd, &st); err != nil {
		return &os.PathError{Op: "fstatfs", Path: path, Err: err}
	}
	if st.Type != unix.PROC_SUPER_MAGIC {
		return fmt.Errorf("%s is not on a procfs (file system type %#x): refusing to write through it", path, st.Type)
	}
	return nil
}

// writeProcFile writes value to /proc/<name> in one write(2), as procfs
// files expect.
func writeProcFile(name, value string) error {
	f, err := openProcFile(name, unix.O_WRONLY)
	if err != nil {
		return err
	}
	_, werr := f.Write([]byte(value))
	cerr := f.Close()
	if werr != nil {
		return werr
	}
	return cerr
}
