package console

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// SendMaster connects to the unix stream socket at socketPath
// (--console-socket) and sends the master with SendMasterFd. After
// pivot_root the host path is unreachable; the init then gets the socket
// already connected and uses SendMasterFd.
func SendMaster(socketPath string, master *os.File, name string) error {
	sock, err := Connect(socketPath)
	if err != nil {
		return err
	}
	defer sock.Close()
	return SendMasterFd(sock, master, name)
}

// Connect opens a unix stream connection to the console socket at
// socketPath. It uses the raw syscalls rather than package net, which
// nsrun does not link: its package initialisation alone costs every nsrun
// process (runtime and init) about 0.2 ms.
func Connect(socketPath string) (*os.File, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("console socket: %w", err)
	}
	for {
		err = unix.Connect(fd, &unix.SockaddrUnix{Name: socketPath})
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("connect to console socket %s: %w", socketPath, err)
	}
	return os.NewFile(uintptr(fd), socketPath), nil
}

// SendMasterFd sends the pty master over a connected unix socket in
// exactly ONE sendmsg(2): the payload is name (runc sends the master's
// file name, "/dev/ptmx"; empty means master.Name()), with one SCM_RIGHTS
// control message carrying exactly one fd. containerd rejects any other
// control length and conmon requires cmsg_len == CMSG_LEN(sizeof(int)).
func SendMasterFd(sock *os.File, master *os.File, name string) error {
	if name == "" {
		name = master.Name()
	}
	if name == "" {
		// A stream socket does not deliver control data without at least
		// one byte of payload.
		return errors.New("send pty master: empty name")
	}
	return withFd(master, func(mfd int) error {
		rc, err := sock.SyscallConn()
		if err != nil {
			return err
		}
		var n int
		var sendErr error
		err = rc.Write(func(sfd uintptr) bool {
			n, sendErr = unix.SendmsgN(int(sfd), []byte(name), unix.UnixRights(mfd), nil, 0)
			return !errors.Is(sendErr, unix.EAGAIN)
		})
		if err == nil {
			err = sendErr
		}
		if err != nil {
			return fmt.Errorf("send pty master over console socket: %w", err)
		}
		if n != len(name) {
			return fmt.Errorf("send pty master over console socket: short write (%d of %d bytes)", n, len(name))
		}
		return nil
	})
}

// ReceiveMaster is the other end of SendMasterFd: it reads one message
// from sock and returns the fd it carried (close-on-exec) and the name.
// It insists on exactly one fd, closing any extra ones. nsrun uses it
// when it proxies the pty itself (foreground `run -t`).
func ReceiveMaster(sock *os.File) (*os.File, string, error) {
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4*8)) // room to notice extra fds
	var n, oobn, flags int
	var recvErr error
	rc, err := sock.SyscallConn()
	if err != nil {
		return nil, "", err
	}
	err = rc.Read(func(fd uintptr) bool {
		n, oobn, flags, _, recvErr = unix.Recvmsg(int(fd), buf, oob, unix.MSG_CMSG_CLOEXEC)
		return !errors.Is(recvErr, unix.EAGAIN)
	})
	if err == nil {
		err = recvErr
	}
	if err != nil {
		return nil, "", fmt.Errorf("receive pty master: %w", err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		return nil, "", fmt.Errorf("receive pty master: %w", err)
	}
	var fds []int
	for _, m := range msgs {
		if m.Header.Level != unix.SOL_SOCKET || m.Header.Type != unix.SCM_RIGHTS {
			continue
		}
		got, err := unix.ParseUnixRights(&m)
		if err != nil {
			closeAll(fds)
			return nil, "", fmt.Errorf("receive pty master: %w", err)
		}
		fds = append(fds, got...)
	}
	if len(fds) != 1 || flags&unix.MSG_CTRUNC != 0 {
		closeAll(fds)
		return nil, "", fmt.Errorf("receive pty master: got %d fds (truncated: %v), want exactly 1", len(fds), flags&unix.MSG_CTRUNC != 0)
	}
	name := string(buf[:n])
	return os.NewFile(uintptr(fds[0]), name), name, nil
}

func closeAll(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}
