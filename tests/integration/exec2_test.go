package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// TestExecUserByName: `exec -u NAME[:GROUP]` resolves names in the
// container's own /etc/passwd and /etc/group, read through its root: in its
// mount namespace (a file mounted over one counts), with symlinks resolved
// inside it (where the host's paths would not resolve at all).
func TestExecUserByName(t *testing.T) {
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	rootfsCopy := filepath.Join(dir, "rootfs")
	os.Mkdir(rootfsCopy, 0o755)
	copyTree(t, rootfs, rootfsCopy)
	etc := filepath.Join(rootfsCopy, "etc")
	write := func(path, data string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	symlink := func(target, path string) {
		t.Helper()
		os.Remove(path)
		if err := os.Symlink(target, path); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(etc, "passwd.img"), strings.Join([]string{
		"root:x:0:0:root:/root:/bin/sh",
		"# a comment",
		"",
		"alice:x:1234:2345:Alice:/home/alice:/bin/sh",
		"broken line",
		"bob:x:not-a-number:1::/:/bin/sh", // malformed: skipped
		"bob:x:1500:1600::/:/bin/sh",
		"bob:x:1501:1601::/:/bin/sh", // the first entry wins
		"",
	}, "\n"))
	// A relative link that climbs past the root: inside the container it
	// stops at the root; resolved on the host it would name another file.
	symlink("../../../../../../../../etc/passwd.img", filepath.Join(etc, "passwd"))
	// The image's group file has a wrong gid for staff; the config mounts
	// the right one over it.
	write(filepath.Join(etc, "group.img"), "root:x:0:\nstaff:x:1:\n")
	symlink("/etc/group.img", filepath.Join(etc, "group"))
	mounted := filepath.Join(dir, "group.mounted")
	write(mounted, "root:x:0:\nwheel:x:10:root\nstaff:x:50:alice,bob\n")

	b := newBundle(t)
	b.Spec.Root.Path = rootfsCopy
	b.Spec.Mounts = append(b.Spec.Mounts, specsBind(mounted, "/etc/group.img", "ro"))
	id, _ := startExecTarget(t, b)

	for _, c := range []struct{ user, want string }{
		{"alice", "1234 2345"},      // the user's primary group
		{"alice:staff", "1234 50"},  // from the mounted file
		{"bob", "1500 1600"},        // the first well-formed entry
		{"1000:staff", "1000 50"},   // a uid with a group name
		{"alice:4242", "1234 4242"}, // a name with a gid
		{"1000", "1000 0"},          // numeric forms as before
		{"1000:1001", "1000 1001"},
		{"root:wheel", "0 10"},
		{"65534:65534", "65534 65534"}, // ids need no entry
	} {
		r := b.nsrun("exec", "-u", c.user, id, "sh", "-c", "echo $(id -u) $(id -g)")
		mustOK(t, r, "exec -u "+c.user)
		if got := strings.TrimSpace(r.Stdout); got != c.want {
			t.Errorf("exec -u %s: uid gid %q, want %q", c.user, got, c.want)
		}
	}

	for _, c := range []struct{ user, want string }{
		{"nobody2", `exec: -u "nobody2": no such user in the container's /etc/passwd`},
		{"alice:nogroup2", `exec: -u "alice:nogroup2": no such group in the container's /etc/group`},
		{"007", "expected uid[:gid]"},
		{"alice:", "expected user[:group]"},
		{":staff", "expected user[:group]"},
		{"4294967296", "expected uid[:gid]"},
	} {
		r := b.nsrun("exec", "-u", c.user, id, "true")
		// The text log quotes the message: \" for ".
		if r.Code != 255 || !strings.Contains(strings.ReplaceAll(r.Stderr, `\"`, `"`), c.want) {
			t.Errorf("exec -u %s: code %d stderr %q, want 255 and %q", c.user, r.Code, r.Stderr, c.want)
		}
	}

	// Not a regular file (a FIFO would block the open and the read): an
	// error, not a hang.
	os.Remove(filepath.Join(etc, "passwd.img"))
	if err := unix.Mkfifo(filepath.Join(etc, "passwd.img"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := b.nsrun("exec", "-u", "alice", id, "true")
	if r.Code != 255 || !strings.Contains(r.Stderr, "not a regular file") {
		t.Errorf("exec -u with a FIFO for /etc/passwd: code %d stderr %q", r.Code, r.Stderr)
	}
}

// TestExecUserNamespaceJoinedHostNetNS: a container in a new user
// namespace that joins a network namespace of the host (owned by the
// host's user namespace, not the container's). After setns into the
// container's user namespace nsrun would have no capability over that
// network namespace: exec must join it first.
func TestExecUserNamespaceJoinedHostNetNS(t *testing.T) {
	name := fmt.Sprintf("nsrun-it-%d-%d", os.Getpid(), idSeq.Add(1))
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	nsPath := "/run/netns/" + name
	var st unix.Stat_t
	if err := unix.Stat(nsPath, &st); err != nil {
		t.Fatal(err)
	}
	wantNet := fmt.Sprintf("net:[%d]", st.Ino)

	b := newBundle(t)
	withUserNS(b.Spec)
	for i, ns := range b.Spec.Linux.Namespaces {
		if ns.Type == specs.NetworkNamespace {
			b.Spec.Linux.Namespaces[i].Path = nsPath
		}
	}
	// sysfs cannot be mounted from a user namespace that does not own the
	// network namespace; bind the host's instead.
	for i, m := range b.Spec.Mounts {
		if m.Destination == "/sys" {
			b.Spec.Mounts[i] = specsBind("/sys", "/sys", "ro", "nosuid", "nodev", "noexec")
		}
	}
	id, pid := startExecTarget(t, b)
	if got := nsInode(t, fmt.Sprintf("/proc/%d/ns/net", pid)); got != wantNet {
		t.Fatalf("init's network namespace %s, want the joined %s", got, wantNet)
	}

	r := b.nsrun("exec", id, "sh", "-c", "readlink /proc/self/ns/net; readlink /proc/self/ns/user; id -u; cat /proc/self/uid_map")
	mustOK(t, r, "exec")
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	if len(lines) != 4 {
		t.Fatalf("exec output %q", r.Stdout)
	}
	if lines[0] != wantNet {
		t.Errorf("exec'd process in network namespace %s, want %s", lines[0], wantNet)
	}
	if want := nsInode(t, fmt.Sprintf("/proc/%d/ns/user", pid)); lines[1] != want {
		t.Errorf("exec'd process in user namespace %s, want the container's %s", lines[1], want)
	}
	if lines[2] != "0" || strings.Join(strings.Fields(lines[3]), " ") != "0 100000 65536" {
		t.Errorf("exec'd process: uid %q, uid_map %q", lines[2], lines[3])
	}
	// A second exec, detached with a pid file, lands in the same place.
	pidFile := filepath.Join(t.TempDir(), "exec.pid")
	mustOK(t, b.nsrun("exec", "-d", "--pid-file", pidFile, id, "sleep", "30"), "exec -d")
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	var execPid int
	fmt.Sscanf(string(data), "%d", &execPid)
	t.Cleanup(func() {
		unix.Kill(execPid, unix.SIGKILL)
		waitFor(t, func() bool { reap(execPid); return processDead(execPid) })
	})
	if got := nsInode(t, fmt.Sprintf("/proc/%d/ns/net", execPid)); got != wantNet {
		t.Errorf("exec -d: network namespace %s, want %s", got, wantNet)
	}
}
