package container

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/nsrun/nsrun/libcontainer/cgroups"
	"github.com/nsrun/nsrun/libcontainer/config"
	"github.com/nsrun/nsrun/libcontainer/console"
	"github.com/nsrun/nsrun/libcontainer/namespaces"
	"github.com/nsrun/nsrun/libcontainer/procattr"
	"github.com/nsrun/nsrun/libcontainer/protocol"
	"github.com/nsrun/nsrun/libcontainer/rootfs"
	"github.com/nsrun/nsrun/libcontainer/state"
)

// ExecOptions are exec's flags, already turned into the process to run.
type ExecOptions struct {
	Root state.Root
	ID   string
	// Process is the process to start; nil means BuildProcess's result is
	// not known yet (the caller builds it with the container's defaults).
	Process *specs.Process
	// Overrides, when Process is nil, adjust the container's own process
	// settings (see ProcessOverrides.Apply).
	Overrides     *ProcessOverrides
	Detach        bool
	PidFile       string
	ConsoleSocket string
	PreserveFds   int
	// Cgroup is --cgroup: only the container's own cgroup is supported.
	Cgroup       string
	IgnorePaused bool
}

// ProcessOverrides are exec's flags that change the process inherited from
// the container's config.
type ProcessOverrides struct {
	Args           []string
	Cwd            string
	Env            []string
	User           string // user[:group]: ids, or names in the container
	AdditionalGids []uint32
	Caps           []string
	NoNewPrivs     bool
	Apparmor       string
	ProcessLabel   string
	Terminal       bool
}

// Apply starts from the container's process (env, cwd, user, capabilities,
// rlimits, ...) as runc does, and changes what the flags name. open reads a
// file of the container (its /etc/passwd and /etc/group, for user and group
// names); nil allows numeric ids only.
func (o *ProcessOverrides) Apply(base *specs.Process, open func(name string) (*os.File, error)) (*specs.Process, error) {
	p := &specs.Process{Cwd: "/"}
	if base != nil {
		cp := *base
		p = &cp
		// The copy must not share slices the overrides append to.
		p.Env = append([]string(nil), base.Env...)
		if base.Capabilities != nil {
			caps := *base.Capabilities
			p.Capabilities = &caps
		}
	}
	p.Args = o.Args
	p.Terminal = o.Terminal
	p.ConsoleSize = nil
	if o.Cwd != "" {
		p.Cwd = o.Cwd
	}
	for _, kv := range o.Env {
		p.Env = setEnv(p.Env, kv)
	}
	if o.User != "" {
		uid, gid, err := resolveUser(o.User, open)
		if err != nil {
			return nil, err
		}
		p.User.UID, p.User.GID = uid, gid
		p.User.Username = ""
	}
	if len(o.AdditionalGids) > 0 {
		p.User.AdditionalGids = o.AdditionalGids
	}
	if len(o.Caps) > 0 {
		if p.Capabilities == nil {
			p.Capabilities = &specs.LinuxCapabilities{}
		}
		// A copy: appending must not write into the snapshot's arrays.
		c := *p.Capabilities
		for _, name := range o.Caps {
			name = strings.ToUpper(name)
			if !strings.HasPrefix(name, "CAP_") {
				name = "CAP_" + name
			}
			// Every set, ambient included, so that a non-root -u keeps it
			// across execve (as runc's exec --cap does).
			c.Bounding = appendNew(c.Bounding, name)
			c.Effective = appendNew(c.Effective, name)
			c.Permitted = appendNew(c.Permitted, name)
			c.Inheritable = appendNew(c.Inheritable, name)
			c.Ambient = appendNew(c.Ambient, name)
		}
		p.Capabilities = &c
	}
	if o.NoNewPrivs {
		p.NoNewPrivileges = true
	}
	if o.Apparmor != "" {
		p.ApparmorProfile = o.Apparmor
	}
	if o.ProcessLabel != "" {
		p.SelinuxLabel = o.ProcessLabel
	}
	return p, nil
}

func appendNew(list []string, s string) []string {
	for _, have := range list {
		if have == s {
			return list
		}
	}
	return append(list[:len(list):len(list)], s)
}

// setEnv replaces the variable kv names, or appends it: a flag overrides
// the container's value instead of leaving two definitions.
func setEnv(env []string, kv string) []string {
	key, _, _ := strings.Cut(kv, "=")
	for i, have := range env {
		if k, _, _ := strings.Cut(have, "="); k == key {
			env[i] = kv
			return env
		}
	}
	return append(env, kv)
}

