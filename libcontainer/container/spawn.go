package container

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nsrun/nsrun/libcontainer/namespaces"
	"github.com/nsrun/nsrun/libcontainer/nsenter"
	"github.com/nsrun/nsrun/libcontainer/protocol"
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
	cmd  *exec.Cmd
	conn *protocol.Conn
	// pid of the init: cmd's pid, or the pid of the process the C
	// constructor forked into the PID namespace.
	pid int
	// forked: pid is not cmd.Process but its CLONE_PARENT sibling.
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

	cmd := &exec.Cmd{
		Path: "/proc/self/exe",
		Args: []string{"nsrun", "init"},
		Dir:  req.Dir,
		// The init's environment is only the bootstrap; the user program
		// gets process.env.
		Env:         nil,
		SysProcAttr: &syscall.SysProcAttr{},
	}
	if len(req.Stdio) == 3 {
		cmd.Stdin, cmd.Stdout, cmd.Stderr = req.Stdio[0], req.Stdio[1], req.Stdio[2]
	}
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
		cmd.SysProcAttr.Cloneflags = plan.New & clonedNow
		if plan.New&unix.CLONE_NEWUSER != 0 {
			cmd.SysProcAttr.UidMappings = idMaps(req.UIDMaps)
			cmd.SysProcAttr.GidMappings = idMaps(req.GIDMaps)
			cmd.SysProcAttr.GidMappingsEnableSetgroups = true
			// Become root of the new user namespace before the execve of
			// the init: otherwise the init runs as the unmapped host root,
			// and execve drops every capability it has in the namespace.
			cmd.SysProcAttr.Credential = &syscall.Credential{Uid: 0, Gid: 0}
		}
	}
	if unshareLater != 0 {
		boot = append(boot, "unshare="+strconv.Itoa(int(unshareLater)))
	}
	if req.CgroupDir != nil {
		cmd.SysProcAttr.UseCgroupFD = true
		cmd.SysProcAttr.CgroupFD = int(req.CgroupDir.Fd())
	}
	cmd.ExtraFiles = files
	// The init lives for milliseconds before execve (or parks, small): a
	// garbage collection there is pure cost.
	cmd.Env = []string{nsenter.Env + "=" + strings.Join(boot, ";"), "GOGC=off", "GOMAXPROCS=1"}

	if err := cmd.Start(); err != nil {
		parentSock.Close()
		return nil, fmt.Errorf("start init: %w", err)
	}
	sp.cmd = cmd
	sp.pid = cmd.Process.Pid
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
		if err := writeIDMaps(sp.cmd.Process.Pid, req.UIDMaps, req.GIDMaps); err != nil {
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
		if err := sp.cmd.Wait(); err != nil {
			return fmt.Errorf("init (intermediate): %w", err)
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

// kill ends the init (and the intermediate, if still there) and reaps it.
func (sp *spawned) kill() {
	if sp.cmd.ProcessState == nil {
		sp.cmd.Process.Kill()
		sp.cmd.Wait()
	}
	if sp.forked && sp.pid != sp.cmd.Process.Pid {
		unix.Kill(sp.pid, unix.SIGKILL)
		sp.wait()
	}
	if sp.conn != nil {
		sp.conn.Close()
	}
}

// wait reaps the init and returns its wait status.
func (sp *spawned) wait() (unix.WaitStatus, error) {
	if !sp.forked {
		err := sp.cmd.Wait()
		if sp.cmd.ProcessState != nil {
			return unix.WaitStatus(sp.cmd.ProcessState.Sys().(syscall.WaitStatus)), nil
		}
		return 0, err
	}
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(sp.pid, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		return ws, err
	}
}
