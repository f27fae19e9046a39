package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// FieldError is one problem found in a config, tied to the JSON path of the
// offending field (e.g. "linux.namespaces[2].type"). Callers can errors.As
// the result of Validate to get at individual problems.
type FieldError struct {
	Path string
	Msg  string
}

func (e *FieldError) Error() string {
	if e.Path == "" {
		return e.Msg
	}
	return e.Path + ": " + e.Msg
}

// maxProblems bounds the size of the joined error: a hostile config with a
// million bad entries must not turn into a gigabyte of error text.
const maxProblems = 64

// problems collects FieldErrors in the order they are found.
type problems struct {
	errs    []error
	dropped int
}

func (p *problems) add(path, format string, args ...any) {
	if len(p.errs) >= maxProblems {
		p.dropped++
		return
	}
	p.errs = append(p.errs, &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (p *problems) err() error {
	if len(p.errs) == 0 {
		return nil
	}
	errs := p.errs
	if p.dropped > 0 {
		errs = append(errs[:len(errs):len(errs)], fmt.Errorf("... and %d more problems", p.dropped))
	}
	if len(errs) == 1 {
		return errs[0]
	}
	return errors.Join(errs...)
}

// field appends a property name to a JSON path.
func field(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// index appends an array index to a JSON path.
func index(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

// key appends a map key to a JSON path; quoted because keys such as sysctl
// names contain dots themselves.
func key(path, k string) string {
	return path + "[" + strconv.Quote(k) + "]"
}

// hasNUL reports whether s contains a NUL byte: such strings cannot be passed
// to the kernel (paths, mount data, argv, environ) without being truncated.
func hasNUL(s string) bool {
	return strings.IndexByte(s, 0) >= 0
}
