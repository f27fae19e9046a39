// Package selfexe hands the runtime a handle on its own binary that cannot
// be written through, to execute as `nsrun init` (the container's init and
// every exec'd process start as that helper). See docs/security.md,
// "Runtime binary (CVE-2019-5736 class)".
//
// Whatever the helper executes is what the container can reach: the
// helper's /proc/<pid>/exe once it is dumpable again, and the binary that a
// `#!/proc/self/exe` script in the container resolves to when the helper
// executes it. So the helper never runs from the host's binary itself, but
// from one of:
//
//   - a read-only view (default): a detached bind mount of the binary
//     (open_tree(OPEN_TREE_CLONE)), made read-only (mount_setattr), of
//     which we keep an O_PATH handle and then drop the mount's anonymous
//     namespace. Opening it for writing fails with EROFS, for every caller:
//     the mount belongs to no namespace any more, so nothing can clear its
//     read-only flag (mount_setattr) or clone it (open_tree, bind mount).
//     Costs a few system calls (~0.1-0.3 ms here).
//   - a sealed memfd copy (fallback, or NSRUN_BINARY_VIEW=memfd): the binary
//     copied into a memfd sealed against writes, growth, shrinking and more
//     seals. Costs a copy of the binary per helper (~10 MB, 3-6 ms here),
//     but the container never touches the host's inode at all.
//
// The host's binary itself is never executed by the helper: if neither
// works, starting the helper fails.
package selfexe

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Env selects the kind: unset, empty or "ro-mount" for the read-only view
// (a memfd copy where the kernel or the caller's privileges do not allow
// it), "memfd" for the copy always.
const Env = "NSRUN_BINARY_VIEW"

// Kind says what a handle is.
type Kind string

const (
	ReadOnlyMount Kind = "ro-mount"
	SealedMemfd   Kind = "memfd"
)

// self is the binary of the running process.
const self = "/proc/self/exe"

// Open returns a close-on-exec handle on this process's binary that can be
// executed (through /proc/self/fd/N once it sits at fd N) but not written
// through, and its kind. The caller closes it.
func Open() (*os.File, Kind, error) {
	switch mode := os.Getenv(Env); mode {
	case "", string(ReadOnlyMount):
		f, err := readOnlyView()
		if err == nil {
			return f, ReadOnlyMount, nil
		}
		// Kernels before 5.12, a caller without CAP_SYS_ADMIN over its mount
		// namespace (rootless), a seccomp profile that denies the new mount
		// API: copy instead.
		c, cerr := sealedCopy()
		if cerr != nil {
			return nil, "", fmt.Errorf("protected copy of the nsrun binary: read-only view: %v; memfd copy: %w", err, cerr)
		}
		return c, SealedMemfd, nil
	case string(SealedMemfd):
		c, err := sealedCopy()
		if err != nil {
			return nil, "", fmt.Errorf("protected copy of the nsrun binary: memfd copy: %w", err)
		}
		return c, SealedMemfd, nil
	default:
		return nil, "", fmt.Errorf("%s=%q: want %q or %q", Env, mode, ReadOnlyMount, SealedMemfd)
	}
}

// readOnlyView returns an O_PATH handle on the binary in a read-only,
// detached and already dissolved bind mount.
func readOnlyView() (*os.File, error) {
	tree, err := unix.OpenTree(unix.AT_FDCWD, self, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("open_tree %s: %w", self, err)
	}
	treeOpen := true
	defer func() {
		if treeOpen {
			unix.Close(tree)
		}
	}()
	attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV}
	if err := unix.MountSetattr(tree, "", unix.AT_EMPTY_PATH, attr); err != nil {
		return nil, fmt.Errorf("mount_setattr read-only: %w", err)
	}
	// A second handle on the same file, without the first one's duty to
	// unmount: closing the first dissolves the mount's anonymous namespace
	// now, before any child exists, and the mount (kept alive by the
	// handle, then by the helper's executable) is in no namespace any more.
	// mount_setattr and open_tree/bind mounts of it fail with EINVAL, so
	// its read-only flag is final.
	fd, err := unix.OpenTree(tree, "", unix.AT_EMPTY_PATH|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("open_tree of the detached mount: %w", err)
	}
	treeOpen = false
	unix.Close(tree)
	// Belt and braces: the kernel must see the handle as read-only.
	if err := unix.Faccessat2(fd, "", unix.W_OK, unix.AT_EMPTY_PATH|unix.AT_EACCESS); !errors.Is(err, unix.EROFS) {
		unix.Close(fd)
		return nil, fmt.Errorf("read-only view of the binary is writable (access: %v)", err)
	}
	return os.NewFile(uintptr(fd), "nsrun (read-only view)"), nil
}

// sealedCopy copies the binary into a memfd sealed against any change.
func sealedCopy() (*os.File, error) {
	src, err := os.Open(self)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	st, err := src.Stat()
	if err != nil {
		return nil, err
	}
	// MFD_EXEC (6.3+): executable whatever vm.memfd_noexec says.
	fd, err := unix.MemfdCreate("nsrun", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING|unix.MFD_EXEC)
	if errors.Is(err, unix.EINVAL) {
		fd, err = unix.MemfdCreate("nsrun", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	}
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	mem := os.NewFile(uintptr(fd), "nsrun (sealed copy)")
	fail := func(err error) (*os.File, error) {
		mem.Close()
		return nil, err
	}
	for left := st.Size(); left > 0; {
		n, err := unix.Sendfile(fd, int(src.Fd()), nil, int(min(left, 1<<30)))
		if err == unix.EINTR || err == unix.EAGAIN {
			continue
		}
		if err != nil {
			return fail(fmt.Errorf("copy into the memfd: %w", err))
		}
		if n == 0 {
			return fail(fmt.Errorf("copy into the memfd: %s shrank while being copied", self))
		}
		left -= int64(n)
	}
	seals := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	// F_SEAL_EXEC (6.3+) also freezes the mode bits.
	_, err = unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals|unix.F_SEAL_EXEC)
	if errors.Is(err, unix.EINVAL) {
		_, err = unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals)
	}
	if err != nil {
		return fail(fmt.Errorf("seal the memfd: %w", err))
	}
	return mem, nil
}
