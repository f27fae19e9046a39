package seccomp

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
)

// before26 is true when the linked libseccomp predates 2.6.0, the release
// that added WAIT_KILLABLE_RECV and the sh/m68k/loongarch64 architectures.
func before26() bool {
	major, minor, _ := libseccomp.GetLibraryVersion()
	return major < 2 || major == 2 && minor < 6
}

func TestTables(t *testing.T) {
	for _, a := range []specs.LinuxSeccompAction{specs.ActKill, specs.ActKillProcess, specs.ActKillThread, specs.ActTrap,
		specs.ActErrno, specs.ActTrace, specs.ActAllow, specs.ActLog, specs.ActNotify} {
		if _, ok := lookupAction(a); !ok {
			t.Errorf("action %s has no mapping", a)
		}
		if apiLevel() >= 6 && !slices.Contains(Actions(), string(a)) {
			t.Errorf("Actions() lacks %s at API level %d", a, apiLevel())
		}
	}
	if info, _ := lookupAction(specs.ActKill); info.act != libseccomp.ActKillThread {
		t.Errorf("SCMP_ACT_KILL maps to %v, want kill thread", info.act)
	}
	if got := Operators(); len(got) != 7 {
		t.Errorf("Operators() = %v, want the 7 of the spec", got)
	}
	for _, o := range Operators() {
		if _, ok := lookupOperator(specs.LinuxSeccompOperator(o)); !ok {
			t.Errorf("operator %s has no mapping", o)
		}
	}
	if len(archTable) != 23 {
		t.Errorf("archTable has %d entries, the spec names 23", len(archTable))
	}
	archs := Archs()
	for _, want := range []string{"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64", "SCMP_ARCH_RISCV64"} {
		if !slices.Contains(archs, want) {
			t.Errorf("Archs() = %v lacks %s", archs, want)
		}
	}
	if before26() && slices.Contains(archs, "SCMP_ARCH_SH") {
		t.Errorf("Archs() lists SCMP_ARCH_SH with libseccomp %s", LibraryVersion())
	}
	if got := KnownFlags(); len(got) != 4 {
		t.Errorf("KnownFlags() = %v", got)
	}
	flags := Flags()
	for _, want := range []string{"SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"} {
		if !slices.Contains(flags, want) {
			t.Errorf("Flags() = %v lacks %s", flags, want)
		}
	}
	if before26() && slices.Contains(flags, string(specs.LinuxSeccompFlagWaitKillableRecv)) {
		t.Errorf("Flags() lists WAIT_KILLABLE_RECV with libseccomp %s", LibraryVersion())
	}
	if v := LibraryVersion(); strings.Count(v, ".") != 2 {
		t.Errorf("LibraryVersion() = %q", v)
	}
}

func TestParseActionReturnCodes(t *testing.T) {
	act, err := parseAction("p", specs.ActErrno, "e", nil, 6)
	if err != nil || act.GetReturnCode() != 1 { // EPERM
		t.Errorf("ERRNO without errnoRet: %v %v, want EPERM", act, err)
	}
	act, err = parseAction("p", specs.ActTrace, "e", u(0xffff), 6)
	if err != nil || uint16(act.GetReturnCode()) != 0xffff {
		t.Errorf("TRACE 0xffff: %v %v", act, err)
	}
	if _, err := parseAction("p", specs.ActNotify, "e", nil, 5); err == nil || !strings.Contains(err.Error(), "API level 6") {
		t.Errorf("NOTIFY at API level 5: %v", err)
	}
}

