package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nsrun/nsrun/libcontainer/cgroups/devicefilter"
)

// unifiedManager drives a container's one cgroup on a pure cgroup v2 host.
//
// The container's directory is a leaf that holds its processes; v2's
// no-internal-process rule means controllers are enabled only in the
// ancestors' cgroup.subtree_control, never in the leaf's own. Every
// controller the parent offers is enabled at create, not only those the
// config limits, so that `events --stats` can read usage and `update` can
// set a limit later without touching the ancestors again.
type unifiedManager struct {
	dir string
	// mount is the cgroup2 mountpoint; known only when built by New.
	mount string
	// created and enabledAt are what Create changed above dir (Record).
	created   []string
	enabledAt []string
	// conventional: the default parent /nsrun, removed by whichever
	// container goes last.
	conventional []string
	enabled      map[string]bool
}

func newUnifiedManager(u *UnifiedMount, own ProcCgroup, cgroupsPath, id string) (*unifiedManager, error) {
	rule, err := parseCgroupsPath(cgroupsPath, id)
	if err != nil {
		return nil, err
	}
	dir, err := dirUnder(u.Mountpoint, u.Root, rule.inHierarchy(own[UnifiedKey]))
	if err != nil {
		return nil, fmt.Errorf("linux.cgroupsPath %q: %w", cgroupsPath, err)
	}
	m := &unifiedManager{dir: dir, mount: u.Mountpoint, enabled: map[string]bool{}}
	if parent := filepath.Dir(dir); cgroupsPath == "" && parent != u.Mountpoint {
		m.conventional = []string{parent}
	}
	return m, nil
}

func loadUnifiedManager(r *Record) *unifiedManager {
	return &unifiedManager{dir: r.Paths[UnifiedKey], created: r.Created, enabledAt: r.Enabled, enabled: map[string]bool{}}
}

func (m *unifiedManager) Record() *Record {
	return &Record{Paths: m.Paths(), Created: m.created, Enabled: m.enabledAt, V2: true}
}

func (m *unifiedManager) Paths() map[string]string { return map[string]string{UnifiedKey: m.dir} }

func (m *unifiedManager) Create(res *specs.LinuxResources) (retErr error) {
	if m.mount == "" {
		return errors.New("cgroups: Create needs a Manager from New, not Load")
	}
	steps, rules, err := m.plan(res)
	if err != nil {
		return err
	}
	var created []string
	defer func() {
		if retErr != nil {
			undoAncestors(created, m.enabledAt)
			m.created, m.enabledAt = nil, nil
			return
		}
		m.created = ancestorsToUndo(created, map[string]bool{m.dir: true}, m.conventional)
	}()
	if err := mkdirChain(m.mount, m.dir, &created, nil); err != nil {
		return fmt.Errorf("create cgroup: %w", err)
	}
	if err := m.enableAvailable(); err != nil {
		return err
	}
	return m.apply(steps, rules)
}

// plan checks and maps res before anything is touched.
func (m *unifiedManager) plan(res *specs.LinuxResources) ([]writeStep, []specs.LinuxDeviceCgroup, error) {
	steps, err := planV2(res)
	if err != nil {
		return nil, nil, err
	}
	var rules []specs.LinuxDeviceCgroup
	if res != nil && res.Devices != nil {
		rules = normalizeDeviceRules(res.Devices)
		if err := devicefilter.Validate(rules); err != nil {
			return nil, nil, err
		}
	}
	return steps, rules, nil
}

// normalizeDeviceRules spells out the defaults runtime-spec allows to be
// omitted: type "a", access "rwm".
func normalizeDeviceRules(in []specs.LinuxDeviceCgroup) []specs.LinuxDeviceCgroup {
	out := make([]specs.LinuxDeviceCgroup, len(in))
	for i, r := range in {
		if r.Type == "" {
			r.Type = "a"
		}
		if r.Access == "" {
			r.Access = "rwm"
		}
		out[i] = r
	}
	return out
}

