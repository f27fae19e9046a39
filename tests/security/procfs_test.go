package security

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The runtime writes kernel settings (linux.sysctl, process.oomScoreAdj)
// through the container's /proc. A config or image that puts something
// else there must not redirect those writes into ordinary files
// (CVE-2019-16884 / CVE-2025-52881 class): the container is refused, or the
// values reach the real kernel objects and the planted files stay as they
// were. A rootfs whose /proc, /sys or /dev is a symlink is refused
// (CVE-2019-19921 class: the mount would land wherever the image points).

const (
	sysctlDomain = "sec-domain"
	oomAdj       = 123
)

// fakeProc is a host directory shaped like the part of /proc the runtime
// writes to, every file holding ORIG.
func fakeProc(t *testing.T) string {
	dir := filepath.Join(hostDir(t), "fakeproc")
	for _, f := range []string{"sys/kernel/domainname", "self/oom_score_adj", "thread-self/oom_score_adj", "sys/kernel/hostname"} {
		writeFile(t, filepath.Join(dir, f), "ORIG\n")
	}
	return dir
}

// checkFakeUntouched fails for every file of the fake tree that changed.
func checkFakeUntouched(t *testing.T, dir string) {
	t.Helper()
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			if data, _ := os.ReadFile(p); string(data) != "ORIG\n" {
				t.Errorf("a write meant for procfs went to the planted file %s: %q", p, data)
			}
		}
		return nil
	})
}

// checkRealProcfs: the init's OOM score and its UTS namespace's domain name
// (read through the host's procfs) have the configured values.
func checkRealProcfs(t *testing.T, pid int) {
	t.Helper()
	if data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/oom_score_adj", pid)); strings.TrimSpace(string(data)) != fmt.Sprint(oomAdj) {
		t.Errorf("oom_score_adj of the init is %q, want %d", data, oomAdj)
	}
	out, err := exec.Command("nsenter", "--uts=/proc/"+fmt.Sprint(pid)+"/ns/uts", "cat", "/proc/sys/kernel/domainname").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != sysctlDomain {
		t.Errorf("the container's domain name is %q (%v), want %q from linux.sysctl", out, err, sysctlDomain)
	}
}

func procBundle(t *testing.T) *bundle {
	b := newBundle(t, "sleep", "1000")
	b.Spec.Linux.Sysctl = map[string]string{"kernel.domainname": sysctlDomain}
	adj := oomAdj
	b.Spec.Process.OOMScoreAdj = &adj
	return b
}

// createChecked creates the container; when that works, the values must
// be in the real procfs. Either way the fake tree stays as it was.
func createChecked(t *testing.T, b *bundle, fake string) {
	t.Helper()
	id := newID()
	res := b.create(id)
	if fake != "" {
		checkFakeUntouched(t, fake)
	}
	if res.Code != 0 {
		t.Logf("refused: %s", strings.TrimSpace(res.Stderr))
		return
	}
	checkRealProcfs(t, b.initPid(id))
}

func TestProcfsWritesNotRedirected(t *testing.T) {
	t.Run("control", func(t *testing.T) {
		b := procBundle(t)
		id := newID()
		mustOK(t, b.create(id), "create")
		checkRealProcfs(t, b.initPid(id))
	})
	t.Run("directory bound on /proc/sys", func(t *testing.T) {
		b := procBundle(t)
		fake := fakeProc(t)
		b.Spec.Mounts = append(b.Spec.Mounts, bindMount(filepath.Join(fake, "sys"), "/proc/sys"))
		createChecked(t, b, fake)
	})
	t.Run("directory bound on /proc/self", func(t *testing.T) {
		b := procBundle(t)
		fake := fakeProc(t)
		b.Spec.Mounts = append(b.Spec.Mounts, bindMount(filepath.Join(fake, "self"), "/proc/self"))
		createChecked(t, b, fake)
	})
	t.Run("directory bound on /proc instead of procfs", func(t *testing.T) {
		b := procBundle(t)
		fake := fakeProc(t)
		b.Spec.Mounts[0] = bindMount(fake, "/proc")
		createChecked(t, b, fake)
	})
	t.Run("directory bound over procfs on /proc", func(t *testing.T) {
		b := procBundle(t)
		fake := fakeProc(t)
		b.Spec.Mounts = append(b.Spec.Mounts, bindMount(fake, "/proc"))
		createChecked(t, b, fake)
	})
	t.Run("tmpfs on /proc/sys", func(t *testing.T) {
		b := procBundle(t)
		b.Spec.Mounts = append(b.Spec.Mounts, specs.Mount{Destination: "/proc/sys", Type: "tmpfs", Source: "tmpfs"})
		createChecked(t, b, "")
	})
	t.Run("destination symlink into /proc", func(t *testing.T) {
		b := procBundle(t)
		r := privateRootfs(t)
		b.Spec.Root.Path = r
		symlink(t, "/proc/sys", filepath.Join(r, "innocent"))
		fake := fakeProc(t)
		b.Spec.Mounts = append(b.Spec.Mounts, bindMount(filepath.Join(fake, "sys"), "/innocent"))
		createChecked(t, b, fake)
	})
}

// TestSymlinkedKernelDirs: the image's /proc, /sys or /dev is a symlink,
// relative or to an absolute path that also exists on the host (which must
// stay empty: a runtime that joins paths and lets the kernel resolve them
// before the root switch writes there).
func TestSymlinkedKernelDirs(t *testing.T) {
	for _, c := range []struct {
		dir      string
		absolute bool
		noMount  bool // no mount on dir: the runtime fills /dev itself
	}{
		{"proc", false, false},
		{"proc", true, false},
		{"sys", true, false},
		{"dev", true, false},
		{"dev", false, true},
		{"dev", true, true},
	} {
		t.Run(fmt.Sprintf("/%s,absolute=%v,mounted=%v", c.dir, c.absolute, !c.noMount), func(t *testing.T) {
			r := privateRootfs(t)
			victim := filepath.Join(hostDir(t), "victim")
			os.Mkdir(victim, 0o755)
			target := "tmp/fake"
			if c.absolute {
				target = victim
			}
			os.Remove(filepath.Join(r, c.dir))
			os.MkdirAll(filepath.Join(r, target), 0o755)
			symlink(t, target, filepath.Join(r, c.dir))
			b := newBundle(t, "true")
			b.Spec.Root.Path = r
			if c.noMount {
				var mounts []specs.Mount
				for _, m := range b.Spec.Mounts {
					if !strings.HasPrefix(m.Destination, "/"+c.dir) {
						mounts = append(mounts, m)
					}
				}
				b.Spec.Mounts = mounts
			}
			res := b.run(newID())
			if ents, _ := os.ReadDir(victim); len(ents) > 0 {
				t.Errorf("the runtime wrote to the host directory %s through the image's /%s symlink: %v", victim, c.dir, ents)
			}
			if res.Code == 0 {
				t.Errorf("a rootfs whose /%s is a symlink (to %s) was accepted", c.dir, target)
			} else {
				t.Logf("refused: %s", strings.TrimSpace(res.Stderr))
			}
		})
	}
}
