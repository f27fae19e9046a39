// Package integration runs the nsrun binary against real containers: real
// namespaces, mounts and cgroups on this host. Run as root:
//
//	go test ./tests/integration/
package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/nsrun/nsrun/tests/tools/testenv"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

var (
	nsrunBin string // the binary under test
	rootfs   string // a busybox rootfs shared (read-only) by the tests
	workDir  string
	idSeq    atomic.Int64
)

func TestMain(m *testing.M) {
	var err error
	if workDir, err = testenv.Begin("nsrun-it-"); err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	code := func() int {
		if nsrunBin, err = testenv.BuildNsrun(workDir); err != nil {
			fmt.Println(err)
			return 1
		}
		if rootfs, err = testenv.MakeRootfs(filepath.Join(workDir, "rootfs")); err != nil {
			fmt.Println(err)
			return 1
		}
		before := cgroupLeftovers()
		code := m.Run()
		reapContainerZombies()
		// Every test deletes its containers: nothing nsrun made may remain
		// in any hierarchy, nor a controller it enabled on cgroup2.
		if after := cgroupLeftovers(); after != before {
			fmt.Printf("FAIL: cgroup state changed by the tests:\nbefore: %s\nafter:  %s\n%s", before, after, describeCgroupTrees())
			return 1
		}
		return code
	}()
	os.RemoveAll(workDir)
	os.Exit(code)
}

// newID returns a container ID unique to this test run.
func newID(t *testing.T) string {
	id := fmt.Sprintf("it-%d-%d", os.Getpid(), idSeq.Add(1))
	idOwner.Store(id, t.Name())
	return id
}

// idOwner maps each container ID to the test that made it, for the report
// of a leak.
var idOwner sync.Map

// bundle is a test bundle: a directory with config.json and a rootfs link.
type bundle struct {
	t    *testing.T
	Dir  string
	Spec *specs.Spec
	Root string // --root state dir of this test
}

// newBundle makes a bundle whose config runs args in the shared rootfs with
// the usual namespaces, and a private state root.
func newBundle(t *testing.T, args ...string) *bundle {
	t.Helper()
	dir := t.TempDir()
	// The root of a user namespace is "other" on the host: it must be able
	// to reach the bundle (its cwd).
	os.Chmod(dir, 0o755)
	os.Chmod(filepath.Dir(dir), 0o755)
	b := &bundle{t: t, Dir: dir, Spec: baseSpec(args), Root: filepath.Join(dir, "state")}
	return b
}

func baseSpec(args []string) *specs.Spec {
	return &specs.Spec{
		Version: specs.Version,
		Root:    &specs.Root{Path: rootfs, Readonly: true},
		Process: &specs.Process{
			Args: args,
			Env:  []string{"PATH=/bin:/usr/bin", "TERM=xterm"},
			Cwd:  "/",
			User: specs.User{UID: 0, GID: 0},
			Capabilities: &specs.LinuxCapabilities{
				Bounding:  []string{"CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_AUDIT_WRITE"},
				Effective: []string{"CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_AUDIT_WRITE"},
				Permitted: []string{"CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_AUDIT_WRITE"},
			},
		},
		Hostname: "nsrun-test",
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}},
			{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
			{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "mode=1777"}},
		},
		Linux: &specs.Linux{
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace}, {Type: specs.NetworkNamespace}, {Type: specs.IPCNamespace},
				{Type: specs.UTSNamespace}, {Type: specs.MountNamespace},
			},
			Resources: &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}},
		},
	}
}

// write saves config.json.
func (b *bundle) write() {
	b.t.Helper()
	data, err := json.MarshalIndent(b.Spec, "", " ")
	if err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b.Dir, "config.json"), data, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// result of one nsrun invocation.
type result struct {
	Stdout, Stderr string
	Code           int
}

// nsrun runs the binary with --root of this bundle; stdin is empty.
func (b *bundle) nsrun(args ...string) result {
	b.t.Helper()
	return runNsrun(b.Root, nil, args...)
}

func runNsrun(root string, stdin []byte, args ...string) result {
	return runNsrunFiles(root, stdin, nil, args...)
}

// runNsrunFiles runs nsrun with stdout and stderr in files, not pipes: a
// created container keeps create's stdio, and a pipe would not see EOF
// until the container exits.
func runNsrunFiles(root string, stdin []byte, extra []*os.File, args ...string) result {
	outF, _ := os.CreateTemp("", "nsrun-out-")
	errF, _ := os.CreateTemp("", "nsrun-err-")
	defer os.Remove(outF.Name())
	defer os.Remove(errF.Name())
	defer outF.Close()
	defer errF.Close()
	cmd := exec.Command(nsrunBin, append([]string{"--root", root}, args...)...)
	cmd.Stdout, cmd.Stderr = outF, errF
	cmd.ExtraFiles = extra
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	err := cmd.Run()
	code := 0
	var msg string
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		code = -1
		msg = err.Error()
	}
	out, _ := os.ReadFile(outF.Name())
	errb, _ := os.ReadFile(errF.Name())
	return result{Stdout: string(out), Stderr: string(errb) + msg, Code: code}
}

