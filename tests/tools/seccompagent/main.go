// Command seccompagent is a minimal seccomp user-notification agent for the
// integration tests (linux.seccomp.listenerPath).
//
//	seccompagent -socket PATH -log FILE
//
// It listens on the unix stream socket PATH. The socket appears under its
// final name only once it accepts connections (it is bound under a
// temporary name and renamed), so a caller may wait for PATH to exist.
//
// Every connection is expected to carry one runtime-spec
// ContainerProcessState JSON document, with the seccomp notify fd attached
// as SCM_RIGHTS, and then to be closed by the runtime. The agent appends a
// "state" record to FILE and then answers the notifications of that fd:
//
//	mkdir, mkdirat      success (0) without doing anything
//	symlink, symlinkat  fails with EXDEV
//	anything else       carried out by the kernel (USER_NOTIF_FLAG_CONTINUE)
//
// Each notification is appended to FILE as a "notify" record before it is
// answered. Records are JSON objects, one a line. The agent runs until it
// is killed.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"sync"

	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// Record is one line of the log file.
type Record struct {
	Event string `json:"event"` // "state", "notify" or "error"

	// state: the fds that came with the message and the document itself.
	Fds   int             `json:"fds,omitempty"`
	State json.RawMessage `json:"state,omitempty"`

	// notify: the syscall, the pid that made it (in the agent's pid
	// namespace) and the answer given.
	Syscall string `json:"syscall,omitempty"`
	Pid     uint32 `json:"pid,omitempty"`
	Answer  string `json:"answer,omitempty"`

	Error string `json:"error,omitempty"`
}

type logger struct {
	mu sync.Mutex
	f  *os.File
}

func (l *logger) write(r Record) {
	line, _ := json.Marshal(r)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.f.Write(append(line, '\n'))
	l.f.Sync()
}

func main() {
	socket := flag.String("socket", "", "unix socket to listen on")
	logPath := flag.String("log", "", "file the records are appended to")
	flag.Parse()
	if *socket == "" || *logPath == "" {
		fmt.Fprintln(os.Stderr, "usage: seccompagent -socket PATH -log FILE")
		os.Exit(2)
	}
	f, err := os.OpenFile(*logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		fatal(err)
	}
	log := &logger{f: f}

	tmp := *socket + ".tmp"
	os.Remove(tmp)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	if err := os.Rename(tmp, *socket); err != nil {
		fatal(err)
	}
	for {
		conn, err := ln.AcceptUnix()
		if err != nil {
			fatal(err)
		}
		go handle(conn, log)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "seccompagent:", err)
	os.Exit(1)
}

// handle reads one message up to EOF, collecting the fds of every control
// message, logs it and serves the first fd.
func handle(conn *net.UnixConn, log *logger) {
	defer conn.Close()
	var doc []byte
	var fds []int
	buf := make([]byte, 64<<10)
	oob := make([]byte, unix.CmsgSpace(4*8))
	for {
		n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
		doc = append(doc, buf[:n]...)
		if oobn > 0 {
			got, perr := parseRights(oob[:oobn])
			if perr != nil {
				log.write(Record{Event: "error", Error: perr.Error()})
			}
			fds = append(fds, got...)
		}
		if errors.Is(err, io.EOF) || (err == nil && n == 0 && oobn == 0) {
			break
		}
		if err != nil {
			log.write(Record{Event: "error", Error: err.Error()})
			return
		}
	}
	rec := Record{Event: "state", Fds: len(fds)}
	if json.Valid(doc) {
		rec.State = doc
	} else {
		rec.Error = fmt.Sprintf("not JSON: %q", doc)
	}
	log.write(rec)
	if len(fds) == 0 {
		return
	}
	for _, fd := range fds[1:] {
		unix.Close(fd)
	}
	serve(fds[0], log)
}

func parseRights(oob []byte) ([]int, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, err
	}
	var fds []int
	for i := range msgs {
		got, err := unix.ParseUnixRights(&msgs[i])
		if err != nil {
			return nil, err
		}
		fds = append(fds, got...)
	}
	return fds, nil
}

// serve answers notifications until no process uses the filter any more
// (the fd then polls as hung up).
func serve(fd int, log *logger) {
	defer unix.Close(fd)
	for {
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		if _, err := unix.Poll(pfd, -1); err != nil {
			if err == unix.EINTR {
				continue
			}
			log.write(Record{Event: "error", Error: "poll: " + err.Error()})
			return
		}
		if pfd[0].Revents&unix.POLLIN == 0 {
			return // POLLHUP: every process of the filter is gone
		}
		req, err := libseccomp.NotifReceive(libseccomp.ScmpFd(fd))
		if err != nil {
			// The caller may have died (ENOENT) or a signal interrupted it.
			continue
		}
		name, _ := req.Data.Syscall.GetNameByArch(req.Data.Arch)
		// The binding negates Error for the kernel: a positive errno here.
		resp := &libseccomp.ScmpNotifResp{ID: req.ID}
		var answer string
		switch name {
		case "mkdir", "mkdirat":
			resp.Val, answer = 0, "success"
		case "symlink", "symlinkat":
			resp.Error, answer = int32(unix.EXDEV), "EXDEV"
		default:
			resp.Flags, answer = libseccomp.NotifRespFlagContinue, "continue"
		}
		log.write(Record{Event: "notify", Syscall: name, Pid: req.Pid, Answer: answer})
		if err := libseccomp.NotifRespond(libseccomp.ScmpFd(fd), resp); err != nil {
			log.write(Record{Event: "error", Error: "respond: " + err.Error()})
		}
	}
}
