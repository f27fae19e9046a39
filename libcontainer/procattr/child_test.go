package procattr

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
)

// The setters change the calling process irreversibly, so their tests
// re-exec this test binary with childEnv naming a function of children;
// the function runs on a locked thread (as in the init) and prints
// "key=value" lines for the parent to check.
const childEnv = "NSRUN_PROCATTR_TEST_CHILD"

var children = map[string]func() error{}

func TestMain(m *testing.M) {
	if name := os.Getenv(childEnv); name != "" {
		runtime.LockOSThread()
		f, ok := children[name]
		if !ok {
			fmt.Fprintf(os.Stderr, "no child %q\n", name)
			os.Exit(2)
		}
		if err := f(); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runChild runs children[name] in a fresh process, optionally in new
// namespaces, and returns its key=value output.
func runChild(t *testing.T, name string, cloneflags uintptr) map[string]string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+name)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: cloneflags}
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("child %s: %v\nstdout: %s\nstderr: %s", name, err, out.String(), errb.String())
	}
	kv := map[string]string{}
	for _, line := range strings.Split(out.String(), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			kv[k] = v
		}
	}
	return kv
}

func emit(k string, v any) { fmt.Printf("%s=%v\n", k, v) }

// statusField returns a field of /proc/thread-self/status (this thread's
// view, which is what matters for per-thread attributes).
func statusField(name string) (string, error) {
	b, err := os.ReadFile("/proc/thread-self/status")
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && k == name {
			return strings.TrimSpace(v), nil
		}
	}
	return "", fmt.Errorf("no %s in status", name)
}

func emitStatus(names ...string) error {
	for _, n := range names {
		v, err := statusField(n)
		if err != nil {
			return err
		}
		emit(n, v)
	}
	return nil
}