// run writes the config and runs the container in the foreground.
func (b *bundle) run(id string) result {
	b.t.Helper()
	b.write()
	r := b.nsrun("run", "-b", b.Dir, id)
	// run deletes the container once it exits (or undoes a failed create).
	assertNoTrace(b.t, b.Root, id)
	return r
}

// mustOK fails the test unless r succeeded.
func mustOK(t *testing.T, r result, what string) {
	t.Helper()
	if r.Code != 0 {
		t.Fatalf("%s: exit %d\nstdout: %s\nstderr: %s", what, r.Code, r.Stdout, r.Stderr)
	}
}

// cleanup force-deletes a container at the end of the test and fails the
// test if that fails or leaves a trace: a leak is then named by the test
// that caused it, not only by TestMain's final check of the hierarchies.
func (b *bundle) cleanup(id string) {
	b.t.Cleanup(func() {
		if r := runNsrun(b.Root, nil, "delete", "--force", id); r.Code != 0 {
			b.t.Errorf("cleanup: delete --force %s: code %d: %s", id, r.Code, r.Stderr)
		}
		assertNoTrace(b.t, b.Root, id)
		reapContainerZombies()
	})
}

// ociState reads `nsrun state`.
func (b *bundle) state(id string) map[string]any {
	b.t.Helper()
	r := b.nsrun("state", id)
	mustOK(b.t, r, "state")
	var m map[string]any
	if err := json.Unmarshal([]byte(r.Stdout), &m); err != nil {
		b.t.Fatalf("state JSON: %v\n%s", err, r.Stdout)
	}
	return m
}

// assertNoTrace checks that nothing of container id is left: no state dir,
// no cgroup dir in any v1 hierarchy.
func assertNoTrace(t *testing.T, root, id string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(root, id)); err == nil {
		t.Errorf("state dir of %s left behind", id)
	}
	matches, _ := filepath.Glob("/sys/fs/cgroup/*/nsrun/" + id)
	m2, _ := filepath.Glob("/sys/fs/cgroup/nsrun/" + id)
	if len(matches)+len(m2) > 0 {
		t.Errorf("cgroup dirs left behind: %v %v", matches, m2)
	}
}

// runWithExtraFd runs nsrun with f inherited as fd 3.
func runWithExtraFd(t *testing.T, b *bundle, f *os.File, args ...string) result {
	t.Helper()
	return runNsrunFiles(b.Root, nil, []*os.File{f}, args...)
}

// describeCgroupTrees lists every cgroup below the directories
// cgroupLeftovers names, with the processes in each, to tell a leaked
// container (and which) from a leaked parent.
func describeCgroupTrees() string {
	var b strings.Builder
	for _, pat := range []string{"/sys/fs/cgroup/*/nsrun", "/sys/fs/cgroup/*/nsrun-it*", "/sys/fs/cgroup/nsrun", "/sys/fs/cgroup/nsrun-it*"} {
		tops, _ := filepath.Glob(pat)
		for _, top := range tops {
			filepath.WalkDir(top, func(path string, d fs.DirEntry, err error) error {
				if err != nil || !d.IsDir() {
					return nil
				}
				procs, _ := os.ReadFile(filepath.Join(path, "cgroup.procs"))
				owner, _ := idOwner.Load(filepath.Base(path))
				fmt.Fprintf(&b, "  %s procs=%q test=%v\n", path, strings.Fields(string(procs)), owner)
				return nil
			})
		}
	}
	return b.String()
}

// cgroupLeftovers describes what nsrun could leave in the cgroup
// hierarchies: its directories and the cgroup2 root's subtree_control.
func cgroupLeftovers() string {
	// Only the cgroups these tests name: /nsrun (the default parent) and
	// /nsrun-it* (other suites use /nsrun-sec, /nsrun-faults, ...).
	var dirs []string
	for _, pat := range []string{"/sys/fs/cgroup/*/nsrun", "/sys/fs/cgroup/*/nsrun-it*", "/sys/fs/cgroup/nsrun", "/sys/fs/cgroup/nsrun-it*"} {
		m, _ := filepath.Glob(pat)
		dirs = append(dirs, m...)
	}
	ctl, _ := os.ReadFile(unifiedRoot() + "/cgroup.subtree_control")
	return fmt.Sprintf("dirs=%v subtree_control=%q", dirs, strings.TrimSpace(string(ctl)))
}
