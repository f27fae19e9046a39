package rootfs

import (
	"errors"
	"fmt"
	"os"
	"path"

	"golang.org/x/sys/unix"
)

// Finalize runs after the root switch (and after the console is set up):
// linux.readonlyPaths, linux.maskedPaths, a read-only /dev when its mount
// asked for it, root.readonly, and last linux.rootfsPropagation.
//
// It uses the new mount API (open_tree, fsmount, move_mount, mount_setattr)
// on resolved file descriptors, so it needs no /proc in the container.
func Finalize(c *Config) error {
	if c.Spec == nil {
		return errors.New("rootfs: no spec")
	}
	r, err := openRoot("/")
	if err != nil {
		return err
	}
	defer r.Close()
	lx := c.linux()
	for i, p := range lx.ReadonlyPaths {
		if err := readonlyPath(r, p); err != nil {
			return fmt.Errorf("linux.readonlyPaths[%d] %s: %w", i, p, err)
		}
	}
	masker := &masker{root: r}
	defer masker.Close()
	for i, p := range lx.MaskedPaths {
		if err := masker.mask(p); err != nil {
			return fmt.Errorf("linux.maskedPaths[%d] %s: %w", i, p, err)
		}
	}
	if devReadonly(c) {
		if err := setReadonly(r, "/dev", false); err != nil {
			return fmt.Errorf("mounts: /dev read-only: %w", err)
		}
	}
	if c.Spec.Root != nil && c.Spec.Root.Readonly {
		if err := setReadonly(r, "/", false); err != nil {
			return fmt.Errorf("root.readonly: %w", err)
		}
	}
	if p := lx.RootfsPropagation; p != "" {
		flags, err := propagationFlags(p)
		if err != nil {
			return err
		}
		if err := unix.Mount("", "/", "", flags, ""); err != nil {
			return fmt.Errorf("linux.rootfsPropagation %s: %w", p, err)
		}
	}
	return nil
}

// devReadonly reports whether the last /dev mount of the spec (a new
// filesystem, not a bind) has "ro": Prepare mounted it writable to create
// the device nodes.
func devReadonly(c *Config) bool {
	ro := false
	for _, m := range c.Spec.Mounts {
		if cleanInRoot(m.Destination) != "/dev" {
			continue
		}
		opts, err := parseMountOptions(m.Options)
		if err != nil {
			return false
		}
		ro = opts.flags&unix.MS_RDONLY != 0 && !opts.isBind() && m.Type != "bind" && m.Type != "rbind"
	}
	return ro
}

// checkAbs enforces that mask and read-only paths are absolute
// (config-linux.md).
func checkAbs(p string) error {
	if !path.IsAbs(p) {
		return errors.New("not an absolute path")
	}
	return nil
}

// setReadonly makes the mount at p read-only (recursive: every mount below
// it too), leaving its other flags, including the locked ones, untouched.
func setReadonly(r *root, p string, recursive bool) error {
	f, err := r.openPath(p)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := mountSetattr(f, recursive, unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}); err != nil {
		return fmt.Errorf("mount_setattr read-only: %w", err)
	}
	return nil
}

// readonlyPath bind-mounts p onto itself and makes that bind read-only,
// including everything mounted below p. A missing path is fine.
func readonlyPath(r *root, p string) error {
	if err := checkAbs(p); err != nil {
		return err
	}
	f, err := r.openPath(p)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	tree, err := cloneTree(f, "", true)
	if err != nil {
		return err
	}
	defer tree.Close()
	if err := mountSetattr(tree, true, unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}); err != nil {
		return fmt.Errorf("mount_setattr read-only: %w", err)
	}
	return attachTree(tree, f)
}

// masker covers masked paths: directories with an empty read-only tmpfs,
// everything else with a bind of the container's /dev/null.
type masker struct {
	root *root
	null *os.File // the verified /dev/null, opened on first use
}

func (m *masker) Close() {
	if m.null != nil {
		m.null.Close()
	}
}

func (m *masker) mask(p string) error {
	if err := checkAbs(p); err != nil {
		return err
	}
	f, err := m.root.openPath(p)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return fmt.Errorf("stat: %w", err)
	}
	var tree *os.File
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		tree, err = newMountFd("tmpfs", unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOEXEC, map[string]string{"mode": "0755"})
	} else {
		var null *os.File
		if null, err = m.devNull(); err == nil {
			tree, err = cloneTree(null, "", false)
		}
	}
	if err != nil {
		return err
	}
	defer tree.Close()
	return attachTree(tree, f)
}

// devNull opens the container's /dev/null and refuses it unless it is the
// character device 1:3: a mask made of anything else (a file planted by the
// image) would show content instead of hiding it.
func (m *masker) devNull() (*os.File, error) {
	if m.null != nil {
		return m.null, nil
	}
	f, err := m.root.openPath("/dev/null")
	if err != nil {
		return nil, fmt.Errorf("mask source: %w", err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		f.Close()
		return nil, fmt.Errorf("mask source /dev/null: %w", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || unix.Major(st.Rdev) != 1 || unix.Minor(st.Rdev) != 3 {
		f.Close()
		return nil, fmt.Errorf("mask source /dev/null is not the character device 1:3 (mode %#o, rdev %d:%d)", st.Mode, unix.Major(st.Rdev), unix.Minor(st.Rdev))
	}
	m.null = f
	return f, nil
}
