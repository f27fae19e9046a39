package integration

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// ptyTerminal is the terminal a person would run nsrun in: a pty pair
// whose slave is nsrun's stdio and controlling terminal, and whose master
// the test types into and reads the screen from.
type ptyTerminal struct {
	t      *testing.T
	master *os.File
	slave  *os.File
	mu     sync.Mutex
	out    bytes.Buffer // everything read from the master
}

// newPtyTerminal opens /dev/ptmx, unlocks the slave (unlockpt) and opens
// it (ptsname), with a rows x cols window.
func newPtyTerminal(t *testing.T, rows, cols uint16) *ptyTerminal {
	t.Helper()
	mfd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlSetPointerInt(mfd, unix.TIOCSPTLCK, 0); err != nil {
		unix.Close(mfd)
		t.Fatalf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetUint32(mfd, unix.TIOCGPTN)
	if err != nil {
		unix.Close(mfd)
		t.Fatalf("ptsname: %v", err)
	}
	// Non-blocking, so the master is pollable: reads honour deadlines and
	// Close wakes a blocked reader.
	master := os.NewFile(uintptr(mfd), "ptmx")
	slave, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		master.Close()
		t.Fatal(err)
	}
	p := &ptyTerminal{t: t, master: master, slave: slave}
	p.resize(rows, cols)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			p.mu.Lock()
			p.out.Write(buf[:n])
			p.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		master.Close()
		slave.Close()
	})
	return p
}

func (p *ptyTerminal) resize(rows, cols uint16) {
	p.t.Helper()
	ws := &unix.Winsize{Row: rows, Col: cols}
	if err := unix.IoctlSetWinsize(int(p.master.Fd()), unix.TIOCSWINSZ, ws); err != nil {
		p.t.Fatalf("TIOCSWINSZ: %v", err)
	}
}

func (p *ptyTerminal) termios() unix.Termios {
	p.t.Helper()
	tio, err := unix.IoctlGetTermios(int(p.slave.Fd()), unix.TCGETS)
	if err != nil {
		p.t.Fatalf("TCGETS: %v", err)
	}
	return *tio
}

// output returns everything read from the master so far.
func (p *ptyTerminal) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// mark is the current length of the output: expect searches past it.
func (p *ptyTerminal) mark() int { return len(p.output()) }

func (p *ptyTerminal) send(s string) {
	p.t.Helper()
	if _, err := p.master.Write([]byte(s)); err != nil {
		p.t.Fatalf("write to the pty: %v", err)
	}
}

