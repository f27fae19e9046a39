package specconv

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
)

func nsTypes(s *specs.Spec) []specs.LinuxNamespaceType {
	var out []specs.LinuxNamespaceType
	for _, ns := range s.Linux.Namespaces {
		out = append(out, ns.Type)
	}
	return out
}

func mountAt(s *specs.Spec, dst string) *specs.Mount {
	for i := range s.Mounts {
		if s.Mounts[i].Destination == dst {
			return &s.Mounts[i]
		}
	}
	return nil
}

func TestExample(t *testing.T) {
	s := Example()
	if s.Version != "1.3.0" || s.Version != specs.Version {
		t.Errorf("ociVersion %q", s.Version)
	}
	if s.Root == nil || s.Root.Path != "rootfs" || !s.Root.Readonly {
		t.Errorf("root %+v", s.Root)
	}
	p := s.Process
	if !p.Terminal || p.User.UID != 0 || p.User.GID != 0 || !slices.Equal(p.Args, []string{"sh"}) || p.Cwd != "/" || !p.NoNewPrivileges {
		t.Errorf("process %+v", p)
	}
	if !slices.Contains(p.Env, "TERM=xterm") || !strings.HasPrefix(p.Env[0], "PATH=/") {
		t.Errorf("env %q", p.Env)
	}
	caps := []string{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"}
	for name, set := range map[string][]string{
		"bounding": p.Capabilities.Bounding, "effective": p.Capabilities.Effective, "permitted": p.Capabilities.Permitted,
	} {
		if !slices.Equal(set, caps) {
			t.Errorf("%s caps %q", name, set)
		}
	}
	if len(p.Capabilities.Inheritable) != 0 || len(p.Capabilities.Ambient) != 0 {
		t.Errorf("inheritable/ambient should be empty: %+v", p.Capabilities)
	}
	if !reflect.DeepEqual(p.Rlimits, []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1024, Soft: 1024}}) {
		t.Errorf("rlimits %+v", p.Rlimits)
	}
	if s.Hostname != "nsrun" {
		t.Errorf("hostname %q", s.Hostname)
	}
	wantMounts := []struct{ dst, typ, opts string }{
		{"/proc", "proc", ""},
		{"/dev", "tmpfs", "nosuid,strictatime,mode=755,size=65536k"},
		{"/dev/pts", "devpts", "nosuid,noexec,newinstance,ptmxmode=0666,mode=0620,gid=5"},
		{"/dev/shm", "tmpfs", "nosuid,noexec,nodev,mode=1777,size=65536k"},
		{"/dev/mqueue", "mqueue", "nosuid,noexec,nodev"},
		{"/sys", "sysfs", "nosuid,noexec,nodev,ro"},
		{"/sys/fs/cgroup", "cgroup", "nosuid,noexec,nodev,relatime,ro"},
	}
	if len(s.Mounts) != len(wantMounts) {
		t.Fatalf("%d mounts, want %d", len(s.Mounts), len(wantMounts))
	}
	for i, w := range wantMounts {
		m := s.Mounts[i]
		if m.Destination != w.dst || m.Type != w.typ || strings.Join(m.Options, ",") != w.opts || m.Source == "" {
			t.Errorf("mounts[%d] = %+v, want %+v", i, m, w)
		}
	}
	l := s.Linux
	if !reflect.DeepEqual(l.Resources.Devices, []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}) {
		t.Errorf("device rules %+v", l.Resources.Devices)
	}
	wantNS := []specs.LinuxNamespaceType{specs.PIDNamespace, specs.NetworkNamespace, specs.IPCNamespace,
		specs.UTSNamespace, specs.MountNamespace, specs.CgroupNamespace}
	if !slices.Equal(nsTypes(s), wantNS) {
		t.Errorf("namespaces %v", nsTypes(s))
	}
	if len(l.MaskedPaths) != 10 || !slices.Contains(l.MaskedPaths, "/proc/kcore") || !slices.Contains(l.MaskedPaths, "/sys/firmware") {
		t.Errorf("maskedPaths %q", l.MaskedPaths)
	}
	if !slices.Equal(l.ReadonlyPaths, []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}) {
		t.Errorf("readonlyPaths %q", l.ReadonlyPaths)
	}
}

