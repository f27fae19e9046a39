package procattr

import (
	"strings"
	"testing"

	"github.com/nsrun/nsrun/libcontainer/capabilities"
	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func init() {
	children["user"] = func() error {
		umask := uint32(0o027)
		if err := SetUser(specs.User{UID: 1000, GID: 1001, AdditionalGids: []uint32{20, 30}, Umask: &umask}); err != nil {
			return err
		}
		keep, err := unix.PrctlRetInt(unix.PR_GET_KEEPCAPS, 0, 0, 0, 0)
		if err != nil {
			return err
		}
		emit("keepcaps", keep)
		emit("umask", unix.Umask(0))
		if err := emitStatus("Uid", "Gid", "Groups", "CapPrm"); err != nil {
			return err
		}
		// The init's order: SetUser, then capabilities.Apply; KEEPCAPS
		// must have left enough in the permitted set for this to work.
		caps := []string{"CAP_KILL", "CAP_NET_BIND_SERVICE"}
		if err := capabilities.Apply(&specs.LinuxCapabilities{
			Bounding: caps, Effective: caps, Permitted: caps, Inheritable: caps, Ambient: caps,
		}); err != nil {
			return err
		}
		return emitStatus("CapEff", "CapAmb", "CapBnd")
	}
	children["user-default-umask"] = func() error {
		if err := SetUser(specs.User{}); err != nil {
			return err
		}
		emit("umask", unix.Umask(0))
		return emitStatus("Uid", "Groups")
	}
}

func TestSetUser(t *testing.T) {
	kv := runChild(t, "user", 0)
	want := map[string]string{
		"keepcaps": "0",
		"umask":    "23", // 0o027
		"Uid":      "1000\t1000\t1000\t1000",
		"Gid":      "1001\t1001\t1001\t1001",
		"Groups":   "20 30",
		"CapEff":   "0000000000000420", // CAP_KILL | CAP_NET_BIND_SERVICE
		"CapAmb":   "0000000000000420",
		"CapBnd":   "0000000000000420",
	}
	for k, v := range want {
		if kv[k] != v {
			t.Errorf("%s = %q, want %q", k, kv[k], v)
		}
	}
	if kv["CapPrm"] == "0000000000000000" {
		t.Errorf("permitted set empty after setuid: KEEPCAPS did not work")
	}
}

func TestSetUserDefaults(t *testing.T) {
	kv := runChild(t, "user-default-umask", 0)
	if kv["umask"] != "18" { // 0o022
		t.Errorf("umask = %s, want 18 (0o022)", kv["umask"])
	}
	if kv["Groups"] != "" {
		t.Errorf("supplementary groups not cleared: %q", kv["Groups"])
	}
	if !strings.HasPrefix(kv["Uid"], "0\t") {
		t.Errorf("Uid = %q", kv["Uid"])
	}
}
