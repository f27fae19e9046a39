package integration

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// statusField returns a field of /proc/self/status as printed by the
// container.
func statusField(status, name string) string {
	for _, line := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func TestProcessCredentialsAndCaps(t *testing.T) {
	b := newBundle(t, "cat", "/proc/self/status")
	b.Spec.Process.User = specs.User{UID: 1000, GID: 1001, AdditionalGids: []uint32{5, 7}}
	b.Spec.Process.NoNewPrivileges = true
	b.Spec.Process.Capabilities = &specs.LinuxCapabilities{
		Bounding:    []string{"CAP_KILL", "CAP_CHOWN"},
		Effective:   []string{"CAP_KILL"},
		Permitted:   []string{"CAP_KILL", "CAP_CHOWN"},
		Inheritable: []string{"CAP_KILL"},
		Ambient:     []string{"CAP_KILL"},
	}
	r := b.run(newID(t))
	mustOK(t, r, "run")
	checks := map[string]string{
		"Uid":        "1000\t1000\t1000\t1000",
		"Gid":        "1001\t1001\t1001\t1001",
		"Groups":     "5 7",
		"NoNewPrivs": "1",
		"CapBnd":     "0000000000000021",
		"CapEff":     "0000000000000020",
		"CapPrm":     "0000000000000020", // after execve as non-root: permitted = ambient
		"CapInh":     "0000000000000020",
		"CapAmb":     "0000000000000020",
	}
	for k, want := range checks {
		if got := statusField(r.Stdout, k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
}

func TestRlimitsUmaskCwdEnv(t *testing.T) {
	b := newBundle(t, "sh", "-c", "ulimit -n; ulimit -Hn; umask; pwd; echo $FOO")
	b.Spec.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 123, Hard: 456}}
	um := uint32(0o027)
	b.Spec.Process.User.Umask = &um
	b.Spec.Process.Cwd = "/tmp"
	b.Spec.Process.Env = append(b.Spec.Process.Env, "FOO=bar baz")
	r := b.run(newID(t))
	mustOK(t, r, "run")
	want := "123\n456\n0027\n/tmp\nbar baz\n"
	if r.Stdout != want {
		t.Fatalf("got %q, want %q", r.Stdout, want)
	}
}

func TestSysctlOOMHostnameDomain(t *testing.T) {
	b := newBundle(t, "sh", "-c", "cat /proc/sys/net/ipv4/ip_forward /proc/self/oom_score_adj; hostname; cat /proc/sys/kernel/domainname")
	b.Spec.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"}
	// Docker's and runc's default configs make /proc/sys read-only: the
	// sysctls are written before.
	b.Spec.Linux.ReadonlyPaths = append(b.Spec.Linux.ReadonlyPaths, "/proc/sys")
	adj := 500
	b.Spec.Process.OOMScoreAdj = &adj
	b.Spec.Hostname = "h1"
	b.Spec.Domainname = "d1"
	r := b.run(newID(t))
	mustOK(t, r, "run")
	if r.Stdout != "1\n500\nh1\nd1\n" {
		t.Fatalf("got %q", r.Stdout)
	}
}

func TestNoHostFdLeaks(t *testing.T) {
	// An fd that the caller left open (not close-on-exec) must not reach the
	// container; --preserve-fds passes exactly the ones asked for.
	f, err := os.Open("/etc/hostname")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := newBundle(t, "ls", "/proc/self/fd")
	b.write()
	id := newID(t)
	r := runWithExtraFd(t, b, f, "run", "-b", b.Dir, id)
	mustOK(t, r, "run")
	if got := strings.Fields(r.Stdout); strings.Join(got, " ") != "0 1 2 3" {
		// 3 is ls's own directory fd.
		t.Fatalf("fds in the container: %q", got)
	}
	r = runWithExtraFd(t, b, f, "run", "--preserve-fds", "1", "-b", b.Dir, newID(t))
	mustOK(t, r, "run --preserve-fds")
	if got := strings.Fields(r.Stdout); strings.Join(got, " ") != "0 1 2 3 4" {
		t.Fatalf("fds with --preserve-fds 1: %q", got)
	}
}

func TestPidFileAndBundleRelativeRoot(t *testing.T) {
	b := newBundle(t, "true")
	os.Symlink(rootfs, filepath.Join(b.Dir, "rootfs"))
	b.Spec.Root.Path = "rootfs"
	b.write()
	id := newID(t)
	b.cleanup(id)
	pf := filepath.Join(b.Dir, "init.pid")
	mustOK(t, b.nsrun("create", "-b", b.Dir, "--pid-file", pf, id), "create")
	if st := b.state(id); st["rootfs"] != filepath.Join(b.Dir, "rootfs") {
		t.Errorf("rootfs %v", st["rootfs"])
	}
}

func TestParkedInitHoldsNoCallerFd(t *testing.T) {
	// containerd's shim hands create an extra socket at fd 3 and waits for
	// it to close: the init, which outlives create, must not hold it.
	f, err := os.Open("/etc/hostname")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := newBundle(t, "true")
	b.write()
	id := newID(t)
	b.cleanup(id)
	mustOK(t, runWithExtraFd(t, b, f, "create", "-b", b.Dir, id), "create")
	pid := int(b.state(id)["pid"].(float64))
	entries, err := os.ReadDir(filepath.Join("/proc", strconv.Itoa(pid), "fd"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		target, _ := os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), "fd", e.Name()))
		if target == "/etc/hostname" {
			t.Fatalf("parked init holds the caller's fd %s -> %s", e.Name(), target)
		}
	}
}

func TestInitWarningsGoToTheRuntimeLog(t *testing.T) {
	// CAP_SYS_RESOURCE is not in this machine's bounding set: the init
	// warns, and the warning reaches nsrun's log, not the container's
	// stderr (which is the caller's data).
	b := newBundle(t, "sh", "-c", "echo out; echo err >&2")
	c := b.Spec.Process.Capabilities
	c.Bounding = append(c.Bounding, "CAP_SYS_RESOURCE")
	c.Permitted = append(c.Permitted, "CAP_SYS_RESOURCE")
	b.write()
	log := filepath.Join(t.TempDir(), "log")
	r := runNsrun(b.Root, nil, "--log", log, "run", "-b", b.Dir, newID(t))
	mustOK(t, r, "run")
	if r.Stdout != "out\n" || !strings.HasPrefix(r.Stderr, "err\n") || strings.Contains(r.Stderr, "CAP_SYS_RESOURCE") {
		t.Fatalf("container stdio polluted: stdout %q stderr %q", r.Stdout, r.Stderr)
	}
	data, _ := os.ReadFile(log)
	if !strings.Contains(string(data), "CAP_SYS_RESOURCE") {
		t.Fatalf("warning missing from the log: %q", data)
	}
}
