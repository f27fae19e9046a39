package faults

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// damage replaces a container's state.json (at path, of container id;
// orig is what nsrun wrote).
type damage struct {
	name  string
	apply func(t *testing.T, path string, orig []byte, id string)
}

// writeState writes data, with ID replaced by the container's.
func writeState(data string) func(*testing.T, string, []byte, string) {
	return func(t *testing.T, path string, _ []byte, id string) {
		if err := os.WriteFile(path, []byte(strings.ReplaceAll(data, "ID", id)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

var damages = []damage{
	{"truncated", func(t *testing.T, path string, orig []byte, _ string) {
		os.WriteFile(path, orig[:len(orig)/2], 0o600)
	}},
	{"cut before the cgroups", func(t *testing.T, path string, orig []byte, _ string) {
		i := strings.Index(string(orig), `"cgroups"`)
		os.WriteFile(path, orig[:i], 0o600)
	}},
	{"empty", writeState("")},
	{"garbage", writeState("\x00\xff\xfe not json at all \x01")},
	{"null", writeState("null")},
	{"array", writeState("[1, 2, 3]")},
	{"wrong field types", writeState(`{"id": 5, "pid": "twelve", "cgroups": "none"}`)},
	{"other container", writeState(`{"id": "someone-else", "pid": 1}`)},
	{"hostile cgroup record", writeState(`{"id": "ID", "cgroups": {"paths": {"memory": "/", "pids": "/sys/fs/cgroup/pids"}}}`)},
	{"directory", func(t *testing.T, path string, _ []byte, _ string) {
		os.Remove(path)
		os.Mkdir(path, 0o700)
	}},
	{"fifo", func(t *testing.T, path string, _ []byte, _ string) {
		os.Remove(path)
		unix.Mkfifo(path, 0o600)
	}},
	{"symlink to /dev/zero", func(t *testing.T, path string, _ []byte, _ string) {
		os.Remove(path)
		os.Symlink("/dev/zero", path)
	}},
}

// TestDamagedState: with state.json damaged, every command fails with an
// error that names the file (list warns and goes on), and delete --force
// still removes the container: its processes, cgroups and directory.
func TestDamagedState(t *testing.T) {
	by := startBystander(t)
	for _, dmg := range damages {
		for _, started := range []bool{false, true} {
			what := dmg.name
			if started {
				what += " (running)"
			}
			c := newCtr(t, "sleep", "1000")
			c.write()
			mustOK(t, c.nsrun("create", "-b", c.Dir, c.ID), what+": create")
			if started {
				mustOK(t, c.nsrun("start", c.ID), what+": start")
			}
			pid := c.recordedPid()
			orig, err := os.ReadFile(c.statePath())
			if err != nil {
				t.Fatal(err)
			}
			dmg.apply(t, c.statePath(), orig, c.ID)
			for _, args := range [][]string{
				{"state", c.ID}, {"start", c.ID}, {"kill", c.ID, "KILL"}, {"kill", "--all", c.ID, "KILL"},
				{"pause", c.ID}, {"resume", c.ID}, {"ps", c.ID}, {"delete", c.ID},
				{"exec", c.ID, "true"}, {"update", "--pids-limit", "10", c.ID}, {"events", "--stats", c.ID},
			} {
				r := runWithin(t, 5*time.Second, c.Root, args...)
				clearError(t, r, what+": "+strings.Join(args, " "), "state.json")
			}
			r := runWithin(t, 5*time.Second, c.Root, "list")
			noPanic(t, r, what+": list")
			if r.Code != 0 || !strings.Contains(r.Stderr, c.ID) {
				t.Errorf("%s: list must succeed and warn about %s: %s", what, c.ID, r)
			}
			if st, _ := procStat(pid); st == "" || st == "Z" {
				t.Errorf("%s: the init died before delete", what)
			}
			c.forceDelete(what, pid)
			by.check(what)
		}
	}
}

// runWithin runs nsrun and fails the test when it takes longer than d (it
// is killed then).
func runWithin(t *testing.T, d time.Duration, root string, args ...string) result {
	t.Helper()
	p, err := startNsrun(root, args...)
	if err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(d, func() { p.cmd.Process.Kill() })
	r := p.wait()
	if !timer.Stop() {
		t.Errorf("nsrun %s: still running after %v", strings.Join(args, " "), d)
	}
	return r
}

// TestLeftoverTempFile: a state.json temporary file left by a killed
// write does not confuse the commands, and delete removes it.
func TestLeftoverTempFile(t *testing.T) {
	c := newCtr(t, "sleep", "1000")
	c.write()
	mustOK(t, c.nsrun("create", "-b", c.Dir, c.ID), "create")
	os.WriteFile(filepath.Join(c.Root, c.ID, ".state.json.tmp-123"), []byte(`{"id":`), 0o600)
	mustOK(t, c.nsrun("state", c.ID), "state")
	c.forceDelete("temp file left", c.recordedPid())
}
