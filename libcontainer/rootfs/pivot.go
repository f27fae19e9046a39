package rootfs

import (
	"errors"
	"fmt"
	"strings"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// PivotRoot makes the prepared rootfs the root: pivot_root(".", ".") and a
// detached unmount of the old root (no temporary directory is needed), or
// with NoPivot MS_MOVE + chroot. The cwd is "/" afterwards.
func PivotRoot(c *Config) error {
	rootfs, err := c.rootfsPath()
	if err != nil {
		return err
	}
	if c.HostMountNS {
		// pivot_root here would move the host's root: chroot only.
		if err := unix.Chroot(rootfs); err != nil {
			return fmt.Errorf("chroot %s: %w", rootfs, err)
		}
		return unix.Chdir("/")
	}
	// The namespace's current root mount (a copy of the host's "/") must
	// not be shared: pivot_root refuses that, and an MS_MOVE onto it would
	// propagate the new root to its peers, which may be on the host.
	if err := unix.Mount("", "/", "", unix.MS_PRIVATE, ""); err != nil {
		return mountErr("make private", "", "/", "", unix.MS_PRIVATE, "", err)
	}
	if c.NoPivot {
		err = moveRoot(rootfs)
	} else {
		err = pivotRoot(rootfs)
	}
	if err != nil {
		return err
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("chdir /: %w", err)
	}
	return nil
}

func pivotRoot(rootfs string) error {
	oldRoot, err := unix.Open("/", unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open old root: %w", err)
	}
	defer unix.Close(oldRoot)
	newRoot, err := unix.Open(rootfs, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open new root %s: %w", rootfs, err)
	}
	defer unix.Close(newRoot)
	if err := unix.Fchdir(newRoot); err != nil {
		return fmt.Errorf("chdir %s: %w", rootfs, err)
	}
	// With new_root == put_old the old root ends up stacked on top of the
	// new one; "." then still names the old root until it is unmounted.
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root %s: %w", rootfs, err)
	}
	if err := unix.Fchdir(oldRoot); err != nil {
		return fmt.Errorf("chdir to old root: %w", err)
	}
	// The old root holds the host's mounts: make sure their unmount does not
	// propagate anywhere.
	if err := unix.Mount("", ".", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return mountErr("make old root slave", "", ".", "", unix.MS_SLAVE|unix.MS_REC, "", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("unmount old root: %w", err)
	}
	return nil
}

// moveRoot is the --no-pivot root switch (for a rootfs on ramfs/initramfs,
// where pivot_root is impossible).
func moveRoot(rootfs string) error {
	if err := hideHostKernelFilesystems(rootfs); err != nil {
		return err
	}
	if err := unix.Chdir(rootfs); err != nil {
		return fmt.Errorf("chdir %s: %w", rootfs, err)
	}
	if err := unix.Mount(rootfs, "/", "", unix.MS_MOVE, ""); err != nil {
		return mountErr("move", rootfs, "/", "", unix.MS_MOVE, "", err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("chroot: %w", err)
	}
	return nil
}

// hideHostKernelFilesystems removes the host's full proc and sysfs mounts
// from this namespace before a chroot. Without pivot_root they would stay in
// the namespace, and the kernel lets anyone mount a new proc or sysfs when
// an unmasked one is already present in the namespace, which would let the
// container undo its masked paths.
func hideHostKernelFilesystems(rootfs string) error {
	mounts, err := mountinfo.GetMounts(func(i *mountinfo.Info) (skip, stop bool) {
		keep := i.Root == "/" && (i.FSType == "proc" || i.FSType == "sysfs") &&
			i.Mountpoint != rootfs && !strings.HasPrefix(i.Mountpoint, rootfs+"/")
		return !keep, false
	})
	if err != nil {
		return fmt.Errorf("read mountinfo: %w", err)
	}
	for _, mi := range mounts {
		if err := unix.Mount("", mi.Mountpoint, "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
			if errors.Is(err, unix.ENOENT) {
				// A parent was already unmounted.
				continue
			}
			return mountErr("make slave", "", mi.Mountpoint, "", unix.MS_SLAVE|unix.MS_REC, "", err)
		}
		err := unix.Unmount(mi.Mountpoint, unix.MNT_DETACH)
		if err == nil || errors.Is(err, unix.ENOENT) {
			continue
		}
		if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.EPERM) {
			return fmt.Errorf("unmount %s: %w", mi.Mountpoint, err)
		}
		// Locked in a user namespace: cover it instead.
		if err := unix.Mount("tmpfs", mi.Mountpoint, "tmpfs", 0, ""); err != nil {
			return mountErr("cover", "tmpfs", mi.Mountpoint, "tmpfs", 0, "", err)
		}
	}
	return nil
}
