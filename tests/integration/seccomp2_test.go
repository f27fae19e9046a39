package integration

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/nsrun/nsrun/tests/tools/testenv"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Every check here is made from inside a real container: what a busybox
// command prints, its exit status, or what an agent received.

var allX86 = []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32}

func uintp(v uint) *uint { return &v }

// allowExcept is a profile allowing everything but the given rules.
func allowExcept(rules ...specs.LinuxSyscall) *specs.LinuxSeccomp {
	return &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: allX86, Syscalls: rules}
}

// seccompRun runs script under prof and returns the result.
func seccompRun(t *testing.T, prof *specs.LinuxSeccomp, nnp bool, script string) result {
	t.Helper()
	b := newBundle(t, "sh", "-c", script)
	b.Spec.Process.NoNewPrivileges = nnp
	b.Spec.Linux.Seccomp = prof
	return b.run(newID(t))
}

func wantLines(t *testing.T, out string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Errorf("%q missing in output:\n%s", w, out)
		}
	}
}

var mkdirNames = []string{"mkdir", "mkdirat"}

// mkdirScript reports what mkdir did: its message, its status (128+N when
// a signal killed it) and whether the directory exists.
const mkdirScript = `mkdir /tmp/d 2>&1; echo "status=$?"; if test -d /tmp/d; then echo dir=made; else echo dir=absent; fi`

// TestSeccompActions: each action on mkdir, seen by the shell that ran it.
func TestSeccompActions(t *testing.T) {
	cases := []struct {
		name   string
		action specs.LinuxSeccompAction
		errno  *uint
		want   []string
	}{
		{"errno-default-EPERM", specs.ActErrno, nil, []string{"Operation not permitted", "status=1", "dir=absent"}},
		{"errno-ENOSYS", specs.ActErrno, uintp(38), []string{"Function not implemented", "status=1", "dir=absent"}},
		{"errno-EDQUOT", specs.ActErrno, uintp(122), []string{"Disk quota exceeded", "status=1", "dir=absent"}},
		{"kill", specs.ActKill, nil, []string{"status=159", "dir=absent"}},
		{"kill-thread", specs.ActKillThread, nil, []string{"status=159", "dir=absent"}},
		{"kill-process", specs.ActKillProcess, nil, []string{"status=159", "dir=absent"}},
		{"trap", specs.ActTrap, nil, []string{"status=159", "dir=absent"}},
		// No tracer is attached: the kernel fails the call with ENOSYS,
		// whatever errnoRet (the value for the tracer) says.
		{"trace-no-tracer", specs.ActTrace, uintp(1), []string{"Function not implemented", "status=1", "dir=absent"}},
		{"log", specs.ActLog, nil, []string{"status=0", "dir=made"}},
	}
	for _, c := range cases {
		for _, nnp := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/nnp=%v", c.name, nnp), func(t *testing.T) {
				prof := allowExcept(specs.LinuxSyscall{Names: mkdirNames, Action: c.action, ErrnoRet: c.errno})
				r := seccompRun(t, prof, nnp, mkdirScript+"; echo shell-survived")
				mustOK(t, r, "run")
				wantLines(t, r.Stdout, append(c.want, "shell-survived")...)
			})
		}
	}
}

// TestSeccompKillActionsExitCode: when the container's process itself is
// killed, `nsrun run` exits with 128+SIGSYS.
func TestSeccompKillActionsExitCode(t *testing.T) {
	for _, act := range []specs.LinuxSeccompAction{specs.ActKill, specs.ActKillThread, specs.ActKillProcess, specs.ActTrap} {
		t.Run(string(act), func(t *testing.T) {
			b := newBundle(t, "mkdir", "/tmp/d")
			b.Spec.Linux.Seccomp = allowExcept(specs.LinuxSyscall{Names: mkdirNames, Action: act})
			if r := b.run(newID(t)); r.Code != 128+31 {
				t.Fatalf("exit %d, want 159 (SIGSYS)\nstdout: %s\nstderr: %s", r.Code, r.Stdout, r.Stderr)
			}
		})
	}
}

