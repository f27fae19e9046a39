// Package container is the runtime side of every operation on a
// container: create, start, kill, delete, state, run.
package container

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/nsrun/nsrun/libcontainer/cgroups"
	"github.com/nsrun/nsrun/libcontainer/config"
	"github.com/nsrun/nsrun/libcontainer/console"
	"github.com/nsrun/nsrun/libcontainer/hooks"
	"github.com/nsrun/nsrun/libcontainer/namespaces"
	"github.com/nsrun/nsrun/libcontainer/protocol"
	"github.com/nsrun/nsrun/libcontainer/seccomp"
	"github.com/nsrun/nsrun/libcontainer/state"
)

// CreateOptions are create's flags.
type CreateOptions struct {
	Root          state.Root
	ID            string
	Bundle        string
	ConsoleSocket string
	// ConsoleConn, instead of ConsoleSocket: an already connected socket
	// that receives the pty master (foreground `run` with a terminal).
	ConsoleConn  *os.File
	PidFile      string
	NoPivot      bool
	NoNewKeyring bool
	PreserveFds  int
	// Spec, when set, is the already loaded config.json of Bundle.
	Spec *specs.Spec

	// beforeSpawn, when set, runs right before the init is spawned (run
	// waits there for its signal handlers).
	beforeSpawn func()
	// keepLocked: Create returns with the state directory still locked, in
	// Created.dir (run starts the container under the same lock).
	keepLocked bool
}

// Created is a container after a successful create; the runtime process
// that made it is the init's parent until it exits.
type Created struct {
	State *state.State
	init  *spawned
	// dir is the locked state directory with CreateOptions.keepLocked.
	dir *state.Container
}

