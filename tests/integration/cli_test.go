package integration

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"
)

func TestRunDetach(t *testing.T) {
	b := newBundle(t, "sh", "-c", "touch /out/started; exec sleep 60")
	out := b.outDir()
	b.write()
	id := newID(t)
	b.cleanup(id)
	start := time.Now()
	r := b.nsrun("run", "-d", "-b", b.Dir, id)
	mustOK(t, r, "run -d")
	// It returned while the program (a 60 s sleep) still runs.
	if el := time.Since(start); el > 30*time.Second {
		t.Fatalf("run -d took %v", el)
	}
	waitFor(t, fileExists(filepath.Join(out, "started")))
	st := b.state(id)
	if st["status"] != "running" {
		t.Fatalf("state after run -d: %v", st)
	}
	pid := int(st["pid"].(float64))
	if processDead(pid) {
		t.Fatalf("init %d is not alive after run -d", pid)
	}
	mustOK(t, b.nsrun("kill", id, "KILL"), "kill")
	waitFor(t, func() bool { return b.state(id)["status"] == "stopped" })
	reap(pid)
	mustOK(t, b.nsrun("delete", id), "delete")
	assertNoTrace(t, b.Root, id)
}

func TestRunKeep(t *testing.T) {
	b := newBundle(t, "sh", "-c", "exit 4")
	b.write()
	id := newID(t)
	b.cleanup(id)
	r := b.nsrun("run", "--keep", "-b", b.Dir, id)
	if r.Code != 4 {
		t.Fatalf("run --keep: exit %d, want 4 (stderr %s)", r.Code, r.Stderr)
	}
	st := b.state(id)
	if st["status"] != "stopped" || st["pid"].(float64) != 0 {
		t.Fatalf("state after run --keep: %v", st)
	}
	// The cgroups stay with the kept container until delete.
	mustOK(t, b.nsrun("delete", id), "delete")
	assertNoTrace(t, b.Root, id)
}

