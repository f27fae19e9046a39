// Package seccomp turns linux.seccomp into a BPF filter with libseccomp (the
// compiler the published profiles are written and tested against, see
// docs/seccomp.md) and installs it in the container's init.
package seccomp

import (
	"errors"
	"fmt"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

const (
	basePath = "linux.seccomp"
	// maxSyscallArgs: Linux system calls take at most six arguments.
	maxSyscallArgs = 6
	// maxActionData: ERRNO and TRACE carry 16 bits (SECCOMP_RET_DATA).
	maxActionData = 0xffff
	// optimizeAbove is the rule count above which the binary-tree layout
	// is asked for: long profiles then cost O(log n) per syscall instead of
	// a linear scan, and libseccomp <= 2.5.4 misbehaves with a tree built
	// from very few (or zero) rules.
	optimizeAbove = 32
)

// notifyForbidden are syscalls that must not be sent to the agent: after
// the filter is installed the init still hands the listener fd to the
// runtime (sendmsg on the init socket) and may write to its log, so a
// notification on them would wait for an agent that cannot have the fd yet.
var notifyForbidden = map[string]bool{"write": true, "sendmsg": true}

// Validate checks linux.seccomp without installing anything: it builds the
// whole filter in libseccomp's memory, so every error Load could report
// before the kernel is involved is found at create time.
func Validate(cfg *specs.LinuxSeccomp) error {
	if cfg == nil {
		return nil
	}
	filter, usesNotify, err := build(cfg)
	if err != nil {
		return err
	}
	filter.Release()
	if cfg.ListenerMetadata != "" && cfg.ListenerPath == "" {
		return fmt.Errorf("%s.listenerMetadata: set without listenerPath", basePath)
	}
	if usesNotify && cfg.ListenerPath == "" {
		return fmt.Errorf("%s.listenerPath: must be set when SCMP_ACT_NOTIFY is used (nothing would answer the notifications)", basePath)
	}
	return nil
}

// Load installs the filter described by cfg in the calling process. It is
// meant to run in the container's init right before execve. The filter is
// loaded with libseccomp's TSYNC attribute, so every thread of the Go
// process gets it, not just the calling one.
//
// The process's no_new_privs bit is left alone (process.noNewPrivileges
// decides it). Without no_new_privs the kernel only lets a process with
// CAP_SYS_ADMIN install a filter, so a caller that drops capabilities and
// does not set no_new_privs must call Load before dropping them.
//
// When a rule uses SCMP_ACT_NOTIFY, the returned file is the listener fd
// (close-on-exec) for the caller to pass on to listenerPath; otherwise it is
// nil. libseccomp keeps a single listener per process, so a process can
// load at most one filter that notifies.
func Load(cfg *specs.LinuxSeccomp) (notifyFd *os.File, err error) {
	f, err := Build(cfg)
	if err != nil || f == nil {
		return nil, err
	}
	return f.Load()
}

// Filter is a compiled filter, not yet in the kernel. Building and loading
// are apart so that the init can compile (which allocates) before it
// applies process.rlimits, and load as late as it likes.
type Filter struct {
	f          *libseccomp.ScmpFilter
	usesNotify bool
}

// Build compiles cfg; nil cfg gives a nil Filter.
func Build(cfg *specs.LinuxSeccomp) (*Filter, error) {
	if cfg == nil {
		return nil, nil
	}
	filter, usesNotify, err := build(cfg)
	if err != nil {
		return nil, err
	}
	// Without RawRC libseccomp reports every kernel refusal as ECANCELED.
	if err := filter.SetRawRC(true); err != nil {
		logrus.Debugf("seccomp: raw kernel errors unavailable: %v", err)
	}
	return &Filter{f: filter, usesNotify: usesNotify}, nil
}

// Load installs the filter (see the package function Load) and releases
// the compiled form.
func (f *Filter) Load() (notifyFd *os.File, err error) {
	defer f.f.Release()
	if err := f.f.Load(); err != nil {
		return nil, explainLoadError(err)
	}
	if !f.usesNotify {
		return nil, nil
	}
	fd, err := f.f.GetNotifFd()
	if err != nil {
		return nil, fmt.Errorf("%s: get the notify listener fd: %w", basePath, err)
	}
	if fd < 0 {
		return nil, fmt.Errorf("%s: the kernel returned no notify listener fd", basePath)
	}
	return os.NewFile(uintptr(fd), "seccomp-notify"), nil
}

func explainLoadError(err error) error {
	if errors.Is(err, unix.EACCES) {
		if nnp, perr := unix.PrctlRetInt(unix.PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0); perr == nil && nnp == 0 {
			return fmt.Errorf("%s: load filter: %w (without no_new_privs the kernel requires CAP_SYS_ADMIN; "+
				"load the filter before dropping capabilities or set process.noNewPrivileges)", basePath, err)
		}
	}
	if errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("%s: load filter: %w (another thread has a different seccomp filter, TSYNC failed)", basePath, err)
	}
	return fmt.Errorf("%s: load filter: %w", basePath, err)
}

