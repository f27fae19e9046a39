package capabilities

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

const childEnv = "NSRUN_CAPS_TEST_CHILD"

// TestMain lets a test re-exec this binary to run Apply in a throw-away
// process, since dropping capabilities cannot be undone.
func TestMain(m *testing.M) {
	if spec := os.Getenv(childEnv); spec != "" {
		os.Exit(applyChild(spec))
	}
	os.Exit(m.Run())
}

// applyChild applies the JSON capabilities in spec on a locked thread and
// prints that thread's /proc status lines.
func applyChild(spec string) int {
	runtime.LockOSThread()
	var c specs.LinuxCapabilities
	if err := json.Unmarshal([]byte(spec), &c); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if err := Apply(&c); err != nil {
		fmt.Fprintln(os.Stderr, "apply:", err)
		return 3
	}
	// Capabilities are per thread: read this thread's view.
	b, err := os.ReadFile("/proc/thread-self/status")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 4
	}
	os.Stdout.Write(b)
	return 0
}

func runApplyChild(t *testing.T, c specs.LinuxCapabilities) (status map[string]uint64, stderr string, err error) {
	t.Helper()
	b, _ := json.Marshal(c)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+string(b))
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	status = map[string]uint64{}
	for _, line := range strings.Split(out.String(), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || !strings.HasPrefix(k, "Cap") {
			continue
		}
		n, perr := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		if perr != nil {
			t.Fatalf("parse %q: %v", line, perr)
		}
		status[k] = n
	}
	return status, errb.String(), err
}

func mask(caps ...Cap) uint64 {
	var m uint64
	for _, c := range caps {
		m |= 1 << c
	}
	return m
}

func TestParse(t *testing.T) {
	caps, err := Parse([]string{"CAP_CHOWN", "CAP_SYS_ADMIN", "CAP_CHECKPOINT_RESTORE"})
	if err != nil {
		t.Fatal(err)
	}
	if caps[0] != unix.CAP_CHOWN || caps[1] != unix.CAP_SYS_ADMIN || caps[2] != unix.CAP_CHECKPOINT_RESTORE {
		t.Fatalf("got %v", caps)
	}
	_, err = Parse([]string{"CAP_CHOWN", "CAP_NOPE", "chown"})
	if err == nil || !strings.Contains(err.Error(), `"CAP_NOPE"`) || !strings.Contains(err.Error(), `"chown"`) {
		t.Fatalf("want error naming both unknown names, got %v", err)
	}
}

func TestKnownNames(t *testing.T) {
	names := KnownNames()
	if len(names) != unix.CAP_LAST_CAP+1 {
		t.Fatalf("got %d names, want %d", len(names), unix.CAP_LAST_CAP+1)
	}
	for i, n := range names {
		if n == "" || !strings.HasPrefix(n, "CAP_") {
			t.Fatalf("name %d is %q", i, n)
		}
		if c, ok := Lookup(n); !ok || int(c) != i {
			t.Fatalf("Lookup(%q) = %d, %v", n, c, ok)
		}
	}
}

func TestApplyUnknownNameNamesField(t *testing.T) {
	err := Apply(&specs.LinuxCapabilities{Ambient: []string{"CAP_BOGUS"}})
	if err == nil || !strings.Contains(err.Error(), "process.capabilities.ambient") {
		t.Fatalf("got %v", err)
	}
}

func TestApplyInChild(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	base := []string{"CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SETPCAP"}
	c := specs.LinuxCapabilities{
		Bounding:    append([]string{"CAP_AUDIT_WRITE"}, base...),
		Effective:   base,
		Permitted:   base,
		Inheritable: []string{"CAP_KILL", "CAP_NET_BIND_SERVICE"},
		Ambient:     []string{"CAP_NET_BIND_SERVICE"},
	}
	st, stderr, err := runApplyChild(t, c)
	if err != nil {
		t.Fatalf("child: %v: %s", err, stderr)
	}
	baseMask := mask(unix.CAP_CHOWN, unix.CAP_KILL, unix.CAP_NET_BIND_SERVICE, unix.CAP_SETPCAP)
	want := map[string]uint64{
		"CapBnd": baseMask | mask(unix.CAP_AUDIT_WRITE),
		"CapEff": baseMask,
		"CapPrm": baseMask,
		"CapInh": mask(unix.CAP_KILL, unix.CAP_NET_BIND_SERVICE),
		"CapAmb": mask(unix.CAP_NET_BIND_SERVICE),
	}
	for k, v := range want {
		if st[k] != v {
			t.Errorf("%s = %016x, want %016x", k, st[k], v)
		}
	}
}

// TestApplyUnavailableIsWarned asks for every known capability; the ones
// this host withholds (CAP_SYS_RESOURCE here) are dropped with a warning.
func TestApplyUnavailableIsWarned(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	all := KnownNames()
	c := specs.LinuxCapabilities{Bounding: all, Effective: all, Permitted: all, Inheritable: all, Ambient: all}
	st, stderr, err := runApplyChild(t, c)
	if err != nil {
		t.Fatalf("child: %v: %s", err, stderr)
	}
	bnd := st["CapBnd"]
	if st["CapAmb"] != bnd || st["CapPrm"] != bnd || st["CapEff"] != bnd || st["CapInh"] != bnd {
		t.Fatalf("sets differ from the bounding set %016x: %v", bnd, st)
	}
	self, err := readThreadCaps()
	if err != nil {
		t.Fatal(err)
	}
	if uint64(self.bounding) != bnd {
		t.Fatalf("child bounding %016x, parent %016x", bnd, uint64(self.bounding))
	}
	missing := (capSet(1)<<len(capNames) - 1) &^ self.bounding
	if missing != 0 && !strings.Contains(stderr, "ignoring") {
		t.Fatalf("expected a warning about %s, stderr: %s", missing.names(), stderr)
	}
}

func TestApplyDropsEverything(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	st, stderr, err := runApplyChild(t, specs.LinuxCapabilities{})
	if err != nil {
		t.Fatalf("child: %v: %s", err, stderr)
	}
	for _, k := range []string{"CapBnd", "CapEff", "CapPrm", "CapInh", "CapAmb"} {
		if v, ok := st[k]; !ok || v != 0 {
			t.Errorf("%s = %016x (present %v), want 0", k, v, ok)
		}
	}
}
