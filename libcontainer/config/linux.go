package config

import (
	"path/filepath"
	"strings"

	"github.com/opencontainers/runtime-spec/specs-go"
)

// maxUTSNameLen is __NEW_UTS_LEN: sethostname/setdomainname refuse more.
const maxUTSNameLen = 64

// maxIDMappings is the kernel's limit on lines in uid_map/gid_map (since 4.15).
const maxIDMappings = 340

// namespaceSet records which namespace types a config lists. Like runc, a
// listed namespace counts whether it is new or joined by path: setting the
// hostname of a joined UTS namespace (a pod's) is what CRI runtimes do.
type namespaceSet map[specs.LinuxNamespaceType]specs.LinuxNamespace

func (n namespaceSet) has(t specs.LinuxNamespaceType) bool {
	_, ok := n[t]
	return ok
}

func (n namespaceSet) isNew(t specs.LinuxNamespaceType) bool {
	ns, ok := n[t]
	return ok && ns.Path == ""
}

func validateLinux(p *problems, s *specs.Spec) {
	l := s.Linux
	if l == nil {
		l = &specs.Linux{}
	}
	ns := validateNamespaces(p, l.Namespaces)
	validateUTS(p, s, ns)

	if (len(l.UIDMappings) > 0 || len(l.GIDMappings) > 0) && !ns.has(specs.UserNamespace) {
		p.add("linux.uidMappings", "uid/gid mappings need a user namespace in linux.namespaces")
	}
	if ns.isNew(specs.UserNamespace) {
		if len(l.UIDMappings) == 0 {
			p.add("linux.uidMappings", "required when creating a new user namespace")
		}
		if len(l.GIDMappings) == 0 {
			p.add("linux.gidMappings", "required when creating a new user namespace")
		}
	}
	validateIDMappings(p, "linux.uidMappings", l.UIDMappings)
	validateIDMappings(p, "linux.gidMappings", l.GIDMappings)

	validateTimeOffsets(p, l.TimeOffsets, ns)
	validateDevices(p, l.Devices)
	if l.Resources != nil {
		validateDeviceRules(p, l.Resources.Devices)
	}
	validateSysctl(p, s, ns)
	if hasNUL(l.CgroupsPath) {
		p.add("linux.cgroupsPath", "contains a NUL byte")
	}
	validateAbsPaths(p, "linux.maskedPaths", l.MaskedPaths)
	validateAbsPaths(p, "linux.readonlyPaths", l.ReadonlyPaths)
	validateRootfsPropagation(p, l.RootfsPropagation)
	validatePersonality(p, l.Personality)
	validateSeccompShape(p, l.Seccomp)
	validateIntelRdtShape(p, l.IntelRdt)
	checkLen(p, "linux.netDevices", len(l.NetDevices))
}

func validateNamespaces(p *problems, list []specs.LinuxNamespace) namespaceSet {
	const path = "linux.namespaces"
	set := namespaceSet{}
	if !checkLen(p, path, len(list)) {
		return set
	}
	firstIndex := map[specs.LinuxNamespaceType]int{}
	for i, ns := range list {
		np := index(path, i)
		if !namespaceTypes[ns.Type] {
			p.add(field(np, "type"), "unknown namespace type %q", ns.Type)
		} else if first, dup := firstIndex[ns.Type]; dup {
			p.add(np, "duplicate namespace type %q (also at index %d)", ns.Type, first)
		} else {
			firstIndex[ns.Type] = i
			set[ns.Type] = ns
		}
		if ns.Path != "" {
			switch {
			case hasNUL(ns.Path):
				p.add(field(np, "path"), "contains a NUL byte")
			case !filepath.IsAbs(ns.Path):
				p.add(field(np, "path"), "must be an absolute path, got %q", ns.Path)
			}
		}
	}
	return set
}

func validateUTS(p *problems, s *specs.Spec, ns namespaceSet) {
	names := []struct{ path, value string }{
		{"hostname", s.Hostname},
		{"domainname", s.Domainname},
	}
	for _, n := range names {
		if n.value == "" {
			continue
		}
		if !ns.has(specs.UTSNamespace) {
			p.add(n.path, "cannot be set without a uts namespace in linux.namespaces (it would change the host's)")
		}
		if len(n.value) > maxUTSNameLen {
			p.add(n.path, "longer than %d bytes", maxUTSNameLen)
		}
		if hasNUL(n.value) {
			p.add(n.path, "contains a NUL byte")
		}
	}
}

