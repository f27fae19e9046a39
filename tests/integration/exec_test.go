package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// startExecTarget runs a detached container that sleeps, and returns its ID
// and init pid; the test's cleanup deletes it.
func startExecTarget(t *testing.T, b *bundle) (string, int) {
	t.Helper()
	if len(b.Spec.Process.Args) == 0 {
		b.Spec.Process.Args = []string{"sleep", "60"}
	}
	b.write()
	id := newID(t)
	b.cleanup(id)
	mustOK(t, b.nsrun("run", "-d", "-b", b.Dir, id), "run -d")
	pid := int(b.state(id)["pid"].(float64))
	t.Cleanup(func() { reap(pid) })
	return id, pid
}

func newExecTarget(t *testing.T) (*bundle, string, int) {
	b := newBundle(t)
	id, pid := startExecTarget(t, b)
	return b, id, pid
}

func TestExecExitCodeAndStdout(t *testing.T) {
	b, id, _ := newExecTarget(t)
	r := b.nsrun("exec", id, "sh", "-c", "echo hello; echo err >&2; exit 7")
	if r.Code != 7 || r.Stdout != "hello\n" || !strings.Contains(r.Stderr, "err") {
		t.Fatalf("exec: code %d stdout %q stderr %q", r.Code, r.Stdout, r.Stderr)
	}
	// Flags of the command itself stay with the command.
	r = b.nsrun("exec", id, "ls", "-d", "/proc")
	mustOK(t, r, "exec ls -d")
	if r.Stdout != "/proc\n" {
		t.Fatalf("exec ls -d /proc: %q", r.Stdout)
	}
}

func TestExecKilledBySignal(t *testing.T) {
	b, id, _ := newExecTarget(t)
	r := b.nsrun("exec", id, "sh", "-c", "kill -TERM $$")
	if r.Code != 128+15 {
		t.Fatalf("exec killed by SIGTERM: code %d stderr %q", r.Code, r.Stderr)
	}
}

func TestExecInheritsAndOverrides(t *testing.T) {
	b := newBundle(t)
	b.Spec.Process.Env = append(b.Spec.Process.Env, "FROM_CONFIG=yes", "OVERRIDDEN=old")
	b.Spec.Process.Cwd = "/tmp"
	id, _ := startExecTarget(t, b)

	r := b.nsrun("exec", id, "sh", "-c", `echo "$FROM_CONFIG $OVERRIDDEN"; pwd; id -u; id -g`)
	mustOK(t, r, "exec")
	if got := strings.Fields(r.Stdout); strings.Join(got, " ") != "yes old /tmp 0 0" {
		t.Fatalf("inherited settings: %q", r.Stdout)
	}
	r = b.nsrun("exec", "--cwd", "/proc", "-e", "OVERRIDDEN=new", "-e", "EXTRA=1", "-u", "1000:1001",
		"-g", "2000", "-g", "2001", id, "sh", "-c", `echo "$FROM_CONFIG $OVERRIDDEN $EXTRA"; pwd; id -u; id -g; id -G`)
	mustOK(t, r, "exec with flags")
	want := "yes new 1 /proc 1000 1001 1001 2000 2001"
	if got := strings.Join(strings.Fields(r.Stdout), " "); got != want {
		t.Fatalf("flags: got %q, want %q", got, want)
	}
}

func TestExecProcessJSON(t *testing.T) {
	b, id, _ := newExecTarget(t)
	p := specs.Process{
		Args: []string{"sh", "-c", "echo $ONLY; pwd; id -u; exit 3"},
		Env:  []string{"PATH=/bin", "ONLY=json"},
		Cwd:  "/dev",
		User: specs.User{UID: 65534, GID: 65534},
	}
	data, _ := json.Marshal(p)
	path := filepath.Join(t.TempDir(), "process.json")
	os.WriteFile(path, data, 0o644)
	r := b.nsrun("exec", "--process", path, id)
	if r.Code != 3 || strings.Join(strings.Fields(r.Stdout), " ") != "json /dev 65534" {
		t.Fatalf("exec --process: code %d stdout %q stderr %q", r.Code, r.Stdout, r.Stderr)
	}
	// An invalid process file is refused before anything runs.
	os.WriteFile(path, []byte(`{"args":[],"cwd":"rel"}`), 0o644)
	r = b.nsrun("exec", "--process", path, id)
	if r.Code != 255 || !strings.Contains(r.Stderr, "args") {
		t.Fatalf("invalid --process: code %d stderr %q", r.Code, r.Stderr)
	}
}

