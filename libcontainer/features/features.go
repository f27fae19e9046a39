// Package features builds the `nsrun features` document: what this build
// really implements, and nothing more (containerd and CRI-O decide on it).
package features

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"

	"github.com/nsrun/nsrun/libcontainer/capabilities"
	"github.com/nsrun/nsrun/libcontainer/rootfs"
	"github.com/nsrun/nsrun/libcontainer/seccomp"
)

func ptr[T any](v T) *T { return &v }

// Get returns the features document.
func Get() *features.Features {
	return &features.Features{
		OCIVersionMin: "1.0.0",
		OCIVersionMax: specs.Version,
		Hooks:         []string{"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"},
		MountOptions:  rootfs.MountOptionNames(),
		Linux: &features.Linux{
			Namespaces: []string{
				string(specs.CgroupNamespace), string(specs.IPCNamespace), string(specs.MountNamespace),
				string(specs.NetworkNamespace), string(specs.PIDNamespace), string(specs.TimeNamespace),
				string(specs.UserNamespace), string(specs.UTSNamespace),
			},
			Capabilities: capabilities.KnownNames(),
			Cgroup: &features.Cgroup{
				V1:      ptr(true),
				V2:      ptr(true),
				Systemd: ptr(false),
				Rdma:    ptr(true),
			},
			Seccomp: &features.Seccomp{
				Enabled:        ptr(true),
				Actions:        seccomp.Actions(),
				Operators:      seccomp.Operators(),
				Archs:          seccomp.Archs(),
				KnownFlags:     seccomp.KnownFlags(),
				SupportedFlags: seccomp.Flags(),
			},
			Apparmor: &features.Apparmor{Enabled: ptr(false)},
			Selinux:  &features.Selinux{Enabled: ptr(false)},
			IntelRdt: &features.IntelRdt{Enabled: ptr(false)},
		},
		Annotations: map[string]string{
			"org.opencontainers.runtime-spec.features.nsrun.version": "0.1.0",
		},
	}
}
