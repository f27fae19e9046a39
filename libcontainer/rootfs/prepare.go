// Package rootfs builds the container's filesystem view inside the init: the
// mounts of the spec, /dev, the root switch, masked and read-only paths.
//
// Everything runs in the init process, already inside the container's new
// mount namespace (and maybe a new user namespace), on a locked OS thread.
package rootfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/sys/mountinfo"
	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Config is what the rootfs setup needs to know.
type Config struct {
	// Spec supplies root, mounts, linux.devices, linux.maskedPaths,
	// linux.readonlyPaths, linux.rootfsPropagation and process.terminal.
	Spec *specs.Spec
	// Rootfs is the absolute host path of the rootfs.
	Rootfs string
	// NoPivot switches the root with MS_MOVE + chroot instead of pivot_root.
	NoPivot bool
	// InUserNS: the container has its own user namespace, so mknod is
	// impossible and host device nodes are bind-mounted instead.
	InUserNS bool
	// CgroupPaths maps a hierarchy key to the container's absolute host
	// cgroup directory, for "cgroup"/"cgroup2" mounts. When empty, the
	// init's own cgroups (/proc/self/cgroup) are used.
	CgroupPaths map[string]string
	// NewCgroupNS: the container has its own cgroup namespace, so real
	// cgroup filesystems are mounted instead of bind mounts.
	NewCgroupNS bool
	// HostMountNS: the config asks for no mount namespace, so the container
	// shares the runtime's. Everything is then mounted under a private bind
	// of the rootfs (one mount the runtime detaches at delete), the host's
	// propagation is left alone, and the root switch is a chroot.
	HostMountNS bool
}

// rootfsPath is the rootfs with symlinks resolved: mount(2) and mountinfo
// speak about real paths.
func (c *Config) rootfsPath() (string, error) {
	if !filepath.IsAbs(c.Rootfs) {
		return "", fmt.Errorf("root.path: rootfs %q is not absolute", c.Rootfs)
	}
	p, err := filepath.EvalSymlinks(c.Rootfs)
	if err != nil {
		return "", fmt.Errorf("root.path: %w", err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		return "", fmt.Errorf("root.path: %w", err)
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("root.path: %s is not a directory", p)
	}
	return p, nil
}

func (c *Config) linux() *specs.Linux {
	if c.Spec == nil || c.Spec.Linux == nil {
		return &specs.Linux{}
	}
	return c.Spec.Linux
}

// Prepare builds the container's filesystem under the rootfs: it isolates
// mount propagation from the host, makes the rootfs a mount point, applies
// every entry of mounts in order, and sets up /dev. Called before the
// createContainer hooks, before the root switch.
func Prepare(c *Config) error {
	if c.Spec == nil {
		return errors.New("rootfs: no spec")
	}
	rootfs, err := c.rootfsPath()
	if err != nil {
		return err
	}
	if !c.HostMountNS {
		if err := isolateRootPropagation(c); err != nil {
			return err
		}
		if err := makeParentPrivate(rootfs); err != nil {
			return err
		}
	}
	// The rootfs must be a mount point for pivot_root and MS_MOVE, and the
	// bind gives the container its own mount that nothing else shares.
	if err := unix.Mount(rootfs, rootfs, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return mountErr("bind", rootfs, rootfs, "", unix.MS_BIND|unix.MS_REC, "", err)
	}
	if c.HostMountNS {
		// In the host's namespace the bind joined the peer group of its
		// parent; private, nothing mounted below it reaches other mounts.
		if err := unix.Mount("", rootfs, "", unix.MS_PRIVATE, ""); err != nil {
			return mountErr("make private", "", rootfs, "", unix.MS_PRIVATE, "", err)
		}
	}
	r, err := openRoot(rootfs)
	if err != nil {
		return err
	}
	defer r.Close()
	m := &mounter{cfg: c, root: r}
	for i, mnt := range c.Spec.Mounts {
		if err := m.apply(i, mnt); err != nil {
			return err
		}
	}
	if devNeedsSetup(c.Spec) {
		if err := setupDev(c, r); err != nil {
			return err
		}
	}
	return nil
}

// isolateRootPropagation sets the propagation of every mount copied from the
// host so that nothing done in this namespace reaches the host: recursive
// slave (host mounts still propagate in), unless rootfsPropagation asks for
// shared or private. Unbindable is applied only after the root switch,
// because the rootfs bind mount below would fail on an unbindable parent.
func isolateRootPropagation(c *Config) error {
	flags := uintptr(unix.MS_SLAVE | unix.MS_REC)
	switch p := c.linux().RootfsPropagation; p {
	case "":
	case "shared", "rshared", "private", "rprivate":
		flags, _ = propagationFlags(p)
	case "slave", "rslave", "unbindable", "runbindable":
	default:
		return fmt.Errorf("linux.rootfsPropagation: unknown value %q", p)
	}
	if err := unix.Mount("", "/", "", flags, ""); err != nil {
		return mountErr("set propagation", "", "/", "", flags, "", err)
	}
	return nil
}

// makeParentPrivate makes the mount holding the rootfs private when it is
// shared: pivot_root refuses a new root whose parent is shared, and the
// rootfs bind mount must not appear in peers outside this namespace.
func makeParentPrivate(rootfs string) error {
	mounts, err := mountinfo.GetMounts(mountinfo.ParentsFilter(rootfs))
	if err != nil {
		return fmt.Errorf("read mountinfo: %w", err)
	}
	var parent *mountinfo.Info
	for _, mi := range mounts {
		if parent == nil || len(mi.Mountpoint) >= len(parent.Mountpoint) {
			parent = mi
		}
	}
	if parent == nil || !strings.Contains(parent.Optional, "shared:") {
		return nil
	}
	if err := unix.Mount("", parent.Mountpoint, "", unix.MS_PRIVATE, ""); err != nil {
		return mountErr("make private", "", parent.Mountpoint, "", unix.MS_PRIVATE, "", err)
	}
	return nil
}
