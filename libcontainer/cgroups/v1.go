package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// hybridManager drives cgroup v1 hierarchies plus, on a hybrid host, the
// container's directory in the cgroup2 hierarchy when cgroup2 holds
// controllers.
//
// The name=systemd hierarchy (and any other named or controller-less-to-us
// hierarchy) gets a directory too, like runc does: tools that map a pid to
// its container through /proc/<pid>/cgroup then agree on every line.
// Resources are never written there.
type hybridManager struct {
	// dirs maps hierarchy key -> the container's cgroup directory.
	dirs map[string]string
	// mounts maps hierarchy key -> mountpoint; known only when built by New
	// (Create walks from there to create the ancestors).
	mounts map[string]string
	// ctrlKey maps a v1 controller name -> its hierarchy key.
	ctrlKey map[string]string
	// enabled caches unified controllers already enabled in the ancestors.
	enabled map[string]bool
	// created and enabledAt are what Create changed, for Destroy to undo
	// (see Record).
	created   []string
	enabledAt []string
	// conventional: ancestors that belong to nsrun whoever made them (the
	// default parent /nsrun), removed at Destroy when empty.
	conventional []string
}

func newHybridManager(layout *Layout, own ProcCgroup, cgroupsPath, id string) (m *hybridManager, err error) {
	rule, err := parseCgroupsPath(cgroupsPath, id)
	if err != nil {
		return nil, err
	}
	defer func() {
		// The default parent is nsrun's by convention: whichever container
		// goes last removes it, not only the one that happened to make it.
		if cgroupsPath == "" && m != nil {
			for key, dir := range m.dirs {
				if parent := filepath.Dir(dir); parent != m.mounts[key] {
					m.conventional = append(m.conventional, parent)
				}
			}
		}
	}()
	m = &hybridManager{dirs: map[string]string{}, mounts: map[string]string{}}
	for _, h := range layout.V1 {
		dir, err := dirUnder(h.Mountpoint, h.Root, rule.inHierarchy(own[h.Controllers[0]]))
		if err != nil {
			return nil, fmt.Errorf("linux.cgroupsPath %q in hierarchy %s: %w", cgroupsPath, h.Key, err)
		}
		m.dirs[h.Key] = dir
		m.mounts[h.Key] = h.Mountpoint
	}
	if u := layout.Unified; u != nil && len(u.Controllers) > 0 {
		dir, err := dirUnder(u.Mountpoint, u.Root, rule.inHierarchy(own[UnifiedKey]))
		if err != nil {
			return nil, fmt.Errorf("linux.cgroupsPath %q in the unified hierarchy: %w", cgroupsPath, err)
		}
		m.dirs[UnifiedKey] = dir
		m.mounts[UnifiedKey] = u.Mountpoint
	}
	m.index()
	return m, nil
}

func loadHybridManager(r *Record) *hybridManager {
	m := &hybridManager{dirs: map[string]string{}, created: r.Created, enabledAt: r.Enabled}
	for k, v := range r.Paths {
		m.dirs[k] = v
	}
	m.index()
	return m
}

func (m *hybridManager) Record() *Record {
	return &Record{Paths: m.Paths(), Created: m.created, Enabled: m.enabledAt}
}

func (m *hybridManager) index() {
	m.ctrlKey = map[string]string{}
	m.enabled = map[string]bool{}
	for key := range m.dirs {
		if key == UnifiedKey {
			continue
		}
		for _, c := range strings.Split(key, ",") {
			m.ctrlKey[c] = key
		}
	}
}

func (m *hybridManager) placement() placement {
	return placement{onV1: func(c string) bool { _, ok := m.ctrlKey[c]; return ok }}
}

