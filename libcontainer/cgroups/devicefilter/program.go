// Package devicefilter enforces an OCI linux.resources.devices rule list on
// cgroup v2, where the devices controller is replaced by a
// BPF_PROG_TYPE_CGROUP_DEVICE program attached to the cgroup directory.
//
// program.go turns the rules into instructions and has no side effects;
// attach.go loads the program and swaps it in on a cgroup directory.
//
// Semantics (docs/devices-v2.md): the rules are read as cgroup v1's
// devices.allow / devices.deny writes, in order, on a cgroup that starts out
// allowing everything. For each access bit a request carries (mknod, read,
// write) the last rule that matches the device and names that bit decides;
// a bit that no matching rule names is allowed. A request is allowed only if
// each of its bits is.
package devicefilter

import (
	"fmt"
	"math"
	"strconv"

	"github.com/cilium/ebpf/asm"
	"github.com/opencontainers/runtime-spec/specs-go"
)

// The program's context, struct bpf_cgroup_dev_ctx:
//
//	u32 access_type; // access << 16 | device type
//	u32 major;
//	u32 minor;
const (
	ctxAccessType = 0
	ctxMajor      = 4
	ctxMinor      = 8

	devBlock = 1 // BPF_DEVCG_DEV_BLOCK
	devChar  = 2 // BPF_DEVCG_DEV_CHAR

	accMknod = 1 // BPF_DEVCG_ACC_MKNOD
	accRead  = 2 // BPF_DEVCG_ACC_READ
	accWrite = 4 // BPF_DEVCG_ACC_WRITE
)

// accessBits lists the bits in the order the program tests them.
var accessBits = [...]uint32{accMknod, accRead, accWrite}

// rule is one validated entry of linux.resources.devices.
type rule struct {
	allow  bool
	typ    uint32 // 0 (any), devBlock or devChar
	major  int64  // -1 is any
	minor  int64  // -1 is any
	access uint32 // accMknod|accRead|accWrite
}

// matchesEverything reports whether r matches every device.
func (r rule) matchesEverything() bool {
	return r.typ == 0 && r.major == -1 && r.minor == -1
}

// Validate checks rules without building a program. The error names the
// offending field, e.g.
// `linux.resources.devices[2].access: "rx" has an unknown access letter 'x'`.
func Validate(rules []specs.LinuxDeviceCgroup) error {
	_, err := parseRules(rules)
	return err
}

func parseRules(rules []specs.LinuxDeviceCgroup) ([]rule, error) {
	out := make([]rule, 0, len(rules))
	for i, r := range rules {
		field := "linux.resources.devices[" + strconv.Itoa(i) + "]"
		p := rule{allow: r.Allow}
		switch r.Type {
		case "", "a":
		case "b":
			p.typ = devBlock
		case "c":
			p.typ = devChar
		default:
			return nil, fmt.Errorf("%s.type: %q is not a device type (a, b, c, or empty for a)", field, r.Type)
		}
		var err error
		if p.major, err = deviceNumber(r.Major); err != nil {
			return nil, fmt.Errorf("%s.major: %w", field, err)
		}
		if p.minor, err = deviceNumber(r.Minor); err != nil {
			return nil, fmt.Errorf("%s.minor: %w", field, err)
		}
		access := r.Access
		if access == "" {
			access = "rwm"
		}
		for _, c := range access {
			switch c {
			case 'm':
				p.access |= accMknod
			case 'r':
				p.access |= accRead
			case 'w':
				p.access |= accWrite
			default:
				return nil, fmt.Errorf("%s.access: %q has an unknown access letter %q (allowed: r, w, m)", field, r.Access, c)
			}
		}
		out = append(out, p)
	}
	return out, nil
}

// deviceNumber maps a major or minor to -1 (any) or a value that fits the
// u32 of the program context.
func deviceNumber(p *int64) (int64, error) {
	switch {
	case p == nil || *p == -1:
		return -1, nil
	case *p < 0:
		return 0, fmt.Errorf("%d is not a device number (-1 or no value means any)", *p)
	case *p > math.MaxUint32:
		return 0, fmt.Errorf("%d is out of range (at most %d)", *p, uint32(math.MaxUint32))
	}
	return *p, nil
}

// chain returns the rules that can decide bit, in the order the program
// checks them: last rule first, stopping at a rule that matches every device
// (nothing before it is reachable), and without the trailing run of allow
// rules (when none of the earlier deny rules match, the bit is allowed
// whether or not one of those matches).
func chain(rules []rule, bit uint32) []rule {
	var c []rule
	for i := len(rules) - 1; i >= 0; i-- {
		r := rules[i]
		if r.access&bit == 0 {
			continue
		}
		c = append(c, r)
		if r.matchesEverything() {
			break
		}
	}
	for len(c) > 0 && c[len(c)-1].allow {
		c = c[:len(c)-1]
	}
	return c
}

