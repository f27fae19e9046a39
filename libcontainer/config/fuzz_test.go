package config

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLoadNamesFile: whatever Parse refuses, Load's error starts with the
// file's path.
func TestLoadNamesFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, ConfigFileName)
	for _, doc := range []string{``, `{`, `[]`, `{"process": {"args": "sh"}}`, `{"ociVersion": "1.0.2"}`, "{\"hostname\": \"a\x00\"}"} {
		if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(dir); err == nil || !strings.HasPrefix(err.Error(), path+": ") {
			t.Errorf("%q: error %v does not start with the file", doc, err)
		}
	}
}

// FuzzLoadConfig feeds arbitrary bytes to the config loader (parser and
// validator). Besides not panicking, it checks that a rejection says where
// the problem is, and that an accepted config survives the trip through
// json.Marshal that nsrun makes of it (the state snapshot, the init's
// copy). Seeds: testdata/fuzz/FuzzLoadConfig (bundle-example, `nsrun
// spec`, the integration harness's config, docker- and podman-shaped
// configs) and the ones below.
//
//	go test -run '^$' -fuzz FuzzLoadConfig -fuzztime 60s ./libcontainer/config/
func FuzzLoadConfig(f *testing.F) {
	for _, seed := range []string{
		`{}`, `null`, `[]`, `{"ociVersion": "1.0.2"}`,
		`{"ociVersion":"1.0.2","process":{"args":["sh"],"cwd":"/"},"root":{"path":"rootfs"},"linux":{}}`,
		`{"ociVersion":"1.0.2","process":{"args":"sh","user":{"uid":"root"}}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		spec, err := Parse(data)
		if err != nil {
			// Load prefixes these with the file (TestLoadNamesFile).
			checkRejection(t, err)
			return
		}
		if spec == nil || spec.Process == nil || spec.Root == nil {
			t.Fatalf("accepted a config without process or root: %s", data)
		}
		again, err := json.Marshal(spec)
		if err != nil {
			t.Fatalf("accepted config does not encode: %v", err)
		}
		if _, err := Parse(again); err != nil {
			t.Fatalf("accepted config is refused once re-encoded: %v\n%s", err, again)
		}
	})
}

// checkRejection checks that every problem in err names a JSON field path
// (a FieldError) or, for malformed JSON, the position.
func checkRejection(t *testing.T, err error) {
	t.Helper()
	msg := err.Error()
	if strings.TrimSpace(msg) == "" {
		t.Fatal("empty error")
	}
	var leaves []error
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		leaves = append(leaves, e)
	}
	walk(err)
	for _, e := range leaves {
		var fe *FieldError
		switch {
		case errors.As(e, &fe):
			if fe.Path == "" {
				t.Fatalf("problem without a field path: %q", fe.Msg)
			}
		case strings.HasPrefix(e.Error(), "invalid JSON at line "):
		case strings.HasPrefix(e.Error(), "... and ") && strings.HasSuffix(e.Error(), " more problems"):
		default:
			t.Fatalf("error names no field path: %q", e)
		}
	}
}
