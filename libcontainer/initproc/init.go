// Package initproc is the container side of nsrun: what the init process
// does between the clone and the execve of the user program. It runs in
// `nsrun init`, after the nsenter constructor, with the main goroutine
// locked to the main OS thread (capabilities and some namespaces are
// per-thread, and the execve must come from the thread that holds them).
package initproc

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/nsrun/nsrun/libcontainer/nsenter"
	"github.com/nsrun/nsrun/libcontainer/protocol"
)

// Main is `nsrun init`. It never returns: it execs the user program or
// exits after reporting an error.
func Main() {
	// The init runs with GOGC=off (it lives for milliseconds); a soft limit
	// still bounds it when a huge config (100k mounts) makes setup
	// allocate far more than usual. Ordinary setups never reach it.
	debug.SetMemoryLimit(64 << 20)
	conn, err := bootstrapConn()
	if err != nil {
		fmt.Fprintln(os.Stderr, "nsrun init:", err)
		os.Exit(1)
	}
	m, err := conn.Expect(protocol.TypeConfig)
	if err != nil || m.Config == nil || m.Config.Spec == nil || m.Config.Spec.Process == nil {
		fmt.Fprintln(os.Stderr, "nsrun init: no config from the runtime:", err)
		os.Exit(1)
	}
	i := &initProcess{conn: conn, cfg: m.Config, spec: m.Config.Spec, fifo: -1}
	// Our stderr is the container's: log lines must not land there. They
	// travel to the runtime with the ready message.
	logrus.SetOutput(io.Discard)
	logrus.AddHook(&i.warnings)
	if err := i.run(); err != nil {
		// Before `ready` the runtime is listening; after it, our stderr is
		// the container's, which is where a late failure belongs.
		if !i.ready || i.cfg.Exec {
			conn.Send(&protocol.Message{Type: protocol.TypeError, Message: err.Error()})
		} else {
			// The runtime first: our stderr may be a pipe nobody reads
			// (full, it would block us and `start` forever).
			i.reportLateFailure(err)
			fmt.Fprintln(os.Stderr, "nsrun init:", err)
		}
		os.Exit(1)
	}
}

// bootstrapConn finds the init socket named in the bootstrap variable.
func bootstrapConn() (*protocol.Conn, error) {
	boot := os.Getenv(nsenter.Env)
	for _, kv := range strings.Split(boot, ";") {
		if v, ok := strings.CutPrefix(kv, "sock="); ok {
			fd, err := strconv.Atoi(v)
			if err != nil {
				return nil, fmt.Errorf("bad bootstrap %q", boot)
			}
			unix.CloseOnExec(fd)
			return protocol.NewConn(os.NewFile(uintptr(fd), "init-sock")), nil
		}
	}
	return nil, errors.New("not started by nsrun (no init socket)")
}

type initProcess struct {
	conn     *protocol.Conn
	cfg      *protocol.InitConfig
	spec     *specs.Spec
	ready    bool
	fifo     int // write end of the exec fifo once start released us, else -1
	warnings warningHook
}

// warningHook collects log entries of level warning and above.
type warningHook []string

func (w *warningHook) Levels() []logrus.Level {
	return []logrus.Level{logrus.PanicLevel, logrus.FatalLevel, logrus.ErrorLevel, logrus.WarnLevel}
}

func (w *warningHook) Fire(e *logrus.Entry) error {
	*w = append(*w, e.Message)
	return nil
}

func (i *initProcess) run() error {
	os.Unsetenv(nsenter.Env)
	// Every fd we inherited beyond stdio and --preserve-fds closes at
	// execve, whatever the runtime's caller left open.
	if err := unix.CloseRange(uint(3+i.cfg.PreserveFds), ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return fmt.Errorf("mark fds close-on-exec: %w", err)
	}
	if i.cfg.Exec {
		return i.runExec()
	}
	if err := i.setupContainer(); err != nil {
		return err
	}
	return i.finish()
}