// resolveUser resolves -u user[:group]. Each side is a number, kept as it
// is (runc's uid[:gid]; the gid is 0 when absent), or a name, looked up in
// the container's /etc/passwd or /etc/group through open. A user name
// without a group takes the user's primary group from /etc/passwd.
func resolveUser(s string, open func(name string) (*os.File, error)) (uid, gid uint32, err error) {
	u, g, hasGroup := strings.Cut(s, ":")
	if u == "" || (hasGroup && g == "") {
		return 0, 0, fmt.Errorf("--user %q: expected user[:group] (uid[:gid], or names)", s)
	}
	if numeric(u) {
		if uid, err = parseID(u); err != nil {
			return 0, 0, fmt.Errorf("--user %q: expected uid[:gid] (numbers): %w", s, err)
		}
	} else {
		var found bool
		if err := lookupIn(open, "/etc/passwd", func(r io.Reader) (err error) {
			uid, gid, found, err = procattr.LookupUser(r, u)
			return err
		}); err != nil {
			return 0, 0, fmt.Errorf("exec: -u %q: %w", s, err)
		}
		if !found {
			return 0, 0, fmt.Errorf("exec: -u %q: no such user in the container's /etc/passwd", u)
		}
	}
	if !hasGroup {
		return uid, gid, nil
	}
	if numeric(g) {
		if gid, err = parseID(g); err != nil {
			return 0, 0, fmt.Errorf("--user %q: expected uid[:gid] (numbers): %w", s, err)
		}
		return uid, gid, nil
	}
	var found bool
	if err := lookupIn(open, "/etc/group", func(r io.Reader) (err error) {
		gid, found, err = procattr.LookupGroup(r, g)
		return err
	}); err != nil {
		return 0, 0, fmt.Errorf("exec: -u %q: %w", s, err)
	}
	if !found {
		return 0, 0, fmt.Errorf("exec: -u %q: no such group in the container's /etc/group", s)
	}
	return uid, gid, nil
}

// numeric reports whether s is all decimal digits: an id, never a name.
func numeric(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// parseID parses a uid or gid written the canonical way (no sign, no
// leading zeros).
func parseID(s string) (uint32, error) {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || strconv.FormatUint(n, 10) != s {
		return 0, fmt.Errorf("%q is not an id", s)
	}
	return uint32(n), nil
}

// lookupIn opens the container's file name and passes it to use.
func lookupIn(open func(name string) (*os.File, error), name string, use func(io.Reader) error) error {
	if open == nil {
		return errors.New("names need the container's " + name + "; give numeric ids")
	}
	f, err := open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := use(io.LimitReader(f, maxUserDB)); err != nil {
		return fmt.Errorf("read the container's %s: %w", name, err)
	}
	return nil
}

// maxUserDB bounds what nsrun reads of the container's /etc/passwd and
// /etc/group: the image, not nsrun, decides what they are.
const maxUserDB = 16 << 20

// openInContainer opens name (an absolute path in the container) for
// reading, resolved inside the container's root: /proc/<init>/root, the
// init's root in its own mount namespace, opened once and checked against
// a reused pid. RESOLVE_IN_ROOT keeps "..", absolute symlinks and the like
// inside it, and no /proc magic link is followed. Only a regular file is
// accepted (a FIFO planted by the image would block exec; O_NONBLOCK keeps
// the open itself from blocking).
func (e *execution) openInContainer(name string) (*os.File, error) {
	st := e.c.St
	if e.root == nil {
		fd, err := unix.Open(fmt.Sprintf("/proc/%d/root", st.Pid), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("open the container's root: %w", err)
		}
		e.root = os.NewFile(uintptr(fd), "container-root")
		if !alive(st.Pid, st.InitStartTime) {
			return nil, errors.New("container not running")
		}
	}
	f, err := rootfs.OpenAt2(e.root, strings.TrimPrefix(name, "/"), unix.O_RDONLY|unix.O_NOCTTY|unix.O_NONBLOCK,
		unix.RESOLVE_IN_ROOT|unix.RESOLVE_NO_MAGICLINKS)
	if err != nil {
		return nil, fmt.Errorf("the container's %s: %w", name, err)
	}
	var sb unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &sb); err != nil {
		f.Close()
		return nil, fmt.Errorf("the container's %s: %w", name, err)
	}
	if sb.Mode&unix.S_IFMT != unix.S_IFREG {
		f.Close()
		return nil, fmt.Errorf("the container's %s is not a regular file", name)
	}
	if sb.Size > maxUserDB {
		f.Close()
		return nil, fmt.Errorf("the container's %s is larger than %d bytes", name, maxUserDB)
	}
	return f, nil
}

