package security

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// The image controls what the runtime later uses as a mount source or
// target in /dev: a /dev/null that is a symlink, a file or a directory must
// never turn a masked path into something else (CVE-2025-31133 class), a
// /dev/console symlink must not redirect the console's bind mount
// (CVE-2025-52565 class), and the nodes and links the runtime makes in /dev
// must replace what the image planted rather than follow it.

// devDir is a host directory standing for the image's /dev (a volume a
// hostile container could prepare), bind-mounted on /dev. It holds a real
// null device unless plant replaces it.
func devBundle(t *testing.T, plant func(dev string), args ...string) *bundle {
	t.Helper()
	dev := filepath.Join(hostDir(t), "dev")
	os.MkdirAll(filepath.Join(dev, "pts"), 0o755)
	if err := unix.Mknod(filepath.Join(dev, "null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
		t.Fatal(err)
	}
	symlink(t, "pts/ptmx", filepath.Join(dev, "ptmx"))
	if plant != nil {
		plant(dev)
	}
	b := newBundle(t, args...)
	var mounts []specs.Mount
	for _, m := range b.Spec.Mounts {
		switch m.Destination {
		case "/dev":
			mounts = append(mounts, bindMount(dev, "/dev"))
		default:
			mounts = append(mounts, m)
		}
	}
	b.Spec.Mounts = mounts
	return b
}

func replaceNull(t *testing.T, dev string, with func(p string) error) {
	t.Helper()
	p := filepath.Join(dev, "null")
	os.Remove(p)
	if with != nil {
		if err := with(p); err != nil {
			t.Fatal(err)
		}
	}
}

// maskedFiles are files of this kernel's /proc that the tests mask.
var maskedFiles = []string{"/proc/keys", "/proc/timer_list", "/proc/cmdline"}

// TestMaskedPathsNullSource: a masked file is covered with /dev/null only
// when that is the null device; anything else is refused.
func TestMaskedPathsNullSource(t *testing.T) {
	cases := []struct {
		name string
		null func(p string) error // nil: no /dev/null at all
		good bool                 // the real device: must work
	}{
		{"real device", func(p string) error { return unix.Mknod(p, unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))) }, true},
		{"absolute symlink into procfs", func(p string) error { return os.Symlink("/proc/sys/kernel/hostname", p) }, false},
		{"relative symlink into procfs", func(p string) error { return os.Symlink("../proc/sys/kernel/hostname", p) }, false},
		{"magic link", func(p string) error { return os.Symlink("/proc/self/root/ROOTFS-MARKER", p) }, false},
		{"symlink to another device", func(p string) error {
			if err := unix.Mknod(filepath.Join(filepath.Dir(p), "zero"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 5))); err != nil {
				return err
			}
			return os.Symlink("zero", p)
		}, false},
		{"regular file", func(p string) error { return os.WriteFile(p, []byte("PLANTED\n"), 0o644) }, false},
		{"directory", func(p string) error { return os.Mkdir(p, 0o755) }, false},
		{"missing", nil, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := devBundle(t, func(dev string) { replaceNull(t, dev, c.null) },
				"sh", "-c", "for p in "+strings.Join(maskedFiles, " ")+"; do stat -c '%n %F %t:%T' $p; done")
			b.Spec.Linux.MaskedPaths = append(b.Spec.Linux.MaskedPaths, maskedFiles...)
			res := b.run(newID())
			if c.good {
				mustOK(t, res, "run")
			}
			if res.Code != 0 {
				t.Logf("refused: %s", strings.TrimSpace(res.Stderr))
				return
			}
			var unmasked []string
			for _, p := range maskedFiles {
				if want := p + " character special file 1:3"; !strings.Contains(res.Stdout, want) {
					unmasked = append(unmasked, p)
				}
			}
			if len(unmasked) > 0 {
				t.Errorf("masked paths %v are not the null device: %s", unmasked, res)
			}
		})
	}
}

