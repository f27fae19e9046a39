package capabilities

import (
	"errors"
	"fmt"
	"strings"

	"github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// capSet is a set of capabilities as a bit mask; Linux numbers fewer than
// 64 capabilities and capget/capset carry them as two 32-bit words.
type capSet uint64

func (s capSet) has(c Cap) bool { return c < 64 && s&(1<<c) != 0 }

func (s capSet) names() string {
	var out []string
	for c := Cap(0); c < 64; c++ {
		if s.has(c) {
			out = append(out, c.String())
		}
	}
	return strings.Join(out, ", ")
}

func setOf(caps []Cap) capSet {
	var s capSet
	for _, c := range caps {
		if c < 64 {
			s |= 1 << c
		}
	}
	return s
}

// threadCaps is the capability state of the calling thread.
type threadCaps struct {
	effective, permitted, inheritable capSet
	bounding                          capSet
	lastCap                           Cap // highest capability the kernel knows
}

// wantedCaps is process.capabilities parsed into bit sets.
type wantedCaps struct {
	bounding, effective, permitted, inheritable, ambient capSet
}

// Apply makes the calling thread's capabilities those of c:
//
//  1. raise the effective set to the permitted one, because setuid(2)
//     to a non-root user (even with PR_SET_KEEPCAPS) clears it and
//     dropping from the bounding set needs CAP_SETPCAP in effect;
//  2. drop from the bounding set every capability not in c.Bounding
//     (PR_CAPBSET_DROP);
//  3. set effective, permitted and inheritable with one capset(2);
//  4. clear the ambient set and raise each of c.Ambient.
//
// Capabilities are a per-thread attribute in Linux and capset/prctl act
// on the calling thread only: the init must call Apply on the locked OS
// thread that will execve(2) the user program, as late as possible
// (after SetUser, before execve).
//
// A name this build does not know is an error naming
// process.capabilities.<set>. A known capability this thread cannot grant
// (missing from its bounding or permitted set, e.g. CAP_SYS_RESOURCE on a
// host that withholds it) is dropped with a warning, as runc does, so
// that configs asking for "all capabilities" still start.
//
// A nil c leaves the capabilities unchanged.
func Apply(c *specs.LinuxCapabilities) error {
	if c == nil {
		return nil
	}
	want, err := parseSpec(c)
	if err != nil {
		return err
	}
	cur, err := readThreadCaps()
	if err != nil {
		return err
	}
	want = fitToThread(want, cur)

	// Step 1: effective := permitted, so that CAP_SETPCAP is in effect.
	if err := capset(cur.permitted, cur.permitted, cur.inheritable); err != nil {
		return fmt.Errorf("raise effective capabilities before dropping the bounding set: %w", err)
	}
	// Step 2: the bounding set only shrinks.
	for cp := Cap(0); cp <= cur.lastCap; cp++ {
		if !cur.bounding.has(cp) || want.bounding.has(cp) {
			continue
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(cp), 0, 0, 0); err != nil {
			return fmt.Errorf("process.capabilities.bounding: drop %s: %w", cp, err)
		}
	}
	// Step 3.
	if err := capset(want.effective, want.permitted, want.inheritable); err != nil {
		return fmt.Errorf("process.capabilities: capset(effective=[%s] permitted=[%s] inheritable=[%s]): %w",
			want.effective.names(), want.permitted.names(), want.inheritable.names(), err)
	}
	// Step 4.
	return applyAmbient(want.ambient, cur.lastCap)
}

// parseSpec parses the five name lists; an unknown name is an error that
// names its JSON field.
func parseSpec(c *specs.LinuxCapabilities) (wantedCaps, error) {
	var w wantedCaps
	for _, f := range []struct {
		field string
		names []string
		dst   *capSet
	}{
		{"bounding", c.Bounding, &w.bounding},
		{"effective", c.Effective, &w.effective},
		{"permitted", c.Permitted, &w.permitted},
		{"inheritable", c.Inheritable, &w.inheritable},
		{"ambient", c.Ambient, &w.ambient},
	} {
		caps, err := Parse(f.names)
		if err != nil {
			return w, fmt.Errorf("process.capabilities.%s: %w", f.field, err)
		}
		*f.dst = setOf(caps)
	}
	return w, nil
}

// fitToThread removes from want what the kernel would refuse, warning
// once per set. The rules are capset(2)'s and PR_CAP_AMBIENT's:
// permitted can only shrink, effective must lie in the new permitted set,
// inheritable must lie in the old inheritable or the (new) bounding set,
// and ambient must lie in both the new permitted and inheritable sets.
func fitToThread(want wantedCaps, cur threadCaps) wantedCaps {
	grantable := cur.bounding & cur.permitted
	drop := func(field string, s *capSet, allowed capSet, why string) {
		if extra := *s &^ allowed; extra != 0 {
			logrus.Warnf("process.capabilities.%s: ignoring %s: %s", field, extra.names(), why)
			*s &= allowed
		}
	}
	drop("bounding", &want.bounding, cur.bounding, "not in this process's bounding set")
	drop("permitted", &want.permitted, grantable, "not available to this process")
	drop("effective", &want.effective, grantable, "not available to this process")
	drop("effective", &want.effective, want.permitted, "not in process.capabilities.permitted")
	drop("inheritable", &want.inheritable, cur.inheritable|(grantable&want.bounding),
		"not available to this process or not in process.capabilities.bounding")
	drop("ambient", &want.ambient, want.permitted&want.inheritable,
		"an ambient capability must also be permitted and inheritable (and available)")
	return want
}

// readThreadCaps reads the calling thread's sets with capget(2) and the
// bounding set with PR_CAPBSET_READ, which also finds the highest
// capability the running kernel knows (it fails with EINVAL above it).
// It needs no /proc, which matters after pivot_root.
func readThreadCaps() (threadCaps, error) {
	var t threadCaps
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return t, fmt.Errorf("capget: %w", err)
	}
	join := func(lo, hi uint32) capSet { return capSet(lo) | capSet(hi)<<32 }
	t.effective = join(data[0].Effective, data[1].Effective)
	t.permitted = join(data[0].Permitted, data[1].Permitted)
	t.inheritable = join(data[0].Inheritable, data[1].Inheritable)

	for cp := Cap(0); cp < 64; cp++ {
		r, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(cp), 0, 0, 0)
		if errors.Is(err, unix.EINVAL) {
			break
		}
		if err != nil {
			return t, fmt.Errorf("prctl(PR_CAPBSET_READ, %s): %w", cp, err)
		}
		t.lastCap = cp
		if r == 1 {
			t.bounding |= 1 << cp
		}
	}
	return t, nil
}

// capset sets the calling thread's three sets in one capset(2) call with
// the version 3 header: capabilities 0-31 go in the first data word,
// 32-63 in the second.
func capset(effective, permitted, inheritable capSet) error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	for i := range data {
		shift := 32 * uint(i)
		data[i].Effective = uint32(effective >> shift)
		data[i].Permitted = uint32(permitted >> shift)
		data[i].Inheritable = uint32(inheritable >> shift)
	}
	return unix.Capset(&hdr, &data[0])
}

// applyAmbient replaces the ambient set with want.
func applyAmbient(want capSet, lastCap Cap) error {
	err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
	if err != nil {
		// Kernels before 4.3 have no ambient set: nothing to clear, but a
		// requested ambient capability cannot be honoured.
		if errors.Is(err, unix.EINVAL) && want == 0 {
			return nil
		}
		return fmt.Errorf("process.capabilities.ambient: clear: %w", err)
	}
	for cp := Cap(0); cp <= lastCap; cp++ {
		if !want.has(cp) {
			continue
		}
		if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, uintptr(cp), 0, 0); err != nil {
			return fmt.Errorf("process.capabilities.ambient: raise %s: %w", cp, err)
		}
	}
	return nil
}
