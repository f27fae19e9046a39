package container

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/nsrun/nsrun/libcontainer/namespaces"
	"github.com/nsrun/nsrun/libcontainer/nsenter"
	"github.com/nsrun/nsrun/libcontainer/protocol"
	"github.com/nsrun/nsrun/libcontainer/selfexe"
)

// spawnRequest is what it takes to start an init (or an exec'd process).
type spawnRequest struct {
	Plan       *namespaces.Plan
	UIDMaps    []specs.LinuxIDMapping
	GIDMaps    []specs.LinuxIDMapping
	Dir        string // the init's cwd (the bundle)
	Stdio      []*os.File
	Preserved  []*os.File // become fds 3..3+N-1
	Tasks      []*os.File // cgroup v1 tasks files to move into
	CgroupDir  *os.File   // cgroup2 directory for CLONE_INTO_CGROUP
	Fifo       *os.File
	ConsoleFd  *os.File
	ForceCPath bool // join through the C constructor even without paths (exec)
}

// spawned is a started init.
type spawned struct {
	// child is the process we started; exited once it was reaped.
	child  int
	exited bool
	status unix.WaitStatus
	conn   *protocol.Conn
	// pid of the init: child, or the pid of the process the C constructor
	// forked into the PID namespace.
	pid int
	// forked: pid is not child but its CLONE_PARENT sibling.
	forked bool
	cfgFds struct{ fifo, console int }
}

// clonedNow are the namespaces that the one clone of the runtime creates.
// The cgroup namespace waits for the cgroup move (its root must be the
// container's cgroup) and the time namespace for its offsets: both are
// created later, by the init.
const clonedNow = unix.CLONE_NEWPID | unix.CLONE_NEWNET | unix.CLONE_NEWNS |
	unix.CLONE_NEWIPC | unix.CLONE_NEWUTS | unix.CLONE_NEWUSER

