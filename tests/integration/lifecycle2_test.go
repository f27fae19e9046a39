package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nsrun/nsrun/tests/tools/testenv"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestKillCreatedContainer(t *testing.T) {
	for _, kill := range [][]string{{"SIGKILL"}, {"--all", "KILL"}} {
		b := newBundle(t, "sh", "-c", "touch /out/ran")
		out := b.outDir()
		b.write()
		id := newID(t)
		b.cleanup(id)
		mustOK(t, b.nsrun("create", "-b", b.Dir, id), "create")
		pid := b.initPid(id)
		args := append([]string{"kill"}, kill[:len(kill)-1]...)
		args = append(args, id, kill[len(kill)-1])
		mustOK(t, b.nsrun(args...), strings.Join(args, " ")+" of a created container")
		waitFor(t, func() bool { return b.state(id)["status"] == "stopped" })
		if !processDead(pid) {
			t.Fatalf("init %d alive after SIGKILL", pid)
		}
		reap(pid)
		if r := b.nsrun("start", id); r.Code == 0 {
			t.Fatal("start of a killed container succeeded")
		}
		if _, err := os.Stat(filepath.Join(out, "ran")); err == nil {
			t.Fatal("the user program ran")
		}
		mustOK(t, b.nsrun("delete", id), "delete")
		assertNoTrace(t, b.Root, id)
	}
}

func TestKillAllSignalsEveryProcess(t *testing.T) {
	// Without a PID namespace the death of the init does not take the
	// other processes with it: only --all reaches the second one.
	b := newBundle(t, "sh", "-c", "sleep 100 & touch /out/forked; wait")
	testenv.WithoutNamespace(b.Spec, specs.PIDNamespace)
	out := b.outDir()
	b.write()
	id := newID(t)
	b.cleanup(id)
	mustOK(t, b.nsrun("create", "-b", b.Dir, id), "create")
	mustOK(t, b.nsrun("start", id), "start")
	pid := b.initPid(id)
	waitFor(t, fileExists(filepath.Join(out, "forked")))
	var child int
	waitFor(t, func() bool {
		c := childPids(pid)
		if len(c) == 1 {
			child = c[0]
		}
		return child != 0
	})
	mustOK(t, b.nsrun("kill", "--all", id, "KILL"), "kill --all")
	waitFor(t, func() bool { return processDead(pid) && processDead(child) })
	reap(pid)
	reap(child)
	waitFor(t, func() bool { return b.state(id)["status"] == "stopped" })
	mustOK(t, b.nsrun("delete", id), "delete")
	assertNoTrace(t, b.Root, id)
}

func TestKillAllFlagForms(t *testing.T) {
	// CRI-O sends `kill -a ID SIG`; runc (urfave/cli v1) also takes flags
	// after the arguments: `kill ID SIG -a`. (Not `kill ID -a SIG`: v1's
	// reordering then takes SIG for the flag's value.)
	for _, args := range [][]string{{"kill", "-a", "ID", "9"}, {"kill", "ID", "KILL", "--all"}} {
		b := newBundle(t, "sleep", "100")
		b.write()
		id := newID(t)
		b.cleanup(id)
		mustOK(t, b.nsrun("create", "-b", b.Dir, id), "create")
		mustOK(t, b.nsrun("start", id), "start")
		pid := b.initPid(id)
		a := append([]string{}, args...)
		for i := range a {
			if a[i] == "ID" {
				a[i] = id
			}
		}
		mustOK(t, b.nsrun(a...), strings.Join(args, " "))
		waitFor(t, func() bool { return processDead(pid) })
		reap(pid)
		waitFor(t, func() bool { return b.state(id)["status"] == "stopped" })
	}
}

func TestDeleteForceRunning(t *testing.T) {
	b := newBundle(t, "sh", "-c", "trap '' TERM; touch /out/ready; while :; do sleep 1; done")
	out := b.outDir()
	b.write()
	id := newID(t)
	b.cleanup(id)
	mustOK(t, b.nsrun("create", "-b", b.Dir, id), "create")
	mustOK(t, b.nsrun("start", id), "start")
	waitFor(t, fileExists(filepath.Join(out, "ready")))
	pid := b.initPid(id)
	if r := b.nsrun("delete", id); r.Code == 0 {
		t.Fatal("delete without --force of a running container succeeded")
	}
	if st := b.state(id); st["status"] != "running" {
		t.Fatalf("a refused delete changed the container: %v", st)
	}
	mustOK(t, b.nsrun("delete", "--force", id), "delete --force")
	if !processDead(pid) {
		t.Errorf("init %d alive after delete --force", pid)
	}
	reap(pid)
	assertNoTrace(t, b.Root, id)
	if r := b.nsrun("state", id); r.Code == 0 || !strings.Contains(r.Stderr, "does not exist") {
		t.Fatalf("state after delete --force: %+v", r)
	}
}

func TestStoppedStateAndList(t *testing.T) {
	b := newBundle(t, "true")
	b.write()
	id := newID(t)
	b.cleanup(id)
	mustOK(t, b.nsrun("create", "-b", b.Dir, id), "create")
	pid := b.initPid(id)
	mustOK(t, b.nsrun("start", id), "start")
	waitFor(t, func() bool { return b.state(id)["status"] == "stopped" })
	reap(pid)
	st := b.state(id)
	if st["status"] != "stopped" || st["pid"].(float64) != 0 || st["id"] != id || st["bundle"] != b.Dir {
		t.Fatalf("state of a stopped container: %v", st)
	}
	var s specs.State
	r := b.nsrun("state", id)
	if err := json.Unmarshal([]byte(r.Stdout), &s); err != nil || s.Version == "" {
		t.Fatalf("state does not decode as a runtime-spec State: %v\n%s", err, r.Stdout)
	}
	r = b.nsrun("list", "-f", "json")
	mustOK(t, r, "list")
	var list []map[string]any
	if err := json.Unmarshal([]byte(r.Stdout), &list); err != nil || len(list) != 1 {
		t.Fatalf("list -f json: %v\n%s", err, r.Stdout)
	}
	if list[0]["id"] != id || list[0]["status"] != "stopped" {
		t.Fatalf("list entry: %v", list[0])
	}
	r = b.nsrun("list")
	mustOK(t, r, "list")
	found := false
	for _, line := range strings.Split(r.Stdout, "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[0] == id {
			found = true
			if f[1] != "0" || f[2] != "stopped" {
				t.Errorf("list table row %q: want pid 0, status stopped", line)
			}
		}
	}
	if !found {
		t.Fatalf("list table lacks %s:\n%s", id, r.Stdout)
	}
	mustOK(t, b.nsrun("delete", id), "delete")
	assertNoTrace(t, b.Root, id)
	r = b.nsrun("list", "-q")
	mustOK(t, r, "list -q")
	if strings.TrimSpace(r.Stdout) != "" {
		t.Fatalf("list after delete: %q", r.Stdout)
	}
}
