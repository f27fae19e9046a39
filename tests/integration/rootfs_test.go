package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestReadonlyRootMaskedReadonlyPaths(t *testing.T) {
	b := newBundle(t, "sh", "-c", `
		touch /x 2>/dev/null && echo root-writable || echo root-ro
		cat /proc/kmsg 2>&1 | head -c 0; wc -c < /proc/kmsg 2>/dev/null || echo masked-err
		ls /sys/firmware | wc -l
		echo 1 > /proc/sys/kernel/ns_last_pid 2>/dev/null && echo sys-rw || echo sys-ro`)
	b.Spec.Linux.MaskedPaths = []string{"/proc/kmsg", "/sys/firmware", "/does/not/exist"}
	b.Spec.Linux.ReadonlyPaths = []string{"/proc/sys", "/also/missing"}
	r := b.run(newID(t))
	mustOK(t, r, "run")
	lines := strings.Fields(r.Stdout)
	want := []string{"root-ro", "0", "0", "sys-ro"}
	if strings.Join(lines, " ") != strings.Join(want, " ") {
		t.Fatalf("got %q, want %q", lines, want)
	}
}

func TestDefaultDevicesAndLinks(t *testing.T) {
	b := newBundle(t, "sh", "-c", `
		for d in null zero full random urandom tty; do stat -c "%n %t:%T %a" /dev/$d; done
		for l in ptmx fd stdin stdout stderr; do readlink /dev/$l; done
		echo x > /dev/null && head -c 3 /dev/zero | wc -c`)
	r := b.run(newID(t))
	mustOK(t, r, "run")
	for _, want := range []string{"/dev/null 1:3 666", "/dev/zero 1:5 666", "/dev/full 1:7 666", "/dev/random 1:8 666",
		"/dev/urandom 1:9 666", "/dev/tty 5:0 666", "pts/ptmx", "/proc/self/fd", "/proc/self/fd/0", "/proc/self/fd/2"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("missing %q in:\n%s", want, r.Stdout)
		}
	}
}

func TestLinuxDevices(t *testing.T) {
	b := newBundle(t, "sh", "-c", `stat -c "%n %t:%T %a %u %g" /dev/fuse /dev/loop-control`)
	mode := os.FileMode(0o640)
	uid, gid := uint32(1), uint32(2)
	b.Spec.Linux.Devices = []specs.LinuxDevice{
		{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229, FileMode: &mode, UID: &uid, GID: &gid},
		{Path: "/dev/loop-control", Type: "c", Major: 10, Minor: 237},
	}
	r := b.run(newID(t))
	mustOK(t, r, "run")
	if !strings.Contains(r.Stdout, "/dev/fuse a:e5 640 1 2") || !strings.Contains(r.Stdout, "/dev/loop-control a:ed 666 0 0") {
		t.Errorf("device node: %s", r.Stdout)
	}
}

func TestMountsInOrderAndOptions(t *testing.T) {
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "f"), []byte("data"), 0o644)
	b := newBundle(t, "sh", "-c", `
		cat /data/f; touch /data/g 2>/dev/null && echo rw || echo ro
		grep " /data " /proc/self/mountinfo | grep -o "ro,nosuid,nodev,noexec" | head -1
		grep " /tmp/t2 " /proc/self/mountinfo | grep -c tmpfs
		grep " /mnt " /proc/self/mountinfo | grep -o "shared:[0-9]*" | wc -l`)
	b.Spec.Mounts = append(b.Spec.Mounts,
		specsBind(src, "/data", "ro", "nosuid", "nodev", "noexec"),
		specs.Mount{Destination: "/tmp/t2", Type: "tmpfs", Source: "tmpfs", Options: []string{"size=1m"}},
		specs.Mount{Destination: "/mnt", Type: "tmpfs", Source: "tmpfs", Options: []string{"private"}},
	)
	r := b.run(newID(t))
	mustOK(t, r, "run")
	want := "dataro\nro,nosuid,nodev,noexec\n1\n0\n"
	if r.Stdout != want {
		t.Fatalf("got %q, want %q", r.Stdout, want)
	}
}

func TestMountDestinationSymlinkStaysInside(t *testing.T) {
	// A rootfs with a symlink pointing out of it: the mount must land
	// inside the rootfs, never on the host path.
	rf := t.TempDir()
	copyTree(t, rootfs, rf)
	os.Symlink("/../../../../../../tmp/nsrun-escape-target", filepath.Join(rf, "evil"))
	os.RemoveAll("/tmp/nsrun-escape-target")
	os.MkdirAll("/tmp/nsrun-escape-target", 0o755)
	defer os.RemoveAll("/tmp/nsrun-escape-target")
	b := newBundle(t, "sh", "-c", "ls /tmp/nsrun-escape-target | wc -l")
	b.Spec.Root.Path = rf
	b.Spec.Root.Readonly = false
	b.Spec.Mounts = append(b.Spec.Mounts, specs.Mount{Destination: "/evil", Type: "tmpfs", Source: "tmpfs"})
	r := b.run(newID(t))
	mustOK(t, r, "run")
	entries, _ := os.ReadDir("/tmp/nsrun-escape-target")
	if len(entries) != 0 {
		t.Fatal("host directory was touched")
	}
	var st, hostSt = statDev(t, "/tmp/nsrun-escape-target"), statDev(t, "/tmp")
	if st != hostSt {
		t.Fatal("a mount landed on the host path")
	}
}

func TestMountNamespacePropagationIsolated(t *testing.T) {
	// Nothing the container mounts shows on the host.
	before, _ := os.ReadFile("/proc/self/mountinfo")
	b := newBundle(t, "true")
	mustOK(t, b.run(newID(t)), "run")
	after, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Count(string(before), "\n") != strings.Count(string(after), "\n") {
		t.Fatalf("host mount table changed:\n%s\n---\n%s", before, after)
	}
}

func TestNoMountNamespace(t *testing.T) {
	// Without a mount namespace the container shares the host's; its
	// mounts live under the rootfs and are gone after delete.
	rf := t.TempDir()
	copyTree(t, rootfs, rf)
	os.Chmod(filepath.Dir(rf), 0o755)
	b := newBundle(t, "sh", "-c", "readlink /proc/self/ns/mnt; cat /proc/self/cgroup >/dev/null; echo ok")
	b.Spec.Root.Path = rf
	var ns []specs.LinuxNamespace
	for _, n := range b.Spec.Linux.Namespaces {
		if n.Type != specs.MountNamespace {
			ns = append(ns, n)
		}
	}
	b.Spec.Linux.Namespaces = ns
	r := b.run(newID(t))
	mustOK(t, r, "run")
	host, _ := os.Readlink("/proc/self/ns/mnt")
	if !strings.HasPrefix(r.Stdout, host+"\n") {
		t.Fatalf("container mount ns %q, want the host's %q", r.Stdout, host)
	}
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mi), rf) {
		t.Fatalf("mounts under the rootfs left after delete:\n%s", mi)
	}
}
