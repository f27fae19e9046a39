// Package protocol defines the messages between the runtime and the init
// process. They travel as JSON, one message per datagram, over a
// SOCK_SEQPACKET socketpair: datagrams keep message boundaries, and the
// C constructor in nsenter speaks the same format with a few printf calls.
package protocol

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Message types.
const (
	TypeConfig    = "config"    // runtime -> init: InitConfig
	TypeIDMap     = "idmap"     // init (C) -> runtime: write my uid/gid maps
	TypeIDMapDone = "idmapDone" // runtime -> init (C)
	TypePid       = "pid"       // init (C) -> runtime: the forked init's pid
	TypeHooks     = "hooks"     // init -> runtime: run prestart + createRuntime
	TypeHooksDone = "hooksDone" // runtime -> init
	TypeReady     = "ready"     // init -> runtime: set up, parked on the fifo
	TypeError     = "error"     // init -> runtime: setup failed
	// TypeSeccompFd carries the seccomp notify listener (SCM_RIGHTS): only
	// the runtime can reach linux.seccomp.listenerPath on the host.
	TypeSeccompFd   = "seccompFd"   // init -> runtime
	TypeSeccompDone = "seccompDone" // runtime -> init
)

// Message is one datagram. Only the fields of its type are set.
type Message struct {
	Type    string `json:"type"`
	Message string `json:"message,omitempty"`
	Pid     int    `json:"pid,omitempty"`
	// Size of the message that follows a TypeLarge header.
	Size   int         `json:"size,omitempty"`
	Config *InitConfig `json:"config,omitempty"`
	// Warnings the init collected, sent with "ready": its stderr is the
	// container's, so the runtime logs them instead.
	Warnings []string `json:"warnings,omitempty"`
	// File is an fd that came with the message (SCM_RIGHTS).
	File *os.File `json:"-"`
}

// InitConfig is everything the init needs to set the container up.
type InitConfig struct {
	Spec   *specs.Spec `json:"spec"`
	Bundle string      `json:"bundle"`
	Rootfs string      `json:"rootfs"`
	// Exec is set for `nsrun exec`: only the process is set up, in the
	// namespaces the init already has.
	Exec    bool `json:"exec,omitempty"`
	NoPivot bool `json:"noPivot,omitempty"`
	// UserNS: the container has a user namespace (new or joined).
	UserNS bool `json:"userNS,omitempty"`
	// NewTimeNS: the init unshares a time namespace and writes the offsets.
	NewTimeNS   bool `json:"newTimeNS,omitempty"`
	NewCgroupNS bool `json:"newCgroupNS,omitempty"`
	// HostMountNS: no mount namespace; see rootfs.Config.HostMountNS.
	HostMountNS bool              `json:"hostMountNS,omitempty"`
	CgroupPaths map[string]string `json:"cgroupPaths,omitempty"`
	// Fds in the init: the exec fifo (O_PATH) and the console socket, -1
	// when absent.
	FifoFd          int `json:"fifoFd"`
	ConsoleSocketFd int `json:"consoleSocketFd"`
	// PreserveFds: fds 3..3+N-1 pass to the user program.
	PreserveFds int `json:"preserveFds,omitempty"`
	// NoNewKeyring: keep the runtime's session keyring.
	NoNewKeyring bool `json:"noNewKeyring,omitempty"`
	// State is the OCI state handed to createContainer/startContainer hooks.
	State *specs.State `json:"state,omitempty"`
}

// maxMessage bounds one message. The config message holds the config
// (at most 64 MiB) and its annotations once more, in the state for the
// hooks the init runs.
const maxMessage = 192 << 20

// chunkSize is the largest message sent as one datagram. A datagram is one
// kernel allocation: above a few MiB (less when memory is fragmented)
// sendmsg fails with ENOBUFS, whatever the send buffer. A larger message
// goes as a TypeLarge header giving its size, then its bytes in datagrams
// of chunkSize, which the receiver joins.
const chunkSize = 64 << 10

// TypeLarge announces a message of Size bytes sent in chunks.
const TypeLarge = "large"

// Conn is one end of the socketpair.
type Conn struct{ f *os.File }

