package hooks

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"
)

func script(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func testState() *specs.State {
	return &specs.State{Version: specs.Version, ID: "c1", Status: specs.StateCreating, Pid: 42, Bundle: "/b",
		Annotations: map[string]string{"k": "v"}}
}

func TestStateOnStdinAndArgs(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "state.json")
	h := script(t, dir, "hook", `cat > "$1"`)
	if err := Run("prestart", []specs.Hook{{Path: h, Args: []string{h, out}}}, testState()); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var got specs.State
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	if got.ID != "c1" || got.Pid != 42 || got.Bundle != "/b" || got.Annotations["k"] != "v" || got.Status != specs.StateCreating {
		t.Fatalf("state %+v", got)
	}
}

func TestArgv0AndExactEnv(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	hook := specs.Hook{
		Path: "/bin/sh",
		Args: []string{"custom-argv0", "-c", `tr '\0' '\n' < /proc/$$/cmdline > "$1.cmdline"; tr '\0' '\n' < /proc/$$/environ > "$1.environ"`, "x", out},
		Env:  []string{"A=1", "B=two words"},
	}
	if err := Run("createRuntime", []specs.Hook{hook}, testState()); err != nil {
		t.Fatal(err)
	}
	cmdline, _ := os.ReadFile(out + ".cmdline")
	if !strings.HasPrefix(string(cmdline), "custom-argv0\n-c\n") {
		t.Errorf("cmdline %q", cmdline)
	}
	environ, _ := os.ReadFile(out + ".environ")
	if string(environ) != "A=1\nB=two words\n" {
		t.Errorf("environ %q", environ)
	}

	// No env at all: nothing of ours leaks in.
	t.Setenv("NSRUN_SHOULD_NOT_LEAK", "1")
	hook.Env = nil
	if err := Run("createRuntime", []specs.Hook{hook}, testState()); err != nil {
		t.Fatal(err)
	}
	environ, _ = os.ReadFile(out + ".environ")
	if len(environ) != 0 {
		t.Errorf("environ %q, want empty", environ)
	}
}

func TestFailureMessage(t *testing.T) {
	dir := t.TempDir()
	ok := script(t, dir, "ok", "exit 0")
	bad := script(t, dir, "bad", `echo to-stdout; echo "something broke" >&2; exit 2`)
	never := filepath.Join(dir, "never-ran")
	third := script(t, dir, "third", `touch "`+never+`"`)
	err := Run("createRuntime", []specs.Hook{{Path: ok}, {Path: bad}, {Path: third}}, testState())
	want := "error running createRuntime hook #1 (" + bad + "): exit status 2: something broke (stdout: to-stdout)"
	if err == nil || err.Error() != want {
		t.Fatalf("got  %v\nwant %s", err, want)
	}
	if _, err := os.Stat(never); err == nil {
		t.Error("a hook after the failing one ran")
	}
}

func TestStderrIsBounded(t *testing.T) {
	dir := t.TempDir()
	h := script(t, dir, "noisy", `i=0; while [ $i -lt 2000 ]; do echo "line $i" >&2; i=$((i+1)); done; echo last-line >&2; exit 1`)
	err := Run("prestart", []specs.Hook{{Path: h}}, testState())
	if err == nil {
		t.Fatal("no error")
	}
	if len(err.Error()) > outputTail+200 || !strings.HasSuffix(err.Error(), "last-line") || !strings.Contains(err.Error(), "...") {
		t.Fatalf("message of %d bytes: %.200s...", len(err.Error()), err)
	}
}

func TestTimeoutKillsHook(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	h := script(t, dir, "slow", `echo $$ > "`+pidFile+`"; echo waiting >&2; sleep 30; echo done`)
	one := 1
	start := time.Now()
	err := Run("startContainer", []specs.Hook{{Path: h, Timeout: &one}}, testState())
	if time.Since(start) > 5*time.Second {
		t.Fatalf("took %v", time.Since(start))
	}
	var te *TimeoutError
	if err == nil || !errors.As(err, &te) ||
		!strings.Contains(err.Error(), "hook "+h+" timed out after 1s") || !strings.Contains(err.Error(), "waiting") {
		t.Fatalf("got %v", err)
	}
	b, _ := os.ReadFile(pidFile)
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if pid <= 0 {
		t.Fatalf("pid file %q", b)
	}
	// The hook was reaped by Run; its pid must be gone (or reused by an
	// unrelated process, which is very unlikely within a test).
	if err := syscall.Kill(pid, 0); err == nil {
		t.Errorf("hook %d still exists", pid)
	}
}

func TestInvalidHooks(t *testing.T) {
	zero := 0
	for _, c := range []struct {
		hook specs.Hook
		want string
	}{
		{specs.Hook{Path: "relative/hook"}, "must be absolute"},
		{specs.Hook{Path: "/bin/true", Timeout: &zero}, "timeout must be positive"},
		{specs.Hook{Path: "/nonexistent/hook"}, "no such file or directory"},
	} {
		err := Run("prestart", []specs.Hook{c.hook}, testState())
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "prestart hook #0") {
			t.Errorf("%+v: %v", c.hook, err)
		}
	}
}

// A hook that closes stdin without reading it (with a state far larger
// than a pipe buffer) neither fails nor hurts nsrun.
func TestEarlyStdinClose(t *testing.T) {
	dir := t.TempDir()
	st := testState()
	st.Annotations["big"] = strings.Repeat("x", 1<<20)
	quiet := script(t, dir, "quiet", "exec 0<&-; exit 0")
	if err := Run("prestart", []specs.Hook{{Path: quiet}}, st); err != nil {
		t.Fatalf("success hook: %v", err)
	}
	failing := script(t, dir, "failing", "exec 0<&-; echo boom >&2; exit 3")
	err := Run("prestart", []specs.Hook{{Path: failing}}, st)
	if err == nil || !strings.Contains(err.Error(), "exit status 3: boom") {
		t.Fatalf("failing hook: %v", err)
	}
	// A reader that stops half-way.
	partial := script(t, dir, "partial", "head -c 10 > /dev/null; exit 0")
	if err := Run("prestart", []specs.Hook{{Path: partial}}, st); err != nil {
		t.Fatalf("partial reader: %v", err)
	}
}

// A hook that leaves a daemon holding its stdout and stderr must not keep
// Run waiting.
func TestDaemonizingHookDoesNotBlock(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "daemon.pid")
	h := script(t, dir, "daemon", `sleep 30 & echo $! > "`+pidFile+`"; exit 0`)
	start := time.Now()
	err := Run("poststart", []specs.Hook{{Path: h}}, testState())
	elapsed := time.Since(start)
	b, _ := os.ReadFile(pidFile)
	if pid, _ := strconv.Atoi(strings.TrimSpace(string(b))); pid > 0 {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	if err != nil {
		t.Fatal(err)
	}
	if elapsed > 5*time.Second {
		t.Fatalf("Run waited %v for the daemon", elapsed)
	}
}

func TestRunAllContinues(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "ran")
	bad := script(t, dir, "bad", "exit 1")
	good := script(t, dir, "good", `touch "`+marker+`"`)
	err := RunAll("poststop", []specs.Hook{{Path: bad}, {Path: good}, {Path: bad}}, testState())
	if err == nil || !strings.Contains(err.Error(), "poststop hook #0") || !strings.Contains(err.Error(), "poststop hook #2") {
		t.Fatalf("got %v", err)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatal("the hook after a failing one did not run")
	}
	if err := RunAll("poststop", nil, testState()); err != nil {
		t.Fatal(err)
	}
}
