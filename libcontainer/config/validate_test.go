package config

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nsrun/nsrun/libcontainer/capabilities"
	"github.com/nsrun/nsrun/libcontainer/procattr"
	"github.com/nsrun/nsrun/libcontainer/specconv"
)

func intp(v int) *int       { return &v }
func u32p(v uint32) *uint32 { return &v }
func nsOf(types ...specs.LinuxNamespaceType) []specs.LinuxNamespace {
	out := make([]specs.LinuxNamespace, len(types))
	for i, t := range types {
		out[i] = specs.LinuxNamespace{Type: t}
	}
	return out
}

func TestExampleValidates(t *testing.T) {
	if err := Validate(specconv.Example()); err != nil {
		t.Fatalf("Example() does not validate: %v", err)
	}
	s := specconv.Example()
	specconv.ToRootless(s, 1000, 1000)
	if err := Validate(s); err != nil {
		t.Fatalf("rootless Example() does not validate: %v", err)
	}
}

func TestValidConfigs(t *testing.T) {
	cases := map[string]func(s *specs.Spec){
		"oci 1.0.0":        func(s *specs.Spec) { s.Version = "1.0.0" },
		"oci 1.0.2-dev":    func(s *specs.Spec) { s.Version = "1.0.2-dev" },
		"oci 1.1.0+build":  func(s *specs.Spec) { s.Version = "1.1.0+build.5" },
		"oci 1.3.7":        func(s *specs.Spec) { s.Version = "1.3.7" },
		"relative mount":   func(s *specs.Spec) { s.Mounts = append(s.Mounts, specs.Mount{Destination: "data", Type: "tmpfs"}) },
		"no linux section": func(s *specs.Spec) { s.Linux = nil; s.Hostname = "" },
		"joined uts with hostname": func(s *specs.Spec) {
			s.Linux.Namespaces = []specs.LinuxNamespace{{Type: specs.UTSNamespace, Path: "/proc/1/ns/uts"}, {Type: specs.MountNamespace}}
		},
		"user namespace with mappings": func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
			s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
			s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
		},
		"joined user namespace without mappings": func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace, Path: "/proc/42/ns/user"})
		},
		"time namespace with offsets": func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.TimeNamespace})
			s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"boottime": {Secs: 10}, "monotonic": {Secs: -5, Nanosecs: 999999999}}
		},
		"namespaced sysctls": func(s *specs.Spec) {
			s.Hostname = ""
			s.Linux.Sysctl = map[string]string{
				"net.ipv4.ip_forward": "1", "net/ipv4/conf/eth0.100/rp_filter": "0",
				"kernel.shm_rmid_forced": "1", "kernel.msgmax": "8192", "kernel.sem": "250 32000 32 128",
				"fs.mqueue.msg_max": "10", "kernel.domainname": "example.org", "kernel.hostname": "h",
			}
		},
		"kernel.hostname equal to hostname": func(s *specs.Spec) { s.Linux.Sysctl = map[string]string{"kernel.hostname": "nsrun"} },
		"net sysctl with joined netns": func(s *specs.Spec) {
			s.Linux.Namespaces[1].Path = "/var/run/netns/cni-1"
			s.Linux.Sysctl = map[string]string{"net.core.somaxconn": "1024"}
		},
		"devices": func(s *specs.Spec) {
			s.Linux.Devices = []specs.LinuxDevice{
				{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229, FileMode: nil, UID: u32p(0)},
				{Path: "/dev/sda", Type: "b", Major: 8},
				{Path: "/dev/u", Type: "u", Major: 1, Minor: 3},
				{Path: "/dev/fifo", Type: "p"},
			}
		},
		"device rules": func(s *specs.Spec) {
			s.Linux.Resources.Devices = append(s.Linux.Resources.Devices,
				specs.LinuxDeviceCgroup{Allow: true, Type: "c", Access: "rw"},
				specs.LinuxDeviceCgroup{Allow: true, Type: "b", Access: "m"},
				specs.LinuxDeviceCgroup{Allow: true, Type: "a"})
		},
		"hooks": func(s *specs.Spec) {
			s.Hooks = &specs.Hooks{
				Prestart:  []specs.Hook{{Path: "/bin/true"}},
				Poststop:  []specs.Hook{{Path: "/bin/true", Args: []string{"true"}, Env: []string{"A=b"}, Timeout: intp(5)}},
				Poststart: []specs.Hook{{Path: "/usr/bin/hook"}},
			}
		},
		"process extras": func(s *specs.Spec) {
			s.Process.OOMScoreAdj = intp(-1000)
			s.Process.User.Umask = u32p(0o022)
			s.Process.Env = append(s.Process.Env, "EMPTY=", "A==b")
			s.Process.Capabilities.Ambient = []string{"CAP_CHECKPOINT_RESTORE"}
			s.Process.Rlimits = append(s.Process.Rlimits, specs.POSIXRlimit{Type: "RLIMIT_CORE", Soft: 0, Hard: ^uint64(0)})
			s.Process.Scheduler = &specs.Scheduler{Policy: specs.SchedFIFO, Priority: 10, Flags: []specs.LinuxSchedulerFlag{specs.SchedFlagResetOnFork}}
			s.Process.IOPriority = &specs.LinuxIOPriority{Class: specs.IOPRIO_CLASS_IDLE, Priority: 7}
		},
		"deadline scheduler": func(s *specs.Spec) {
			s.Process.Scheduler = &specs.Scheduler{Policy: specs.SchedDeadline, Runtime: 10000, Deadline: 20000, Period: 20000}
		},
		"seccomp and intelRdt shapes": func(s *specs.Spec) {
			s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActErrno,
				Syscalls: []specs.LinuxSyscall{{Names: []string{"read", "write"}, Action: specs.ActAllow}}}
			s.Linux.IntelRdt = &specs.LinuxIntelRdt{ClosID: "/"}
		},
		"rootfs propagation": func(s *specs.Spec) { s.Linux.RootfsPropagation = "rslave" },
		"personality":        func(s *specs.Spec) { s.Linux.Personality = &specs.LinuxPersonality{Domain: specs.PerLinux32} },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			s := specconv.Example()
			mutate(s)
			if err := Validate(s); err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
		})
	}
}

