package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRunExitStatus(t *testing.T) {
	b := newBundle(t, "sh", "-c", "echo hello; exit 3")
	id := newID(t)
	r := b.run(id)
	if r.Code != 3 {
		t.Fatalf("exit code %d, want 3 (stderr %s)", r.Code, r.Stderr)
	}
	if strings.TrimSpace(r.Stdout) != "hello" {
		t.Fatalf("stdout %q", r.Stdout)
	}
	assertNoTrace(t, b.Root, id)
}

func TestRunKilledBySignal(t *testing.T) {
	// Without a PID namespace the shell is not an init, so SIGKILL from
	// itself is delivered.
	b := newBundle(t, "sh", "-c", "kill -9 $$")
	b.Spec.Linux.Namespaces = b.Spec.Linux.Namespaces[1:]
	id := newID(t)
	r := b.run(id)
	if r.Code != 128+9 {
		t.Fatalf("exit code %d, want 137 (stderr %s)", r.Code, r.Stderr)
	}
}

func TestIsolation(t *testing.T) {
	b := newBundle(t, "sh", "-c", "hostname; echo pid=$$; ls /sys/class/net")
	r := b.run(newID(t))
	mustOK(t, r, "run")
	want := "nsrun-test\npid=1\nlo\n"
	if r.Stdout != want {
		t.Fatalf("got %q, want %q", r.Stdout, want)
	}
}

func TestCreateStartDelete(t *testing.T) {
	dir := t.TempDir()
	b := newBundle(t, "sh", "-c", "touch /out/started; sleep 30")
	b.Spec.Mounts = append(b.Spec.Mounts, specsBind(dir, "/out", "rw"))
	b.write()
	id := newID(t)
	b.cleanup(id)
	pidFile := filepath.Join(t.TempDir(), "pid")
	mustOK(t, b.nsrun("create", "--bundle", b.Dir, "--pid-file", pidFile, id), "create")

	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "\n") {
		t.Errorf("pid file has a newline: %q", data)
	}
	pid, err := strconv.Atoi(string(data))
	if err != nil {
		t.Fatalf("pid file %q: %v", data, err)
	}
	st := b.state(id)
	if st["status"] != "created" || int(st["pid"].(float64)) != pid {
		t.Fatalf("state after create: %v (pid file %d)", st, pid)
	}
	if _, err := os.Stat(filepath.Join(dir, "started")); err == nil {
		t.Fatal("the user program ran before start")
	}
	mustOK(t, b.nsrun("start", id), "start")
	waitFor(t, func() bool { _, err := os.Stat(filepath.Join(dir, "started")); return err == nil })
	if st := b.state(id); st["status"] != "running" {
		t.Fatalf("state after start: %v", st)
	}
	if r := b.nsrun("start", id); r.Code == 0 {
		t.Fatal("second start succeeded")
	}
	if r := b.nsrun("delete", id); r.Code == 0 || !strings.Contains(r.Stderr, "not stopped") {
		t.Fatalf("delete of a running container: %+v", r)
	}
	mustOK(t, b.nsrun("kill", id, "KILL"), "kill")
	waitFor(t, func() bool { return b.state(id)["status"] == "stopped" })
	if st := b.state(id); st["pid"].(float64) != 0 {
		t.Errorf("stopped container reports pid %v", st["pid"])
	}
	if r := b.nsrun("kill", id); r.Code == 0 || !strings.Contains(r.Stderr, "not running") {
		t.Errorf("kill of a stopped container: %+v", r)
	}
	mustOK(t, b.nsrun("delete", id), "delete")
	assertNoTrace(t, b.Root, id)
	if r := b.nsrun("state", id); r.Code == 0 || !strings.Contains(r.Stderr, "does not exist") {
		t.Fatalf("state after delete: %+v", r)
	}
}

func TestDeleteCreated(t *testing.T) {
	b := newBundle(t, "true")
	b.write()
	id := newID(t)
	mustOK(t, b.nsrun("create", "-b", b.Dir, id), "create")
	pid := int(b.state(id)["pid"].(float64))
	mustOK(t, b.nsrun("delete", id), "delete of a created container")
	if _, err := os.Stat("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil {
		if data, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); !strings.Contains(string(data), ") Z") {
			t.Errorf("init %d still alive after delete", pid)
		}
	}
	assertNoTrace(t, b.Root, id)
}

func TestKillSignalNames(t *testing.T) {
	for _, sig := range []string{"TERM", "SIGTERM", "sigterm", "15"} {
		b := newBundle(t, "sh", "-c", "trap 'exit 7' TERM; while :; do sleep 0.1; done")
		b.write()
		id := newID(t)
		b.cleanup(id)
		mustOK(t, b.nsrun("create", "-b", b.Dir, id), "create")
		mustOK(t, b.nsrun("start", id), "start")
		time.Sleep(100 * time.Millisecond)
		mustOK(t, b.nsrun("kill", id, sig), "kill "+sig)
		waitFor(t, func() bool { return b.state(id)["status"] == "stopped" })
	}
}

func TestConcurrentCreateSameID(t *testing.T) {
	b := newBundle(t, "true")
	b.write()
	id := newID(t)
	b.cleanup(id)
	const n = 20
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r := b.nsrun("create", "-b", b.Dir, id); r.Code == 0 {
				mu.Lock()
				wins++
				mu.Unlock()
			} else if !strings.Contains(r.Stderr, "already exists") {
				t.Errorf("losing create: %s", r.Stderr)
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d creates of one ID succeeded, want 1", wins)
	}
}

func TestListAndState(t *testing.T) {
	b := newBundle(t, "sleep", "30")
	b.write()
	id := newID(t)
	b.cleanup(id)
	mustOK(t, b.nsrun("create", "-b", b.Dir, id), "create")
	st := b.state(id)
	for _, k := range []string{"ociVersion", "id", "pid", "status", "bundle", "rootfs", "created"} {
		if _, ok := st[k]; !ok {
			t.Errorf("state lacks %q: %v", k, st)
		}
	}
	if st["bundle"] != b.Dir {
		t.Errorf("bundle %v, want %s", st["bundle"], b.Dir)
	}
	r := b.nsrun("list", "-f", "json")
	mustOK(t, r, "list")
	var list []map[string]any
	if err := json.Unmarshal([]byte(r.Stdout), &list); err != nil || len(list) != 1 || list[0]["id"] != id {
		t.Fatalf("list: %v %s", err, r.Stdout)
	}
	r = b.nsrun("list", "-q")
	if strings.TrimSpace(r.Stdout) != id {
		t.Fatalf("list -q: %q", r.Stdout)
	}
}

func TestNoIDIsAnError(t *testing.T) {
	for _, cmd := range []string{"create", "start", "state", "kill", "delete"} {
		r := runNsrun(t.TempDir(), nil, cmd)
		if r.Code == 0 {
			t.Errorf("%s without ID succeeded", cmd)
		}
	}
}

func TestHostileIDs(t *testing.T) {
	root := t.TempDir()
	for _, id := range []string{"..", "../x", "/abs", "a/b", "", "x\x01y", strings.Repeat("a", 2000)} {
		r := runNsrun(root, nil, "state", id)
		if r.Code == 0 {
			t.Errorf("state %q succeeded", id)
		}
		r = runNsrun(root, nil, "delete", "--force", id)
		if r.Code == 0 {
			t.Errorf("delete --force %q succeeded", id)
		}
	}
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	limit := 5 * time.Second * time.Duration(timeScale)
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not reached in %v", limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
