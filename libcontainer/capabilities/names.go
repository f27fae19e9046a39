// Package capabilities turns the five capability sets of an OCI config
// (process.capabilities) into the calling thread's capability state.
package capabilities

import (
	"fmt"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// capNames lists every capability this build knows, indexed by number.
// It is spelled out here (rather than derived from x/sys constants by
// reflection) so that KnownNames is stable and ordered by number.
var capNames = [...]string{
	unix.CAP_CHOWN:              "CAP_CHOWN",
	unix.CAP_DAC_OVERRIDE:       "CAP_DAC_OVERRIDE",
	unix.CAP_DAC_READ_SEARCH:    "CAP_DAC_READ_SEARCH",
	unix.CAP_FOWNER:             "CAP_FOWNER",
	unix.CAP_FSETID:             "CAP_FSETID",
	unix.CAP_KILL:               "CAP_KILL",
	unix.CAP_SETGID:             "CAP_SETGID",
	unix.CAP_SETUID:             "CAP_SETUID",
	unix.CAP_SETPCAP:            "CAP_SETPCAP",
	unix.CAP_LINUX_IMMUTABLE:    "CAP_LINUX_IMMUTABLE",
	unix.CAP_NET_BIND_SERVICE:   "CAP_NET_BIND_SERVICE",
	unix.CAP_NET_BROADCAST:      "CAP_NET_BROADCAST",
	unix.CAP_NET_ADMIN:          "CAP_NET_ADMIN",
	unix.CAP_NET_RAW:            "CAP_NET_RAW",
	unix.CAP_IPC_LOCK:           "CAP_IPC_LOCK",
	unix.CAP_IPC_OWNER:          "CAP_IPC_OWNER",
	unix.CAP_SYS_MODULE:         "CAP_SYS_MODULE",
	unix.CAP_SYS_RAWIO:          "CAP_SYS_RAWIO",
	unix.CAP_SYS_CHROOT:         "CAP_SYS_CHROOT",
	unix.CAP_SYS_PTRACE:         "CAP_SYS_PTRACE",
	unix.CAP_SYS_PACCT:          "CAP_SYS_PACCT",
	unix.CAP_SYS_ADMIN:          "CAP_SYS_ADMIN",
	unix.CAP_SYS_BOOT:           "CAP_SYS_BOOT",
	unix.CAP_SYS_NICE:           "CAP_SYS_NICE",
	unix.CAP_SYS_RESOURCE:       "CAP_SYS_RESOURCE",
	unix.CAP_SYS_TIME:           "CAP_SYS_TIME",
	unix.CAP_SYS_TTY_CONFIG:     "CAP_SYS_TTY_CONFIG",
	unix.CAP_MKNOD:              "CAP_MKNOD",
	unix.CAP_LEASE:              "CAP_LEASE",
	unix.CAP_AUDIT_WRITE:        "CAP_AUDIT_WRITE",
	unix.CAP_AUDIT_CONTROL:      "CAP_AUDIT_CONTROL",
	unix.CAP_SETFCAP:            "CAP_SETFCAP",
	unix.CAP_MAC_OVERRIDE:       "CAP_MAC_OVERRIDE",
	unix.CAP_MAC_ADMIN:          "CAP_MAC_ADMIN",
	unix.CAP_SYSLOG:             "CAP_SYSLOG",
	unix.CAP_WAKE_ALARM:         "CAP_WAKE_ALARM",
	unix.CAP_BLOCK_SUSPEND:      "CAP_BLOCK_SUSPEND",
	unix.CAP_AUDIT_READ:         "CAP_AUDIT_READ",
	unix.CAP_PERFMON:            "CAP_PERFMON",
	unix.CAP_BPF:                "CAP_BPF",
	unix.CAP_CHECKPOINT_RESTORE: "CAP_CHECKPOINT_RESTORE",
}

// Cap is a capability number as the kernel numbers it (CAP_CHOWN = 0).
type Cap uint

// String returns the capability's name, or "CAP_<n>" for a number this
// build does not know.
func (c Cap) String() string {
	if int(c) < len(capNames) {
		return capNames[c]
	}
	return fmt.Sprintf("CAP_%d", uint(c))
}

// capByName is built on first use: built at start-up it would cost every
// nsrun process (~0.1 ms), and only create and the init look names up.
var capByName = sync.OnceValue(func() map[string]Cap {
	m := make(map[string]Cap, len(capNames))
	for i, n := range capNames {
		m[n] = Cap(i)
	}
	return m
})

// KnownNames returns every capability name this build knows, ordered by
// capability number (for `nsrun features`).
func KnownNames() []string {
	out := make([]string, len(capNames))
	copy(out, capNames[:])
	return out
}

// Lookup returns the number of one capability name. Names are matched
// exactly as the runtime spec writes them ("CAP_CHOWN"); the lower-case
// or unprefixed forms some CLIs accept are the caller's business.
func Lookup(name string) (Cap, bool) {
	c, ok := capByName()[name]
	return c, ok
}

// Parse maps capability names to numbers, refusing any unknown name.
// Duplicates are kept; they are harmless in a bit set.
func Parse(names []string) ([]Cap, error) {
	out := make([]Cap, 0, len(names))
	var unknown []string
	for _, n := range names {
		c, ok := capByName()[n]
		if !ok {
			unknown = append(unknown, fmt.Sprintf("%q", n))
			continue
		}
		out = append(out, c)
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("unknown capabilit%s %s", plural(len(unknown), "y", "ies"), strings.Join(unknown, ", "))
	}
	return out, nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
