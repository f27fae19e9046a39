package security

import (
	"fmt"
	"os"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// The device cgroup confines the container to the devices its config
// allows: a block device of the host (its root disk, where the host itself
// may open it) cannot be opened, whether the container
// makes the node itself (mknod, which the default rules allow for any
// device, as runc's do) or the config binds the host's node in; what the
// config allows works, with exactly the access it grants.

// hostBlockDevice is a block device the host itself can open: the root
// file system's disk, or else (where even the host may not open that, as on
// some VMs) a loop device other than loop0, which TestAllowedDevicesWork
// allows.
func hostBlockDevice(t *testing.T) (major, minor uint32, node string) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat("/", &st); err != nil {
		t.Fatal(err)
	}
	candidates := []uint64{st.Dev}
	for m := uint32(1); m < 8; m++ {
		candidates = append(candidates, unix.Mkdev(7, m))
	}
	ents, _ := os.ReadDir("/dev")
	for _, dev := range candidates {
		for _, e := range ents {
			var nst unix.Stat_t
			p := "/dev/" + e.Name()
			if unix.Lstat(p, &nst) != nil || nst.Mode&unix.S_IFMT != unix.S_IFBLK || nst.Rdev != dev {
				continue
			}
			fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				t.Logf("the host cannot open %s: %v", p, err)
				continue
			}
			unix.Close(fd)
			t.Logf("host block device: %s (%d:%d)", p, unix.Major(dev), unix.Minor(dev))
			return unix.Major(dev), unix.Minor(dev), p
		}
	}
	t.Skip("no block device that the host can open")
	return
}

// tryOpen prints NAME=OPENED or NAME=DENIED for opening path for reading
// (no byte is read, nothing written: it may be the host's disk).
func tryOpen(name, path string) string {
	return fmt.Sprintf("(: < %s) 2>/dev/null && echo %s=OPENED || echo %s=DENIED; ", path, name, name)
}

func devSpec(b *bundle) {
	caps := []string{"CAP_MKNOD", "CAP_DAC_OVERRIDE", "CAP_CHOWN", "CAP_KILL"}
	b.Spec.Process.Capabilities = &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps}
}

func expectLines(t *testing.T, res result, want ...string) {
	t.Helper()
	if res.Code != 0 {
		t.Fatalf("run: %s", res)
	}
	for _, w := range want {
		if !strings.Contains(res.Stdout, w+"\n") {
			t.Errorf("want %s: %s", w, res)
		}
	}
}

func TestHostBlockDeviceDenied(t *testing.T) {
	major, minor, node := hostBlockDevice(t)
	t.Run("mknod in the container", func(t *testing.T) {
		b := newBundle(t, "sh", "-c", fmt.Sprintf("mknod /dev/sec-disk b %d %d && echo mknod=OK; ", major, minor)+tryOpen("disk", "/dev/sec-disk"))
		devSpec(b)
		res := b.run(newID())
		expectLines(t, res, "disk=DENIED")
	})
	t.Run("host node bound in", func(t *testing.T) {
		b := newBundle(t, "sh", "-c", tryOpen("disk", "/dev/sec-disk"))
		devSpec(b)
		b.Spec.Mounts = append(b.Spec.Mounts, specs.Mount{Destination: "/dev/sec-disk", Type: "bind", Source: node, Options: []string{"bind"}})
		res := b.run(newID())
		expectLines(t, res, "disk=DENIED")
	})
}

// TestAllowedDevicesWork: a loop device allowed read-only, a linux.devices
// entry (allowed in full), the defaults; /dev/fuse, not allowed, is not.
func TestAllowedDevicesWork(t *testing.T) {
	if _, err := os.Stat("/sys/dev/block/7:0"); err != nil {
		t.Skip("no loop0 on this host")
	}
	script := "mknod /dev/sec-loop b 7 0 && echo mknod=OK; " + tryOpen("loop-read", "/dev/sec-loop") +
		"(: > /dev/sec-loop) 2>/dev/null && echo loop-write=OPENED || echo loop-write=DENIED; " +
		"echo x > /dev/sec-null && echo null-write=OK; " + tryOpen("zero", "/dev/zero") +
		"mknod /dev/sec-fuse c 10 229 && echo mknod-fuse=OK; " + tryOpen("fuse", "/dev/sec-fuse")
	b := newBundle(t, "sh", "-c", script)
	devSpec(b)
	b.Spec.Linux.Resources.Devices = append(b.Spec.Linux.Resources.Devices,
		specs.LinuxDeviceCgroup{Allow: true, Type: "b", Major: i64(7), Minor: i64(0), Access: "r"})
	mode := os.FileMode(0o666)
	b.Spec.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/sec-null", Type: "c", Major: 1, Minor: 3, FileMode: &mode}}
	res := b.run(newID())
	expectLines(t, res, "mknod=OK", "loop-read=OPENED", "loop-write=DENIED", "null-write=OK", "zero=OPENED", "mknod-fuse=OK", "fuse=DENIED")
}

func i64(v int64) *int64 { return &v }
