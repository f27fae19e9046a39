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
// restores the previous settings.
func MakeRaw(fd int) (restore func() error, err error) {
	orig, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return nil, fmt.Errorf("get termios of fd %d: %w", fd, err)
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
		return nil, fmt.Errorf("set raw mode on fd %d: %w", fd, err)
	}
	return func() error {
		if err := unix.IoctlSetTermios(fd, unix.TCSETS, orig); err != nil {
			return fmt.Errorf("restore termios of fd %d: %w", fd, err)
		}
		return nil
	}, nil
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
