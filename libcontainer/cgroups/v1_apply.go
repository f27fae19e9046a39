package cgroups

import (
	"errors"
	"path/filepath"

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
	if w.Enable != "" && !m.enabled[w.Enable] {
		enabled, err := enableInAncestors(m.dirs[UnifiedKey], w.Enable, w.Field)
		m.enabledAt = append(m.enabledAt, enabled...)
		if err != nil {
			return err
		}
		m.enabled[w.Enable] = true
	}
	return writeTo(dir, w)
}

// checkBeforeUpdate honours linux.resources.memory.checkBeforeUpdate.
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
	return checkUsageBelow(filepath.Join(dir, "memory.usage_in_bytes"), *res.Memory.Limit)
}
