package integration

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// consoleReceiver accepts one connection on a unix socket and receives
// the pty master the way containerd and conmon do: exactly one message,
// one SCM_RIGHTS control message with exactly one fd.
func consoleReceiver(t *testing.T) (string, <-chan *os.File) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "console.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan *os.File, 1)
	go func() {
		defer l.Close()
		conn, err := l.AcceptUnix()
		if err != nil {
			t.Error(err)
			ch <- nil
			return
		}
		defer conn.Close()
		buf := make([]byte, 4096)
		oob := make([]byte, 1024)
		n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
		if err != nil {
			t.Error(err)
			ch <- nil
			return
		}
		if oobn != unix.CmsgSpace(4) {
			t.Errorf("control message length %d, want %d", oobn, unix.CmsgSpace(4))
		}
		msgs, _ := unix.ParseSocketControlMessage(oob[:oobn])
		if len(msgs) != 1 {
			t.Errorf("%d control messages", len(msgs))
			ch <- nil
			return
		}
		fds, err := unix.ParseUnixRights(&msgs[0])
		if err != nil || len(fds) != 1 {
			t.Errorf("fds %v: %v", fds, err)
			ch <- nil
			return
		}
		if n == 0 {
			t.Error("no pty name in the payload")
		}
		ch <- os.NewFile(uintptr(fds[0]), string(buf[:n]))
	}()
	return path, ch
}

func TestConsoleSocket(t *testing.T) {
	b := newBundle(t, "sh", "-c", "tty; stty size; echo done")
	b.Spec.Process.Terminal = true
	b.Spec.Process.ConsoleSize = &specs.Box{Height: 33, Width: 101}
	b.write()
	sock, ch := consoleReceiver(t)
	id := newID(t)
	b.cleanup(id)
	mustOK(t, b.nsrun("create", "-b", b.Dir, "--console-socket", sock, id), "create")
	var master *os.File
	select {
	case master = <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("no console received")
	}
	if master == nil {
		t.FailNow()
	}
	defer master.Close()
	mustOK(t, b.nsrun("start", id), "start")
	var out bytes.Buffer
	buf := make([]byte, 1024)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), "done") && time.Now().Before(deadline) {
		master.SetReadDeadline(time.Now().Add(time.Second))
		n, _ := master.Read(buf)
		out.Write(buf[:n])
	}
	got := strings.ReplaceAll(out.String(), "\r", "")
	if !strings.Contains(got, "/dev/console\n") && !strings.Contains(got, "/dev/pts/0\n") {
		t.Errorf("tty: %q", got)
	}
	if !strings.Contains(got, "33 101") {
		t.Errorf("console size: %q", got)
	}
}

func TestTerminalWithoutSocketIsAnError(t *testing.T) {
	b := newBundle(t, "true")
	b.Spec.Process.Terminal = true
	b.write()
	createMustFail(t, b, "console-socket")
}
