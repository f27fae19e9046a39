// Package security holds regression tests for classes of container escapes:
// each test runs real containers and checks, from the host and from inside,
// that the protection holds. Run as root:
//
//	go test ./tests/security/                       # builds nsrun
//	NSRUN=/usr/sbin/runc go test ./tests/security/  # the same tests on runc
//
// Every test is meant to fail on a runtime that lacks the protection it
// checks; docs/security.md records which runtime or weakened build
// (weaken/NAME.patch, weaken/demo.sh) shows each one failing. Containers
// get their cgroups below /nsrun-sec/<pid of the test binary>.
package security

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/nsrun/nsrun/tests/tools/testenv"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

var (
	runtimeBin string // the runtime under test
	isRunc     bool   // $NSRUN names runc: skip what only nsrun has
	template   string // a busybox rootfs shared (read-only) by the tests
	workDir    string
	cgroupTop  string // the cgroupsPath parent of every container of this run
	idSeq      atomic.Int64
)

func TestMain(m *testing.M) {
	var err error
	if workDir, err = testenv.Begin("nsrun-sec-"); err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	cgroupTop = fmt.Sprintf("/nsrun-sec/%d", os.Getpid())
	code := func() int {
		if runtimeBin, err = testenv.BuildNsrun(workDir); err != nil {
			fmt.Println(err)
			return 1
		}
		isRunc = strings.Contains(filepath.Base(runtimeBin), "runc")
		if template, err = makeRootfs(filepath.Join(workDir, "rootfs")); err != nil {
			fmt.Println(err)
			return 1
		}
		code := m.Run()
		// Every container was deleted: only our (empty) parent cgroups
		// may remain, and they go now.
		if left := removeCgroupTop(); len(left) > 0 {
			fmt.Printf("FAIL: cgroups left behind: %v\n", left)
			return 1
		}
		return code
	}()
	os.RemoveAll(workDir)
	os.Exit(code)
}

// removeCgroupTop removes cgroupTop in every hierarchy and returns what
// could not be removed; then /nsrun-sec too, unless another run uses it.
func removeCgroupTop() []string {
	var left []string
	for _, p := range []string{cgroupTop, filepath.Dir(cgroupTop)} {
		dirs, _ := filepath.Glob("/sys/fs/cgroup/*" + p)
		top, _ := filepath.Glob("/sys/fs/cgroup" + p)
		for _, d := range append(dirs, top...) {
			if err := os.Remove(d); err != nil && p == cgroupTop {
				left = append(left, d)
			}
		}
	}
	return left
}

// privateRootfs is a fresh, writable copy of the rootfs that the test may
// plant things in.
func privateRootfs(t *testing.T) string {
	t.Helper()
	dir, err := makeRootfs(filepath.Join(hostDir(t), "rootfs"))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// hostDir is a new directory on the host, reachable by every user.
func hostDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	os.Chmod(filepath.Dir(dir), 0o755)
	return dir
}

func newID() string { return fmt.Sprintf("sec-%d-%d", os.Getpid(), idSeq.Add(1)) }

// bundle is a test bundle: config.json in Dir, a private state root.
type bundle struct {
	t    *testing.T
	Dir  string
	Spec *specs.Spec
	Root string
}

func newBundle(t *testing.T, args ...string) *bundle {
	t.Helper()
	dir := hostDir(t)
	return &bundle{t: t, Dir: dir, Spec: baseSpec(args), Root: filepath.Join(dir, "state")}
}

func baseSpec(args []string) *specs.Spec {
	caps := []string{"CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_AUDIT_WRITE"}
	return &specs.Spec{
		Version: specs.Version,
		Root:    &specs.Root{Path: template, Readonly: true},
		Process: &specs.Process{
			Args:         args,
			Env:          []string{"PATH=/bin", "TERM=xterm"},
			Cwd:          "/",
			Capabilities: &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps},
		},
		Hostname: "nsrun-sec",
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
		},
		Linux: &specs.Linux{
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace}, {Type: specs.NetworkNamespace}, {Type: specs.IPCNamespace},
				{Type: specs.UTSNamespace}, {Type: specs.MountNamespace},
			},
			Resources:     &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}},
			MaskedPaths:   []string{"/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/acpi", "/sys/firmware"},
			ReadonlyPaths: []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"},
		},
	}
}

// bindMount is a recursive bind of a host path.
func bindMount(src, dst string, opts ...string) specs.Mount {
	return specs.Mount{Destination: dst, Type: "bind", Source: src, Options: append([]string{"rbind"}, opts...)}
}

// write saves config.json, giving the container a cgroup below cgroupTop.
func (b *bundle) write(id string) {
	b.t.Helper()
	b.Spec.Linux.CgroupsPath = cgroupTop + "/" + id
	data, err := json.MarshalIndent(b.Spec, "", " ")
	if err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b.Dir, "config.json"), data, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// result of one runtime invocation.
type result struct {
	Stdout, Stderr string
	Code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout: %s\nstderr: %s", r.Code, r.Stdout, r.Stderr)
}