// enableAvailable enables, in every ancestor, each controller the parent
// of the container's cgroup can offer (its cgroup.controllers once the
// ancestors above enable them).
func (m *unifiedManager) enableAvailable() error {
	avail, err := readTrimmed(filepath.Join(m.mount, "cgroup.controllers"))
	if err != nil {
		return fmt.Errorf("read available cgroup controllers: %w", err)
	}
	// Best effort: a controller the config does not use must not fail the
	// create (a write that needs one enables it again and reports why not).
	for _, c := range strings.Fields(avail) {
		_ = m.enable(c, "linux.cgroupsPath")
	}
	return nil
}

func (m *unifiedManager) enable(controller, field string) error {
	if m.enabled[controller] {
		return nil
	}
	enabled, err := enableInAncestors(m.dir, controller, field)
	m.enabledAt = append(m.enabledAt, enabled...)
	if err != nil {
		return err
	}
	m.enabled[controller] = true
	return nil
}

func (m *unifiedManager) apply(steps []writeStep, rules []specs.LinuxDeviceCgroup) error {
	var avail string
	for _, s := range steps {
		for _, w := range s.Writes {
			if w.Enable != "" {
				if w.EnableIfKnown {
					if avail == "" {
						avail, _ = readTrimmed(filepath.Join(filepath.Dir(m.dir), "cgroup.controllers"))
					}
					if !containsWord(avail, w.Enable) {
						w.Enable = ""
					}
				}
				if w.Enable != "" {
					if err := m.enable(w.Enable, w.Field); err != nil {
						return err
					}
				}
			}
			if err := writeTo(m.dir, w); err != nil {
				return err
			}
		}
	}
	if rules != nil {
		// Validated in plan; what fails here is the kernel's side.
		if err := devicefilter.Apply(m.dir, rules); err != nil {
			return fmt.Errorf("linux.resources.devices: %w", err)
		}
	}
	return nil
}

func (m *unifiedManager) Update(res *specs.LinuxResources) error {
	steps, rules, err := m.plan(res)
	if err != nil {
		return err
	}
	if err := m.checkBeforeUpdate(res); err != nil {
		return err
	}
	return m.apply(steps, rules)
}

// checkBeforeUpdate: see hybridManager.checkBeforeUpdate.
func (m *unifiedManager) checkBeforeUpdate(res *specs.LinuxResources) error {
	if res == nil || res.Memory == nil || res.Memory.CheckBeforeUpdate == nil || !*res.Memory.CheckBeforeUpdate {
		return nil
	}
	if res.Memory.Limit == nil || *res.Memory.Limit <= 0 {
		return nil
	}
	return checkUsageBelow(filepath.Join(m.dir, "memory.current"), *res.Memory.Limit)
}

func (m *unifiedManager) PlacementFiles() ([]*os.File, *os.File, error) {
	fd, err := unix.Open(m.dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("open %s: %w", m.dir, err)
	}
	return nil, os.NewFile(uintptr(fd), m.dir), nil
}

func (m *unifiedManager) Apply(pid int) error {
	if err := writeCgroupFile(filepath.Join(m.dir, "cgroup.procs"), fmt.Sprint(pid)); err != nil {
		return fmt.Errorf("move pid %d into cgroup %s: %w", pid, m.dir, err)
	}
	return nil
}

func (m *unifiedManager) Pids() ([]int, error) {
	seen := map[int]bool{}
	if err := collectPids(m.dir, seen, make([]byte, 8192)); err != nil {
		return nil, fmt.Errorf("list pids of %s: %w", m.dir, err)
	}
	out := make([]int, 0, len(seen))
	for pid := range seen {
		out = append(out, pid)
	}
	sort.Ints(out)
	return out, nil
}

func (m *unifiedManager) KillAll() error { return killAll(m, m.dir) }

func (m *unifiedManager) Destroy() error {
	if err := removeCgroupTree(m.dir, time.Now().Add(destroyWait)); err != nil {
		return err
	}
	m.undoAncestors()
	return nil
}

// undoAncestors: see hybridManager.undoAncestors.
func (m *unifiedManager) undoAncestors() {
	undoAncestors(m.created, m.enabledAt)
}
