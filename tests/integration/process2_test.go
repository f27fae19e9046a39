package integration

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestCreateNoPivot(t *testing.T) {
	rf := t.TempDir()
	copyTree(t, rootfs, rf)
	os.WriteFile(filepath.Join(rf, "marker"), []byte("in-rootfs\n"), 0o644)
	b := newBundle(t, "sh", "-c", "cat /marker > /out/result; stat -c %i / >> /out/result; ls /out >/dev/null && echo ran >> /out/result")
	b.Spec.Root.Path = rf
	out := b.outDir()
	b.write()
	id := newID(t)
	b.cleanup(id)
	mustOK(t, b.nsrun("create", "--no-pivot", "-b", b.Dir, id), "create --no-pivot")
	mustOK(t, b.nsrun("start", id), "start")
	waitFor(t, func() bool { return b.state(id)["status"] == "stopped" })
	mustOK(t, b.nsrun("delete", id), "delete")
	assertNoTrace(t, b.Root, id)
	data, _ := os.ReadFile(filepath.Join(out, "result"))
	var st unix.Stat_t
	if err := unix.Stat(rf, &st); err != nil {
		t.Fatal(err)
	}
	want := "in-rootfs\n" + strconv.FormatUint(st.Ino, 10) + "\nran\n"
	if string(data) != want {
		t.Fatalf("container saw %q, want %q (its / must be the rootfs)", data, want)
	}
}

func TestPersonalityLinux32(t *testing.T) {
	b := newBundle(t, "uname", "-m")
	b.Spec.Linux.Personality = &specs.LinuxPersonality{Domain: specs.PerLinux32}
	r := b.run(newID(t))
	mustOK(t, r, "run")
	if !regexp.MustCompile(`^i[3-6]86$`).MatchString(strings.TrimSpace(r.Stdout)) {
		t.Fatalf("uname -m under LINUX32: %q, want i686", r.Stdout)
	}
	// And the default is the host's.
	b = newBundle(t, "uname", "-m")
	r = b.run(newID(t))
	mustOK(t, r, "run")
	var u unix.Utsname
	unix.Uname(&u)
	if host := unix.ByteSliceToString(u.Machine[:]); strings.TrimSpace(r.Stdout) != host {
		t.Fatalf("uname -m without personality: %q, want %q", r.Stdout, host)
	}
}

// startSleeper creates and starts a container running sleep and returns
// the init's host pid.
func startSleeper(t *testing.T, b *bundle) (string, int) {
	t.Helper()
	b.write()
	id := newID(t)
	b.cleanup(id)
	mustOK(t, b.nsrun("create", "-b", b.Dir, id), "create")
	mustOK(t, b.nsrun("start", id), "start")
	pid := b.initPid(id)
	// start returns once the user program runs.
	waitFor(t, func() bool {
		exe, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
		return strings.HasSuffix(exe, "busybox")
	})
	return id, pid
}

func TestIOPriority(t *testing.T) {
	b := newBundle(t, "sleep", "60")
	b.Spec.Process.IOPriority = &specs.LinuxIOPriority{Class: specs.IOPRIO_CLASS_BE, Priority: 6}
	_, pid := startSleeper(t, b)
	const whoProcess, classShift, classBE = 1, 13, 2
	prio, _, errno := unix.Syscall(unix.SYS_IOPRIO_GET, whoProcess, uintptr(pid), 0)
	if errno != 0 {
		t.Fatalf("ioprio_get(%d): %v", pid, errno)
	}
	if want := uintptr(classBE<<classShift | 6); prio != want {
		t.Fatalf("io priority of the init: class %d prio %d, want class BE(2) prio 6", prio>>classShift, prio&0x1fff)
	}
}

func TestSchedulerBatch(t *testing.T) {
	b := newBundle(t, "sleep", "60")
	b.Spec.Process.Scheduler = &specs.Scheduler{Policy: specs.SchedBatch, Nice: 7}
	_, pid := startSleeper(t, b)
	attr, err := unix.SchedGetAttr(pid, 0)
	if err != nil {
		t.Fatalf("sched_getattr(%d): %v", pid, err)
	}
	const schedBatch = 3
	if attr.Policy != schedBatch || attr.Nice != 7 {
		t.Fatalf("scheduler of the init: policy %d nice %d, want SCHED_BATCH(3) nice 7", attr.Policy, attr.Nice)
	}
}
