package rootfs

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	"golang.org/x/sys/unix"
)

// root is an open directory that paths of the container are resolved in.
// Every lookup goes through openat2(RESOLVE_IN_ROOT), so a symlink (or "..")
// planted in the image can never lead outside of it, and every mount is made
// onto the resolved file descriptor rather than onto a path that could be
// swapped after the check.
type root struct {
	f    *os.File // O_PATH|O_DIRECTORY
	host string   // the host path, for messages
}

func openRoot(dir string) (*root, error) {
	f, err := os.OpenFile(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open root %s: %w", dir, err)
	}
	return &root{f: f, host: dir}, nil
}

func (r *root) Close() error { return r.f.Close() }

func (r *root) fd() int { return int(r.f.Fd()) }

// cleanInRoot turns a container path into the form used for lookups and
// messages: absolute, cleaned.
func cleanInRoot(p string) string { return path.Clean("/" + p) }

// open resolves p inside the root with openat2 and opens it with flags
// (O_CLOEXEC is added). Trailing symlinks are followed (inside the root)
// unless O_NOFOLLOW is in flags; magic links (/proc/*/fd/*) are refused.
func (r *root) open(p string, flags int) (*os.File, error) {
	p = cleanInRoot(p)
	how := unix.OpenHow{
		Flags:   uint64(flags | unix.O_CLOEXEC),
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	}
	for {
		fd, err := unix.Openat2(r.fd(), p, &how)
		if err == unix.EINTR || err == unix.EAGAIN {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "openat2", Path: p, Err: err}
		}
		return os.NewFile(uintptr(fd), path.Join(r.host, p)), nil
	}
}

// openPath is open(p, O_PATH).
func (r *root) openPath(p string) (*os.File, error) { return r.open(p, unix.O_PATH) }

// mkdirAll creates the directory p (and its parents) inside the root and
// returns an O_PATH handle of it. Symlinks met on the way are resolved inside
// the root.
func (r *root) mkdirAll(p string, mode os.FileMode) (*os.File, error) {
	p = cleanInRoot(p)
	if f, err := r.open(p, unix.O_PATH|unix.O_DIRECTORY); err == nil {
		return f, nil
	} else if !errors.Is(err, unix.ENOENT) {
		return nil, err
	}
	resolved, err := r.resolveMissing(p)
	if err != nil {
		return nil, err
	}
	f, err := r.mkdirMissing(resolved, mode)
	if err != nil {
		return nil, fmt.Errorf("mkdir %s in %s: %w", p, r.host, err)
	}
	return f, nil
}

// mkdirMissing creates what is missing of the resolved path p: the longest
// existing prefix is looked up inside the root, then each missing component
// is made with mkdirat in its parent's handle and opened without following
// anything (no symlink, no other mount), so a component swapped for a
// symlink meanwhile is refused rather than followed.
//
// It does what pathrs-lite's MkdirAllHandle does, minus that library's
// private procfs instance (a new proc mount, ~0.3 ms in every init) used to
// reopen handles and to name them.
func (r *root) mkdirMissing(p string, mode os.FileMode) (*os.File, error) {
	if mode&^os.ModePerm != 0 {
		return nil, fmt.Errorf("mkdir %s: mode %v: only permission bits are allowed", p, mode)
	}
	dir, rest, err := r.openExistingPrefix(p)
	if err != nil {
		return nil, err
	}
	for _, part := range strings.Split(rest, "/") {
		switch part {
		case "", ".":
			continue
		case "..":
			dir.Close()
			return nil, fmt.Errorf("mkdir %s: %q has \"..\" components left after resolving", p, rest)
		}
		if err := unix.Mkdirat(int(dir.Fd()), part, uint32(mode)); err != nil && !errors.Is(err, unix.EEXIST) {
			dir.Close()
			return nil, &os.PathError{Op: "mkdirat", Path: path.Join(dir.Name(), part), Err: err}
		}
		next, err := OpenAt2(dir, part, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW,
			unix.RESOLVE_BENEATH|unix.RESOLVE_NO_SYMLINKS|unix.RESOLVE_NO_MAGICLINKS|unix.RESOLVE_NO_XDEV)
		dir.Close()
		if err != nil {
			return nil, err
		}
		dir = next
	}
	return dir, nil
}

