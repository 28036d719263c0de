// Package x86 lowers the abstract vector machine (gen/vm) to amd64 through Avo:
// AVX-512 (zmm registers, opmask tails) and AVX2 with FMA3 (ymm registers, VMASKMOVPS tails).
// It is the only package besides cmd/asmgen that imports Avo.
package x86

import (
	"fmt"

	"github.com/mmcloughlin/avo/attr"
	"github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"

	"github.com/sparsegen/sparsegen/gen/vm"
)

// Level is an x86 vector ISA.
type Level int

const (
	AVX2 Level = iota
	AVX512
)

// Machine implements vm.Machine on one Avo build context (one output file).
type Machine struct {
	Ctx    *build.Context
	level  Level
	gps    []reg.GPVirtual
	vecs   []reg.VecVirtual
	kmasks []reg.Register // K registers (AVX-512) or ymm (AVX2)
	labels map[string]int
	fn     string
	tables map[string]operand.Mem
}

// New returns a machine writing into ctx.
func New(ctx *build.Context, l Level) *Machine {
	return &Machine{Ctx: ctx, level: l, tables: map[string]operand.Mem{}}
}

var _ vm.Machine = (*Machine)(nil)

func (m *Machine) ISA() string {
	if m.level == AVX512 {
		return "avx512"
	}
	return "avx2"
}

func (m *Machine) Lanes() int {
	if m.level == AVX512 {
		return 16
	}
	return 8
}

func (m *Machine) VecRegs() int {
	if m.level == AVX512 {
		return 32
	}
	return 16
}

func (m *Machine) Func(name, doc string, params []vm.Param) {
	m.gps, m.vecs, m.kmasks = nil, nil, nil
	m.labels = map[string]int{}
	m.fn = name
	m.Ctx.Function(name)
	if doc != "" {
		m.Ctx.Doc(doc)
	}
	m.Ctx.Pragma("noescape")
	m.Ctx.Attributes(attr.NOSPLIT)
	m.Ctx.SignatureExpr(vm.Signature(params))
}

func (m *Machine) Comment(format string, args ...any) { m.Ctx.Commentf(format, args...) }

func (m *Machine) Ret() {
	m.Ctx.VZEROUPPER()
	m.Ctx.RET()
}

func (m *Machine) GP() vm.Reg {
	m.gps = append(m.gps, m.Ctx.GP64())
	return vm.Reg(len(m.gps) - 1)
}

func (m *Machine) g(r vm.Reg) reg.GPVirtual { return m.gps[r] }

func (m *Machine) Param(name string) vm.Reg {
	r := m.GP()
	m.Ctx.Load(m.Ctx.Param(name), m.g(r))
	return r
}

func (m *Machine) MovImm(dst vm.Reg, v int64) {
	if v == 0 {
		m.Ctx.XORQ(m.g(dst), m.g(dst))
		return
	}
	if v >= -1<<31 && v < 1<<31 {
		m.Ctx.MOVQ(operand.I32(int32(v)), m.g(dst))
		return
	}
	m.Ctx.MOVQ(operand.I64(v), m.g(dst))
}

func (m *Machine) Mov(dst, src vm.Reg) { m.Ctx.MOVQ(m.g(src), m.g(dst)) }
func (m *Machine) Add(dst, src vm.Reg) { m.Ctx.ADDQ(m.g(src), m.g(dst)) }
func (m *Machine) Sub(dst, src vm.Reg) { m.Ctx.SUBQ(m.g(src), m.g(dst)) }
func (m *Machine) AddImm(dst vm.Reg, v int64) {
	vm.Check(v >= -1<<31 && v < 1<<31, "AddImm %d out of range", v)
	m.Ctx.ADDQ(operand.I32(int32(v)), m.g(dst))
}
func (m *Machine) Shl(dst vm.Reg, s int) { m.Ctx.SHLQ(operand.Imm(uint64(s)), m.g(dst)) }
func (m *Machine) Min(dst, src vm.Reg) {
	m.Ctx.CMPQ(m.g(src), m.g(dst))
	m.Ctx.CMOVQLT(m.g(src), m.g(dst))
}

func (m *Machine) mem(a vm.Mem) operand.Mem {
	o := operand.Mem{Base: m.g(a.Base), Disp: a.Disp}
	if a.Index >= 0 {
		vm.Check(a.Scale == 1 || a.Scale == 2 || a.Scale == 4 || a.Scale == 8, "scale %d", a.Scale)
		o.Index = m.g(a.Index)
		o.Scale = uint8(a.Scale)
	}
	return o
}

