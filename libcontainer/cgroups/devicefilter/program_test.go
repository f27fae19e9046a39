package devicefilter

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/cilium/ebpf/asm"
	"github.com/opencontainers/runtime-spec/specs-go"
)

// decide is the reference semantics, written from the rule text alone: for
// each requested access letter the last matching rule naming it decides; a
// letter no matching rule names is allowed.
func decide(rules []specs.LinuxDeviceCgroup, typ byte, major, minor uint32, access string) bool {
	num := func(p *int64, v uint32) bool { return p == nil || *p == -1 || *p == int64(v) }
	for _, letter := range access {
		ok := true
		for _, r := range rules {
			t := r.Type
			if t == "" {
				t = "a"
			}
			a := r.Access
			if a == "" {
				a = "rwm"
			}
			if (t == "a" || t == string(typ)) && num(r.Major, major) && num(r.Minor, minor) && strings.ContainsRune(a, letter) {
				ok = r.Allow
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// ctxFor encodes struct bpf_cgroup_dev_ctx.
func ctxFor(typ byte, major, minor uint32, access string) []byte {
	var t, acc uint32
	switch typ {
	case 'b':
		t = devBlock
	case 'c':
		t = devChar
	}
	for _, l := range access {
		switch l {
		case 'm':
			acc |= accMknod
		case 'r':
			acc |= accRead
		case 'w':
			acc |= accWrite
		}
	}
	b := make([]byte, 12)
	binary.LittleEndian.PutUint32(b[0:], acc<<16|t)
	binary.LittleEndian.PutUint32(b[4:], major)
	binary.LittleEndian.PutUint32(b[8:], minor)
	return b
}

type rawInsn struct {
	op       uint8
	dst, src uint8
	off      int16
	imm      int32
}

// encode marshals insns as the kernel receives them (jumps resolved).
func encode(t testing.TB, insns asm.Instructions) []rawInsn {
	t.Helper()
	var buf bytes.Buffer
	if err := slices.Clone(insns).Marshal(&buf, binary.LittleEndian); err != nil {
		t.Fatalf("marshal: %v", err)
	}
	b := buf.Bytes()
	out := make([]rawInsn, 0, len(b)/8)
	for ; len(b) >= 8; b = b[8:] {
		out = append(out, rawInsn{
			op:  b[0],
			dst: b[1] & 0xf,
			src: b[1] >> 4,
			off: int16(binary.LittleEndian.Uint16(b[2:])),
			imm: int32(binary.LittleEndian.Uint32(b[4:])),
		})
	}
	return out
}

// eBPF encoding, the subset the generator may emit.
const (
	clsLDX   = 0x01
	clsALU   = 0x04
	clsJMP   = 0x05
	clsJMP32 = 0x06
	clsALU64 = 0x07

	srcX = 0x08

	aluAnd = 0x50
	aluLsh = 0x60
	aluRsh = 0x70
	aluMov = 0xb0

	jmpJA   = 0x00
	jmpJEQ  = 0x10
	jmpJSET = 0x40
	jmpJNE  = 0x50
	jmpEXIT = 0x90

	ldxMemW = 0x60 | 0x00 // BPF_MEM | BPF_W
)

// checkCFG mimics the verifier's structural checks: every jump lands inside
// the program, only forward jumps, nothing falls off the end, and every
// instruction is reachable.
func checkCFG(prog []rawInsn) error {
	reach := make([]bool, len(prog))
	reach[0] = true
	for pc, ins := range prog {
		if !reach[pc] {
			return fmt.Errorf("insn %d is unreachable", pc)
		}
		cls := ins.op & 7
		next := []int{pc + 1}
		if cls == clsJMP || cls == clsJMP32 {
			switch ins.op & 0xf0 {
			case jmpEXIT:
				next = nil
			case jmpJA:
				next = []int{pc + 1 + int(ins.off)}
			default:
				next = append(next, pc+1+int(ins.off))
			}
		}
		for _, n := range next {
			if n <= pc || n >= len(prog) {
				return fmt.Errorf("insn %d: successor %d is out of range or backwards", pc, n)
			}
			reach[n] = true
		}
	}
	return nil
}

// run interprets prog on ctx. Registers are 64-bit; R1 points at ctx.
func run(prog []rawInsn, ctx []byte) (uint64, error) {
	var reg [11]uint64
	var set [11]bool
	const ctxReg = 1
	set[ctxReg] = true
	isCtx := [11]bool{ctxReg: true}
	read := func(pc int, r uint8) (uint64, error) {
		if r > 10 || !set[r] {
			return 0, fmt.Errorf("insn %d reads uninitialised r%d", pc, r)
		}
		if isCtx[r] {
			return 0, fmt.Errorf("insn %d uses the context pointer r%d as a scalar", pc, r)
		}
		return reg[r], nil
	}
	write := func(r uint8, v uint64) {
		reg[r], set[r], isCtx[r] = v, true, false
	}
	for pc, steps := 0, 0; ; steps++ {
		if pc < 0 || pc >= len(prog) || steps > 100000 {
			return 0, fmt.Errorf("pc %d out of range after %d steps", pc, steps)
		}
		ins := prog[pc]
		if ins.dst > 9 {
			return 0, fmt.Errorf("insn %d writes or reads r%d", pc, ins.dst)
		}
		switch cls := ins.op & 7; cls {
		case clsLDX:
			if ins.op != clsLDX|ldxMemW {
				return 0, fmt.Errorf("insn %d: unsupported load %#x", pc, ins.op)
			}
			if ins.src > 10 || !isCtx[ins.src] {
				return 0, fmt.Errorf("insn %d loads from r%d, not the context", pc, ins.src)
			}
			off := int(ins.off)
			if off < 0 || off+4 > len(ctx) || off%4 != 0 {
				return 0, fmt.Errorf("insn %d: bad context offset %d", pc, off)
			}
			write(ins.dst, uint64(binary.LittleEndian.Uint32(ctx[off:])))
			pc++
		case clsALU, clsALU64:
			var operand uint64
			if ins.op&srcX != 0 {
				v, err := read(pc, ins.src)
				if err != nil {
					return 0, err
				}
				operand = v
			} else {
				operand = uint64(int64(ins.imm)) // sign-extended
			}
			var v uint64
			if ins.op&0xf0 != aluMov {
				d, err := read(pc, ins.dst)
				if err != nil {
					return 0, err
				}
				v = d
			}
			if cls == clsALU {
				v, operand = uint64(uint32(v)), uint64(uint32(operand))
			}
			switch ins.op & 0xf0 {
			case aluMov:
				v = operand
			case aluAnd:
				v &= operand
			case aluLsh:
				v <<= operand & 63
			case aluRsh:
				v >>= operand & 63
			default:
				return 0, fmt.Errorf("insn %d: unsupported ALU op %#x", pc, ins.op)
			}
			if cls == clsALU {
				v = uint64(uint32(v)) // 32-bit ops zero-extend
			}
			write(ins.dst, v)
			pc++
		case clsJMP, clsJMP32:
			op := ins.op & 0xf0
			if op == jmpEXIT {
				if cls != clsJMP {
					return 0, fmt.Errorf("insn %d: exit in JMP32 class", pc)
				}
				v, err := read(pc, 0)
				return v, err
			}
			if op == jmpJA {
				pc += 1 + int(ins.off)
				continue
			}
			d, err := read(pc, ins.dst)
			if err != nil {
				return 0, err
			}
			var s uint64
			if ins.op&srcX != 0 {
				if s, err = read(pc, ins.src); err != nil {
					return 0, err
				}
			} else {
				s = uint64(int64(ins.imm))
			}
			if cls == clsJMP32 {
				d, s = uint64(uint32(d)), uint64(uint32(s))
			}
			var taken bool
			switch op {
			case jmpJEQ:
				taken = d == s
			case jmpJNE:
				taken = d != s
			case jmpJSET:
				taken = d&s != 0
			default:
				return 0, fmt.Errorf("insn %d: unsupported jump %#x", pc, ins.op)
			}
			pc++
			if taken {
				pc += int(ins.off)
			}
		default:
			return 0, fmt.Errorf("insn %d: unsupported class in opcode %#x", pc, ins.op)
		}
	}
}

// program builds, encodes and structurally checks the program for rules.
func program(t testing.TB, rules []specs.LinuxDeviceCgroup) []rawInsn {
	t.Helper()
	insns, err := Instructions(rules)
	if err != nil {
		t.Fatalf("Instructions(%s): %v", fmtRules(rules), err)
	}
	prog := encode(t, insns)
	if err := checkCFG(prog); err != nil {
		t.Fatalf("rules %s: %v\n%v", fmtRules(rules), err, insns)
	}
	return prog
}

func i64(v int64) *int64 { return &v }

func dev(allow bool, typ string, major, minor *int64, access string) specs.LinuxDeviceCgroup {
	return specs.LinuxDeviceCgroup{Allow: allow, Type: typ, Major: major, Minor: minor, Access: access}
}

func fmtRules(rules []specs.LinuxDeviceCgroup) string {
	var parts []string
	for _, r := range rules {
		n := func(p *int64) string {
			if p == nil {
				return "nil"
			}
			return fmt.Sprint(*p)
		}
		verb := "deny"
		if r.Allow {
			verb = "allow"
		}
		parts = append(parts, fmt.Sprintf("%s %q %s:%s %q", verb, r.Type, n(r.Major), n(r.Minor), r.Access))
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

var (
	denyAll  = dev(false, "a", nil, nil, "rwm")
	allowAll = dev(true, "a", nil, nil, "rwm")
)

type probe struct {
	typ          byte
	major, minor uint32
	access       string
	want         bool
}

func TestSemantics(t *testing.T) {
	tests := []struct {
		name   string
		rules  []specs.LinuxDeviceCgroup
		probes []probe
	}{
		{
			name:  "empty allows everything",
			rules: nil,
			probes: []probe{
				{'c', 1, 3, "rwm", true}, {'b', 8, 0, "w", true}, {'c', 1, 5, "m", true},
			},
		},
		{
			name:  "deny all then allow null",
			rules: []specs.LinuxDeviceCgroup{denyAll, dev(true, "c", i64(1), i64(3), "rwm")},
			probes: []probe{
				{'c', 1, 3, "rw", true}, {'c', 1, 3, "m", true},
				{'c', 1, 5, "r", false}, {'b', 1, 3, "r", false}, {'c', 1, 4, "m", false},
			},
		},
		{
			name:  "allow all, deny write of null",
			rules: []specs.LinuxDeviceCgroup{allowAll, dev(false, "c", i64(1), i64(3), "w")},
			probes: []probe{
				{'c', 1, 3, "rw", false}, {'c', 1, 3, "r", true}, {'c', 1, 3, "w", false},
				{'c', 1, 3, "m", true}, {'c', 1, 5, "rw", true}, {'b', 1, 3, "w", true},
			},
		},
		{
			name:  "a later allow of fewer bits overrides only those bits",
			rules: []specs.LinuxDeviceCgroup{dev(false, "c", i64(1), i64(3), "rwm"), dev(true, "c", i64(1), i64(3), "r")},
			probes: []probe{
				{'c', 1, 3, "r", true}, {'c', 1, 3, "w", false}, {'c', 1, 3, "rw", false}, {'c', 1, 3, "m", false},
			},
		},
		{
			name:  "last rule wins",
			rules: []specs.LinuxDeviceCgroup{dev(true, "c", i64(1), i64(3), "rwm"), dev(false, "c", i64(1), i64(3), "")},
			probes: []probe{
				{'c', 1, 3, "r", false}, {'c', 1, 3, "m", false}, {'c', 1, 4, "r", true},
			},
		},
		{
			name:  "wildcard minor, type a with a major",
			rules: []specs.LinuxDeviceCgroup{denyAll, dev(true, "a", i64(1), nil, "rw"), dev(false, "b", i64(1), i64(-1), "w")},
			probes: []probe{
				{'c', 1, 9, "rw", true}, {'b', 1, 9, "r", true}, {'b', 1, 9, "rw", false},
				{'c', 1, 9, "m", false}, {'c', 2, 9, "r", false},
			},
		},
		{
			name:  "mknod of any char device",
			rules: []specs.LinuxDeviceCgroup{denyAll, dev(true, "c", nil, nil, "m"), dev(true, "b", nil, nil, "m")},
			probes: []probe{
				{'c', 136, 0, "m", true}, {'b', 8, 1, "m", true}, {'c', 136, 0, "r", false}, {'b', 8, 1, "mw", false},
			},
		},
		{
			name:  "device numbers past the int32 range",
			rules: []specs.LinuxDeviceCgroup{denyAll, dev(true, "c", i64(0xffffffff), i64(0x80000000), "r")},
			probes: []probe{
				{'c', 0xffffffff, 0x80000000, "r", true}, {'c', 0x7fffffff, 0x80000000, "r", false},
				{'c', 0xffffffff, 0, "r", false},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			prog := program(t, tc.rules)
			for _, p := range tc.probes {
				if got := decide(tc.rules, p.typ, p.major, p.minor, p.access); got != p.want {
					t.Errorf("decide(%c %d:%d %s) = %v, want %v", p.typ, p.major, p.minor, p.access, got, p.want)
				}
				ret, err := run(prog, ctxFor(p.typ, p.major, p.minor, p.access))
				if err != nil {
					t.Fatalf("run: %v", err)
				}
				if got := ret == 1; got != p.want || ret > 1 {
					t.Errorf("program(%c %d:%d %s) = %d, want allow=%v", p.typ, p.major, p.minor, p.access, ret, p.want)
				}
			}
		})
	}
}

// TestProgramMatchesReference runs the generated program against decide for
// random rule lists over a grid of devices and every access combination.
func TestProgramMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	types := []string{"", "a", "b", "c"}
	nums := [][]*int64{
		{nil, i64(-1), i64(0), i64(1), i64(5), i64(0x80000001)},
		{nil, i64(-1), i64(0), i64(3), i64(5), i64(0xffffffff)},
	}
	devMajors := []uint32{0, 1, 5, 7, 0x80000001}
	devMinors := []uint32{0, 3, 5, 0xffffffff}
	var accesses []string
	for mask := 0; mask < 8; mask++ {
		var s string
		for i, l := range "mrw" {
			if mask&(1<<i) != 0 {
				s += string(l)
			}
		}
		accesses = append(accesses, s)
	}
	randAccess := func() string {
		if rng.IntN(6) == 0 {
			return ""
		}
		letters := []byte("rwm")
		rng.Shuffle(len(letters), func(i, j int) { letters[i], letters[j] = letters[j], letters[i] })
		return string(letters[:1+rng.IntN(3)])
	}
	for n := 0; n < 3000; n++ {
		rules := make([]specs.LinuxDeviceCgroup, rng.IntN(9))
		for i := range rules {
			rules[i] = dev(rng.IntN(2) == 0, types[rng.IntN(len(types))],
				nums[0][rng.IntN(len(nums[0]))], nums[1][rng.IntN(len(nums[1]))], randAccess())
		}
		prog := program(t, rules)
		for _, typ := range []byte{'b', 'c'} {
			for _, major := range devMajors {
				for _, minor := range devMinors {
					for _, access := range accesses {
						want := decide(rules, typ, major, minor, access)
						ret, err := run(prog, ctxFor(typ, major, minor, access))
						if err != nil {
							t.Fatalf("rules %s: run: %v", fmtRules(rules), err)
						}
						if ret > 1 || (ret == 1) != want {
							t.Fatalf("rules %s, %c %d:%d %q: program returned %d, reference allow=%v",
								fmtRules(rules), typ, major, minor, access, ret, want)
						}
					}
				}
			}
		}
	}
}

func TestProgramSize(t *testing.T) {
	// Empty: the context loads, mov r0 1, exit.
	if n := len(program(t, nil)); n != 8 {
		t.Errorf("empty rules: %d instructions, want 8", n)
	}
	// A typical container list: deny all, then allow a dozen devices.
	rules := []specs.LinuxDeviceCgroup{denyAll}
	for minor := int64(0); minor < 12; minor++ {
		rules = append(rules, dev(true, "c", i64(1), i64(minor), "rwm"))
	}
	n := len(program(t, rules))
	// Per bit: skip test (2) + deny-all (1) + 3 per allow rule (type,
	// major, minor); plus the prologue (6), the allow and deny exits (4).
	if want := 3*(2+1+3*12) + 6 + 4; n != want {
		t.Errorf("deny-all + 12 allows: %d instructions, want %d", n, want)
	}
	// Rules before a deny-all are unreachable and emit nothing.
	shadowed := append([]specs.LinuxDeviceCgroup{dev(true, "c", i64(9), i64(9), "rwm")}, rules...)
	if m := len(program(t, shadowed)); m != n {
		t.Errorf("a rule before deny-all added %d instructions", m-n)
	}
}

func TestValidate(t *testing.T) {
	ok := [][]specs.LinuxDeviceCgroup{
		nil,
		{dev(true, "", nil, nil, "")},
		{dev(false, "a", i64(-1), i64(-1), "mrw"), dev(true, "b", i64(0), i64(0xffffffff), "w")},
	}
	for _, rules := range ok {
		if err := Validate(rules); err != nil {
			t.Errorf("Validate(%s): %v", fmtRules(rules), err)
		}
	}
	bad := []struct {
		rules []specs.LinuxDeviceCgroup
		want  string
	}{
		{[]specs.LinuxDeviceCgroup{allowAll, allowAll, dev(true, "c", nil, nil, "rx")},
			`linux.resources.devices[2].access: "rx" has an unknown access letter 'x'`},
		{[]specs.LinuxDeviceCgroup{dev(true, "z", nil, nil, "r")},
			`linux.resources.devices[0].type: "z" is not a device type`},
		{[]specs.LinuxDeviceCgroup{allowAll, dev(true, "c", i64(-2), nil, "r")},
			`linux.resources.devices[1].major: -2 is not a device number`},
		{[]specs.LinuxDeviceCgroup{dev(true, "c", i64(1), i64(1<<32), "r")},
			`linux.resources.devices[0].minor: 4294967296 is out of range`},
	}
	for _, tc := range bad {
		err := Validate(tc.rules)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("Validate(%s) = %v, want prefix %q", fmtRules(tc.rules), err, tc.want)
		}
		if _, err2 := Instructions(tc.rules); err2 == nil || err2.Error() != err.Error() {
			t.Errorf("Instructions(%s) error %v differs from Validate's %v", fmtRules(tc.rules), err2, err)
		}
	}
}

// TestInterpreterRejects makes sure the test interpreter and CFG check are
// not vacuous.
func TestInterpreterRejects(t *testing.T) {
	cases := map[string]asm.Instructions{
		"uninitialised r0": {asm.Return()},
		"unreachable":      {asm.Mov.Imm(asm.R0, 1), asm.Return(), asm.Mov.Imm(asm.R0, 0), asm.Return()},
		"falls off":        {asm.Mov.Imm(asm.R0, 1)},
		"ctx out of range": {asm.LoadMem(asm.R0, asm.R1, 12, asm.Word), asm.Return()},
	}
	for name, insns := range cases {
		prog := encode(t, insns)
		if checkCFG(prog) == nil {
			if _, err := run(prog, ctxFor('c', 1, 3, "r")); err == nil {
				t.Errorf("%s: accepted", name)
			}
		}
	}
}