func TestValidateRejects(t *testing.T) {
	long := strings.Repeat("x", 65)
	cases := []struct {
		name   string
		mutate func(s *specs.Spec)
		want   string // substring of the error, starting with the JSON path
	}{
		{"missing ociVersion", func(s *specs.Spec) { s.Version = "" }, "ociVersion: must be set"},
		{"ociVersion not semver", func(s *specs.Spec) { s.Version = "1.0" }, "ociVersion: \"1.0\" is not a semantic version"},
		{"ociVersion 2.x", func(s *specs.Spec) { s.Version = "2.0.0" }, "ociVersion: unsupported version"},
		{"ociVersion 1.4", func(s *specs.Spec) { s.Version = "1.4.0" }, "ociVersion: unsupported version"},
		{"ociVersion 0.x", func(s *specs.Spec) { s.Version = "0.6.0" }, "ociVersion: unsupported version"},
		{"missing root", func(s *specs.Spec) { s.Root = nil }, "root: must be set"},
		{"empty root.path", func(s *specs.Spec) { s.Root.Path = "" }, "root.path: must not be empty"},
		{"missing process", func(s *specs.Spec) { s.Process = nil }, "process: must be set"},
		{"empty args", func(s *specs.Spec) { s.Process.Args = nil }, "process.args: must not be empty"},
		{"empty args[0]", func(s *specs.Spec) { s.Process.Args = []string{""} }, "process.args[0]: must not be empty"},
		{"NUL in args", func(s *specs.Spec) { s.Process.Args = []string{"sh", "a\x00b"} }, "process.args[1]: contains a NUL byte"},
		{"relative cwd", func(s *specs.Spec) { s.Process.Cwd = "tmp" }, "process.cwd: must be an absolute path"},
		{"empty cwd", func(s *specs.Spec) { s.Process.Cwd = "" }, "process.cwd: must be an absolute path"},
		{"env without =", func(s *specs.Spec) { s.Process.Env = append(s.Process.Env, "FOO") }, "process.env[2]: \"FOO\" is not of the form KEY=value"},
		{"env empty key", func(s *specs.Spec) { s.Process.Env = []string{"=x"} }, "process.env[0]: \"=x\" has an empty variable name"},
		{"env NUL", func(s *specs.Spec) { s.Process.Env = []string{"A=b\x00c"} }, "process.env[0]: contains a NUL byte"},
		{"unknown rlimit", func(s *specs.Spec) { s.Process.Rlimits[0].Type = "RLIMIT_FOO" }, "process.rlimits[0].type: unknown rlimit type \"RLIMIT_FOO\""},
		{"duplicate rlimit", func(s *specs.Spec) {
			s.Process.Rlimits = append(s.Process.Rlimits, s.Process.Rlimits[0])
		}, "process.rlimits[1].type: duplicate rlimit type \"RLIMIT_NOFILE\""},
		{"soft above hard", func(s *specs.Spec) { s.Process.Rlimits[0].Soft = 2048 }, "process.rlimits[0]: soft limit 2048 is greater than hard limit 1024"},
		{"unknown capability", func(s *specs.Spec) {
			s.Process.Capabilities.Effective = append(s.Process.Capabilities.Effective, "CAP_FOO")
		}, "process.capabilities.effective[3]: unknown capability \"CAP_FOO\""},
		{"lowercase capability", func(s *specs.Spec) { s.Process.Capabilities.Ambient = []string{"cap_kill"} }, "process.capabilities.ambient[0]: unknown capability"},
		{"oomScoreAdj high", func(s *specs.Spec) { s.Process.OOMScoreAdj = intp(1001) }, "process.oomScoreAdj: must be between -1000 and 1000"},
		{"oomScoreAdj low", func(s *specs.Spec) { s.Process.OOMScoreAdj = intp(-1001) }, "process.oomScoreAdj: must be between"},
		{"scheduler no policy", func(s *specs.Spec) { s.Process.Scheduler = &specs.Scheduler{} }, "process.scheduler.policy: must be set"},
		{"scheduler bad policy", func(s *specs.Spec) { s.Process.Scheduler = &specs.Scheduler{Policy: "SCHED_FAST"} }, "process.scheduler.policy: unknown scheduler policy \"SCHED_FAST\""},
		{"scheduler bad flag", func(s *specs.Spec) {
			s.Process.Scheduler = &specs.Scheduler{Policy: specs.SchedOther, Flags: []specs.LinuxSchedulerFlag{"SCHED_FLAG_X"}}
		}, "process.scheduler.flags[0]: unknown scheduler flag"},
		{"scheduler nice", func(s *specs.Spec) { s.Process.Scheduler = &specs.Scheduler{Policy: specs.SchedOther, Nice: 20} }, "process.scheduler.nice: must be between -20 and 19"},
		{"scheduler priority for OTHER", func(s *specs.Spec) {
			s.Process.Scheduler = &specs.Scheduler{Policy: specs.SchedOther, Priority: 5}
		}, "process.scheduler.priority: can only be set for SCHED_FIFO or SCHED_RR"},
		{"scheduler FIFO priority 0", func(s *specs.Spec) { s.Process.Scheduler = &specs.Scheduler{Policy: specs.SchedFIFO} }, "process.scheduler.priority: must be between 1 and 99"},
		{"deadline params for RR", func(s *specs.Spec) {
			s.Process.Scheduler = &specs.Scheduler{Policy: specs.SchedRR, Priority: 1, Runtime: 5}
		}, "process.scheduler: runtime, deadline and period can only be set for SCHED_DEADLINE"},
		{"deadline runtime > deadline", func(s *specs.Spec) {
			s.Process.Scheduler = &specs.Scheduler{Policy: specs.SchedDeadline, Runtime: 5000, Deadline: 2000}
		}, "process.scheduler.runtime: must not exceed deadline"},
		{"deadline without deadline", func(s *specs.Spec) { s.Process.Scheduler = &specs.Scheduler{Policy: specs.SchedDeadline} }, "process.scheduler.deadline: must be set"},
		{"deadline > period", func(s *specs.Spec) {
			s.Process.Scheduler = &specs.Scheduler{Policy: specs.SchedDeadline, Runtime: 2000, Deadline: 5000, Period: 4000}
		}, "process.scheduler.deadline: must not exceed period"},
		{"ioPriority class", func(s *specs.Spec) {
			s.Process.IOPriority = &specs.LinuxIOPriority{Class: "IOPRIO_CLASS_NONE"}
		}, "process.ioPriority.class: unknown I/O priority class"},
		{"ioPriority priority", func(s *specs.Spec) {
			s.Process.IOPriority = &specs.LinuxIOPriority{Class: specs.IOPRIO_CLASS_BE, Priority: 8}
		}, "process.ioPriority.priority: must be between 0 and 7"},
		{"umask", func(s *specs.Spec) { s.Process.User.Umask = u32p(0o1777) }, "process.user.umask: must be at most 0777"},
		{"apparmor NUL", func(s *specs.Spec) { s.Process.ApparmorProfile = "a\x00" }, "process.apparmorProfile: contains a NUL byte"},
		{"hook relative path", func(s *specs.Spec) {
			s.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: "/ok"}, {Path: "hook.sh"}}}
		}, "hooks.createRuntime[1].path: must be an absolute path"},
		{"hook empty path", func(s *specs.Spec) { s.Hooks = &specs.Hooks{Poststop: []specs.Hook{{}}} }, "hooks.poststop[0].path: must not be empty"},
		{"hook zero timeout", func(s *specs.Spec) {
			s.Hooks = &specs.Hooks{StartContainer: []specs.Hook{{Path: "/h", Timeout: intp(0)}}}
		}, "hooks.startContainer[0].timeout: must be greater than zero"},
		{"hook negative timeout", func(s *specs.Spec) {
			s.Hooks = &specs.Hooks{CreateContainer: []specs.Hook{{Path: "/h", Timeout: intp(-3)}}}
		}, "hooks.createContainer[0].timeout: must be greater than zero, got -3"},
		{"hook env", func(s *specs.Spec) {
			s.Hooks = &specs.Hooks{Prestart: []specs.Hook{{Path: "/h", Env: []string{"NOEQUALS"}}}}
		}, "hooks.prestart[0].env[0]"},
		{"mount empty destination", func(s *specs.Spec) { s.Mounts[2].Destination = "" }, "mounts[2].destination: must not be empty"},
		{"mount NUL type", func(s *specs.Spec) { s.Mounts[0].Type = "pr\x00oc" }, "mounts[0].type: contains a NUL byte"},
		{"mount NUL option", func(s *specs.Spec) { s.Mounts[1].Options[1] = "mode=\x00" }, "mounts[1].options[1]: contains a NUL byte"},
		{"mount NUL source", func(s *specs.Spec) { s.Mounts[1].Source = "\x00" }, "mounts[1].source: contains a NUL byte"},
		{"mount idmap size", func(s *specs.Spec) {
			s.Mounts[0].UIDMappings = []specs.LinuxIDMapping{{Size: 0}}
		}, "mounts[0].uidMappings[0].size: must be greater than zero"},
		{"unknown namespace", func(s *specs.Spec) {
			s.Linux.Namespaces[2].Type = "foo"
		}, "linux.namespaces[2].type: unknown namespace type \"foo\""},
		{"duplicate namespace", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces[:3], specs.LinuxNamespace{Type: specs.PIDNamespace})
		}, "linux.namespaces[3]: duplicate namespace type \"pid\""},
		{"relative namespace path", func(s *specs.Spec) { s.Linux.Namespaces[0].Path = "proc/1/ns/pid" }, "linux.namespaces[0].path: must be an absolute path"},
		{"uid mappings without userns", func(s *specs.Spec) {
			s.Linux.UIDMappings = []specs.LinuxIDMapping{{Size: 1}}
		}, "linux.uidMappings: uid/gid mappings need a user namespace"},
		{"new userns without mappings", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
			s.Linux.UIDMappings = []specs.LinuxIDMapping{{Size: 1}}
		}, "linux.gidMappings: required when creating a new user namespace"},
		{"mapping size zero", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
			s.Linux.UIDMappings = []specs.LinuxIDMapping{{Size: 1}}
			s.Linux.GIDMappings = []specs.LinuxIDMapping{{Size: 1}, {ContainerID: 1, HostID: 1}}
		}, "linux.gidMappings[1].size: must be greater than zero"},
		{"mapping overflow", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
			s.Linux.UIDMappings = []specs.LinuxIDMapping{{HostID: 0xffffffff, Size: 2}}
			s.Linux.GIDMappings = []specs.LinuxIDMapping{{Size: 1}}
		}, "linux.uidMappings[0].size: range overflows"},
		{"time offsets without time ns", func(s *specs.Spec) {
			s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"boottime": {Secs: 1}}
		}, "linux.timeOffsets: time offsets need a time namespace"},
		{"time offsets bad clock", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.TimeNamespace})
			s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"realtime": {Secs: 1}}
		}, "linux.timeOffsets[\"realtime\"]: unknown clock"},
		{"device bad type", func(s *specs.Spec) {
			s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/x", Type: "z"}}
		}, "linux.devices[0].type: unknown device type \"z\""},
		{"device relative path", func(s *specs.Spec) {
			s.Linux.Devices = []specs.LinuxDevice{{Path: "dev/x", Type: "p"}}
		}, "linux.devices[0].path: must be an absolute path"},
		{"device without major/minor", func(s *specs.Spec) {
			s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/x", Type: "c"}}
		}, "linux.devices[0]: major and minor are required for device type \"c\""},
		{"device rule type", func(s *specs.Spec) {
			s.Linux.Resources.Devices[0].Type = "p"
		}, "linux.resources.devices[0].type: unknown device rule type \"p\""},
		{"device rule access", func(s *specs.Spec) {
			s.Linux.Resources.Devices[0].Access = "rwx"
		}, "linux.resources.devices[0].access: \"rwx\" is not a combination of r, w and m"},
		{"net sysctl without netns", func(s *specs.Spec) {
			s.Linux.Namespaces = nsOf(specs.PIDNamespace, specs.MountNamespace, specs.UTSNamespace)
			s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"}
		}, "linux.sysctl[\"net.ipv4.ip_forward\"]: needs a network namespace"},
		{"ipc sysctl without ipcns", func(s *specs.Spec) {
			s.Linux.Namespaces = nsOf(specs.PIDNamespace, specs.MountNamespace, specs.UTSNamespace)
			s.Linux.Sysctl = map[string]string{"kernel.shmmax": "1"}
		}, "linux.sysctl[\"kernel.shmmax\"]: needs an ipc namespace"},
		{"mqueue sysctl without ipcns", func(s *specs.Spec) {
			s.Linux.Namespaces = nsOf(specs.MountNamespace, specs.UTSNamespace)
			s.Linux.Sysctl = map[string]string{"fs.mqueue.queues_max": "1"}
		}, "linux.sysctl[\"fs.mqueue.queues_max\"]: needs an ipc namespace"},
		{"uts sysctl without utsns", func(s *specs.Spec) {
			s.Hostname = ""
			s.Linux.Namespaces = nsOf(specs.MountNamespace)
			s.Linux.Sysctl = map[string]string{"kernel.domainname": "x"}
		}, "linux.sysctl[\"kernel.domainname\"]: needs a uts namespace"},
		{"kernel.hostname conflicts", func(s *specs.Spec) {
			s.Linux.Sysctl = map[string]string{"kernel.hostname": "other"}
		}, "linux.sysctl[\"kernel.hostname\"]: conflicts with hostname"},
		{"host sysctl", func(s *specs.Spec) { s.Linux.Sysctl = map[string]string{"vm.swappiness": "10"} }, "linux.sysctl[\"vm.swappiness\"]: not namespaced"},
		{"empty sysctl key", func(s *specs.Spec) { s.Linux.Sysctl = map[string]string{"": "1"} }, "linux.sysctl[\"\"]: invalid sysctl name"},
		{"sysctl escaping /proc/sys", func(s *specs.Spec) {
			s.Linux.Sysctl = map[string]string{"net/../../../etc/passwd": "x"}
		}, "linux.sysctl[\"net/../../../etc/passwd\"]: invalid sysctl name"},
		{"hostname without uts", func(s *specs.Spec) {
			s.Linux.Namespaces = nsOf(specs.PIDNamespace, specs.MountNamespace)
		}, "hostname: cannot be set without a uts namespace"},
		{"domainname without uts", func(s *specs.Spec) {
			s.Hostname = ""
			s.Domainname = "example.org"
			s.Linux.Namespaces = nsOf(specs.MountNamespace)
		}, "domainname: cannot be set without a uts namespace"},
		{"hostname too long", func(s *specs.Spec) { s.Hostname = long }, "hostname: longer than 64 bytes"},
		{"cgroupsPath NUL", func(s *specs.Spec) { s.Linux.CgroupsPath = "/a\x00b" }, "linux.cgroupsPath: contains a NUL byte"},
		{"masked path relative", func(s *specs.Spec) { s.Linux.MaskedPaths[1] = "proc/asound" }, "linux.maskedPaths[1]: must be an absolute path"},
		{"readonly path relative", func(s *specs.Spec) { s.Linux.ReadonlyPaths[0] = "proc" }, "linux.readonlyPaths[0]: must be an absolute path"},
		{"rootfsPropagation", func(s *specs.Spec) { s.Linux.RootfsPropagation = "recursive" }, "linux.rootfsPropagation: unknown propagation"},
		{"personality domain", func(s *specs.Spec) { s.Linux.Personality = &specs.LinuxPersonality{Domain: "BSD"} }, "linux.personality.domain"},
		{"seccomp no default action", func(s *specs.Spec) { s.Linux.Seccomp = &specs.LinuxSeccomp{} }, "linux.seccomp.defaultAction: must not be empty"},
		{"seccomp syscall names", func(s *specs.Spec) {
			s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Action: specs.ActErrno}}}
		}, "linux.seccomp.syscalls[0].names: must not be empty"},
		{"seccomp syscall action", func(s *specs.Spec) {
			s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}}}}
		}, "linux.seccomp.syscalls[0].action: must not be empty"},
		{"intelRdt closID", func(s *specs.Spec) { s.Linux.IntelRdt = &specs.LinuxIntelRdt{ClosID: "../x"} }, "linux.intelRdt.closID: invalid class of service"},
		{"annotation empty key", func(s *specs.Spec) { s.Annotations = map[string]string{"": "v"} }, "annotations[\"\"]: keys must not be empty"},
		{"too many mounts", func(s *specs.Spec) {
			s.Mounts = make([]specs.Mount, MaxListLen+1)
		}, "mounts: too many entries (100001, limit 100000)"},
		{"too many env", func(s *specs.Spec) { s.Process.Env = make([]string, MaxListLen+1) }, "process.env: too many entries"},
		{"too many args", func(s *specs.Spec) {
			s.Process.Args = make([]string, MaxListLen+1)
			s.Process.Args[0] = "sh"
		}, "process.args: too many entries"},
		{"too many sysctls", func(s *specs.Spec) {
			s.Linux.Sysctl = make(map[string]string, MaxListLen+1)
			for i := 0; i <= MaxListLen; i++ {
				s.Linux.Sysctl["net.x"+itoa(i)] = "1"
			}
		}, "linux.sysctl: too many entries"},
		{"too many id mappings", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace, Path: "/proc/1/ns/user"})
			s.Linux.UIDMappings = make([]specs.LinuxIDMapping, 341)
		}, "linux.uidMappings: too many entries (341, the kernel accepts at most 340)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := specconv.Example()
			tc.mutate(s)
			err := Validate(s)
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v carries no *FieldError", err)
			}
		})
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestValidateReportsAllProblems(t *testing.T) {
	s := specconv.Example()
	s.Version = ""
	s.Process.Args = nil
	s.Linux.Namespaces[0].Type = "bogus"
	err := Validate(s)
	for _, want := range []string{"ociVersion", "process.args", "linux.namespaces[0].type"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not mention %s", err, want)
		}
	}
}

