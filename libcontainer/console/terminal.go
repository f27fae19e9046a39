package console

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"
)

// Proxy copies in to the master and the master to out, and returns when
// the output side ends: EIO on the master (every slave fd closed, i.e.
// the container's processes are gone) counts as a normal end. The input
// copy runs in the background and may stay blocked reading in; the caller
// is expected to finish soon after.
func Proxy(master *os.File, in io.Reader, out io.Writer) error {
	if in != nil {
		go func() { _, _ = io.Copy(master, in) }()
	}
	_, err := io.Copy(out, master)
	if errors.Is(err, syscall.EIO) {
		return nil
	}
	return err
}

// MakeRaw puts the terminal fd (the caller's own, for a foreground `-t`)
// into raw mode, as cfmakeraw(3) does, and returns a function that
// restores the previous settings, and the input that was already waiting
// in the terminal, which the caller should pass on before anything it reads
// from fd afterwards.
//
// Switching a canonical terminal to raw mode does not discard what its
// line discipline holds, and an end-of-file character (VEOF, ^D) in it is
// held as a NUL byte marking the end of a line: after the switch the NUL
// is read as data. script(1) writes ^D as soon as its own input ends, so
// `script -c 'nsrun run ...' </dev/null` made the container's terminal echo
// "^@". So before going raw, MakeRaw first turns VEOF off (a ^D arriving
// from then on stays a plain byte), then reads the complete lines that are
// waiting, each end-of-file marker turned back into the VEOF character, and
// only then switches.
func MakeRaw(fd int) (restore func() error, pending []byte, err error) {
	orig, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return nil, nil, fmt.Errorf("get termios of fd %d: %w", fd, err)
	}
	restore = func() error {
		if err := unix.IoctlSetTermios(fd, unix.TCSETS, orig); err != nil {
			return fmt.Errorf("restore termios of fd %d: %w", fd, err)
		}
		return nil
	}
	if orig.Lflag&unix.ICANON != 0 {
		noEOF := *orig
		noEOF.Cc[unix.VEOF] = 0 // _POSIX_VDISABLE
		if err := unix.IoctlSetTermios(fd, unix.TCSETS, &noEOF); err != nil {
			return nil, nil, fmt.Errorf("set termios of fd %d: %w", fd, err)
		}
		pending = readPendingLines(fd, orig)
	}
	raw := *orig
	raw.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	raw.Oflag &^= unix.OPOST
	raw.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	raw.Cflag &^= unix.CSIZE | unix.PARENB
	raw.Cflag |= unix.CS8
	raw.Cc[unix.VMIN] = 1
	raw.Cc[unix.VTIME] = 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &raw); err != nil {
		restore()
		return nil, nil, fmt.Errorf("set raw mode on fd %d: %w", fd, err)
	}
	return restore, pending, nil
}

// readPendingLines reads, without blocking, the complete lines a canonical
// terminal holds (a read returns one line at a time). A line that the
// VEOF character ended comes without a line terminator, or empty; its
// VEOF is put back. The bytes of an unfinished line stay in the terminal.
func readPendingLines(fd int, t *unix.Termios) []byte {
	eof := t.Cc[unix.VEOF]
	isEnd := func(c byte) bool {
		return c == '\n' || (c != 0 && (c == t.Cc[unix.VEOL] || c == t.Cc[unix.VEOL2]))
	}
	var out []byte
	buf := make([]byte, 4096+1) // a canonical line holds at most 4095 bytes and its end
	// Bounded: the line discipline holds at most 4096 bytes, each end-of-
	// file marker one of them.
	for i := 0; i < 4096; i++ {
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(pfd, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n == 0 || pfd[0].Revents&unix.POLLIN == 0 || pfd[0].Revents&(unix.POLLHUP|unix.POLLERR|unix.POLLNVAL) != 0 {
			break
		}
		n, err = unix.Read(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n < 0 {
			break
		}
		out = append(out, buf[:n]...)
		if (n == 0 || !isEnd(buf[n-1])) && eof != 0 {
			out = append(out, eof)
		}
	}
	return out
}

// CopySize copies the window size of the terminal fd from to the pty.
func CopySize(from int, to *os.File) error {
	ws, err := unix.IoctlGetWinsize(from, unix.TIOCGWINSZ)
	if err != nil {
		return fmt.Errorf("get window size of fd %d: %w", from, err)
	}
	return withFd(to, func(fd int) error {
		return unix.IoctlSetWinsize(fd, unix.TIOCSWINSZ, ws)
	})
}

// ForwardResize copies the size of terminal from to the pty now and on
// every SIGWINCH, until stop is called. Errors are ignored: the terminal
// may go away at any time and a wrong size is harmless.
func ForwardResize(from int, to *os.File) (stop func()) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, unix.SIGWINCH)
	done := make(chan struct{})
	_ = CopySize(from, to)
	go func() {
		for {
			select {
			case <-sigs:
				_ = CopySize(from, to)
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(sigs)
		close(done)
	}
}
