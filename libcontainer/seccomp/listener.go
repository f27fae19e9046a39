package seccomp

import (
	"encoding/json"
	"fmt"
	"net"
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

	d := net.Dialer{Timeout: listenerTimeout}
	c, err := d.Dial("unix", listenerPath)
	if err != nil {
		return fmt.Errorf("%s: connect to %s: %w", path, listenerPath, err)
	}
	defer c.Close()
	conn := c.(*net.UnixConn)
	if err := conn.SetWriteDeadline(time.Now().Add(listenerTimeout)); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	// The fd rides on the first byte, so an agent that reads the message
	// with one recvmsg gets both.
	n, _, err := conn.WriteMsgUnix(msg, unix.UnixRights(int(fd.Fd())), nil)
	runtime.KeepAlive(fd)
	if err != nil {
		return fmt.Errorf("%s: send to %s: %w", path, listenerPath, err)
	}
	// A stream socket may take a large state in pieces; the rest goes
	// without the fd.
	if n < len(msg) {
		if _, err := conn.Write(msg[n:]); err != nil {
			return fmt.Errorf("%s: send to %s: %w", path, listenerPath, err)
		}
	}
	if err := conn.Close(); err != nil {
		return fmt.Errorf("%s: close connection to %s: %w", path, listenerPath, err)
	}
	return nil
}
