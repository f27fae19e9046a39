package container

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nsrun/nsrun/libcontainer/config"
	"github.com/nsrun/nsrun/libcontainer/console"
)

// RunOptions are `run`'s flags beyond create's.
type RunOptions struct {
	Create *CreateOptions
	Detach bool
	Keep   bool
}

// Run creates and starts a container; in the foreground it forwards
// signals, proxies a terminal, waits, deletes (unless Keep) and returns
// the container's exit status (128+N when killed by signal N).
func Run(o *RunOptions) (int, error) {
	// Catch signals before the init exists, so none is lost in between.
	// signal.Notify of every signal costs a round trip to the Go runtime's
	// signal-mask thread per signal (~2 ms here), so it runs while the
	// config is loaded and the cgroups are made, and create waits for it
	// only right before it spawns the init.
	sigs := make(chan os.Signal, 64)
	if !o.Detach {
		notified := make(chan struct{})
		go func() {
			signal.Notify(sigs)
			close(notified)
		}()
		o.Create.beforeSpawn = func() { <-notified }
		// No signal.Stop: it costs as much as Notify, and the caller exits
		// right after Run returns.
	}
	// The container stays locked from create through start: nothing can
	// come in between, and start needs no second lock and state read.
	o.Create.keepLocked = true
	spec, err := config.Load(o.Create.Bundle)
	if err != nil {
		return -1, err
	}
	o.Create.Spec = spec
	var consoleRecv *os.File
	var term *hostTerminal
	if spec.Process != nil && spec.Process.Terminal && o.Create.ConsoleSocket == "" {
		if o.Detach {
			return -1, fmt.Errorf("process.terminal is true: --console-socket is required with --detach")
		}
		// Raw before the container exists: what is typed from now on
		// reaches its terminal, not ours (see rawStdin). Restored last,
		// after the output is drained.
		term = rawStdin()
		defer term.Restore()
		// The init sends the pty master over this pair; we proxy it.
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return -1, fmt.Errorf("console socketpair: %w", err)
		}
		consoleRecv = os.NewFile(uintptr(fds[0]), "console-recv")
		defer consoleRecv.Close()
		o.Create.ConsoleConn = os.NewFile(uintptr(fds[1]), "console-send")
	}
	created, err := Create(o.Create)
	if o.Create.ConsoleConn != nil {
		o.Create.ConsoleConn.Close()
	}
	if err != nil {
		return -1, err
	}
	c := &Container{dir: created.dir, St: created.State}
	var master *os.File
	if consoleRecv != nil {
		if master, _, err = console.ReceiveMaster(consoleRecv); err != nil {
			created.abort(c)
			return -1, err
		}
		defer master.Close()
		// Sized before start: the program begins with our window's size.
		term.copySize(master)
	}
	if err := c.Start(); err != nil {
		created.abort(c)
		return -1, err
	}
	c.Close()
	if o.Detach {
		return 0, nil
	}
	if master != nil {
		drain := term.proxy(master)
		defer drain()
	}
	code := created.waitForwarding(sigs, master)
	if !o.Keep {
		if c, err := Open(o.Create.Root, o.Create.ID); err == nil {
			if err := c.Delete(true); err != nil {
				c.Close()
				return code, err
			}
		}
	}
	return code, nil
}

// abort removes a container that was created but could not be started; c
// is the container, still locked since create.
func (cr *Created) abort(c *Container) {
	cr.init.kill()
	if err := c.Delete(true); err != nil {
		c.Close()
	}
}

// waitForwarding relays signals to the init until it exits, then returns
// its exit status.
func (cr *Created) waitForwarding(sigs chan os.Signal, master *os.File) int {
	done := make(chan unix.WaitStatus, 1)
	go func() {
		ws, _ := cr.init.wait()
		done <- ws
	}()
	for {
		select {
		case ws := <-done:
			if ws.Signaled() {
				return 128 + int(ws.Signal())
			}
			return ws.ExitStatus()
		case s := <-sigs:
			sig := s.(syscall.Signal)
			switch sig {
			case unix.SIGCHLD, unix.SIGURG, unix.SIGPIPE:
				// SIGCHLD is ours (the init's exit); SIGURG is the Go
				// runtime's preemption signal.
			case unix.SIGWINCH:
				if master != nil {
					console.CopySize(int(os.Stdin.Fd()), master)
				}
			default:
				unix.Kill(cr.State.Pid, sig)
			}
		}
	}
}

// hostTerminal is nsrun's own stdin, when it is a terminal, in raw mode
// while nsrun proxies the container's pty to it (a foreground `run` or
// `exec -t` without --console-socket).
type hostTerminal struct {
	restore func() error
	// pending is what was typed before raw mode, sent on first.
	pending []byte
}

// rawStdin puts our stdin into raw mode, when it is a terminal (else the
// result does nothing). Callers do this before the container's process
// exists: from then on, what is typed is neither echoed nor edited by our
// terminal but passed on to the container's. What was already typed is
// kept (console.MakeRaw tells why an end-of-file needs care) and sent
// first.
func rawStdin() *hostTerminal {
	t := &hostTerminal{}
	if r, pending, err := console.MakeRaw(int(os.Stdin.Fd())); err == nil {
		t.restore, t.pending = r, pending
	}
	return t
}

// Restore puts our terminal back as it was, once.
func (t *hostTerminal) Restore() {
	if t != nil && t.restore != nil {
		t.restore()
		t.restore = nil
	}
}

// copySize gives the pty the window size of our terminal.
func (t *hostTerminal) copySize(master *os.File) {
	if t != nil && t.restore != nil {
		console.CopySize(int(os.Stdin.Fd()), master)
	}
}

// proxy copies between our stdio and the container's pty and returns a
// function that waits for the output copy to finish: the process may have
// exited with output still in the pty, which the master yields until the
// last slave fd is closed (EIO). A slave kept open by a process left
// behind bounds that wait.
func (t *hostTerminal) proxy(master *os.File) (drain func()) {
	go func() {
		if t != nil && len(t.pending) > 0 {
			if _, err := master.Write(t.pending); err != nil {
				return
			}
		}
		io.Copy(master, os.Stdin)
	}()
	drained := make(chan struct{})
	go func() {
		io.Copy(os.Stdout, master)
		close(drained)
	}()
	return func() {
		select {
		case <-drained:
		case <-time.After(2 * time.Second):
		}
	}
}
