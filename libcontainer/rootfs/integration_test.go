package rootfs

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func u32(v uint32) *uint32 { return &v }

// fullScenario is a representative container: the default mounts of a
// runtime spec, a read-only bind of a host directory, a destination reached
// through a symlink pointing at "../../..", tmpcopyup, devices, masks,
// read-only paths and a read-only root.
func fullScenario(t *testing.T) (bundle, hostDir, escape string, in childInput) {
	bundle = t.TempDir()
	if err := os.Chmod(bundle, 0o755); err != nil {
		t.Fatal(err)
	}
	rootfs := makeRootfs(t, bundle)
	hostDir = t.TempDir()
	if err := os.WriteFile(filepath.Join(hostDir, "hello"), []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "tmp/seed"), []byte("from the image"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("seed", filepath.Join(rootfs, "tmp/seedlink")); err != nil {
		t.Fatal(err)
	}
	// /a/b/evil -> ../../.. : resolved inside the root it is "/", so a
	// mount on /a/b/evil/<escape> must land on /<escape> in the rootfs and
	// never on the host's /<escape>.
	if err := os.Symlink("../../..", filepath.Join(rootfs, "a/b/evil")); err != nil {
		t.Fatal(err)
	}
	escape = "nsrun-escape-" + filepath.Base(bundle)
	if err := os.MkdirAll(filepath.Join(bundle, "relsrc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bundle, "relsrc/f"), []byte("relative"), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := &specs.Spec{
		Root: &specs.Root{Path: "rootfs", Readonly: true},
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
			{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
			{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
			{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
			{Destination: "/data", Type: "bind", Source: hostDir, Options: []string{"rbind", "ro", "nosuid"}},
			{Destination: "/a/b/evil/" + escape, Type: "none", Source: hostDir, Options: []string{"bind"}},
			{Destination: "tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"tmpcopyup", "mode=1777"}},
			{Destination: "/etc/hostname-file", Type: "bind", Source: filepath.Join(hostDir, "hello"), Options: []string{"bind", "ro"}},
			// Relative bind sources are relative to the bundle (the cwd).
			{Destination: "/rel", Source: "relsrc", Options: []string{"rbind"}},
		},
		Linux: &specs.Linux{
			Devices: []specs.LinuxDevice{
				{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229, FileMode: fileMode(0o600), UID: u32(1), GID: u32(2)},
				{Path: "/dev/sub/dir/myfifo", Type: "p", FileMode: fileMode(0o640)},
			},
			MaskedPaths:   []string{"/proc/kcore", "/proc/does-not-exist", "/sys/firmware", "/data/hello"},
			ReadonlyPaths: []string{"/proc/sys", "/proc/sysrq-trigger"},
		},
	}
	in = childInput{
		Config: Config{Spec: spec, Rootfs: rootfs},
		Nodes: []string{"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty",
			"/dev/ptmx", "/dev/fd", "/dev/stdin", "/dev/stdout", "/dev/stderr", "/dev/fuse", "/dev/sub/dir/myfifo",
			"/dev/pts/ptmx", "/sys/fs/cgroup/cpu"},
		Reads:    []string{"/data/hello", "/tmp/seed", "/" + escape + "/hello", "/etc/hostname-file", "/rel/f"},
		Lists:    []string{"/sys/firmware", "/sys/fs/cgroup"},
		CreateIn: []string{"/", "/tmp", "/data", "/proc/sys/kernel", "/dev", "/dev/shm"},
		Exec:     []string{"/bin/sh", "-c", "echo hello from busybox"},
	}
	return bundle, hostDir, escape, in
}

func checkFullScenario(t *testing.T, rep childReport, escape string) {
	t.Helper()
	if rep.Err != "" {
		t.Fatalf("%s: %s", rep.Stage, rep.Err)
	}
	mounts := parseMountinfo(t, rep.Mountinfo)
	want := []struct{ mp, fstype string }{
		{"/", ""}, {"/proc", "proc"}, {"/dev", "tmpfs"}, {"/dev/pts", "devpts"}, {"/dev/shm", "tmpfs"},
		{"/dev/mqueue", "mqueue"}, {"/sys", "sysfs"}, {"/sys/fs/cgroup", "tmpfs"}, {"/data", ""},
		{"/" + escape, ""}, {"/tmp", "tmpfs"}, {"/etc/hostname-file", ""},
	}
	// The spec's mounts appear in order.
	idx := 0
	for _, w := range want {
		found := false
		for ; idx < len(mounts); idx++ {
			if mounts[idx].Mountpoint == w.mp && (w.fstype == "" || mounts[idx].FSType == w.fstype) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("mount %s (%s) missing or out of order\n%s", w.mp, w.fstype, rep.Mountinfo)
			idx = 0
		}
	}
	for _, m := range mounts {
		if strings.Contains(m.Mountpoint, "evil") {
			t.Errorf("mount through the symlink landed on %s", m.Mountpoint)
		}
	}
	for mp, opts := range map[string][]string{
		"/":                  {"ro"},
		"/sys":               {"ro", "nosuid", "nodev", "noexec"},
		"/sys/fs/cgroup":     {"ro", "nosuid"},
		"/data":              {"ro", "nosuid"},
		"/dev":               {"rw", "nosuid"},
		"/proc/sys":          {"ro"},
		"/etc/hostname-file": {"ro"},
		"/" + escape:         {"rw"},
	} {
		m, ok := lastMount(mounts, mp)
		if !ok {
			t.Errorf("no mount at %s", mp)
			continue
		}
		for _, o := range opts {
			if !hasOpt(m.Options, o) {
				t.Errorf("%s: options %q lack %q", mp, m.Options, o)
			}
		}
	}
	if m, ok := lastMount(mounts, "/dev/pts"); !ok || !hasOpt(m.Super, "ptmxmode=666") {
		t.Errorf("devpts data not passed: %+v", m)
	}
	if m, ok := lastMount(mounts, "/sys/fs/cgroup/memory"); !ok || m.FSType != "cgroup" || !hasOpt(m.Options, "ro") {
		t.Errorf("memory hierarchy not bound read-only: %+v\n%s", m, rep.Mountinfo)
	}
	if m, ok := lastMount(mounts, "/proc/does-not-exist"); ok {
		t.Errorf("a missing masked path got a mount: %+v", m)
	}
	if m, ok := lastMount(mounts, "/sys/firmware"); !ok || m.FSType != "tmpfs" || !hasOpt(m.Options, "ro") {
		t.Errorf("/sys/firmware not masked by a read-only tmpfs: %+v", m)
	}
	if m, ok := lastMount(mounts, "/data/hello"); !ok || m.FSType != "tmpfs" || m.Root != "/null" {
		t.Errorf("/data/hello not masked by /dev/null: %+v", m)
	}

	chr := func(p string, major, minor uint32, perm uint32) {
		n := rep.Nodes[p]
		if n.Err != "" || n.Mode&unix.S_IFMT != unix.S_IFCHR || n.Major != major || n.Minor != minor || n.Mode&0o7777 != perm {
			t.Errorf("%s: %+v, want char %d:%d mode %o", p, n, major, minor, perm)
		}
	}
	chr("/dev/null", 1, 3, 0o666)
	chr("/dev/zero", 1, 5, 0o666)
	chr("/dev/full", 1, 7, 0o666)
	chr("/dev/random", 1, 8, 0o666)
	chr("/dev/urandom", 1, 9, 0o666)
	chr("/dev/tty", 5, 0, 0o666)
	chr("/dev/fuse", 10, 229, 0o600)
	chr("/dev/pts/ptmx", 5, 2, 0o666)
	if n := rep.Nodes["/dev/fuse"]; n.UID != 1 || n.GID != 2 {
		t.Errorf("/dev/fuse owner %d:%d, want 1:2", n.UID, n.GID)
	}
	if n := rep.Nodes["/dev/sub/dir/myfifo"]; n.Mode&unix.S_IFMT != unix.S_IFIFO || n.Mode&0o777 != 0o640 {
		t.Errorf("fifo: %+v", n)
	}
	for p, target := range map[string]string{
		"/dev/ptmx": "pts/ptmx", "/dev/fd": "/proc/self/fd", "/dev/stdin": "/proc/self/fd/0",
		"/dev/stdout": "/proc/self/fd/1", "/dev/stderr": "/proc/self/fd/2", "/sys/fs/cgroup/cpu": "",
	} {
		n := rep.Nodes[p]
		if target == "" {
			// cpu is its own hierarchy on this host; only a comount would
			// make it a symlink.
			if n.Err != "" {
				t.Errorf("%s: %s", p, n.Err)
			}
			continue
		}
		if n.Mode&unix.S_IFMT != unix.S_IFLNK || n.Link != target {
			t.Errorf("%s: %+v, want symlink to %s", p, n, target)
		}
	}
	if got := rep.Reads["/data/hello"]; got != "" {
		t.Errorf("masked /data/hello reads %q", got)
	}
	if got := rep.Reads["/tmp/seed"]; got != "from the image" {
		t.Errorf("tmpcopyup: /tmp/seed reads %q", got)
	}
	if got := rep.Reads["/"+escape+"/hello"]; got != "secret" {
		t.Errorf("bind through symlink: reads %q", got)
	}
	if got := rep.Reads["/rel/f"]; got != "relative" {
		t.Errorf("relative bind source: reads %q", got)
	}
	if got := rep.Reads["/etc/hostname-file"]; got != "secret" {
		t.Errorf("file bind: reads %q", got)
	}
	if got := rep.Lists["/sys/firmware"]; len(got) != 0 {
		t.Errorf("masked /sys/firmware lists %v", got)
	}
	if got := strings.Join(rep.Lists["/sys/fs/cgroup"], " "); !strings.Contains(got, "memory") || !strings.Contains(got, "systemd") {
		t.Errorf("/sys/fs/cgroup holds %q", got)
	}
	for dir, wantErr := range map[string]bool{"/": true, "/data": true, "/proc/sys/kernel": true, "/tmp": false, "/dev": false, "/dev/shm": false} {
		got := rep.Creates[dir]
		if wantErr && got == "" {
			t.Errorf("creating a file in %s worked; it must be read-only", dir)
		}
		if !wantErr && got != "" {
			t.Errorf("creating a file in %s: %s", dir, got)
		}
	}
	if !strings.Contains(rep.ExecOut, "hello from busybox") {
		t.Errorf("busybox inside: %q", rep.ExecOut)
	}
}

// checkNoHostLeak verifies the host mount table and host paths.
func checkNoHostLeak(t *testing.T, bundle, hostDir, escape string) {
	t.Helper()
	if leaked := hostMountsUnder(t, bundle); len(leaked) > 0 {
		t.Errorf("mounts leaked to the host: %v", leaked)
	}
	if leaked := hostMountsUnder(t, hostDir); len(leaked) > 0 {
		t.Errorf("mounts leaked to the host: %v", leaked)
	}
	if _, err := os.Lstat("/" + escape); err == nil {
		os.RemoveAll("/" + escape)
		t.Errorf("a mount destination escaped the rootfs to the host's /%s", escape)
	}
	if _, err := os.Stat(filepath.Join(bundle, "rootfs", escape)); err != nil {
		t.Errorf("the destination was not created inside the rootfs: %v", err)
	}
}

func TestPrepareAndPivot(t *testing.T) {
	requireRoot(t)
	bundle, hostDir, escape, in := fullScenario(t)
	rep := startChild(t, bundle, in, syscall.CLONE_NEWNS|syscall.CLONE_NEWPID, false)
	checkFullScenario(t, rep, escape)
	checkNoHostLeak(t, bundle, hostDir, escape)
	if os.Getenv("NSRUN_ROOTFS_TEST_DUMP") != "" {
		t.Logf("%s\n%+v", rep.Mountinfo, rep)
	}
}

func TestPrepareAndNoPivot(t *testing.T) {
	requireRoot(t)
	bundle, hostDir, escape, in := fullScenario(t)
	in.Config.NoPivot = true
	rep := startChild(t, bundle, in, syscall.CLONE_NEWNS|syscall.CLONE_NEWPID, false)
	checkFullScenario(t, rep, escape)
	for _, m := range parseMountinfo(t, rep.Mountinfo) {
		if (m.FSType == "proc" || m.FSType == "sysfs") && m.Mountpoint != "/proc" && m.Mountpoint != "/sys" {
			// The host's proc/sysfs were hidden: whatever remains outside
			// the new root must not be a full kernel filesystem.
			if !strings.HasPrefix(m.Mountpoint, "/proc/") && !strings.HasPrefix(m.Mountpoint, "/sys/") {
				t.Errorf("host kernel filesystem still in the namespace: %+v", m)
			}
		}
	}
	checkNoHostLeak(t, bundle, hostDir, escape)
}

// In a user namespace: devices become bind mounts of the host nodes, sysfs
// without a network namespace falls back to a bind of /sys, and locked
// flags survive the read-only bind.
func TestPrepareInUserNamespace(t *testing.T) {
	requireRoot(t)
	for _, noPivot := range []bool{false, true} {
		t.Run(map[bool]string{false: "pivot", true: "nopivot"}[noPivot], func(t *testing.T) {
			testPrepareInUserNamespace(t, noPivot)
		})
	}
}

func testPrepareInUserNamespace(t *testing.T, noPivot bool) {
	bundle, hostDir, escape, in := fullScenario(t)
	in.Config.InUserNS = true
	in.Config.NoPivot = noPivot
	in.Config.Spec.Linux.Devices = in.Config.Spec.Linux.Devices[:1] // /dev/fuse; uid/gid are the host's
	in.Nodes = []string{"/dev/null", "/dev/fuse", "/dev/tty", "/dev/ptmx"}
	rep := startChild(t, bundle, in, syscall.CLONE_NEWNS|syscall.CLONE_NEWPID|syscall.CLONE_NEWIPC, true)
	if rep.Err != "" {
		t.Fatalf("%s: %s", rep.Stage, rep.Err)
	}
	if os.Getenv("NSRUN_ROOTFS_TEST_DUMP") != "" {
		t.Logf("%s\n%+v", rep.Mountinfo, rep)
	}
	mounts := parseMountinfo(t, rep.Mountinfo)
	for _, p := range []string{"/dev/null", "/dev/fuse", "/dev/tty"} {
		if _, ok := lastMount(mounts, p); !ok {
			t.Errorf("%s is not a bind mount of the host node", p)
		}
	}
	if n := rep.Nodes["/dev/null"]; n.Mode&unix.S_IFMT != unix.S_IFCHR || n.Major != 1 || n.Minor != 3 {
		t.Errorf("/dev/null: %+v", n)
	}
	if n := rep.Nodes["/dev/fuse"]; n.Mode&unix.S_IFMT != unix.S_IFCHR || n.Major != 10 || n.Minor != 229 {
		t.Errorf("/dev/fuse: %+v", n)
	}
	if m, ok := lastMount(mounts, "/sys"); !ok || m.FSType != "sysfs" || !hasOpt(m.Options, "ro") {
		t.Errorf("/sys: %+v", m)
	}
	for _, mp := range []string{"/", "/data"} {
		if m, ok := lastMount(mounts, mp); !ok || !hasOpt(m.Options, "ro") {
			t.Errorf("%s not read-only: %+v", mp, m)
		}
	}
	if got := rep.Reads["/data/hello"]; got != "" {
		t.Errorf("masked /data/hello reads %q", got)
	}
	if rep.Creates["/"] == "" || rep.Creates["/tmp"] != "" {
		t.Errorf("writability: %v", rep.Creates)
	}
	checkNoHostLeak(t, bundle, hostDir, escape)
}

// Without a /dev mount the nodes go into the image's /dev: entries planted
// there (a symlink to a host file) are replaced, never followed.
func TestDevWithoutMountReplacesPlantedEntries(t *testing.T) {
	requireRoot(t)
	bundle := t.TempDir()
	rootfs := makeRootfs(t, bundle)
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]string{"null": victim, "stdin": victim, "zero": "../../../../../../../../" + victim} {
		if err := os.Symlink(target, filepath.Join(rootfs, "dev", name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(rootfs, "dev/tty"), []byte("regular"), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := &specs.Spec{
		Root:   &specs.Root{Path: "rootfs"},
		Mounts: []specs.Mount{{Destination: "/proc", Type: "proc", Source: "proc"}},
		Linux:  &specs.Linux{MaskedPaths: []string{"/etc"}},
	}
	in := childInput{Config: Config{Spec: spec, Rootfs: rootfs}, Nodes: []string{"/dev/null", "/dev/zero", "/dev/tty", "/dev/stdin"}}
	rep := startChild(t, bundle, in, syscall.CLONE_NEWNS|syscall.CLONE_NEWPID, false)
	if rep.Err != "" {
		t.Fatalf("%s: %s", rep.Stage, rep.Err)
	}
	for _, p := range []string{"/dev/null", "/dev/zero", "/dev/tty"} {
		if n := rep.Nodes[p]; n.Mode&unix.S_IFMT != unix.S_IFCHR {
			t.Errorf("%s: %+v, want a character device", p, n)
		}
	}
	if n := rep.Nodes["/dev/stdin"]; n.Link != "/proc/self/fd/0" {
		t.Errorf("/dev/stdin: %+v", n)
	}
	if b, err := os.ReadFile(victim); err != nil || string(b) != "keep" {
		t.Errorf("host file behind the planted symlink changed: %q %v", b, err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(victim, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		t.Errorf("host file replaced: %v %o", err, st.Mode)
	}
	if leaked := hostMountsUnder(t, bundle); len(leaked) > 0 {
		t.Errorf("mounts leaked to the host: %v", leaked)
	}
}

// A /dev/null that is not the null device must not be used as a mask.
func TestMaskRefusesFakeDevNull(t *testing.T) {
	requireRoot(t)
	bundle := t.TempDir()
	rootfs := makeRootfs(t, bundle)
	fake := filepath.Join(t.TempDir(), "fake-null")
	if err := os.WriteFile(fake, []byte("visible"), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := &specs.Spec{
		Root: &specs.Root{Path: "rootfs"},
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs"},
			// A mount on /dev/null is kept by the device setup.
			{Destination: "/dev/null", Type: "bind", Source: fake, Options: []string{"bind"}},
		},
		Linux: &specs.Linux{MaskedPaths: []string{"/proc/cpuinfo"}},
	}
	in := childInput{Config: Config{Spec: spec, Rootfs: rootfs}}
	rep := startChild(t, bundle, in, syscall.CLONE_NEWNS|syscall.CLONE_NEWPID, false)
	if rep.Stage != "finalize" || !strings.Contains(rep.Err, "not the character device 1:3") {
		t.Fatalf("got stage %q err %q, want a refusal in finalize", rep.Stage, rep.Err)
	}
}

// Mounts into /proc and escapes are refused with the field named.
func TestProcDestinationRefused(t *testing.T) {
	requireRoot(t)
	bundle := t.TempDir()
	rootfs := makeRootfs(t, bundle)
	if err := os.Symlink("/proc/self", filepath.Join(rootfs, "selfproc")); err != nil {
		t.Fatal(err)
	}
	spec := &specs.Spec{
		Root: &specs.Root{Path: "rootfs"},
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/selfproc/attr", Type: "tmpfs", Source: "tmpfs"},
		},
	}
	rep := startChild(t, bundle, childInput{Config: Config{Spec: spec, Rootfs: rootfs}}, syscall.CLONE_NEWNS|syscall.CLONE_NEWPID, false)
	if rep.Stage != "prepare" || !strings.Contains(rep.Err, "mounts[1]") || !strings.Contains(rep.Err, "/proc") {
		t.Fatalf("got stage %q err %q, want mounts[1] refused", rep.Stage, rep.Err)
	}
	if leaked := hostMountsUnder(t, bundle); len(leaked) > 0 {
		t.Errorf("mounts leaked to the host: %v", leaked)
	}
}

// linux.rootfsPropagation as runtime-tools checks it: after the root
// switch, a bind of "/" sees (shared) or does not see (slave, private) a
// later mount, and unbindable refuses the bind.
func TestRootfsPropagation(t *testing.T) {
	requireRoot(t)
	for _, prop := range []string{"shared", "slave", "private", "unbindable", "rshared", "rprivate"} {
		t.Run(prop, func(t *testing.T) {
			bundle := t.TempDir()
			rootfs := makeRootfs(t, bundle)
			spec := &specs.Spec{
				Root:   &specs.Root{Path: "rootfs"},
				Mounts: []specs.Mount{{Destination: "/proc", Type: "proc", Source: "proc"}},
				Linux:  &specs.Linux{RootfsPropagation: prop},
			}
			rep := startChild(t, bundle, childInput{Config: Config{Spec: spec, Rootfs: rootfs}}, syscall.CLONE_NEWNS|syscall.CLONE_NEWPID, false)
			if rep.Err != "" {
				t.Fatalf("%s: %s", rep.Stage, rep.Err)
			}
			root, ok := lastMount(parseMountinfo(t, rep.Mountinfo), "/")
			if !ok {
				t.Fatal("no root mount")
			}
			shared := strings.Contains(root.Optional, "shared:")
			switch prop {
			case "shared", "rshared":
				if !shared {
					t.Errorf("root propagation %q, want shared", root.Optional)
				}
			case "unbindable":
				if !strings.Contains(root.Optional, "unbindable") {
					t.Errorf("root propagation %q, want unbindable", root.Optional)
				}
			default:
				if shared {
					t.Errorf("root propagation %q, want not shared", root.Optional)
				}
			}
			if leaked := hostMountsUnder(t, bundle); len(leaked) > 0 {
				t.Errorf("mounts leaked to the host: %v", leaked)
			}
		})
	}
}

// A rootfs on its own shared mount, with rootfsPropagation shared: the
// namespace root is shared too, which pivot_root (and MS_MOVE) must not see.
func TestSharedRootfsOnSharedMount(t *testing.T) {
	requireRoot(t)
	for _, noPivot := range []bool{false, true} {
		bundle := t.TempDir()
		dir := filepath.Join(bundle, "shroot")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		spec := &specs.Spec{
			Root:   &specs.Root{Path: "shroot"},
			Mounts: []specs.Mount{{Destination: "/proc", Type: "proc", Source: "proc"}},
			Linux:  &specs.Linux{RootfsPropagation: "shared"},
		}
		in := childInput{Config: Config{Spec: spec, NoPivot: noPivot}, SharedTmpfsRoot: dir, Exec: []string{"/bin/busybox", "echo", "inside"}}
		rep := startChild(t, bundle, in, syscall.CLONE_NEWNS|syscall.CLONE_NEWPID, false)
		if rep.Err != "" {
			t.Fatalf("noPivot=%v: %s: %s", noPivot, rep.Stage, rep.Err)
		}
		if !strings.Contains(rep.ExecOut, "inside") {
			t.Errorf("noPivot=%v: exec: %q", noPivot, rep.ExecOut)
		}
		if leaked := hostMountsUnder(t, bundle); len(leaked) > 0 {
			t.Errorf("mounts leaked to the host: %v", leaked)
		}
	}
}

// In a cgroup namespace the hierarchies are real cgroup mounts rooted at the
// container's cgroup; comounted names get symlinks.
func TestCgroupMountsInCgroupNamespace(t *testing.T) {
	requireRoot(t)
	bundle := t.TempDir()
	rootfs := makeRootfs(t, bundle)
	spec := &specs.Spec{
		Root: &specs.Root{Path: "rootfs"},
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
			{Destination: "/cg2", Type: "cgroup2", Source: "cgroup2", Options: []string{"nosuid", "noexec", "nodev"}},
		},
	}
	in := childInput{Config: Config{Spec: spec, Rootfs: rootfs, NewCgroupNS: true}, Lists: []string{"/sys/fs/cgroup"}}
	rep := startChild(t, bundle, in, syscall.CLONE_NEWNS|syscall.CLONE_NEWPID|syscall.CLONE_NEWCGROUP, false)
	if rep.Err != "" {
		t.Fatalf("%s: %s", rep.Stage, rep.Err)
	}
	mounts := parseMountinfo(t, rep.Mountinfo)
	for _, h := range []string{"memory", "cpu", "systemd", "unified"} {
		m, ok := lastMount(mounts, "/sys/fs/cgroup/"+h)
		if !ok || m.Root != "/" || !strings.HasPrefix(m.FSType, "cgroup") || !hasOpt(m.Options, "nosuid") {
			t.Errorf("%s: %+v\n%s", h, m, rep.Mountinfo)
		}
	}
	if m, ok := lastMount(mounts, "/sys/fs/cgroup"); !ok || m.FSType != "tmpfs" || !hasOpt(m.Options, "ro") {
		t.Errorf("/sys/fs/cgroup: %+v", m)
	}
	if m, ok := lastMount(mounts, "/cg2"); !ok || m.FSType != "cgroup2" || m.Root != "/" {
		t.Errorf("/cg2: %+v", m)
	}
	if leaked := hostMountsUnder(t, bundle); len(leaked) > 0 {
		t.Errorf("mounts leaked to the host: %v", leaked)
	}
}

// Comounted v1 controllers get symlinks (net_cls -> net_cls,net_prio) next
// to the bind of the container's directory in that hierarchy.
func TestCgroupComountedSymlinks(t *testing.T) {
	requireRoot(t)
	bundle := t.TempDir()
	rootfs := makeRootfs(t, bundle)
	cgdir := filepath.Join(bundle, "cgmnt")
	if err := os.Mkdir(cgdir, 0o755); err != nil {
		t.Fatal(err)
	}
	spec := &specs.Spec{
		Root: &specs.Root{Path: "rootfs"},
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"ro"}},
		},
	}
	in := childInput{Config: Config{Spec: spec, Rootfs: rootfs}, ComountDir: cgdir,
		Nodes: []string{"/sys/fs/cgroup/net_cls", "/sys/fs/cgroup/net_prio", "/sys/fs/cgroup/net_cls,net_prio"}}
	rep := startChild(t, bundle, in, syscall.CLONE_NEWNS|syscall.CLONE_NEWPID, false)
	if rep.Err != "" {
		t.Fatalf("%s: %s", rep.Stage, rep.Err)
	}
	for _, c := range []string{"net_cls", "net_prio"} {
		if n := rep.Nodes["/sys/fs/cgroup/"+c]; n.Link != "net_cls,net_prio" {
			t.Errorf("%s: %+v", c, n)
		}
	}
	if m, ok := lastMount(parseMountinfo(t, rep.Mountinfo), "/sys/fs/cgroup/net_cls,net_prio"); !ok || m.FSType != "cgroup" || !hasOpt(m.Options, "ro") {
		t.Errorf("comounted hierarchy: %+v", m)
	}
	if leaked := hostMountsUnder(t, bundle); len(leaked) > 0 {
		t.Errorf("mounts leaked to the host: %v", leaked)
	}
}

func TestCgroupHierarchyHolding(t *testing.T) {
	hs := []*cgroupHierarchy{
		{name: "cpu,cpuacct", fstype: "cgroup", mountpoint: "/sys/fs/cgroup/cpu,cpuacct"},
		{name: "unified", fstype: "cgroup2", mountpoint: "/sys/fs/cgroup/unified"},
	}
	if h := hierarchyHolding(hs, "/sys/fs/cgroup/cpu,cpuacct/nsrun/x"); h == nil || h.name != "cpu,cpuacct" {
		t.Errorf("holding: %+v", h)
	}
	if h := hierarchyHolding(hs, "/sys/fs/cgroup/unifiedx/a"); h != nil {
		t.Errorf("prefix match must be path-wise: %+v", h)
	}
}
