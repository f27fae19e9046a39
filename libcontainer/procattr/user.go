package procattr

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// DefaultUmask is applied when process.user.umask is absent, as runc does.
const DefaultUmask = 0o022

// SetUser switches the process to u: supplementary groups, then gid, then
// uid, then the umask.
//
// syscall.Setgroups/Setgid/Setuid change every thread of the process
// (glibc's or Go's all-threads mechanism), which is what we want: a Go
// process has many threads and a thread left as root would be a hole.
//
// Moving from uid 0 to another uid normally empties the permitted set;
// PR_SET_KEEPCAPS (a per-thread flag, hence the locked thread) keeps it so
// that capabilities.Apply can still grant the configured capabilities
// afterwards. The flag is cleared again right after setuid so that it does
// not leak into anything later.
func SetUser(u specs.User) error {
	// Each of syscall.Setgroups/Setgid/Setuid stops every thread of the
	// process to apply the change (a signal round trip per thread, ~0.2 ms
	// each here), so a call that would change nothing (root staying root,
	// the common case) is skipped. The current credentials are read on this
	// thread: all threads share them, as none was changed per thread before.
	if err := setGroups(u.AdditionalGids); err != nil {
		return err
	}
	if rgid, egid, sgid := unix.Getresgid(); rgid != int(u.GID) || egid != int(u.GID) || sgid != int(u.GID) {
		if err := syscall.Setgid(int(u.GID)); err != nil {
			return fmt.Errorf("process.user.gid: setgid(%d): %w", u.GID, err)
		}
	}
	if ruid, euid, suid := unix.Getresuid(); ruid != int(u.UID) || euid != int(u.UID) || suid != int(u.UID) {
		if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("prctl(PR_SET_KEEPCAPS): %w", err)
		}
		if err := syscall.Setuid(int(u.UID)); err != nil {
			return fmt.Errorf("process.user.uid: setuid(%d): %w", u.UID, err)
		}
		if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 0, 0, 0, 0); err != nil {
			return fmt.Errorf("prctl(PR_SET_KEEPCAPS, 0): %w", err)
		}
	}

	mask := uint32(DefaultUmask)
	if u.Umask != nil {
		mask = *u.Umask
	}
	if mask > 0o777 {
		return fmt.Errorf("process.user.umask: %#o is not a valid umask", mask)
	}
	unix.Umask(int(mask))
	return nil
}

// setGroups makes the supplementary groups exactly gids. An empty list is
// applied too: it drops the groups the init inherited from the runtime.
func setGroups(gids []uint32) error {
	want := make([]int, len(gids))
	for i, g := range gids {
		want[i] = int(g)
	}
	if cur, err := unix.Getgroups(); err == nil && sameGroups(cur, want) {
		return nil
	}
	denied, err := setgroupsDenied()
	if err != nil {
		return err
	}
	if denied {
		if len(gids) > 0 {
			return fmt.Errorf("process.user.additionalGids: setgroups is denied in this user namespace (/proc/self/setgroups is \"deny\")")
		}
		return nil
	}
	if err := syscall.Setgroups(want); err != nil {
		return fmt.Errorf("process.user.additionalGids: setgroups(%v): %w", gids, err)
	}
	return nil
}

// sameGroups compares two group lists as the kernel keeps them: sorted.
func sameGroups(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// setgroupsDenied reports whether this user namespace forbids setgroups(2):
// an unprivileged user namespace whose gid_map was written by its owner
// has "deny" in /proc/self/setgroups, and setgroups would fail with EPERM.
// A kernel without the file (before 3.19) allows it.
func setgroupsDenied() (bool, error) {
	b, err := os.ReadFile("/proc/self/setgroups")
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read /proc/self/setgroups: %w", err)
	}
	return string(bytes.TrimSpace(b)) == "deny", nil
}

// LookupUser finds the user called name in an /etc/passwd file
// (name:password:uid:gid:gecos:home:shell) and returns its uid and primary
// gid. Comments, empty and malformed lines are skipped; the first entry of
// that name wins, as in getpwnam(3).
func LookupUser(r io.Reader, name string) (uid, gid uint32, found bool, err error) {
	err = scanEntries(r, name, 4, func(f []string) bool {
		u, uerr := strconv.ParseUint(f[2], 10, 32)
		g, gerr := strconv.ParseUint(f[3], 10, 32)
		if uerr != nil || gerr != nil {
			return false
		}
		uid, gid, found = uint32(u), uint32(g), true
		return true
	})
	return uid, gid, found, err
}

// LookupGroup finds the group called name in an /etc/group file
// (name:password:gid:members) and returns its gid.
func LookupGroup(r io.Reader, name string) (gid uint32, found bool, err error) {
	err = scanEntries(r, name, 3, func(f []string) bool {
		g, gerr := strconv.ParseUint(f[2], 10, 32)
		if gerr != nil {
			return false
		}
		gid, found = uint32(g), true
		return true
	})
	return gid, found, err
}

// scanEntries calls use with the fields of each line of a colon-separated
// database whose first field is name and that has at least minFields
// fields, until use accepts one.
func scanEntries(r io.Reader, name string, minFields int, use func([]string) bool) error {
	if name == "" {
		return nil
	}
	sc := bufio.NewScanner(r)
	// A group line lists its members: allow long ones.
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+":") {
			continue
		}
		if f := strings.Split(line, ":"); len(f) >= minFields && use(f) {
			return nil
		}
	}
	return sc.Err()
}
