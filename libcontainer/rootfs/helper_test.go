package rootfs

// The integration tests re-exec the test binary as a "container init": in
// new mount and PID namespaces (and optionally a user namespace) it runs
// Prepare, PivotRoot and Finalize on a temporary busybox rootfs, then looks
// around from inside and reports what it saw as JSON on stdout.

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

const childEnv = "NSRUN_ROOTFS_TEST_CHILD"

func TestMain(m *testing.M) {
	if input := os.Getenv(childEnv); input != "" {
		os.Exit(runChild(input))
	}
	os.Exit(m.Run())
}

// childInput is what the parent asks the child to do and look at.
type childInput struct {
	Config Config
	// Nodes are paths to lstat inside the container.
	Nodes []string
	// Reads are files whose content is reported.
	Reads []string
	// Lists are directories whose entries are reported.
	Lists []string
	// CreateIn are directories where creating a file is attempted.
	CreateIn []string
	// Exec is run inside the container after Finalize.
	Exec []string
	// SharedTmpfsRoot, when set, is a directory where the child mounts a
	// shared tmpfs (after making its copy of the host mounts slaves) and
	// builds the rootfs in it: a rootfs on a mount other than "/".
	SharedTmpfsRoot string
	// ComountDir, when set, is a directory where the child (in its private
	// mount namespace) mounts a tmpfs holding a comounted net_cls,net_prio
	// v1 hierarchy, which the host does not mount.
	ComountDir string
}

type nodeInfo struct {
	Mode  uint32 // st_mode
	Major uint32
	Minor uint32
	UID   uint32
	GID   uint32
	Link  string
	Err   string
}

type childReport struct {
	Stage     string // where it failed
	Err       string
	Mountinfo string
	Nodes     map[string]nodeInfo
	Reads     map[string]string
	Lists     map[string][]string
	Creates   map[string]string // dir -> "" or the error
	ExecOut   string
}

func runChild(inputPath string) int {
	runtime.LockOSThread()
	rep := childReport{Nodes: map[string]nodeInfo{}, Reads: map[string]string{}, Lists: map[string][]string{}, Creates: map[string]string{}}
	defer func() {
		_ = json.NewEncoder(os.Stdout).Encode(rep)
	}()
	data, err := os.ReadFile(inputPath)
	if err != nil {
		rep.Stage, rep.Err = "input", err.Error()
		return 0
	}
	var in childInput
	if err := json.Unmarshal(data, &in); err != nil {
		rep.Stage, rep.Err = "input", err.Error()
		return 0
	}
	c := &in.Config
	if in.SharedTmpfsRoot != "" {
		if err := sharedTmpfsRoot(in.SharedTmpfsRoot); err != nil {
			rep.Stage, rep.Err = "setup", err.Error()
			return 0
		}
		c.Rootfs = in.SharedTmpfsRoot
	}
	if in.ComountDir != "" {
		if err := comountedHierarchy(in.ComountDir); err != nil {
			rep.Stage, rep.Err = "setup", err.Error()
			return 0
		}
	}
	for _, step := range []struct {
		name string
		fn   func(*Config) error
	}{{"prepare", Prepare}, {"pivot", PivotRoot}, {"finalize", Finalize}} {
		if err := step.fn(c); err != nil {
			rep.Stage, rep.Err = step.name, err.Error()
			return 0
		}
	}
	if mi, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		rep.Mountinfo = string(mi)
	} else {
		rep.Mountinfo = "error: " + err.Error()
	}
	for _, p := range in.Nodes {
		var st unix.Stat_t
		ni := nodeInfo{}
		if err := unix.Lstat(p, &st); err != nil {
			ni.Err = err.Error()
		} else {
			ni = nodeInfo{Mode: st.Mode, Major: unix.Major(st.Rdev), Minor: unix.Minor(st.Rdev), UID: st.Uid, GID: st.Gid}
			if st.Mode&unix.S_IFMT == unix.S_IFLNK {
				ni.Link, _ = os.Readlink(p)
			}
		}
		rep.Nodes[p] = ni
	}
	for _, p := range in.Reads {
		b, err := os.ReadFile(p)
		if err != nil {
			rep.Reads[p] = "error: " + err.Error()
		} else {
			rep.Reads[p] = string(b)
		}
	}
	for _, p := range in.Lists {
		entries, err := os.ReadDir(p)
		names := []string{}
		if err != nil {
			names = append(names, "error: "+err.Error())
		}
		for _, e := range entries {
			names = append(names, e.Name())
		}
		rep.Lists[p] = names
	}
	for _, d := range in.CreateIn {
		f, err := os.CreateTemp(d, "probe")
		if err != nil {
			rep.Creates[d] = err.Error()
			continue
		}
		f.Close()
		os.Remove(f.Name())
		rep.Creates[d] = ""
	}
	if len(in.Exec) > 0 {
		out, err := exec.Command(in.Exec[0], in.Exec[1:]...).CombinedOutput()
		rep.ExecOut = string(out)
		if err != nil {
			rep.ExecOut += "error: " + err.Error()
		}
	}
	return 0
}

