package seccomp

import (
	"fmt"
	"slices"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
)

// actionInfo maps one spec action name to libseccomp's action and the
// libseccomp API level it needs (the API level encodes both the library's and
// the kernel's support, see seccomp_api_get(3)).
type actionInfo struct {
	act    libseccomp.ScmpAction
	minAPI uint
	// takesErrno is true for the actions whose 16-bit data is meaningful:
	// the errno for ERRNO, the value handed to the tracer for TRACE.
	takesErrno bool
}

var actionTable = []struct {
	name specs.LinuxSeccompAction
	info actionInfo
}{
	// SCMP_ACT_KILL predates the thread/process split and has always meant
	// "kill the calling thread" (libseccomp keeps that meaning).
	{specs.ActKill, actionInfo{act: libseccomp.ActKillThread}},
	{specs.ActKillProcess, actionInfo{act: libseccomp.ActKillProcess, minAPI: 3}},
	{specs.ActKillThread, actionInfo{act: libseccomp.ActKillThread}},
	{specs.ActTrap, actionInfo{act: libseccomp.ActTrap}},
	{specs.ActErrno, actionInfo{act: libseccomp.ActErrno, takesErrno: true}},
	{specs.ActTrace, actionInfo{act: libseccomp.ActTrace, takesErrno: true}},
	{specs.ActAllow, actionInfo{act: libseccomp.ActAllow}},
	{specs.ActLog, actionInfo{act: libseccomp.ActLog, minAPI: 3}},
	{specs.ActNotify, actionInfo{act: libseccomp.ActNotify, minAPI: 6}},
}

var operatorTable = []struct {
	name specs.LinuxSeccompOperator
	op   libseccomp.ScmpCompareOp
}{
	{specs.OpNotEqual, libseccomp.CompareNotEqual},
	{specs.OpLessThan, libseccomp.CompareLess},
	{specs.OpLessEqual, libseccomp.CompareLessOrEqual},
	{specs.OpEqualTo, libseccomp.CompareEqual},
	{specs.OpGreaterEqual, libseccomp.CompareGreaterEqual},
	{specs.OpGreaterThan, libseccomp.CompareGreater},
	{specs.OpMaskedEqual, libseccomp.CompareMaskedEqual},
}

// archTable is spelled out rather than derived from libseccomp's loose
// string parser, which also accepts names ("amd64", "x64") that are not
// valid in a config.
var archTable = []struct {
	name specs.Arch
	arch libseccomp.ScmpArch
}{
	{specs.ArchX86, libseccomp.ArchX86},
	{specs.ArchX86_64, libseccomp.ArchAMD64},
	{specs.ArchX32, libseccomp.ArchX32},
	{specs.ArchARM, libseccomp.ArchARM},
	{specs.ArchAARCH64, libseccomp.ArchARM64},
	{specs.ArchMIPS, libseccomp.ArchMIPS},
	{specs.ArchMIPS64, libseccomp.ArchMIPS64},
	{specs.ArchMIPS64N32, libseccomp.ArchMIPS64N32},
	{specs.ArchMIPSEL, libseccomp.ArchMIPSEL},
	{specs.ArchMIPSEL64, libseccomp.ArchMIPSEL64},
	{specs.ArchMIPSEL64N32, libseccomp.ArchMIPSEL64N32},
	{specs.ArchPPC, libseccomp.ArchPPC},
	{specs.ArchPPC64, libseccomp.ArchPPC64},
	{specs.ArchPPC64LE, libseccomp.ArchPPC64LE},
	{specs.ArchS390, libseccomp.ArchS390},
	{specs.ArchS390X, libseccomp.ArchS390X},
	{specs.ArchPARISC, libseccomp.ArchPARISC},
	{specs.ArchPARISC64, libseccomp.ArchPARISC64},
	{specs.ArchRISCV64, libseccomp.ArchRISCV64},
	{specs.ArchLOONGARCH64, libseccomp.ArchLOONGARCH64},
	{specs.ArchM68K, libseccomp.ArchM68K},
	{specs.ArchSH, libseccomp.ArchSH},
	{specs.ArchSHEB, libseccomp.ArchSHEB},
}

const flagTsync specs.LinuxSeccompFlag = "SECCOMP_FILTER_FLAG_TSYNC"

