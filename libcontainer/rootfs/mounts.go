package rootfs

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strings"
	"sync"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// mounter applies the entries of mounts, in order, inside the rootfs.
type mounter struct {
	cfg  *Config
	root *root
}

// apply performs mounts[i].
func (m *mounter) apply(i int, mnt specs.Mount) error {
	field := fmt.Sprintf("mounts[%d]", i)
	if mnt.Destination == "" {
		return fmt.Errorf("%s.destination: empty", field)
	}
	// Relative destinations are relative to "/" (config.md).
	dest := cleanInRoot(mnt.Destination)
	if dest == "/" {
		return fmt.Errorf("%s.destination: mounting over the container's root is not supported", field)
	}
	if needsRealDir(dest, mnt.Type) {
		if err := m.root.refuseSymlink(dest); err != nil {
			return fmt.Errorf("%s.destination: %w", field, err)
		}
	}
	opts, err := parseMountOptions(mnt.Options)
	if err != nil {
		return fmt.Errorf("%s.options: %w", field, err)
	}
	if len(mnt.UIDMappings) > 0 || len(mnt.GIDMappings) > 0 {
		return fmt.Errorf("%s.uidMappings/gidMappings: idmapped mounts are not supported", field)
	}
	switch mnt.Type {
	case "bind":
		// A bind type without bind/rbind option: include the submounts, so
		// nothing hidden below them in the source is revealed.
		if !opts.isBind() {
			opts.flags |= unix.MS_BIND | unix.MS_REC
		}
	case "rbind":
		opts.flags |= unix.MS_BIND | unix.MS_REC
	}
	if err := m.dispatch(mnt, dest, opts); err != nil {
		return fmt.Errorf("%s (%s on %s): %w", field, mnt.Type, dest, err)
	}
	return nil
}

// needsRealDir reports whether a mount must be on the directory dest itself
// rather than where a symlink there points: /proc, /sys and /dev, which the
// runtime writes to and masks, and every proc or sysfs mount
// (CVE-2019-19921: a /proc symlink into a volume let a racing container
// redirect the runtime's writes).
func needsRealDir(dest, fstype string) bool {
	switch dest {
	case "/proc", "/sys", "/dev":
		return true
	}
	return fstype == "proc" || fstype == "sysfs"
}

// refuseSymlink fails when the last component of p (its parents resolved
// inside the root) is a symlink. A missing p is fine: it is then created
// as a directory.
func (r *root) refuseSymlink(p string) error {
	p = cleanInRoot(p)
	dir, err := r.open(path.Dir(p), unix.O_PATH|unix.O_DIRECTORY)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return err
	}
	defer dir.Close()
	var st unix.Stat_t
	err = unix.Fstatat(int(dir.Fd()), path.Base(p), &st, unix.AT_SYMLINK_NOFOLLOW)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("lstat %s: %w", p, err)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		return fmt.Errorf("%s is a symlink in the rootfs: refusing to mount or create anything through it", p)
	}
	return nil
}

func (m *mounter) dispatch(mnt specs.Mount, dest string, opts *mountOptions) error {
	switch {
	case opts.flags&unix.MS_REMOUNT != 0:
		return m.remount(mnt, dest, opts)
	case opts.isBind():
		return m.bindMount(mnt.Source, dest, opts)
	case mnt.Type == "cgroup":
		return m.mountCgroup(mnt, dest, opts)
	case mnt.Type == "cgroup2":
		return m.mountCgroup2(mnt, dest, opts)
	case mnt.Type == "sysfs":
		err := m.mountFilesystem(mnt, dest, opts)
		if errors.Is(err, unix.EPERM) && m.cfg.InUserNS {
			// A user namespace without its own network namespace may not
			// mount sysfs: show the host's /sys instead, with the same
			// restrictions on every mount below it too (ro, nosuid, ...).
			opts.flags |= unix.MS_BIND | unix.MS_REC
			restrict := opts.bindAttr().Attr_set &^ unix.MOUNT_ATTR__ATIME
			opts.recAttr.Attr_set |= restrict
			opts.recAttr.Attr_clr &^= restrict
			return m.bindMount("/sys", dest, opts)
		}
		return err
	case mnt.Type == "":
		return errors.New("type: empty, and no bind or rbind option")
	default:
		return m.mountFilesystem(mnt, dest, opts)
	}
}