// startChild runs the child with the given namespaces, cwd = bundle.
func startChild(t *testing.T, bundle string, in childInput, cloneflags uintptr, userns bool) childReport {
	t.Helper()
	data, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	inputPath := filepath.Join(t.TempDir(), "input.json")
	if err := os.WriteFile(inputPath, data, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Dir = bundle
	cmd.Env = append(os.Environ(), childEnv+"="+inputPath)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: cloneflags, Pdeathsig: syscall.SIGKILL}
	if userns {
		cmd.SysProcAttr.Cloneflags |= syscall.CLONE_NEWUSER
		cmd.SysProcAttr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 65536}}
		cmd.SysProcAttr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 65536}}
	}
	if err := cmd.Run(); err != nil {
		t.Fatalf("child: %v\nstdout: %s\nstderr: %s", err, stdout.String(), stderr.String())
	}
	var rep childReport
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("child report: %v\nstdout: %s\nstderr: %s", err, stdout.String(), stderr.String())
	}
	return rep
}

// makeRootfs builds a busybox rootfs in bundle/rootfs.
func makeRootfs(t *testing.T, bundle string) string {
	t.Helper()
	rootfs := filepath.Join(bundle, "rootfs")
	for _, d := range []string{"bin", "proc", "sys", "dev", "tmp", "etc", "a/b"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Skipf("no /bin/busybox: %v", err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "bin/busybox"), bb, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("busybox", filepath.Join(rootfs, "bin/sh")); err != nil {
		t.Fatal(err)
	}
	return rootfs
}

// mountPoint is one parsed /proc/self/mountinfo line.
type mountPoint struct {
	Mountpoint, FSType, Source, Root string
	Options, Super                   string
	Optional                         string // shared:N master:N unbindable
}

func parseMountinfo(t *testing.T, text string) []mountPoint {
	t.Helper()
	var out []mountPoint
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		fields := strings.Fields(line)
		sep := -1
		for i, f := range fields {
			if f == "-" {
				sep = i
				break
			}
		}
		if sep < 6 || len(fields) < sep+4 {
			t.Fatalf("bad mountinfo line %q", line)
		}
		out = append(out, mountPoint{
			Root: fields[3], Mountpoint: fields[4], Options: fields[5],
			FSType: fields[sep+1], Source: fields[sep+2], Super: fields[sep+3],
			Optional: strings.Join(fields[6:sep], " "),
		})
	}
	return out
}

// lastMount is the top mount at a mount point.
func lastMount(mounts []mountPoint, mp string) (mountPoint, bool) {
	var found mountPoint
	ok := false
	for _, m := range mounts {
		if m.Mountpoint == mp {
			found, ok = m, true
		}
	}
	return found, ok
}

func hasOpt(opts, o string) bool {
	for _, x := range strings.Split(opts, ",") {
		if x == o {
			return true
		}
	}
	return false
}

// hostMountsUnder lists host mount points under dir.
func hostMountsUnder(t *testing.T, dir string) []string {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range parseMountinfo(t, string(data)) {
		if m.Mountpoint == dir || strings.HasPrefix(m.Mountpoint, dir+"/") {
			out = append(out, m.Mountpoint)
		}
	}
	return out
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
}

func sharedTmpfsRoot(dir string) error {
	if err := unix.Mount("", "/", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return err
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "mode=755"); err != nil {
		return err
	}
	if err := unix.Mount("", dir, "", unix.MS_SHARED, ""); err != nil {
		return err
	}
	for _, d := range []string{"bin", "proc", "dev"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "bin/busybox"), bb, 0o755)
}

func comountedHierarchy(dir string) error {
	if err := unix.Mount("", "/", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return err
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "mode=755"); err != nil {
		return err
	}
	h := filepath.Join(dir, "net_cls,net_prio")
	if err := os.Mkdir(h, 0o755); err != nil {
		return err
	}
	return unix.Mount("cgroup", h, "cgroup", 0, "net_cls,net_prio")
}
