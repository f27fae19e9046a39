package config

import (
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/opencontainers/runtime-spec/specs-go"
)

// MaxListLen bounds every list and map in a config (mounts, env, args,
// namespaces, sysctls, ...). Legitimate configs are orders of magnitude
// smaller; the bound keeps validation and setup time linear in something
// sane even when the 64 MiB file cap is reached.
const MaxListLen = 100000

// Supported ociVersion range: 1.0.0 up to any 1.3.x.
const (
	minSupportedMinor = 0
	maxSupportedMinor = 3
)

// Validate checks what a runtime must refuse before doing anything. It
// returns nil or every problem found (errors.Join of *FieldError, capped),
// each naming the JSON path of the field.
func Validate(s *specs.Spec) error {
	var p problems
	if s == nil {
		p.add("", "config is empty")
		return p.err()
	}
	validateVersion(&p, s.Version)
	validateRoot(&p, s.Root)
	if s.Process == nil {
		p.add("process", "must be set")
	} else {
		validateProcess(&p, s.Process, "process")
	}
	validateMounts(&p, s.Mounts)
	validateHooks(&p, s.Hooks)
	validateAnnotations(&p, s.Annotations)
	validateLinux(&p, s)
	return p.err()
}

// validateVersion accepts a semver "1.MINOR.PATCH[-pre][+build]" with MINOR
// in the supported range.
func validateVersion(p *problems, v string) {
	const path = "ociVersion"
	if v == "" {
		p.add(path, "must be set")
		return
	}
	major, minor, ok := parseSemver(v)
	if !ok {
		p.add(path, "%q is not a semantic version (MAJOR.MINOR.PATCH)", v)
		return
	}
	if major != 1 || minor < minSupportedMinor || minor > maxSupportedMinor {
		p.add(path, "unsupported version %q (supported: 1.%d.0 to 1.%d.x)", v, minSupportedMinor, maxSupportedMinor)
	}
}

// parseSemver returns the major and minor numbers of a semantic version.
func parseSemver(v string) (major, minor int, ok bool) {
	core := v
	if i := strings.IndexAny(core, "-+"); i >= 0 {
		if i == len(core)-1 {
			return 0, 0, false
		}
		core = core[:i]
	}
	parts := strings.Split(core, ".")
	if len(parts) != 3 {
		return 0, 0, false
	}
	nums := make([]int, 3)
	for i, part := range parts {
		if part == "" || len(part) > 9 || strings.TrimLeft(part, "0123456789") != "" {
			return 0, 0, false
		}
		n, err := strconv.Atoi(part)
		if err != nil {
			return 0, 0, false
		}
		nums[i] = n
	}
	return nums[0], nums[1], true
}

func validateRoot(p *problems, r *specs.Root) {
	if r == nil {
		p.add("root", "must be set")
		return
	}
	switch {
	case r.Path == "":
		p.add("root.path", "must not be empty")
	case hasNUL(r.Path):
		p.add("root.path", "contains a NUL byte")
	}
}

func validateMounts(p *problems, mounts []specs.Mount) {
	const path = "mounts"
	if !checkLen(p, path, len(mounts)) {
		return
	}
	for i, m := range mounts {
		mp := index(path, i)
		// A relative destination is accepted (runc treats it as relative
		// to "/"), so only emptiness is an error.
		switch {
		case m.Destination == "":
			p.add(field(mp, "destination"), "must not be empty")
		case hasNUL(m.Destination):
			p.add(field(mp, "destination"), "contains a NUL byte")
		}
		if hasNUL(m.Source) {
			p.add(field(mp, "source"), "contains a NUL byte")
		}
		if hasNUL(m.Type) {
			p.add(field(mp, "type"), "contains a NUL byte")
		}
		checkStrings(p, field(mp, "options"), m.Options)
		validateIDMappings(p, field(mp, "uidMappings"), m.UIDMappings)
		validateIDMappings(p, field(mp, "gidMappings"), m.GIDMappings)
	}
}

func validateHooks(p *problems, h *specs.Hooks) {
	if h == nil {
		return
	}
	kinds := []struct {
		name  string
		hooks []specs.Hook
	}{
		{"prestart", h.Prestart},
		{"createRuntime", h.CreateRuntime},
		{"createContainer", h.CreateContainer},
		{"startContainer", h.StartContainer},
		{"poststart", h.Poststart},
		{"poststop", h.Poststop},
	}
	for _, k := range kinds {
		kp := field("hooks", k.name)
		if !checkLen(p, kp, len(k.hooks)) {
			continue
		}
		for i, hook := range k.hooks {
			hp := index(kp, i)
			switch {
			case hook.Path == "":
				p.add(field(hp, "path"), "must not be empty")
			case hasNUL(hook.Path):
				p.add(field(hp, "path"), "contains a NUL byte")
			case !filepath.IsAbs(hook.Path):
				p.add(field(hp, "path"), "must be an absolute path, got %q", hook.Path)
			}
			checkStrings(p, field(hp, "args"), hook.Args)
			validateEnv(p, field(hp, "env"), hook.Env)
			if hook.Timeout != nil && *hook.Timeout <= 0 {
				p.add(field(hp, "timeout"), "must be greater than zero, got %d", *hook.Timeout)
			}
		}
	}
}

func validateAnnotations(p *problems, a map[string]string) {
	if !checkLen(p, "annotations", len(a)) {
		return
	}
	if _, ok := a[""]; ok {
		p.add(key("annotations", ""), "keys must not be empty")
	}
}

// checkLen reports whether a list is within MaxListLen, recording a problem
// if not (the caller then skips the per-element checks).
func checkLen(p *problems, path string, n int) bool {
	if n > MaxListLen {
		p.add(path, "too many entries (%d, limit %d)", n, MaxListLen)
		return false
	}
	return true
}

// checkStrings bounds a list of strings and refuses NUL bytes in it.
func checkStrings(p *problems, path string, list []string) {
	if !checkLen(p, path, len(list)) {
		return
	}
	for i, s := range list {
		if hasNUL(s) {
			p.add(index(path, i), "contains a NUL byte")
		}
	}
}

// validateEnv checks "KEY=value" entries: the key must be non-empty, and
// nothing may contain NUL (execve would silently truncate it).
func validateEnv(p *problems, path string, env []string) {
	if !checkLen(p, path, len(env)) {
		return
	}
	for i, e := range env {
		ep := index(path, i)
		if hasNUL(e) {
			p.add(ep, "contains a NUL byte")
			continue
		}
		eq := strings.IndexByte(e, '=')
		switch {
		case eq < 0:
			p.add(ep, "%q is not of the form KEY=value", e)
		case eq == 0:
			p.add(ep, "%q has an empty variable name", e)
		}
	}
}

// sortedKeys returns a map's keys in order, so that errors come out in a
// stable order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
