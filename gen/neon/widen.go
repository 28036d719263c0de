package neon

import (
	"fmt"

	"github.com/sparsegen/sparsegen/gen/vm"
)

// The vm.WidenMachine load (gen/vm/widen.go) on NEON: one LDR of the stored bytes of four
// lanes, then bf16: UXTL + SHL #16 (a bf16 is a float32's high half); fp16: FCVTL; int8:
// SXTL twice and SCVTF (exact). FCVTL, SXTL and SCVTF are WORD-encoded (Go 1.26's
// assembler lacks them), with the GNU spelling as for the other WORD instructions.

var _ vm.WidenMachine = (*Machine)(nil)

// LoadWiden records a widening load of Lanes() elements of type e at a.
func (m *Machine) LoadWiden(v vm.Vec, a vm.Mem, e vm.Elem) {
	vm.Check(e == vm.ElemBF16 || e == vm.ElemF16 || e == vm.ElemI8, "neon: LoadWiden of %v", e)
	m.add(op{k: oLoadWiden, v: []vm.Vec{v}, mem: a, n: int(e)})
}

// LoadWidenMask records a widening load whose lanes from k's count on are cleared.
func (m *Machine) LoadWidenMask(v vm.Vec, a vm.Mem, e vm.Elem, k vm.Mask) {
	vm.Check(e == vm.ElemBF16 || e == vm.ElemF16 || e == vm.ElemI8, "neon: LoadWidenMask of %v", e)
	m.add(op{k: oLoadWidenMask, v: []vm.Vec{v}, r: []vm.Reg{m.maskReg(k)}, mem: a, n: int(e)})
}

// Load1Widen records a broadcast of one widened element.
func (m *Machine) Load1Widen(v vm.Vec, a vm.Mem, e vm.Elem) {
	vm.Check(e == vm.ElemBF16 || e == vm.ElemF16 || e == vm.ElemI8, "neon: Load1Widen of %v", e)
	m.add(op{k: oLoad1Widen, v: []vm.Vec{v}, mem: a, n: int(e)})
}

// lowerWiden1 emits a recorded Load1Widen through R16: bf16 LDRH, LSL #16, DUP 4S; fp16
// LDRH, DUP 4H, FCVTL; int8 LDRB, DUP 8B, SXTL twice, SCVTF.
func (l *lower) lowerWiden1(o *op) {
	e := l.f.Emitter
	d := l.v(o.v[0])
	size := vm.Elem(o.n).Bytes()
	r, off := l.addr(o.mem, scaled(size), false)
	switch vm.Elem(o.n) {
	case vm.ElemBF16:
		e.Load(LoadHU, M(r, off), regTmp)
		e.LSL(16, regTmp, regTmp)
		e.VDUPGen(regTmp, d.S4())
	case vm.ElemF16:
		e.Load(LoadHU, M(r, off), regTmp)
		e.VDUPGen(regTmp, d.H4())
		e.FCVTL(d, d)
	case vm.ElemI8:
		e.Load(LoadBU, M(r, off), regTmp)
		e.VDUPGen(regTmp, d.B8())
		e.SXTL(d.B8(), d.H8())
		e.SXTL(d.H4(), d.S4())
		e.SCVTF(d, d)
	}
}

// lowerWiden emits a recorded LoadWiden or LoadWidenMask. The masked form widens the whole
// vector (the caller pads its stream), then clears the lanes at and past the count n
// (1..4) with INS from a zeroed R16: lane 3 unless n = 4, lane 2 unless n ≥ 3, lane 1 when
// n = 1.
func (l *lower) lowerWiden(o *op) {
	e := l.f.Emitter
	d := l.v(o.v[0])
	switch vm.Elem(o.n) {
	case vm.ElemBF16:
		r, off := l.addr(o.mem, scaled(8), true)
		e.FMOVDLoad(M(r, off), d)
		e.VUXTL(d.H4(), d.S4())
		e.VSHL(16, d.S4(), d.S4())
	case vm.ElemF16:
		r, off := l.addr(o.mem, scaled(8), true)
		e.FMOVDLoad(M(r, off), d)
		e.FCVTL(d, d)
	case vm.ElemI8:
		r, off := l.addr(o.mem, scaled(4), true)
		e.FMOVSLoad(M(r, off), d)
		e.SXTL(d.B8(), d.H8())
		e.SXTL(d.H4(), d.S4())
		e.SCVTF(d, d)
	}
	if o.k != oLoadWidenMask {
		return
	}
	n := l.g(o.r[0])
	done, odd := l.label(), l.label()
	e.TBNZ(2, n, done)
	e.MOVD(ZR, regTmp)
	e.VMOVToLane(regTmp, d.S(3))
	e.TBNZ(0, n, odd)
	e.VMOVToLane(regTmp, d.S(2)) // n = 2
	e.B(done)
	e.Label(odd)
	e.TBNZ(1, n, done) // n = 3
	e.VMOVToLane(regTmp, d.S(2))
	e.VMOVToLane(regTmp, d.S(1))
	e.Label(done)
}

// FCVTL widens the four half-precision lanes of n (4H) to single precision in d (4S).
func (e *Emitter) FCVTL(n, d VReg) {
	w, err := EncFCVTL(d, n)
	e.word("FCVTL", ClassFArith, w, err, fmt.Sprintf("fcvtl %s, %s", d.S4().gnuStr(), n.H4().gnuStr()), []VReg{d}, n)
}

// SXTL sign-extends the low half of n into d: 8B → 8H or 4H → 4S (SSHLL #0).
func (e *Emitter) SXTL(n, d Vec) {
	w, err := EncSXTL(d, n)
	e.word("SXTL", ClassInt, w, err, fmt.Sprintf("sxtl %s, %s", d.gnuStr(), n.gnuStr()), []VReg{d.Reg}, n.Reg)
}

// SCVTF converts the four int32 lanes of n to float32 in d.
func (e *Emitter) SCVTF(n, d VReg) {
	w, err := EncSCVTF(d, n)
	e.word("SCVTF", ClassFArith, w, err, fmt.Sprintf("scvtf %s, %s", d.S4().gnuStr(), n.S4().gnuStr()), []VReg{d}, n)
}

// EncFCVTL encodes FCVTL Vd.4S, Vn.4H.
func EncFCVTL(d, n VReg) (uint32, error) {
	if !d.valid() || !n.valid() {
		return 0, fmt.Errorf("register out of range")
	}
	return 0x0E217800 | uint32(n)<<5 | uint32(d), nil
}

// EncSXTL encodes SXTL (SSHLL #0) Vd.8H, Vn.8B or Vd.4S, Vn.4H.
func EncSXTL(d, n Vec) (uint32, error) {
	if err := checkVecs(d, n); err != nil {
		return 0, err
	}
	switch {
	case n.Arr == B8 && d.Arr == H8:
		return 0x0F08A400 | uint32(n.Reg)<<5 | uint32(d.Reg), nil
	case n.Arr == H4 && d.Arr == S4:
		return 0x0F10A400 | uint32(n.Reg)<<5 | uint32(d.Reg), nil
	}
	return 0, fmt.Errorf("sxtl %s ← %s not allowed (8H ← 8B or 4S ← 4H)", d.Arr, n.Arr)
}

// EncSCVTF encodes SCVTF Vd.4S, Vn.4S.
func EncSCVTF(d, n VReg) (uint32, error) {
	if !d.valid() || !n.valid() {
		return 0, fmt.Errorf("register out of range")
	}
	return 0x4E21D800 | uint32(n)<<5 | uint32(d), nil
}
