package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestHookOrderAndState runs every hook kind; each appends its name and the
// status it saw on stdin to a log file.
func TestHookOrderAndState(t *testing.T) {
	dir := t.TempDir()
	logf := filepath.Join(dir, "hooks.log")
	hook := func(name string) specs.Hook {
		return specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c",
			`st=$(cat); s=${st#*\"status\":\"}; echo "` + name + ` ${s%%\"*}" >> ` + logf}}
	}
	b := newBundle(t, "sh", "-c", "echo user-program >> /hooklog/hooks.log")
	b.Spec.Mounts = append(b.Spec.Mounts, specsBind(dir, "/hooklog", "rw"))
	// createContainer and startContainer run inside the container: they
	// must find their path there. /bin/sh exists in the busybox rootfs and
	// the log is bind-mounted at the same path... use the in-container path.
	inHook := func(name string) specs.Hook {
		return specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c",
			`st=$(cat); s=${st#*\"status\":\"}; echo "` + name + ` ${s%%\"*}" >> LOG`}}
	}
	cc := inHook("createContainer")
	// createContainer runs before pivot_root: the host path works.
	cc.Args[2] = strings.Replace(cc.Args[2], "LOG", logf, 1)
	sc := inHook("startContainer")
	sc.Args[2] = strings.Replace(sc.Args[2], "LOG", "/hooklog/hooks.log", 1)
	b.Spec.Hooks = &specs.Hooks{
		Prestart:        []specs.Hook{hook("prestart")},
		CreateRuntime:   []specs.Hook{hook("createRuntime")},
		CreateContainer: []specs.Hook{cc},
		StartContainer:  []specs.Hook{sc},
		Poststart:       []specs.Hook{hook("poststart")},
		Poststop:        []specs.Hook{hook("poststop")},
	}
	b.write()
	id := newID(t)
	b.cleanup(id)
	mustOK(t, b.nsrun("create", "-b", b.Dir, id), "create")
	mustOK(t, b.nsrun("start", id), "start")
	waitFor(t, func() bool { return b.state(id)["status"] == "stopped" })
	mustOK(t, b.nsrun("delete", id), "delete")
	data, _ := os.ReadFile(logf)
	got := strings.Split(strings.TrimSpace(string(data)), "\n")
	want := []string{"prestart created", "createRuntime creating", "createContainer creating",
		"startContainer running", "user-program", "poststart running", "poststop stopped"}
	// poststart runs after the program started: the two may interleave.
	if len(got) != len(want) {
		t.Fatalf("hook log:\n%s", data)
	}
	for i, w := range want[:4] {
		if got[i] != w {
			t.Errorf("hook %d: %q, want %q", i, got[i], w)
		}
	}
	if got[6] != want[6] {
		t.Errorf("last hook %q, want %q", got[6], want[6])
	}
}

func TestHookTimeoutFailsCreate(t *testing.T) {
	b := newBundle(t, "true")
	one := 1
	b.Spec.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: "/bin/sleep", Args: []string{"sleep", "30"}, Timeout: &one}}}
	b.write()
	createMustFail(t, b, "timed out")
}

func TestHookClosingStdinEarly(t *testing.T) {
	// A hook that exits 0 without reading its stdin is a success.
	b := newBundle(t, "true")
	b.Spec.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: "/bin/true"}}}
	mustOK(t, b.run(newID(t)), "run")
}

func TestPoststopFailureOnlyWarns(t *testing.T) {
	b := newBundle(t, "true")
	b.Spec.Hooks = &specs.Hooks{Poststop: []specs.Hook{{Path: "/bin/false"}}}
	id := newID(t)
	mustOK(t, b.run(id), "run")
	assertNoTrace(t, b.Root, id)
}

func TestHookEnvAndArgs(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	b := newBundle(t, "true")
	b.Spec.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: "/bin/sh",
		Args: []string{"sh", "-c", "echo \"$0 $FOO\" > " + out + "; cat > " + out + ".state", "argzero"},
		Env:  []string{"FOO=bar"}}}}
	mustOK(t, b.run(newID(t)), "run")
	data, _ := os.ReadFile(out)
	if strings.TrimSpace(string(data)) != "argzero bar" {
		t.Fatalf("hook saw %q", data)
	}
	var st specs.State
	raw, _ := os.ReadFile(out + ".state")
	if err := json.Unmarshal(raw, &st); err != nil || st.Pid == 0 || st.Bundle != b.Dir {
		t.Fatalf("hook state %s: %v", raw, err)
	}
}
