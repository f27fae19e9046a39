package seccomp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// Loading a filter cannot be undone, so every test that loads one does it in
// a fresh copy of the test binary: the parent re-executes itself with
// childEnv naming a scenario, and TestSeccompChild runs it.
const (
	childEnv    = "NSRUN_SECCOMP_TEST_CHILD"
	childDirEnv = "NSRUN_SECCOMP_TEST_DIR"
	childSocket = "NSRUN_SECCOMP_TEST_SOCKET"
	notifyReply = 4242
	notifyMeta  = "agent-metadata"
)

func u(v uint) *uint { return &v }

func TestSeccompChild(t *testing.T) {
	scenario := os.Getenv(childEnv)
	if scenario == "" {
		t.Skip("only runs as a re-executed child")
	}
	// The filter must only ever be loaded into this throw-away process,
	// and the result is reported through the exit status.
	runtime.LockOSThread()
	var err error
	switch scenario {
	case "rules":
		err = childRules(os.Getenv(childDirEnv))
	case "kill":
		err = childKill()
	case "notify":
		err = childNotify(os.Getenv(childSocket))
	case "allowlist":
		err = childAllowlist(os.Getenv(childDirEnv))
	case "clone3":
		err = childClone3()
	default:
		err = fmt.Errorf("unknown scenario %q", scenario)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(2)
	}
	os.Exit(0)
}

// prepareChild makes the child able to load a filter without CAP_SYS_ADMIN
// and keeps a SIGSYS kill from writing a core file.
func prepareChild() error {
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("set no_new_privs: %w", err)
	}
	return unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{})
}

func runChild(t *testing.T, scenario string, env ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestSeccompChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), append([]string{childEnv + "=" + scenario}, env...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	return cmd, &out
}

func expectErrno(what string, err error, want syscall.Errno) error {
	if !errors.Is(err, want) {
		return fmt.Errorf("%s: got %v, want errno %d (%v)", what, err, int(want), want)
	}
	return nil
}

func rawErrno(nr uintptr) (uintptr, syscall.Errno) {
	r, _, e := unix.RawSyscall(nr, 0, 0, 0)
	return r, e
}

func threadSeccompMode() (string, error) {
	data, err := os.ReadFile("/proc/thread-self/status")
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "Seccomp:"); ok {
			return strings.TrimSpace(v), nil
		}
	}
	return "", errors.New("no Seccomp line in /proc/thread-self/status")
}

func rulesConfig() *specs.LinuxSeccomp {
	cfg := &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Flags:         []specs.LinuxSeccompFlag{flagTsync, specs.LinuxSeccompFlagLog, specs.LinuxSeccompFlagSpecAllow},
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"getcwd"}, Action: specs.ActErrno, ErrnoRet: u(42)},
			// Sticky bit requested: mask 0o1000 must equal 0o1000.
			{Names: []string{"mkdirat"}, Action: specs.ActErrno, ErrnoRet: u(43), Args: []specs.LinuxSeccompArg{
				{Index: 2, Value: 0o1000, ValueTwo: 0o1000, Op: specs.OpMaskedEqual},
			}},
			// Same argument twice: alternatives.
			{Names: []string{"fchmodat"}, Action: specs.ActErrno, ErrnoRet: u(44), Args: []specs.LinuxSeccompArg{
				{Index: 2, Value: 0o700, Op: specs.OpEqualTo},
				{Index: 2, Value: 0o600, Op: specs.OpEqualTo},
			}},
			// The default action: skipped, or libseccomp would refuse it.
			{Names: []string{"getpid"}, Action: specs.ActAllow},
			// An unknown name is skipped, the known one still filtered.
			{Names: []string{"no_such_syscall_here", "getppid"}, Action: specs.ActErrno, ErrnoRet: u(45)},
			// Different arguments: both must hold.
			{Names: []string{"fchownat"}, Action: specs.ActErrno, ErrnoRet: u(46), Args: []specs.LinuxSeccompArg{
				{Index: 2, Value: 1234, Op: specs.OpEqualTo},
				{Index: 3, Value: 5678, Op: specs.OpEqualTo},
			}},
			// 64-bit comparison: only the high half differs from 0o755.
			{Names: []string{"fchmod"}, Action: specs.ActErrno, ErrnoRet: u(47), Args: []specs.LinuxSeccompArg{
				{Index: 1, Value: 1<<32 | 0o755, Op: specs.OpEqualTo},
			}},
		},
	}
	if runtime.GOARCH == "amd64" {
		cfg.Architectures = []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32}
	}
	return cfg
}