// consoleReceiver accepts one connection on a unix socket and returns the
// pty master sent over it (nil when none came).
func consoleReceiver(t *testing.T) (string, <-chan *os.File) {
	t.Helper()
	path := filepath.Join(hostDir(t), "console.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan *os.File, 1)
	go func() {
		defer l.Close()
		conn, err := l.AcceptUnix()
		if err != nil {
			ch <- nil
			return
		}
		defer conn.Close()
		buf, oob := make([]byte, 4096), make([]byte, 1024)
		_, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
		if err != nil {
			ch <- nil
			return
		}
		msgs, _ := unix.ParseSocketControlMessage(oob[:oobn])
		if len(msgs) != 1 {
			ch <- nil
			return
		}
		fds, err := unix.ParseUnixRights(&msgs[0])
		if err != nil || len(fds) != 1 {
			ch <- nil
			return
		}
		ch <- os.NewFile(uintptr(fds[0]), "pty-master")
	}()
	t.Cleanup(func() { l.Close() })
	return path, ch
}

// runWithConsole creates the container with a console socket, starts it
// and returns what it wrote to its terminal; refused is the create error.
func runWithConsole(t *testing.T, b *bundle) (out string, refused *result) {
	t.Helper()
	b.Spec.Process.Terminal = true
	sock, ch := consoleReceiver(t)
	id := newID()
	if res := b.create(id, "--console-socket", sock); res.Code != 0 {
		return "", &res
	}
	var master *os.File
	select {
	case master = <-ch:
	case <-time.After(5 * time.Second):
	}
	if master == nil {
		t.Fatal("no pty master received")
	}
	defer master.Close()
	mustOK(t, b.rt("start", id), "start")
	master.SetReadDeadline(time.Now().Add(10 * time.Second))
	var sb strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := master.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return strings.ReplaceAll(sb.String(), "\r", ""), nil
}

// consoleProbe prints the terminal, whether anything is mounted on the
// symlink target, and the target's type (never its content: if a pty
// were mounted there, reading would block).
const consoleTarget = "/proc/sys/kernel/hostname"

var consoleProbe = []string{"sh", "-c", "tty; echo mounts-on-target=$(grep -c ' " + consoleTarget + " ' /proc/self/mountinfo); stat -c 'target=%F' " + consoleTarget + "; stat -c 'console=%F' /dev/console"}

func checkConsole(t *testing.T, out string, refused *result) {
	t.Helper()
	if refused != nil {
		t.Logf("refused: %s", strings.TrimSpace(refused.Stderr))
		return
	}
	for _, want := range []string{"/dev/pts/", "mounts-on-target=0", "target=regular", "console=character special file"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in the container's output (the console went through a planted symlink):\n%s", want, out)
		}
	}
}

// TestConsolePlantedSymlink: /dev/console planted as a symlink to a procfs
// file, with process.terminal.
func TestConsolePlantedSymlink(t *testing.T) {
	b := devBundle(t, func(dev string) { symlink(t, consoleTarget, filepath.Join(dev, "console")) }, consoleProbe...)
	out, refused := runWithConsole(t, b)
	checkConsole(t, out, refused)
}

// TestPlantedDevSymlinks: without a /dev mount the runtime fills the image's
// own /dev; every node and link it makes must replace what the image
// planted there (symlinks to a host path, to elsewhere in the root), never
// follow it: the host file stays as it is, nothing appears at the link
// targets, and /dev ends up with the real nodes.
func TestPlantedDevSymlinks(t *testing.T) {
	r := privateRootfs(t)
	victim := filepath.Join(hostDir(t), "victim")
	writeFile(t, victim, "VICTIM\n")
	dev := filepath.Join(r, "dev")
	for _, name := range []string{"null", "zero", "tty", "urandom", "fd", "stdout"} {
		symlink(t, victim, filepath.Join(dev, name)) // a host path
	}
	symlink(t, "/planted/ptmx", filepath.Join(dev, "ptmx")) // elsewhere in the root
	symlink(t, "/planted/random", filepath.Join(dev, "random"))
	b := newBundle(t, "sh", "-c", "stat -c '%n %F %t:%T' /dev/null /dev/zero /dev/tty /dev/urandom /dev/random; for l in /dev/ptmx /dev/fd /dev/stdout; do readlink $l; done; ls /planted 2>&1; exit 0")
	b.Spec.Root.Path = r
	b.Spec.Linux.MaskedPaths = nil // this test is about /dev alone
	var mounts []specs.Mount
	for _, m := range b.Spec.Mounts {
		if m.Destination != "/dev" {
			mounts = append(mounts, m)
		}
	}
	b.Spec.Mounts = mounts
	res := b.run(newID())
	if data, _ := os.ReadFile(victim); string(data) != "VICTIM\n" {
		t.Errorf("host file %s changed: %q", victim, data)
	}
	if fi, err := os.Lstat(victim); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("host file %s replaced: %v %v", victim, fi, err)
	}
	if _, err := os.Lstat(filepath.Join(r, victim)); err == nil {
		t.Errorf("%s was created inside the rootfs: a planted /dev symlink was followed", victim)
	}
	if res.Code != 0 {
		t.Logf("refused: %s", strings.TrimSpace(res.Stderr))
		return
	}
	var missing []string
	for _, want := range []string{
		"/dev/null character special file 1:3", "/dev/zero character special file 1:5",
		"/dev/tty character special file 5:0", "/dev/urandom character special file 1:9",
		"/dev/random character special file 1:8",
		"pts/ptmx\n/proc/self/fd\n/proc/self/fd/1\n", "No such file",
	} {
		if !strings.Contains(res.Stdout, want) {
			missing = append(missing, want)
		}
	}
	if len(missing) > 0 {
		t.Errorf("missing %q: planted /dev entries were followed or kept:\n%s", missing, res)
	}
}
