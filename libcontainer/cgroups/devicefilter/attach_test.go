package devicefilter

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// cgroup2Mount returns the mount point of the cgroup2 hierarchy, or skips.
func cgroup2Mount(t *testing.T) string {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		// ID parent major:minor root mountpoint options... - fstype source super
		pre, post, ok := strings.Cut(s.Text(), " - ")
		fields := strings.Fields(pre)
		if ok && len(fields) >= 5 && strings.HasPrefix(post, "cgroup2 ") {
			return fields[4]
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	t.Skip("cgroup2 is not mounted")
	return ""
}

// testCgroup makes a cgroup2 directory that t.Cleanup removes after killing
// whatever is left in it.
func testCgroup(t *testing.T, dir string) {
	t.Helper()
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for {
			if b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs")); err == nil {
				for _, f := range strings.Fields(string(b)) {
					if pid, err := strconv.Atoi(f); err == nil {
						_ = unix.Kill(pid, unix.SIGKILL)
					}
				}
			}
			err := unix.Rmdir(dir)
			if err == nil || errors.Is(err, unix.ENOENT) {
				return
			}
			if !errors.Is(err, unix.EBUSY) || time.Now().After(deadline) {
				t.Errorf("remove %s: %v", dir, err)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// runIn runs a busybox shell script in a child that starts inside cgroup dir
// (clone3 CLONE_INTO_CGROUP) and returns its stdout and stderr.
func runIn(t *testing.T, dir, script string) (string, string) {
	t.Helper()
	cg, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer cg.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/busybox", "sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(cg.Fd())}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// The script's own exit status does not matter; its output does.
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if !errors.As(err, &exit) || ctx.Err() != nil {
			t.Fatalf("run %q in %s: %v (stderr %q)", script, dir, err, stderr.String())
		}
	}
	return stdout.String(), stderr.String()
}

func attachedIDs(t *testing.T, dir string) []ebpf.ProgramID {
	t.Helper()
	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ids, err := attached(int(f.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// applyOne applies rules and checks that exactly one program, a new one, is
// attached to dir afterwards.
func applyOne(t *testing.T, dir string, rules []specs.LinuxDeviceCgroup) ebpf.ProgramID {
	t.Helper()
	before := attachedIDs(t, dir)
	if err := Apply(dir, rules); err != nil {
		t.Fatalf("Apply(%s): %v", fmtRules(rules), err)
	}
	after := attachedIDs(t, dir)
	if len(after) != 1 {
		t.Fatalf("after Apply(%s): %d programs attached (%v), want 1", fmtRules(rules), len(after), after)
	}
	for _, id := range before {
		if id == after[0] {
			t.Fatalf("after Apply(%s): program %d is still the old one", fmtRules(rules), id)
		}
	}
	return after[0]
}

func wantLines(t *testing.T, what, stdout, stderr string, want ...string) {
	t.Helper()
	got := strings.Fields(stdout)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("%s: stdout %q, want %q (stderr %q)", what, got, want, stderr)
	}
}

const (
	probeScript = `cat /dev/null && echo nullok; head -c1 /dev/zero >/dev/null && echo zerook || echo zerodenied`
	writeScript = `cat /dev/null && echo nullread; echo x >/dev/null && echo nullwrite || echo nullwritedenied`
)

func TestApply(t *testing.T) {
	mnt := cgroup2Mount(t)
	if err := Supported(); err != nil {
		t.Fatalf("Supported: %v", err)
	}
	dir := filepath.Join(mnt, fmt.Sprintf("nsrun-devfilter-test-%d", os.Getpid()))
	testCgroup(t, dir)

	null := dev(true, "c", i64(1), i64(3), "rwm")
	zero := dev(true, "c", i64(1), i64(5), "rwm")

	// Deny all, allow /dev/null: /dev/zero is EPERM.
	applyOne(t, dir, []specs.LinuxDeviceCgroup{denyAll, null})
	stdout, stderr := runIn(t, dir, probeScript)
	wantLines(t, "deny-all + null", stdout, stderr, "nullok", "zerodenied")
	if !strings.Contains(stderr, "Operation not permitted") {
		t.Errorf("deny-all + null: opening /dev/zero did not fail with EPERM: stderr %q", stderr)
	}

	// Update: also allow /dev/zero; the old program is gone.
	rules := []specs.LinuxDeviceCgroup{denyAll, null, zero}
	applyOne(t, dir, rules)
	stdout, stderr = runIn(t, dir, probeScript)
	wantLines(t, "deny-all + null + zero", stdout, stderr, "nullok", "zerook")

	// Idempotent: the same rules again still leave one program.
	applyOne(t, dir, rules)

	// Partial access: read of /dev/null allowed, write denied.
	applyOne(t, dir, []specs.LinuxDeviceCgroup{allowAll, dev(false, "c", i64(1), i64(3), "w")})
	stdout, stderr = runIn(t, dir, writeScript)
	wantLines(t, "allow-all, deny null w", stdout, stderr, "nullread", "nullwritedenied")

	// No rules: everything allowed, still one program attached.
	applyOne(t, dir, nil)
	stdout, stderr = runIn(t, dir, probeScript+"; "+writeScript)
	wantLines(t, "no rules", stdout, stderr, "nullok", "zerook", "nullread", "nullwrite")
}

// TestApplyReplacesNonMulti checks that a program attached without
// BPF_F_ALLOW_MULTI (as an older runtime may have left it) is replaced.
func TestApplyReplacesNonMulti(t *testing.T) {
	mnt := cgroup2Mount(t)
	dir := filepath.Join(mnt, fmt.Sprintf("nsrun-devfilter-test-%d-legacy", os.Getpid()))
	testCgroup(t, dir)

	insns, err := Instructions([]specs.LinuxDeviceCgroup{denyAll})
	if err != nil {
		t.Fatal(err)
	}
	legacy, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.CGroupDevice, Instructions: insns, License: "Apache-2.0"})
	if err != nil {
		t.Fatal(err)
	}
	defer legacy.Close()
	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := link.RawAttachProgram(link.RawAttachProgramOptions{
		Target: int(f.Fd()), Program: legacy, Attach: ebpf.AttachCGroupDevice,
	}); err != nil {
		t.Fatal(err)
	}
	stdout, stderr := runIn(t, dir, probeScript)
	wantLines(t, "legacy deny-all", stdout, stderr, "zerodenied")

	applyOne(t, dir, []specs.LinuxDeviceCgroup{denyAll, dev(true, "c", i64(1), nil, "rw")})
	stdout, stderr = runIn(t, dir, probeScript)
	wantLines(t, "after replacing legacy", stdout, stderr, "nullok", "zerook")
	applyOne(t, dir, []specs.LinuxDeviceCgroup{denyAll})
	stdout, stderr = runIn(t, dir, probeScript)
	wantLines(t, "deny-all again", stdout, stderr, "zerodenied")
}

func TestApplyErrors(t *testing.T) {
	err := Apply(t.TempDir(), nil)
	if err == nil || !strings.Contains(err.Error(), "is not a cgroup2 directory") {
		t.Errorf("Apply on a plain directory: %v", err)
	}
	err = Apply("/nonexistent-nsrun-cgroup", []specs.LinuxDeviceCgroup{dev(true, "c", nil, nil, "rx")})
	want := `attach device filter to /nonexistent-nsrun-cgroup: linux.resources.devices[0].access: "rx" has an unknown access letter 'x'`
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Apply with a bad rule: %v, want prefix %q", err, want)
	}
	if err := Apply("/nonexistent-nsrun-cgroup", nil); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Apply on a missing directory: %v", err)
	}
}

