// Package namespaces turns linux.namespaces into what the runtime does with
// them: clone flags for the namespaces to create, and files to join.
package namespaces

import (
	"fmt"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// kind describes one namespace type.
type kind struct {
	flag   uintptr
	procNS string // name under /proc/<pid>/ns/
}

// kindOf describes namespace type t. A switch rather than a package-level
// map, which every nsrun process would build at start-up.
func kindOf(t specs.LinuxNamespaceType) (kind, bool) {
	switch t {
	case specs.PIDNamespace:
		return kind{unix.CLONE_NEWPID, "pid"}, true
	case specs.NetworkNamespace:
		return kind{unix.CLONE_NEWNET, "net"}, true
	case specs.MountNamespace:
		return kind{unix.CLONE_NEWNS, "mnt"}, true
	case specs.IPCNamespace:
		return kind{unix.CLONE_NEWIPC, "ipc"}, true
	case specs.UTSNamespace:
		return kind{unix.CLONE_NEWUTS, "uts"}, true
	case specs.UserNamespace:
		return kind{unix.CLONE_NEWUSER, "user"}, true
	case specs.CgroupNamespace:
		return kind{unix.CLONE_NEWCGROUP, "cgroup"}, true
	case specs.TimeNamespace:
		return kind{unix.CLONE_NEWTIME, "time"}, true
	}
	return kind{}, false
}

// JoinOrder is the order in which namespaces given by path are listed for
// the nsenter constructor: the mount namespace last (after it, host paths
// are gone). The constructor itself tries the others before the user
// namespace and retries those refused with EPERM after joining it
// (docs/design.md, section "exec").
var JoinOrder = []specs.LinuxNamespaceType{
	specs.UserNamespace, specs.IPCNamespace, specs.UTSNamespace,
	specs.NetworkNamespace, specs.PIDNamespace, specs.CgroupNamespace,
	specs.TimeNamespace, specs.MountNamespace,
}

// Flag returns the clone flag of a namespace type.
func Flag(t specs.LinuxNamespaceType) (uintptr, bool) {
	k, ok := kindOf(t)
	return k.flag, ok
}

// flagOf is the clone flag of t, 0 for an unknown type.
func flagOf(t specs.LinuxNamespaceType) uintptr { k, _ := kindOf(t); return k.flag }

// ProcName returns the file name of a namespace type under /proc/PID/ns.
func ProcName(t specs.LinuxNamespaceType) string { k, _ := kindOf(t); return k.procNS }

// Join is a namespace to enter with setns.
type Join struct {
	Type specs.LinuxNamespaceType
	Path string
	File *os.File
}

// Plan is what the runtime does with linux.namespaces.
type Plan struct {
	// New holds the clone flags of the namespaces to create.
	New uintptr
	// Join lists the namespaces to enter, in JoinOrder.
	Join []Join
}

// Has reports whether the container gets a namespace of type t, new or
// joined.
func (p *Plan) Has(t specs.LinuxNamespaceType) bool {
	if p.New&flagOf(t) != 0 {
		return true
	}
	for _, j := range p.Join {
		if j.Type == t {
			return true
		}
	}
	return false
}

// NewPlan validates the namespace list and sorts it into new and joined.
// It opens nothing; Open does.
func NewPlan(list []specs.LinuxNamespace) (*Plan, error) {
	p := &Plan{}
	seen := map[specs.LinuxNamespaceType]bool{}
	byType := map[specs.LinuxNamespaceType]string{}
	for i, ns := range list {
		k, ok := kindOf(ns.Type)
		if !ok {
			return nil, fmt.Errorf("linux.namespaces[%d].type: unknown namespace type %q", i, ns.Type)
		}
		if seen[ns.Type] {
			return nil, fmt.Errorf("linux.namespaces[%d]: duplicate namespace type %q", i, ns.Type)
		}
		seen[ns.Type] = true
		if ns.Path == "" {
			p.New |= k.flag
		} else {
			byType[ns.Type] = ns.Path
		}
	}
	for _, t := range JoinOrder {
		if path, ok := byType[t]; ok {
			p.Join = append(p.Join, Join{Type: t, Path: path})
		}
	}
	return p, nil
}

// Open opens every namespace file to join and checks that each is a
// namespace of the declared type (NS_GET_NSTYPE), so that a wrong path is an
// error before anything runs. On error it closes what it opened.
func (p *Plan) Open() error {
	for i := range p.Join {
		j := &p.Join[i]
		f, err := os.OpenFile(j.Path, os.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			p.Close()
			return fmt.Errorf("linux.namespaces: %s namespace path: %w", j.Type, err)
		}
		got, err := unix.IoctlRetInt(int(f.Fd()), unix.NS_GET_NSTYPE)
		if err != nil {
			f.Close()
			p.Close()
			return fmt.Errorf("linux.namespaces: %s namespace path %s is not a namespace file: %w", j.Type, j.Path, err)
		}
		if uintptr(got) != flagOf(j.Type) {
			f.Close()
			p.Close()
			return fmt.Errorf("linux.namespaces: path %s is not a %s namespace", j.Path, j.Type)
		}
		j.File = f
	}
	return nil
}

// Close closes the opened namespace files.
func (p *Plan) Close() {
	for i := range p.Join {
		if p.Join[i].File != nil {
			p.Join[i].File.Close()
			p.Join[i].File = nil
		}
	}
}

// ForProcess returns a plan that joins every namespace of process pid that
// differs from ours (used by exec).
func ForProcess(pid int, types []specs.LinuxNamespaceType) *Plan {
	p := &Plan{}
	for _, t := range JoinOrder {
		want := false
		for _, have := range types {
			if have == t {
				want = true
			}
		}
		if !want {
			continue
		}
		p.Join = append(p.Join, Join{Type: t, Path: fmt.Sprintf("/proc/%d/ns/%s", pid, ProcName(t))})
	}
	return p
}