func TestRunForwardsSignals(t *testing.T) {
	b := newBundle(t, "sh", "-c", "trap 'exit 5' TERM; touch /out/ready; while :; do sleep 0.1; done")
	out := b.outDir()
	b.write()
	id := newID(t)
	b.cleanup(id)
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(nsrunBin, "--root", b.Root, "run", "-b", b.Dir, id)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
	// The trap is set once /out/ready exists.
	waitFor(t, fileExists(filepath.Join(out, "ready")))
	pid := b.initPid(id)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var err error
	select {
	case err = <-done:
		done <- err // for the cleanup
	case <-time.After(10 * time.Second):
		t.Fatal("nsrun run did not exit after SIGTERM")
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if code != 5 {
		t.Fatalf("exit code %d, want 5 (the container's trap); stderr: %s", code, stderr.String())
	}
	if !processDead(pid) {
		t.Errorf("init %d still alive", pid)
	}
	assertNoTrace(t, b.Root, id)
}

// readSpec reads and strictly decodes a config.json written by `nsrun spec`.
func readSpec(t *testing.T, path string) *specs.Spec {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("spec did not write %s: %v", path, err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var s specs.Spec
	if err := dec.Decode(&s); err != nil {
		t.Fatalf("config.json does not decode as a runtime-spec config: %v\n%s", err, data)
	}
	return &s
}

func hasNamespace(s *specs.Spec, typ specs.LinuxNamespaceType) bool {
	for _, n := range s.Linux.Namespaces {
		if n.Type == typ {
			return true
		}
	}
	return false
}

func TestSpecDefaultRuns(t *testing.T) {
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	// Without -b: the current directory.
	mustOK(t, nsrunInDir(dir, "spec"), "spec")
	s := readSpec(t, filepath.Join(dir, "config.json"))
	if s.Version != specs.Version {
		t.Errorf("ociVersion %q, want %q", s.Version, specs.Version)
	}
	if s.Root == nil || s.Root.Path == "" || s.Process == nil || len(s.Process.Args) == 0 || s.Process.Cwd == "" || s.Linux == nil {
		t.Fatalf("incomplete default config: %+v", s)
	}
	for _, ns := range []specs.LinuxNamespaceType{specs.PIDNamespace, specs.MountNamespace, specs.NetworkNamespace, specs.IPCNamespace, specs.UTSNamespace} {
		if !hasNamespace(s, ns) {
			t.Errorf("default config lacks a %s namespace", ns)
		}
	}
	// Runnable once pointed at a rootfs, without a terminal.
	s.Root.Path = rootfs
	s.Process.Terminal = false
	s.Process.Args = []string{"sh", "-c", "echo spec-ok; hostname"}
	b := &bundle{t: t, Dir: dir, Spec: s, Root: filepath.Join(dir, "state")}
	id := newID(t)
	r := b.run(id)
	mustOK(t, r, "run of the default config")
	if !strings.HasPrefix(r.Stdout, "spec-ok\n") {
		t.Fatalf("stdout %q", r.Stdout)
	}
	assertNoTrace(t, b.Root, id)
}

func TestSpecRefusesToOverwrite(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.json")
	os.WriteFile(cfg, []byte(`{"mine":true}`), 0o644)
	r := nsrunInDir(dir, "spec")
	if r.Code == 0 {
		t.Fatal("spec overwrote an existing config.json")
	}
	if !strings.Contains(r.Stderr, "config.json") {
		t.Errorf("error does not name config.json: %q", r.Stderr)
	}
	if data, _ := os.ReadFile(cfg); string(data) != `{"mine":true}` {
		t.Fatalf("config.json changed: %q", data)
	}
	// With -b too.
	if r := nsrunInDir("/", "spec", "-b", dir); r.Code == 0 {
		t.Fatal("spec -b overwrote an existing config.json")
	}
}

func TestSpecRootless(t *testing.T) {
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	mustOK(t, nsrunInDir("/", "spec", "--rootless", "-b", dir), "spec --rootless")
	s := readSpec(t, filepath.Join(dir, "config.json"))
	if !hasNamespace(s, specs.UserNamespace) {
		t.Errorf("rootless config has no user namespace: %v", s.Linux.Namespaces)
	}
	if hasNamespace(s, specs.NetworkNamespace) {
		t.Errorf("rootless config has a network namespace: %v", s.Linux.Namespaces)
	}
	if len(s.Linux.UIDMappings) == 0 || len(s.Linux.GIDMappings) == 0 {
		t.Fatalf("rootless config lacks id mappings: uid %v gid %v", s.Linux.UIDMappings, s.Linux.GIDMappings)
	}
	if m := s.Linux.UIDMappings[0]; m.Size == 0 || m.HostID != uint32(os.Geteuid()) {
		t.Errorf("uid mapping %+v, want the caller's uid %d", m, os.Geteuid())
	}
	// sysfs cannot be mounted without a network namespace of one's own.
	for _, m := range s.Mounts {
		if m.Destination == "/sys" && m.Type == "sysfs" {
			t.Errorf("rootless config mounts a fresh sysfs: %+v", m)
		}
	}
	// And it runs (here as root, mapped to itself).
	s.Root.Path = rootfs
	s.Process.Terminal = false
	s.Process.Args = []string{"sh", "-c", "cat /proc/self/uid_map; readlink /proc/self/ns/user"}
	b := &bundle{t: t, Dir: dir, Spec: s, Root: filepath.Join(dir, "state")}
	id := newID(t)
	r := b.run(id)
	mustOK(t, r, "run of the rootless config")
	f := strings.Fields(r.Stdout)
	hostUserNS, _ := os.Readlink("/proc/self/ns/user")
	if len(f) != 4 || f[1] != strconv.Itoa(int(s.Linux.UIDMappings[0].HostID)) || f[3] == hostUserNS {
		t.Fatalf("rootless container: %q", r.Stdout)
	}
	assertNoTrace(t, b.Root, id)
}

func TestFeatures(t *testing.T) {
	// containerd calls it with no global flags.
	r := nsrunInDir("/", "features")
	mustOK(t, r, "features")
	dec := json.NewDecoder(strings.NewReader(r.Stdout))
	dec.DisallowUnknownFields()
	var f features.Features
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("features JSON: %v\n%s", err, r.Stdout)
	}
	if f.OCIVersionMin == "" || f.OCIVersionMax == "" {
		t.Fatalf("ociVersionMin/Max missing: %q %q", f.OCIVersionMin, f.OCIVersionMax)
	}
	if f.OCIVersionMax != specs.Version {
		t.Errorf("ociVersionMax %q, want %q", f.OCIVersionMax, specs.Version)
	}
	contains := func(what string, list []string, want ...string) {
		t.Helper()
		have := map[string]bool{}
		for _, s := range list {
			have[s] = true
		}
		for _, w := range want {
			if !have[w] {
				t.Errorf("%s lacks %q: %v", what, w, list)
			}
		}
	}
	contains("hooks", f.Hooks, "prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")
	contains("mountOptions", f.MountOptions, "ro", "rw", "bind", "rbind", "nosuid", "nodev", "noexec", "rro", "nosymfollow", "private", "rslave")
	if f.Linux == nil {
		t.Fatal("features lacks linux")
	}
	contains("linux.namespaces", f.Linux.Namespaces, "cgroup", "ipc", "mount", "network", "pid", "user", "uts", "time")
	contains("linux.capabilities", f.Linux.Capabilities, "CAP_SYS_ADMIN", "CAP_KILL", "CAP_CHOWN")
	if f.Linux.Seccomp == nil || f.Linux.Seccomp.Enabled == nil || !*f.Linux.Seccomp.Enabled {
		t.Fatalf("seccomp not enabled: %+v", f.Linux.Seccomp)
	}
	contains("linux.seccomp.actions", f.Linux.Seccomp.Actions, "SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_NOTIFY")
	contains("linux.seccomp.operators", f.Linux.Seccomp.Operators, "SCMP_CMP_EQ", "SCMP_CMP_MASKED_EQ")
	// Nothing claimed that this host lacks.
	if f.Linux.Apparmor != nil && f.Linux.Apparmor.Enabled != nil && *f.Linux.Apparmor.Enabled {
		t.Error("apparmor claimed enabled on a host without AppArmor")
	}
	if f.Linux.Selinux != nil && f.Linux.Selinux.Enabled != nil && *f.Linux.Selinux.Enabled {
		t.Error("selinux claimed enabled on a host without SELinux")
	}
}

func TestVersion(t *testing.T) {
	r := nsrunInDir("/", "--version")
	mustOK(t, r, "--version")
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	if !strings.HasPrefix(lines[0], "nsrun version ") || len(strings.TrimPrefix(lines[0], "nsrun version ")) == 0 {
		t.Errorf("first line %q, want \"nsrun version X\"", lines[0])
	}
	found := false
	for _, l := range lines {
		if l == "spec: "+specs.Version {
			found = true
		}
	}
	if !found {
		t.Errorf("no \"spec: %s\" line in %q", specs.Version, r.Stdout)
	}
}

func TestRunDetachTerminalNeedsConsoleSocket(t *testing.T) {
	// Detached, nobody would hold the pty master.
	b := newBundle(t, "true")
	b.Spec.Process.Terminal = true
	b.write()
	id := newID(t)
	b.cleanup(id)
	r := b.nsrun("run", "-d", "-b", b.Dir, id)
	if r.Code == 0 {
		t.Fatal("run -d of a terminal container without --console-socket succeeded")
	}
	if !strings.Contains(r.Stderr, "console-socket") {
		t.Errorf("error does not name --console-socket: %q", r.Stderr)
	}
	assertNoTrace(t, b.Root, id)
}