func childRules(dir string) error {
	if err := prepareChild(); err != nil {
		return err
	}
	// A second OS thread, running before the filter exists, must get it
	// too (TSYNC).
	check, report := make(chan struct{}), make(chan string)
	go func() {
		runtime.LockOSThread()
		<-check
		mode, err := threadSeccompMode()
		if err != nil {
			mode = err.Error()
		}
		report <- mode
	}()

	fd, err := Load(rulesConfig())
	if err != nil {
		return err
	}
	if fd != nil {
		return errors.New("Load returned a notify fd without SCMP_ACT_NOTIFY")
	}
	check <- struct{}{}
	if mode := <-report; mode != "2" {
		return fmt.Errorf("other thread: Seccomp mode %q, want 2 (filter)", mode)
	}

	if _, err := unix.Getcwd(make([]byte, 4096)); err != nil {
		if e := expectErrno("getcwd", err, 42); e != nil {
			return e
		}
	} else {
		return errors.New("getcwd succeeded")
	}
	if e := expectErrno("mkdirat 01755", unix.Mkdirat(unix.AT_FDCWD, filepath.Join(dir, "sticky"), 0o1755), 43); e != nil {
		return e
	}
	plain := filepath.Join(dir, "plain")
	if err := unix.Mkdirat(unix.AT_FDCWD, plain, 0o755); err != nil {
		return fmt.Errorf("mkdirat 0755: %w", err)
	}
	for _, mode := range []uint32{0o700, 0o600} {
		if e := expectErrno(fmt.Sprintf("fchmodat %o", mode), unix.Fchmodat(unix.AT_FDCWD, plain, mode, 0), 44); e != nil {
			return e
		}
	}
	if err := unix.Fchmodat(unix.AT_FDCWD, plain, 0o750, 0); err != nil {
		return fmt.Errorf("fchmodat 0750: %w", err)
	}
	if _, e := rawErrno(unix.SYS_GETPPID); e != 45 {
		return fmt.Errorf("getppid: errno %d, want 45", int(e))
	}
	if r, e := rawErrno(unix.SYS_GETPID); e != 0 || int(r) != os.Getpid() {
		return fmt.Errorf("getpid: %d errno %d", r, int(e))
	}
	// Only one of the two conditions holds: the rule must not match
	// (a non-root run may still get EPERM from the kernel).
	if err := unix.Fchownat(unix.AT_FDCWD, plain, 1234, 0, 0); errors.Is(err, syscall.Errno(46)) {
		return fmt.Errorf("fchownat 1234:0 matched a rule needing both arguments")
	}
	if e := expectErrno("fchownat 1234:5678", unix.Fchownat(unix.AT_FDCWD, plain, 1234, 5678, 0), 46); e != nil {
		return e
	}
	f, err := os.Open(plain)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, _, e := unix.RawSyscall(unix.SYS_FCHMOD, f.Fd(), 1<<32|0o755, 0); e != 47 {
		return fmt.Errorf("fchmod with high bits: errno %d, want 47", int(e))
	}
	if _, _, e := unix.RawSyscall(unix.SYS_FCHMOD, f.Fd(), 0o755, 0); e != 0 {
		return fmt.Errorf("fchmod 0755: errno %d, want success", int(e))
	}
	return nil
}

func childKill() error {
	if err := prepareChild(); err != nil {
		return err
	}
	_, err := Load(&specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls:      []specs.LinuxSyscall{{Names: []string{"uname"}, Action: specs.ActKillProcess}},
	})
	if err != nil {
		return err
	}
	var uts unix.Utsname
	err = unix.Uname(&uts)
	return fmt.Errorf("uname returned (%v) instead of killing the process", err)
}

