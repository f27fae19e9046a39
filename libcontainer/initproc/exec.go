package initproc

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/nsrun/nsrun/libcontainer/console"
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
		if err := i.execConsole(); err != nil {
			return err
		}
	}
	return i.applyProcessAndExec(i.reportReady)
}

// execConsole makes a pty in the container's devpts and sends its master
// to the console socket. Unlike create, nothing is mounted on /dev/console:
// that is the container's own terminal.
func (i *initProcess) execConsole() error {
	if i.cfg.ConsoleSocketFd < 0 {
		return fmt.Errorf("process.terminal: no console socket")
	}
	master, slave, err := console.NewPty()
	if err != nil {
		return fmt.Errorf("process.terminal: %w", err)
	}
	defer master.Close()
	if cs := i.spec.Process.ConsoleSize; cs != nil {
		if err := console.SetSize(master, cs.Height, cs.Width); err != nil {
			return fmt.Errorf("process.consoleSize: %w", err)
		}
	}
	sock := os.NewFile(uintptr(i.cfg.ConsoleSocketFd), "console-socket")
	defer sock.Close()
	if err := console.SendMasterFd(sock, master, master.Name()); err != nil {
		return fmt.Errorf("--console-socket: %w", err)
	}
	return console.SetupSlaveStdio(slave)
}
