package integration

import (
	"testing"

	"github.com/nsrun/nsrun/tests/tools/testenv"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Each config below cannot be honoured here; create must say which field,
// and leave nothing behind.

func TestCreateFailsOnAppArmorProfile(t *testing.T) {
	// This host has no AppArmor: running unconfined would silently drop
	// the confinement the config asks for.
	b := newBundle(t, "true")
	b.Spec.Process.ApparmorProfile = "docker-default"
	b.write()
	createMustFailWith(t, b, "process.apparmorProfile")
}

func TestCreateFailsOnSELinuxLabel(t *testing.T) {
	b := newBundle(t, "true")
	b.Spec.Process.SelinuxLabel = "system_u:system_r:container_t:s0"
	b.write()
	createMustFailWith(t, b, "process.selinuxLabel")
}

func TestCreateFailsOnHostWideSysctl(t *testing.T) {
	b := newBundle(t, "true")
	b.Spec.Linux.Sysctl = map[string]string{"vm.swappiness": "10"}
	b.write()
	createMustFailWith(t, b, "linux.sysctl", "vm.swappiness")
}

func TestCreateFailsOnNetSysctlWithoutNetNamespace(t *testing.T) {
	b := newBundle(t, "true")
	testenv.WithoutNamespace(b.Spec, specs.NetworkNamespace)
	b.Spec.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"}
	b.write()
	createMustFailWith(t, b, "linux.sysctl", "net.ipv4.ip_forward")
}

func TestCreateFailsOnIPCSysctlWithoutIPCNamespace(t *testing.T) {
	b := newBundle(t, "true")
	testenv.WithoutNamespace(b.Spec, specs.IPCNamespace)
	b.Spec.Linux.Sysctl = map[string]string{"kernel.msgmax": "8192"}
	b.write()
	createMustFailWith(t, b, "linux.sysctl", "kernel.msgmax")
}

func TestCreateFailsOnHostnameWithoutUTSNamespace(t *testing.T) {
	b := newBundle(t, "true")
	testenv.WithoutNamespace(b.Spec, specs.UTSNamespace)
	b.Spec.Hostname = "would-rename-the-host"
	b.write()
	createMustFailWith(t, b, "hostname")
}

func TestCreateFailsOnMissingRootfs(t *testing.T) {
	b := newBundle(t, "true")
	b.Spec.Root.Path = "/nonexistent/nsrun-rootfs"
	b.write()
	createMustFailWith(t, b, "root.path")
}

func TestCreateFailsOnRelativeCwd(t *testing.T) {
	b := newBundle(t, "true")
	b.Spec.Process.Cwd = "tmp"
	b.write()
	createMustFailWith(t, b, "process.cwd")
}

func TestCreateFailsOnUnknownRlimit(t *testing.T) {
	b := newBundle(t, "true")
	b.Spec.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 100, Hard: 100}, {Type: "RLIMIT_BOGUS", Soft: 1, Hard: 1}}
	b.write()
	createMustFailWith(t, b, "process.rlimits[1]", "RLIMIT_BOGUS")
}

func TestCreateFailsOnUnknownCapability(t *testing.T) {
	b := newBundle(t, "true")
	b.Spec.Process.Capabilities.Bounding = append(b.Spec.Process.Capabilities.Bounding, "CAP_BOGUS")
	b.write()
	createMustFailWith(t, b, "process.capabilities.bounding", "CAP_BOGUS")
}

func TestCreateFailsOnNotifyWithoutListenerPath(t *testing.T) {
	b := newBundle(t, "true")
	b.Spec.Linux.Seccomp = &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Architectures: []specs.Arch{specs.ArchX86_64},
		Syscalls:      []specs.LinuxSyscall{{Names: []string{"mkdir"}, Action: specs.ActNotify}},
	}
	b.write()
	createMustFailWith(t, b, "linux.seccomp.listenerPath")
}

func TestCreateFailsOnBadIOPriority(t *testing.T) {
	// Levels are 0..7 within a class.
	b := newBundle(t, "true")
	b.Spec.Process.IOPriority = &specs.LinuxIOPriority{Class: specs.IOPRIO_CLASS_BE, Priority: 9}
	b.write()
	createMustFailWith(t, b, "process.ioPriority")
	b = newBundle(t, "true")
	b.Spec.Process.IOPriority = &specs.LinuxIOPriority{Class: "IOPRIO_CLASS_BOGUS", Priority: 1}
	b.write()
	createMustFailWith(t, b, "process.ioPriority.class")
}

func TestCreateFailsOnUnknownPersonality(t *testing.T) {
	b := newBundle(t, "true")
	b.Spec.Linux.Personality = &specs.LinuxPersonality{Domain: "LINUX128"}
	b.write()
	createMustFailWith(t, b, "linux.personality")
}

func TestCreateFailsOnUnknownSchedulerPolicy(t *testing.T) {
	b := newBundle(t, "true")
	b.Spec.Process.Scheduler = &specs.Scheduler{Policy: "SCHED_BOGUS"}
	b.write()
	createMustFailWith(t, b, "process.scheduler.policy")
}