func TestExecJoinsUserNamespaceAndAll(t *testing.T) {
	b := newBundle(t)
	withUserNS(b.Spec)
	id, pid := startExecTarget(t, b)
	names := []string{"user", "mnt", "pid", "net", "ipc", "uts"}
	script := "cat /proc/self/uid_map"
	for _, n := range names {
		script += "; readlink /proc/self/ns/" + n
	}
	r := b.nsrun("exec", id, "sh", "-c", script)
	mustOK(t, r, "exec")
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	if len(lines) != 1+len(names) {
		t.Fatalf("output: %q", r.Stdout)
	}
	if f := strings.Fields(lines[0]); strings.Join(f, " ") != "0 100000 65536" {
		t.Fatalf("uid_map in exec: %q", lines[0])
	}
	for i, n := range names {
		if want := nsInode(t, fmt.Sprintf("/proc/%d/ns/%s", pid, n)); lines[1+i] != want {
			t.Errorf("%s namespace: exec %s, init %s", n, lines[1+i], want)
		}
	}
}

func TestExecDetachPidFileAndCgroup(t *testing.T) {
	b, id, initPid := newExecTarget(t)
	pidFile := filepath.Join(t.TempDir(), "exec.pid")
	r := b.nsrun("exec", "-d", "--pid-file", pidFile, id, "sleep", "30")
	mustOK(t, r, "exec -d")
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(string(data), "\n ") {
		t.Fatalf("pid file %q has whitespace", data)
	}
	pid, err := strconv.Atoi(string(data))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(pid, syscall.SIGKILL)
		waitFor(t, func() bool { reap(pid); return processDead(pid) })
	})
	if processDead(pid) {
		t.Fatalf("exec'd process %d not running", pid)
	}
	want, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", initPid))
	got, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if string(got) != string(want) || len(got) == 0 {
		t.Fatalf("cgroups of exec'd process:\n%s\ninit's:\n%s", got, want)
	}
	if ns, wantNS := nsInode(t, fmt.Sprintf("/proc/%d/ns/pid", pid)), nsInode(t, fmt.Sprintf("/proc/%d/ns/pid", initPid)); ns != wantNS {
		t.Fatalf("pid namespace %s, init's %s", ns, wantNS)
	}
	// The container's ps sees it.
	r = b.nsrun("ps", "-f", "json", id)
	mustOK(t, r, "ps")
	if !strings.Contains(r.Stdout, strconv.Itoa(pid)) {
		t.Fatalf("ps %s does not list %d", r.Stdout, pid)
	}
}

func TestExecStoppedContainerFails(t *testing.T) {
	b := newBundle(t, "true")
	b.write()
	id := newID(t)
	b.cleanup(id)
	mustOK(t, b.nsrun("run", "--keep", "-b", b.Dir, id), "run --keep")
	r := b.nsrun("exec", id, "true")
	if r.Code != 255 || !strings.Contains(r.Stderr, "not running") {
		t.Fatalf("exec into stopped: code %d stderr %q", r.Code, r.Stderr)
	}
	r = b.nsrun("exec", "no-such-container", "true")
	if r.Code != 255 || !strings.Contains(r.Stderr, "does not exist") {
		t.Fatalf("exec into missing: code %d stderr %q", r.Code, r.Stderr)
	}
}