// spawn starts `nsrun init` and, when the C constructor joins namespaces,
// answers its requests (id maps, forked pid). The caller sends the config.
func spawn(req *spawnRequest) (*spawned, error) {
	parentSock, childSock, err := protocol.NewPair()
	if err != nil {
		return nil, err
	}
	defer childSock.Close()

	// syscall.ForkExec rather than os/exec: the first os.StartProcess of a
	// process checks that pidfds work, cloning a throw-away child for it
	// (~0.5 ms here), and we wait for the init with wait4 anyway.
	attr := &syscall.SysProcAttr{}
	stdio, closeStdio, err := stdioFds(req.Stdio)
	if err != nil {
		return nil, err
	}
	defer closeStdio()
	// fd layout: preserved fds first, at their own numbers.
	files := append([]*os.File{}, req.Preserved...)
	add := func(f *os.File) int {
		files = append(files, f)
		return 2 + len(files)
	}
	boot := []string{"sock=" + strconv.Itoa(add(childSock))}
	sp := &spawned{}
	sp.cfgFds.fifo, sp.cfgFds.console = -1, -1
	if req.Fifo != nil {
		sp.cfgFds.fifo = add(req.Fifo)
	}
	if req.ConsoleFd != nil {
		sp.cfgFds.console = add(req.ConsoleFd)
	}
	var tasks []string
	for _, t := range req.Tasks {
		tasks = append(tasks, strconv.Itoa(add(t)))
	}
	if len(tasks) > 0 {
		boot = append(boot, "tasks="+strings.Join(tasks, ","))
	}

	plan := req.Plan
	unshareLater := plan.New & unix.CLONE_NEWCGROUP
	cPath := req.ForceCPath || len(plan.Join) > 0
	if cPath {
		// Joining comes first, so every new namespace is created by the C
		// constructor after the joins (owned by the right user namespace).
		var joins []string
		for _, j := range plan.Join {
			flag, _ := namespaces.Flag(j.Type)
			joins = append(joins, fmt.Sprintf("%d:%d", flag, add(j.File)))
		}
		if len(joins) > 0 {
			boot = append(boot, "join="+strings.Join(joins, ","))
		}
		unshareLater |= plan.New & clonedNow
		if plan.Has(specs.PIDNamespace) {
			boot = append(boot, "fork=1")
			sp.forked = true
		}
	} else {
		attr.Cloneflags = plan.New & clonedNow
		if plan.New&unix.CLONE_NEWUSER != 0 {
			attr.UidMappings = idMaps(req.UIDMaps)
			attr.GidMappings = idMaps(req.GIDMaps)
			attr.GidMappingsEnableSetgroups = true
			// Become root of the new user namespace before the execve of
			// the init: otherwise the init runs as the unmapped host root,
			// and execve drops every capability it has in the namespace.
			attr.Credential = &syscall.Credential{Uid: 0, Gid: 0}
		}
	}
	if unshareLater != 0 {
		boot = append(boot, "unshare="+strconv.Itoa(int(unshareLater)))
	}
	if req.CgroupDir != nil {
		attr.UseCgroupFD = true
		attr.CgroupFD = int(req.CgroupDir.Fd())
	}
	// The helper runs from a handle on this binary that cannot be written
	// through (a read-only view or a sealed copy: selfexe,
	// docs/security.md), never from /proc/self/exe: it is what the
	// container reaches through the helper's /proc/<pid>/exe and through a
	// `#!/proc/self/exe` script the helper executes. It is one of the files
	// (ForkExec would reuse a free fd number for the stdio and files it
	// moves into place); the constructor closes it at once.
	exe, kind, err := selfexe.Open()
	if err != nil {
		parentSock.Close()
		return nil, fmt.Errorf("start init: %w", err)
	}
	defer exe.Close()
	exeFd := add(exe)
	boot = append(boot, "exe="+strconv.Itoa(exeFd))
	logrus.Debugf("init runs from a %s handle on the binary", kind)
	fds := append([]uintptr{}, stdio...)
	for _, f := range files {
		fds = append(fds, f.Fd())
	}
	// The init's environment is only the bootstrap; the user program gets
	// process.env. The init lives for milliseconds before execve (or parks,
	// small): a garbage collection there is pure cost.
	env := []string{nsenter.Env + "=" + strings.Join(boot, ";"), "GOGC=off", "GOMAXPROCS=1"}
	exePath := "/proc/self/fd/" + strconv.Itoa(exeFd)
	pid, err := syscall.ForkExec(exePath, []string{"nsrun", "init"}, &syscall.ProcAttr{
		Dir: req.Dir, Env: env, Files: fds, Sys: attr,
	})
	runtime.KeepAlive(files)
	runtime.KeepAlive(req.Stdio)
	if err != nil {
		parentSock.Close()
		return nil, fmt.Errorf("start init: fork/exec %s (%s handle on the binary): %w", exePath, kind, err)
	}
	sp.child, sp.pid = pid, pid
	sp.conn = protocol.NewConn(parentSock)
	if cPath {
		if err := sp.answerConstructor(unshareLater&unix.CLONE_NEWUSER != 0, req); err != nil {
			sp.kill()
			return nil, err
		}
	}
	return sp, nil
}

// answerConstructor serves the C constructor: it asks for id maps after
// unsharing a user namespace, and reports the pid it forked.
func (sp *spawned) answerConstructor(wantMaps bool, req *spawnRequest) error {
	if wantMaps {
		if _, err := sp.conn.Expect(protocol.TypeIDMap); err != nil {
			return fmt.Errorf("init: %w", err)
		}
		if err := writeIDMaps(sp.child, req.UIDMaps, req.GIDMaps); err != nil {
			return err
		}
		if err := sp.conn.Send(&protocol.Message{Type: protocol.TypeIDMapDone}); err != nil {
			return err
		}
	}
	if sp.forked {
		m, err := sp.conn.Expect(protocol.TypePid)
		if err != nil {
			return fmt.Errorf("init: %w", err)
		}
		// The intermediate process exits right after the report.
		if err := sp.reapChild(); err != nil {
			return fmt.Errorf("init (intermediate): %w", err)
		}
		if !sp.status.Exited() || sp.status.ExitStatus() != 0 {
			return fmt.Errorf("init (intermediate): %s", describeStatus(sp.status))
		}
		sp.pid = m.Pid
	}
	return nil
}

func idMaps(m []specs.LinuxIDMapping) []syscall.SysProcIDMap {
	out := make([]syscall.SysProcIDMap, 0, len(m))
	for _, e := range m {
		out = append(out, syscall.SysProcIDMap{ContainerID: int(e.ContainerID), HostID: int(e.HostID), Size: int(e.Size)})
	}
	return out
}

