package security

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nsrun/nsrun/tests/tools/testenv"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The runtime binary cannot be written from a container (CVE-2019-5736
// class). The container's /bin/sh is the script `#!/proc/self/exe`: when the
// runtime's helper (nsrun init, for create and for exec) executes it, the
// kernel executes the helper's own binary as the container's process. An
// attacker in the container (testdata/binattack) finds that process, opens
// /proc/<pid>/exe for writing while it runs, keeps an O_PATH handle and
// reopens it (/proc/self/fd/N) for writing once it exited, and tries to make
// the mount it lives on writable. Every attempt must fail, and the
// runtime's binary on the host must keep its sha256. The process that runs
// the binary is held (its stderr is a full pipe) until the attacker has
// taken its handle, so the attack is attempted every time.
//
// Shown failing: tests/security/weaken/plain-self-exe.patch (the helper
// executed from /proc/self/exe, as before) — see docs/security.md.

// TestBinaryShebangExec: the process an exec starts runs the binary.
func TestBinaryShebangExec(t *testing.T) {
	for _, c := range []struct {
		name string
		caps []string
		env  []string
	}{
		{name: "default"},
		// With CAP_SYS_ADMIN (no user namespace) the container may mount:
		// the read-only view must stay read-only all the same.
		{name: "cap_sys_admin", caps: []string{"CAP_SYS_ADMIN"}},
		{name: "memfd", env: []string{"NSRUN_BINARY_VIEW=memfd"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if isRunc && len(c.env) > 0 {
				t.Skip("an nsrun setting")
			}
			testShebangExec(t, c.caps, c.env)
		})
	}
}

func testShebangExec(t *testing.T, caps, env []string) {
	bin := binCopy(t)
	sumBefore, origBefore := binSHA256(t, bin), binSHA256(t, runtimeBin)
	b := newBundle(t, "/binattack", "exe", "/report")
	b.Spec.Root.Path = binRootfs(t, true)
	binAddCaps(b.Spec, caps...)
	report := binReport(t, b)
	rt := binRT{bin: bin, root: b.Root, env: env}
	id := newID()
	rt.createStart(t, b, id)
	defer binStop(report)
	binWait(t, 10*time.Second, "the attacker", func() bool { return binExists(filepath.Join(report, "ready")) })

	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	binFill(t, w)
	devNull, _ := os.Open(os.DevNull)
	defer devNull.Close()
	exec := rt.cmd("exec", id, "/bin/sh")
	exec.Stdin, exec.Stdout, exec.Stderr = devNull, devNull, w
	if err := exec.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	defer exec.Process.Kill()
	// The exec'd process runs the binary and blocks on its stderr until
	// the attacker has its handle; then it may write and exit.
	target := binWaitTarget(t, report, r)
	out := binDrain(r)
	exec.Wait()
	binWait(t, 10*time.Second, "the attacker's attempts after the exit", func() bool {
		return binExists(filepath.Join(report, fmt.Sprintf("done.%d", target)))
	})
	binStop(report)
	t.Logf("exec's stderr (after the filler): %q", strings.TrimLeft(<-out, "\x00"))
	binCheckExe(t, report, len(env) > 0, bin, sumBefore, origBefore)
}

// TestBinaryShebangCreate: the container's init runs the binary. The
// attacker watches from a second container in the host's PID namespace (an
// attacker inside the container's own PID namespace dies with its init);
// it also tries the runtime processes of the container (`start`), which run
// on the host.
func TestBinaryShebangCreate(t *testing.T) {
	bin := binCopy(t)
	sumBefore, origBefore := binSHA256(t, bin), binSHA256(t, runtimeBin)
	victim := newID()

	a := newBundle(t, "/binattack", "exe", "/report", victim)
	a.Spec.Root.Path = binRootfs(t, false)
	testenv.WithoutNamespace(a.Spec, specs.PIDNamespace)
	report := binReport(t, a)
	rt := binRT{bin: bin, root: filepath.Join(hostDir(t), "state")}
	rt.createStart(t, a, newID())
	defer binStop(report)
	binWait(t, 10*time.Second, "the attacker", func() bool { return binExists(filepath.Join(report, "ready")) })

	v := newBundle(t, "/bin/sh")
	v.Spec.Root.Path = binRootfs(t, true)
	v.write(victim)
	t.Cleanup(func() { rt.run("delete", "--force", victim) })
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	devNull, _ := os.Open(os.DevNull)
	defer devNull.Close()
	create := rt.cmd("create", "-b", v.Dir, victim)
	create.Stdin, create.Stdout, create.Stderr = devNull, devNull, w
	if err := create.Run(); err != nil {
		drained := binDrain(r)
		w.Close()
		t.Fatalf("create: %v: %s", err, <-drained)
	}
	// The init keeps create's stderr: fill it, so that the init, once it
	// runs the binary, blocks on its first message.
	binFill(t, w)
	w.Close()
	if res := rt.run("start", victim); res.Code != 0 {
		if isRunc {
			t.Skipf("the init did not run the runtime's binary for #!/proc/self/exe: start: %s", res)
		}
		t.Fatalf("start: %s", res)
	}
	target := binWaitTarget(t, report, r)
	out := binDrain(r)
	binWait(t, 10*time.Second, "the attacker's attempts after the exit", func() bool {
		return binExists(filepath.Join(report, fmt.Sprintf("done.%d", target)))
	})
	binStop(report)
	t.Logf("init's stderr (after the filler): %q", <-out)
	binCheckExe(t, report, false, bin, sumBefore, origBefore)
}

