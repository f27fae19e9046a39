package initproc

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nsrun/nsrun/libcontainer/capabilities"
	"github.com/nsrun/nsrun/libcontainer/console"
	"github.com/nsrun/nsrun/libcontainer/hooks"
	"github.com/nsrun/nsrun/libcontainer/procattr"
	"github.com/nsrun/nsrun/libcontainer/protocol"
	"github.com/nsrun/nsrun/libcontainer/rootfs"
	"github.com/nsrun/nsrun/libcontainer/seccomp"
)

// setupContainer does everything that create must finish before it
// returns: namespaces left to make, the root file system, hooks, console,
// kernel settings. The order follows the spec's lifecycle.
func (i *initProcess) setupContainer() error {
	spec, cfg := i.spec, i.cfg
	if !cfg.NoNewKeyring {
		// A fresh session keyring, so the container cannot see the host's
		// keys. EACCES/ENOSYS: the kernel denies keyrings here; go on.
		if _, err := unix.KeyctlJoinSessionKeyring("_ses." + cfg.State.ID); err != nil && err != unix.ENOSYS && err != unix.EACCES && err != unix.EDQUOT {
			return fmt.Errorf("join session keyring: %w", err)
		}
	}
	if cfg.NewTimeNS {
		if err := newTimeNamespace(spec.Linux.TimeOffsets); err != nil {
			return err
		}
	}
	rc := &rootfs.Config{
		Spec:        spec,
		Rootfs:      cfg.Rootfs,
		NoPivot:     cfg.NoPivot,
		InUserNS:    cfg.UserNS,
		CgroupPaths: cfg.CgroupPaths,
		NewCgroupNS: cfg.NewCgroupNS,
		HostMountNS: cfg.HostMountNS,
	}
	if err := rootfs.Prepare(rc); err != nil {
		return err
	}
	if h := spec.Hooks; h != nil {
		if len(h.Prestart)+len(h.CreateRuntime) > 0 { //nolint:staticcheck // prestart is deprecated, still honoured
			if err := i.conn.Send(&protocol.Message{Type: protocol.TypeHooks}); err != nil {
				return err
			}
			if _, err := i.conn.Expect(protocol.TypeHooksDone); err != nil {
				return err
			}
		}
		if err := hooks.Run("createContainer", h.CreateContainer, cfg.State); err != nil {
			return err
		}
	}
	if err := rootfs.PivotRoot(rc); err != nil {
		return err
	}
	if spec.Process.Terminal {
		if err := i.setupConsole(true); err != nil {
			return err
		}
	}
	// Sysctls before Finalize: it makes linux.readonlyPaths read-only, and
	// /proc/sys is one of them in Docker's and runc's default configs (with
	// e.g. Docker's net.ipv4.ip_unprivileged_port_start). runc also writes
	// them before the read-only paths.
	if err := procattr.SetSysctls(spec.Linux.Sysctl); err != nil {
		return err
	}
	if err := rootfs.Finalize(rc); err != nil {
		return err
	}
	if spec.Hostname != "" {
		if err := procattr.SetHostname(spec.Hostname); err != nil {
			return fmt.Errorf("hostname: %w", err)
		}
	}
	if spec.Domainname != "" {
		if err := procattr.SetDomainname(spec.Domainname); err != nil {
			return fmt.Errorf("domainname: %w", err)
		}
	}
	return nil
}

// setupConsole makes a pty in the container's devpts, sends its master to
// the console socket and makes the slave our stdio and controlling
// terminal. The init also binds the slave on /dev/console; an exec'd
// process leaves /dev/console alone (it is the init's terminal).
func (i *initProcess) setupConsole(mountConsole bool) error {
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
	if mountConsole {
		if err := console.MountConsole(slave); err != nil {
			return err
		}
	}
	sock := os.NewFile(uintptr(i.cfg.ConsoleSocketFd), "console-socket")
	defer sock.Close()
	if err := console.SendMasterFd(sock, master, master.Name()); err != nil {
		return fmt.Errorf("--console-socket: %w", err)
	}
	return console.SetupSlaveStdio(slave)
}