func validateIDMappings(p *problems, path string, maps []specs.LinuxIDMapping) {
	if len(maps) > maxIDMappings {
		p.add(path, "too many entries (%d, the kernel accepts at most %d)", len(maps), maxIDMappings)
		return
	}
	for i, m := range maps {
		mp := index(path, i)
		if m.Size == 0 {
			p.add(field(mp, "size"), "must be greater than zero")
			continue
		}
		// The last ID of each range must fit in 32 bits.
		if uint64(m.ContainerID)+uint64(m.Size) > 1<<32 || uint64(m.HostID)+uint64(m.Size) > 1<<32 {
			p.add(field(mp, "size"), "range overflows 32-bit IDs")
		}
	}
}

func validateTimeOffsets(p *problems, offsets map[string]specs.LinuxTimeOffset, ns namespaceSet) {
	const path = "linux.timeOffsets"
	if len(offsets) == 0 {
		return
	}
	if !ns.has(specs.TimeNamespace) {
		p.add(path, "time offsets need a time namespace in linux.namespaces")
	}
	for _, k := range sortedKeys(offsets) {
		if k != "boottime" && k != "monotonic" {
			p.add(key(path, k), "unknown clock %q (expected \"boottime\" or \"monotonic\")", k)
			continue
		}
		if offsets[k].Nanosecs >= 1e9 {
			p.add(field(key(path, k), "nanosecs"), "must be less than 1000000000, got %d", offsets[k].Nanosecs)
		}
	}
}

func validateDevices(p *problems, devices []specs.LinuxDevice) {
	const path = "linux.devices"
	if !checkLen(p, path, len(devices)) {
		return
	}
	for i, d := range devices {
		dp := index(path, i)
		switch {
		case d.Path == "":
			p.add(field(dp, "path"), "must not be empty")
		case hasNUL(d.Path):
			p.add(field(dp, "path"), "contains a NUL byte")
		case !filepath.IsAbs(d.Path):
			p.add(field(dp, "path"), "must be an absolute path, got %q", d.Path)
		}
		switch d.Type {
		case "c", "b", "u":
			// major and minor cannot be told apart from 0 once decoded;
			// 0:0 is no real device, so treat it as "missing".
			if d.Major == 0 && d.Minor == 0 {
				p.add(dp, "major and minor are required for device type %q", d.Type)
			}
			if d.Major < 0 || d.Minor < 0 {
				p.add(dp, "major and minor must not be negative")
			}
		case "p":
		default:
			p.add(field(dp, "type"), "unknown device type %q (expected c, b, u or p)", d.Type)
		}
	}
}

func validateDeviceRules(p *problems, rules []specs.LinuxDeviceCgroup) {
	const path = "linux.resources.devices"
	if !checkLen(p, path, len(rules)) {
		return
	}
	for i, r := range rules {
		rp := index(path, i)
		switch r.Type {
		case "", "a", "c", "b":
		default:
			p.add(field(rp, "type"), "unknown device rule type %q (expected a, c or b)", r.Type)
		}
		if strings.Trim(r.Access, "rwm") != "" {
			p.add(field(rp, "access"), "%q is not a combination of r, w and m", r.Access)
		}
	}
}

// validateSysctl refuses sysctls that would not stay inside the container:
// /proc/sys is only partly namespaced, and writing a non-namespaced key
// would change the host.
func validateSysctl(p *problems, s *specs.Spec, ns namespaceSet) {
	const path = "linux.sysctl"
	if s.Linux == nil {
		return
	}
	sysctl := s.Linux.Sysctl
	if !checkLen(p, path, len(sysctl)) {
		return
	}
	for _, k := range sortedKeys(sysctl) {
		kp := key(path, k)
		if hasNUL(sysctl[k]) {
			p.add(kp, "value contains a NUL byte")
		}
		name := normalizeSysctl(k)
		if !validSysctlName(name) {
			p.add(kp, "invalid sysctl name")
			continue
		}
		switch {
		case strings.HasPrefix(name, "net."):
			if !ns.has(specs.NetworkNamespace) {
				p.add(kp, "needs a network namespace in linux.namespaces")
			}
		case isIPCSysctl(name):
			if !ns.has(specs.IPCNamespace) {
				p.add(kp, "needs an ipc namespace in linux.namespaces")
			}
		case name == "kernel.hostname" || name == "kernel.domainname":
			if !ns.has(specs.UTSNamespace) {
				p.add(kp, "needs a uts namespace in linux.namespaces")
			}
			if name == "kernel.hostname" && s.Hostname != "" && s.Hostname != sysctl[k] {
				p.add(kp, "conflicts with hostname %q", s.Hostname)
			}
		default:
			p.add(kp, "not namespaced: setting it would change the host")
		}
	}
}