// Registers of the program.
const (
	regCtx     = asm.R1
	regType    = asm.R2
	regAccess  = asm.R3
	regMajor   = asm.R4
	regMinor   = asm.R5
	regScratch = asm.R6
)

const (
	labelAllow = "allow"
	labelDeny  = "deny"
)

// emitter appends instructions and places labels. Two labels at the same
// place become one symbol (an instruction carries only one); references to
// the other are rewritten by finish.
type emitter struct {
	insns   asm.Instructions
	pending string
	alias   map[string]string
	used    map[string]bool
}

func (e *emitter) label(name string) {
	if e.pending != "" {
		e.alias[name] = e.pending
		return
	}
	e.pending = name
}

func (e *emitter) emit(ins asm.Instruction) {
	if e.pending != "" {
		ins = ins.WithSymbol(e.pending)
		e.pending = ""
	}
	if ref := ins.Reference(); ref != "" {
		e.used[ref] = true
	}
	e.insns = append(e.insns, ins)
}

func (e *emitter) finish() asm.Instructions {
	for i, ins := range e.insns {
		if to, ok := e.alias[ins.Reference()]; ok {
			e.insns[i] = ins.WithReference(to)
		}
	}
	return e.insns
}

// Instructions builds the BPF_PROG_TYPE_CGROUP_DEVICE program for rules
// (config order). It returns 1 (allow) or 0 (deny). Jumps are symbolic;
// asm.Instructions.Marshal and ebpf.NewProgram resolve them.
//
// Layout: load the context, then one block per access bit. A block is
// skipped when the request lacks the bit; otherwise it checks the bit's
// rules last to first and jumps to the next block on the first allow match,
// to "deny" on the first deny match, and falls through when none matches.
func Instructions(rules []specs.LinuxDeviceCgroup) (asm.Instructions, error) {
	parsed, err := parseRules(rules)
	if err != nil {
		return nil, err
	}
	e := &emitter{alias: map[string]string{}, used: map[string]bool{}}
	e.emit(asm.LoadMem(regType, regCtx, ctxAccessType, asm.Word))
	e.emit(asm.Mov.Reg32(regAccess, regType))
	e.emit(asm.RSh.Imm32(regAccess, 16))
	e.emit(asm.And.Imm32(regType, 0xffff))
	e.emit(asm.LoadMem(regMajor, regCtx, ctxMajor, asm.Word))
	e.emit(asm.LoadMem(regMinor, regCtx, ctxMinor, asm.Word))

	for b, bit := range accessBits {
		c := chain(parsed, bit)
		if len(c) == 0 {
			continue
		}
		check := fmt.Sprintf("bit%d", b)
		done := fmt.Sprintf("bit%d_done", b)
		e.emit(asm.JSet.Imm(regAccess, int32(bit), check))
		e.emit(asm.Ja.Label(done))
		e.label(check)
		for i, r := range c {
			next := done
			if i < len(c)-1 {
				next = fmt.Sprintf("bit%d_rule%d", b, i+1)
			}
			decision := labelDeny
			if r.allow {
				decision = done
			}
			emitMatch(e, r, next, decision)
			if next != done {
				e.label(next)
			}
		}
		e.label(done)
	}

	e.label(labelAllow)
	e.emit(asm.Mov.Imm(asm.R0, 1))
	e.emit(asm.Return())
	if e.used[labelDeny] {
		e.label(labelDeny)
		e.emit(asm.Mov.Imm(asm.R0, 0))
		e.emit(asm.Return())
	}
	return e.finish(), nil
}

// emitMatch jumps to match when the context's device matches r and to (or
// falls through to) noMatch otherwise.
func emitMatch(e *emitter, r rule, noMatch, match string) {
	type cond struct {
		reg asm.Register
		val int64
	}
	var conds []cond
	if r.typ != 0 {
		conds = append(conds, cond{regType, int64(r.typ)})
	}
	if r.major != -1 {
		conds = append(conds, cond{regMajor, r.major})
	}
	if r.minor != -1 {
		conds = append(conds, cond{regMinor, r.minor})
	}
	if len(conds) == 0 {
		e.emit(asm.Ja.Label(match))
		return
	}
	for i, c := range conds {
		op, to := asm.JNE, noMatch
		if i == len(conds)-1 {
			op, to = asm.JEq, match
		}
		if c.val <= math.MaxInt32 {
			e.emit(op.Imm(c.reg, int32(c.val), to))
			continue
		}
		// A 64-bit compare sign-extends its immediate, so a value with
		// bit 31 set goes through a register: a 32-bit mov zero-extends.
		e.emit(asm.Mov.Imm32(regScratch, int32(uint32(c.val))))
		e.emit(op.Reg(c.reg, regScratch, to))
	}
}
