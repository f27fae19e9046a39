// Package testenv is the setup the test suites with real containers share
// (tests/integration, tests/security, tests/faults): the nsrun binary under
// test and a busybox root file system.
package testenv

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Begin is the start of each suite's TestMain: it needs root, makes the
// test process a subreaper (PID 1 here does not reap orphans: inits whose
// runtime exited are re-parented to us), and returns a fresh work
// directory named after prefix, readable by the containers' users.
func Begin(prefix string) (string, error) {
	if os.Geteuid() != 0 {
		return "", errors.New("these tests run real containers: run them as root")
	}
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return "", fmt.Errorf("subreaper: %w", err)
	}
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return "", err
	}
	return dir, os.Chmod(dir, 0o755)
}

// WithoutNamespace removes the namespace of type typ from the spec.
func WithoutNamespace(s *specs.Spec, typ specs.LinuxNamespaceType) {
	var kept []specs.LinuxNamespace
	for _, ns := range s.Linux.Namespaces {
		if ns.Type != typ {
			kept = append(kept, ns)
		}
	}
	s.Linux.Namespaces = kept
}

// RepoRoot is the directory of the nsrun checkout.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", "..", ".."))
}

// BuildNsrun returns $NSRUN (the runtime to test: nsrun, a weakened build,
// runc) as an absolute path, or builds nsrun into dir with make.
func BuildNsrun(dir string) (string, error) {
	if p := os.Getenv("NSRUN"); p != "" {
		return filepath.Abs(p)
	}
	out := filepath.Join(dir, "nsrun")
	cmd := exec.Command("make", "-s", "nsrun", "OUT="+out)
	cmd.Dir = RepoRoot()
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build nsrun: %v\n%s", err, b)
	}
	return out, nil
}

// MakeRootfs builds a minimal busybox root file system in dir: the static
// busybox with every applet linked in /bin, /etc/passwd and /etc/group
// with root and nobody, and the usual empty mount points.
func MakeRootfs(dir string) (string, error) {
	bb, err := exec.LookPath("busybox")
	if err != nil {
		return "", fmt.Errorf("busybox-static is required: %w", err)
	}
	for _, d := range []string{"bin", "proc", "sys", "dev", "etc", "tmp", "root"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return "", err
		}
	}
	os.Chmod(dir, 0o755)
	os.Chmod(filepath.Join(dir, "tmp"), 0o1777)
	data, err := os.ReadFile(bb)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "bin", "busybox"), data, 0o755); err != nil {
		return "", err
	}
	out, err := exec.Command(bb, "--list").Output()
	if err != nil {
		return "", err
	}
	for _, applet := range strings.Fields(string(out)) {
		if applet != "busybox" {
			os.Symlink("busybox", filepath.Join(dir, "bin", applet))
		}
	}
	os.WriteFile(filepath.Join(dir, "etc", "passwd"), []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "etc", "group"), []byte("root:x:0:\nnogroup:x:65534:\n"), 0o644)
	return dir, nil
}