// mountFilesystem mounts a new filesystem instance with mount(2).
func (m *mounter) mountFilesystem(mnt specs.Mount, dest string, opts *mountOptions) error {
	dst, err := m.root.mkdirAll(dest, 0o755)
	if err != nil {
		return err
	}
	defer dst.Close()
	if err := m.checkProcDestination(dest, dst, mnt.Type, mnt.Source); err != nil {
		return err
	}
	flags := opts.mountFlags()
	if dest == "/dev" {
		// Device nodes are created in it after the mounts; a read-only
		// /dev becomes read-only in Finalize.
		flags &^= unix.MS_RDONLY
	}
	src := mnt.Source
	if src == "" {
		src = mnt.Type
	}
	if err := mountAt(src, dst, mnt.Type, flags, opts.data); err != nil {
		return err
	}
	return m.finish(dest, dst, opts)
}

// finish applies what a mount(2) call cannot carry: copy-up, recursive
// attributes and propagation, on the mount now at dest. under is the
// directory the mount covers.
func (m *mounter) finish(dest string, under *os.File, opts *mountOptions) error {
	if !opts.tmpcopyup && !opts.hasRecAttr() && len(opts.propagation) == 0 {
		return nil
	}
	// Resolve again: the fd taken before the mount still points below it.
	top, err := m.root.open(dest, unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return fmt.Errorf("reopen after mount: %w", err)
	}
	defer top.Close()
	if opts.tmpcopyup {
		if err := copyUp(under, top); err != nil {
			return fmt.Errorf("tmpcopyup: %w", err)
		}
	}
	return applyAttrAndPropagation(top, opts)
}

// applyAttrAndPropagation applies the r* attributes, then the propagation
// options in their order, to the mount f refers to.
func applyAttrAndPropagation(f *os.File, opts *mountOptions) error {
	if opts.hasRecAttr() {
		if err := mountSetattr(f, true, opts.recAttr); err != nil {
			return fmt.Errorf("mount_setattr recursive (set %#x, clear %#x): %w", opts.recAttr.Attr_set, opts.recAttr.Attr_clr, err)
		}
	}
	for _, p := range opts.propagation {
		attr := unix.MountAttr{Propagation: uint64(p &^ unix.MS_REC)}
		if err := mountSetattr(f, p&unix.MS_REC != 0, attr); err != nil {
			return fmt.Errorf("set propagation %#x: %w", p, err)
		}
	}
	return nil
}

// bindMount clones the source tree, gives it the flags of the options while
// it is still detached, attaches it at dest, then sets propagation.
func (m *mounter) bindMount(src, dest string, opts *mountOptions) error {
	if src == "" {
		return errors.New("source: empty for a bind mount")
	}
	if opts.tmpcopyup {
		return errors.New("options: tmpcopyup applies to tmpfs mounts, not bind mounts")
	}
	// Bind sources are host paths; a relative one is relative to the init's
	// cwd, the bundle.
	fi, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	var dst *os.File
	if fi.IsDir() {
		dst, err = m.root.mkdirAll(dest, 0o755)
	} else {
		dst, err = m.root.ensureFile(dest)
	}
	if err != nil {
		return err
	}
	defer dst.Close()
	if err := m.checkProcDestination(dest, dst, "bind", src); err != nil {
		return err
	}
	tree, err := cloneTree(nil, src, opts.isRecursiveBind())
	if err != nil {
		return err
	}
	defer tree.Close()
	if err := setBindAttr(tree, opts.bindAttr()); err != nil {
		return err
	}
	if opts.hasRecAttr() {
		if err := mountSetattr(tree, true, opts.recAttr); err != nil {
			return fmt.Errorf("mount_setattr recursive (set %#x, clear %#x): %w", opts.recAttr.Attr_set, opts.recAttr.Attr_clr, err)
		}
	}
	if err := attachTree(tree, dst); err != nil {
		return err
	}
	// The tree fd now refers to the attached mount.
	withoutAttr := *opts
	withoutAttr.recAttr = unix.MountAttr{}
	return applyAttrAndPropagation(tree, &withoutAttr)
}