func TestValidateCapsProblemCount(t *testing.T) {
	s := specconv.Example()
	s.Process.Env = make([]string, 1000) // 1000 bad entries
	err := Validate(s)
	if err == nil {
		t.Fatal("no error")
	}
	if n := strings.Count(err.Error(), "\n") + 1; n > maxProblems+1 {
		t.Fatalf("%d error lines, want at most %d", n, maxProblems+1)
	}
	if !strings.Contains(err.Error(), "more problems") {
		t.Fatalf("error does not say problems were dropped: %.200s", err)
	}
}

func TestValidateNil(t *testing.T) {
	if Validate(nil) == nil {
		t.Fatal("Validate(nil) succeeded")
	}
	if ValidateProcess(nil, "process") == nil {
		t.Fatal("ValidateProcess(nil) succeeded")
	}
}

func TestValidateProcessStandalone(t *testing.T) {
	p := specconv.Example().Process
	if err := ValidateProcess(p, ""); err != nil {
		t.Fatalf("example process: %v", err)
	}
	p.Args = nil
	err := ValidateProcess(p, "")
	if err == nil || !strings.HasPrefix(err.Error(), "args: must not be empty") {
		t.Fatalf("got %v, want an error starting with \"args: must not be empty\"", err)
	}
}

func TestCapabilityAndRlimitTables(t *testing.T) {
	// Every capability the headers know, by number, has a name.
	for v := 0; v <= unix.CAP_LAST_CAP; v++ {
		name := capabilities.Cap(v).String()
		if got, ok := CapabilityValue(name); !ok || got != v {
			t.Errorf("capability %d (%s): CapabilityValue = %d, %v", v, name, got, ok)
		}
	}
	if v, ok := CapabilityValue("CAP_SYS_ADMIN"); !ok || v != 21 {
		t.Errorf("CapabilityValue(CAP_SYS_ADMIN) = %d, %v", v, ok)
	}
	if n := len(procattr.RlimitNames()); n != 16 {
		t.Errorf("%d rlimits, want 16", n)
	}
	if v, ok := RlimitResource("RLIMIT_NOFILE"); !ok || v != unix.RLIMIT_NOFILE {
		t.Errorf("RlimitResource(RLIMIT_NOFILE) = %d, %v", v, ok)
	}
}

func TestSemver(t *testing.T) {
	for v, want := range map[string]bool{
		"1.0.0": true, "1.3.0": true, "1.0.2-dev": true, "1.2.3+x": true,
		"1.0": false, "1.0.0.0": false, "v1.0.0": false, "1.a.0": false, "1.0.0-": false, "": false,
	} {
		if _, _, ok := parseSemver(v); ok != want {
			t.Errorf("parseSemver(%q) ok = %v, want %v", v, ok, want)
		}
	}
}

func TestNormalizeSysctl(t *testing.T) {
	for in, want := range map[string]string{
		"net.ipv4.ip_forward":              "net.ipv4.ip_forward",
		"net/ipv4/ip_forward":              "net.ipv4.ip_forward",
		"net/ipv4/conf/eno2.100/rp_filter": "net.ipv4.conf.eno2/100.rp_filter",
		"net.ipv4.conf.eno2/100.rp_filter": "net.ipv4.conf.eno2/100.rp_filter",
	} {
		if got := normalizeSysctl(in); got != want {
			t.Errorf("normalizeSysctl(%q) = %q, want %q", in, got, want)
		}
	}
}
