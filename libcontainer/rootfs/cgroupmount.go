package rootfs

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path"
	"sort"
	"strings"
	"sync"

	"github.com/moby/sys/mountinfo"
	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// v1Controllers are the controller names a cgroup v1 mount can carry in its
// super options; the others (rw, xattr, release_agent=...) are not.
var v1Controllers = sync.OnceValue(func() map[string]bool {
	return map[string]bool{
		"cpuset": true, "cpu": true, "cpuacct": true, "io": true, "memory": true,
		"devices": true, "freezer": true, "net_cls": true, "blkio": true,
		"perf_event": true, "net_prio": true, "hugetlb": true, "pids": true,
		"rdma": true, "misc": true, "debug": true,
	}
})

// cgroupHierarchy is one host cgroup hierarchy as the container sees it.
type cgroupHierarchy struct {
	// name is the directory under the container's cgroup mount: the base
	// name of the host mount point ("cpu,cpuacct", "systemd", "unified").
	name   string
	fstype string // "cgroup" or "cgroup2"
	// controllers of a v1 hierarchy, with "name=..." for a named one.
	controllers []string
	mountpoint  string
	mountRoot   string
	// hostDir is the container's cgroup directory on the host ("" when
	// unknown).
	hostDir string
}

// mountData is the data of a real v1 mount of this hierarchy.
func (h *cgroupHierarchy) mountData() string { return strings.Join(h.controllers, ",") }

// hostCgroupHierarchies lists the cgroup hierarchies mounted outside the
// rootfs, one entry per hierarchy (a mount of its root preferred).
func hostCgroupHierarchies(rootfs string) ([]*cgroupHierarchy, error) {
	mounts, err := mountinfo.GetMounts(mountinfo.FSTypeFilter("cgroup", "cgroup2"))
	if err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	byKey := map[string]*cgroupHierarchy{}
	var out []*cgroupHierarchy
	for _, mi := range mounts {
		if mi.Mountpoint == rootfs || strings.HasPrefix(mi.Mountpoint, rootfs+"/") {
			continue
		}
		h := &cgroupHierarchy{name: path.Base(mi.Mountpoint), fstype: mi.FSType, mountpoint: mi.Mountpoint, mountRoot: mi.Root}
		key := "0::"
		if mi.FSType == "cgroup" {
			for _, o := range strings.Split(mi.VFSOptions, ",") {
				if v1Controllers()[o] || strings.HasPrefix(o, "name=") {
					h.controllers = append(h.controllers, o)
				}
			}
			if len(h.controllers) == 0 {
				continue
			}
			key = strings.Join(h.controllers, ",")
		}
		if prev, seen := byKey[key]; seen {
			if prev.mountRoot != "/" && mi.Root == "/" {
				*prev = *h
			}
			continue
		}
		byKey[key] = h
		out = append(out, h)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].name < out[b].name })
	return out, nil
}

// cgroupHierarchies returns the hierarchies with the container's directory
// in each: from Config.CgroupPaths, or from the init's own /proc/self/cgroup
// (the init was placed in the container's cgroups before it started).
func (m *mounter) cgroupHierarchies() ([]*cgroupHierarchy, error) {
	hs, err := hostCgroupHierarchies(m.root.host)
	if err != nil {
		return nil, err
	}
	if len(m.cfg.CgroupPaths) > 0 {
		for _, dir := range m.cfg.CgroupPaths {
			if h := hierarchyHolding(hs, dir); h != nil {
				h.hostDir = dir
			} else {
				return nil, fmt.Errorf("cgroup directory %s is in no mounted cgroup hierarchy", dir)
			}
		}
		return hs, nil
	}
	own, err := readOwnCgroups()
	if err != nil {
		return nil, err
	}
	for _, h := range hs {
		key := "0::"
		if h.fstype == "cgroup" {
			key = strings.Join(h.controllers, ",")
		}
		cg, ok := own[key]
		if !ok {
			continue
		}
		rel := cg
		if h.mountRoot != "/" {
			r, ok := strings.CutPrefix(cg, h.mountRoot)
			if !ok || (r != "" && !strings.HasPrefix(r, "/")) {
				continue
			}
			rel = r
		}
		h.hostDir = path.Join(h.mountpoint, rel)
	}
	return hs, nil
}

// hierarchyHolding finds the hierarchy whose mount point holds dir.
func hierarchyHolding(hs []*cgroupHierarchy, dir string) *cgroupHierarchy {
	var best *cgroupHierarchy
	for _, h := range hs {
		if dir == h.mountpoint || strings.HasPrefix(dir, h.mountpoint+"/") {
			if best == nil || len(h.mountpoint) > len(best.mountpoint) {
				best = h
			}
		}
	}
	return best
}

