// Package faults runs nsrun against faults and hostile input: a runtime
// killed half way through create, a container init that dies during
// setup, racing commands, a damaged state.json, absurd configs and
// misbehaving hooks. After each, nothing of the container may remain: no
// process, no mount, no cgroup, no state directory. Run as root:
//
//	NSRUN=$PWD/nsrun go test -count=1 ./tests/faults/
package faults

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nsrun/nsrun/tests/tools/testenv"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

var (
	nsrunBin string // the binary under test
	rootfs   string // busybox rootfs shared (read-only) by the containers
	workDir  string
	idSeq    atomic.Int64
)

// cgroupParent holds the cgroups of every container of this suite.
const cgroupParent = "nsrun-faults"

func TestMain(m *testing.M) {
	if out := os.Getenv(rusageEnv); out != "" {
		os.Exit(rusageHelper(out, os.Args[1:]))
	}
	var err error
	if workDir, err = testenv.Begin("nsrun-faults-"); err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	code := func() int {
		if nsrunBin, err = testenv.BuildNsrun(workDir); err != nil {
			fmt.Println(err)
			return 1
		}
		if rootfs, err = testenv.MakeRootfs(filepath.Join(workDir, "rootfs")); err != nil {
			fmt.Println(err)
			return 1
		}
		return m.Run()
	}()
	if left := sweep(); len(left) > 0 {
		// Each test checks its own container; this catches what a failed
		// check left (and keeps the host clean after a weakened build).
		fmt.Printf("swept what the tests left: %s\n", strings.Join(left, "; "))
	}
	removeCgroupParents()
	os.RemoveAll(workDir)
	os.Exit(code)
}

// sweep kills every process of this run's cgroups and every orphan that
// was re-parented to us, removes the run's cgroup directories and detaches
// mounts under the work dir. It returns what it found.
func sweep() []string {
	var found []string
	pattern := fmt.Sprintf("%s/%d", cgroupParent, os.Getpid())
	tops, _ := filepath.Glob("/sys/fs/cgroup/*/" + pattern)
	top2, _ := filepath.Glob("/sys/fs/cgroup/" + pattern)
	var dirs []string
	for _, top := range append(tops, top2...) {
		filepath.WalkDir(top, func(path string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, path)
			}
			return nil
		})
	}
	for try := 0; try < 50; try++ {
		live := 0
		for _, d := range dirs {
			os.WriteFile(filepath.Join(d, "freezer.state"), []byte("THAWED"), 0)
			os.WriteFile(filepath.Join(d, "cgroup.freeze"), []byte("0"), 0)
			data, _ := os.ReadFile(filepath.Join(d, "cgroup.procs"))
			for _, f := range strings.Fields(string(data)) {
				pid, _ := strconv.Atoi(f)
				if pid > 0 {
					live++
					unix.Kill(pid, unix.SIGKILL)
				}
			}
		}
		orphans := reapOrphans(nil)
		for _, pid := range orphans {
			unix.Kill(pid, unix.SIGKILL)
		}
		if try == 0 && live+len(orphans) > 0 {
			found = append(found, fmt.Sprintf("%d processes", live+len(orphans)))
		}
		if live+len(orphans) == 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	reapOrphans(nil)
	for i := len(dirs) - 1; i >= 0; i-- { // children before parents
		if unix.Rmdir(dirs[i]) == nil && filepath.Base(dirs[i]) != strconv.Itoa(os.Getpid()) {
			found = append(found, "cgroup "+dirs[i])
		}
	}
	for _, m := range mountsUnder(workDir) {
		unix.Unmount(m, unix.MNT_DETACH)
		found = append(found, "mount "+m)
	}
	return found
}

// removeCgroupParents removes the (empty) parents of this run's cgroups.
// Each test checks its own container's directories; a parent is shared,
// and stays behind when its maker is deleted while another lives below.
// The shared top (/nsrun-faults) goes too when empty, also when sweep
// already removed this run's directory below it.
func removeCgroupParents() {
	dirs, _ := filepath.Glob(fmt.Sprintf("/sys/fs/cgroup/*/%s/%d", cgroupParent, os.Getpid()))
	top, _ := filepath.Glob(fmt.Sprintf("/sys/fs/cgroup/%s/%d", cgroupParent, os.Getpid()))
	for _, d := range append(dirs, top...) {
		unix.Rmdir(d)
	}
	parents, _ := filepath.Glob("/sys/fs/cgroup/*/" + cgroupParent)
	parents2, _ := filepath.Glob("/sys/fs/cgroup/" + cgroupParent)
	for _, d := range append(parents, parents2...) {
		unix.Rmdir(d) // EBUSY while another run has its directory there
	}
}