// Create sets a container up to the point where only the user program
// remains to run. On any error the host is left as before: no init, no
// cgroup, no state directory.
func Create(o *CreateOptions) (*Created, error) {
	bundle, err := filepath.Abs(o.Bundle)
	if err != nil {
		return nil, fmt.Errorf("bundle %s: %w", o.Bundle, err)
	}
	if err := state.ValidateID(o.ID); err != nil {
		return nil, err
	}
	spec := o.Spec
	if spec == nil {
		if spec, err = config.Load(bundle); err != nil {
			return nil, err
		}
	}
	if spec.Linux == nil {
		return nil, errors.New("linux: section missing: nsrun only runs Linux containers")
	}
	plan, err := namespaces.NewPlan(spec.Linux.Namespaces)
	if err != nil {
		return nil, err
	}
	if err := seccomp.Validate(spec.Linux.Seccomp); err != nil {
		return nil, err
	}
	rootfs := spec.Root.Path
	if !filepath.IsAbs(rootfs) {
		rootfs = filepath.Join(bundle, rootfs)
	}
	if fi, err := os.Stat(rootfs); err != nil {
		return nil, fmt.Errorf("root.path: %w", err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("root.path: %s is not a directory", rootfs)
	}
	terminal := spec.Process != nil && spec.Process.Terminal
	if terminal && o.ConsoleSocket == "" && o.ConsoleConn == nil {
		return nil, errors.New("process.terminal is true: --console-socket is required (or run in the foreground)")
	}
	if !terminal && o.ConsoleSocket != "" {
		return nil, errors.New("--console-socket is only allowed with process.terminal true")
	}

	// Whatever the caller left open beyond stdio and --preserve-fds (the
	// shim's socket at fd 3, say) must not be inherited by the init, which
	// outlives us: the caller may be waiting for those to close.
	if err := unix.CloseRange(uint(3+o.PreserveFds), ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return nil, fmt.Errorf("mark inherited fds close-on-exec: %w", err)
	}
	dir, err := o.Root.Create(o.ID)
	if err != nil {
		return nil, err
	}
	cr := &creation{opts: o, spec: spec, plan: plan, dir: dir}
	st := &state.State{
		OCIVersion:  spec.Version,
		ID:          o.ID,
		Bundle:      bundle,
		Rootfs:      rootfs,
		Created:     time.Now().UTC(),
		Annotations: spec.Annotations,
		Status:      state.StatusCreating,
		HostMounts:  !plan.Has(specs.MountNamespace),
	}
	cr.st = st
	if st.HostMounts {
		if st.RootfsBaseMount, err = topMountID(rootfs); err != nil {
			dir.Remove()
			return nil, err
		}
	}
	created, err := cr.run()
	if err != nil {
		cr.undo()
		return nil, err
	}
	return created, nil
}

// creation holds what a create has made so far, to undo it on failure.
type creation struct {
	opts *CreateOptions
	spec *specs.Spec
	plan *namespaces.Plan
	dir  *state.Container
	st   *state.State
	cg   cgroups.Manager
	init *spawned
	// warnings from the init, logged once create succeeded (a failed
	// create logs exactly one line: podman parses the log as one object).
	warnings []string
}

func (cr *creation) undo() {
	if cr.init != nil {
		cr.init.kill()
	}
	if cr.st.HostMounts {
		unmountRootfs(cr.st.Rootfs, cr.st.RootfsBaseMount)
	}
	cr.plan.Close()
	if cr.cg != nil {
		if cr.init != nil {
			// Whatever the init forked goes with it.
			if err := cr.cg.KillAll(); err != nil {
				logrus.Warnf("cleanup after failed create: %v", err)
			}
		}
		if err := cr.cg.Destroy(); err != nil {
			logrus.Warnf("cleanup after failed create: %v", err)
		}
	}
	if err := cr.dir.Remove(); err != nil {
		logrus.Warnf("cleanup after failed create: %v", err)
	}
}

func (cr *creation) run() (*Created, error) {
	spec, st := cr.spec, cr.st
	cg, err := cgroups.New(spec.Linux.CgroupsPath, st.ID)
	if err != nil {
		return nil, err
	}
	// Saved before the cgroups are made, with the directories they will
	// be, so that `delete --force` can clean up after a create that was
	// killed half way, even inside cg.Create. The next write records what
	// Create actually did.
	st.Cgroups = cgroups.Planned(cg.Record())
	if err := cr.dir.Save(st); err != nil {
		return nil, err
	}
	if err := cg.Create(cgroupResources(spec)); err != nil {
		// Create removes what it made itself.
		return nil, err
	}
	cr.cg = cg
	st.Cgroups = cg.Record()

	fifoPath := cr.dir.Path(state.FifoName)
	if err := unix.Mkfifo(fifoPath, 0o622); err != nil {
		return nil, fmt.Errorf("create exec fifo: %w", err)
	}
	// Writable by the container's user, whoever that is on the host; the
	// umask would take that away.
	if err := os.Chmod(fifoPath, 0o622); err != nil {
		return nil, fmt.Errorf("create exec fifo: %w", err)
	}
	fifo, err := os.OpenFile(fifoPath, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open exec fifo: %w", err)
	}
	defer fifo.Close()

	if err := cr.plan.Open(); err != nil {
		return nil, err
	}
	defer cr.plan.Close()
	tasks, unified, err := cg.PlacementFiles()
	if err != nil {
		return nil, err
	}
	defer closeAll(tasks)
	if unified != nil {
		defer unified.Close()
	}
	consoleFd, err := cr.consoleSocket()
	if err != nil {
		return nil, err
	}
	if consoleFd != nil {
		defer consoleFd.Close()
	}

	req := &spawnRequest{
		Plan:      cr.plan,
		UIDMaps:   spec.Linux.UIDMappings,
		GIDMaps:   spec.Linux.GIDMappings,
		Dir:       st.Bundle,
		Stdio:     []*os.File{os.Stdin, os.Stdout, os.Stderr},
		Preserved: preservedFiles(cr.opts.PreserveFds),
		Tasks:     tasks,
		CgroupDir: unified,
		Fifo:      fifo,
		ConsoleFd: consoleFd,
	}
	if cr.opts.beforeSpawn != nil {
		cr.opts.beforeSpawn()
	}
	init, err := spawn(req)
	if err != nil {
		return nil, err
	}
	cr.init = init
	st.Pid = init.pid
	if st.InitStartTime, err = StartTime(init.pid); err != nil {
		return nil, fmt.Errorf("read init start time: %w", err)
	}
	// The config snapshot (for the poststart/poststop hooks) is encoded now,
	// while the init starts up, rather than before the first write: that
	// one only needs the cgroup record, for a delete --force after a
	// create that died.
	if err := st.SetSpec(spec); err != nil {
		return nil, err
	}
	if len(st.Config) > 4<<20 {
		// A config of many MiB is copied several times over from here on
		// (state file, init message): keep the collector close behind,
		// rather than let the heap grow to twice what is live.
		debug.SetGCPercent(10)
	}
	if err := cr.dir.Save(st); err != nil {
		return nil, err
	}

	cfg := &protocol.InitConfig{
		Spec:            spec,
		Bundle:          st.Bundle,
		Rootfs:          st.Rootfs,
		NoPivot:         cr.opts.NoPivot,
		NoNewKeyring:    cr.opts.NoNewKeyring,
		UserNS:          cr.plan.Has(specs.UserNamespace),
		NewTimeNS:       cr.plan.New&unix.CLONE_NEWTIME != 0,
		NewCgroupNS:     cr.plan.New&unix.CLONE_NEWCGROUP != 0,
		HostMountNS:     !cr.plan.Has(specs.MountNamespace),
		CgroupPaths:     st.Cgroups.Paths,
		FifoFd:          init.cfgFds.fifo,
		ConsoleSocketFd: init.cfgFds.console,
		PreserveFds:     cr.opts.PreserveFds,
		State:           ociState(st, specs.StateCreating),
	}
	if err := init.conn.Send(&protocol.Message{Type: protocol.TypeConfig, Config: cfg}); err != nil {
		return nil, initDied(err)
	}
	if err := cr.serveInit(); err != nil {
		return nil, initDied(err)
	}
	st.Status = state.StatusCreated
	if err := cr.dir.Save(st); err != nil {
		return nil, err
	}
	if cr.opts.PidFile != "" {
		if err := writePidFile(cr.opts.PidFile, st.Pid); err != nil {
			return nil, err
		}
	}
	init.conn.Close()
	for _, w := range cr.warnings {
		logrus.Warn(w)
	}
	if cr.opts.keepLocked {
		return &Created{State: st, init: init, dir: cr.dir}, nil
	}
	cr.dir.Unlock()
	return &Created{State: st, init: init}, nil
}

// initDied words the socket errors of an init that died during setup (it
// had not read what we sent: ECONNRESET; or is gone: EPIPE).
func initDied(err error) error {
	if errors.Is(err, unix.ECONNRESET) || errors.Is(err, unix.EPIPE) {
		return fmt.Errorf("container init exited during setup (%v)", err)
	}
	return err
}

// serveInit answers the init until it reports ready.
func (cr *creation) serveInit() error {
	m, err := cr.init.serveUntilReady("container init", cr.spec.Linux.Seccomp, ociState(cr.st, specs.StateCreating), cr.runCreateHooks)
	if err != nil {
		return err
	}
	cr.warnings = m.Warnings
	return nil
}

// runCreateHooks runs prestart and createRuntime, at the init's request.
// prestart hooks were defined (runtime-spec 1.0) to run once the container
// is created: they see "created", as the validation suite checks;
// createRuntime sees "creating".
func (cr *creation) runCreateHooks() error {
	if err := runHooks("prestart", cr.spec.Hooks, ociState(cr.st, specs.StateCreated)); err != nil {
		return err
	}
	return runHooks("createRuntime", cr.spec.Hooks, ociState(cr.st, specs.StateCreating))
}

// forwardSeccompFd hands a seccomp notify fd that the init (or an exec'd
// process) sent, with the container state, to the agent at
// linux.seccomp.listenerPath, and tells the sender it may go on.
// pid is the process that installed the filter (the init, or the exec'd
// process: an agent inspects that one), st.Pid stays the init's.
func forwardSeccompFd(conn *protocol.Conn, fd *os.File, sc *specs.LinuxSeccomp, st *specs.State, pid int) error {
	if fd == nil {
		return errors.New("protocol: seccompFd message without an fd")
	}
	defer fd.Close()
	if sc == nil || sc.ListenerPath == "" {
		return errors.New("linux.seccomp.listenerPath: a notify fd arrived without a listener")
	}
	if err := seccomp.SendListener(sc.ListenerPath, sc.ListenerMetadata, fd, st, pid); err != nil {
		return err
	}
	return conn.Send(&protocol.Message{Type: protocol.TypeSeccompDone})
}

// consoleSocket connects to --console-socket here, on the host, because
// after pivot_root the init cannot reach that path.
func (cr *creation) consoleSocket() (*os.File, error) {
	if cr.opts.ConsoleConn != nil {
		return cr.opts.ConsoleConn, nil
	}
	if cr.opts.ConsoleSocket == "" {
		return nil, nil
	}
	f, err := console.Connect(cr.opts.ConsoleSocket)
	if err != nil {
		return nil, fmt.Errorf("--console-socket: %w", err)
	}
	return f, nil
}

// preservedFiles wraps fds 3..3+n-1, which pass to the container as is.
func preservedFiles(n int) []*os.File {
	var files []*os.File
	for i := 0; i < n; i++ {
		files = append(files, os.NewFile(uintptr(3+i), "preserved-fd-"+strconv.Itoa(3+i)))
	}
	return files
}

func closeAll(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}

// writePidFile writes the pid atomically, without a newline (what
// containerd and conmon parse).
func writePidFile(path string, pid int) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("--pid-file: %w", err)
	}
	return state.WriteFileAtomic(abs, []byte(strconv.Itoa(pid)), 0o644)
}

// ociState is the state handed to hooks and printed by `nsrun state`.
func ociState(st *state.State, status specs.ContainerState) *specs.State {
	return &specs.State{
		Version:     specs.Version,
		ID:          st.ID,
		Status:      status,
		Pid:         st.Pid,
		Bundle:      st.Bundle,
		Annotations: st.Annotations,
	}
}

func runHooks(name string, h *specs.Hooks, s *specs.State) error {
	if h == nil {
		return nil
	}
	var list []specs.Hook
	switch name {
	case "prestart":
		list = h.Prestart //nolint:staticcheck // deprecated in the spec, still honoured
	case "createRuntime":
		list = h.CreateRuntime
	case "poststart":
		// A failing poststart or poststop hook only warns: the others
		// still run.
		return hooks.RunAll(name, h.Poststart, s)
	case "poststop":
		return hooks.RunAll(name, h.Poststop, s)
	}
	return hooks.Run(name, list, s)
}