// TestKernelVerifierAccepts loads programs for random and large rule lists
// into the kernel (without attaching them).
func TestKernelVerifierAccepts(t *testing.T) {
	cgroup2Mount(t)
	rng := rand.New(rand.NewPCG(3, 4))
	types := []string{"", "a", "b", "c"}
	nums := []*int64{nil, i64(-1), i64(0), i64(1), i64(136), i64(0x80000000), i64(0xffffffff)}
	accs := []string{"", "r", "w", "m", "rw", "rm", "wm", "rwm"}
	load := func(rules []specs.LinuxDeviceCgroup) {
		t.Helper()
		insns, err := Instructions(rules)
		if err != nil {
			t.Fatal(err)
		}
		p, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.CGroupDevice, Instructions: insns, License: "Apache-2.0"})
		if err != nil {
			t.Fatalf("load %s: %v\n%v", fmtRules(rules), err, insns)
		}
		p.Close()
	}
	for n := 0; n < 200; n++ {
		rules := make([]specs.LinuxDeviceCgroup, rng.IntN(12))
		for i := range rules {
			rules[i] = dev(rng.IntN(2) == 0, types[rng.IntN(len(types))],
				nums[rng.IntN(len(nums))], nums[rng.IntN(len(nums))], accs[rng.IntN(len(accs))])
		}
		load(rules)
	}
	big := []specs.LinuxDeviceCgroup{denyAll}
	for i := int64(0); i < 1000; i++ {
		big = append(big, dev(i%3 != 0, "c", i64(i/256), i64(i%256), accs[i%8]))
	}
	load(big)
}