func formatMaps(m []specs.LinuxIDMapping) []byte {
	var b strings.Builder
	for _, e := range m {
		fmt.Fprintf(&b, "%d %d %d\n", e.ContainerID, e.HostID, e.Size)
	}
	return []byte(b.String())
}

func writeIDMaps(pid int, uids, gids []specs.LinuxIDMapping) error {
	if len(uids) > 0 {
		if err := os.WriteFile(fmt.Sprintf("/proc/%d/uid_map", pid), formatMaps(uids), 0); err != nil {
			return fmt.Errorf("linux.uidMappings: write uid_map: %w", err)
		}
	}
	if len(gids) > 0 {
		if err := os.WriteFile(fmt.Sprintf("/proc/%d/gid_map", pid), formatMaps(gids), 0); err != nil {
			return fmt.Errorf("linux.gidMappings: write gid_map: %w", err)
		}
	}
	return nil
}

// stdioFds returns the fds for the init's stdin, stdout and stderr: the
// given files, or /dev/null for a missing one (as os/exec does).
func stdioFds(stdio []*os.File) ([]uintptr, func(), error) {
	var opened []*os.File
	closeAll := func() {
		for _, f := range opened {
			f.Close()
		}
	}
	fds := make([]uintptr, 3)
	for i := range fds {
		if i < len(stdio) && stdio[i] != nil {
			fds[i] = stdio[i].Fd()
			continue
		}
		f, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("start init: %w", err)
		}
		opened = append(opened, f)
		fds[i] = f.Fd()
	}
	return fds, closeAll, nil
}

// reapChild waits for the process we started.
func (sp *spawned) reapChild() error {
	if sp.exited {
		return nil
	}
	ws, err := wait4(sp.child)
	if err != nil {
		return err
	}
	sp.exited, sp.status = true, ws
	return nil
}

// wait4 waits for pid, retrying EINTR.
func wait4(pid int) (unix.WaitStatus, error) {
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(pid, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("wait for %d: %w", pid, err)
		}
		return ws, nil
	}
}

// describeStatus words a wait status like os.ProcessState does.
func describeStatus(ws unix.WaitStatus) string {
	switch {
	case ws.Exited():
		return "exit status " + strconv.Itoa(ws.ExitStatus())
	case ws.Signaled():
		return "signal: " + ws.Signal().String()
	}
	return fmt.Sprintf("wait status %#x", uint32(ws))
}

// kill ends the init (and the intermediate, if still there) and reaps it.
func (sp *spawned) kill() {
	if !sp.exited {
		unix.Kill(sp.child, unix.SIGKILL)
		sp.reapChild()
	}
	if sp.forked && sp.pid != sp.child {
		unix.Kill(sp.pid, unix.SIGKILL)
		sp.wait()
	}
	if sp.conn != nil {
		sp.conn.Close()
	}
}

// wait reaps the init and returns its wait status.
func (sp *spawned) wait() (unix.WaitStatus, error) {
	if sp.pid == sp.child {
		err := sp.reapChild()
		return sp.status, err
	}
	return wait4(sp.pid)
}

// serveUntilReady answers the requests of the init (or an exec'd process)
// until it reports ready, and returns that message. what names the process
// in errors; hooks, when set, serves a "hooks" request.
func (sp *spawned) serveUntilReady(what string, sc *specs.LinuxSeccomp, st *specs.State, hooks func() error) (*protocol.Message, error) {
	for {
		m, err := sp.conn.Recv()
		if err != nil {
			if errors.Is(err, protocol.ErrClosed) {
				return nil, fmt.Errorf("%s exited during setup", what)
			}
			return nil, err
		}
		switch {
		case m.Type == protocol.TypeError:
			return nil, errors.New(m.Message)
		case m.Type == protocol.TypeReady:
			return m, nil
		case m.Type == protocol.TypeSeccompFd:
			if err := forwardSeccompFd(sp.conn, m.File, sc, st, sp.pid); err != nil {
				return nil, err
			}
		case m.Type == protocol.TypeHooks && hooks != nil:
			if err := hooks(); err != nil {
				return nil, err
			}
			if err := sp.conn.Send(&protocol.Message{Type: protocol.TypeHooksDone}); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("protocol: unexpected %q message from the %s", m.Type, what)
		}
	}
}
