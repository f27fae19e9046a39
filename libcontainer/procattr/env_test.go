package procattr

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLookPath(t *testing.T) {
	dir := t.TempDir()
	bin1 := filepath.Join(dir, "bin1")
	bin2 := filepath.Join(dir, "bin2")
	for _, d := range []string{bin1, bin2, filepath.Join(bin2, "adir")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(p string, mode os.FileMode) {
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), mode); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(bin1, "noexec"), 0o644)
	write(filepath.Join(bin2, "noexec"), 0o755)
	write(filepath.Join(bin2, "prog"), 0o755)
	write(filepath.Join(bin1, "only-noexec"), 0o644)

	env := []string{"HOME=/", "PATH=/nonexistent", "PATH=" + bin1 + ":" + bin2}

	got, err := LookPath("prog", env)
	if err != nil || got != filepath.Join(bin2, "prog") {
		t.Errorf("prog: %q, %v", got, err)
	}
	// A non-executable match is skipped for a later executable one.
	if got, err := LookPath("noexec", env); err != nil || got != filepath.Join(bin2, "noexec") {
		t.Errorf("noexec: %q, %v", got, err)
	}
	// Directories are not programs.
	if _, err := LookPath("adir", env); err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("adir: %v", err)
	}
	if _, err := LookPath("only-noexec", env); os.Geteuid() == 0 && (err == nil || !strings.Contains(err.Error(), "permission denied")) {
		t.Errorf("only-noexec: %v", err)
	}
	_, err = LookPath("nsrun-missing", env)
	if err == nil || err.Error() != `exec: "nsrun-missing": executable file not found in $PATH` {
		t.Errorf("missing: %v", err)
	}
	_, err = LookPath(filepath.Join(dir, "missing"), env)
	if err == nil || !strings.Contains(err.Error(), "no such file or directory") {
		t.Errorf("absolute missing: %v", err)
	}
	if got, err := LookPath(filepath.Join(bin2, "prog"), nil); err != nil || got != filepath.Join(bin2, "prog") {
		t.Errorf("absolute: %q, %v", got, err)
	}
	// Without PATH in the process env, execvp's default applies, not ours.
	t.Setenv("PATH", bin2)
	if _, err := LookPath("prog", []string{"HOME=/"}); err == nil {
		t.Errorf("used nsrun's own PATH")
	}
	if got, err := LookPath("sh", []string{"HOME=/"}); err != nil || got != "/bin/sh" {
		t.Errorf("default PATH: %q, %v", got, err)
	}
	// An empty PATH entry means the working directory.
	t.Chdir(bin2)
	if got, err := LookPath("prog", []string{"PATH=/nonexistent:"}); err != nil || got != "./prog" {
		t.Errorf("empty entry: %q, %v", got, err)
	}
}

func TestChdir(t *testing.T) {
	dir := t.TempDir()
	t.Chdir("/") // restores the test's cwd afterwards
	if err := Chdir(dir); err != nil {
		t.Fatal(err)
	}
	if wd, _ := os.Getwd(); wd != dir {
		t.Errorf("cwd %q, want %q", wd, dir)
	}
	err := Chdir(filepath.Join(dir, "missing"))
	want := "process.cwd: chdir " + filepath.Join(dir, "missing") + ": no such file or directory"
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %q", err, want)
	}
	if err := Chdir("relative"); err == nil || !strings.Contains(err.Error(), "absolute") {
		t.Errorf("relative: %v", err)
	}
}