// TestSeccompAllowDefaultWithDenies: under an allowing default only the
// listed calls fail, each with its own errno; a rule repeating the default
// action is accepted and changes nothing.
func TestSeccompAllowDefaultWithDenies(t *testing.T) {
	prof := allowExcept(
		specs.LinuxSyscall{Names: mkdirNames, Action: specs.ActErrno},
		specs.LinuxSyscall{Names: []string{"unlink", "unlinkat"}, Action: specs.ActErrno, ErrnoRet: uintp(16)}, // EBUSY
		specs.LinuxSyscall{Names: []string{"rename", "renameat", "renameat2"}, Action: specs.ActAllow},
	)
	r := seccompRun(t, prof, true, `mkdir /tmp/d 2>&1; touch /tmp/f && mv /tmp/f /tmp/g && echo mv-ok
rm /tmp/g 2>&1; ls /tmp; head -1 /etc/passwd; grep Seccomp: /proc/self/status`)
	mustOK(t, r, "run")
	wantLines(t, r.Stdout, "Operation not permitted", "mv-ok", "Device or resource busy", "g\n", "root:x:0:0", "Seccomp:\t2")
}

// TestSeccompArgOperators: one rule on kill(2)'s signal argument per
// operator; the shell sends a set of harmless signals to itself (pid 1
// ignores signals it has no handler for) and reports which were refused.
func TestSeccompArgOperators(t *testing.T) {
	sigs := []int{0, 17, 18, 23, 28}
	var script strings.Builder
	script.WriteString("echo pid=$$\n")
	for _, s := range sigs {
		fmt.Fprintf(&script, "if kill -%d $$ 2>/dev/null; then echo sig%d=ok; else echo sig%d=denied; fi\n", s, s, s)
	}
	cases := []struct {
		op       specs.LinuxSeccompOperator
		value    uint64
		valueTwo uint64
		refused  []int
	}{
		{specs.OpEqualTo, 18, 0, []int{18}},
		{specs.OpNotEqual, 18, 0, []int{0, 17, 23, 28}},
		{specs.OpLessThan, 18, 0, []int{0, 17}},
		{specs.OpLessEqual, 18, 0, []int{0, 17, 18}},
		{specs.OpGreaterEqual, 23, 0, []int{23, 28}},
		{specs.OpGreaterThan, 23, 0, []int{28}},
		// (sig & 3) == 1: only 17 (0b10001) among the signals sent.
		{specs.OpMaskedEqual, 3, 1, []int{17}},
	}
	for _, c := range cases {
		t.Run(string(c.op), func(t *testing.T) {
			prof := allowExcept(specs.LinuxSyscall{Names: []string{"kill"}, Action: specs.ActErrno,
				Args: []specs.LinuxSeccompArg{{Index: 1, Op: c.op, Value: c.value, ValueTwo: c.valueTwo}}})
			r := seccompRun(t, prof, true, script.String())
			mustOK(t, r, "run")
			wantLines(t, r.Stdout, "pid=1\n")
			for _, s := range sigs {
				want := "ok"
				if slices.Contains(c.refused, s) {
					want = "denied"
				}
				wantLines(t, r.Stdout, fmt.Sprintf("sig%d=%s\n", s, want))
			}
		})
	}
}

// TestSeccompArgMaskedOpenFlags: MASKED_EQ on the access mode of open
// flags refuses write-only opens (shell redirections) but not read-only or
// read-write ones (cat, touch).
func TestSeccompArgMaskedOpenFlags(t *testing.T) {
	const accMode, wrOnly = 3, 1 // O_ACCMODE, O_WRONLY
	enospc := uintp(28)
	prof := allowExcept(
		specs.LinuxSyscall{Names: []string{"open"}, Action: specs.ActErrno, ErrnoRet: enospc,
			Args: []specs.LinuxSeccompArg{{Index: 1, Op: specs.OpMaskedEqual, Value: accMode, ValueTwo: wrOnly}}},
		specs.LinuxSyscall{Names: []string{"openat"}, Action: specs.ActErrno, ErrnoRet: enospc,
			Args: []specs.LinuxSeccompArg{{Index: 2, Op: specs.OpMaskedEqual, Value: accMode, ValueTwo: wrOnly}}},
	)
	r := seccompRun(t, prof, true, `touch /tmp/rw && echo touch-ok
head -1 /etc/passwd
(echo x > /tmp/wo) 2>&1 || echo redirect-denied
ls /tmp`)
	mustOK(t, r, "run")
	wantLines(t, r.Stdout, "touch-ok", "root:x:0:0", "No space left on device", "redirect-denied", "rw\n")
	if strings.Contains(r.Stdout, "wo\n") {
		t.Errorf("write-only open went through:\n%s", r.Stdout)
	}
}