// finish applies the process settings, reports ready, waits for start and
// executes the user program.
func (i *initProcess) finish() error {
	return i.applyProcessAndExec(func() error {
		if err := i.waitForStart(); err != nil {
			return err
		}
		if h := i.spec.Hooks; h != nil && len(h.StartContainer) > 0 {
			st := *i.cfg.State
			st.Status = specs.StateRunning
			if err := hooks.Run("startContainer", h.StartContainer, &st); err != nil {
				return err
			}
		}
		return nil
	})
}

// applyProcessAndExec applies spec.Process (shared by the container's init
// and exec'd processes) in the order docs/design.md gives, calls
// beforeExec once credentials and capabilities are final, then loads a late
// seccomp filter, sets the rlimits and executes the program.
func (i *initProcess) applyProcessAndExec(beforeExec func() error) error {
	p := i.spec.Process
	if p.ApparmorProfile != "" {
		return fmt.Errorf("process.apparmorProfile: AppArmor is not enabled on this host")
	}
	if p.SelinuxLabel != "" {
		return fmt.Errorf("process.selinuxLabel: SELinux is not enabled on this host")
	}
	sc := i.spec.Linux.Seccomp
	filter, err := seccomp.Build(sc)
	if err != nil {
		return err
	}
	if err := procattr.SetOOMScoreAdj(p.OOMScoreAdj); err != nil {
		return fmt.Errorf("process.oomScoreAdj: %w", err)
	}
	if err := procattr.SetPersonality(i.spec.Linux.Personality); err != nil {
		return err
	}
	if err := procattr.SetScheduler(p.Scheduler); err != nil {
		return fmt.Errorf("process.scheduler: %w", err)
	}
	if err := procattr.SetIOPriority(p.IOPriority); err != nil {
		return fmt.Errorf("process.ioPriority: %w", err)
	}
	// LookPath's errors already read `exec: "name": ...`, the wording
	// podman and Docker match on.
	path, err := procattr.LookPath(p.Args[0], p.Env)
	if err != nil {
		return err
	}
	if p.NoNewPrivileges {
		if err := procattr.SetNoNewPrivileges(); err != nil {
			return fmt.Errorf("process.noNewPrivileges: %w", err)
		}
	}
	// Without no_new_privs the kernel takes a filter only from a process
	// with CAP_SYS_ADMIN, so it goes in before the capabilities are
	// dropped; a notify listener must reach the runtime before ready.
	// Otherwise the filter waits until right before execve, so it need
	// not allow what nsrun itself does in between.
	seccompEarly := sc != nil && (!p.NoNewPrivileges || seccomp.HasNotify(sc))
	if seccompEarly {
		if err := i.loadSeccomp(filter); err != nil {
			return err
		}
	}
	if err := procattr.SetUser(p.User); err != nil {
		return fmt.Errorf("process.user: %w", err)
	}
	// A uid/gid change resets the dumpable flag to fs.suid_dumpable: until
	// execve this process still holds capabilities and the runtime's
	// socket, so it must stay out of the container's reach (ptrace,
	// /proc/<pid>/mem, fd) on hosts where that sysctl is 1.
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_SET_DUMPABLE): %w", err)
	}
	if err := procattr.Chdir(p.Cwd); err != nil {
		return err
	}
	if err := capabilities.Apply(p.Capabilities); err != nil {
		return err
	}
	if err := beforeExec(); err != nil {
		return err
	}
	if sc != nil && !seccompEarly {
		if _, err := filter.Load(); err != nil {
			return err
		}
	}
	// process.rlimits come last: under a small RLIMIT_AS the Go runtime and
	// libseccomp (which generates the BPF program in seccomp_load) cannot
	// allocate. The filter must then allow prlimit64, as Docker's does.
	if err := procattr.SetRlimits(p.Rlimits); err != nil {
		return err
	}
	if err := unix.Exec(path, p.Args, p.Env); err != nil {
		return fmt.Errorf("exec %s: %w", path, err)
	}
	return nil
}

