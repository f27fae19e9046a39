package integration

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// createMustFailWith is createMustFail with several substrings that must
// all appear in the error (the JSON path and the offending value, say).
func createMustFailWith(t *testing.T, b *bundle, wants ...string) {
	t.Helper()
	id := newID(t)
	b.cleanup(id)
	r := b.nsrun("create", "-b", b.Dir, id)
	if r.Code == 0 {
		t.Fatalf("create succeeded, want an error containing %q", wants)
	}
	t.Logf("create error: %s", strings.TrimSpace(r.Stderr))
	for _, w := range wants {
		if !strings.Contains(r.Stderr, w) {
			t.Errorf("error %q does not contain %q", strings.TrimSpace(r.Stderr), w)
		}
	}
	assertNoTrace(t, b.Root, id)
	if r := b.nsrun("state", id); r.Code == 0 {
		t.Fatalf("state of a failed create succeeded: %s", r.Stdout)
	}
}

// initPid returns the pid `nsrun state` reports.
func (b *bundle) initPid(id string) int {
	b.t.Helper()
	return int(b.state(id)["pid"].(float64))
}

// procState is the state letter of /proc/<pid>/stat, "" when pid is gone.
func procState(pid int) string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return ""
	}
	return s[i+2 : i+3]
}

// processDead reports whether pid is gone or a zombie.
func processDead(pid int) bool {
	st := procState(pid)
	return st == "" || st == "Z" || st == "X"
}

// reap collects pid if it is a zombie child of the test process (we are a
// subreaper: detached inits and their orphans end up here).
func reap(pid int) {
	var ws unix.WaitStatus
	unix.Wait4(pid, &ws, unix.WNOHANG, nil)
}

// nsrunInDir runs nsrun (no global flags) with its working directory set.
func nsrunInDir(dir string, args ...string) result {
	var out, errb bytes.Buffer
	cmd := exec.Command(nsrunBin, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		code = -1
		errb.WriteString(err.Error())
	}
	return result{Stdout: out.String(), Stderr: errb.String(), Code: code}
}

// runInPrivateMountNS writes the config and runs `nsrun run` inside a new,
// private mount namespace (unshare -m) after the shell snippet setup ran
// there: host-side mounts a test needs vanish with that namespace and
// never reach the host's mount table.
func (b *bundle) runInPrivateMountNS(setup, id string) result {
	b.t.Helper()
	b.write()
	outF, _ := os.CreateTemp("", "nsrun-out-")
	errF, _ := os.CreateTemp("", "nsrun-err-")
	defer os.Remove(outF.Name())
	defer os.Remove(errF.Name())
	defer outF.Close()
	defer errF.Close()
	cmd := exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c",
		"set -e; "+setup+"\nexec \"$0\" \"$@\"",
		nsrunBin, "--root", b.Root, "run", "-b", b.Dir, id)
	cmd.Stdout, cmd.Stderr = outF, errF
	err := cmd.Run()
	code := 0
	var msg string
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		code, msg = -1, err.Error()
	}
	out, _ := os.ReadFile(outF.Name())
	errb, _ := os.ReadFile(errF.Name())
	return result{Stdout: string(out), Stderr: string(errb) + msg, Code: code}
}

// mountInfoLine is one parsed line of /proc/<pid>/mountinfo.
type mountInfoLine struct {
	MountPoint string
	MountOpts  string   // per-mount options (field 6)
	Optional   []string // shared:N, master:N, ...
	FSType     string
	SuperOpts  string
}

// parseMountInfo parses mountinfo text as printed by a container.
func parseMountInfo(text string) []mountInfoLine {
	var out []mountInfoLine
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) < 10 {
			continue
		}
		sep := -1
		for i := 6; i < len(f); i++ {
			if f[i] == "-" {
				sep = i
				break
			}
		}
		if sep < 0 || sep+3 >= len(f) {
			continue
		}
		out = append(out, mountInfoLine{
			MountPoint: f[4], MountOpts: f[5], Optional: f[6:sep],
			FSType: f[sep+1], SuperOpts: f[sep+3],
		})
	}
	return out
}

// lastMountAt returns the top-most mount at mountPoint (the last line).
func lastMountAt(t *testing.T, text, mountPoint string) mountInfoLine {
	t.Helper()
	var found *mountInfoLine
	for _, m := range parseMountInfo(text) {
		if m.MountPoint == mountPoint {
			m := m
			found = &m
		}
	}
	if found == nil {
		t.Fatalf("no mount at %s in:\n%s", mountPoint, text)
	}
	return *found
}

// hasOpt reports whether the comma-separated list opts contains opt.
func hasOpt(opts, opt string) bool {
	for _, o := range strings.Split(opts, ",") {
		if o == opt {
			return true
		}
	}
	return false
}

// outDir makes a host directory bind-mounted read-write at /out in the
// container, for results of a detached or created container.
func (b *bundle) outDir() string {
	b.t.Helper()
	dir := b.t.TempDir()
	os.Chmod(dir, 0o777)
	b.Spec.Mounts = append(b.Spec.Mounts, specsBind(dir, "/out", "rw"))
	return dir
}

// fileExists is a waitFor condition.
func fileExists(path string) func() bool {
	return func() bool { _, err := os.Stat(path); return err == nil }
}

// childPids lists the children of pid's main thread.
func childPids(pid int) []int {
	data, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "task", strconv.Itoa(pid), "children"))
	var out []int
	for _, f := range strings.Fields(string(data)) {
		if n, err := strconv.Atoi(f); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// reapContainerZombies reaps the zombie children of the test process that
// lived in a container's PID namespace (an `exec`'d process whose nsrun
// exited is re-parented to us), and waits up to a second for an exiting
// init of a namespace (which stays in do_exit until those are reaped) to
// become a zombie and be reaped as well. Our own exec.Cmd children live in
// our namespace and are left to their Wait.
func reapContainerZombies() {
	for deadline := time.Now().Add(time.Second); ; {
		pending := 0
		tasks, _ := filepath.Glob("/proc/self/task/*/children")
		for _, f := range tasks {
			data, _ := os.ReadFile(f)
			for _, s := range strings.Fields(string(data)) {
				pid, err := strconv.Atoi(s)
				if err != nil || !inChildPIDNamespace(pid) {
					continue
				}
				switch procState(pid) {
				case "Z":
					reap(pid)
				case "":
				default:
					if exiting(pid) {
						pending++
					}
				}
			}
		}
		if pending == 0 || time.Now().After(deadline) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// inChildPIDNamespace reports whether pid has a PID in a namespace below
// ours (its NSpid line lists more than one).
func inChildPIDNamespace(pid int) bool {
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "NSpid:"); ok {
			return len(strings.Fields(rest)) > 1
		}
	}
	return false
}

// exiting reports whether pid is in do_exit (PF_EXITING, /proc/pid/stat
// field 9).
func exiting(pid int) bool {
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	i := bytes.LastIndexByte(data, ')')
	if i < 0 || i+2 >= len(data) {
		return false
	}
	f := strings.Fields(string(data[i+2:]))
	if len(f) < 7 {
		return false
	}
	flags, _ := strconv.ParseUint(f[6], 10, 64)
	return flags&0x4 != 0
}