func TestExecPausedContainer(t *testing.T) {
	b := newBundle(t)
	// A path of this run only: a second test run must not land in the
	// cgroup this one freezes.
	b.Spec.Linux.CgroupsPath = fmt.Sprintf("/nsrun-it-exec-%d/%s", os.Getpid(), t.Name())
	id, _ := startExecTarget(t, b)
	mustOK(t, b.nsrun("pause", id), "pause")
	r := b.nsrun("exec", id, "true")
	if r.Code != 255 || !strings.Contains(r.Stderr, "paused") {
		t.Fatalf("exec into paused: code %d stderr %q", r.Code, r.Stderr)
	}
	// With --ignore-paused the process enters the frozen cgroup and runs
	// once the container is resumed.
	cmd := exec.Command(nsrunBin, "--root", b.Root, "exec", "--ignore-paused", id, "sh", "-c", "exit 5")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		t.Fatalf("exec --ignore-paused finished while frozen: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	mustOK(t, b.nsrun("resume", id), "resume")
	select {
	case <-done:
		if cmd.ProcessState.ExitCode() != 5 {
			t.Fatalf("exec --ignore-paused: %v", cmd.ProcessState)
		}
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatal("exec --ignore-paused did not finish after resume")
	}
}

func TestExecInheritsCapabilitiesAndNoNewPrivs(t *testing.T) {
	b := newBundle(t)
	b.Spec.Process.NoNewPrivileges = true
	id, pid := startExecTarget(t, b)
	initStatus, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	r := b.nsrun("exec", id, "cat", "/proc/self/status")
	mustOK(t, r, "exec")
	for _, f := range []string{"CapEff", "CapPrm", "CapBnd", "CapInh", "CapAmb", "NoNewPrivs", "Seccomp"} {
		if got, want := statusField(r.Stdout, f), statusField(string(initStatus), f); got != want || got == "" {
			t.Errorf("%s: exec %q, init %q", f, got, want)
		}
	}
	if statusField(r.Stdout, "NoNewPrivs") != "1" {
		t.Errorf("NoNewPrivs not inherited")
	}
	// --cap adds to the container's sets: CAP_SYS_ADMIN is bit 21.
	r = b.nsrun("exec", "--cap", "CAP_SYS_ADMIN", id, "cat", "/proc/self/status")
	mustOK(t, r, "exec --cap")
	eff, _ := strconv.ParseUint(statusField(r.Stdout, "CapEff"), 16, 64)
	base, _ := strconv.ParseUint(statusField(string(initStatus), "CapEff"), 16, 64)
	if eff != base|1<<21 {
		t.Fatalf("CapEff with --cap CAP_SYS_ADMIN: %x, want %x", eff, base|1<<21)
	}
}

func TestExecNoNewPrivsFlag(t *testing.T) {
	b, id, _ := newExecTarget(t)
	r := b.nsrun("exec", "--no-new-privs", id, "grep", "NoNewPrivs", "/proc/self/status")
	mustOK(t, r, "exec --no-new-privs")
	if statusField(r.Stdout, "NoNewPrivs") != "1" {
		t.Fatalf("--no-new-privs: %q", r.Stdout)
	}
}

func TestExecRejectsOtherCgroup(t *testing.T) {
	b, id, _ := newExecTarget(t)
	r := b.nsrun("exec", "--cgroup", "sub", id, "true")
	if r.Code != 255 || !strings.Contains(r.Stderr, "--cgroup") {
		t.Fatalf("exec --cgroup sub: code %d stderr %q", r.Code, r.Stderr)
	}
	mustOK(t, b.nsrun("exec", "--cgroup", "/", id, "true"), "exec --cgroup /")
}

func TestExecMissingExecutable(t *testing.T) {
	b, id, _ := newExecTarget(t)
	r := b.nsrun("exec", id, "/no/such/program")
	if r.Code != 255 || !strings.Contains(r.Stderr, "no such file or directory") {
		t.Fatalf("exec of a missing program: code %d stderr %q", r.Code, r.Stderr)
	}
}

func TestExecTTYConsoleSocket(t *testing.T) {
	b, id, _ := newExecTarget(t)
	sock, ch := consoleReceiver(t)
	pidFile := filepath.Join(t.TempDir(), "exec.pid")
	r := b.nsrun("exec", "-t", "-d", "--console-socket", sock, "--pid-file", pidFile, id, "sh", "-c", "tty; echo done; sleep 5")
	mustOK(t, r, "exec -t -d --console-socket")
	data, _ := os.ReadFile(pidFile)
	if pid, err := strconv.Atoi(string(data)); err == nil {
		t.Cleanup(func() {
			syscall.Kill(pid, syscall.SIGKILL)
			waitFor(t, func() bool { reap(pid); return processDead(pid) })
		})
	}
	var master *os.File
	select {
	case master = <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("no console received")
	}
	if master == nil {
		t.FailNow()
	}
	defer master.Close()
	var out strings.Builder
	buf := make([]byte, 1024)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), "done") && time.Now().Before(deadline) {
		master.SetReadDeadline(time.Now().Add(time.Second))
		n, _ := master.Read(buf)
		out.Write(buf[:n])
	}
	// The container has no terminal of its own: the exec'd process gets
	// the first pty of the container's devpts.
	if got := strings.ReplaceAll(out.String(), "\r", ""); !strings.Contains(got, "/dev/pts/0\n") {
		t.Fatalf("tty of exec'd process: %q", got)
	}
}

func TestExecTTYNeedsConsoleSocketWhenDetached(t *testing.T) {
	b, id, _ := newExecTarget(t)
	r := b.nsrun("exec", "-t", "-d", id, "true")
	if r.Code != 255 || !strings.Contains(r.Stderr, "--console-socket") {
		t.Fatalf("exec -t -d: code %d stderr %q", r.Code, r.Stderr)
	}
}

// TestDeleteForceWithUnreapedExecZombie: an exec'd process whose nsrun
// exited is re-parented to the caller's subreaper (here the test; for
// containerd its shim). Killed and not yet reaped, it holds the container's
// PID namespace open, and the killed init waits in the kernel until the
// caller reaps it. delete --force must not wait for that (the caller may be
// waiting for delete): the init has left its cgroups, so delete completes.
func TestDeleteForceWithUnreapedExecZombie(t *testing.T) {
	b, id, initPid := newExecTarget(t)
	pidFile := filepath.Join(t.TempDir(), "exec.pid")
	mustOK(t, b.nsrun("exec", "-d", "--pid-file", pidFile, id, "sleep", "100"), "exec -d")
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(string(data))
	if err != nil {
		t.Fatalf("pid file %q: %v", data, err)
	}
	syscall.Kill(pid, syscall.SIGKILL)
	waitFor(t, func() bool { return procState(pid) == "Z" })
	start := time.Now()
	r := b.nsrun("delete", "--force", id)
	took := time.Since(start)
	mustOK(t, r, "delete --force with a zombie of the caller in the namespace")
	assertNoTrace(t, b.Root, id)
	if took > 5*time.Second {
		t.Errorf("delete --force took %v", took)
	}
	reap(pid)
	waitFor(t, func() bool { reap(initPid); return processDead(initPid) })
}
