package seccomp

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// listenerTimeout bounds connecting to and writing to the agent: a stuck
// agent must fail the create, not hang it.
const listenerTimeout = 10 * time.Second

// SendListener hands the notify fd to the seccomp agent listening on the
// unix stream socket listenerPath, as config-linux.md "listenerPath"
// describes: one connection carrying one ContainerProcessState JSON whose
// fds are ["seccompFd"], with the fd itself attached as SCM_RIGHTS; then the
// connection is closed. It runs in the runtime (the path is a host path).
// The caller keeps ownership of fd.
func SendListener(listenerPath string, metadata string, fd *os.File, st *specs.State, pid int) error {
	const path = basePath + ".listenerPath"
	if fd == nil {
		return fmt.Errorf("%s: no notify fd to send", path)
	}
	if st == nil {
		return fmt.Errorf("%s: no container state to send", path)
	}
	msg, err := json.Marshal(specs.ContainerProcessState{
		Version:  specs.Version,
		Fds:      []string{specs.SeccompFdName},
		Pid:      pid,
		Metadata: metadata,
		State:    *st,
	})
	if err != nil {
		return fmt.Errorf("%s: encode container process state: %w", path, err)
	}

	// Raw syscalls rather than package net, which nsrun does not link (its
	// initialisation costs every nsrun process ~0.2 ms). SO_SNDTIMEO bounds
	// connect(2) on a full backlog as well as the writes.
	sock, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("%s: socket: %w", path, err)
	}
	closed := false
	defer func() {
		if !closed {
			unix.Close(sock)
		}
	}()
	tv := unix.NsecToTimeval(listenerTimeout.Nanoseconds())
	if err := unix.SetsockoptTimeval(sock, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv); err != nil {
		return fmt.Errorf("%s: set send timeout: %w", path, err)
	}
	if err := retryEINTR(func() error { return unix.Connect(sock, &unix.SockaddrUnix{Name: listenerPath}) }); err != nil {
		return fmt.Errorf("%s: connect to %s: %w", path, listenerPath, err)
	}
	// The fd rides on the first byte, so an agent that reads the message
	// with one recvmsg gets both. A stream socket may take a large state in
	// pieces; the rest goes without the fd.
	rights := unix.UnixRights(int(fd.Fd()))
	for len(msg) > 0 {
		var n int
		err := retryEINTR(func() (err error) {
			n, err = unix.SendmsgN(sock, msg, rights, nil, unix.MSG_NOSIGNAL)
			return err
		})
		runtime.KeepAlive(fd)
		if err == nil && n == 0 {
			err = io.ErrShortWrite
		}
		if err != nil {
			return fmt.Errorf("%s: send to %s: %w", path, listenerPath, err)
		}
		msg, rights = msg[n:], nil
	}
	closed = true
	if err := unix.Close(sock); err != nil {
		return fmt.Errorf("%s: close connection to %s: %w", path, listenerPath, err)
	}
	return nil
}

// retryEINTR runs op again while it is interrupted by a signal.
func retryEINTR(op func() error) error {
	for {
		if err := op(); err != unix.EINTR {
			return err
		}
	}
}
