package procattr

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func init() {
	children["oom"] = func() error {
		v := 500
		if err := SetOOMScoreAdj(&v); err != nil {
			return err
		}
		b, err := os.ReadFile("/proc/self/oom_score_adj")
		emit("oom", strings.TrimSpace(string(b)))
		return err
	}
	// Runs in new UTS and IPC namespaces: writes there touch nothing else.
	children["sysctl-uts"] = func() error {
		err := SetSysctls(map[string]string{
			"kernel.hostname":   "sysctl-host",
			"kernel/domainname": "sysctl-domain",
			"kernel.msgmax":     "12345",
		})
		if err != nil {
			return err
		}
		var u unix.Utsname
		if err := unix.Uname(&u); err != nil {
			return err
		}
		emit("hostname", unix.ByteSliceToString(u.Nodename[:]))
		emit("domainname", unix.ByteSliceToString(u.Domainname[:]))
		b, err := os.ReadFile("/proc/sys/kernel/msgmax")
		emit("msgmax", strings.TrimSpace(string(b)))
		if err != nil {
			return err
		}
		if err := SetHostname("set-host"); err != nil {
			return err
		}
		if err := SetDomainname("set-domain"); err != nil {
			return err
		}
		if err := unix.Uname(&u); err != nil {
			return err
		}
		emit("hostname2", unix.ByteSliceToString(u.Nodename[:]))
		emit("domainname2", unix.ByteSliceToString(u.Domainname[:]))
		return nil
	}
	children["thread-attrs"] = func() error {
		if err := SetScheduler(&specs.Scheduler{Policy: specs.SchedBatch, Nice: 5}); err != nil {
			return err
		}
		attr, err := unix.SchedGetAttr(0, 0)
		if err != nil {
			return err
		}
		emit("policy", attr.Policy)
		emit("nice", attr.Nice)
		if err := SetIOPriority(&specs.LinuxIOPriority{Class: specs.IOPRIO_CLASS_BE, Priority: 5}); err != nil {
			return err
		}
		prio, _, errno := unix.Syscall(unix.SYS_IOPRIO_GET, 1, 0, 0)
		if errno != 0 {
			return errno
		}
		emit("ioprio", prio)
		if err := SetPersonality(&specs.LinuxPersonality{Domain: specs.PerLinux32}); err != nil {
			return err
		}
		pers, _, errno := unix.Syscall(unix.SYS_PERSONALITY, 0xffffffff, 0, 0)
		if errno != 0 {
			return errno
		}
		emit("personality", pers)
		if err := SetNoNewPrivileges(); err != nil {
			return err
		}
		return emitStatus("NoNewPrivs")
	}
}

func TestSetOOMScoreAdj(t *testing.T) {
	if kv := runChild(t, "oom", 0); kv["oom"] != "500" {
		t.Errorf("oom_score_adj = %q", kv["oom"])
	}
	bad := 1001
	if err := SetOOMScoreAdj(&bad); err == nil || !strings.Contains(err.Error(), "process.oomScoreAdj") {
		t.Errorf("out of range: %v", err)
	}
	if err := SetOOMScoreAdj(nil); err != nil {
		t.Errorf("nil: %v", err)
	}
}

func TestSetSysctlsAndHostname(t *testing.T) {
	kv := runChild(t, "sysctl-uts", syscall.CLONE_NEWUTS|syscall.CLONE_NEWIPC)
	want := map[string]string{
		"hostname": "sysctl-host", "domainname": "sysctl-domain", "msgmax": "12345",
		"hostname2": "set-host", "domainname2": "set-domain",
	}
	for k, v := range want {
		if kv[k] != v {
			t.Errorf("%s = %q, want %q", k, kv[k], v)
		}
	}
}

func TestSetSysctlsErrors(t *testing.T) {
	for _, key := range []string{"kernel..x", "../../etc/passwd", "/kernel/hostname", "kernel/./hostname", ""} {
		err := SetSysctls(map[string]string{key: "1"})
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("linux.sysctl[%q]", key)) || !strings.Contains(err.Error(), "invalid") {
			t.Errorf("key %q: %v", key, err)
		}
	}
	err := SetSysctls(map[string]string{"kernel.nsrun_no_such_knob": "1"})
	if err == nil || !strings.Contains(err.Error(), `linux.sysctl["kernel.nsrun_no_such_knob"]`) || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing knob: %v", err)
	}
}

func TestThreadAttributes(t *testing.T) {
	kv := runChild(t, "thread-attrs", 0)
	want := map[string]string{
		"policy":      fmt.Sprint(unix.SCHED_BATCH),
		"nice":        "5",
		"ioprio":      fmt.Sprint(2<<13 | 5),
		"personality": "8",
		"NoNewPrivs":  "1",
	}
	for k, v := range want {
		if kv[k] != v {
			t.Errorf("%s = %q, want %q", k, kv[k], v)
		}
	}
}

func TestAttributeValidation(t *testing.T) {
	cases := []struct {
		err  error
		want string
	}{
		{SetScheduler(&specs.Scheduler{Policy: specs.SchedISO}), "process.scheduler.policy"},
		{SetScheduler(&specs.Scheduler{Policy: "SCHED_NOPE"}), "process.scheduler.policy"},
		{SetScheduler(&specs.Scheduler{Policy: specs.SchedOther, Flags: []specs.LinuxSchedulerFlag{"BOGUS"}}), "process.scheduler.flags[0]"},
		{SetIOPriority(&specs.LinuxIOPriority{Class: "IOPRIO_CLASS_NOPE"}), "process.ioPriority.class"},
		{SetIOPriority(&specs.LinuxIOPriority{Class: specs.IOPRIO_CLASS_BE, Priority: 8}), "process.ioPriority.priority"},
		{SetPersonality(&specs.LinuxPersonality{Domain: "PER_BSD"}), "linux.personality.domain"},
		{SetPersonality(&specs.LinuxPersonality{Domain: specs.PerLinux, Flags: []specs.LinuxPersonalityFlag{"X"}}), "linux.personality.flags"},
	}
	for i, c := range cases {
		if c.err == nil || !strings.Contains(c.err.Error(), c.want) {
			t.Errorf("case %d: got %v, want an error naming %s", i, c.err, c.want)
		}
	}
	if len(SchedulerPolicies()) != 6 || len(SchedulerFlags()) != 7 || len(IOPriorityClasses()) != 3 {
		t.Errorf("lists: %v %v %v", SchedulerPolicies(), SchedulerFlags(), IOPriorityClasses())
	}
}

func TestCheckProcfsRefusesOtherFilesystems(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "oom_score_adj"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := checkProcfs(int(f.Fd()), f.Name()); err == nil || !strings.Contains(err.Error(), "not on a procfs") {
		t.Errorf("got %v", err)
	}
	d, err := os.Open("/proc")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := checkProcfs(int(d.Fd()), "/proc"); err != nil {
		t.Errorf("/proc: %v", err)
	}
}