// readOwnCgroups parses /proc/self/cgroup into "controllers" -> path, with
// the cgroup2 entry under "0::".
func readOwnCgroups() (map[string]string, error) {
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return nil, fmt.Errorf("read own cgroups: %w", err)
	}
	defer f.Close()
	out := map[string]string{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		parts := strings.SplitN(s.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[0] == "0" && parts[1] == "" {
			out["0::"] = parts[2]
		} else {
			out[parts[1]] = parts[2]
		}
	}
	return out, s.Err()
}

// mountCgroup handles a "cgroup" mount. On a host with v1 hierarchies it
// builds the classic layout: a tmpfs at the destination and, per hierarchy,
// the container's cgroup directory (or, in a cgroup namespace, a real mount
// of that hierarchy) plus symlinks for comounted controllers. On a pure
// cgroup2 host it is a cgroup2 mount.
func (m *mounter) mountCgroup(mnt specs.Mount, dest string, opts *mountOptions) error {
	hs, err := m.cgroupHierarchies()
	if err != nil {
		return err
	}
	hasV1 := false
	for _, h := range hs {
		hasV1 = hasV1 || h.fstype == "cgroup"
	}
	if !hasV1 {
		return m.mountCgroup2(mnt, dest, opts)
	}
	dst, err := m.root.mkdirAll(dest, 0o755)
	if err != nil {
		return err
	}
	defer dst.Close()
	if err := m.checkProcDestination(dest, dst, "tmpfs", ""); err != nil {
		return err
	}
	src := mnt.Source
	if src == "" {
		src = "cgroup"
	}
	// The tmpfs stays writable until the hierarchy directories exist.
	if err := mountAt(src, dst, "tmpfs", opts.mountFlags()&^unix.MS_RDONLY, "mode=755"); err != nil {
		return err
	}
	top, err := m.root.open(dest, unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return fmt.Errorf("reopen after mount: %w", err)
	}
	defer top.Close()
	for _, h := range hs {
		if err := m.mountHierarchy(dest, top, h, opts); err != nil {
			return fmt.Errorf("hierarchy %s: %w", h.name, err)
		}
	}
	if opts.flags&unix.MS_RDONLY != 0 {
		if err := mountSetattr(top, false, unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}); err != nil {
			return fmt.Errorf("make %s read-only: %w", dest, err)
		}
	}
	return applyAttrAndPropagation(top, opts)
}

// mountHierarchy puts one hierarchy under the cgroup tmpfs.
func (m *mounter) mountHierarchy(dest string, top *os.File, h *cgroupHierarchy, opts *mountOptions) error {
	if !m.cfg.NewCgroupNS && h.hostDir == "" {
		// The container has no cgroup in this hierarchy: show nothing.
		return nil
	}
	sub, err := m.root.mkdirAll(path.Join(dest, h.name), 0o755)
	if err != nil {
		return err
	}
	defer sub.Close()
	if m.cfg.NewCgroupNS {
		// Inside a cgroup namespace a real mount shows the container's
		// cgroup as the root.
		data := ""
		if h.fstype == "cgroup" {
			data = h.mountData()
		}
		if err := mountAt(h.fstype, sub, h.fstype, opts.mountFlags(), data); err != nil {
			return err
		}
	} else {
		tree, err := cloneTree(nil, h.hostDir, false)
		if err != nil {
			return err
		}
		defer tree.Close()
		if err := setBindAttr(tree, opts.bindAttr()); err != nil {
			return err
		}
		if err := attachTree(tree, sub); err != nil {
			return err
		}
	}
	if h.fstype != "cgroup" || !strings.Contains(h.name, ",") {
		return nil
	}
	// Comounted controllers: "cpu" -> "cpu,cpuacct", as on the host.
	for _, ctrl := range strings.Split(h.name, ",") {
		if ctrl == h.name {
			continue
		}
		err := unix.Symlinkat(h.name, int(top.Fd()), ctrl)
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("symlink %s/%s: %w", dest, ctrl, err)
		}
	}
	return nil
}

// mountCgroup2 handles a "cgroup2" mount: a real mount inside a cgroup
// namespace, else a bind of the container's unified directory (a plain
// cgroup2 mount there would show the whole host hierarchy).
func (m *mounter) mountCgroup2(mnt specs.Mount, dest string, opts *mountOptions) error {
	v2 := mnt
	v2.Type = "cgroup2"
	if v2.Source == "" || v2.Source == "cgroup" {
		v2.Source = "cgroup2"
	}
	if m.cfg.NewCgroupNS {
		return m.mountFilesystem(v2, dest, opts)
	}
	hs, err := m.cgroupHierarchies()
	if err != nil {
		return err
	}
	for _, h := range hs {
		if h.fstype == "cgroup2" && h.hostDir != "" {
			bind := *opts
			bind.flags = (bind.flags | unix.MS_BIND) &^ unix.MS_REC
			return m.bindMount(h.hostDir, dest, &bind)
		}
	}
	return m.mountFilesystem(v2, dest, opts)
}
