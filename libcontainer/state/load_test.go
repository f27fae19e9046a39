package state

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/nsrun/nsrun/libcontainer/cgroups"
	"golang.org/x/sys/unix"
)

// A damaged state.json is ErrCorrupt naming the file, never followed or
// waited on; the lock file's record still tells delete --force what to
// clean up.
func TestDamagedStateAndRecord(t *testing.T) {
	root := Root(t.TempDir())
	c, err := root.Create("c1")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Unlock()
	st := &State{ID: "c1", Pid: 42, InitStartTime: 7, Annotations: map[string]string{"a": "b"},
		Config: []byte(`{"hostname":"h"}`), Cgroups: &cgroups.Record{Paths: map[string]string{"memory": "/sys/fs/cgroup/memory/gone-c1"}}}
	if err := c.Save(st); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Load(); err != nil {
		t.Fatalf("Load: %v", err)
	}
	path := c.Path(stateFile)
	damage := map[string]func(){
		"empty":    func() { os.WriteFile(path, nil, 0o600) },
		"garbage":  func() { os.WriteFile(path, []byte("\x00{"), 0o600) },
		"other id": func() { os.WriteFile(path, []byte(`{"id":"c2"}`), 0o600) },
		"root cgroup": func() {
			os.WriteFile(path, []byte(`{"id":"c1","cgroups":{"paths":{"x":"/"}}}`), 0o600)
		},
		"fifo":    func() { os.Remove(path); unix.Mkfifo(path, 0o600) },
		"symlink": func() { os.Remove(path); os.Symlink("/dev/zero", path) },
	}
	for name, apply := range damage {
		os.RemoveAll(path)
		apply()
		_, err := c.Load()
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: Load error %v, want ErrCorrupt naming %s", name, err, path)
		}
		rec, err := c.Recover()
		if err != nil || rec.Pid != 42 || rec.InitStartTime != 7 || rec.Cgroups == nil || !rec.noConfig() || len(rec.Annotations) != 0 {
			t.Errorf("%s: Recover = %+v, %v", name, rec, err)
		}
	}
	os.RemoveAll(path)
	if _, err := c.Load(); !errors.Is(err, ErrIncomplete) || !strings.Contains(err.Error(), path) {
		t.Errorf("missing: Load error %v, want ErrIncomplete naming the file", err)
	}
}