// expect waits until the output after from matches re and returns the
// submatches, or nil after timeout.
func (p *ptyTerminal) expect(from int, re *regexp.Regexp, timeout time.Duration) []string {
	deadline := time.Now().Add(timeout * time.Duration(timeScale))
	for {
		if out := p.output(); len(out) >= from {
			if m := re.FindStringSubmatch(out[from:]); m != nil {
				return m
			}
		}
		if time.Now().After(deadline) {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// mustExpect is expect that fails the test on timeout.
func (p *ptyTerminal) mustExpect(from int, re string) []string {
	p.t.Helper()
	m := p.expect(from, regexp.MustCompile(re), 10*time.Second)
	if m == nil {
		p.t.Fatalf("%q not seen; terminal output:\n%q", re, p.output()[from:])
	}
	return m
}

// ttyNsrun is an nsrun started in the terminal.
type ttyNsrun struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once it was waited for
}

// start runs nsrun with the slave as stdin, stdout, stderr and controlling
// terminal of a new session, as in a person's terminal.
func (p *ptyTerminal) start(root string, args ...string) *ttyNsrun {
	p.t.Helper()
	cmd := exec.Command(nsrunBin, append([]string{"--root", root}, args...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = p.slave, p.slave, p.slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	n := &ttyNsrun{cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); close(n.done) }()
	p.t.Cleanup(func() {
		cmd.Process.Kill()
		<-n.done
	})
	return n
}

// wait waits for nsrun and returns its exit code.
func (p *ptyTerminal) wait(n *ttyNsrun) int {
	p.t.Helper()
	select {
	case <-n.done:
	case <-time.After(10 * time.Second * time.Duration(timeScale)):
		p.t.Fatalf("nsrun did not exit; terminal output:\n%q", p.output())
	}
	return n.cmd.ProcessState.ExitCode()
}

// assertNoNUL checks the whole session for a NUL byte, or the "^@" a
// terminal echoes for one.
func (p *ptyTerminal) assertNoNUL() {
	p.t.Helper()
	out := p.output()
	if strings.Contains(out, "\x00") || strings.Contains(out, "^@") {
		p.t.Errorf("NUL or ^@ in the terminal output:\n%q", out)
	}
}

// driveShell runs an interactive busybox shell through the terminal:
// type-ahead before nsrun starts, arithmetic, the window size and its
// change, the tty name, the exit status, and our terminal's mode after.
func driveShell(t *testing.T, root string, args ...string) {
	term := newPtyTerminal(t, 30, 100)
	before := term.termios()
	// Typed before nsrun runs: it waits in our terminal's line discipline
	// and must reach the shell as typed.
	term.send("echo typed-ahead-$((2+3))\n")
	cmd := term.start(root, args...)
	term.mustExpect(0, `typed-ahead-5\r?\n`)

	from := term.mark()
	term.send("echo hello-$((6*7))\n")
	term.mustExpect(from, `hello-42\r?\n`)
	// While the shell runs, our terminal is raw: nsrun passes every byte on.
	if raw := term.termios(); raw.Lflag&(unix.ICANON|unix.ECHO|unix.ISIG) != 0 {
		t.Errorf("outer terminal not in raw mode while proxying: lflag %#x", raw.Lflag)
	}

	from = term.mark()
	term.send("echo size=$(stty size)\n")
	term.mustExpect(from, `size=30 100\r?\n`)

	// A new window size reaches the container's terminal on SIGWINCH (the
	// kernel sends one to nsrun's process group; so do we).
	term.resize(40, 120)
	cmd.cmd.Process.Signal(unix.SIGWINCH)
	resized := regexp.MustCompile(`size=40 120\r?\n`)
	ok := false
	for i := 0; i < 20 && !ok; i++ {
		from = term.mark()
		term.send("echo size=$(stty size)\n")
		ok = term.expect(from, resized, time.Second) != nil
	}
	if !ok {
		t.Fatalf("window size change not seen; terminal output:\n%q", term.output())
	}

	from = term.mark()
	term.send("echo tty=$(tty)\n")
	term.mustExpect(from, `tty=/dev/pts/[0-9]+\r?\n`)

	term.send("exit 3\n")
	if code := term.wait(cmd); code != 3 {
		t.Errorf("nsrun exited %d, want 3; terminal output:\n%q", code, term.output())
	}
	if after := term.termios(); after != before {
		t.Errorf("terminal mode not restored:\nbefore %+v\nafter  %+v", before, after)
	}
	term.assertNoNUL()
}

func TestTTYRunForeground(t *testing.T) {
	b := newBundle(t, "sh")
	b.Spec.Process.Terminal = true
	b.write()
	id := newID(t)
	b.cleanup(id)
	driveShell(t, b.Root, "run", "-b", b.Dir, id)
	assertNoTrace(t, b.Root, id)
}

func TestTTYExecForeground(t *testing.T) {
	b, id, _ := newExecTarget(t)
	driveShell(t, b.Root, "exec", "-t", id, "sh")
}

// TestTTYExecEOFBeforeRawMode: an end-of-file typed before nsrun puts the
// terminal in raw mode (script(1) sends one as soon as its input ends) is
// held by the line discipline as a NUL marker, which raw mode hands out as
// a data byte: the container's terminal then echoed "^@" and its program
// never saw the end of its input. It must arrive as ^D.
func TestTTYExecEOFBeforeRawMode(t *testing.T) {
	b, id, _ := newExecTarget(t)
	term := newPtyTerminal(t, 24, 80)
	before := term.termios()
	term.send("\x04")
	cmd := term.start(b.Root, "exec", "-t", id, "sh", "-c", "cat; echo after-eof; exit 4")
	term.mustExpect(0, `after-eof\r?\n`)
	if code := term.wait(cmd); code != 4 {
		t.Errorf("nsrun exited %d, want 4; terminal output:\n%q", code, term.output())
	}
	if after := term.termios(); after != before {
		t.Errorf("terminal mode not restored:\nbefore %+v\nafter  %+v", before, after)
	}
	term.assertNoNUL()
}