// build compiles cfg into a libseccomp filter context (nothing reaches the
// kernel). usesNotify reports whether a SCMP_ACT_NOTIFY rule was added, i.e.
// whether loading it yields a listener fd.
func build(cfg *specs.LinuxSeccomp) (*libseccomp.ScmpFilter, bool, error) {
	level := apiLevel()
	defaultAction, err := parseAction(basePath+".defaultAction", cfg.DefaultAction,
		basePath+".defaultErrnoRet", cfg.DefaultErrnoRet, level)
	if err != nil {
		return nil, false, err
	}
	if defaultAction == libseccomp.ActNotify {
		// Every syscall of the init, including the ones that hand the
		// listener over, would wait for an agent that does not have it yet.
		return nil, false, fmt.Errorf("%s.defaultAction: SCMP_ACT_NOTIFY cannot be the default action", basePath)
	}

	filter, err := libseccomp.NewFilter(defaultAction)
	if err != nil {
		return nil, false, fmt.Errorf("%s: create filter: %w", basePath, err)
	}
	built := false
	defer func() {
		if !built {
			filter.Release()
		}
	}()

	// libseccomp sets no_new_privs at load time unless told otherwise; the
	// spec gives that decision to process.noNewPrivileges.
	if err := filter.SetNoNewPrivsBit(false); err != nil {
		return nil, false, fmt.Errorf("%s: clear the filter's no_new_privs attribute: %w", basePath, err)
	}
	for i, name := range cfg.Architectures {
		if err := addArch(filter, name); err != nil {
			return nil, false, fmt.Errorf("%s.architectures[%d]: %w", basePath, i, err)
		}
	}
	for i, flag := range cfg.Flags {
		if err := setFlag(filter, flag); err != nil {
			return nil, false, fmt.Errorf("%s.flags[%d]: %w", basePath, i, err)
		}
	}

	rules, usesNotify := 0, false
	for i := range cfg.Syscalls {
		added, notify, err := addSyscallRules(filter, fmt.Sprintf("%s.syscalls[%d]", basePath, i),
			&cfg.Syscalls[i], defaultAction, level)
		if err != nil {
			return nil, false, err
		}
		rules += added
		usesNotify = usesNotify || notify
	}
	if err := addClone3Fallback(filter, cfg, defaultAction); err != nil {
		return nil, false, err
	}
	if rules > optimizeAbove {
		if err := filter.SetOptimize(2); err != nil {
			// Only speed is at stake: the linear layout is equally correct.
			logrus.Debugf("seccomp: binary tree layout unavailable: %v", err)
		}
	}
	built = true
	return filter, usesNotify, nil
}

// addClone3Fallback makes clone3 fail with ENOSYS when the profile does
// not name it and its default action refuses. glibc (2.34 on) creates every
// thread with clone3 and falls back to clone only on ENOSYS: under a
// profile written before clone3 existed (the runtime-tools default, older
// Docker and podman profiles) the default EPERM would make every
// pthread_create fail, in the container's programs and in nsrun's own init
// between loading the filter and execve ("runtime/cgo: pthread_create
// failed: Operation not permitted"). The fallback to clone keeps the
// profile's clone rules in force. runc answers ENOSYS in the same case.
func addClone3Fallback(filter *libseccomp.ScmpFilter, cfg *specs.LinuxSeccomp, defaultAction libseccomp.ScmpAction) error {
	switch defaultAction & 0xFFFF { // the action without its return code
	case libseccomp.ActAllow, libseccomp.ActLog:
		return nil
	}
	for _, sc := range cfg.Syscalls {
		for _, name := range sc.Names {
			if name == "clone3" {
				return nil
			}
		}
	}
	nr, err := libseccomp.GetSyscallFromName("clone3")
	if err != nil {
		return nil // libseccomp too old to know it: nothing to add
	}
	if err := filter.AddRule(nr, libseccomp.ActErrno.SetReturnCode(int16(unix.ENOSYS))); err != nil {
		return fmt.Errorf("%s: add the clone3 ENOSYS fallback: %w", basePath, err)
	}
	return nil
}

func addArch(filter *libseccomp.ScmpFilter, name specs.Arch) error {
	arch, ok := lookupArch(name)
	if !ok {
		return fmt.Errorf("unknown architecture %q", name)
	}
	if err := filter.AddArch(arch); err != nil {
		return fmt.Errorf("%s cannot be added with libseccomp %s: %w", name, LibraryVersion(), err)
	}
	return nil
}

// parseAction resolves an action and its errno/trace value. errnoPath names
// the JSON field errnoRet came from.
func parseAction(path string, name specs.LinuxSeccompAction, errnoPath string, errnoRet *uint, level uint) (libseccomp.ScmpAction, error) {
	info, ok := lookupAction(name)
	if !ok {
		return libseccomp.ActInvalid, fmt.Errorf("%s: unknown action %q", path, name)
	}
	if level < info.minAPI {
		return libseccomp.ActInvalid, fmt.Errorf("%s: %s needs libseccomp API level %d (libseccomp %s with this kernel gives %d)",
			path, name, info.minAPI, LibraryVersion(), level)
	}
	if !info.takesErrno {
		if errnoRet != nil {
			return libseccomp.ActInvalid, fmt.Errorf("%s: only SCMP_ACT_ERRNO and SCMP_ACT_TRACE take a return value, not %s", errnoPath, name)
		}
		return info.act, nil
	}
	// EPERM when unset, as the spec says for ERRNO; runc does the same for
	// TRACE.
	code := uint(unix.EPERM)
	if errnoRet != nil {
		code = *errnoRet
	}
	if code > maxActionData {
		return libseccomp.ActInvalid, fmt.Errorf("%s: %d does not fit in 16 bits", errnoPath, code)
	}
	return info.act.SetReturnCode(int16(uint16(code))), nil
}

