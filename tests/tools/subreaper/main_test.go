package main

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as the subreaper: with this variable set, TestMain
// runs main() instead of the tests.
const beSubreaper = "SUBREAPER_TEST_BE_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(beSubreaper) == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

func subreaper(t *testing.T, script string) *exec.Cmd {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, "sh", "-c", script)
	cmd.Env = append(os.Environ(), beSubreaper+"=1")
	return cmd
}

func exitCode(t *testing.T, err error) int {
	t.Helper()
	if err == nil {
		return 0
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("run: %v", err)
	}
	return exit.ExitCode()
}

func TestPassesExitStatus(t *testing.T) {
	if got := exitCode(t, subreaper(t, "exit 3").Run()); got != 3 {
		t.Fatalf("exit status %d, want 3", got)
	}
}

func TestKilledCommandGives128PlusSignal(t *testing.T) {
	if got := exitCode(t, subreaper(t, "kill -9 $$").Run()); got != 137 {
		t.Fatalf("exit status %d, want 137", got)
	}
}

// An orphan must be re-parented to the subreaper and, once it exits, be
// reaped rather than left a zombie. The command prints its pid, then the
// subreaper's children (its parent's) while the orphan lives and after.
func TestReapsOrphans(t *testing.T) {
	script := `(sleep 0.5 &) ; sleep 0.2; echo $$; cat /proc/$PPID/task/*/children; echo; sleep 1; cat /proc/$PPID/task/*/children`
	out, err := subreaper(t, script).Output()
	if code := exitCode(t, err); code != 0 {
		t.Fatalf("exit status %d", code)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 3 {
		t.Fatalf("output %q, want 3 lines", out)
	}
	shell := strings.TrimSpace(lines[0])
	during, after := strings.Fields(lines[1]), strings.Fields(lines[2])
	if len(during) != 2 {
		t.Fatalf("children while the orphan lives: %v, want the command and the orphan", during)
	}
	if len(after) != 1 || after[0] != shell {
		t.Fatalf("children after the orphan exited: %v, want only the command %s", after, shell)
	}
}

func TestForwardsSIGTERM(t *testing.T) {
	cmd := subreaper(t, `trap 'exit 7' TERM; echo ready; while :; do sleep 0.05; done`)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 6)
	if _, err := stdout.Read(buf); err != nil {
		t.Fatalf("waiting for the command: %v", err)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if got := exitCode(t, err); got != 7 {
			t.Fatalf("exit status %d, want 7 (the command's TERM trap)", got)
		}
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("SIGTERM was not forwarded")
	}
}

func TestMissingCommand(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, "/nonexistent/command")
	cmd.Env = append(os.Environ(), beSubreaper+"=1")
	if got := exitCode(t, cmd.Run()); got != 127 {
		t.Fatalf("exit status %d, want 127", got)
	}
}