// TestSeccompArgsAndOr: conditions on different arguments must all hold;
// conditions on the same argument are alternatives (docs/seccomp.md).
func TestSeccompArgsAndOr(t *testing.T) {
	script := `kill -18 1 && echo pid1-sig18=ok || echo pid1-sig18=denied
kill -17 1 && echo pid1-sig17=ok || echo pid1-sig17=denied
kill -28 1 && echo pid1-sig28=ok || echo pid1-sig28=denied
sleep 30 & p=$!
kill -18 $p && echo other-sig18=ok || echo other-sig18=denied
kill -9 $p; wait`
	t.Run("and", func(t *testing.T) {
		prof := allowExcept(specs.LinuxSyscall{Names: []string{"kill"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{
			{Index: 0, Op: specs.OpEqualTo, Value: 1}, {Index: 1, Op: specs.OpEqualTo, Value: 18}}})
		r := seccompRun(t, prof, true, script)
		mustOK(t, r, "run")
		wantLines(t, r.Stdout, "pid1-sig18=denied", "pid1-sig17=ok", "pid1-sig28=ok", "other-sig18=ok")
	})
	t.Run("or", func(t *testing.T) {
		prof := allowExcept(specs.LinuxSyscall{Names: []string{"kill"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{
			{Index: 1, Op: specs.OpEqualTo, Value: 17}, {Index: 1, Op: specs.OpEqualTo, Value: 28}}})
		r := seccompRun(t, prof, true, script)
		mustOK(t, r, "run")
		wantLines(t, r.Stdout, "pid1-sig18=ok", "pid1-sig17=denied", "pid1-sig28=denied", "other-sig18=ok")
	})
}

// TestSeccompUnknownNameArchsFlags: an unknown syscall name is skipped (the
// other names of its entry still apply); the x86 architecture trio and the
// LOG and SPEC_ALLOW flags are accepted.
func TestSeccompUnknownNameArchsFlags(t *testing.T) {
	prof := allowExcept(specs.LinuxSyscall{Names: []string{"no_such_syscall_nsrun", "mkdir", "mkdirat"},
		Action: specs.ActErrno, ErrnoRet: uintp(38)})
	prof.Flags = []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagLog, specs.LinuxSeccompFlagSpecAllow}
	for _, nnp := range []bool{false, true} {
		r := seccompRun(t, prof, nnp, mkdirScript+"; grep Seccomp: /proc/self/status")
		mustOK(t, r, "run")
		wantLines(t, r.Stdout, "Function not implemented", "dir=absent", "Seccomp:\t2")
	}
}

// defaultShapedProfile loads testdata/seccomp-default-shaped.json: the
// shape of Docker's default profile in config.json form (an ERRNO default,
// a long allow list including names of other architectures and kernels,
// personality allowed for a few values, clone without namespace flags,
// clone3 answered ENOSYS), written for these tests.
func defaultShapedProfile(t *testing.T) *specs.LinuxSeccomp {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "tests", "integration", "testdata", "seccomp-default-shaped.json"))
	if err != nil {
		t.Fatal(err)
	}
	var p specs.LinuxSeccomp
	if err := json.Unmarshal(data, &p); err != nil {
		t.Fatal(err)
	}
	if n := len(p.Syscalls[0].Names); n < 300 {
		t.Fatalf("profile allows only %d names", n)
	}
	return &p
}

// withoutNames drops names from every entry of p.
func withoutNames(p *specs.LinuxSeccomp, drop ...string) {
	for i := range p.Syscalls {
		p.Syscalls[i].Names = slices.DeleteFunc(p.Syscalls[i].Names, func(n string) bool { return slices.Contains(drop, n) })
	}
}

const defaultShapedScript = `ls / >/dev/null && echo ls-ok
echo hello > /tmp/f && cat /tmp/f
mkdir /tmp/d && echo mkdir-ok
linux32 true && echo personality-ok
unshare -n true 2>&1 || echo unshare-refused
mount -t tmpfs none /mnt 2>&1 || echo mount-refused
grep Seccomp: /proc/self/status`

// TestSeccompDefaultShapedProfile: with CAP_SYS_ADMIN (so that only the
// filter can refuse), ordinary commands work while unshare and mount get
// EPERM; without the profile they succeed.
func TestSeccompDefaultShapedProfile(t *testing.T) {
	for _, nnp := range []bool{false, true} {
		b := newBundle(t, "sh", "-c", defaultShapedScript)
		addCap(b.Spec, "CAP_SYS_ADMIN")
		b.Spec.Process.NoNewPrivileges = nnp
		b.Spec.Mounts = append(b.Spec.Mounts, specs.Mount{Destination: "/mnt", Type: "tmpfs", Source: "tmpfs"})
		b.Spec.Linux.Seccomp = defaultShapedProfile(t)
		r := b.run(newID(t))
		mustOK(t, r, fmt.Sprintf("run nnp=%v", nnp))
		wantLines(t, r.Stdout, "ls-ok", "hello", "mkdir-ok", "personality-ok", "Operation not permitted",
			"unshare-refused", "mount-refused", "Seccomp:\t2")
	}
	// The control: the same commands without a filter.
	b := newBundle(t, "sh", "-c", defaultShapedScript)
	addCap(b.Spec, "CAP_SYS_ADMIN")
	b.Spec.Mounts = append(b.Spec.Mounts, specs.Mount{Destination: "/mnt", Type: "tmpfs", Source: "tmpfs"})
	r := b.run(newID(t))
	mustOK(t, r, "run without seccomp")
	wantLines(t, r.Stdout, "ls-ok", "mkdir-ok", "Seccomp:\t0")
	if strings.Contains(r.Stdout, "refused") {
		t.Errorf("refused without a filter:\n%s", r.Stdout)
	}
}

