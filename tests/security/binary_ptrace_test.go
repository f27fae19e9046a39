package security

import (
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// A process joining the container (exec) cannot be ptraced or inspected
// from the container while it still holds the runtime's fds and privileges
// (CVE-2016-9962 class). The container runs as root with CAP_SYS_PTRACE in
// its own user namespace; its init (testdata/binattack) attacks every other
// process that appears in its PID namespace: PTRACE_ATTACH,
// process_vm_readv, /proc/<pid>/mem, environ, fd/*, exe, root, cwd.
//
// The joining process is held inside the container, before it sets the
// process's credentials and capabilities, by a real wait: the container's
// seccomp filter has a notify action, so the exec'd process hands its
// listener fd to the runtime, which must reach the agent at listenerPath
// before it answers; the agent's listen backlog is full until the attacker
// is done.
//
// The mapping of container root to host root 0 matters: with any other
// mapping the kernel itself resets the dumpable flag when the process
// becomes the container's root (fs.suid_dumpable 0); with the identity
// mapping only the runtime's PR_SET_DUMPABLE protects the process.
//
// Shown failing: tests/security/weaken/dumpable.patch (the process left
// dumpable) — see docs/security.md.
func TestPtraceJoiningProcess(t *testing.T) {
	for _, c := range []struct {
		name string
		host uint32
	}{{"identity-map", 0}, {"shifted-map", 100000}} {
		t.Run(c.name, func(t *testing.T) { testPtraceJoining(t, c.host) })
	}
}

func testPtraceJoining(t *testing.T, hostID uint32) {
	sock, accept := binBlockedAgent(t)
	b := newBundle(t, "/binattack", "ptrace", "/report")
	b.Spec.Root.Path = binRootfs(t, false)
	binAddCaps(b.Spec, "CAP_SYS_PTRACE")
	b.Spec.Linux.Namespaces = append(b.Spec.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
	m := []specs.LinuxIDMapping{{ContainerID: 0, HostID: hostID, Size: 65536}}
	b.Spec.Linux.UIDMappings, b.Spec.Linux.GIDMappings = m, m
	b.Spec.Linux.Seccomp = &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Architectures: []specs.Arch{specs.ArchX86_64},
		ListenerPath:  sock,
		Syscalls:      []specs.LinuxSyscall{{Names: []string{"acct"}, Action: specs.ActNotify}},
	}
	report := binReport(t, b)
	rt := binRT{bin: runtimeBin, root: b.Root}
	id := newID()
	rt.createStart(t, b, id)
	defer binStop(report)
	binWait(t, 10*time.Second, "the attacker", func() bool { return binExists(filepath.Join(report, "ready")) })

	exec := rt.cmd("exec", id, "/bin/true")
	var stderr strings.Builder
	exec.Stderr = &stderr
	if err := exec.Start(); err != nil {
		t.Fatal(err)
	}
	var joining binRecord
	binWait(t, 8*time.Second, "the attacker's attempts on the joining process", func() bool {
		for _, rec := range binRecords(t, report) {
			if rec.Mode == "ptrace" && (rec.Comm == "nsrun-init" || len(rec.Argv) > 1 && rec.Argv[1] == "init") {
				joining = rec
				return true
			}
		}
		return false
	})
	accept()
	err := exec.Wait()
	binStop(report)
	if err != nil {
		t.Errorf("exec: %v: %s", err, stderr.String())
	}
	for _, rec := range binRecords(t, report) {
		t.Logf("attacker: %s", rec)
	}
	for k, v := range joining.Attempts {
		switch k {
		case "list-fd":
			// The numbers only (the directory belongs to the owner of the
			// process's memory, host root 0, which is the container's root
			// with the identity mapping); their targets are checked below.
			continue
		case "readlink-fd", "open-fd":
			for _, e := range strings.Split(v, ",") {
				if _, res, _ := strings.Cut(e, "="); res != "EACCES" && res != "EPERM" {
					t.Errorf("%s: %s: the container reached an fd of the joining process", k, e)
				}
			}
			continue
		}
		if v != "EPERM" && v != "EACCES" {
			t.Errorf("%s: %s: the container reached the joining process", k, v)
		}
	}
}

// binBlockedAgent listens on a unix socket with a backlog of one
// connection. The first connection (create's listener fd) takes it; the
// next connect (exec's) blocks in the runtime until accept is called.
func binBlockedAgent(t *testing.T) (path string, accept func()) {
	t.Helper()
	path = filepath.Join(hostDir(t), "agent.sock")
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	done := make(chan struct{})
	started := false
	t.Cleanup(func() {
		stop.Store(true)
		if started {
			<-done
		}
		unix.Close(fd)
	})
	return path, func() {
		if started {
			return
		}
		started = true
		go func() {
			defer close(done)
			for !stop.Load() {
				c, _, err := unix.Accept4(fd, unix.SOCK_CLOEXEC)
				if err != nil {
					time.Sleep(5 * time.Millisecond)
					continue
				}
				// The message is read to its end (the runtime closes the
				// connection after it), and the notify fd dropped: the
				// filtered call (acct) then fails with ENOSYS, which
				// nothing here makes.
				go func() {
					buf := make([]byte, 64<<10)
					for {
						n, err := unix.Read(c, buf)
						if n <= 0 || err != nil {
							break
						}
					}
					unix.Close(c)
				}()
			}
		}()
	}
}
