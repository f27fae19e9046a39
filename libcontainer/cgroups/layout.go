package cgroups

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/moby/sys/mountinfo"
)

// Hierarchy is one mounted cgroup v1 hierarchy.
type Hierarchy struct {
	// Key names the hierarchy: its controllers in mount-option order joined
	// by "," ("cpu,cpuacct", "memory"), or "name=systemd" for a named one.
	Key string
	// Controllers lists what the hierarchy holds, including a "name=..." entry.
	Controllers []string
	// Mountpoint is where the hierarchy is mounted.
	Mountpoint string
	// Root is the cgroup path (inside the hierarchy) shown at Mountpoint;
	// "/" unless a sub-cgroup was mounted or a cgroup namespace is in use.
	Root string
}

// UnifiedMount is the mounted cgroup2 hierarchy.
type UnifiedMount struct {
	Mountpoint string
	Root       string
	// Controllers is the content of cgroup.controllers at Mountpoint.
	Controllers []string
}

// Layout is what is mounted now.
type Layout struct {
	V1      []Hierarchy
	Unified *UnifiedMount
}

// v1Controllers are the controller names a v1 mount can hold; other super
// options (rw, xattr, noprefix, release_agent=, clone_children, ...) are not
// controllers.
var v1Controllers = map[string]bool{
	"cpuset": true, "cpu": true, "cpuacct": true, "io": true, "memory": true,
	"devices": true, "freezer": true, "net_cls": true, "blkio": true,
	"perf_event": true, "net_prio": true, "hugetlb": true, "pids": true,
	"rdma": true, "misc": true, "debug": true,
}

// DetectLayout reads /proc/self/mountinfo (and the unified root's
// cgroup.controllers). It is read every time: test lanes mount extra v1
// hierarchies in private mount namespaces, which also moves controllers off
// cgroup2.
func DetectLayout() (*Layout, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("detect cgroup layout: %w", err)
	}
	defer f.Close()
	layout, err := parseLayout(f)
	if err != nil {
		return nil, err
	}
	if u := layout.Unified; u != nil {
		data, err := os.ReadFile(filepath.Join(u.Mountpoint, "cgroup.controllers"))
		if err != nil {
			return nil, fmt.Errorf("detect cgroup layout: %w", err)
		}
		u.Controllers = strings.Fields(string(data))
	}
	return layout, nil
}

// parseLayout finds the cgroup mounts in a mountinfo stream. A hierarchy
// mounted more than once is listed once, preferring a mount of its root.
func parseLayout(r io.Reader) (*Layout, error) {
	mounts, err := mountinfo.GetMountsFromReader(r, func(i *mountinfo.Info) (skip, stop bool) {
		return i.FSType != "cgroup" && i.FSType != "cgroup2", false
	})
	if err != nil {
		return nil, fmt.Errorf("parse mountinfo: %w", err)
	}
	layout := &Layout{}
	index := map[string]int{}
	for _, m := range mounts {
		if m.FSType == "cgroup2" {
			if layout.Unified == nil || (layout.Unified.Root != "/" && m.Root == "/") {
				layout.Unified = &UnifiedMount{Mountpoint: m.Mountpoint, Root: m.Root}
			}
			continue
		}
		ctrls := superOptionControllers(m.VFSOptions)
		if len(ctrls) == 0 {
			continue
		}
		h := Hierarchy{Key: strings.Join(ctrls, ","), Controllers: ctrls, Mountpoint: m.Mountpoint, Root: m.Root}
		if i, seen := index[h.Key]; seen {
			if layout.V1[i].Root != "/" && h.Root == "/" {
				layout.V1[i] = h
			}
			continue
		}
		index[h.Key] = len(layout.V1)
		layout.V1 = append(layout.V1, h)
	}
	sort.Slice(layout.V1, func(a, b int) bool { return layout.V1[a].Key < layout.V1[b].Key })
	return layout, nil
}

// superOptionControllers picks the controllers out of a v1 mount's super
// options ("rw,cpu,cpuacct" -> cpu, cpuacct; "rw,name=systemd" -> name=systemd).
func superOptionControllers(opts string) []string {
	var out []string
	for _, o := range strings.Split(opts, ",") {
		if v1Controllers[o] || strings.HasPrefix(o, "name=") {
			out = append(out, o)
		}
	}
	return out
}

// ProcCgroup is the content of /proc/<pid>/cgroup: v1 controller (or
// "name=...") -> cgroup path, and the unified path under UnifiedKey.
type ProcCgroup map[string]string

// ReadProcCgroup parses a /proc/<pid>/cgroup file.
func ReadProcCgroup(file string) (ProcCgroup, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("read own cgroups: %w", err)
	}
	defer f.Close()
	return parseProcCgroup(f)
}

func parseProcCgroup(r io.Reader) (ProcCgroup, error) {
	out := ProcCgroup{}
	s := bufio.NewScanner(r)
	for s.Scan() {
		line := s.Text()
		if line == "" {
			continue
		}
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			return nil, fmt.Errorf("parse /proc/self/cgroup: bad line %q", line)
		}
		if parts[0] == "0" && parts[1] == "" {
			out[UnifiedKey] = parts[2]
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			out[c] = parts[2]
		}
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("parse /proc/self/cgroup: %w", err)
	}
	return out, nil
}

// dirUnder maps a cgroup path inside a hierarchy to its directory under a
// mount whose root is mountRoot.
func dirUnder(mountpoint, mountRoot, cgPath string) (string, error) {
	rel := cgPath
	if mountRoot != "/" {
		if cgPath != mountRoot && !strings.HasPrefix(cgPath, mountRoot+"/") {
			return "", fmt.Errorf("cgroup %s is outside the mounted part %s", cgPath, mountRoot)
		}
		rel = strings.TrimPrefix(cgPath, mountRoot)
	}
	return path.Join(mountpoint, rel), nil
}