// TestSeccompDefaultErrnoRet: the errno of the default action is
// defaultErrnoRet, EPERM when unset.
func TestSeccompDefaultErrnoRet(t *testing.T) {
	for _, c := range []struct {
		ret  *uint
		want string
	}{{nil, "Operation not permitted"}, {uintp(122), "Disk quota exceeded"}} {
		prof := defaultShapedProfile(t)
		withoutNames(prof, mkdirNames...)
		prof.DefaultErrnoRet = c.ret
		r := seccompRun(t, prof, true, mkdirScript)
		mustOK(t, r, "run")
		wantLines(t, r.Stdout, c.want, "status=1", "dir=absent")
	}
}

func addCap(s *specs.Spec, c string) {
	caps := s.Process.Capabilities
	caps.Bounding = append(caps.Bounding, c)
	caps.Effective = append(caps.Effective, c)
	caps.Permitted = append(caps.Permitted, c)
}

// TestSeccompExec: processes started by `nsrun exec` get the container's
// filter, with and without --no-new-privs, and its kill action shows in
// exec's exit code.
func TestSeccompExec(t *testing.T) {
	b := newBundle(t, "sleep", "60")
	b.Spec.Linux.Seccomp = allowExcept(
		specs.LinuxSyscall{Names: mkdirNames, Action: specs.ActErrno, ErrnoRet: uintp(38)},
		specs.LinuxSyscall{Names: []string{"rmdir"}, Action: specs.ActKillProcess},
	)
	id, _ := startExecTarget(t, b)
	for _, extra := range [][]string{nil, {"--no-new-privs"}} {
		args := append(append([]string{"exec"}, extra...), id, "sh", "-c", mkdirScript+"; grep Seccomp: /proc/self/status")
		r := b.nsrun(args...)
		mustOK(t, r, "exec")
		wantLines(t, r.Stdout, "Function not implemented", "status=1", "dir=absent", "Seccomp:\t2")
	}
	if r := b.nsrun("exec", id, "rmdir", "/tmp"); r.Code != 159 {
		t.Fatalf("exec rmdir under KILL_PROCESS: exit %d, want 159\n%s", r.Code, r.Stderr)
	}
}

// seccompAgentBin builds tests/tools/seccompagent once per test binary, or
// uses $SECCOMPAGENT (where no Go toolchain runs the tests). Building needs
// cgo and libseccomp's headers, as nsrun does.
var seccompAgentBin = sync.OnceValues(func() (string, error) {
	if p := os.Getenv("SECCOMPAGENT"); p != "" {
		return filepath.Abs(p)
	}
	if _, err := exec.LookPath("go"); err != nil {
		return "", nil
	}
	out := filepath.Join(workDir, "seccompagent")
	cmd := exec.Command("go", "build", "-o", out, "./tests/tools/seccompagent")
	cmd.Dir = testenv.RepoRoot()
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build seccompagent: %v\n%s", err, b)
	}
	return out, nil
})

type agentRecord struct {
	Event   string                       `json:"event"`
	Fds     int                          `json:"fds"`
	State   *specs.ContainerProcessState `json:"state"`
	Syscall string                       `json:"syscall"`
	Answer  string                       `json:"answer"`
	Error   string                       `json:"error"`
}

