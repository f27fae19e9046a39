package integration

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func errnoProfile() *specs.LinuxSeccomp {
	ret := uint(38) // ENOSYS
	return &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActErrno, ErrnoRet: &ret},
			{Names: []string{"chmod"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{
				{Index: 1, Value: 0o777, Op: specs.OpEqualTo}}},
			{Names: []string{"fchmodat"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{
				{Index: 2, Value: 0o777, Op: specs.OpEqualTo}}},
		},
	}
}

func TestSeccompErrnoAndArgs(t *testing.T) {
	// With and without no_new_privs: the filter is installed at different
	// points (late, or before the capabilities are dropped).
	for _, nnp := range []bool{true, false} {
		b := newBundle(t, "sh", "-c", "mkdir /tmp/d 2>&1; touch /tmp/f; chmod 777 /tmp/f 2>&1; chmod 700 /tmp/f && echo chmod-ok; grep Seccomp: /proc/self/status")
		b.Spec.Process.NoNewPrivileges = nnp
		b.Spec.Linux.Seccomp = errnoProfile()
		r := b.run(newID(t))
		mustOK(t, r, "run")
		for _, want := range []string{"Function not implemented", "Operation not permitted", "chmod-ok", "Seccomp:\t2"} {
			if !strings.Contains(r.Stdout, want) {
				t.Errorf("nnp=%v: %q missing in:\n%s", nnp, want, r.Stdout)
			}
		}
	}
}

func TestSeccompBadProfileFailsCreate(t *testing.T) {
	b := newBundle(t, "true")
	b.Spec.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"getcwd"}, Action: "SCMP_ACT_BOGUS"}}}
	b.write()
	createMustFail(t, b, "linux.seccomp.syscalls[0].action")
}
