package security

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// No fd of the host reaches the container beyond stdio and --preserve-fds,
// and process.cwd (or exec --cwd) of /proc/self/fd/N can never be a
// directory of the host (CVE-2024-21626 class: a leaked directory fd of the
// runtime made the container's cwd a host directory).

// hostFds opens what a careless caller might leave open: a host directory
// with a marker, the host's root, a regular file. They become fds 3-5 of
// the runtime, and again fds hostFdHigh.. (fds 3 and up of the init are
// taken by the runtime's own, so a leak shows up best higher).
const hostFdHigh = 20

func hostFds(t *testing.T) []*os.File {
	t.Helper()
	dir := hostDir(t)
	writeFile(t, filepath.Join(dir, "HOST-DIR-MARKER"), "host\n")
	var files []*os.File
	for _, p := range []string{dir, "/", filepath.Join(dir, "HOST-DIR-MARKER")} {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		files = append(files, f)
	}
	extra := append([]*os.File{}, files...)
	for len(extra) < hostFdHigh-3 {
		extra = append(extra, nil)
	}
	return append(extra, files...)
}

// listFds is the container command that prints its open fds ("N -> target").
var listFds = []string{"ls", "-l", "/proc/self/fd"}

// parseFds reads `ls -l /proc/self/fd`: fd number -> target, without the
// directory fd ls itself reads.
func parseFds(out string) map[int]string {
	fds := map[int]string{}
	for _, line := range strings.Split(out, "\n") {
		before, target, ok := strings.Cut(line, " -> ")
		if !ok {
			continue
		}
		f := strings.Fields(before)
		n, err := strconv.Atoi(f[len(f)-1])
		if err != nil || strings.HasPrefix(target, "/proc/") && strings.HasSuffix(target, "/fd") {
			continue
		}
		fds[n] = target
	}
	return fds
}

func checkFds(t *testing.T, what, out string, want int) {
	t.Helper()
	fds := parseFds(out)
	var extra []string
	for n, target := range fds {
		if n >= 3+want {
			extra = append(extra, fmt.Sprintf("%d -> %s", n, target))
		}
	}
	sort.Strings(extra)
	if len(extra) > 0 {
		t.Errorf("%s: fds the container must not have: %v\n%s", what, extra, out)
	}
	for n := 0; n < 3+want; n++ {
		if _, ok := fds[n]; !ok {
			t.Errorf("%s: fd %d is missing\n%s", what, n, out)
		}
	}
}

func TestNoHostFdsInContainer(t *testing.T) {
	for _, preserve := range []int{0, 1} {
		t.Run(fmt.Sprintf("run/preserve-fds=%d", preserve), func(t *testing.T) {
			b := newBundle(t, listFds...)
			id := newID()
			b.write(id)
			b.cleanup(id)
			res := runtimeCmd(b.Root, hostFds(t), "run", "--preserve-fds", strconv.Itoa(preserve), "-b", b.Dir, id)
			mustOK(t, res, "run")
			checkFds(t, "run", res.Stdout, preserve)
		})
		t.Run(fmt.Sprintf("exec/preserve-fds=%d", preserve), func(t *testing.T) {
			b := newBundle(t, "sleep", "1000")
			id := newID()
			mustOK(t, b.create(id), "create")
			mustOK(t, b.rt("start", id), "start")
			res := runtimeCmd(b.Root, hostFds(t), append([]string{"exec", "--preserve-fds", strconv.Itoa(preserve), id}, listFds...)...)
			mustOK(t, res, "exec")
			checkFds(t, "exec", res.Stdout, preserve)
		})
	}
}

// whereAmI prints INSIDE when the cwd is inside the container's root: from
// there, enough ".." reach the root, which holds ROOTFS-MARKER; from a host
// directory they reach the host's root, which does not.
var whereAmI = []string{"sh", "-c", "pwd; cat " + strings.Repeat("../", 40) + "ROOTFS-MARKER >/dev/null 2>&1 && echo INSIDE || echo OUTSIDE"}

// checkCwd: the start was refused, or the process runs inside the root.
func checkCwd(t *testing.T, what string, res result) {
	t.Helper()
	if res.Code == 0 && !strings.Contains(res.Stdout, "INSIDE") || strings.Contains(res.Stdout, "OUTSIDE") {
		t.Errorf("%s: the process's cwd is outside the container's root: %s", what, res)
	} else if res.Code != 0 {
		t.Logf("%s: refused: %s", what, strings.TrimSpace(res.Stderr))
	} else {
		t.Logf("%s: inside the root, pwd %q", what, strings.Fields(res.Stdout)[0])
	}
}

func TestCwdProcSelfFd(t *testing.T) {
	fds := []int{3, 4, 5, 6, 7, 8, 9, 10, 11, 12, hostFdHigh, hostFdHigh + 1}
	for _, n := range fds {
		t.Run(fmt.Sprintf("process.cwd=/proc/self/fd/%d", n), func(t *testing.T) {
			b := newBundle(t, whereAmI...)
			b.Spec.Process.Cwd = fmt.Sprintf("/proc/self/fd/%d", n)
			id := newID()
			b.write(id)
			b.cleanup(id)
			// The caller's own fds are the most tempting leak.
			res := runtimeCmd(b.Root, hostFds(t), "run", "-b", b.Dir, id)
			checkCwd(t, "run", res)
		})
	}
	t.Run("exec --cwd", func(t *testing.T) {
		b := newBundle(t, "sleep", "1000")
		id := newID()
		mustOK(t, b.create(id), "create")
		mustOK(t, b.rt("start", id), "start")
		for _, n := range fds {
			res := runtimeCmd(b.Root, hostFds(t), append([]string{"exec", "--cwd", fmt.Sprintf("/proc/self/fd/%d", n), id}, whereAmI...)...)
			checkCwd(t, fmt.Sprintf("exec --cwd /proc/self/fd/%d", n), res)
		}
	})
}