// loadSeccomp installs the filter and, for SCMP_ACT_NOTIFY, passes the
// listener fd to the runtime, which forwards it to the agent.
func (i *initProcess) loadSeccomp(filter *seccomp.Filter) error {
	fd, err := filter.Load()
	if err != nil {
		return err
	}
	if fd == nil {
		return nil
	}
	defer fd.Close()
	if err := i.conn.Send(&protocol.Message{Type: protocol.TypeSeccompFd, File: fd}); err != nil {
		return err
	}
	_, err = i.conn.Expect(protocol.TypeSeccompDone)
	return err
}

// waitForStart reports ready and blocks opening the exec fifo for writing
// until `nsrun start` opens it for reading; the byte written tells start
// that we got through. Our O_PATH fd reopens it through /proc, because the
// host path is gone after pivot_root.
func (i *initProcess) waitForStart() error {
	if err := i.reportReady(); err != nil {
		return err
	}
	fd, err := unix.Open(fmt.Sprintf("/proc/self/fd/%d", i.cfg.FifoFd), unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open exec fifo: %w", err)
	}
	if _, err := unix.Write(fd, []byte{'0'}); err != nil {
		unix.Close(fd)
		return fmt.Errorf("write exec fifo: %w", err)
	}
	// fd stays open, close-on-exec: `nsrun start` sees end-of-file once we
	// exec the user program, and only then runs the poststart hooks. A
	// failure before that (a startContainer hook, execve) is written after
	// the '0' (see reportLateFailure), so start fails with its reason.
	i.fifo = fd
	unix.Close(i.cfg.FifoFd)
	return nil
}

// reportLateFailure hands a failure between `start` and execve to the
// waiting `nsrun start` through the exec fifo, and closes it: start returns
// at that end-of-file. Best effort: start may have gone (killed), and the
// message also goes to the container's stderr.
func (i *initProcess) reportLateFailure(err error) {
	if i.fifo < 0 {
		return
	}
	msg := []byte(err.Error())
	if len(msg) > 4000 {
		msg = msg[:4000]
	}
	unix.Write(i.fifo, msg)
	unix.Close(i.fifo)
	i.fifo = -1
}

// reportReady tells the runtime that setup went through; from here on a
// failure goes to our stderr, the container's.
func (i *initProcess) reportReady() error {
	if err := i.conn.Send(&protocol.Message{Type: protocol.TypeReady, Warnings: i.warnings}); err != nil {
		return err
	}
	i.ready = true
	if !i.cfg.Exec {
		i.conn.Close()
	}
	// An exec'd process keeps the socket (close-on-exec): the runtime waits
	// for its end-of-file, so a failure between here and execve (a late
	// seccomp load, rlimits, execve itself) still reaches it.
	return nil
}

// newTimeNamespace unshares a time namespace for this thread's children
// and its next execve, with the configured offsets: offsets can only be
// written before any process is inside.
func newTimeNamespace(offsets map[string]specs.LinuxTimeOffset) error {
	if err := unix.Unshare(unix.CLONE_NEWTIME); err != nil {
		return fmt.Errorf("linux.namespaces: unshare time namespace: %w", err)
	}
	if len(offsets) == 0 {
		return nil
	}
	var b strings.Builder
	for clock, off := range offsets {
		fmt.Fprintf(&b, "%s %d %d\n", clock, off.Secs, off.Nanosecs)
	}
	// /proc/self is the thread group leader: the main thread, which is the
	// thread we are locked to and that unshared.
	path := filepath.Join("/proc/self", "timens_offsets")
	if err := os.WriteFile(path, []byte(b.String()), 0); err != nil {
		return fmt.Errorf("linux.timeOffsets: %w", err)
	}
	return nil
}