// knownFlags are the filter flags this package understands. Whether each
// one can be used depends on the linked libseccomp and the kernel: see
// Flags.
var knownFlags = []specs.LinuxSeccompFlag{
	flagTsync,
	specs.LinuxSeccompFlagLog,
	specs.LinuxSeccompFlagSpecAllow,
	specs.LinuxSeccompFlagWaitKillableRecv,
}

func lookupAction(name specs.LinuxSeccompAction) (actionInfo, bool) {
	for _, a := range actionTable {
		if a.name == name {
			return a.info, true
		}
	}
	return actionInfo{}, false
}

func lookupOperator(name specs.LinuxSeccompOperator) (libseccomp.ScmpCompareOp, bool) {
	for _, o := range operatorTable {
		if o.name == name {
			return o.op, true
		}
	}
	return libseccomp.CompareInvalid, false
}

func lookupArch(name specs.Arch) (libseccomp.ScmpArch, bool) {
	for _, a := range archTable {
		if a.name == name {
			return a.arch, true
		}
	}
	return libseccomp.ArchInvalid, false
}

// apiLevel is libseccomp's view of what library and kernel support together.
// An error (libseccomp < 2.4) counts as level 0, the most conservative one.
func apiLevel() uint {
	level, err := libseccomp.GetAPI()
	if err != nil {
		return 0
	}
	return level
}

// LibraryVersion is the version of the libseccomp nsrun is running with,
// e.g. "2.5.4".
func LibraryVersion() string {
	major, minor, micro := libseccomp.GetLibraryVersion()
	return fmt.Sprintf("%d.%d.%d", major, minor, micro)
}

// Actions lists the actions usable with this libseccomp and kernel.
func Actions() []string {
	level := apiLevel()
	var out []string
	for _, a := range actionTable {
		if level >= a.info.minAPI {
			out = append(out, string(a.name))
		}
	}
	return out
}

// Operators lists the argument comparison operators.
func Operators() []string {
	out := make([]string, 0, len(operatorTable))
	for _, o := range operatorTable {
		out = append(out, string(o.name))
	}
	return out
}

// Archs lists the architectures the linked libseccomp can add to a filter.
// Bindings built against an older library know every name but map the
// newer ones to an invalid token, so the list is found by trying each.
func Archs() []string { return slices.Clone(supportedArchs()) }

var supportedArchs = sync.OnceValue(func() []string {
	filter, err := libseccomp.NewFilter(libseccomp.ActAllow)
	if err != nil {
		return nil
	}
	defer filter.Release()
	var out []string
	for _, a := range archTable {
		if filter.AddArch(a.arch) == nil {
			out = append(out, string(a.name))
		}
	}
	return out
})

// KnownFlags lists every filter flag this package recognises.
func KnownFlags() []string {
	out := make([]string, 0, len(knownFlags))
	for _, f := range knownFlags {
		out = append(out, string(f))
	}
	return out
}

// Flags lists the filter flags that can really be set here: libseccomp
// probes the kernel when a flag attribute is set, so a throw-away filter
// answers for both.
func Flags() []string { return slices.Clone(supportedFlags()) }

var supportedFlags = sync.OnceValue(func() []string {
	var out []string
	for _, f := range knownFlags {
		filter, err := libseccomp.NewFilter(libseccomp.ActAllow)
		if err != nil {
			return nil
		}
		if setFlag(filter, f) == nil {
			out = append(out, string(f))
		}
		filter.Release()
	}
	return out
})

// setFlag turns one spec flag into the matching libseccomp filter attribute.
// The error does not name the JSON path; the caller adds it.
func setFlag(filter *libseccomp.ScmpFilter, flag specs.LinuxSeccompFlag) error {
	switch flag {
	case flagTsync:
		// libseccomp-golang's NewFilter already sets the TSYNC attribute
		// on every filter, so the flag asks for what happens anyway.
		return nil
	case specs.LinuxSeccompFlagLog:
		return filter.SetLogBit(true)
	case specs.LinuxSeccompFlagSpecAllow:
		return filter.SetSSB(true)
	case specs.LinuxSeccompFlagWaitKillableRecv:
		// Needs libseccomp >= 2.6.0; the binding returns a VersionError
		// naming the linked version otherwise.
		return filter.SetWaitKill(true)
	}
	return fmt.Errorf("unknown flag %q", flag)
}
