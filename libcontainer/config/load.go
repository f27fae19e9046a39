// Package config loads and validates an OCI bundle's config.json. Every error
// names the JSON path of the offending field, so that a user (or a client
// like containerd that shows our last log line) can fix the config without
// guessing.
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"

	"github.com/opencontainers/runtime-spec/specs-go"
)

// MaxConfigSize is the largest config.json Load accepts. Real configs are a
// few KiB (a big seccomp profile is ~40 KiB); the cap keeps a hostile or
// mistaken file (say, /dev/zero behind a symlink) from exhausting memory.
const MaxConfigSize = 64 << 20

// ConfigFileName is the name of the config inside a bundle.
const ConfigFileName = "config.json"

// Load reads <bundle>/config.json, decodes it and validates it.
func Load(bundle string) (*specs.Spec, error) {
	path := filepath.Join(bundle, ConfigFileName)
	data, err := readBounded(path, MaxConfigSize)
	if err != nil {
		return nil, err
	}
	s, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// readBounded reads at most limit bytes of path and fails if there is more.
// It does not trust Stat: the file may be a pipe or a procfs file whose
// size is reported as 0.
func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open config: %w", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil {
		if fi.IsDir() {
			return nil, fmt.Errorf("%s: is a directory, not a config file", path)
		}
		if fi.Size() > limit {
			return nil, fmt.Errorf("%s: file is %d bytes, larger than the %d MiB limit", path, fi.Size(), limit>>20)
		}
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: file is larger than the %d MiB limit", path, limit>>20)
	}
	return data, nil
}

// Parse decodes a config.json document and validates it.
func Parse(data []byte) (*specs.Spec, error) {
	var l linuxSpec
	if err := decodeJSON(data, &l); err != nil {
		return nil, err
	}
	s := l.spec()
	if err := Validate(s); err != nil {
		return nil, err
	}
	return s, nil
}

// linuxSpec is specs.Spec without the other platforms' sections (solaris,
// windows, vm, zos, freebsd), which a Linux runtime ignores like any
// unknown property. They are left out of the decoding because
// encoding/json builds a codec for every type the target reaches before it
// decodes anything: a quarter of the ~2 ms a config costs to decode in a
// fresh process went to types no Linux config uses. A unit test checks
// that every other field of specs.Spec is here.
type linuxSpec struct {
	Version     string            `json:"ociVersion"`
	Process     *specs.Process    `json:"process,omitempty"`
	Root        *specs.Root       `json:"root,omitempty"`
	Hostname    string            `json:"hostname,omitempty"`
	Domainname  string            `json:"domainname,omitempty"`
	Mounts      []specs.Mount     `json:"mounts,omitempty"`
	Hooks       *specs.Hooks      `json:"hooks,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Linux       *specs.Linux      `json:"linux,omitempty"`
}

// otherPlatforms are the specs.Spec fields linuxSpec leaves out.
var otherPlatforms = []string{"Solaris", "Windows", "VM", "ZOS", "FreeBSD"}

func (l *linuxSpec) spec() *specs.Spec {
	return &specs.Spec{
		Version: l.Version, Process: l.Process, Root: l.Root, Hostname: l.Hostname,
		Domainname: l.Domainname, Mounts: l.Mounts, Hooks: l.Hooks, Annotations: l.Annotations,
		Linux: l.Linux,
	}
}

// ParseProcess decodes a process JSON document (the file of `exec
// --process`) and validates it with ValidateProcess. Errors name the fields
// relative to the process object (e.g. "args: must not be empty").
func ParseProcess(data []byte) (*specs.Process, error) {
	var p specs.Process
	if err := decodeJSON(data, &p); err != nil {
		return nil, err
	}
	if err := ValidateProcess(&p, ""); err != nil {
		return nil, err
	}
	return &p, nil
}

// decodeJSON unmarshals data into v and turns encoding/json's errors into
// messages that name the field path (type errors) or the line and column
// (syntax errors). Unknown properties are ignored, as the spec requires.
func decodeJSON(data []byte, v any) error {
	err := json.Unmarshal(data, v)
	if err == nil {
		return nil
	}
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		path := typeErr.Field
		if path == "" {
			path = "(top level)"
		}
		return &FieldError{
			Path: path,
			Msg:  fmt.Sprintf("expected %s, got %s", jsonTypeName(typeErr.Type), typeErr.Value),
		}
	}
	var synErr *json.SyntaxError
	if errors.As(err, &synErr) {
		line, col := lineColumn(data, synErr.Offset)
		return fmt.Errorf("invalid JSON at line %d, column %d: %w", line, col, err)
	}
	return fmt.Errorf("decode JSON: %w", err)
}

// lineColumn converts a byte offset as reported by encoding/json (the number
// of bytes read when the error was detected, so the offending byte is the
// one before it) into the 1-based line and column of that byte.
func lineColumn(data []byte, offset int64) (line, col int) {
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	if offset <= 0 {
		return 1, 1
	}
	before := data[:offset-1]
	line = bytes.Count(before, []byte{'\n'}) + 1
	col = len(before) - bytes.LastIndexByte(before, '\n')
	return line, col
}

// jsonTypeName describes the JSON shape a Go type expects, for messages
// such as "expected array of string, got string".
func jsonTypeName(t reflect.Type) string {
	if t == nil {
		return "a value"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return fmt.Sprintf("%d-bit integer", t.Bits())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return fmt.Sprintf("%d-bit unsigned integer", t.Bits())
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice, reflect.Array:
		return "array of " + jsonTypeName(t.Elem())
	case reflect.Map, reflect.Struct:
		return "object"
	default:
		return "any value"
	}
}
