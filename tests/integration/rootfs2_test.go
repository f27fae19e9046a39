package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestRootfsPropagation(t *testing.T) {
	// nsrun runs in a private mount namespace whose mounts were made
	// shared first (the host's / is private here): so "private" has a
	// propagation to remove and "slave" a master to show.
	for _, tc := range []struct {
		prop              string
		wantShared, slave bool
	}{{"shared", true, false}, {"rshared", true, false}, {"private", false, false}, {"rprivate", false, false},
		{"slave", false, true}, {"rslave", false, true}} {
		t.Run(tc.prop, func(t *testing.T) {
			b := newBundle(t, "cat", "/proc/self/mountinfo")
			b.Spec.Linux.RootfsPropagation = tc.prop
			r := b.runInPrivateMountNS("mount --make-rshared /", newID(t))
			mustOK(t, r, "run")
			root := lastMountAt(t, r.Stdout, "/")
			shared, slave := false, false
			for _, o := range root.Optional {
				shared = shared || strings.HasPrefix(o, "shared:")
				slave = slave || strings.HasPrefix(o, "master:")
			}
			if shared != tc.wantShared || slave != tc.slave {
				t.Fatalf("rootfsPropagation %q: / has optional fields %v", tc.prop, root.Optional)
			}
		})
	}
}

func TestMountRecursiveReadOnly(t *testing.T) {
	// A tmpfs with a nested tmpfs, made in a private mount namespace in
	// which nsrun then runs: rro must reach the nested mount, ro alone
	// (runc's meaning: the bind's top mount) must not.
	src := t.TempDir()
	setup := "mount -t tmpfs top " + src + "; mkdir " + src + "/sub; mount -t tmpfs nested " + src + "/sub; chmod 777 " + src + " " + src + "/sub"
	b := newBundle(t, "sh", "-c", `
		touch /rro/a 2>/dev/null && echo top-rw || echo top-ro
		touch /rro/sub/a 2>/dev/null && echo sub-rw || echo sub-ro
		touch /ro/a 2>/dev/null && echo top-rw || echo top-ro
		touch /ro/sub/b 2>/dev/null && echo sub-rw || echo sub-ro
		cat /proc/self/mountinfo`)
	b.Spec.Mounts = append(b.Spec.Mounts, specsBind(src, "/rro", "rro"), specsBind(src, "/ro", "ro"))
	r := b.runInPrivateMountNS(setup, newID(t))
	mustOK(t, r, "run")
	lines := strings.SplitN(r.Stdout, "\n", 5)
	if got := strings.Join(lines[:4], " "); got != "top-ro sub-ro top-ro sub-rw" {
		t.Errorf("writability rro-top rro-sub ro-top ro-sub: %q, want \"top-ro sub-ro top-ro sub-rw\"", got)
	}
	if m := lastMountAt(t, r.Stdout, "/rro/sub"); !hasOpt(m.MountOpts, "ro") {
		t.Errorf("/rro/sub mount options %q lack ro", m.MountOpts)
	}
	if _, err := os.Stat(filepath.Join(src, "sub")); err == nil {
		t.Errorf("the private namespace's mounts leaked to the host")
	}
}

func TestMountNosymfollow(t *testing.T) {
	src := t.TempDir()
	os.Chmod(src, 0o755)
	os.WriteFile(filepath.Join(src, "f"), []byte("target\n"), 0o644)
	os.Symlink("f", filepath.Join(src, "link"))
	b := newBundle(t, "sh", "-c", `
		cat /data/f
		cat /data/link 2>/dev/null && echo followed || echo not-followed
		readlink /data/link
		cat /plain/link
		grep " /data " /proc/self/mountinfo`)
	b.Spec.Mounts = append(b.Spec.Mounts, specsBind(src, "/data", "nosymfollow"), specsBind(src, "/plain"))
	r := b.run(newID(t))
	mustOK(t, r, "run")
	lines := strings.SplitN(r.Stdout, "\n", 5)
	if got := strings.Join(lines[:4], " "); got != "target not-followed f target" {
		t.Errorf("got %q, want \"target not-followed f target\"", got)
	}
	if m := lastMountAt(t, r.Stdout, "/data"); !hasOpt(m.MountOpts, "nosymfollow") {
		t.Errorf("/data mount options %q lack nosymfollow", m.MountOpts)
	}
}

