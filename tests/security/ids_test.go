package security

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// Container IDs name directories under --root (and cgroups): an ID that is
// a path ("..", "/abs", "a/b", "../other/ID") must be refused before the
// runtime touches the file system, for every command. The test runs each
// hostile ID through create, start, state, kill, exec, pause, delete and
// delete --force with a state root of its own, next to another root that
// holds a real, running container: the ID's own root must stay empty, and
// the neighbour, its state and a planted sibling directory must survive.

func hostileIDs(base, otherID string) []string {
	return []string{
		"..", ".", "", "../other/" + otherID, filepath.Join(base, "other", otherID),
		otherID + "/../../other/" + otherID, "../victim", "a/b", "/",
		strings.Repeat("a", 1000), "a\nb", "a\x01b", "\x1b[2J", "a b", "a\tb",
	}
}

// commands a hostile ID goes through; the ID replaces "ID".
var idCommands = [][]string{
	{"create", "-b", "BUNDLE", "ID"},
	{"start", "ID"},
	{"state", "ID"},
	{"kill", "ID", "KILL"},
	{"exec", "ID", "true"},
	{"pause", "ID"},
	{"delete", "ID"},
	{"delete", "--force", "ID"},
}

func TestHostileIDs(t *testing.T) {
	base := hostDir(t)
	// The neighbour: a real container in another root.
	other := newBundle(t, "sleep", "1000")
	other.Root = filepath.Join(base, "other")
	otherID := newID()
	mustOK(t, other.create(otherID), "create the neighbour")
	mustOK(t, other.rt("start", otherID), "start the neighbour")
	otherPid := other.initPid(otherID)
	// A runtime that takes a hostile ID for a path can wipe the
	// neighbour's state: then the cleanup must kill it and remove its
	// cgroups itself.
	t.Cleanup(func() {
		if syscall.Kill(otherPid, syscall.SIGKILL) == nil {
			var ws syscall.WaitStatus
			syscall.Wait4(otherPid, &ws, 0, nil)
		}
		dirs, _ := filepath.Glob("/sys/fs/cgroup/*" + cgroupTop + "/" + otherID)
		top, _ := filepath.Glob("/sys/fs/cgroup" + cgroupTop + "/" + otherID)
		for _, d := range append(dirs, top...) {
			os.Remove(d)
		}
	})
	victim := filepath.Join(base, "victim")
	writeFile(t, filepath.Join(victim, "state.json"), "{}\n")
	writeFile(t, filepath.Join(victim, "keep"), "keep\n")

	root := filepath.Join(base, "state")
	if err := os.Mkdir(root, 0o700); err != nil {
		t.Fatal(err)
	}
	b := newBundle(t, "true")
	b.Root = root
	b.write("hostile") // one cgroupsPath for every attempt
	cgroups := func() []string {
		m, _ := filepath.Glob("/sys/fs/cgroup/*" + cgroupTop + "/hostile")
		n, _ := filepath.Glob("/sys/fs/cgroup" + cgroupTop + "/hostile")
		return append(m, n...)
	}

	for _, id := range hostileIDs(base, otherID) {
		for _, cmd := range idCommands {
			args := make([]string, len(cmd))
			for i, a := range cmd {
				switch a {
				case "ID":
					args[i] = id
				case "BUNDLE":
					args[i] = b.Dir
				default:
					args[i] = a
				}
			}
			what := fmt.Sprintf("%s with id %q", cmd[0], shorten(id))
			if cmd[0] == "delete" && len(cmd) > 2 {
				what = fmt.Sprintf("delete --force with id %q", shorten(id))
			}
			res := runtimeCmd(root, nil, args...)
			if res.Code == 0 {
				t.Errorf("%s was accepted: %s", what, res)
			}
			if _, err := os.Stat(root); err != nil {
				t.Fatalf("%s removed the state root: %v", what, err)
			}
			if ents, _ := os.ReadDir(root); len(ents) > 0 {
				var names []string
				for _, e := range ents {
					names = append(names, e.Name())
				}
				t.Errorf("%s left %q in the state root", what, names)
				for _, n := range names {
					os.RemoveAll(filepath.Join(root, n))
				}
			}
			if _, err := os.Stat(filepath.Join(victim, "keep")); err != nil {
				t.Fatalf("%s removed the sibling directory %s: %v", what, victim, err)
			}
			if cg := cgroups(); len(cg) > 0 {
				t.Errorf("%s made cgroups %v", what, cg)
			}
			checkNeighbour(t, what, other, otherID, otherPid)
		}
	}
}

// checkNeighbour fails the test unless the other container is intact and
// running.
func checkNeighbour(t *testing.T, what string, other *bundle, id string, pid int) {
	t.Helper()
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("%s killed the neighbour container (pid %d): %v", what, pid, err)
	}
	r := other.rt("state", id)
	var st struct{ Status string }
	if r.Code != 0 || json.Unmarshal([]byte(r.Stdout), &st) != nil || st.Status != "running" {
		t.Fatalf("%s changed the neighbour container: %s", what, r)
	}
}

func shorten(s string) string {
	if len(s) > 40 {
		return fmt.Sprintf("%s...(%d bytes)", s[:20], len(s))
	}
	return s
}
