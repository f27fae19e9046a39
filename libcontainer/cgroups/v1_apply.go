package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// dirFor returns the container's directory holding a controller's files.
func (m *hybridManager) dirFor(controller string) (string, bool) {
	if controller == UnifiedKey {
		d, ok := m.dirs[UnifiedKey]
		return d, ok
	}
	key, ok := m.ctrlKey[controller]
	if !ok {
		return "", false
	}
	return m.dirs[key], true
}

// checkPlacement fails, naming the field, when a planned write has no
// hierarchy to go to.
func (m *hybridManager) checkPlacement(steps []writeStep) error {
	for _, s := range steps {
		for _, w := range s.Writes {
			if _, ok := m.dirFor(w.Controller); ok || w.Optional {
				continue
			}
			if w.Controller == UnifiedKey {
				return fieldError(w.Field, "the %s controller is neither a mounted cgroup v1 hierarchy nor available on cgroup2", w.Enable)
			}
			return fieldError(w.Field, "the %s cgroup hierarchy is not mounted", w.Controller)
		}
	}
	return nil
}

func (m *hybridManager) applySteps(steps []writeStep) error {
	for _, s := range steps {
		if !s.Reversible {
			for _, w := range s.Writes {
				if err := m.write(w); err != nil {
					return err
				}
			}
			continue
		}
		first, second := s.Writes[0], s.Writes[1]
		err := m.write(first)
		if errors.Is(err, unix.EINVAL) {
			// The other order may be the valid one (e.g. raising the
			// memory limit above the current memory+swap limit).
			if err2 := m.write(second); err2 != nil {
				return err
			}
			err = m.write(first)
		} else if err == nil {
			err = m.write(second)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (m *hybridManager) write(w cgroupWrite) error {
	dir, ok := m.dirFor(w.Controller)
	if !ok {
		if w.Optional {
			return nil
		}
		return fieldError(w.Field, "the %s cgroup hierarchy is not mounted", w.Controller)
	}
	if w.Enable != "" {
		if err := m.enableUnified(w.Enable, w.Field); err != nil {
			return err
		}
	}
	file := w.File
	err := writeCgroupFile(filepath.Join(dir, file), w.Value)
	if errors.Is(err, unix.ENOENT) && w.Alt != "" {
		file = w.Alt
		err = writeCgroupFile(filepath.Join(dir, file), w.Value)
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.ENOENT):
		if w.Optional {
			return nil
		}
		if _, serr := os.Stat(dir); serr != nil {
			return fieldError(w.Field, "cgroup %s: %v", dir, serr)
		}
		if w.Alt != "" {
			return fieldError(w.Field, "neither %s nor %s is available (no such file in %s)", w.File, w.Alt, dir)
		}
		return fieldError(w.Field, "%s not available (no such file in %s)", w.File, dir)
	default:
		return fmt.Errorf("%s: write %q to %s: %w", w.Field, w.Value, filepath.Join(dir, file), err)
	}
}

// enableUnified turns controller on in cgroup.subtree_control of every
// ancestor of the container's unified directory, top-down, so that its
// interface files appear there. The cgroup2 root may enable controllers
// although it holds processes; below it the ancestors are nsrun's own
// directories, which hold none.
func (m *hybridManager) enableUnified(controller, field string) error {
	if m.enabled[controller] {
		return nil
	}
	var chain []string
	for p := filepath.Dir(m.dirs[UnifiedKey]); ; p = filepath.Dir(p) {
		var st unix.Statfs_t
		if unix.Statfs(p, &st) != nil || st.Type != unix.CGROUP2_SUPER_MAGIC {
			break
		}
		if _, err := os.Stat(filepath.Join(p, "cgroup.subtree_control")); err != nil {
			break
		}
		chain = append(chain, p)
		if p == "/" {
			break
		}
	}
	for i := len(chain) - 1; i >= 0; i-- {
		file := filepath.Join(chain[i], "cgroup.subtree_control")
		cur, err := readTrimmed(file)
		if err != nil {
			return fieldError(field, "%v", err)
		}
		if containsWord(cur, controller) {
			continue
		}
		if err := writeCgroupFile(file, "+"+controller); err != nil {
			if errors.Is(err, unix.ENOENT) {
				return fieldError(field, "the %s controller is not available on cgroup2 at %s", controller, chain[i])
			}
			return fieldError(field, "enable %s in %s: %v", controller, file, err)
		}
		m.enabledAt = append(m.enabledAt, chain[i]+" "+controller)
	}
	m.enabled[controller] = true
	return nil
}

// checkBeforeUpdate honours linux.resources.memory.checkBeforeUpdate: a
// new limit below the current usage is refused instead of forcing reclaim
// or an OOM kill.
func (m *hybridManager) checkBeforeUpdate(res *specs.LinuxResources) error {
	if res == nil || res.Memory == nil || res.Memory.CheckBeforeUpdate == nil || !*res.Memory.CheckBeforeUpdate {
		return nil
	}
	if res.Memory.Limit == nil || *res.Memory.Limit <= 0 {
		return nil
	}
	dir, ok := m.dirFor("memory")
	if !ok {
		return fieldError("linux.resources.memory.checkBeforeUpdate", "the memory cgroup hierarchy is not mounted")
	}
	s, err := readTrimmed(filepath.Join(dir, "memory.usage_in_bytes"))
	if err != nil {
		return fieldError("linux.resources.memory.checkBeforeUpdate", "%v", err)
	}
	usage, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fieldError("linux.resources.memory.checkBeforeUpdate", "parse memory.usage_in_bytes %q: %v", s, err)
	}
	if *res.Memory.Limit < usage {
		return fieldError("linux.resources.memory.limit", "%d is below the current usage %d (checkBeforeUpdate)", *res.Memory.Limit, usage)
	}
	return nil
}

func containsWord(list, word string) bool {
	for _, w := range strings.Fields(list) {
		if w == word {
			return true
		}
	}
	return false
}

// writeCgroupFile writes one value with a single write(2): cgroupfs parses
// each write on its own. The file is never created (a missing interface
// file is ENOENT, not an attempt to create it).
func writeCgroupFile(name, value string) error {
	fd, err := unix.Open(name, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: name, Err: err}
	}
	defer unix.Close(fd)
	for {
		_, err = unix.Write(fd, []byte(value))
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return &os.PathError{Op: "write", Path: name, Err: err}
	}
	return nil
}

func readTrimmed(name string) (string, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(data)), nil
}