// openExistingPrefix opens (O_PATH, inside the root) the longest prefix of
// p that exists, and returns the rest of p.
func (r *root) openExistingPrefix(p string) (*os.File, string, error) {
	p = cleanInRoot(p)
	for end := len(p); ; {
		prefix := p[:end]
		if prefix == "" {
			prefix = "/"
		}
		f, err := r.open(prefix, unix.O_PATH|unix.O_DIRECTORY)
		if err == nil {
			return f, strings.TrimPrefix(p[end:], "/"), nil
		}
		if (!errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ENOTDIR)) || prefix == "/" {
			return nil, "", err
		}
		end = strings.LastIndexByte(prefix, '/')
	}
}

// OpenAt2 opens name below dir with openat2(2) and the resolve flags,
// retrying EINTR and EAGAIN (a scoped lookup that crossed ".." fails with
// EAGAIN when a mount or rename happened anywhere meanwhile, as other
// containers starting cause). O_CLOEXEC is added.
func OpenAt2(dir *os.File, name string, flags int, resolve uint64) (*os.File, error) {
	how := unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC), Resolve: resolve}
	for {
		fd, err := unix.Openat2(int(dir.Fd()), name, &how)
		if err == unix.EINTR || err == unix.EAGAIN {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "openat2", Path: path.Join(dir.Name(), name), Err: err}
		}
		return os.NewFile(uintptr(fd), path.Join(dir.Name(), name)), nil
	}
}

// ensureFile makes sure p exists inside the root, creating an empty regular
// file (and the parent directories) when nothing is there, and returns an
// O_PATH handle. It is the mount point of a bind mount whose source is not a
// directory.
func (r *root) ensureFile(p string) (*os.File, error) {
	p = cleanInRoot(p)
	if f, err := r.openPath(p); err == nil {
		return f, nil
	} else if !errors.Is(err, unix.ENOENT) {
		return nil, err
	}
	resolved, err := r.resolveMissing(p)
	if err != nil {
		return nil, err
	}
	dir, err := r.mkdirAll(path.Dir(resolved), 0o755)
	if err != nil {
		return nil, err
	}
	defer dir.Close()
	base := path.Base(resolved)
	// O_NOFOLLOW|O_EXCL: a dangling symlink at the last component is not
	// followed out of the root; the kernel refuses instead.
	fd, err := unix.Openat(int(dir.Fd()), base, unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
	if err != nil && !errors.Is(err, unix.EEXIST) {
		return nil, fmt.Errorf("create %s: %w", p, err)
	}
	if err == nil {
		unix.Close(fd)
	}
	return r.openPath(resolved)
}

// resolveMissing names where a path that does not fully exist yet lands
// inside the root: symlinks of the existing part, dangling ones included
// (an image's /etc/resolv.conf -> ../run/..., /var/run -> /run), are
// followed as if the root were "/". The result is then created with
// no-follow operations on resolved handles, so a swap after this lookup
// still cannot lead outside the root.
func (r *root) resolveMissing(p string) (string, error) {
	full, err := securejoin.SecureJoin(r.host, p)
	if err != nil {
		return "", fmt.Errorf("resolve %s in %s: %w", p, r.host, err)
	}
	rel, err := filepath.Rel(r.host, full)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return "", fmt.Errorf("resolve %s in %s: left the root (%s)", p, r.host, full)
	}
	return cleanInRoot(rel), nil
}

// openParent creates the parent directory of p inside the root and returns
// it with the last path component.
func (r *root) openParent(p string) (*os.File, string, error) {
	p = cleanInRoot(p)
	if p == "/" {
		return nil, "", fmt.Errorf("%s has no parent", p)
	}
	dir, err := r.mkdirAll(path.Dir(p), 0o755)
	if err != nil {
		return nil, "", err
	}
	return dir, path.Base(p), nil
}