// addSyscallRules adds the rules of one syscalls[] entry and returns how
// many rules went in and whether one of them notifies.
func addSyscallRules(filter *libseccomp.ScmpFilter, path string, sc *specs.LinuxSyscall,
	defaultAction libseccomp.ScmpAction, level uint) (added int, notify bool, err error) {
	if len(sc.Names) == 0 {
		return 0, false, fmt.Errorf("%s.names: must not be empty", path)
	}
	action, err := parseAction(path+".action", sc.Action, path+".errnoRet", sc.ErrnoRet, level)
	if err != nil {
		return 0, false, err
	}
	conds, err := parseConditions(path, sc.Args)
	if err != nil {
		return 0, false, err
	}
	if action == libseccomp.ActNotify {
		for j, name := range sc.Names {
			if notifyForbidden[name] {
				return 0, false, fmt.Errorf("%s.names[%d]: SCMP_ACT_NOTIFY cannot be used for %q: the init needs it to hand the listener to the runtime", path, j, name)
			}
		}
	}
	// libseccomp refuses a rule that repeats the default action, and such a
	// rule changes nothing anyway.
	if action == defaultAction {
		return 0, false, nil
	}
	for j, name := range sc.Names {
		if name == "" {
			return 0, false, fmt.Errorf("%s.names[%d]: must not be empty", path, j)
		}
		call, err := libseccomp.GetSyscallFromName(name)
		if err != nil {
			// Profiles list syscalls of every kernel and architecture
			// at once; one this libseccomp cannot name for the native
			// architecture is skipped, as runc does.
			logrus.Debugf("seccomp: %s.names[%d]: syscall %q unknown here, skipped", path, j, name)
			continue
		}
		n, err := addRules(filter, call, action, conds)
		if err != nil {
			return 0, false, fmt.Errorf("%s.names[%d]: add rule for %q: %w", path, j, name, err)
		}
		added += n
	}
	return added, added > 0 && action == libseccomp.ActNotify, nil
}

// conditionGroup is a set of argument conditions and whether they are
// alternatives (OR, one rule each) or must all hold (AND, one rule).
type conditionGroup struct {
	conds []libseccomp.ScmpCondition
	ored  bool
}

// parseConditions follows the semantics runc gives to args: all conditions
// must hold, unless two of them test the same argument. A filter rule can
// test each argument only once, so profiles written for runc (Docker's
// personality rule, for one) rely on such conditions being alternatives.
func parseConditions(path string, args []specs.LinuxSeccompArg) (conditionGroup, error) {
	var g conditionGroup
	seen := make(map[uint]bool, len(args))
	for k, arg := range args {
		ap := fmt.Sprintf("%s.args[%d]", path, k)
		if arg.Index >= maxSyscallArgs {
			return g, fmt.Errorf("%s.index: %d out of range (syscalls take at most %d arguments)", ap, arg.Index, maxSyscallArgs)
		}
		op, ok := lookupOperator(arg.Op)
		if !ok {
			return g, fmt.Errorf("%s.op: unknown operator %q", ap, arg.Op)
		}
		values := []uint64{arg.Value}
		if op == libseccomp.CompareMaskedEqual {
			// value is the mask, valueTwo the expected masked value.
			values = append(values, arg.ValueTwo)
		}
		cond, err := libseccomp.MakeCondition(arg.Index, op, values...)
		if err != nil {
			return g, fmt.Errorf("%s: %w", ap, err)
		}
		if seen[arg.Index] {
			g.ored = true
		}
		seen[arg.Index] = true
		g.conds = append(g.conds, cond)
	}
	return g, nil
}

func addRules(filter *libseccomp.ScmpFilter, call libseccomp.ScmpSyscall, action libseccomp.ScmpAction, g conditionGroup) (int, error) {
	switch {
	case len(g.conds) == 0:
		return 1, filter.AddRule(call, action)
	case g.ored:
		for _, c := range g.conds {
			if err := filter.AddRuleConditional(call, action, []libseccomp.ScmpCondition{c}); err != nil {
				return 0, err
			}
		}
		return len(g.conds), nil
	default:
		return 1, filter.AddRuleConditional(call, action, g.conds)
	}
}

// HasNotify reports whether any rule of cfg uses SCMP_ACT_NOTIFY.
func HasNotify(cfg *specs.LinuxSeccomp) bool {
	if cfg == nil {
		return false
	}
	for _, sc := range cfg.Syscalls {
		if sc.Action == specs.ActNotify {
			return true
		}
	}
	return false
}
