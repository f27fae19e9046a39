package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// startSleeper creates and starts a container whose init writes a counter
// to a host directory every 20 ms, and returns that directory.
func startCounter(t *testing.T, b *bundle, id string) string {
	t.Helper()
	dir := t.TempDir()
	b.Spec.Process.Args = []string{"sh", "-c", "i=0; while :; do i=$((i+1)); echo $i > /out/n; sleep 0.02; done"}
	b.Spec.Mounts = append(b.Spec.Mounts, specsBind(dir, "/out", "rw"))
	b.write()
	b.cleanup(id)
	mustOK(t, b.nsrun("create", "-b", b.Dir, id), "create")
	mustOK(t, b.nsrun("start", id), "start")
	waitFor(t, func() bool { _, err := os.Stat(filepath.Join(dir, "n")); return err == nil })
	return dir
}

func counter(dir string) string {
	data, _ := os.ReadFile(filepath.Join(dir, "n"))
	return strings.TrimSpace(string(data))
}

func TestPauseResume(t *testing.T) {
	b := newBundle(t, "true")
	b.Spec.Linux.CgroupsPath = "/nsrun-it-pause/" + t.Name()
	id := newID(t)
	dir := startCounter(t, b, id)
	mustOK(t, b.nsrun("pause", id), "pause")
	if st := b.state(id); st["status"] != "paused" {
		t.Fatalf("status after pause: %v", st["status"])
	}
	if pureV2 {
		if f := readCgroupFile(t, cgroupPathDir("", "/nsrun-it-pause/"+t.Name()+"/cgroup.freeze")); f != "1" {
			t.Fatalf("cgroup.freeze %q", f)
		}
		if ev := readCgroupFile(t, cgroupPathDir("", "/nsrun-it-pause/"+t.Name()+"/cgroup.events")); !strings.Contains(ev, "frozen 1") {
			t.Fatalf("cgroup.events %q", ev)
		}
	} else if f := readCgroupFile(t, "/sys/fs/cgroup/freezer/nsrun-it-pause/"+t.Name()+"/freezer.state"); f != "FROZEN" {
		t.Fatalf("freezer.state %q", f)
	}
	before := counter(dir)
	time.Sleep(150 * time.Millisecond)
	if after := counter(dir); after != before {
		t.Fatalf("the container ran while paused: %s -> %s", before, after)
	}
	if r := b.nsrun("resume", id); r.Code != 0 {
		t.Fatalf("resume: %s", r.Stderr)
	}
	if st := b.state(id); st["status"] != "running" {
		t.Fatalf("status after resume: %v", st["status"])
	}
	waitFor(t, func() bool { return counter(dir) != before })
	if r := b.nsrun("resume", id); r.Code == 0 || !strings.Contains(r.Stderr, "not paused") {
		t.Fatalf("resume of a running container: %+v", r)
	}
}

func TestKillAndDeletePaused(t *testing.T) {
	b := newBundle(t, "true")
	id := newID(t)
	startCounter(t, b, id)
	mustOK(t, b.nsrun("pause", id), "pause")
	mustOK(t, b.nsrun("kill", id, "KILL"), "kill of a paused container")
	waitFor(t, func() bool { return b.state(id)["status"] == "stopped" })
	mustOK(t, b.nsrun("delete", id), "delete")

	b = newBundle(t, "true")
	id = newID(t)
	startCounter(t, b, id)
	mustOK(t, b.nsrun("pause", id), "pause")
	if r := b.nsrun("delete", id); r.Code == 0 {
		t.Fatal("delete of a paused container without --force succeeded")
	}
	mustOK(t, b.nsrun("delete", "--force", id), "delete --force of a paused container")
	assertNoTrace(t, b.Root, id)
}

func TestPauseStopped(t *testing.T) {
	b := newBundle(t, "true")
	id := newID(t)
	b.write()
	b.cleanup(id)
	mustOK(t, b.nsrun("create", "-b", b.Dir, id), "create")
	mustOK(t, b.nsrun("start", id), "start")
	waitFor(t, func() bool { return b.state(id)["status"] == "stopped" })
	for _, cmd := range []string{"pause", "resume", "ps"} {
		if r := b.nsrun(cmd, id); r.Code == 0 || !strings.Contains(r.Stderr, "not running") {
			t.Errorf("%s of a stopped container: %+v", cmd, r)
		}
	}
}

func TestPs(t *testing.T) {
	b := newBundle(t, "true")
	id := newID(t)
	startCounter(t, b, id)
	pid := int(b.state(id)["pid"].(float64))
	r := b.nsrun("ps", "--format", "json", id)
	mustOK(t, r, "ps --format json")
	var pids []int
	if err := json.Unmarshal([]byte(r.Stdout), &pids); err != nil {
		t.Fatalf("ps json %q: %v", r.Stdout, err)
	}
	found := false
	for _, p := range pids {
		found = found || p == pid
	}
	if !found {
		t.Fatalf("init %d not in ps output %v", pid, pids)
	}
	r = b.nsrun("ps", id)
	mustOK(t, r, "ps")
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	if !strings.Contains(lines[0], "PID") || !strings.Contains(r.Stdout, " "+strconv.Itoa(pid)+" ") {
		t.Fatalf("ps table:\n%s", r.Stdout)
	}
	// Options after the ID go to ps(1), as with runc.
	r = b.nsrun("ps", id, "-o", "pid,comm")
	mustOK(t, r, "ps -o")
	if !strings.HasPrefix(strings.TrimSpace(r.Stdout), "PID") || !strings.Contains(r.Stdout, "sh") {
		t.Fatalf("ps -o pid,comm:\n%s", r.Stdout)
	}
}