func validProfile() *specs.LinuxSeccomp {
	return &specs.LinuxSeccomp{
		DefaultAction:   specs.ActErrno,
		DefaultErrnoRet: u(38),
		Architectures:   []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchAARCH64},
		Flags:           []specs.LinuxSeccompFlag{flagTsync, specs.LinuxSeccompFlagSpecAllow},
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"read", "write", "exit_group", "not_a_syscall"}, Action: specs.ActAllow},
			{Names: []string{"personality"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{
				{Index: 0, Value: 0, Op: specs.OpEqualTo},
				{Index: 0, Value: 8, Op: specs.OpEqualTo},
			}},
			{Names: []string{"clone"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{
				{Index: 0, Value: 2114060288, Op: specs.OpMaskedEqual},
			}},
			// Equal to the default (ERRNO 38): skipped, not refused.
			{Names: []string{"clone3"}, Action: specs.ActErrno, ErrnoRet: u(38)},
			{Names: []string{"ptrace"}, Action: specs.ActLog},
			{Names: []string{"kexec_load"}, Action: specs.ActKillProcess},
			// socketcall only exists on x86: resolved as a pseudo-syscall.
			{Names: []string{"socketcall"}, Action: specs.ActTrace, ErrnoRet: u(7)},
		},
	}
}

func TestValidateAccepts(t *testing.T) {
	if err := Validate(nil); err != nil {
		t.Errorf("Validate(nil) = %v", err)
	}
	if err := Validate(validProfile()); err != nil {
		t.Errorf("valid profile: %v", err)
	}
	// A profile long enough for the binary-tree layout.
	long := &specs.LinuxSeccomp{DefaultAction: specs.ActAllow}
	for nr := 0; nr < 64; nr++ {
		name, err := libseccomp.ScmpSyscall(nr).GetName()
		if err != nil {
			continue
		}
		long.Syscalls = append(long.Syscalls, specs.LinuxSyscall{Names: []string{name}, Action: specs.ActErrno})
	}
	if err := Validate(long); err != nil {
		t.Errorf("long profile: %v", err)
	}
	// NOTIFY with a listener; a NOTIFY rule whose names are all unknown
	// adds nothing, so needs no listener.
	notify := &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, ListenerPath: "/run/agent.sock", ListenerMetadata: "m",
		Syscalls: []specs.LinuxSyscall{{Names: []string{"mount"}, Action: specs.ActNotify}}}
	if err := Validate(notify); err != nil {
		t.Errorf("notify profile: %v", err)
	}
	unknownOnly := &specs.LinuxSeccomp{DefaultAction: specs.ActAllow,
		Syscalls: []specs.LinuxSyscall{{Names: []string{"no_such_call"}, Action: specs.ActNotify}}}
	if err := Validate(unknownOnly); err != nil {
		t.Errorf("notify on unknown names only: %v", err)
	}
}

func TestBuildReportsNotify(t *testing.T) {
	for _, tc := range []struct {
		names []string
		want  bool
	}{{[]string{"mount"}, true}, {[]string{"no_such_call"}, false}} {
		f, notify, err := build(&specs.LinuxSeccomp{DefaultAction: specs.ActAllow,
			Syscalls: []specs.LinuxSyscall{{Names: tc.names, Action: specs.ActNotify}}})
		if err != nil {
			t.Fatal(err)
		}
		f.Release()
		if notify != tc.want {
			t.Errorf("names %v: usesNotify %v, want %v", tc.names, notify, tc.want)
		}
	}
}