func isIPCSysctl(name string) bool {
	return strings.HasPrefix(name, "kernel.msg") || strings.HasPrefix(name, "kernel.sem") ||
		strings.HasPrefix(name, "kernel.shm") || strings.HasPrefix(name, "fs.mqueue.")
}

// normalizeSysctl converts the "/" form of sysctl(8) ("net/ipv4/ip_forward")
// to the dotted form. When "/" is the separator, dots are part of a name
// (an interface such as "eth0.100") and become "/" so that they survive the
// conversion back to a /proc/sys path.
func normalizeSysctl(name string) string {
	first := strings.IndexAny(name, "./")
	if first < 0 || name[first] == '.' {
		return name
	}
	return strings.Map(func(r rune) rune {
		switch r {
		case '.':
			return '/'
		case '/':
			return '.'
		}
		return r
	}, name)
}

// validSysctlName refuses names whose components would escape /proc/sys
// once turned into a path: empty components, "." and "..".
func validSysctlName(name string) bool {
	if name == "" || hasNUL(name) {
		return false
	}
	for _, part := range strings.Split(name, ".") {
		// "/" inside a component comes from the "/" form ("eth0.100").
		for _, sub := range strings.Split(part, "/") {
			if sub == "" || sub == "." || sub == ".." {
				return false
			}
		}
	}
	return true
}

func validateAbsPaths(p *problems, path string, list []string) {
	if !checkLen(p, path, len(list)) {
		return
	}
	for i, s := range list {
		switch {
		case hasNUL(s):
			p.add(index(path, i), "contains a NUL byte")
		case !filepath.IsAbs(s):
			p.add(index(path, i), "must be an absolute path, got %q", s)
		}
	}
}

func validateRootfsPropagation(p *problems, prop string) {
	switch prop {
	case "", "shared", "slave", "private", "unbindable",
		"rshared", "rslave", "rprivate", "runbindable":
	default:
		p.add("linux.rootfsPropagation", "unknown propagation %q (expected shared, slave, private or unbindable)", prop)
	}
}

func validatePersonality(p *problems, pers *specs.LinuxPersonality) {
	if pers == nil {
		return
	}
	switch pers.Domain {
	case specs.PerLinux, specs.PerLinux32:
	default:
		p.add("linux.personality.domain", "unknown personality domain %q (expected LINUX or LINUX32)", pers.Domain)
	}
	if len(pers.Flags) > 0 {
		p.add("linux.personality.flags", "no personality flags are defined")
	}
}

// validateSeccompShape checks only the structure of linux.seccomp; whether
// the filter can be built is the seccomp code's call.
func validateSeccompShape(p *problems, sc *specs.LinuxSeccomp) {
	if sc == nil {
		return
	}
	const path = "linux.seccomp"
	if sc.DefaultAction == "" {
		p.add(field(path, "defaultAction"), "must not be empty")
	}
	checkLen(p, field(path, "architectures"), len(sc.Architectures))
	checkLen(p, field(path, "flags"), len(sc.Flags))
	if hasNUL(sc.ListenerPath) {
		p.add(field(path, "listenerPath"), "contains a NUL byte")
	}
	sp := field(path, "syscalls")
	if !checkLen(p, sp, len(sc.Syscalls)) {
		return
	}
	for i, sys := range sc.Syscalls {
		ip := index(sp, i)
		np := field(ip, "names")
		if len(sys.Names) == 0 {
			p.add(np, "must not be empty")
		} else if checkLen(p, np, len(sys.Names)) {
			for j, n := range sys.Names {
				if n == "" {
					p.add(index(np, j), "must not be empty")
				}
			}
		}
		if sys.Action == "" {
			p.add(field(ip, "action"), "must not be empty")
		}
		checkLen(p, field(ip, "args"), len(sys.Args))
	}
}

// validateIntelRdtShape refuses a closID that would not name a single
// directory under the resctrl mount.
func validateIntelRdtShape(p *problems, rdt *specs.LinuxIntelRdt) {
	if rdt == nil {
		return
	}
	checkLen(p, "linux.intelRdt.schemata", len(rdt.Schemata))
	// "/" is the spec's name for the default class of service.
	id := rdt.ClosID
	if id == "/" {
		return
	}
	if id == "." || id == ".." || strings.Contains(id, "/") || hasNUL(id) {
		p.add("linux.intelRdt.closID", "invalid class of service %q", id)
	}
}