// startAgent runs the agent on a socket in a fresh directory; it is killed
// at the end of the test. It returns the socket path and a reader of the
// records so far.
func startAgent(t *testing.T) (string, func() []agentRecord) {
	t.Helper()
	bin, err := seccompAgentBin()
	if err != nil {
		t.Fatal(err)
	}
	if bin == "" {
		t.Skip("no go command to build tests/tools/seccompagent; set $SECCOMPAGENT")
	}
	dir := t.TempDir()
	sock, logFile := filepath.Join(dir, "agent.sock"), filepath.Join(dir, "agent.log")
	cmd := exec.Command(bin, "-socket", sock, "-log", logFile)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	waitFor(t, fileExists(sock))
	return sock, func() []agentRecord {
		f, err := os.Open(logFile)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var recs []agentRecord
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var r agentRecord
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				t.Fatalf("agent record %q: %v", sc.Text(), err)
			}
			if r.Event == "error" || r.Error != "" {
				t.Errorf("agent error: %s", sc.Text())
			}
			recs = append(recs, r)
		}
		return recs
	}
}

// TestSeccompNotify: the agent at listenerPath receives the notify fd with
// the container process state, and its answers are what the container's
// mkdir (fake success, nothing made) and ln -s (EXDEV) return; an exec'd
// process hands over a listener of its own.
func TestSeccompNotify(t *testing.T) {
	sock, records := startAgent(t)
	const meta = "nsrun-it metadata: x=1"
	b := newBundle(t, "sh", "-c", "{ "+mkdirScript+`; ln -s x /tmp/l 2>&1; echo "ln=$?"; touch /tmp/t && echo touch-ok; }`+
		" > /out/res.tmp; mv /out/res.tmp /out/res; exec sleep 60")
	out := b.outDir()
	b.Spec.Linux.Seccomp = allowExcept(
		specs.LinuxSyscall{Names: append([]string{"symlink", "symlinkat"}, mkdirNames...), Action: specs.ActNotify})
	b.Spec.Linux.Seccomp.ListenerPath = sock
	b.Spec.Linux.Seccomp.ListenerMetadata = meta
	id, pid := startExecTarget(t, b)

	waitFor(t, fileExists(filepath.Join(out, "res")))
	res, _ := os.ReadFile(filepath.Join(out, "res"))
	wantLines(t, string(res), "status=0", "dir=absent", "Invalid cross-device link", "ln=1", "touch-ok")

	recs := records()
	var states []agentRecord
	answers := map[string]bool{}
	for _, r := range recs {
		switch r.Event {
		case "state":
			states = append(states, r)
		case "notify":
			answers[r.Syscall+"="+r.Answer] = true
		}
	}
	if len(states) != 1 {
		t.Fatalf("agent got %d states, want 1: %+v", len(states), recs)
	}
	st := states[0]
	if st.Fds != 1 || st.State == nil {
		t.Fatalf("state record: %+v", st)
	}
	cps := st.State
	if cps.Version == "" || !slices.Equal(cps.Fds, []string{specs.SeccompFdName}) || cps.Metadata != meta ||
		cps.Pid != pid || cps.State.ID != id || cps.State.Pid != pid || cps.State.Bundle != b.Dir {
		t.Errorf("container process state: %+v (want pid %d, id %s, bundle %s, metadata %q)", cps, pid, id, b.Dir, meta)
	}
	if cps.State.Status != specs.StateCreating {
		t.Errorf("state.status %q, want creating", cps.State.Status)
	}
	if !answers["mkdir=success"] && !answers["mkdirat=success"] {
		t.Errorf("agent answered no mkdir: %v", answers)
	}
	if !answers["symlink=EXDEV"] && !answers["symlinkat=EXDEV"] {
		t.Errorf("agent answered no symlink: %v", answers)
	}

	// An exec'd process loads the filter again and its listener reaches
	// the agent on a connection of its own.
	pidFile := filepath.Join(t.TempDir(), "exec.pid")
	r := b.nsrun("exec", "--pid-file", pidFile, id, "sh", "-c", mkdirScript)
	mustOK(t, r, "exec")
	wantLines(t, r.Stdout, "status=0", "dir=absent")
	pidData, _ := os.ReadFile(pidFile)
	var execStates []agentRecord
	for _, r := range records() {
		if r.Event == "state" {
			execStates = append(execStates, r)
		}
	}
	if len(execStates) != 2 {
		t.Fatalf("agent got %d states after exec, want 2", len(execStates))
	}
	es := execStates[1]
	if es.Fds != 1 || es.State == nil || es.State.Metadata != meta || es.State.State.ID != id ||
		es.State.State.Status != specs.StateRunning || es.State.State.Pid != pid {
		t.Errorf("exec's state record: %+v", es)
	}
	// The top-level pid is the exec'd process's (the one whose filter the
	// fd belongs to); state.pid stays the init's.
	if got, want := es.State.Pid, strings.TrimSpace(string(pidData)); itoa(got) != want {
		t.Errorf("exec: containerProcessState.pid %d, want the exec'd process %s (init %d)", got, want, pid)
	}
}