func childNotify(socket string) error {
	if err := prepareChild(); err != nil {
		return err
	}
	fd, err := Load(&specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		ListenerPath:  socket,
		Syscalls:      []specs.LinuxSyscall{{Names: []string{"getppid"}, Action: specs.ActNotify}},
	})
	if err != nil {
		return err
	}
	if fd == nil {
		return errors.New("Load returned no notify fd")
	}
	st := &specs.State{Version: specs.Version, ID: "seccomp-test", Status: specs.StateCreating, Pid: os.Getpid(), Bundle: "/bundle"}
	if err := SendListener(socket, notifyMeta, fd, st, os.Getpid()); err != nil {
		return err
	}
	fd.Close()
	// The agent answers in place of the kernel.
	if r, e := rawErrno(unix.SYS_GETPPID); e != 0 || r != notifyReply {
		return fmt.Errorf("getppid: %d errno %d, want the agent's %d", r, int(e), notifyReply)
	}
	return nil
}

func TestLoadRules(t *testing.T) {
	cmd, out := runChild(t, "rules", childDirEnv+"="+t.TempDir())
	if err := cmd.Run(); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

// childAllowlist loads a profile shaped like Docker's: default ERRNO and
// one ALLOW rule per syscall, long enough for the binary-tree layout, and
// checks the Go runtime keeps working under it.
func childAllowlist(dir string) error {
	if err := prepareChild(); err != nil {
		return err
	}
	cfg := &specs.LinuxSeccomp{DefaultAction: specs.ActErrno}
	if runtime.GOARCH == "amd64" {
		cfg.Architectures = []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32}
	}
	for nr := 0; nr < 1024; nr++ {
		name, err := libseccomp.ScmpSyscall(nr).GetName()
		if err != nil || name == "getcwd" {
			continue
		}
		cfg.Syscalls = append(cfg.Syscalls, specs.LinuxSyscall{Names: []string{name}, Action: specs.ActAllow})
	}
	if len(cfg.Syscalls) <= optimizeAbove {
		return fmt.Errorf("only %d syscalls named", len(cfg.Syscalls))
	}
	if _, err := Load(cfg); err != nil {
		return err
	}
	if _, err := unix.Getcwd(make([]byte, 4096)); !errors.Is(err, unix.EPERM) {
		return fmt.Errorf("getcwd: %v, want EPERM from the default action", err)
	}
	// Goroutines, allocation, files: the runtime still works.
	done := make(chan error)
	go func() { done <- os.WriteFile(filepath.Join(dir, "f"), make([]byte, 1<<20), 0o600) }()
	if err := <-done; err != nil {
		return err
	}
	runtime.GC()
	return nil
}

