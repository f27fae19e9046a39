package security

import (
	"fmt"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The process settings really apply, to the container's init and to an
// exec'd process that inherits them from the config (exec without
// --process): the capability sets, no_new_privs, the user, groups and
// rlimits, as the kernel reports them in /proc/self/status and
// /proc/self/limits.

var capBits = map[string]uint{
	"CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_KILL": 5, "CAP_SETUID": 7,
	"CAP_NET_BIND_SERVICE": 10, "CAP_NET_RAW": 13, "CAP_SYS_CHROOT": 18, "CAP_AUDIT_WRITE": 29,
}

func capMask(names ...string) string {
	var m uint64
	for _, n := range names {
		b, ok := capBits[n]
		if !ok {
			panic(n)
		}
		m |= 1 << b
	}
	return fmt.Sprintf("%016x", m)
}

// credsSpec: a non-root user with supplementary groups, distinct sets (the
// kernel recomputes them at execve: for a non-root user without file
// capabilities, permitted and effective become the ambient set),
// no_new_privs, two rlimits.
func credsSpec(b *bundle) map[string]string {
	p := b.Spec.Process
	p.User = specs.User{UID: 1000, GID: 1001, AdditionalGids: []uint32{10, 20}}
	p.Capabilities = &specs.LinuxCapabilities{
		Bounding:    []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_AUDIT_WRITE"},
		Permitted:   []string{"CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW"},
		Effective:   []string{"CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW"},
		Inheritable: []string{"CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW"},
		Ambient:     []string{"CAP_NET_BIND_SERVICE", "CAP_NET_RAW"},
	}
	p.NoNewPrivileges = true
	p.Rlimits = []specs.POSIXRlimit{
		{Type: "RLIMIT_NOFILE", Soft: 1234, Hard: 2345},
		{Type: "RLIMIT_CORE", Soft: 4096, Hard: 8192},
	}
	return map[string]string{
		"Uid":        "1000\t1000\t1000\t1000",
		"Gid":        "1001\t1001\t1001\t1001",
		"Groups":     "10 20",
		"NoNewPrivs": "1",
		"CapInh":     capMask("CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW"),
		"CapPrm":     capMask("CAP_NET_BIND_SERVICE", "CAP_NET_RAW"),
		"CapEff":     capMask("CAP_NET_BIND_SERVICE", "CAP_NET_RAW"),
		"CapBnd":     capMask("CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_AUDIT_WRITE"),
		"CapAmb":     capMask("CAP_NET_BIND_SERVICE", "CAP_NET_RAW"),
	}
}

var credsProbe = []string{"sh", "-c", "cat /proc/self/status; grep -E '^Max (open files|core file size)' /proc/self/limits"}

func checkCreds(t *testing.T, what string, res result, want map[string]string) {
	t.Helper()
	if res.Code != 0 {
		t.Errorf("%s: %s", what, res)
		return
	}
	got := map[string]string{}
	for _, line := range strings.Split(res.Stdout, "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			got[k] = strings.TrimSpace(v)
		}
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %s is %q, want %q", what, k, got[k], v)
		}
	}
	limits := map[string]string{"Max open files": "1234 2345 files", "Max core file size": "4096 8192 bytes"}
	for _, line := range strings.Split(res.Stdout, "\n") {
		for name, v := range limits {
			if strings.HasPrefix(line, name) {
				if f := strings.Join(strings.Fields(strings.TrimPrefix(line, name)), " "); f != v {
					t.Errorf("%s: %s is %q, want %q", what, name, f, v)
				}
				delete(limits, name)
			}
		}
	}
	for name := range limits {
		t.Errorf("%s: no %q line in /proc/self/limits", what, name)
	}
}

func TestCredentialsApplied(t *testing.T) {
	t.Run("run", func(t *testing.T) {
		b := newBundle(t, credsProbe...)
		want := credsSpec(b)
		checkCreds(t, "run", b.run(newID()), want)
	})
	t.Run("exec inherits the config", func(t *testing.T) {
		b := newBundle(t, "sleep", "1000")
		want := credsSpec(b)
		id := newID()
		mustOK(t, b.create(id), "create")
		mustOK(t, b.rt("start", id), "start")
		checkCreds(t, "exec", b.rt(append([]string{"exec", id}, credsProbe...)...), want)
	})
	t.Run("root keeps only the bounding set", func(t *testing.T) {
		// For root the kernel grants at execve everything in the bounding
		// set: the bounding set is what confines it.
		b := newBundle(t, credsProbe...)
		want := credsSpec(b)
		b.Spec.Process.User = specs.User{}
		b.Spec.Process.NoNewPrivileges = false
		all := want["CapBnd"]
		want = map[string]string{"Uid": "0\t0\t0\t0", "Gid": "0\t0\t0\t0", "CapBnd": all, "CapPrm": all, "CapEff": all, "NoNewPrivs": "0"}
		checkCreds(t, "run as root", b.run(newID()), want)
	})
}