// execution is one exec in progress.
type execution struct {
	opts    *ExecOptions
	c       *Container
	spec    *specs.Spec // the container's config snapshot
	proc    *specs.Process
	plan    *namespaces.Plan
	init    *spawned
	console *os.File // receiving end for a foreground terminal
	// term is our own terminal, raw while we proxy a foreground one.
	term *hostTerminal
	// master is the pty master of a foreground terminal.
	master *os.File
	// root is the container's root directory, opened for user lookups.
	root *os.File
	// unlocked: the state directory's lock is released.
	unlocked bool
}

// Exec runs a new process in a running container. Detached, it returns 0
// once the process runs; in the foreground, the process's exit status
// (128+N when killed by signal N). An error means the process never ran.
func Exec(o *ExecOptions) (int, error) {
	if o.Cgroup != "" && o.Cgroup != "/" && !strings.HasSuffix(o.Cgroup, ":/") {
		return -1, fmt.Errorf("--cgroup %q: nsrun only runs exec'd processes in the container's own cgroup", o.Cgroup)
	}
	// Caught before the process exists, so none is lost in between.
	sigs := make(chan os.Signal, 64)
	if !o.Detach {
		signal.Notify(sigs)
	}
	c, err := Open(o.Root, o.ID)
	if err != nil {
		return -1, err
	}
	e := &execution{opts: o, c: c}
	err = e.start()
	e.unlock()
	if e.plan != nil {
		e.plan.Close()
	}
	if e.root != nil {
		e.root.Close()
	}
	if e.console != nil {
		e.console.Close()
	}
	if e.master != nil {
		defer e.master.Close()
	}
	// Restored last (deferred first), after the output is drained.
	defer e.term.Restore()
	if err != nil {
		if e.init != nil {
			e.init.kill()
		}
		return -1, err
	}
	if o.Detach {
		return 0, nil
	}
	if e.master != nil {
		drain := e.term.proxy(e.master)
		defer drain()
	}
	// waitForwarding signals State.Pid: here the exec'd process, not the
	// container's init.
	proc := &Created{State: &state.State{Pid: e.init.pid}, init: e.init}
	return proc.waitForwarding(sigs, e.master), nil
}

