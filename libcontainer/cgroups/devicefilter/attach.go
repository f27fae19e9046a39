package devicefilter

import (
	"errors"
	"fmt"
	"os"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// ErrUnsupported is wrapped by the errors of Apply and Supported when the
// kernel cannot load or attach BPF_PROG_TYPE_CGROUP_DEVICE programs (no
// bpf(2), or a kernel built without CONFIG_CGROUP_BPF). A cgroup v2 manager
// can then refuse linux.resources.devices, or ignore it where the rules are
// optional (rootless).
var ErrUnsupported = errors.New("kernel lacks BPF cgroup device programs (CONFIG_BPF_SYSCALL, CONFIG_CGROUP_BPF)")

// programName shows in bpftool's listing; at most 15 characters.
const programName = "nsrun_devices"

// Supported reports whether the kernel can load a cgroup device program:
// nil, an error wrapping ErrUnsupported, or another error (for example
// EPERM without CAP_BPF/CAP_SYS_ADMIN). It loads (and frees) a two
// instruction program each time; the answer is not cached.
func Supported() error {
	p, err := ebpf.NewProgramWithOptions(&ebpf.ProgramSpec{
		Type:         ebpf.CGroupDevice,
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 1), asm.Return()},
		License:      "Apache-2.0",
	}, ebpf.ProgramOptions{LogDisabled: true})
	if err == nil {
		return p.Close()
	}
	// For this trivial program EINVAL can only mean an unknown program
	// type: a kernel without CONFIG_CGROUP_BPF.
	if unsupported(err) || errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("%w: %w", ErrUnsupported, err)
	}
	return fmt.Errorf("probe BPF cgroup device programs: %w", err)
}

func unsupported(err error) bool {
	return errors.Is(err, ebpf.ErrNotSupported) || errors.Is(err, unix.ENOSYS)
}

// Apply loads the program for rules and attaches it to the cgroup v2
// directory dir with BPF_F_ALLOW_MULTI, then detaches every other cgroup
// device program that was attached to dir before (as queried before the
// attach). While both are attached the kernel allows an access only if
// both allow it, so at no moment is the cgroup less restricted than the old
// or the new rule set. Apply is idempotent; use it at create and on update.
//
// A program attached without BPF_F_ALLOW_MULTI (by an older runtime) is
// replaced in place instead: the kernel refuses to mix the two modes on one
// cgroup, and a non-multi attach swaps the single program atomically.
func Apply(dir string, rules []specs.LinuxDeviceCgroup) error {
	if err := apply(dir, rules); err != nil {
		return fmt.Errorf("attach device filter to %s: %w", dir, err)
	}
	return nil
}

func apply(dir string, rules []specs.LinuxDeviceCgroup) error {
	insns, err := Instructions(rules)
	if err != nil {
		return err
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(fd)
	var st unix.Statfs_t
	if err := unix.Fstatfs(fd, &st); err != nil {
		return &os.PathError{Op: "statfs", Path: dir, Err: err}
	}
	if st.Type != unix.CGROUP2_SUPER_MAGIC {
		return fmt.Errorf("%s is not a cgroup2 directory", dir)
	}

	old, err := attached(fd)
	if err != nil {
		return err
	}

	prog, err := ebpf.NewProgramWithOptions(&ebpf.ProgramSpec{
		Name:         programName,
		Type:         ebpf.CGroupDevice,
		Instructions: insns,
		License:      "Apache-2.0",
	}, ebpf.ProgramOptions{})
	if err != nil {
		if unsupported(err) || (errors.Is(err, unix.EINVAL) && Supported() != nil) {
			return fmt.Errorf("%w: load program: %w", ErrUnsupported, err)
		}
		return fmt.Errorf("load program: %w", err)
	}
	defer prog.Close() // the cgroup holds its own reference once attached

	err = link.RawAttachProgram(link.RawAttachProgramOptions{
		Target:  fd,
		Program: prog,
		Attach:  ebpf.AttachCGroupDevice,
		Flags:   unix.BPF_F_ALLOW_MULTI,
	})
	if errors.Is(err, unix.EPERM) && len(old) == 1 {
		// The one program there was attached without ALLOW_MULTI (with no
		// flags, or ALLOW_OVERRIDE): attaching with the same flags replaces
		// it in one step. EPERM also means a non-overridable program on an
		// ancestor; then these attempts fail the same way.
		for _, flags := range []uint32{0, unix.BPF_F_ALLOW_OVERRIDE} {
			e := link.RawAttachProgram(link.RawAttachProgramOptions{
				Target:  fd,
				Program: prog,
				Attach:  ebpf.AttachCGroupDevice,
				Flags:   flags,
			})
			if e == nil {
				return nil
			}
		}
	}
	if err != nil {
		if unsupported(err) {
			return fmt.Errorf("%w: %w", ErrUnsupported, err)
		}
		if errors.Is(err, unix.EPERM) {
			return fmt.Errorf("%w (no CAP_SYS_ADMIN, or a program attached without BPF_F_ALLOW_MULTI to %s or an ancestor forbids it)", err, dir)
		}
		return err
	}

	var errs []error
	for _, id := range old {
		if err := detach(fd, id); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// attached lists the cgroup device programs attached to the cgroup open at
// fd itself (not those inherited from ancestors).
func attached(fd int) ([]ebpf.ProgramID, error) {
	res, err := link.QueryPrograms(link.QueryOptions{Target: fd, Attach: ebpf.AttachCGroupDevice})
	if err != nil {
		if unsupported(err) {
			return nil, fmt.Errorf("%w: %w", ErrUnsupported, err)
		}
		return nil, err
	}
	ids := make([]ebpf.ProgramID, 0, len(res.Programs))
	for _, p := range res.Programs {
		ids = append(ids, p.ID)
	}
	return ids, nil
}

// detach removes program id from the cgroup open at fd. A program that is
// gone already (freed, or detached by someone else) is fine.
func detach(fd int, id ebpf.ProgramID) error {
	p, err := ebpf.NewProgramFromID(id)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("detach old program %d: %w", id, err)
	}
	defer p.Close()
	err = link.RawDetachProgram(link.RawDetachProgramOptions{
		Target:  fd,
		Program: p,
		Attach:  ebpf.AttachCGroupDevice,
	})
	if err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("detach old program %d: %w", id, err)
	}
	return nil
}