// ctr is one container of a test: its bundle, state root and cgroup.
type ctr struct {
	t      *testing.T
	ID     string
	Dir    string // bundle
	Root   string // --root
	Cgroup string // linux.cgroupsPath
	Spec   *specs.Spec
}

// newCtr makes a bundle whose config runs args, with a private state root
// and a cgroup below this run's parent. The container is force-deleted at
// the end of the test.
func newCtr(t *testing.T, args ...string) *ctr {
	t.Helper()
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	os.Chmod(filepath.Dir(dir), 0o755)
	id := fmt.Sprintf("f-%d-%d", os.Getpid(), idSeq.Add(1))
	c := &ctr{t: t, ID: id, Dir: dir, Root: filepath.Join(dir, "state"),
		Cgroup: fmt.Sprintf("/%s/%d/%s", cgroupParent, os.Getpid(), id)}
	c.Spec = baseSpec(args, c.Cgroup)
	t.Cleanup(func() { c.nsrun("delete", "--force", c.ID) })
	return c
}

func baseSpec(args []string, cgroupsPath string) *specs.Spec {
	return &specs.Spec{
		Version: specs.Version,
		Root:    &specs.Root{Path: rootfs, Readonly: true},
		Process: &specs.Process{
			Args: args,
			Env:  []string{"PATH=/bin"},
			Cwd:  "/",
		},
		Hostname: "faults",
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "mode=1777"}},
		},
		Linux: &specs.Linux{
			CgroupsPath: cgroupsPath,
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace}, {Type: specs.IPCNamespace},
				{Type: specs.UTSNamespace}, {Type: specs.MountNamespace},
			},
		},
	}
}

// write saves config.json.
func (c *ctr) write() {
	c.t.Helper()
	data, err := json.Marshal(c.Spec)
	if err != nil {
		c.t.Fatal(err)
	}
	c.writeRaw(data)
}

// writeRaw saves data as config.json.
func (c *ctr) writeRaw(data []byte) {
	c.t.Helper()
	if err := os.WriteFile(filepath.Join(c.Dir, "config.json"), data, 0o644); err != nil {
		c.t.Fatal(err)
	}
}

// result of one nsrun invocation.
type result struct {
	Stdout, Stderr string
	Code           int
	Signaled       bool  // killed by a signal (Code is 128+N)
	MaxRSS         int64 // bytes, the peak resident set of nsrun
	Took           time.Duration
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout: %s\nstderr: %s", r.Code, r.Stdout, r.Stderr)
}

// nsrun runs the binary with this container's --root.
func (c *ctr) nsrun(args ...string) result {
	return runNsrun(c.Root, args...)
}

// rusageEnv makes the test binary a helper that runs its arguments and
// writes their peak RSS to the file the variable names. A child started
// straight from the test binary would report the test's own peak: the
// kernel counts the memory a child shares with its parent until execve
// (os/exec uses vfork), and the high-water mark survives the execve.
const rusageEnv = "NSRUN_FAULTS_RUSAGE"

func rusageHelper(out string, args []string) int {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = os.Environ()
	// The test kills the helper on a timeout: the command goes with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			code = 128 + int(ws.Signal())
		}
	} else if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 127
	}
	var rss int64
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		rss = ru.Maxrss << 10
	}
	os.WriteFile(out, []byte(fmt.Sprint(rss)), 0o600)
	return code
}

// proc is an nsrun process started without waiting for it.
type proc struct {
	cmd        *exec.Cmd
	out, errf  *os.File
	start      time.Time
	rssFile    string
	waited     bool
	waitResult result
}

// startNsrun starts nsrun with stdout and stderr in files, not pipes: a
// created container keeps create's stdio, and a pipe would not see EOF
// until the container exits.
func startNsrun(root string, args ...string) (*proc, error) {
	return startNsrunRSS(false, root, args...)
}