// runtimeCmd runs the runtime with --root root; extra become fds 3, 4, ...
func runtimeCmd(root string, extra []*os.File, args ...string) result {
	cmd := exec.Command(runtimeBin, append([]string{"--root", root}, args...)...)
	cmd.ExtraFiles = extra
	return runToEnd(cmd)
}

// runToEnd runs cmd with stdout and stderr in files: a created container
// keeps create's stdio, and a pipe would not see end-of-file until the
// container exits.
func runToEnd(cmd *exec.Cmd) result {
	outF, _ := os.CreateTemp("", "sec-out-")
	errF, _ := os.CreateTemp("", "sec-err-")
	defer os.Remove(outF.Name())
	defer os.Remove(errF.Name())
	defer outF.Close()
	defer errF.Close()
	cmd.Stdout, cmd.Stderr = outF, errF
	err := cmd.Run()
	code, msg := 0, ""
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		code, msg = -1, err.Error()
	}
	out, _ := os.ReadFile(outF.Name())
	errb, _ := os.ReadFile(errF.Name())
	return result{Stdout: string(out), Stderr: string(errb) + msg, Code: code}
}

func (b *bundle) rt(args ...string) result { return runtimeCmd(b.Root, nil, args...) }

// run writes the config and runs the container in the foreground.
func (b *bundle) run(id string) result {
	b.t.Helper()
	b.write(id)
	b.cleanup(id)
	return b.rt("run", "-b", b.Dir, id)
}

// create writes the config and creates the container (extra args before
// the ID, e.g. --console-socket).
func (b *bundle) create(id string, extra ...string) result {
	b.t.Helper()
	b.write(id)
	b.cleanup(id)
	return b.rt(append(append([]string{"create", "-b", b.Dir}, extra...), id)...)
}

// cleanup force-deletes the container at the end of the test.
func (b *bundle) cleanup(id string) {
	b.t.Cleanup(func() { runtimeCmd(b.Root, nil, "delete", "--force", id) })
}

func mustOK(t *testing.T, r result, what string) {
	t.Helper()
	if r.Code != 0 {
		t.Fatalf("%s: %s", what, r)
	}
}

// initPid is the container's init PID from `state`.
func (b *bundle) initPid(id string) int {
	b.t.Helper()
	r := b.rt("state", id)
	mustOK(b.t, r, "state")
	var st struct{ Pid int }
	if err := json.Unmarshal([]byte(r.Stdout), &st); err != nil {
		b.t.Fatalf("state: %v\n%s", err, r.Stdout)
	}
	return st.Pid
}

// hookProbe adds a createContainer hook: it runs in the container's mount
// namespace before the root switch, where the host's file system is still
// in view, and records the namespace's mount table and what each of paths
// holds, so the test can check that no mount landed on the host's paths.
// read reports ran=false when the hook did not run.
func (b *bundle) hookProbe(paths ...string) (read func() (mountinfo string, listing map[string]string, ran bool)) {
	out := filepath.Join(hostDir(b.t), "probe")
	os.Mkdir(out, 0o755)
	script := "cat /proc/self/mountinfo > " + out + "/mountinfo\n"
	for i, p := range paths {
		script += fmt.Sprintf("ls -A %q > %s/ls.%d 2>&1\n", p, out, i)
	}
	if b.Spec.Hooks == nil {
		b.Spec.Hooks = &specs.Hooks{}
	}
	b.Spec.Hooks.CreateContainer = append(b.Spec.Hooks.CreateContainer, specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", script}})
	return func() (string, map[string]string, bool) {
		mi, err := os.ReadFile(filepath.Join(out, "mountinfo"))
		if err != nil {
			return "", nil, false
		}
		ls := map[string]string{}
		for i, p := range paths {
			data, _ := os.ReadFile(filepath.Join(out, fmt.Sprintf("ls.%d", i)))
			ls[p] = strings.TrimSpace(string(data))
		}
		return string(mi), ls, true
	}
}

// mountPoints lists the mount points of a mountinfo text (octal escapes
// decoded).
func mountPoints(mountinfo string) []string {
	var out []string
	for _, line := range strings.Split(mountinfo, "\n") {
		f := strings.Fields(line)
		if len(f) > 4 {
			out = append(out, unescapeOctal(f[4]))
		}
	}
	return out
}

func unescapeOctal(s string) string {
	var b bytes.Buffer
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v byte
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03o", &v); err == nil {
				b.WriteByte(v)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// underAny reports whether p is one of dirs or below one of them.
func underAny(p string, dirs []string) bool {
	for _, d := range dirs {
		if p == d || strings.HasPrefix(p, d+"/") {
			return true
		}
	}
	return false
}

// writeFile writes a file, creating its directory, failing the test on error.
func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	os.MkdirAll(filepath.Dir(link), 0o755)
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// makeRootfs is testenv's busybox root with ROOTFS-MARKER at its root,
// which tells "inside the container's root" apart from anywhere on the
// host.
func makeRootfs(dir string) (string, error) {
	if _, err := testenv.MakeRootfs(dir); err != nil {
		return "", err
	}
	return dir, os.WriteFile(filepath.Join(dir, "ROOTFS-MARKER"), []byte("rootfs\n"), 0o644)
}