func (m *Machine) Lea(dst vm.Reg, a vm.Mem) { m.Ctx.LEAQ(m.mem(a), m.g(dst)) }

func (m *Machine) Load(dst vm.Reg, a vm.Mem, bytes int) {
	switch bytes {
	case 1:
		m.Ctx.MOVBQZX(m.mem(a), m.g(dst))
	case 2:
		m.Ctx.MOVWQZX(m.mem(a), m.g(dst))
	case 4:
		m.Ctx.MOVL(m.mem(a), m.g(dst).As32())
	case 8:
		m.Ctx.MOVQ(m.mem(a), m.g(dst))
	default:
		vm.Check(false, "load of %d bytes", bytes)
	}
}

func (m *Machine) Store(a vm.Mem, src vm.Reg, bytes int) {
	switch bytes {
	case 1:
		m.Ctx.MOVB(m.g(src).As8(), m.mem(a))
	case 2:
		m.Ctx.MOVW(m.g(src).As16(), m.mem(a))
	case 4:
		m.Ctx.MOVL(m.g(src).As32(), m.mem(a))
	case 8:
		m.Ctx.MOVQ(m.g(src), m.mem(a))
	default:
		vm.Check(false, "store of %d bytes", bytes)
	}
}

func (m *Machine) NewLabel(prefix string) vm.Label {
	m.labels[prefix]++
	return vm.Label(fmt.Sprintf("%s%d", prefix, m.labels[prefix]))
}

func (m *Machine) Bind(l vm.Label) { m.Ctx.Label(string(l)) }
func (m *Machine) Jmp(l vm.Label)  { m.Ctx.JMP(operand.LabelRef(string(l))) }

func (m *Machine) jcc(c vm.Cond, l vm.Label) {
	t := operand.LabelRef(string(l))
	switch c {
	case vm.LT:
		m.Ctx.JLT(t)
	case vm.LE:
		m.Ctx.JLE(t)
	case vm.GT:
		m.Ctx.JGT(t)
	case vm.GE:
		m.Ctx.JGE(t)
	case vm.EQ:
		m.Ctx.JEQ(t)
	case vm.NE:
		m.Ctx.JNE(t)
	}
}

func (m *Machine) Br(a vm.Reg, c vm.Cond, b vm.Reg, l vm.Label) {
	m.Ctx.CMPQ(m.g(a), m.g(b))
	m.jcc(c, l)
}

func (m *Machine) BrImm(a vm.Reg, c vm.Cond, v int64, l vm.Label) {
	vm.Check(v >= -1<<31 && v < 1<<31, "BrImm %d out of range", v)
	m.Ctx.CMPQ(m.g(a), operand.I32(int32(v)))
	m.jcc(c, l)
}

func (m *Machine) BrBits(a vm.Reg, bits int64, set bool, l vm.Label) {
	vm.Check(bits > 0 && bits < 1<<31, "BrBits %#x out of range", bits)
	m.Ctx.TESTQ(operand.U32(uint32(bits)), m.g(a))
	if set {
		m.jcc(vm.NE, l)
	} else {
		m.jcc(vm.EQ, l)
	}
}

func (m *Machine) Vec() vm.Vec {
	if m.level == AVX512 {
		m.vecs = append(m.vecs, m.Ctx.ZMM())
	} else {
		m.vecs = append(m.vecs, m.Ctx.YMM())
	}
	return vm.Vec(len(m.vecs) - 1)
}

func (m *Machine) v(v vm.Vec) reg.VecVirtual { return m.vecs[v] }

// Zero uses VPSUBD (AVX-512) / VPXOR (AVX2) v, v, v: zero idioms in hardware, and the forms
// Avo marks as cancelling inputs, so v is not live before it. (With VPXORD/VXORPS Avo sees a
// read: every accumulator would be live from the function's entry and large functions
// fail to allocate.)
func (m *Machine) Zero(v vm.Vec) {
	if m.level == AVX512 {
		m.Ctx.VPSUBD(m.v(v), m.v(v), m.v(v))
	} else {
		m.Ctx.VPXOR(m.v(v), m.v(v), m.v(v))
	}
}

func (m *Machine) Load1(v vm.Vec, a vm.Mem) { m.Ctx.VBROADCASTSS(m.mem(a), m.v(v)) }

