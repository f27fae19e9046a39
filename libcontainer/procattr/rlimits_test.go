package procattr

import (
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func init() {
	children["rlimits"] = func() error {
		err := SetRlimits([]specs.POSIXRlimit{
			{Type: "RLIMIT_NOFILE", Soft: 500, Hard: 600},
			{Type: "RLIMIT_CORE", Soft: 0, Hard: 0},
		})
		if err != nil {
			return err
		}
		// What a program started after this sees: Go must not restore its
		// own start-up NOFILE limit.
		out, err := exec.Command("/bin/cat", "/proc/self/limits").Output()
		if err != nil {
			return err
		}
		for _, line := range strings.Split(string(out), "\n") {
			f := strings.Fields(line)
			if strings.HasPrefix(line, "Max open files") {
				emit("nofile", f[3]+"/"+f[4])
			}
			if strings.HasPrefix(line, "Max core file size") {
				emit("core", f[4]+"/"+f[5])
			}
		}
		// Raising the hard limit back needs CAP_SYS_RESOURCE.
		err = SetRlimits([]specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 500, Hard: 700}})
		emit("raise_err", err)
		emit("raise_eperm", errors.Is(err, unix.EPERM))
		return nil
	}
}

func TestSetRlimits(t *testing.T) {
	kv := runChild(t, "rlimits", 0)
	if kv["nofile"] != "500/600" {
		t.Errorf("nofile = %q, want 500/600", kv["nofile"])
	}
	if kv["core"] != "0/0" {
		t.Errorf("core = %q, want 0/0", kv["core"])
	}
	hasSysResource := capBndHas(t, unix.CAP_SYS_RESOURCE)
	if hasSysResource {
		if kv["raise_err"] != "<nil>" {
			t.Errorf("raise with CAP_SYS_RESOURCE failed: %s", kv["raise_err"])
		}
	} else {
		if kv["raise_eperm"] != "true" || !strings.Contains(kv["raise_err"], "process.rlimits[0]") {
			t.Errorf("raise error = %q, want EPERM naming process.rlimits[0]", kv["raise_err"])
		}
	}
}

func TestSetRlimitsInvalid(t *testing.T) {
	// Only entries that fail before any syscall: this process stays as it is.
	if err := SetRlimits([]specs.POSIXRlimit{{Type: "RLIMIT_BOGUS"}}); err == nil || !strings.Contains(err.Error(), "process.rlimits[0]") {
		t.Errorf("unknown type: %v", err)
	}
	if err := SetRlimits([]specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 10, Hard: 5}}); err == nil || !strings.Contains(err.Error(), "soft limit") {
		t.Errorf("soft > hard: %v", err)
	}
	if len(RlimitNames()) != 16 {
		t.Errorf("RlimitNames: %v", RlimitNames())
	}
}

func capBndHas(t *testing.T, c int) bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapBnd:"); ok {
			m, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				t.Fatal(err)
			}
			return m&(1<<c) != 0
		}
	}
	t.Fatal("no CapBnd")
	return false
}
