package security

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// CVE-2021-30465 class: a mount destination that is (or goes through) a
// symlink or ".." must be resolved inside the rootfs. A runtime that lets
// the kernel follow the path from the host's root mounts over a host path
// in the container's mount namespace (before the root switch): the
// createContainer hook, which sees that namespace with the host's tree,
// records it.

// destCase plants something in the rootfs r and returns the mount
// destination, which must land on victim (a host path) inside the root.
type destCase struct {
	name  string
	plant func(t *testing.T, r, victim string, i int) string
}

var destCases = []destCase{
	{"absolute symlink to /", func(t *testing.T, r, v string, i int) string {
		symlink(t, "/", filepath.Join(r, fmt.Sprintf("abs%d", i)))
		return fmt.Sprintf("/abs%d%s", i, v)
	}},
	{"relative symlink to ../..", func(t *testing.T, r, v string, i int) string {
		symlink(t, strings.Repeat("../", 12), filepath.Join(r, fmt.Sprintf("rel%d", i)))
		return fmt.Sprintf("/rel%d%s", i, v)
	}},
	{"symlink chain", func(t *testing.T, r, v string, i int) string {
		symlink(t, fmt.Sprintf("c%db", i), filepath.Join(r, fmt.Sprintf("c%da", i)))
		symlink(t, fmt.Sprintf("chain%d/c", i), filepath.Join(r, fmt.Sprintf("c%db", i)))
		symlink(t, "/", filepath.Join(r, fmt.Sprintf("chain%d/c", i)))
		return fmt.Sprintf("/c%da%s", i, v)
	}},
	{"symlink to the host path itself", func(t *testing.T, r, v string, i int) string {
		symlink(t, v, filepath.Join(r, fmt.Sprintf("direct%d", i)))
		return fmt.Sprintf("/direct%d", i)
	}},
	{"dot-dot from /", func(t *testing.T, r, v string, i int) string {
		return strings.Repeat("/..", 12) + v
	}},
	{"dot-dot after a directory", func(t *testing.T, r, v string, i int) string {
		return "/etc" + strings.Repeat("/..", 12) + v
	}},
	{"relative symlink in a subdirectory", func(t *testing.T, r, v string, i int) string {
		symlink(t, "../../../../../../..", filepath.Join(r, fmt.Sprintf("mid%d/up", i)))
		return fmt.Sprintf("/mid%d/up%s", i, v)
	}},
}

// TestMountDestinationSymlinks: each destination of destCases in its own
// container, with the in-root target missing (the runtime creates it) and
// already present.
func TestMountDestinationSymlinks(t *testing.T) {
	for i, c := range destCases {
		for _, existing := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/target-exists=%v", c.name, existing), func(t *testing.T) {
				testMountDestination(t, i, c, existing)
			})
		}
	}
}

func testMountDestination(t *testing.T, i int, c destCase, existing bool) {
	r := privateRootfs(t)
	host := hostDir(t)
	victim := filepath.Join(host, "victim")
	writeFile(t, filepath.Join(victim, "VICTIM"), "host\n")
	src := filepath.Join(host, "src")
	writeFile(t, filepath.Join(src, "which"), "src\n")
	if existing {
		os.MkdirAll(filepath.Join(r, victim), 0o755)
	}
	dest := c.plant(t, r, victim, i)
	b := newBundle(t, "cat", victim+"/which")
	b.Spec.Root.Path = r
	b.Spec.Mounts = append(b.Spec.Mounts, bindMount(src, dest))
	probe := b.hookProbe(victim)
	res := b.run(newID())
	if mi, ls, ran := probe(); ran {
		checkHostUntouched(t, mi, ls, []string{victim})
	}
	if res.Code != 0 || strings.TrimSpace(res.Stdout) != "src" {
		t.Errorf("destination %s: inside the container %s/which should come from the mount (the destination resolved inside the root): %s", dest, victim, res)
	}
}

func at(s []string, i int) string {
	if i < len(s) {
		return s[i]
	}
	return ""
}

// checkHostUntouched fails when a mount point of the container's namespace
// is one of the host paths victims (or below one), or a victim no longer
// shows its own content.
func checkHostUntouched(t *testing.T, mountinfo string, ls map[string]string, victims []string) {
	t.Helper()
	for _, mp := range mountPoints(mountinfo) {
		if underAny(mp, victims) {
			t.Errorf("a mount landed on the host path %s (outside the rootfs)", mp)
		}
	}
	for _, v := range victims {
		if ls[v] != "VICTIM" && !strings.HasPrefix(ls[v], "VICTIM\n") {
			t.Errorf("host directory %s shows %q in the container's namespace, want its own VICTIM file", v, ls[v])
		}
	}
}

// TestMountDestinationRace swaps a directory of the rootfs with a symlink
// to a host directory, in a tight loop, while containers are created whose
// mounts go through it: whenever the runtime looks the destination up, it
// must not end up on the host path (a check-then-mount-by-path runtime
// loses this race).
func TestMountDestinationRace(t *testing.T) {
	r := privateRootfs(t)
	host := hostDir(t)
	victim := filepath.Join(host, "victim")
	writeFile(t, filepath.Join(victim, "sub", "VICTIM"), "host\n")
	src := filepath.Join(host, "src")
	writeFile(t, filepath.Join(src, "which"), "src\n")
	os.MkdirAll(filepath.Join(r, "race", "sub"), 0o755)
	symlink(t, victim, filepath.Join(r, "race-alt"))

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	var swaps int
	go func() {
		defer wg.Done()
		a, c := filepath.Join(r, "race"), filepath.Join(r, "race-alt")
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, c, unix.RENAME_EXCHANGE); err != nil {
				t.Errorf("rename exchange: %v", err)
				return
			}
			swaps++
		}
	}()
	defer func() { close(stop); wg.Wait() }()

	deadline := time.Now().Add(8 * time.Second)
	created, failed := 0, 0
	for n := 0; n < 60 && time.Now().Before(deadline); n++ {
		b := newBundle(t, "true")
		b.Spec.Root.Path = r
		for k := 0; k < 16; k++ {
			b.Spec.Mounts = append(b.Spec.Mounts, bindMount(src, "/race/sub"))
		}
		probe := b.hookProbe(filepath.Join(victim, "sub"))
		id := newID()
		res := b.create(id)
		// Refusing is fine (a component was swapped under us), as long
		// as nothing landed outside.
		if res.Code != 0 {
			if failed++; failed == 1 {
				t.Logf("create refused (first of these): %s", strings.TrimSpace(res.Stderr))
			}
		} else {
			created++
		}
		if mi, ls, ran := probe(); ran {
			sub := filepath.Join(victim, "sub")
			checkHostUntouched(t, mi, map[string]string{sub: ls[sub]}, []string{sub})
		}
		b.rt("delete", "--force", id)
		if t.Failed() {
			break
		}
	}
	t.Logf("%d containers created, %d refused, %d swaps", created, failed, swaps)
	if created == 0 {
		t.Errorf("no container could be created while the rootfs changed")
	}
}
