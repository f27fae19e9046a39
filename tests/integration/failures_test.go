package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// createMustFail runs create, expects a failure whose message contains
// want, and checks that nothing of the container is left.
func createMustFail(t *testing.T, b *bundle, want string) {
	t.Helper()
	id := newID(t)
	b.cleanup(id)
	r := b.nsrun("create", "-b", b.Dir, id)
	if r.Code == 0 {
		t.Fatalf("create succeeded, want an error containing %q", want)
	}
	if !strings.Contains(r.Stderr, want) {
		t.Fatalf("error %q does not contain %q", r.Stderr, want)
	}
	assertNoTrace(t, b.Root, id)
	if r := b.nsrun("state", id); r.Code == 0 {
		t.Fatalf("state of a failed create succeeded: %s", r.Stdout)
	}
}

func TestCreateFailsOnEmptyArgs(t *testing.T) {
	b := newBundle(t)
	b.Spec.Process.Args = nil
	b.write()
	createMustFail(t, b, "process.args")
}

func TestCreateFailsOnWrongType(t *testing.T) {
	b := newBundle(t, "true")
	os.WriteFile(filepath.Join(b.Dir, "config.json"), []byte(`{"ociVersion":"1.0.2","root":{"path":"rootfs"},"process":{"args":"sh","cwd":"/"},"linux":{}}`), 0o644)
	createMustFail(t, b, "process.args")
}

func TestCreateFailsOnMissingExecutable(t *testing.T) {
	b := newBundle(t, "no-such-program")
	b.write()
	createMustFail(t, b, "executable file not found in $PATH")
	b = newBundle(t, "/bin/no-such-program")
	b.write()
	createMustFail(t, b, "no such file or directory")
}

func TestCreateFailsOnFailingHook(t *testing.T) {
	b := newBundle(t, "true")
	b.Spec.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", "echo hook-broke >&2; exit 2"}}}}
	b.write()
	createMustFail(t, b, "createRuntime")
}

func TestCreateFailsOnBadMount(t *testing.T) {
	b := newBundle(t, "true")
	b.Spec.Mounts = append(b.Spec.Mounts, specsBind("/nonexistent/source", "/mnt"))
	b.write()
	createMustFail(t, b, "/mnt")
}

func TestCreateFailsOnBadNamespace(t *testing.T) {
	b := newBundle(t, "true")
	b.Spec.Linux.Namespaces = append(b.Spec.Linux.Namespaces, specs.LinuxNamespace{Type: specs.PIDNamespace})
	b.write()
	createMustFail(t, b, "duplicate")
	b = newBundle(t, "true")
	b.Spec.Linux.Namespaces[1] = specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: "/proc/self/ns/uts"}
	b.write()
	createMustFail(t, b, "not a network namespace")
}

func TestCreateFailsOnUnsupportedResource(t *testing.T) {
	b := newBundle(t, "true")
	// Kernel 6.18 has no leaf weights at all.
	w := uint16(500)
	b.Spec.Linux.Resources.BlockIO = &specs.LinuxBlockIO{LeafWeight: &w}
	b.write()
	createMustFail(t, b, "blockIO.leafWeight")
}

func TestJSONLogHasOneErrorLine(t *testing.T) {
	b := newBundle(t, "no-such-program")
	b.write()
	log := filepath.Join(t.TempDir(), "log.json")
	id := newID(t)
	r := runNsrun(b.Root, nil, "--log", log, "--log-format", "json", "create", "-b", b.Dir, id)
	if r.Code == 0 {
		t.Fatal("create succeeded")
	}
	data, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 1 {
		t.Fatalf("log has %d lines, want 1:\n%s", len(lines), data)
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(lines[0]), &m); err != nil {
		t.Fatal(err)
	}
	if m["level"] != "error" || !strings.Contains(m["msg"], "executable file not found") {
		t.Fatalf("log line %v", m)
	}
}
