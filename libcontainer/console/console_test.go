package console

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const childEnv = "NSRUN_CONSOLE_TEST_SLAVE"

// TestMain: with childEnv set, this binary is the process whose stdio
// becomes the pty slave.
func TestMain(m *testing.M) {
	if slave := os.Getenv(childEnv); slave != "" {
		if err := SetupSlaveStdio(slave); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		sid, err := unix.IoctlGetInt(0, unix.TIOCGSID)
		link, _ := os.Readlink("/proc/self/fd/1")
		fmt.Printf("sid-ok=%v err=%v fd1=%s\n", sid == os.Getpid(), err, link)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func newPty(t *testing.T) (*os.File, string) {
	t.Helper()
	master, slave, err := NewPty()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { master.Close() })
	if !strings.HasPrefix(slave, "/dev/pts/") {
		t.Fatalf("slave path %q", slave)
	}
	return master, slave
}

func readUntil(t *testing.T, r io.Reader, want string) string {
	t.Helper()
	var got bytes.Buffer
	buf := make([]byte, 256)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(got.String(), want) && time.Now().Before(deadline) {
		n, err := r.Read(buf)
		got.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return got.String()
}

func TestPtyRoundTrip(t *testing.T) {
	master, slavePath := newPty(t)
	slave, err := os.OpenFile(slavePath, os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer slave.Close()

	if _, err := slave.Write([]byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	if got := readUntil(t, master, "\n"); got != "hello\r\n" {
		t.Errorf("master read %q, want ONLCR-translated %q", got, "hello\r\n")
	}
	if _, err := master.Write([]byte("ping\n")); err != nil {
		t.Fatal(err)
	}
	if got := readUntil(t, slave, "ping\n"); got != "ping\n" {
		t.Errorf("slave read %q", got)
	}
	// The terminal echoes input back to the master.
	if got := readUntil(t, master, "ping"); !strings.Contains(got, "ping") {
		t.Errorf("no echo: %q", got)
	}

	if err := SetSize(master, 40, 132); err != nil {
		t.Fatal(err)
	}
	ws, err := unix.IoctlGetWinsize(int(slave.Fd()), unix.TIOCGWINSZ)
	if err != nil || ws.Row != 40 || ws.Col != 132 {
		t.Errorf("winsize %+v, %v", ws, err)
	}
	if err := CopySize(int(slave.Fd()), master); err != nil {
		t.Errorf("CopySize: %v", err)
	}

	if err := ClearONLCR(master); err != nil {
		t.Fatal(err)
	}
	slave.Write([]byte("raw\n"))
	if got := readUntil(t, master, "\n"); got != "raw\n" {
		t.Errorf("after ClearONLCR: %q", got)
	}
}

// receiveRaw accepts one connection and checks the message bytes the way
// containerd and conmon do.
func receiveRaw(t *testing.T, conn *net.UnixConn) (name string, fd int) {
	t.Helper()
	buf := make([]byte, 4096)
	oob := make([]byte, 1024)
	n, oobn, flags, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		t.Fatal(err)
	}
	if flags&unix.MSG_CTRUNC != 0 {
		t.Fatal("control data truncated")
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 {
		t.Fatalf("%d control messages, want 1", len(msgs))
	}
	h := msgs[0].Header
	if h.Level != unix.SOL_SOCKET || h.Type != unix.SCM_RIGHTS || int(h.Len) != unix.CmsgLen(4) {
		t.Fatalf("cmsg level %d type %d len %d, want SCM_RIGHTS with len %d", h.Level, h.Type, h.Len, unix.CmsgLen(4))
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		t.Fatalf("fds %v, %v", fds, err)
	}
	// Exactly one sendmsg: nothing follows.
	conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	if m, err := conn.Read(buf[n:]); m != 0 || !errors.Is(err, io.EOF) {
		t.Errorf("after the message: %d more bytes, %v", m, err)
	}
	return string(buf[:n]), fds[0]
}

func TestSendMaster(t *testing.T) {
	master, slavePath := newPty(t)
	sockPath := filepath.Join(t.TempDir(), "console.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sockPath, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	type result struct {
		name string
		fd   int
	}
	res := make(chan result, 1)
	go func() {
		conn, err := l.AcceptUnix()
		if err != nil {
			t.Error(err)
			res <- result{}
			return
		}
		defer conn.Close()
		name, fd := receiveRaw(t, conn)
		res <- result{name, fd}
	}()
	if err := SendMaster(sockPath, master, ""); err != nil {
		t.Fatal(err)
	}
	r := <-res
	if r.name != "/dev/ptmx" {
		t.Errorf("name %q, want /dev/ptmx", r.name)
	}
	defer unix.Close(r.fd)
	// The received fd is the master of the same pty.
	n, err := unix.IoctlGetUint32(r.fd, unix.TIOCGPTN)
	if err != nil || fmt.Sprintf("/dev/pts/%d", n) != slavePath {
		t.Errorf("received fd is pty %d (%v), want %s", n, err, slavePath)
	}
}

func TestSendMasterFdAndReceive(t *testing.T) {
	master, slavePath := newPty(t)
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	a, b := os.NewFile(uintptr(pair[0]), "a"), os.NewFile(uintptr(pair[1]), "b")
	defer a.Close()
	defer b.Close()
	if err := SendMasterFd(a, master, "my-pty"); err != nil {
		t.Fatal(err)
	}
	got, name, err := ReceiveMaster(b)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	if name != "my-pty" {
		t.Errorf("name %q", name)
	}
	n, err := unix.IoctlGetUint32(int(got.Fd()), unix.TIOCGPTN)
	if err != nil || fmt.Sprintf("/dev/pts/%d", n) != slavePath {
		t.Errorf("received pty %d (%v), want %s", n, err, slavePath)
	}
}

func TestReceiveMasterRejectsTwoFds(t *testing.T) {
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(pair[0])
	b := os.NewFile(uintptr(pair[1]), "b")
	defer b.Close()
	if err := unix.Sendmsg(pair[0], []byte("x"), unix.UnixRights(0, 1), nil, 0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ReceiveMaster(b); err == nil || !strings.Contains(err.Error(), "got 2 fds") {
		t.Errorf("got %v", err)
	}
}

func TestSetupSlaveStdioAndProxy(t *testing.T) {
	master, slavePath := newPty(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+slavePath)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr // replaced by the slave in the child after setup
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	proxyDone := make(chan error, 1)
	go func() { proxyDone <- Proxy(master, nil, &out) }()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v: %s", err, stderr.String())
	}
	// Once the child is gone no slave fd remains open (ours is not opened
	// in this test), so the master reads EIO and Proxy ends cleanly.
	select {
	case err := <-proxyDone:
		if err != nil {
			t.Errorf("Proxy: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Proxy did not end after the slave closed")
	}
	want := "sid-ok=true err=<nil> fd1=" + slavePath + "\r\n"
	if out.String() != want {
		t.Errorf("child wrote %q, want %q", out.String(), want)
	}
}

// TestMountConsole runs in a private mount namespace on a thread that is
// thrown away afterwards, so the mount never reaches the host.
func TestMountConsole(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	_, slavePath := newPty(t)
	dir := t.TempDir()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		errc <- func() error {
			if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
				return fmt.Errorf("unshare: %w", err)
			}
			if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
				return fmt.Errorf("make / private: %w", err)
			}
			// Absent: created, then mounted.
			target := filepath.Join(dir, "console")
			if err := mountConsoleAt(slavePath, target); err != nil {
				return err
			}
			var got, want unix.Stat_t
			if err := unix.Stat(target, &got); err != nil {
				return err
			}
			if err := unix.Stat(slavePath, &want); err != nil {
				return err
			}
			if got.Rdev != want.Rdev || got.Mode&unix.S_IFMT != unix.S_IFCHR {
				return fmt.Errorf("%s is rdev %#x mode %o, want the slave %#x", target, got.Rdev, got.Mode, want.Rdev)
			}
			// An existing file is used as is.
			existing := filepath.Join(dir, "existing")
			if err := os.WriteFile(existing, nil, 0o644); err != nil {
				return err
			}
			if err := mountConsoleAt(slavePath, existing); err != nil {
				return err
			}
			// A symlink is refused and left alone.
			link := filepath.Join(dir, "link")
			if err := os.Symlink(filepath.Join(dir, "elsewhere"), link); err != nil {
				return err
			}
			if err := mountConsoleAt(slavePath, link); err == nil || !strings.Contains(err.Error(), "symlink") {
				return fmt.Errorf("symlink: got %v", err)
			}
			if _, err := os.Lstat(filepath.Join(dir, "elsewhere")); err == nil {
				return fmt.Errorf("symlink target was created")
			}
			return nil
		}()
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

func TestSetupSlaveStdioRefusesNonDevpts(t *testing.T) {
	// In a child: SetupSlaveStdio calls setsid first.
	f := filepath.Join(t.TempDir(), "fake-pts")
	os.WriteFile(f, nil, 0o644)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+f)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "not on a devpts") {
		t.Errorf("got %v: %s", err, out)
	}
}

func TestMakeRaw(t *testing.T) {
	_, slavePath := newPty(t)
	slave, err := os.OpenFile(slavePath, os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer slave.Close()
	fd := int(slave.Fd())
	before, _ := unix.IoctlGetTermios(fd, unix.TCGETS)
	restore, pending, err := MakeRaw(fd)
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 0 {
		t.Errorf("pending %q with nothing typed", pending)
	}
	raw, _ := unix.IoctlGetTermios(fd, unix.TCGETS)
	if raw.Lflag&(unix.ECHO|unix.ICANON) != 0 || raw.Oflag&unix.OPOST != 0 {
		t.Errorf("not raw: %+v", raw)
	}
	if err := restore(); err != nil {
		t.Fatal(err)
	}
	back, _ := unix.IoctlGetTermios(fd, unix.TCGETS)
	if *back != *before {
		t.Errorf("not restored: %+v, was %+v", back, before)
	}
}

// TestMakeRawKeepsPendingInput: what was typed before raw mode comes back
// as typed; an end-of-file (^D), which a canonical terminal holds as a NUL
// marker that raw mode would hand out as data, comes back as ^D.
func TestMakeRawKeepsPendingInput(t *testing.T) {
	master, slavePath := newPty(t)
	slave, err := os.OpenFile(slavePath, os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer slave.Close()
	fd := int(slave.Fd())
	before, _ := unix.IoctlGetTermios(fd, unix.TCGETS)
	// Two lines, an end-of-file alone, a line ended by end-of-file, and
	// an unfinished line.
	if _, err := master.Write([]byte("ls\n\x04ab\x04cd")); err != nil {
		t.Fatal(err)
	}
	// The line discipline takes the input asynchronously: wait until it
	// holds a complete line.
	unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 5000)
	restore, pending, err := MakeRaw(fd)
	if err != nil {
		t.Fatal(err)
	}
	defer restore()
	// The unfinished line stays in the terminal; a ^D typed now is data.
	if _, err := master.Write([]byte("\x04")); err != nil {
		t.Fatal(err)
	}
	const want = "ls\n\x04ab\x04cd\x04"
	got := append([]byte(nil), pending...)
	buf := make([]byte, 16)
	for len(got) < len(want) {
		if n, _ := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 5000); n <= 0 {
			break
		}
		n, err := unix.Read(fd, buf)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, buf[:n]...)
	}
	if string(got) != want {
		t.Errorf("input before (%q) and after raw mode: %q, want %q", pending, got, want)
	}
	if err := restore(); err != nil {
		t.Fatal(err)
	}
	if back, _ := unix.IoctlGetTermios(fd, unix.TCGETS); *back != *before {
		t.Errorf("not restored: %+v, was %+v", back, before)
	}
}