func TestValidateErrors(t *testing.T) {
	type mod func(*specs.LinuxSeccomp)
	cases := []struct {
		name string
		mod  mod
		want string
	}{
		{"unknown default", func(c *specs.LinuxSeccomp) { c.DefaultAction = "SCMP_ACT_FOO" },
			`linux.seccomp.defaultAction: unknown action "SCMP_ACT_FOO"`},
		{"default errno on kill", func(c *specs.LinuxSeccomp) { c.DefaultAction = specs.ActKill },
			"linux.seccomp.defaultErrnoRet: only SCMP_ACT_ERRNO and SCMP_ACT_TRACE take a return value"},
		{"default errno too big", func(c *specs.LinuxSeccomp) { c.DefaultErrnoRet = u(70000) },
			"linux.seccomp.defaultErrnoRet: 70000 does not fit in 16 bits"},
		{"notify default", func(c *specs.LinuxSeccomp) { c.DefaultAction, c.DefaultErrnoRet = specs.ActNotify, nil },
			"linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default action"},
		{"unknown arch", func(c *specs.LinuxSeccomp) { c.Architectures[1] = "SCMP_ARCH_FOO" },
			`linux.seccomp.architectures[1]: unknown architecture "SCMP_ARCH_FOO"`},
		{"lowercase arch", func(c *specs.LinuxSeccomp) { c.Architectures[0] = "amd64" },
			`linux.seccomp.architectures[0]: unknown architecture "amd64"`},
		{"unknown flag", func(c *specs.LinuxSeccomp) { c.Flags = append(c.Flags, "SECCOMP_FILTER_FLAG_FOO") },
			`linux.seccomp.flags[2]: unknown flag "SECCOMP_FILTER_FLAG_FOO"`},
		{"unknown action", func(c *specs.LinuxSeccomp) { c.Syscalls[3].Action = "SCMP_ACT_FOO" },
			`linux.seccomp.syscalls[3].action: unknown action "SCMP_ACT_FOO"`},
		{"errnoRet on allow", func(c *specs.LinuxSeccomp) { c.Syscalls[0].ErrnoRet = u(1) },
			"linux.seccomp.syscalls[0].errnoRet: only SCMP_ACT_ERRNO and SCMP_ACT_TRACE take a return value, not SCMP_ACT_ALLOW"},
		{"errnoRet too big", func(c *specs.LinuxSeccomp) { c.Syscalls[6].ErrnoRet = u(1 << 16) },
			"linux.seccomp.syscalls[6].errnoRet: 65536 does not fit in 16 bits"},
		{"no names", func(c *specs.LinuxSeccomp) { c.Syscalls[4].Names = nil },
			"linux.seccomp.syscalls[4].names: must not be empty"},
		{"empty name", func(c *specs.LinuxSeccomp) { c.Syscalls[0].Names[1] = "" },
			"linux.seccomp.syscalls[0].names[1]: must not be empty"},
		{"arg index", func(c *specs.LinuxSeccomp) { c.Syscalls[1].Args[1].Index = 6 },
			"linux.seccomp.syscalls[1].args[1].index: 6 out of range"},
		{"unknown operator", func(c *specs.LinuxSeccomp) { c.Syscalls[2].Args[0].Op = "SCMP_CMP_FOO" },
			`linux.seccomp.syscalls[2].args[0].op: unknown operator "SCMP_CMP_FOO"`},
		{"notify on write", func(c *specs.LinuxSeccomp) {
			c.ListenerPath = "/a"
			c.Syscalls = append(c.Syscalls, specs.LinuxSyscall{Names: []string{"mount", "write"}, Action: specs.ActNotify})
		}, `linux.seccomp.syscalls[7].names[1]: SCMP_ACT_NOTIFY cannot be used for "write"`},
		{"notify without listener", func(c *specs.LinuxSeccomp) {
			c.Syscalls = append(c.Syscalls, specs.LinuxSyscall{Names: []string{"mount"}, Action: specs.ActNotify})
		}, "linux.seccomp.listenerPath: must be set when SCMP_ACT_NOTIFY is used"},
		{"metadata without listener", func(c *specs.LinuxSeccomp) { c.ListenerMetadata = "x" },
			"linux.seccomp.listenerMetadata: set without listenerPath"},
	}
	if before26() {
		cases = append(cases,
			struct {
				name string
				mod  mod
				want string
			}{"arch too new", func(c *specs.LinuxSeccomp) { c.Architectures = []specs.Arch{specs.ArchSH} },
				fmt.Sprintf("linux.seccomp.architectures[0]: SCMP_ARCH_SH cannot be added with libseccomp %s", LibraryVersion())},
			struct {
				name string
				mod  mod
				want string
			}{"flag too new", func(c *specs.LinuxSeccomp) { c.Flags[1] = specs.LinuxSeccompFlagWaitKillableRecv },
				"linux.seccomp.flags[1]: SetWaitKill requires libseccomp >= 2.6.0"},
		)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := validProfile()
			tc.mod(cfg)
			err := Validate(cfg)
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v\nwant prefix %q", err, tc.want)
			}
		})
	}
}