// NewPair makes the socketpair: the runtime's end and the init's end.
func NewPair() (parent, child *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("init socketpair: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "init-parent"), os.NewFile(uintptr(fds[1]), "init-child"), nil
}

// NewConn wraps an end of the pair.
func NewConn(f *os.File) *Conn { return &Conn{f: f} }

// File returns the underlying socket.
func (c *Conn) File() *os.File { return c.f }

// Close closes the socket.
func (c *Conn) Close() error { return c.f.Close() }

// Send writes one message.
func (c *Conn) Send(m *Message) error {
	data, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode %s message: %w", m.Type, err)
	}
	if len(data) > maxMessage {
		return fmt.Errorf("%s message too large (%d bytes, limit %d MiB)", m.Type, len(data), maxMessage>>20)
	}
	var oob []byte
	if m.File != nil {
		oob = unix.UnixRights(int(m.File.Fd()))
	}
	if len(data) > chunkSize && oob == nil {
		return c.sendLarge(m.Type, data)
	}
	if err := unix.Sendmsg(int(c.f.Fd()), data, oob, nil, unix.MSG_NOSIGNAL); err != nil {
		return fmt.Errorf("send %s message: %w", m.Type, err)
	}
	return nil
}

// sendLarge sends data as a TypeLarge header and chunks (see chunkSize).
// The sends block while the receiver's queue is full: it reads meanwhile.
func (c *Conn) sendLarge(typ string, data []byte) error {
	hdr, _ := json.Marshal(&Message{Type: TypeLarge, Size: len(data)})
	if err := unix.Sendmsg(int(c.f.Fd()), hdr, nil, nil, unix.MSG_NOSIGNAL); err != nil {
		return fmt.Errorf("send %s message: %w", typ, err)
	}
	for off := 0; off < len(data); off += chunkSize {
		end := min(off+chunkSize, len(data))
		if err := unix.Sendmsg(int(c.f.Fd()), data[off:end], nil, nil, unix.MSG_NOSIGNAL); err != nil {
			return fmt.Errorf("send %s message (%d of %d bytes sent): %w", typ, off, len(data), err)
		}
	}
	return nil
}

// recvLarge reads the size bytes announced by a TypeLarge header.
func (c *Conn) recvLarge(size int) ([]byte, error) {
	if size <= 0 || size > maxMessage {
		return nil, fmt.Errorf("receive from init: bad message size %d", size)
	}
	buf := make([]byte, size)
	for got := 0; got < size; {
		n, _, err := unix.Recvfrom(int(c.f.Fd()), buf[got:], 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("receive from init: %w", err)
		}
		if n == 0 {
			return nil, ErrClosed
		}
		got += n
	}
	return buf, nil
}

// ErrClosed is returned by Recv when the peer closed its end (the init died
// or exec'd the user program).
var ErrClosed = errors.New("init closed the connection")

// Recv reads one message.
func (c *Conn) Recv() (*Message, error) {
	fd := int(c.f.Fd())
	// Peek at the size first so a large config arrives whole.
	n, _, err := unix.Recvfrom(fd, nil, unix.MSG_PEEK|unix.MSG_TRUNC)
	if err != nil {
		return nil, fmt.Errorf("receive from init: %w", err)
	}
	if n == 0 {
		// A zero-length read on SEQPACKET is end of file.
		return nil, ErrClosed
	}
	buf := make([]byte, n)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := unix.Recvmsg(fd, buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("receive from init: %w", err)
	}
	var m Message
	if oobn > 0 {
		f, err := parseRights(oob[:oobn])
		if err != nil {
			return nil, err
		}
		m.File = f
	}
	if err := json.Unmarshal(buf[:n], &m); err != nil {
		return nil, fmt.Errorf("decode message from init: %w", err)
	}
	if m.Type == TypeLarge && m.File == nil {
		data, err := c.recvLarge(m.Size)
		if err != nil {
			return nil, err
		}
		m = Message{}
		if err := json.Unmarshal(data, &m); err != nil {
			return nil, fmt.Errorf("decode message from init: %w", err)
		}
	}
	return &m, nil
}

// Expect reads one message and checks its type; an error message becomes
// a Go error with the init's text.
func (c *Conn) Expect(typ string) (*Message, error) {
	m, err := c.Recv()
	if err != nil {
		return nil, err
	}
	if m.Type == TypeError {
		return nil, errors.New(m.Message)
	}
	if m.Type != typ {
		return nil, fmt.Errorf("protocol: expected %q from the init, got %q", typ, m.Type)
	}
	return m, nil
}

func parseRights(oob []byte) (*os.File, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil || len(msgs) != 1 {
		return nil, fmt.Errorf("receive from init: bad control message")
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, fmt.Errorf("receive from init: expected one fd")
	}
	return os.NewFile(uintptr(fds[0]), "fd-from-init"), nil
}