// start checks the container, spawns the process in its namespaces and
// cgroups, and serves it until it reports ready.
func (e *execution) start() error {
	o, st := e.opts, e.c.St
	switch s := e.c.Status(); s {
	case specs.StateRunning, specs.StateCreated:
	case statePaused:
		if !o.IgnorePaused {
			return errors.New("container is paused (resume it, or pass --ignore-paused)")
		}
	case specs.StateStopped:
		return errors.New("container not running")
	default:
		return fmt.Errorf("container not running (%s)", s)
	}
	spec, err := st.Spec()
	if err != nil {
		return err
	}
	if spec == nil || spec.Linux == nil {
		return errors.New("state: the container has no config snapshot")
	}
	e.spec = spec
	if e.proc = o.Process; e.proc == nil {
		if o.Overrides == nil || len(o.Overrides.Args) == 0 {
			return errors.New("exec: a command (or --process) is required")
		}
		if e.proc, err = o.Overrides.Apply(spec.Process, e.openInContainer); err != nil {
			return err
		}
	}
	if err := config.ValidateProcess(e.proc, "process"); err != nil {
		return err
	}
	if e.proc.Terminal && o.ConsoleSocket == "" && o.Detach {
		return errors.New("--tty: --console-socket is required with --detach")
	}
	if !e.proc.Terminal && o.ConsoleSocket != "" {
		return errors.New("--console-socket is only allowed with a terminal (--tty or process.terminal)")
	}

	// The caller's own fds (beyond stdio and --preserve-fds) stay out of
	// the container.
	if err := unix.CloseRange(uint(3+o.PreserveFds), ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return fmt.Errorf("mark inherited fds close-on-exec: %w", err)
	}
	var types []specs.LinuxNamespaceType
	for _, ns := range spec.Linux.Namespaces {
		types = append(types, ns.Type)
	}
	e.plan = namespaces.ForProcess(st.Pid, types)
	if err := e.plan.Open(); err != nil {
		return fmt.Errorf("open the container's namespaces: %w", err)
	}
	// The namespaces were opened by /proc/<pid> path: if the init died and
	// its pid was reused meanwhile, they are someone else's.
	if !alive(st.Pid, st.InitStartTime) {
		return errors.New("container not running")
	}
	tasks, unified, err := cgroups.Load(st.Cgroups).PlacementFiles()
	if err != nil {
		return err
	}
	defer closeAll(tasks)
	if unified != nil {
		defer unified.Close()
	}
	consoleFd, err := e.consoleFd()
	if err != nil {
		return err
	}
	if consoleFd != nil {
		defer consoleFd.Close()
	}
	// The open namespace and cgroup files now pin what the process joins.
	// The lock goes before the spawn: a process entering a frozen cgroup
	// (--ignore-paused) waits for `resume`, which needs the lock.
	e.unlock()
	init, err := spawn(&spawnRequest{
		Plan:       e.plan,
		Dir:        "/",
		Stdio:      []*os.File{os.Stdin, os.Stdout, os.Stderr},
		Preserved:  preservedFiles(o.PreserveFds),
		Tasks:      tasks,
		CgroupDir:  unified,
		ConsoleFd:  consoleFd,
		ForceCPath: true,
	})
	if err != nil {
		return err
	}
	e.init = init
	if err := init.conn.Send(&protocol.Message{Type: protocol.TypeConfig, Config: e.initConfig()}); err != nil {
		return err
	}
	if err := e.serve(); err != nil {
		return err
	}
	if e.console != nil {
		// The process sent the master before ready: size the pty before
		// the program runs, so that it starts with our window's size.
		if e.master, _, err = console.ReceiveMaster(e.console); err != nil {
			return err
		}
		e.term.copySize(e.master)
	}
	// After ready the process keeps its end open until execve closes it:
	// end-of-file means the program runs, an error message that it never
	// will (and the pid file must not name it).
	switch m, err := init.conn.Recv(); {
	case errors.Is(err, protocol.ErrClosed):
	case err != nil:
		return err
	case m.Type == protocol.TypeError:
		return errors.New(m.Message)
	default:
		return fmt.Errorf("protocol: unexpected %q message after ready", m.Type)
	}
	init.conn.Close()
	if o.PidFile != "" {
		if err := writePidFile(o.PidFile, init.pid); err != nil {
			return err
		}
	}
	return nil
}

// unlock releases the container's lock, once.
func (e *execution) unlock() {
	if !e.unlocked {
		e.unlocked = true
		e.c.Close()
	}
}

// initConfig is what the init needs for a process: no rootfs, no hooks.
func (e *execution) initConfig() *protocol.InitConfig {
	st := e.c.St
	spec := &specs.Spec{
		Version: e.spec.Version,
		Process: e.proc,
		Linux: &specs.Linux{
			Seccomp:     e.spec.Linux.Seccomp,
			Personality: e.spec.Linux.Personality,
		},
	}
	return &protocol.InitConfig{
		Spec:            spec,
		Bundle:          st.Bundle,
		Rootfs:          st.Rootfs,
		Exec:            true,
		UserNS:          e.plan.Has(specs.UserNamespace),
		HostMountNS:     st.HostMounts,
		FifoFd:          -1,
		ConsoleSocketFd: e.init.cfgFds.console,
		PreserveFds:     e.opts.PreserveFds,
		State:           ociState(st, specs.StateRunning),
	}
}

// consoleFd is the socket the init sends the pty master to: the caller's
// --console-socket, or for a foreground terminal one end of a pair whose
// other end we proxy.
func (e *execution) consoleFd() (*os.File, error) {
	if !e.proc.Terminal {
		return nil, nil
	}
	if e.opts.ConsoleSocket != "" {
		f, err := console.Connect(e.opts.ConsoleSocket)
		if err != nil {
			return nil, fmt.Errorf("--console-socket: %w", err)
		}
		return f, nil
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("console socketpair: %w", err)
	}
	e.console = os.NewFile(uintptr(fds[0]), "console-recv")
	// Raw before the process exists: what is typed from now on reaches
	// its terminal, not ours (see rawStdin).
	e.term = rawStdin()
	return os.NewFile(uintptr(fds[1]), "console-send"), nil
}

// serve answers the process until it reports ready.
func (e *execution) serve() error {
	m, err := e.init.serveUntilReady("exec'd process", e.spec.Linux.Seccomp, ociState(e.c.St, specs.StateRunning), nil)
	if err != nil {
		return err
	}
	for _, w := range m.Warnings {
		logrus.Warn(w)
	}
	return nil
}