// Each call returns an independent spec: callers (nsrun spec --rootless)
// modify it.
func TestExampleIndependent(t *testing.T) {
	a, b := Example(), Example()
	a.Process.Capabilities.Bounding[0] = "CAP_SYS_ADMIN"
	a.Mounts[1].Options[0] = "x"
	if b.Process.Capabilities.Bounding[0] != "CAP_AUDIT_WRITE" || b.Mounts[1].Options[0] != "nosuid" {
		t.Fatal("Example() results share memory")
	}
	// Bounding and effective are separate slices too.
	if a.Process.Capabilities.Effective[0] != "CAP_AUDIT_WRITE" {
		t.Fatal("capability sets share memory")
	}
}

func TestExampleJSON(t *testing.T) {
	data, err := json.Marshal(Example())
	if err != nil {
		t.Fatal(err)
	}
	var back specs.Spec
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&back, Example()) {
		t.Fatal("Example() does not survive a JSON round trip")
	}
	for _, want := range []string{`"ociVersion":"1.3.0"`, `"type":"cgroup"`, `"readonly":true`} {
		if !strings.Contains(string(data), want) {
			t.Errorf("JSON lacks %s", want)
		}
	}
}

func TestToRootless(t *testing.T) {
	s := Example()
	origDevpts := s.Mounts[2].Options
	ToRootless(s, 1000, 1001)

	wantNS := []specs.LinuxNamespaceType{specs.PIDNamespace, specs.IPCNamespace, specs.UTSNamespace,
		specs.MountNamespace, specs.CgroupNamespace, specs.UserNamespace}
	if !slices.Equal(nsTypes(s), wantNS) {
		t.Errorf("namespaces %v, want %v", nsTypes(s), wantNS)
	}
	if !reflect.DeepEqual(s.Linux.UIDMappings, []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}}) {
		t.Errorf("uidMappings %+v", s.Linux.UIDMappings)
	}
	if !reflect.DeepEqual(s.Linux.GIDMappings, []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1001, Size: 1}}) {
		t.Errorf("gidMappings %+v", s.Linux.GIDMappings)
	}
	sys := mountAt(s, "/sys")
	if sys == nil || sys.Source != "/sys" || sys.Type != "none" ||
		!slices.Equal(sys.Options, []string{"rbind", "nosuid", "noexec", "nodev", "ro"}) {
		t.Errorf("/sys mount %+v", sys)
	}
	if pts := mountAt(s, "/dev/pts"); pts == nil || slices.Contains(pts.Options, "gid=5") || !slices.Contains(pts.Options, "ptmxmode=0666") {
		t.Errorf("/dev/pts mount %+v", pts)
	}
	if !slices.Contains(origDevpts, "gid=5") {
		t.Error("ToRootless modified the caller's option slice in place")
	}
	if len(s.Mounts) != len(Example().Mounts) {
		t.Errorf("%d mounts after ToRootless, want %d", len(s.Mounts), len(Example().Mounts))
	}
	if s.Linux.Resources != nil {
		t.Errorf("resources kept: %+v", s.Linux.Resources)
	}
}

func TestToRootlessEdgeCases(t *testing.T) {
	// Applying it twice keeps one user namespace; net sysctls and uid=
	// options go; a spec without a linux section gets one.
	s := Example()
	s.Mounts = append(s.Mounts, specs.Mount{Destination: "/sys/", Type: "sysfs", Source: "sysfs"},
		specs.Mount{Destination: "/data", Type: "tmpfs", Options: []string{"uid=1", "size=1m"}})
	s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1", "net/core/somaxconn": "1", "kernel.shmmax": "1"}
	ToRootless(s, 5, 6)
	ToRootless(s, 5, 6)
	users := 0
	for _, ns := range s.Linux.Namespaces {
		if ns.Type == specs.UserNamespace {
			users++
		}
	}
	if users != 1 {
		t.Errorf("%d user namespaces", users)
	}
	if d := mountAt(s, "/data"); d == nil || !slices.Equal(d.Options, []string{"size=1m"}) {
		t.Errorf("/data mount %+v", d)
	}
	if m := s.Mounts[len(s.Mounts)-2]; m.Type != "none" || m.Destination != "/sys" {
		t.Errorf("/sys/ not replaced: %+v", m)
	}
	if !reflect.DeepEqual(s.Linux.Sysctl, map[string]string{"kernel.shmmax": "1"}) {
		t.Errorf("sysctl %v", s.Linux.Sysctl)
	}

	bare := &specs.Spec{Version: specs.Version}
	ToRootless(bare, 1, 2)
	if bare.Linux == nil || len(bare.Linux.Namespaces) != 1 || bare.Linux.UIDMappings[0].HostID != 1 {
		t.Errorf("bare spec: %+v", bare.Linux)
	}
}