// setBindAttr gives a bind mount its per-mount flags. In a user namespace
// the kernel locks the flags a mount had when the namespace was created
// (ro, nodev, nosuid, noexec, atime): asking to drop one fails with EPERM.
// Like a MS_REMOUNT|MS_BIND that keeps the locked flags, the request is then
// retried with only the flags to add.
func setBindAttr(tree *os.File, a unix.MountAttr) error {
	if a.Attr_set == 0 && a.Attr_clr == 0 {
		return nil
	}
	err := mountSetattr(tree, false, a)
	if errors.Is(err, unix.EPERM) {
		keep := unix.MountAttr{Attr_set: a.Attr_set &^ unix.MOUNT_ATTR__ATIME}
		if keep.Attr_set == 0 {
			return nil
		}
		if mountSetattr(tree, false, keep) == nil {
			return nil
		}
	}
	if err != nil {
		return fmt.Errorf("mount_setattr (set %#x, clear %#x): %w", a.Attr_set, a.Attr_clr, err)
	}
	return nil
}

// remount changes an existing mount at dest ("remount" option).
func (m *mounter) remount(mnt specs.Mount, dest string, opts *mountOptions) error {
	dst, err := m.root.openPath(dest)
	if err != nil {
		return err
	}
	defer dst.Close()
	if opts.isBind() {
		if err := setBindAttr(dst, opts.bindAttr()); err != nil {
			return err
		}
	} else if err := mountAt(mnt.Source, dst, mnt.Type, opts.mountFlags()|unix.MS_REMOUNT, opts.data); err != nil {
		return err
	}
	return applyAttrAndPropagation(dst, opts)
}

// procOverlayAllowed are the files inside /proc that may be covered by a
// mount (what lxcfs emulates); anything else under /proc could hide or
// redirect the kernel interfaces the runtime and the masks rely on.
var procOverlayAllowed = sync.OnceValue(func() map[string]bool {
	return map[string]bool{
		"/proc/cpuinfo":                true,
		"/proc/diskstats":              true,
		"/proc/meminfo":                true,
		"/proc/stat":                   true,
		"/proc/swaps":                  true,
		"/proc/uptime":                 true,
		"/proc/loadavg":                true,
		"/proc/slabinfo":               true,
		"/proc/net/dev":                true,
		"/proc/sys/kernel/ns_last_pid": true,
	}
})

// checkProcDestination refuses mounts on or under /proc except a proc
// filesystem (or a bind of one) on /proc itself and the allowed overlays.
// It looks at where the destination really resolved to, so a symlink
// pointing into /proc is caught too.
func (m *mounter) checkProcDestination(dest string, dst *os.File, fstype, src string) error {
	resolved := m.inRootPath(dst, dest)
	switch {
	case resolved == "/proc":
		if fstype == "proc" {
			return nil
		}
		if fstype == "bind" {
			var st unix.Statfs_t
			if err := unix.Statfs(src, &st); err == nil && st.Type == unix.PROC_SUPER_MAGIC {
				return nil
			}
		}
		return fmt.Errorf("destination %s resolves to /proc, which only takes a proc filesystem", dest)
	case strings.HasPrefix(resolved, "/proc/"):
		if procOverlayAllowed()[resolved] {
			return nil
		}
		return fmt.Errorf("destination %s resolves to %s: mounts inside /proc are not allowed", dest, resolved)
	}
	return nil
}

// inRootPath names the container path an open file resolved to (for checks
// and messages), falling back to the requested path.
func (m *mounter) inRootPath(f *os.File, requested string) string {
	target, err := os.Readlink(procFdPath(f))
	if err != nil {
		return requested
	}
	if target == m.root.host {
		return "/"
	}
	if rel, ok := strings.CutPrefix(target, m.root.host+"/"); ok {
		return path.Clean("/" + rel)
	}
	return requested
}