// startNsrunRSS is startNsrun, through rusageHelper when measure is set.
func startNsrunRSS(measure bool, root string, args ...string) (*proc, error) {
	outF, err := os.CreateTemp(workDir, "out-")
	if err != nil {
		return nil, err
	}
	errF, err := os.CreateTemp(workDir, "err-")
	if err != nil {
		outF.Close()
		return nil, err
	}
	os.Remove(outF.Name())
	os.Remove(errF.Name())
	cmd := exec.Command(nsrunBin, append([]string{"--root", root}, args...)...)
	cmd.Stdout, cmd.Stderr = outF, errF
	p := &proc{cmd: cmd, out: outF, errf: errF, start: time.Now()}
	if measure {
		p.rssFile = filepath.Join(workDir, fmt.Sprintf("rss-%d", idSeq.Add(1)))
		cmd.Args = append([]string{os.Args[0]}, cmd.Args...)
		cmd.Path = os.Args[0]
		cmd.Env = append(os.Environ(), rusageEnv+"="+p.rssFile)
	}
	if err := cmd.Start(); err != nil {
		outF.Close()
		errF.Close()
		return nil, err
	}
	return p, nil
}

// wait reaps the process and reads its output.
func (p *proc) wait() result {
	if p.waited {
		return p.waitResult
	}
	p.waited = true
	err := p.cmd.Wait()
	r := result{Took: time.Since(p.start)}
	if ee, ok := err.(*exec.ExitError); ok {
		r.Code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			r.Code, r.Signaled = 128+int(ws.Signal()), true
		}
	} else if err != nil {
		r.Code, r.Stderr = -1, err.Error()
	}
	if p.rssFile != "" {
		data, _ := os.ReadFile(p.rssFile)
		fmt.Sscan(string(data), &r.MaxRSS)
		if r.Code > 128 {
			r.Signaled = true
		}
	}
	out, _ := readAll(p.out)
	errb, _ := readAll(p.errf)
	p.out.Close()
	p.errf.Close()
	r.Stdout, r.Stderr = string(out), string(errb)+r.Stderr
	p.waitResult = r
	return r
}

func readAll(f *os.File) ([]byte, error) {
	if _, err := f.Seek(0, 0); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	_, err := b.ReadFrom(f)
	return b.Bytes(), err
}

// hangLimit bounds every nsrun command of these tests: a command that
// blocks (on a fifo planted as its state, say) is killed and its result
// says so, rather than hanging the suite until go test's timeout.
const hangLimit = 60 * time.Second

func runNsrun(root string, args ...string) result {
	p, err := startNsrun(root, args...)
	if err != nil {
		return result{Code: -1, Stderr: err.Error()}
	}
	timer := time.AfterFunc(hangLimit, func() { p.cmd.Process.Kill() })
	r := p.wait()
	if !timer.Stop() {
		r.Code = -1
		r.Stderr += fmt.Sprintf("\n(killed by the test: still running after %v)", hangLimit)
	}
	return r
}

// mustOK fails the test unless r succeeded.
func mustOK(t *testing.T, r result, what string) {
	t.Helper()
	if r.Code != 0 {
		t.Fatalf("%s: %s", what, r)
	}
}

// noPanic fails the test when nsrun crashed rather than reporting an error:
// a Go panic (exit 2 with a stack trace) or a fatal signal.
func noPanic(t *testing.T, r result, what string) {
	t.Helper()
	if strings.Contains(r.Stderr, "panic:") || strings.Contains(r.Stderr, "goroutine ") ||
		strings.Contains(r.Stderr, "fatal error:") || r.Signaled || r.Code == 2 {
		t.Errorf("%s crashed: %s", what, r)
	}
}

// clearError checks that a failed command said why on stderr.
func clearError(t *testing.T, r result, what string, wants ...string) {
	t.Helper()
	noPanic(t, r, what)
	if r.Code == 0 {
		t.Errorf("%s succeeded, want an error containing %q", what, wants)
		return
	}
	for _, w := range wants {
		if !strings.Contains(r.Stderr, w) {
			t.Errorf("%s: error %q does not contain %q", what, strings.TrimSpace(r.Stderr), w)
		}
	}
}
