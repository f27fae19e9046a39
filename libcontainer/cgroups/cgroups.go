// Package cgroups owns one container's cgroups.
//
// This file holds the driver-neutral surface (the Manager interface, New and
// Load). The cgroup v1 / hybrid driver lives in v1*.go, the pure cgroup v2
// driver in v2*.go; New picks one from what the host mounts, Load from the
// Record saved at create.
package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/opencontainers/runtime-spec/specs-go"
)

// UnifiedKey is the Paths key of the container's directory in the cgroup2
// (unified) hierarchy of a hybrid host.
const UnifiedKey = "unified"

// Manager owns the cgroups of one container.
type Manager interface {
	// Create makes the container's cgroup directory in every mounted v1
	// hierarchy (and in the unified hierarchy when it holds controllers) and
	// applies res. On error it removes what it created.
	Create(res *specs.LinuxResources) error
	// PlacementFiles opens what the init needs to enter its cgroups by
	// itself: the "tasks" file of each v1 hierarchy (O_WRONLY|O_CLOEXEC; the
	// single-threaded child writes "0" into each) and the unified directory
	// (O_RDONLY|O_DIRECTORY|O_CLOEXEC, for clone3 CLONE_INTO_CGROUP). unified
	// is nil when no unified part is used. The caller closes the files.
	PlacementFiles() (tasks []*os.File, unified *os.File, err error)
	// Apply moves pid into every cgroup of the container (cgroup.procs).
	Apply(pid int) error
	// Paths returns hierarchy key -> absolute cgroup directory.
	Paths() map[string]string
	// Record returns what Destroy needs to undo Create, for state.json.
	Record() *Record
	// Pids returns every pid in the container's cgroups (and their
	// sub-cgroups), sorted and without duplicates.
	Pids() ([]int, error)
	// KillAll SIGKILLs every process in the container's cgroups, processes
	// forked meanwhile included, and returns once none is left in them.
	KillAll() error
	// Freeze freezes the container and waits until the freezer reports FROZEN.
	Freeze() error
	// Thaw thaws the container and waits until the freezer reports THAWED.
	Thaw() error
	// Frozen reports whether the freezer state is FROZEN.
	Frozen() (bool, error)
	// Update applies res to the existing cgroups.
	Update(res *specs.LinuxResources) error
	// Destroy removes the container's cgroup directories (and sub-cgroups).
	// Directories already gone are fine.
	Destroy() error
}

// New resolves cgroupsPath (linux.cgroupsPath) for container id on the
// hierarchies mounted now (see path.go for the rules) and returns a Manager
// that has not created anything yet.
func New(cgroupsPath, id string) (Manager, error) {
	layout, err := DetectLayout()
	if err != nil {
		return nil, err
	}
	own, err := ReadProcCgroup("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	if len(layout.V1) == 0 {
		if layout.Unified == nil {
			return nil, errors.New("cgroups: no cgroup hierarchy is mounted")
		}
		return newUnifiedManager(layout.Unified, own, cgroupsPath, id)
	}
	return newHybridManager(layout, own, cgroupsPath, id)
}

// Record is what a Manager remembers across commands: the container's
// directories, and what Create changed above them, so that Destroy leaves
// the hierarchies as they were.
type Record struct {
	// Paths: hierarchy key -> the container's cgroup directory.
	Paths map[string]string `json:"paths"`
	// Created lists the ancestor directories Create made, in creation order.
	Created []string `json:"created,omitempty"`
	// Enabled lists "<dir> <controller>" entries Create enabled in
	// <dir>/cgroup.subtree_control, in order.
	Enabled []string `json:"enabled,omitempty"`
	// V2 marks a pure cgroup v2 container (one directory, Paths[UnifiedKey]).
	V2 bool `json:"v2,omitempty"`
}

// Planned returns rec, a Manager's record before Create, widened to what
// Create may change: as created, every missing ancestor of the container's
// directories; as enabled, every cgroup2 controller an existing ancestor
// does not delegate yet. create saves it before Create, so delete --force
// can undo a create killed inside Create (an ancestor is removed only when
// empty, a controller disabled only where no child cgroup is left).
func Planned(rec *Record) *Record {
	r := &Record{Paths: rec.Paths, Created: slices.Clone(rec.Created), Enabled: slices.Clone(rec.Enabled), V2: rec.V2}
	seen := map[string]bool{}
	for key, dir := range r.Paths {
		var missing, existing []string
		for d := filepath.Dir(dir); d != "/" && d != "."; d = filepath.Dir(d) {
			if _, err := os.Lstat(d); err != nil {
				missing = append(missing, d)
			} else if key == UnifiedKey {
				if _, err := os.Stat(filepath.Join(d, "cgroup.subtree_control")); err != nil {
					break // above the cgroup2 mount
				}
				existing = append(existing, d)
			} else {
				break
			}
		}
		for i := len(missing) - 1; i >= 0; i-- {
			if !seen[missing[i]] {
				seen[missing[i]] = true
				r.Created = append(r.Created, missing[i])
			}
		}
		if len(existing) == 0 {
			continue
		}
		avail, _ := os.ReadFile(filepath.Join(existing[len(existing)-1], "cgroup.controllers"))
		for i := len(existing) - 1; i >= 0; i-- {
			on, _ := os.ReadFile(filepath.Join(existing[i], "cgroup.subtree_control"))
			for _, c := range strings.Fields(string(avail)) {
				if !slices.Contains(strings.Fields(string(on)), c) {
					r.Enabled = append(r.Enabled, existing[i]+" "+c)
				}
			}
		}
	}
	return r
}

// Load rebuilds a Manager from a previous Manager's Record (as saved in
// state.json).
func Load(r *Record) Manager {
	if r == nil {
		r = &Record{}
	}
	if r.V2 {
		return loadUnifiedManager(r)
	}
	return loadHybridManager(r)
}

// fieldError is an error about one JSON field of the config.
func fieldError(field, format string, args ...any) error {
	return fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...))
}