func (m *Machine) ParamF32(v vm.Vec, name string) {
	b, err := m.Ctx.Param(name).Resolve()
	vm.Check(err == nil, "param %s: %v", name, err)
	m.Ctx.VBROADCASTSS(b.Addr, m.v(v))
}

func (m *Machine) LoadV(v vm.Vec, a vm.Mem)  { m.Ctx.VMOVUPS(m.mem(a), m.v(v)) }
func (m *Machine) StoreV(a vm.Mem, v vm.Vec) { m.Ctx.VMOVUPS(m.v(v), m.mem(a)) }

// table returns a file-local read-only data table, emitting it on first use.
func (m *Machine) table(name string, size int, datum func(off int) operand.Constant, step int) operand.Mem {
	if t, ok := m.tables[name]; ok {
		return t
	}
	t := m.Ctx.StaticGlobal(name)
	m.Ctx.DataAttributes(attr.RODATA | attr.NOPTR)
	for off := 0; off < size; off += step {
		m.Ctx.AddDatum(off, datum(off))
	}
	m.tables[name] = t
	return t
}

func (m *Machine) TailMask(n vm.Reg) vm.Mask {
	base := m.Ctx.GP64()
	if m.level == AVX512 {
		// tailmask16<>[n] = 2ⁿ − 1 as 16-bit words, n = 0..16.
		t := m.table("tailmask16", 34, func(off int) operand.Constant {
			return operand.U16(uint16(1<<(off/2) - 1))
		}, 2)
		m.Ctx.LEAQ(t, base)
		k := m.Ctx.K()
		m.Ctx.KMOVW(operand.Mem{Base: base, Index: m.g(n), Scale: 2}, k)
		m.kmasks = append(m.kmasks, k)
	} else {
		// tailmask8<> = eight −1 then eight 0 (int32): the window at 8−n has n ones.
		t := m.table("tailmask8", 64, func(off int) operand.Constant {
			if off < 32 {
				return operand.U32(0xffffffff)
			}
			return operand.U32(0)
		}, 4)
		m.Ctx.LEAQ(t, base)
		neg := m.Ctx.GP64()
		m.Ctx.MOVQ(m.g(n), neg)
		m.Ctx.NEGQ(neg)
		y := m.Ctx.YMM()
		m.Ctx.VMOVDQU(operand.Mem{Base: base, Index: neg, Scale: 4, Disp: 32}, y)
		m.kmasks = append(m.kmasks, y)
	}
	return vm.Mask(len(m.kmasks) - 1)
}

func (m *Machine) LoadVMask(v vm.Vec, a vm.Mem, k vm.Mask) {
	if m.level == AVX512 {
		m.Ctx.VMOVUPS_Z(m.mem(a), m.kmasks[k], m.v(v))
	} else {
		m.Ctx.VMASKMOVPS(m.mem(a), m.kmasks[k], m.v(v))
	}
}

func (m *Machine) StoreVMask(a vm.Mem, v vm.Vec, k vm.Mask) {
	if m.level == AVX512 {
		m.Ctx.VMOVUPS(m.v(v), m.kmasks[k], m.mem(a))
	} else {
		m.Ctx.VMASKMOVPS(m.v(v), m.kmasks[k], m.mem(a))
	}
}

// Go's operand order is Intel's reversed: VFMADD231PS b, a, acc is acc = a·b + acc.
func (m *Machine) FMA(acc, a, b vm.Vec) { m.Ctx.VFMADD231PS(m.v(b), m.v(a), m.v(acc)) }
func (m *Machine) FMAMem(acc, a vm.Vec, mm vm.Mem) {
	m.Ctx.VFMADD231PS(m.mem(mm), m.v(a), m.v(acc))
}
func (m *Machine) VAdd(dst, a vm.Vec)           { m.Ctx.VADDPS(m.v(a), m.v(dst), m.v(dst)) }
func (m *Machine) VAddMem(dst vm.Vec, a vm.Mem) { m.Ctx.VADDPS(m.mem(a), m.v(dst), m.v(dst)) }

// MAXPS/MINPS return their second Intel source (the first Go operand) when either is
// NaN, so the accumulator goes there and NaN propagates.
func (m *Machine) VMax(dst, bound vm.Vec) { m.Ctx.VMAXPS(m.v(dst), m.v(bound), m.v(dst)) }
func (m *Machine) VMin(dst, bound vm.Vec) { m.Ctx.VMINPS(m.v(dst), m.v(bound), m.v(dst)) }