// v1Keys returns the v1 hierarchy keys, sorted (a stable fd order for the
// init).
func (m *hybridManager) v1Keys() []string {
	keys := make([]string, 0, len(m.dirs))
	for k := range m.dirs {
		if k != UnifiedKey {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

func (m *hybridManager) Paths() map[string]string {
	out := make(map[string]string, len(m.dirs))
	for k, v := range m.dirs {
		out[k] = v
	}
	return out
}

func (m *hybridManager) Create(res *specs.LinuxResources) (retErr error) {
	if m.mounts == nil {
		return errors.New("cgroups: Create needs a Manager from New, not Load")
	}
	steps, err := planResources(res, m.placement())
	if err != nil {
		return err
	}
	// Refuse before touching anything when a resource has no hierarchy.
	if err := m.checkPlacement(steps); err != nil {
		return err
	}
	var created []string
	defer func() {
		if retErr != nil {
			undoAncestors(created, m.enabledAt)
			m.created, m.enabledAt = nil, nil
			return
		}
		leaf := map[string]bool{}
		for _, d := range m.dirs {
			leaf[d] = true
		}
		m.created = ancestorsToUndo(created, leaf, m.conventional)
	}()
	var cpuRes *specs.LinuxCPU
	if res != nil {
		cpuRes = res.CPU
	}
	keys := m.v1Keys()
	if _, ok := m.dirs[UnifiedKey]; ok {
		keys = append(keys, UnifiedKey)
	}
	for _, key := range keys {
		var fill func(parent, dir string, last bool) error
		if key == m.ctrlKey["cpuset"] {
			fill = func(parent, dir string, last bool) error { return copyCpuset(parent, dir, last, cpuRes) }
		}
		if err := mkdirChain(m.mounts[key], m.dirs[key], &created, fill); err != nil {
			return fmt.Errorf("create cgroup in hierarchy %s: %w", key, err)
		}
	}
	return m.applySteps(steps)
}

// mkdirChain creates dir and its missing ancestors below mountpoint,
// appending what it created to created. fill, when set, runs on every level
// (new or not) to initialise it from its parent.
//
// The delete of the last container below the default parent /nsrun removes
// it (see ancestorsToUndo): when that happens between our mkdir of /nsrun
// (EEXIST) and of /nsrun/<id> (ENOENT), the chain is walked again.
func mkdirChain(mountpoint, dir string, created *[]string, fill func(parent, dir string, last bool) error) error {
	rel, err := filepath.Rel(mountpoint, dir)
	if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
		return fmt.Errorf("cgroup %s is not below mount %s", dir, mountpoint)
	}
	parts := strings.Split(rel, "/")
	for attempt := 1; ; attempt++ {
		err := mkdirLevels(mountpoint, parts, created, fill)
		if err == nil || !errors.Is(err, unix.ENOENT) || attempt == 5 {
			return err
		}
	}
}

func mkdirLevels(mountpoint string, parts []string, created *[]string, fill func(parent, dir string, last bool) error) error {
	cur := mountpoint
	for i, p := range parts {
		parent := cur
		cur = filepath.Join(cur, p)
		switch err := unix.Mkdir(cur, 0o755); {
		case err == nil:
			if !slices.Contains(*created, cur) {
				*created = append(*created, cur)
			}
		case errors.Is(err, unix.EEXIST):
		default:
			return fmt.Errorf("mkdir %s: %w", cur, err)
		}
		if fill != nil {
			if err := fill(parent, cur, i == len(parts)-1); err != nil {
				return err
			}
		}
	}
	return nil
}

// copyCpuset gives a cpuset cgroup its parent's cpus and mems when it has
// none: a new v1 cpuset cgroup starts empty and refuses tasks. The final
// directory skips the values the resources set themselves.
func copyCpuset(parent, dir string, last bool, cpu *specs.LinuxCPU) error {
	for _, file := range []string{"cpuset.cpus", "cpuset.mems"} {
		if last && cpu != nil && ((file == "cpuset.cpus" && cpu.Cpus != "") || (file == "cpuset.mems" && cpu.Mems != "")) {
			continue
		}
		cur, err := readTrimmed(filepath.Join(dir, file))
		if err != nil {
			return err
		}
		if cur != "" {
			continue
		}
		val, err := readTrimmed(filepath.Join(parent, file))
		if err != nil {
			return err
		}
		if err := writeCgroupFile(filepath.Join(dir, file), val); err != nil {
			return fmt.Errorf("copy %s from %s: %w", file, parent, err)
		}
	}
	return nil
}

func (m *hybridManager) Update(res *specs.LinuxResources) error {
	steps, err := planResources(res, m.placement())
	if err != nil {
		return err
	}
	if err := m.checkPlacement(steps); err != nil {
		return err
	}
	if err := m.checkBeforeUpdate(res); err != nil {
		return err
	}
	return m.applySteps(steps)
}

func (m *hybridManager) PlacementFiles() (tasks []*os.File, unified *os.File, err error) {
	defer func() {
		if err != nil {
			for _, f := range tasks {
				f.Close()
			}
			tasks = nil
		}
	}()
	for _, key := range m.v1Keys() {
		name := filepath.Join(m.dirs[key], "tasks")
		fd, err := unix.Open(name, unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return tasks, nil, fmt.Errorf("open %s: %w", name, err)
		}
		tasks = append(tasks, os.NewFile(uintptr(fd), name))
	}
	if dir, ok := m.dirs[UnifiedKey]; ok {
		fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return tasks, nil, fmt.Errorf("open %s: %w", dir, err)
		}
		unified = os.NewFile(uintptr(fd), dir)
	}
	return tasks, unified, nil
}

func (m *hybridManager) Apply(pid int) error {
	keys := m.v1Keys()
	if _, ok := m.dirs[UnifiedKey]; ok {
		keys = append(keys, UnifiedKey)
	}
	val := fmt.Sprint(pid)
	for _, key := range keys {
		if err := writeCgroupFile(filepath.Join(m.dirs[key], "cgroup.procs"), val); err != nil {
			return fmt.Errorf("move pid %d into cgroup %s: %w", pid, m.dirs[key], err)
		}
	}
	return nil
}

func (m *hybridManager) Pids() ([]int, error) {
	seen := map[int]bool{}
	buf := make([]byte, 8192)
	for _, dir := range m.dirs {
		if err := collectPids(dir, seen, buf); err != nil {
			return nil, fmt.Errorf("list pids of %s: %w", dir, err)
		}
	}
	out := make([]int, 0, len(seen))
	for pid := range seen {
		out = append(out, pid)
	}
	sort.Ints(out)
	return out, nil
}

func (m *hybridManager) KillAll() error { return killAll(m, m.dirs[UnifiedKey]) }

// destroyWait bounds how long Destroy retries EBUSY: the caller killed the
// processes, but the last task may still be leaving the cgroup (an exiting
// task with much memory to free, or a slow machine: under emulation it
// took more than 200 ms). The usual rmdir succeeds at once.
const destroyWait = 5 * time.Second

func (m *hybridManager) Destroy() error {
	deadline := time.Now().Add(destroyWait)
	var errs []error
	for _, key := range append(m.v1Keys(), UnifiedKey) {
		dir, ok := m.dirs[key]
		if !ok {
			continue
		}
		if err := removeCgroupTree(dir, deadline); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		m.undoAncestors()
	}
	return errors.Join(errs...)
}

// undoAncestors reverts what Create did above the container's directories.
func (m *hybridManager) undoAncestors() { undoAncestors(m.created, m.enabledAt) }
