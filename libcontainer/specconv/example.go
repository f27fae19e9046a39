// Package specconv builds the default config.json written by `nsrun spec`
// and adapts it for rootless use.
package specconv

import (
	"path/filepath"
	"strings"

	"github.com/opencontainers/runtime-spec/specs-go"
)

// Example returns the default config of `nsrun spec`: a busybox-style shell
// in a rootfs directory next to config.json, with the namespaces, mounts,
// and masked paths that container engines use by default.
func Example() *specs.Spec {
	defaultCaps := func() []string {
		return []string{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"}
	}
	return &specs.Spec{
		Version: specs.Version,
		Root: &specs.Root{
			Path:     "rootfs",
			Readonly: true,
		},
		Process: &specs.Process{
			Terminal: true,
			User:     specs.User{UID: 0, GID: 0},
			Args:     []string{"sh"},
			Env: []string{
				"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
				"TERM=xterm",
			},
			Cwd:             "/",
			NoNewPrivileges: true,
			Capabilities: &specs.LinuxCapabilities{
				Bounding:  defaultCaps(),
				Effective: defaultCaps(),
				Permitted: defaultCaps(),
			},
			Rlimits: []specs.POSIXRlimit{
				{Type: "RLIMIT_NOFILE", Hard: 1024, Soft: 1024},
			},
		},
		Hostname: "nsrun",
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{
				Destination: "/dev", Type: "tmpfs", Source: "tmpfs",
				Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"},
			},
			{
				Destination: "/dev/pts", Type: "devpts", Source: "devpts",
				Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"},
			},
			{
				Destination: "/dev/shm", Type: "tmpfs", Source: "shm",
				Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"},
			},
			{
				Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue",
				Options: []string{"nosuid", "noexec", "nodev"},
			},
			{
				Destination: "/sys", Type: "sysfs", Source: "sysfs",
				Options: []string{"nosuid", "noexec", "nodev", "ro"},
			},
			{
				Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup",
				Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"},
			},
		},
		Linux: &specs.Linux{
			Resources: &specs.LinuxResources{
				// Deny every device; the runtime adds the default ones.
				Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
			},
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace},
				{Type: specs.NetworkNamespace},
				{Type: specs.IPCNamespace},
				{Type: specs.UTSNamespace},
				{Type: specs.MountNamespace},
				{Type: specs.CgroupNamespace},
			},
			MaskedPaths: []string{
				"/proc/acpi",
				"/proc/asound",
				"/proc/kcore",
				"/proc/keys",
				"/proc/latency_stats",
				"/proc/timer_list",
				"/proc/timer_stats",
				"/proc/sched_debug",
				"/sys/firmware",
				"/proc/scsi",
			},
			ReadonlyPaths: []string{
				"/proc/bus",
				"/proc/fs",
				"/proc/irq",
				"/proc/sys",
				"/proc/sysrq-trigger",
			},
		},
	}
}

// ToRootless adapts a spec for a runtime started by an unprivileged user,
// as `nsrun spec --rootless` does: the container gets a user namespace
// that maps the caller's uid and gid to root, and everything such a user
// cannot do is removed.
//
//   - any user namespace entry is replaced by a new one with the mappings;
//   - the network namespace goes: without privileges on the host, no one
//     could configure it, so the container shares the caller's network
//     (and net.* sysctls, which would need it, go too);
//   - /sys becomes a read-only recursive bind of the host's: a fresh sysfs
//     may only be mounted by the owner of the network namespace;
//   - uid=/gid= mount options go: only the caller's ids are mapped, so
//     e.g. devpts' gid=5 (tty) does not exist in the container;
//   - linux.resources go: an unprivileged user cannot set cgroup limits
//     unless a cgroup was delegated to them.
func ToRootless(s *specs.Spec, uid, gid uint32) {
	if s.Linux == nil {
		s.Linux = &specs.Linux{}
	}
	namespaces := make([]specs.LinuxNamespace, 0, len(s.Linux.Namespaces)+1)
	for _, ns := range s.Linux.Namespaces {
		if ns.Type == specs.NetworkNamespace || ns.Type == specs.UserNamespace {
			continue
		}
		namespaces = append(namespaces, ns)
	}
	s.Linux.Namespaces = append(namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
	s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: uid, Size: 1}}
	s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: gid, Size: 1}}

	mounts := make([]specs.Mount, 0, len(s.Mounts))
	for _, m := range s.Mounts {
		if filepath.Clean(m.Destination) == "/sys" {
			mounts = append(mounts, specs.Mount{
				Destination: "/sys",
				Type:        "none",
				Source:      "/sys",
				Options:     []string{"rbind", "nosuid", "noexec", "nodev", "ro"},
			})
			continue
		}
		m.Options = withoutIDOptions(m.Options)
		mounts = append(mounts, m)
	}
	s.Mounts = mounts

	s.Linux.Resources = nil
	// net.* sysctls need the network namespace that was just dropped.
	for k := range s.Linux.Sysctl {
		if strings.HasPrefix(k, "net.") || strings.HasPrefix(k, "net/") {
			delete(s.Linux.Sysctl, k)
		}
	}
}

// withoutIDOptions returns opts minus uid= and gid= options, as a new slice
// so that the caller's slice is not modified behind its back.
func withoutIDOptions(opts []string) []string {
	if opts == nil {
		return nil
	}
	out := make([]string, 0, len(opts))
	for _, o := range opts {
		if strings.HasPrefix(o, "uid=") || strings.HasPrefix(o, "gid=") {
			continue
		}
		out = append(out, o)
	}
	return out
}