func TestLoadAllowlist(t *testing.T) {
	cmd, out := runChild(t, "allowlist", childDirEnv+"="+t.TempDir())
	if err := cmd.Run(); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

// childClone3 loads a profile that predates clone3 (default ERRNO, clone
// and the rest allowed): clone3 must fail with ENOSYS, not the default
// EPERM, so that thread creation falls back to clone; and a profile that
// names clone3 keeps its own answer.
func childClone3() error {
	if err := prepareChild(); err != nil {
		return err
	}
	cfg := &specs.LinuxSeccomp{DefaultAction: specs.ActErrno}
	for nr := 0; nr < 1024; nr++ {
		name, err := libseccomp.ScmpSyscall(nr).GetName()
		if err != nil || name == "clone3" || name == "getcwd" {
			continue
		}
		cfg.Syscalls = append(cfg.Syscalls, specs.LinuxSyscall{Names: []string{name}, Action: specs.ActAllow})
	}
	cfg.Syscalls = append(cfg.Syscalls, specs.LinuxSyscall{Names: []string{"getcwd"}, Action: specs.ActErrno, ErrnoRet: u(uint(unix.EACCES))})
	if _, err := Load(cfg); err != nil {
		return err
	}
	// clone3 with a NULL argument: ENOSYS from the filter, or EFAULT had
	// the call reached the kernel.
	if _, e := rawErrno(unix.SYS_CLONE3); e != unix.ENOSYS {
		return fmt.Errorf("clone3: errno %d (%v), want ENOSYS", int(e), e)
	}
	if _, err := unix.Getcwd(make([]byte, 64)); !errors.Is(err, unix.EACCES) {
		return fmt.Errorf("getcwd: %v, want the profile's EACCES", err)
	}
	// New threads still come (Go's runtime, started via clone here).
	done := make(chan struct{})
	for i := 0; i < 8; i++ {
		go func() {
			runtime.LockOSThread()
			done <- struct{}{}
			select {}
		}()
	}
	for i := 0; i < 8; i++ {
		<-done
	}
	return nil
}

func TestLoadClone3Fallback(t *testing.T) {
	cmd, out := runChild(t, "clone3")
	if err := cmd.Run(); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

func TestLoadKillProcess(t *testing.T) {
	cmd, out := runChild(t, "kill")
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("child was not killed: %v\n%s", err, out)
	}
	ws := ee.Sys().(syscall.WaitStatus)
	if !ws.Signaled() || ws.Signal() != unix.SIGSYS {
		t.Fatalf("child ended with %v, want killed by SIGSYS\n%s", ws, out)
	}
}

// TestLoadNotify plays the seccomp agent: it receives the listener from
// SendListener, reads the child's notification and answers it.
func TestLoadNotify(t *testing.T) {
	socket := filepath.Join(t.TempDir(), "agent.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: socket, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()

	cmd, out := runChild(t, "notify", childSocket+"="+socket)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := false
	defer func() {
		if !waited {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()

	if err := ln.SetDeadline(time.Now().Add(20 * time.Second)); err != nil {
		t.Fatal(err)
	}
	conn, err := ln.AcceptUnix()
	if err != nil {
		t.Fatalf("accept: %v\n%s", err, out)
	}
	defer conn.Close()
	state, listener := readListenerMessage(t, conn)
	defer listener.Close()

	if state.Version != specs.Version || len(state.Fds) != 1 || state.Fds[0] != specs.SeccompFdName ||
		state.Pid != cmd.Process.Pid || state.Metadata != notifyMeta || state.State.ID != "seccomp-test" {
		t.Fatalf("container process state: %+v", state)
	}

	// Do not block forever in the receive if the child failed early.
	pfd := []unix.PollFd{{Fd: int32(listener.Fd()), Events: unix.POLLIN}}
	if n, err := unix.Poll(pfd, 20000); err != nil || n != 1 || pfd[0].Revents&unix.POLLIN == 0 {
		t.Fatalf("no notification (poll %d %v revents %#x)\n%s", n, err, pfd[0].Revents, out)
	}
	scmpFd := libseccomp.ScmpFd(listener.Fd())
	req, err := libseccomp.NotifReceive(scmpFd)
	if err != nil {
		t.Fatalf("NotifReceive: %v", err)
	}
	name, err := req.Data.Syscall.GetNameByArch(req.Data.Arch)
	// req.Pid is the id of the calling thread, which need not be the
	// child's main thread.
	_, terr := os.Stat(fmt.Sprintf("/proc/%d/task/%d", cmd.Process.Pid, req.Pid))
	if err != nil || name != "getppid" || terr != nil {
		t.Fatalf("notification for %q (%v) from thread %d (%v), want getppid from a thread of %d",
			name, err, req.Pid, terr, cmd.Process.Pid)
	}
	if err := libseccomp.NotifRespond(scmpFd, &libseccomp.ScmpNotifResp{ID: req.ID, Val: notifyReply}); err != nil {
		t.Fatalf("NotifRespond: %v", err)
	}
	waited = true
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

// readListenerMessage reads one connection's worth of listener message
// and returns the decoded state and the fd that came with it.
func readListenerMessage(t *testing.T, conn *net.UnixConn) (specs.ContainerProcessState, *os.File) {
	t.Helper()
	var state specs.ContainerProcessState
	var data []byte
	var fds []int
	buf, oob := make([]byte, 4096), make([]byte, unix.CmsgSpace(4*4))
	for {
		n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
		if oobn > 0 {
			msgs, perr := unix.ParseSocketControlMessage(oob[:oobn])
			if perr != nil {
				t.Fatal(perr)
			}
			for _, m := range msgs {
				got, perr := unix.ParseUnixRights(&m)
				if perr != nil {
					t.Fatal(perr)
				}
				fds = append(fds, got...)
			}
		}
		data = append(data, buf[:n]...)
		if err != nil || n == 0 {
			break
		}
	}
	if len(fds) != 1 {
		for _, fd := range fds {
			unix.Close(fd)
		}
		t.Fatalf("got %d fds with the message, want 1", len(fds))
	}
	listener := os.NewFile(uintptr(fds[0]), "seccomp-listener")
	if err := json.Unmarshal(data, &state); err != nil {
		listener.Close()
		t.Fatalf("decode %q: %v", data, err)
	}
	return state, listener
}