// binWaitTarget waits until the attacker took its handle on a process that
// runs the binary through `#!/proc/self/exe`, and returns its pid. If none
// shows up, the runtime's stderr (stderr, the read side of the full pipe)
// is drained to say why: a runtime that does not execute its binary for the
// script fails, and writes that to its stderr.
func binWaitTarget(t *testing.T, report string, stderr *os.File) int {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		for _, rec := range binRecords(t, report) {
			if len(rec.Argv) > 0 && rec.Argv[0] == "/proc/self/exe" && rec.Attempts["open-exe-opath"] != "" {
				return rec.Pid
			}
		}
	}
	for _, rec := range binRecords(t, report) {
		t.Logf("attacker: %s", rec)
	}
	var out string
	select {
	case out = <-binDrain(stderr):
	case <-time.After(10 * time.Second):
	}
	if isRunc {
		t.Skipf("no process ran the runtime's binary for #!/proc/self/exe; the runtime's stderr: %q", out)
	}
	t.Fatalf("timed out waiting for a process running the binary (argv[0] /proc/self/exe); the runtime's stderr: %q", out)
	return 0
}

// binCheckExe checks the attacker's log and the binary. A write must never
// reach the file; with the read-only view even opening for writing fails.
// A sealed memfd can be opened for writing once nothing executes it, but
// every write fails.
func binCheckExe(t *testing.T, report string, memfd bool, bin, sumBefore, origBefore string) {
	t.Helper()
	recs := binRecords(t, report)
	attacked := false
	for _, rec := range recs {
		t.Logf("attacker: %s", rec)
		if len(rec.Argv) > 0 && rec.Argv[0] == "/proc/self/exe" {
			if rec.Attempts["open-exe-opath"] != "ok" {
				t.Errorf("pid %d runs the binary, but the attacker got no O_PATH handle (%s): the attack was not tried",
					rec.Pid, rec.Attempts["open-exe-opath"])
			} else if rec.Attempts["reopen-opath-after-exit"] == "" {
				t.Errorf("pid %d: the handle was not reopened after the exit", rec.Pid)
			} else {
				attacked = true
			}
		}
		for k, v := range rec.Attempts {
			switch {
			case v == "WROTE":
				t.Errorf("pid %d: %s: the attacker WROTE to the runtime binary", rec.Pid, k)
			case strings.HasPrefix(v, "opened") && !memfd:
				t.Errorf("pid %d: %s: %s: the binary could be opened for writing", rec.Pid, k, v)
			case strings.HasPrefix(k, "remount-") || strings.HasPrefix(k, "open_tree-clone-clear") ||
				k == "write-after-mount_setattr":
				t.Errorf("pid %d: %s: %s: the attacker got a mount of the binary", rec.Pid, k, v)
			case (k == "mount_setattr-clear-rdonly" || k == "open_tree-clone" || k == "bind-mount") && v == "ok":
				t.Errorf("pid %d: %s succeeded", rec.Pid, k)
			}
		}
	}
	if !attacked {
		t.Errorf("no attack on a process running the binary was completed")
	}
	if got := binSHA256(t, bin); got != sumBefore {
		t.Errorf("the runtime binary changed: sha256 %s, was %s", got, sumBefore)
	}
	if got := binSHA256(t, runtimeBin); got != origBefore {
		t.Errorf("the runtime binary under test (%s) changed: sha256 %s, was %s", runtimeBin, got, origBefore)
	}
}