func TestMountNoexec(t *testing.T) {
	b := newBundle(t, "sh", "-c", `
		cp /bin/busybox /x/busybox && /x/busybox true 2>/dev/null && echo x-exec || echo x-noexec
		cp /bin/busybox /y/busybox && /y/busybox true && echo y-exec || echo y-noexec`)
	b.Spec.Mounts = append(b.Spec.Mounts,
		specs.Mount{Destination: "/x", Type: "tmpfs", Source: "tmpfs", Options: []string{"noexec"}},
		specs.Mount{Destination: "/y", Type: "tmpfs", Source: "tmpfs", Options: []string{"exec"}},
	)
	r := b.run(newID(t))
	mustOK(t, r, "run")
	if r.Stdout != "x-noexec\ny-exec\n" {
		t.Fatalf("got %q, want \"x-noexec\\ny-exec\\n\"", r.Stdout)
	}
}

func TestTmpfsSizeAndMode(t *testing.T) {
	b := newBundle(t, "sh", "-c", "stat -c %a /t; cat /proc/self/mountinfo")
	b.Spec.Mounts = append(b.Spec.Mounts,
		specs.Mount{Destination: "/t", Type: "tmpfs", Source: "tmpfs", Options: []string{"size=2m", "mode=0710", "nodev", "nosuid"}})
	r := b.run(newID(t))
	mustOK(t, r, "run")
	if !strings.HasPrefix(r.Stdout, "710\n") {
		t.Errorf("mode of /t: %q, want 710", strings.SplitN(r.Stdout, "\n", 2)[0])
	}
	m := lastMountAt(t, r.Stdout, "/t")
	if m.FSType != "tmpfs" || !hasOpt(m.SuperOpts, "size=2048k") || !hasOpt(m.SuperOpts, "mode=710") {
		t.Errorf("/t: type %s super options %q, want tmpfs with size=2048k,mode=710", m.FSType, m.SuperOpts)
	}
	if !hasOpt(m.MountOpts, "nodev") || !hasOpt(m.MountOpts, "nosuid") {
		t.Errorf("/t mount options %q lack nodev,nosuid", m.MountOpts)
	}
}

func TestLinuxDevicesInUserNamespace(t *testing.T) {
	// mknod is not allowed in a user namespace: the host node is
	// bind-mounted instead (also below a directory /dev lacks), and it
	// must open (the devices cgroup allows it). The host nodes are 0600
	// root: container root is mapped to host root so that it owns them.
	for _, p := range []string{"/dev/fuse", "/dev/net/tun"} {
		if _, err := os.Stat(p); err != nil {
			t.Skipf("no %s on this host", p)
		}
	}
	b := newBundle(t, "sh", "-c", `stat -c "%t:%T" /dev/fuse /dev/net/tun; exec 3<>/dev/fuse && echo fuse-open; exec 4<>/dev/net/tun && echo tun-open`)
	b.Spec.Linux.Namespaces = append(b.Spec.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
	b.Spec.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 0, Size: 1}, {ContainerID: 1, HostID: 100001, Size: 65535}}
	b.Spec.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 0, Size: 1}, {ContainerID: 1, HostID: 100001, Size: 65535}}
	mode := os.FileMode(0o666)
	b.Spec.Linux.Devices = []specs.LinuxDevice{
		{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229, FileMode: &mode},
		{Path: "/dev/net/tun", Type: "c", Major: 10, Minor: 200, FileMode: &mode},
	}
	r := b.run(newID(t))
	mustOK(t, r, "run")
	if r.Stdout != "a:e5\na:c8\nfuse-open\ntun-open\n" {
		t.Fatalf("got %q, want \"a:e5\\na:c8\\nfuse-open\\ntun-open\\n\"", r.Stdout)
	}
}

func TestDefaultDevicesInUserNamespace(t *testing.T) {
	b := newBundle(t, "sh", "-c", `
		for d in null zero full random urandom tty; do stat -c "%n %F %t:%T" /dev/$d; done
		echo x > /dev/null && echo null-ok
		head -c 3 /dev/zero | wc -c
		head -c 4 /dev/urandom | wc -c
		echo x 2>/dev/null > /dev/full || echo full-enospc`)
	withUserNS(b.Spec)
	r := b.run(newID(t))
	mustOK(t, r, "run")
	want := "/dev/null character special file 1:3\n/dev/zero character special file 1:5\n" +
		"/dev/full character special file 1:7\n/dev/random character special file 1:8\n" +
		"/dev/urandom character special file 1:9\n/dev/tty character special file 5:0\n" +
		"null-ok\n3\n4\nfull-enospc\n"
	if r.Stdout != want {
		t.Fatalf("got:\n%s\nwant:\n%s", r.Stdout, want)
	}
}