// procFdPath names an open file for mount(2), which only takes paths: the
// magic link leads the kernel to exactly the file that was checked. Valid
// only while the host /proc is reachable (before the root switch).
func procFdPath(f *os.File) string {
	return "/proc/self/fd/" + strconv.Itoa(int(f.Fd()))
}

// isMountRoot reports whether name inside dir is the root of a mount (that
// is, something was mounted there), without following a symlink.
func isMountRoot(dir *os.File, name string) (bool, error) {
	var st unix.Statx_t
	if err := unix.Statx(int(dir.Fd()), name, unix.AT_SYMLINK_NOFOLLOW|unix.AT_STATX_DONT_SYNC, unix.STATX_TYPE, &st); err != nil {
		return false, err
	}
	return st.Attributes_mask&unix.STATX_ATTR_MOUNT_ROOT != 0 && st.Attributes&unix.STATX_ATTR_MOUNT_ROOT != 0, nil
}

// mountSetattr changes mount attributes of the mount f refers to.
func mountSetattr(f *os.File, recursive bool, attr unix.MountAttr) error {
	flags := uint(unix.AT_EMPTY_PATH)
	if recursive {
		flags |= unix.AT_RECURSIVE
	}
	for {
		err := unix.MountSetattr(int(f.Fd()), "", flags, &attr)
		if err == unix.EINTR {
			continue
		}
		return err
	}
}

// cloneTree makes a detached copy of the mount at src (a bind mount that is
// not attached anywhere yet), recursively when recursive is set. src is a
// path (symlinks followed) or "" with srcFile set.
func cloneTree(srcFile *os.File, src string, recursive bool) (*os.File, error) {
	dirfd := unix.AT_FDCWD
	flags := uint(unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC)
	if srcFile != nil {
		dirfd = int(srcFile.Fd())
		flags |= unix.AT_EMPTY_PATH
	}
	if recursive {
		flags |= unix.AT_RECURSIVE
	}
	fd, err := unix.OpenTree(dirfd, src, flags)
	if err != nil {
		name := src
		if srcFile != nil {
			name = srcFile.Name()
		}
		return nil, fmt.Errorf("open_tree %s: %w", name, err)
	}
	return os.NewFile(uintptr(fd), "tree:"+src), nil
}

// attachTree attaches a detached mount (from open_tree or fsmount) onto the
// file dst refers to.
func attachTree(tree, dst *os.File) error {
	err := unix.MoveMount(int(tree.Fd()), "", int(dst.Fd()), "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH)
	if err != nil {
		return fmt.Errorf("move_mount onto %s: %w", dst.Name(), err)
	}
	return nil
}

// newMountFd creates a detached filesystem mount with the new mount API:
// it works without /proc (after the root switch), unlike mount(2) on an fd.
func newMountFd(fstype string, attrs int, params map[string]string) (*os.File, error) {
	fsfd, err := unix.Fsopen(fstype, unix.FSOPEN_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("fsopen %s: %w", fstype, err)
	}
	defer unix.Close(fsfd)
	for k, v := range params {
		if err := unix.FsconfigSetString(fsfd, k, v); err != nil {
			return nil, fmt.Errorf("fsconfig %s %s=%s: %w", fstype, k, v, err)
		}
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return nil, fmt.Errorf("fsconfig create %s: %w", fstype, err)
	}
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, attrs)
	if err != nil {
		return nil, fmt.Errorf("fsmount %s: %w", fstype, err)
	}
	return os.NewFile(uintptr(mfd), "fsmount:"+fstype), nil
}

// mountErr wraps a mount failure with everything needed to understand it.
func mountErr(op, src, dst, fstype string, flags uintptr, data string, err error) error {
	return fmt.Errorf("%s %q on %q (type %q, flags %#x, data %q): %w", op, src, dst, fstype, flags, data, err)
}

// mountAt is mount(2) onto an open file.
func mountAt(src string, dst *os.File, fstype string, flags uintptr, data string) error {
	if err := unix.Mount(src, procFdPath(dst), fstype, flags, data); err != nil {
		return mountErr("mount", src, dst.Name(), fstype, flags, data, err)
	}
	return nil
}
