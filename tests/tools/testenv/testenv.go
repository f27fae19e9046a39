// Package testenv is the setup the test suites with real containers share
// (tests/integration, tests/security, tests/faults): the nsrun binary under
// test and a busybox root file system.
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

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
