package security

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nsrun/nsrun/tests/tools/testenv"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Helpers of binary_test.go and binary_ptrace_test.go: the attacker
// program (testdata/binattack), a private copy of the runtime binary to
// attack, and a runtime command with a given binary, environment and stdio.

var (
	binAttackOnce sync.Once
	binAttackPath string
	binAttackErr  error
)

// binAttacker builds testdata/binattack (static) once per run.
func binAttacker(t *testing.T) string {
	t.Helper()
	binAttackOnce.Do(func() {
		binAttackPath = filepath.Join(workDir, "binattack")
		cmd := exec.Command("go", "build", "-o", binAttackPath, "./tests/security/testdata/binattack")
		cmd.Dir = testenv.RepoRoot()
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			binAttackErr = fmt.Errorf("build binattack: %v\n%s", err, out)
		}
	})
	if binAttackErr != nil {
		t.Fatal(binAttackErr)
	}
	return binAttackPath
}

// binRootfs is a private rootfs with the attacker at /binattack; with
// shebang, /bin/sh is the script `#!/proc/self/exe` (CVE-2019-5736's first
// step: whatever executes /bin/sh executes its own binary again).
func binRootfs(t *testing.T, shebang bool) string {
	t.Helper()
	root := privateRootfs(t)
	data, err := os.ReadFile(binAttacker(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "binattack"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	if shebang {
		sh := filepath.Join(root, "bin", "sh")
		os.Remove(sh)
		if err := os.WriteFile(sh, []byte("#!/proc/self/exe\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// binCopy copies the runtime under test to a private path: the attacks run
// against the copy, so that a runtime that lacks the protection damages
// nothing but the copy.
func binCopy(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(runtimeBin)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(hostDir(t), filepath.Base(runtimeBin))
	if err := os.WriteFile(p, data, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func binSHA256(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// binReport is a host directory every container user may write, for the
// attacker's log; it is mounted at /report.
func binReport(t *testing.T, b *bundle) string {
	t.Helper()
	dir := filepath.Join(hostDir(t), "report")
	if err := os.Mkdir(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o777)
	// The mount point exists: the container's root may not create it (a
	// user namespace's root on a rootfs of the host's root).
	os.MkdirAll(filepath.Join(b.Spec.Root.Path, "report"), 0o755)
	b.Spec.Mounts = append(b.Spec.Mounts, bindMount(dir, "/report"))
	return dir
}

func binAddCaps(s *specs.Spec, caps ...string) {
	c := s.Process.Capabilities
	c.Bounding = append(c.Bounding, caps...)
	c.Effective = append(c.Effective, caps...)
	c.Permitted = append(c.Permitted, caps...)
}

// binRT runs a given runtime binary with a state root and extra
// environment.
type binRT struct {
	bin, root string
	env       []string
}

// cmd is a runtime command with the given stdout and stderr (nil: a file
// whose content is returned by the result of wait).
func (r binRT) cmd(args ...string) *exec.Cmd {
	cmd := exec.Command(r.bin, append([]string{"--root", r.root}, args...)...)
	cmd.Env = append(os.Environ(), r.env...)
	return cmd
}

// run runs a runtime command to its end, output in files (a created
// container keeps create's stdio: a pipe would not see end-of-file).
func (r binRT) run(args ...string) result { return runToEnd(r.cmd(args...)) }

// createStart writes the config, creates and starts the container, and
// force-deletes it at the end of the test.
func (r binRT) createStart(t *testing.T, b *bundle, id string) {
	t.Helper()
	b.write(id)
	t.Cleanup(func() { r.run("delete", "--force", id) })
	mustOK(t, r.run("create", "-b", b.Dir, id), "create "+id)
	mustOK(t, r.run("start", id), "start "+id)
}

// binFill fills the pipe w writes to: the next write of anyone holding it
// blocks until the read side is drained. The pipe stays blocking.
func binFill(t *testing.T, w *os.File) {
	t.Helper()
	fd := int(w.Fd())
	if err := unix.SetNonblock(fd, true); err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 4096)
	for {
		_, err := unix.Write(fd, chunk)
		if err == unix.EAGAIN {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	// A smaller write may still fit in the last page.
	for _, err := unix.Write(fd, chunk[:1]); err == nil; _, err = unix.Write(fd, chunk[:1]) {
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		t.Fatal(err)
	}
}

// binDrain reads r to its end in the background.
func binDrain(r *os.File) <-chan string {
	done := make(chan string, 1)
	go func() {
		data, _ := io.ReadAll(r)
		r.Close()
		done <- strings.TrimLeft(string(data), "\x00")
	}()
	return done
}

// binRecord is one target of the attacker (testdata/binattack: Record).
type binRecord struct {
	Mode     string            `json:"mode"`
	Pid      int               `json:"pid"`
	Argv     []string          `json:"argv"`
	Comm     string            `json:"comm"`
	Attempts map[string]string `json:"attempts"`
}

func (r binRecord) String() string {
	keys := make([]string, 0, len(r.Attempts))
	for k := range r.Attempts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "pid %d comm %q argv %q:", r.Pid, r.Comm, r.Argv)
	for _, k := range keys {
		fmt.Fprintf(&b, "\n    %s: %s", k, r.Attempts[k])
	}
	return b.String()
}

// binRecords reads the attacker's log: the last record of each target
// (pid and argv[0]).
func binRecords(t *testing.T, report string) []binRecord {
	t.Helper()
	f, err := os.Open(filepath.Join(report, "log"))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var order []string
	last := map[string]binRecord{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r binRecord
		if json.Unmarshal(sc.Bytes(), &r) != nil {
			continue
		}
		key := fmt.Sprint(r.Pid)
		if len(r.Argv) > 0 {
			key += "\x00" + r.Argv[0]
		}
		if _, ok := last[key]; !ok {
			order = append(order, key)
		}
		last[key] = r
	}
	out := make([]binRecord, 0, len(order))
	for _, k := range order {
		out = append(out, last[k])
	}
	return out
}

// binWait polls cond until it holds, failing the test after timeout.
func binWait(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func binExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// binStop ends the attacker (it polls for REPORT/stop).
func binStop(report string) { os.WriteFile(filepath.Join(report, "stop"), nil, 0o644) }
