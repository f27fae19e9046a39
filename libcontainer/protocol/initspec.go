package protocol

import (
	"encoding/json"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The init decodes its config in a fresh process, where encoding/json first
// builds a codec for every type the target type reaches, whether the
// document uses it or not: for a whole specs.Spec that is ~2 ms here, about
// the cost of everything else the init does before pivot_root. The spec
// therefore travels as initSpec, which leaves out what the init never
// reads: the other platforms' sections and the cgroup settings, which the
// runtime applies (excludedSpecFields, excludedLinuxFields; a unit test
// checks that every other field is carried). That halves the decode.

// excludedSpecFields are the specs.Spec fields initSpec leaves out.
var excludedSpecFields = []string{"Solaris", "Windows", "VM", "ZOS", "FreeBSD"}

// excludedLinuxFields are the specs.Linux fields initLinux leaves out: the
// runtime creates the cgroups and hands the init their paths.
var excludedLinuxFields = []string{"Resources", "IntelRdt"}

// initSpec is specs.Spec without excludedSpecFields.
type initSpec struct {
	Version     string            `json:"ociVersion"`
	Process     *specs.Process    `json:"process,omitempty"`
	Root        *specs.Root       `json:"root,omitempty"`
	Hostname    string            `json:"hostname,omitempty"`
	Domainname  string            `json:"domainname,omitempty"`
	Mounts      []specs.Mount     `json:"mounts,omitempty"`
	Hooks       *specs.Hooks      `json:"hooks,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Linux       *initLinux        `json:"linux,omitempty"`
}

// initLinux is specs.Linux without excludedLinuxFields.
type initLinux struct {
	UIDMappings       []specs.LinuxIDMapping           `json:"uidMappings,omitempty"`
	GIDMappings       []specs.LinuxIDMapping           `json:"gidMappings,omitempty"`
	Sysctl            map[string]string                `json:"sysctl,omitempty"`
	CgroupsPath       string                           `json:"cgroupsPath,omitempty"`
	Namespaces        []specs.LinuxNamespace           `json:"namespaces,omitempty"`
	Devices           []specs.LinuxDevice              `json:"devices,omitempty"`
	NetDevices        map[string]specs.LinuxNetDevice  `json:"netDevices,omitempty"`
	Seccomp           *specs.LinuxSeccomp              `json:"seccomp,omitempty"`
	RootfsPropagation string                           `json:"rootfsPropagation,omitempty"`
	MaskedPaths       []string                         `json:"maskedPaths,omitempty"`
	ReadonlyPaths     []string                         `json:"readonlyPaths,omitempty"`
	MountLabel        string                           `json:"mountLabel,omitempty"`
	MemoryPolicy      *specs.LinuxMemoryPolicy         `json:"memoryPolicy,omitempty"`
	Personality       *specs.LinuxPersonality          `json:"personality,omitempty"`
	TimeOffsets       map[string]specs.LinuxTimeOffset `json:"timeOffsets,omitempty"`
}

func toInitSpec(s *specs.Spec) *initSpec {
	if s == nil {
		return nil
	}
	w := &initSpec{
		Version: s.Version, Process: s.Process, Root: s.Root, Hostname: s.Hostname,
		Domainname: s.Domainname, Mounts: s.Mounts, Hooks: s.Hooks, Annotations: s.Annotations,
	}
	if l := s.Linux; l != nil {
		w.Linux = &initLinux{
			UIDMappings: l.UIDMappings, GIDMappings: l.GIDMappings, Sysctl: l.Sysctl,
			CgroupsPath: l.CgroupsPath, Namespaces: l.Namespaces, Devices: l.Devices,
			NetDevices: l.NetDevices, Seccomp: l.Seccomp, RootfsPropagation: l.RootfsPropagation,
			MaskedPaths: l.MaskedPaths, ReadonlyPaths: l.ReadonlyPaths, MountLabel: l.MountLabel,
			MemoryPolicy: l.MemoryPolicy, Personality: l.Personality, TimeOffsets: l.TimeOffsets,
		}
	}
	return w
}

func (w *initSpec) spec() *specs.Spec {
	if w == nil {
		return nil
	}
	s := &specs.Spec{
		Version: w.Version, Process: w.Process, Root: w.Root, Hostname: w.Hostname,
		Domainname: w.Domainname, Mounts: w.Mounts, Hooks: w.Hooks, Annotations: w.Annotations,
	}
	if l := w.Linux; l != nil {
		s.Linux = &specs.Linux{
			UIDMappings: l.UIDMappings, GIDMappings: l.GIDMappings, Sysctl: l.Sysctl,
			CgroupsPath: l.CgroupsPath, Namespaces: l.Namespaces, Devices: l.Devices,
			NetDevices: l.NetDevices, Seccomp: l.Seccomp, RootfsPropagation: l.RootfsPropagation,
			MaskedPaths: l.MaskedPaths, ReadonlyPaths: l.ReadonlyPaths, MountLabel: l.MountLabel,
			MemoryPolicy: l.MemoryPolicy, Personality: l.Personality, TimeOffsets: l.TimeOffsets,
		}
	}
	return s
}

// plainInitConfig is InitConfig without its JSON methods.
type plainInitConfig InitConfig

// wireInitConfig is InitConfig on the wire: its Spec, at the outer level,
// hides the embedded one (encoding/json drops hidden fields before it
// builds any codec, so specs.Spec's is never built).
type wireInitConfig struct {
	plainInitConfig
	Spec *initSpec `json:"spec"`
}

// MarshalJSON sends Spec as initSpec.
func (c InitConfig) MarshalJSON() ([]byte, error) {
	return json.Marshal(wireInitConfig{plainInitConfig: plainInitConfig(c), Spec: toInitSpec(c.Spec)})
}

// UnmarshalJSON is the init's side of MarshalJSON.
func (c *InitConfig) UnmarshalJSON(data []byte) error {
	var w wireInitConfig
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	*c = InitConfig(w.plainInitConfig)
	c.Spec = w.Spec.spec()
	return nil
}
