package cgroups

import (
	"fmt"
	"path"
	"strings"
)

// defaultParent holds the cgroups of containers whose config has no
// linux.cgroupsPath.
const defaultParent = "/nsrun"

// cgroupPathRule is a validated linux.cgroupsPath.
type cgroupPathRule struct {
	// p is cleaned: absolute (from each hierarchy's root) or relative (to
	// nsrun's own cgroup in each hierarchy).
	p string
}

// parseCgroupsPath validates linux.cgroupsPath. Empty means
// /nsrun/<id>. ".." components are refused (they could leave the subtree
// the caller meant), and so is the hierarchy root itself or nsrun's own
// cgroup (Destroy would remove what holds everyone else).
func parseCgroupsPath(cgroupsPath, id string) (cgroupPathRule, error) {
	p := cgroupsPath
	if p == "" {
		if id == "" || strings.Contains(id, "/") || id == "." || id == ".." {
			return cgroupPathRule{}, fmt.Errorf("linux.cgroupsPath: empty, and container id %q cannot name a cgroup", id)
		}
		p = defaultParent + "/" + id
	}
	for _, c := range strings.Split(p, "/") {
		if c == ".." {
			return cgroupPathRule{}, fmt.Errorf("linux.cgroupsPath %q: \"..\" components are not allowed", cgroupsPath)
		}
	}
	clean := path.Clean(p)
	if clean == "/" {
		return cgroupPathRule{}, fmt.Errorf("linux.cgroupsPath %q: names the cgroup hierarchy root", cgroupsPath)
	}
	if clean == "." {
		return cgroupPathRule{}, fmt.Errorf("linux.cgroupsPath %q: names nsrun's own cgroup", cgroupsPath)
	}
	return cgroupPathRule{p: clean}, nil
}

// inHierarchy returns the absolute cgroup path inside one hierarchy, given
// nsrun's own cgroup path there (used for relative rules).
func (r cgroupPathRule) inHierarchy(own string) string {
	if path.IsAbs(r.p) {
		return r.p
	}
	if own == "" {
		own = "/"
	}
	return path.Join(own, r.p)
}
