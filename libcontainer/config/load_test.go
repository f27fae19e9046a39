package config

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nsrun/nsrun/libcontainer/specconv"
)

func exampleJSON(t *testing.T) []byte {
	t.Helper()
	data, err := json.MarshalIndent(specconv.Example(), "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestLoadExample(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "config.json"), exampleJSON(t), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := Load(dir)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if s.Hostname != "nsrun" || s.Process.Args[0] != "sh" {
		t.Fatalf("unexpected spec: hostname %q args %q", s.Hostname, s.Process.Args)
	}
}

func TestLoadMissing(t *testing.T) {
	_, err := Load(t.TempDir())
	if err == nil || !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "config.json") {
		t.Fatalf("got %v, want a not-exist error naming config.json", err)
	}
}

func TestLoadDirectory(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "config.json"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "directory") {
		t.Fatalf("got %v, want a directory error", err)
	}
}

func TestLoadTooLarge(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.json")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	// Sparse: no disk space used.
	if err := f.Truncate(MaxConfigSize + 1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "64 MiB") {
		t.Fatalf("got %v, want a size error", err)
	}
}

// A FIFO reports size 0 to Stat, so the cap must hold while reading too.
func TestReadBoundedStream(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fifo")
	if err := mkfifo(path); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		w, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			done <- err
			return
		}
		defer w.Close()
		_, err = w.Write(make([]byte, 4096))
		done <- err
	}()
	_, err := readBounded(path, 1024)
	if err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("got %v, want a size error", err)
	}
	<-done // the writer may see EPIPE once we close; either way it ends
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		name, doc, want string
	}{
		{"args as string", `{"ociVersion":"1.3.0","process":{"args":"sh","cwd":"/"}}`,
			"process.args: expected array of string, got string"},
		{"arg as number", `{"ociVersion":"1.3.0","process":{"args":["sh",1],"cwd":"/"}}`,
			"process.args: expected string, got number"},
		{"negative uid", `{"ociVersion":"1.3.0","process":{"user":{"uid":-1}}}`,
			"process.user.uid: expected 32-bit unsigned integer, got number -1"},
		{"namespaces object", `{"ociVersion":"1.3.0","linux":{"namespaces":{}}}`,
			"linux.namespaces: expected array of object, got object"},
		{"terminal string", `{"process":{"terminal":"yes"}}`,
			"process.terminal: expected boolean, got string"},
		{"top level array", `[]`, "expected object, got array"},
		{"syntax error", "{\n  \"ociVersion\": \"1.3.0\",\n  \"root\": {\"path\" \"rootfs\"}\n}",
			"invalid JSON at line 3, column 19"},
		{"truncated", "{\"ociVersion\": ", "invalid JSON at line 1"},
		{"trailing garbage", `{"ociVersion":"1.3.0"} x`, "invalid JSON at line 1, column 24"},
		{"empty", ``, "invalid JSON"},
		{"validation", `{"ociVersion":"1.3.0","root":{"path":"rootfs"},"process":{"args":[],"cwd":"/"}}`,
			"process.args: must not be empty"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestParseIgnoresUnknownProperties(t *testing.T) {
	doc := `{"ociVersion":"1.0.2","root":{"path":"rootfs","futureField":1},
		"process":{"args":["sh"],"cwd":"/","somethingNew":{"a":[1,2]}},
		"vendorExtension":"x"}`
	if _, err := Parse([]byte(doc)); err != nil {
		t.Fatalf("Parse: %v", err)
	}
}

func TestParseProcess(t *testing.T) {
	if _, err := ParseProcess([]byte(`{"args":["ls"],"cwd":"/","env":["A=b"]}`)); err != nil {
		t.Fatalf("ParseProcess: %v", err)
	}
	_, err := ParseProcess([]byte(`{"args":["ls"],"cwd":"relative"}`))
	if err == nil || !strings.HasPrefix(err.Error(), "cwd: must be an absolute path") {
		t.Fatalf("got %v", err)
	}
	_, err = ParseProcess([]byte(`{"args":"ls"}`))
	if err == nil || !strings.Contains(err.Error(), "args: expected array of string, got string") {
		t.Fatalf("got %v", err)
	}
}

func TestLineColumn(t *testing.T) {
	data := []byte("ab\ncd\n")
	for _, tc := range []struct {
		off       int64
		line, col int
	}{{1, 1, 1}, {2, 1, 2}, {4, 2, 1}, {5, 2, 2}, {100, 2, 3}, {6, 2, 3}, {3, 1, 3}, {0, 1, 1}} {
		l, c := lineColumn(data, tc.off)
		if l != tc.line || c != tc.col {
			t.Errorf("lineColumn(%d) = %d:%d, want %d:%d", tc.off, l, c, tc.line, tc.col)
		}
	}
}
