package initproc

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// runExec sets up a process started by `nsrun exec`. The C constructor
// already moved it into the container's cgroups and joined every namespace
// of the container; joining the mount namespace also put it at the
// container's root. What is left is the process itself.
func (i *initProcess) runExec() error {
	// We still hold the runtime's privileges and fds of the host (the init
	// socket, the console socket): until execve, no process inside the
	// container may ptrace us or open /proc/<pid>/fd. execve of the final,
	// non-setuid program makes it dumpable again.
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_SET_DUMPABLE): %w", err)
	}
	if !i.cfg.NoNewKeyring && i.cfg.State != nil {
		// The runtime's session keyring is the caller's: the container's
		// (same name as create's) instead.
		if _, err := unix.KeyctlJoinSessionKeyring("_ses." + i.cfg.State.ID); err != nil && err != unix.ENOSYS && err != unix.EACCES && err != unix.EDQUOT {
			return fmt.Errorf("join session keyring: %w", err)
		}
	}
	if i.cfg.HostMountNS {
		// No mount namespace: the container's root is the bind of the
		// rootfs in the host's, entered with chroot as create did.
		if err := unix.Chroot(i.cfg.Rootfs); err != nil {
			return fmt.Errorf("chroot %s: %w", i.cfg.Rootfs, err)
		}
		if err := unix.Chdir("/"); err != nil {
			return fmt.Errorf("chdir / in the container: %w", err)
		}
	}
	if i.spec.Process.Terminal {
		if err := i.setupConsole(false); err != nil {
			return err
		}
	}
	return i.applyProcessAndExec(i.reportReady)
}
