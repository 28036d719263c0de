package neon

import (
	"fmt"
	"strings"
)

// Vector instructions. Native to Go's assembler: VLD1, VLD1R, VST1 (all addressing forms
// used here), VDUP, VMOV, VEOR, VFMLA, VFMLS, VADD, VSHL, VUXTL, PRFM. WORD-encoded (Go 1.26
// lacks them): FMLA/FMLS/FMUL by element, FADD, FSUB, FMUL, FMAX, FMIN, FMAXNM, FMINNM,
// FADDP (vector and scalar pairwise).

// list checks a register list for LD1/ST1: 1..4 registers, consecutive modulo 32, one
// arrangement.
func list(regs []Vec) error {
	if len(regs) < 1 || len(regs) > 4 {
		return fmt.Errorf("register list of %d registers (want 1..4)", len(regs))
	}
	if err := checkVecs(regs...); err != nil {
		return err
	}
	for i, r := range regs[1:] {
		if r.Arr != regs[0].Arr {
			return fmt.Errorf("register list mixes arrangements %s and %s", regs[0].Arr, r.Arr)
		}
		if int(r.Reg) != (int(regs[0].Reg)+i+1)%32 {
			return fmt.Errorf("register list %s… not consecutive at V%d", regs[0].goStr(), r.Reg)
		}
	}
	return nil
}

func listGo(regs []Vec) string {
	s := make([]string, len(regs))
	for i, r := range regs {
		s[i] = r.goStr()
	}
	return "[" + strings.Join(s, ", ") + "]"
}

func listGNU(regs []Vec) string {
	s := make([]string, len(regs))
	for i, r := range regs {
		s[i] = r.gnuStr()
	}
	return "{" + strings.Join(s, ", ") + "}"
}

func regsOf(vs []Vec) []VReg {
	out := make([]VReg, len(vs))
	for i, v := range vs {
		out[i] = v.Reg
	}
	return out
}

// addressing modes of the structure loads and stores
type amode uint8

const (
	amBase    amode = iota // [Xn]
	amPostImm              // [Xn], #size
	amPostReg              // [Xn], Xm
)

func (e *Emitter) ldst(op string, load bool, class Class, mode amode, base, inc Reg, goRegs, gnuRegs string, size int, vregs []VReg, err error) {
	if err == nil {
		err = checkGP(base, false)
	}
	if err == nil && mode == amPostReg {
		err = checkGP(inc, false)
	}
	if err != nil {
		e.fail(op, err)
		return
	}
	gop, gnu := "V"+op, strings.ToLower(op)+" "+gnuRegs+", "
	var addr string
	switch mode {
	case amBase:
		addr = fmt.Sprintf("(%s)", base)
		gnu += fmt.Sprintf("[%s]", base.x())
	case amPostImm:
		gop += ".P"
		addr = fmt.Sprintf("%d(%s)", size, base)
		gnu += fmt.Sprintf("[%s], #%d", base.x(), size)
	case amPostReg:
		gop += ".P"
		addr = fmt.Sprintf("(%s)(%s)", base, inc)
		gnu += fmt.Sprintf("[%s], %s", base.x(), inc.x())
	}
	in := Inst{Class: class, GNU: gnu}
	if load {
		in.Go = fmt.Sprintf("%s %s, %s", gop, addr, goRegs)
		in.Dst = vregs
	} else {
		in.Go = fmt.Sprintf("%s %s, %s", gop, goRegs, addr)
		in.Src = vregs
	}
	e.add(in)
}

func (e *Emitter) ld1(mode amode, base, inc Reg, regs []Vec) {
	err := list(regs)
	size := 0
	if err == nil {
		size = len(regs) * regs[0].Arr.Bytes()
	}
	e.ldst("LD1", true, ClassLoad, mode, base, inc, listGo(regs), listGNU(regs), size, regsOf(regs), err)
}

// VLD1 loads 1..4 consecutive vectors from base.
func (e *Emitter) VLD1(base Reg, regs ...Vec) { e.ld1(amBase, base, 0, regs) }

// VLD1Post loads 1..4 consecutive vectors from base and advances base past them.
func (e *Emitter) VLD1Post(base Reg, regs ...Vec) { e.ld1(amPostImm, base, 0, regs) }

// VLD1PostReg loads 1..4 consecutive vectors from base, then adds inc to base.
func (e *Emitter) VLD1PostReg(base, inc Reg, regs ...Vec) { e.ld1(amPostReg, base, inc, regs) }

func (e *Emitter) st1(mode amode, base, inc Reg, regs []Vec) {
	err := list(regs)
	size := 0
	if err == nil {
		size = len(regs) * regs[0].Arr.Bytes()
	}
	e.ldst("ST1", false, ClassStore, mode, base, inc, listGo(regs), listGNU(regs), size, regsOf(regs), err)
}

// VST1 stores 1..4 consecutive vectors at base.
func (e *Emitter) VST1(base Reg, regs ...Vec) { e.st1(amBase, base, 0, regs) }

// VST1Post stores 1..4 consecutive vectors at base and advances base past them.
func (e *Emitter) VST1Post(base Reg, regs ...Vec) { e.st1(amPostImm, base, 0, regs) }

// VST1PostReg stores 1..4 consecutive vectors at base, then adds inc to base.
func (e *Emitter) VST1PostReg(base, inc Reg, regs ...Vec) { e.st1(amPostReg, base, inc, regs) }

func (e *Emitter) ld1r(mode amode, base, inc Reg, d Vec) {
	err := d.check()
	e.ldst("LD1R", true, ClassLoadRep, mode, base, inc, listGo([]Vec{d}), listGNU([]Vec{d}), d.Arr.Size().Bytes(), []VReg{d.Reg}, err)
}

// VLD1R loads one element from base into every lane of d.
func (e *Emitter) VLD1R(base Reg, d Vec) { e.ld1r(amBase, base, 0, d) }

// VLD1RPost loads one element from base into every lane of d and advances base by its size.
func (e *Emitter) VLD1RPost(base Reg, d Vec) { e.ld1r(amPostImm, base, 0, d) }

// VLD1RPostReg loads one element from base into every lane of d, then adds inc to base.
func (e *Emitter) VLD1RPostReg(base, inc Reg, d Vec) { e.ld1r(amPostReg, base, inc, d) }

func (e *Emitter) lane(op string, load bool, mode amode, base, inc Reg, l Lane) {
	err := l.check()
	class := ClassLoadLane
	if !load {
		class = ClassStore
	}
	gnuRegs := fmt.Sprintf("{v%d.%s}[%d]", l.Reg, l.Size.gnuName(), l.Index)
	e.ldst(op, load, class, mode, base, inc, l.goStr(), gnuRegs, l.Size.Bytes(), []VReg{l.Reg}, err)
}

// VLD1Lane loads one element from base into lane l, keeping the other lanes.
func (e *Emitter) VLD1Lane(base Reg, l Lane) { e.lane("LD1", true, amBase, base, 0, l) }

// VLD1LanePost loads one element into lane l and advances base by its size.
func (e *Emitter) VLD1LanePost(base Reg, l Lane) { e.lane("LD1", true, amPostImm, base, 0, l) }

// VLD1LanePostReg loads one element into lane l, then adds inc to base.
func (e *Emitter) VLD1LanePostReg(base, inc Reg, l Lane) {
	e.lane("LD1", true, amPostReg, base, inc, l)
}

// VST1Lane stores lane l at base.
func (e *Emitter) VST1Lane(l Lane, base Reg) { e.lane("ST1", false, amBase, base, 0, l) }

// VST1LanePost stores lane l at base and advances base by its size.
func (e *Emitter) VST1LanePost(l Lane, base Reg) { e.lane("ST1", false, amPostImm, base, 0, l) }

// PrfOp is a prefetch operation.
type PrfOp string

const (
	PLDL1KEEP PrfOp = "PLDL1KEEP"
	PLDL1STRM PrfOp = "PLDL1STRM"
	PLDL2KEEP PrfOp = "PLDL2KEEP"
	PLDL2STRM PrfOp = "PLDL2STRM"
	PLDL3KEEP PrfOp = "PLDL3KEEP"
	PSTL1KEEP PrfOp = "PSTL1KEEP"
)

// PRFM prefetches the line at m (offset a multiple of 8 in 0..32760).
func (e *Emitter) PRFM(m Mem, op PrfOp) {
	switch op {
	case PLDL1KEEP, PLDL1STRM, PLDL2KEEP, PLDL2STRM, PLDL3KEEP, PSTL1KEEP:
	default:
		e.fail("PRFM", fmt.Errorf("unknown prefetch operation %q", op))
		return
	}
	if err := m.checkScaled(8); err != nil {
		e.fail("PRFM", err)
		return
	}
	e.add(Inst{Class: ClassPrefetch, Go: fmt.Sprintf("PRFM %s, %s", m.goStr(), op),
		GNU: fmt.Sprintf("prfm %s, %s", strings.ToLower(string(op)), m.gnuStr())})
}

// VDUPLane copies lane src into every lane of d.
func (e *Emitter) VDUPLane(src Lane, d Vec) {
	err := first(src.check(), d.check())
	if err == nil && src.Size != d.Arr.Size() {
		err = fmt.Errorf("lane size %s does not match arrangement %s", src.Size.goName(), d.Arr)
	}
	if err == nil && d.Arr == D1 {
		err = fmt.Errorf("DUP does not take D1")
	}
	if err != nil {
		e.fail("DUP", err)
		return
	}
	e.add(Inst{Class: ClassMove, Go: fmt.Sprintf("VDUP %s, %s", src.goStr(), d.goStr()),
		GNU: fmt.Sprintf("dup %s, %s", d.gnuStr(), src.gnuStr()), Dst: []VReg{d.Reg}, Src: []VReg{src.Reg}})
}

// VDUPGen copies general register src into every lane of d.
func (e *Emitter) VDUPGen(src Reg, d Vec) {
	err := first(checkGP(src, false), d.check())
	if err == nil && d.Arr == D1 {
		err = fmt.Errorf("DUP does not take D1")
	}
	if err != nil {
		e.fail("DUP", err)
		return
	}
	r := src.w()
	if d.Arr.Size() == SizeD {
		r = src.x()
	}
	e.add(Inst{Class: ClassMove, Go: fmt.Sprintf("VDUP %s, %s", src, d.goStr()),
		GNU: fmt.Sprintf("dup %s, %s", d.gnuStr(), r), Dst: []VReg{d.Reg}})
}

// VMOV copies vector src to d (B16 or B8).
func (e *Emitter) VMOV(src, d Vec) {
	err := checkVecs(src, d)
	if err == nil && (src.Arr != d.Arr || (d.Arr != B16 && d.Arr != B8)) {
		err = fmt.Errorf("vector MOV takes B16 or B8, not %s, %s", src.Arr, d.Arr)
	}
	if err != nil {
		e.fail("MOV", err)
		return
	}
	e.add(Inst{Class: ClassMove, Go: fmt.Sprintf("VMOV %s, %s", src.goStr(), d.goStr()),
		GNU: fmt.Sprintf("mov %s, %s", d.gnuStr(), src.gnuStr()), Dst: []VReg{d.Reg}, Src: []VReg{src.Reg}})
}

// VMOVToLane inserts general register src into lane d.
func (e *Emitter) VMOVToLane(src Reg, d Lane) {
	if err := first(checkGP(src, false), d.check()); err != nil {
		e.fail("INS", err)
		return
	}
	r := src.w()
	if d.Size == SizeD {
		r = src.x()
	}
	e.add(Inst{Class: ClassMove, Go: fmt.Sprintf("VMOV %s, %s", src, d.goStr()),
		GNU: fmt.Sprintf("mov %s, %s", d.gnuStr(), r), Dst: []VReg{d.Reg}, Src: []VReg{d.Reg}})
}

// VMOVFromLane copies lane src to general register d (zero-extended).
func (e *Emitter) VMOVFromLane(src Lane, d Reg) {
	if err := first(src.check(), checkGP(d, false)); err != nil {
		e.fail("UMOV", err)
		return
	}
	var gnu string
	switch src.Size {
	case SizeD:
		gnu = fmt.Sprintf("mov %s, %s", d.x(), src.gnuStr())
	case SizeS:
		gnu = fmt.Sprintf("mov %s, %s", d.w(), src.gnuStr())
	default:
		gnu = fmt.Sprintf("umov %s, %s", d.w(), src.gnuStr())
	}
	e.add(Inst{Class: ClassMove, Go: fmt.Sprintf("VMOV %s, %s", src.goStr(), d), GNU: gnu, Src: []VReg{src.Reg}})
}

// VMOVLane copies lane src to lane d (same element size).
func (e *Emitter) VMOVLane(src, d Lane) {
	err := first(src.check(), d.check())
	if err == nil && src.Size != d.Size {
		err = fmt.Errorf("lane sizes differ: %s and %s", src.Size.goName(), d.Size.goName())
	}
	if err != nil {
		e.fail("INS", err)
		return
	}
	e.add(Inst{Class: ClassMove, Go: fmt.Sprintf("VMOV %s, %s", src.goStr(), d.goStr()),
		GNU: fmt.Sprintf("mov %s, %s", d.gnuStr(), src.gnuStr()), Dst: []VReg{d.Reg}, Src: []VReg{src.Reg, d.Reg}})
}

func (e *Emitter) three(op, gnuOp string, class Class, m, n, d Vec, err error) {
	if err == nil {
		err = checkVecs(m, n, d)
	}
	if err == nil && (m.Arr != n.Arr || n.Arr != d.Arr) {
		err = fmt.Errorf("arrangements differ: %s, %s, %s", m.Arr, n.Arr, d.Arr)
	}
	if err != nil {
		e.fail(op, err)
		return
	}
	src := []VReg{m.Reg, n.Reg}
	if class == ClassFMA {
		src = append(src, d.Reg)
	}
	e.add(Inst{Class: class, Go: fmt.Sprintf("%s %s, %s, %s", op, m.goStr(), n.goStr(), d.goStr()),
		GNU: fmt.Sprintf("%s %s, %s, %s", gnuOp, d.gnuStr(), n.gnuStr(), m.gnuStr()), Dst: []VReg{d.Reg}, Src: src})
}

// VEOR computes d = n XOR m (B16 or B8).
func (e *Emitter) VEOR(m, n, d Vec) {
	var err error
	if d.Arr != B16 && d.Arr != B8 {
		err = fmt.Errorf("EOR takes B16 or B8, not %s", d.Arr)
	}
	e.three("VEOR", "eor", ClassMove, m, n, d, err)
}

// VZero clears all 128 bits of v.
func (e *Emitter) VZero(v VReg) { e.VEOR(v.B16(), v.B16(), v.B16()) }

func fpVec(a Arr) error {
	if a != S2 && a != S4 && a != D2 {
		return fmt.Errorf("arrangement %s is not a floating-point vector (want S2, S4 or D2)", a)
	}
	return nil
}

// VFMLA computes d += n · m, lane by lane, fused (native vector form).
func (e *Emitter) VFMLA(m, n, d Vec) { e.three("VFMLA", "fmla", ClassFMA, m, n, d, fpVec(d.Arr)) }

// VFMLS computes d −= n · m, lane by lane, fused.
func (e *Emitter) VFMLS(m, n, d Vec) { e.three("VFMLS", "fmls", ClassFMA, m, n, d, fpVec(d.Arr)) }

// VADD computes the integer sum d = n + m.
func (e *Emitter) VADD(m, n, d Vec) {
	var err error
	if d.Arr == D1 {
		err = fmt.Errorf("vector ADD does not take D1")
	}
	e.three("VADD", "add", ClassInt, m, n, d, err)
}

// VSHL shifts every integer lane of n left by imm into d.
func (e *Emitter) VSHL(imm int, n, d Vec) {
	err := checkVecs(n, d)
	if err == nil && n.Arr != d.Arr {
		err = fmt.Errorf("arrangements differ: %s, %s", n.Arr, d.Arr)
	}
	if err == nil && d.Arr == D1 {
		err = fmt.Errorf("vector SHL does not take D1")
	}
	if err == nil {
		err = checkRange("shift", imm, 0, 8*d.Arr.Size().Bytes()-1)
	}
	if err != nil {
		e.fail("SHL", err)
		return
	}
	e.add(Inst{Class: ClassInt, Go: fmt.Sprintf("VSHL $%d, %s, %s", imm, n.goStr(), d.goStr()),
		GNU: fmt.Sprintf("shl %s, %s, #%d", d.gnuStr(), n.gnuStr(), imm), Dst: []VReg{d.Reg}, Src: []VReg{n.Reg}})
}

// VEXT extracts 16 (or 8) bytes from the concatenation m:n starting at byte imm of n:
// d = (n[imm:], m[:imm]) for B16.
func (e *Emitter) VEXT(imm int, m, n, d Vec) {
	err := checkVecs(m, n, d)
	if err == nil && (m.Arr != n.Arr || n.Arr != d.Arr || (d.Arr != B16 && d.Arr != B8)) {
		err = fmt.Errorf("EXT takes B16 or B8 operands, not %s, %s, %s", m.Arr, n.Arr, d.Arr)
	}
	if err == nil {
		err = checkRange("byte index", imm, 0, d.Arr.Bytes()-1)
	}
	if err != nil {
		e.fail("EXT", err)
		return
	}
	e.add(Inst{Class: ClassMove, Go: fmt.Sprintf("VEXT $%d, %s, %s, %s", imm, m.goStr(), n.goStr(), d.goStr()),
		GNU: fmt.Sprintf("ext %s, %s, %s, #%d", d.gnuStr(), n.gnuStr(), m.gnuStr(), imm), Dst: []VReg{d.Reg}, Src: []VReg{m.Reg, n.Reg}})
}

// VUXTL zero-extends the low half of n (B8, H4 or S2) to double-width lanes in d.
func (e *Emitter) VUXTL(n, d Vec) {
	err := checkVecs(n, d)
	if err == nil {
		want := map[Arr]Arr{B8: H8, H4: S4, S2: D2}
		if w, ok := want[n.Arr]; !ok || w != d.Arr {
			err = fmt.Errorf("UXTL takes B8→H8, H4→S4 or S2→D2, not %s→%s", n.Arr, d.Arr)
		}
	}
	if err != nil {
		e.fail("UXTL", err)
		return
	}
	e.add(Inst{Class: ClassInt, Go: fmt.Sprintf("VUXTL %s, %s", n.goStr(), d.goStr()),
		GNU: fmt.Sprintf("uxtl %s, %s", d.gnuStr(), n.gnuStr()), Dst: []VReg{d.Reg}, Src: []VReg{n.Reg}})
}

// Encoded float instructions.

func (e *Emitter) elem(op, gnuOp string, class Class, enc func(d, n Vec, m Lane) (uint32, error), m Lane, n, d Vec) {
	w, err := enc(d, n, m)
	src := []VReg{n.Reg, m.Reg}
	if class == ClassFMAElem {
		src = append(src, d.Reg)
	}
	e.word(op, class, w, err, fmt.Sprintf("%s %s, %s, %s", gnuOp, d.gnuStr(), n.gnuStr(), m.gnuStr()), []VReg{d.Reg}, src...)
}

// FMLAElem computes d += n · m[i] (FMLA by element; WORD-encoded).
func (e *Emitter) FMLAElem(m Lane, n, d Vec) {
	e.elem("FMLA (by element)", "fmla", ClassFMAElem, EncFMLAElem, m, n, d)
}

// FMLSElem computes d −= n · m[i] (FMLS by element; WORD-encoded).
func (e *Emitter) FMLSElem(m Lane, n, d Vec) {
	e.elem("FMLS (by element)", "fmls", ClassFMAElem, EncFMLSElem, m, n, d)
}

// FMULElem computes d = n · m[i] (FMUL by element; WORD-encoded).
func (e *Emitter) FMULElem(m Lane, n, d Vec) {
	e.elem("FMUL (by element)", "fmul", ClassFArith, EncFMULElem, m, n, d)
}

func (e *Emitter) three3(op string, enc func(d, n, m Vec) (uint32, error), m, n, d Vec) {
	w, err := enc(d, n, m)
	e.word(op, ClassFArith, w, err, fmt.Sprintf("%s %s, %s, %s", strings.ToLower(op), d.gnuStr(), n.gnuStr(), m.gnuStr()),
		[]VReg{d.Reg}, m.Reg, n.Reg)
}

// FADD computes d = n + m (WORD-encoded).
func (e *Emitter) FADD(m, n, d Vec) { e.three3("FADD", EncFADD, m, n, d) }

// FSUB computes d = n − m (WORD-encoded).
func (e *Emitter) FSUB(m, n, d Vec) { e.three3("FSUB", EncFSUB, m, n, d) }

// FMUL computes d = n · m (WORD-encoded).
func (e *Emitter) FMUL(m, n, d Vec) { e.three3("FMUL", EncFMUL, m, n, d) }

// FMAX computes d = max(n, m); NaN in either operand gives NaN (WORD-encoded).
func (e *Emitter) FMAX(m, n, d Vec) { e.three3("FMAX", EncFMAX, m, n, d) }

// FMIN computes d = min(n, m); NaN in either operand gives NaN (WORD-encoded).
func (e *Emitter) FMIN(m, n, d Vec) { e.three3("FMIN", EncFMIN, m, n, d) }

// FMAXNM computes d = maxNum(n, m) (WORD-encoded).
func (e *Emitter) FMAXNM(m, n, d Vec) { e.three3("FMAXNM", EncFMAXNM, m, n, d) }

// FMINNM computes d = minNum(n, m) (WORD-encoded).
func (e *Emitter) FMINNM(m, n, d Vec) { e.three3("FMINNM", EncFMINNM, m, n, d) }

// FADDP adds adjacent pairs of the concatenation n:m into d (WORD-encoded).
func (e *Emitter) FADDP(m, n, d Vec) { e.three3("FADDP", EncFADDP, m, n, d) }

// FADDPScalar sets lane 0 of d to the sum of the two lanes of n (S2 or D2; WORD-encoded).
func (e *Emitter) FADDPScalar(n Vec, d VReg) {
	w, err := EncFADDPScalar(d, n)
	p := "s"
	if n.Arr == D2 {
		p = "d"
	}
	e.word("FADDP (scalar)", ClassFArith, w, err, fmt.Sprintf("faddp %s%d, %s", p, d, n.gnuStr()), []VReg{d}, n.Reg)
}

// Integer vector instructions for index arithmetic (N:M positions).

func (e *Emitter) logic(op, gnu string, m, n, d Vec) {
	var err error
	if d.Arr != B16 && d.Arr != B8 {
		err = fmt.Errorf("%s takes B16 or B8, not %s", gnu, d.Arr)
	}
	e.three(op, gnu, ClassInt, m, n, d, err)
}

// VAND computes d = n AND m (B16 or B8).
func (e *Emitter) VAND(m, n, d Vec) { e.logic("VAND", "and", m, n, d) }

// VORR computes d = n OR m (B16 or B8).
func (e *Emitter) VORR(m, n, d Vec) { e.logic("VORR", "orr", m, n, d) }

// VBSL computes d = (d AND n) OR (NOT d AND m): d selects n where set, m elsewhere.
func (e *Emitter) VBSL(m, n, d Vec) { e.logic("VBSL", "bsl", m, n, d) }

// VSUB computes the integer difference d = n − m.
func (e *Emitter) VSUB(m, n, d Vec) {
	var err error
	if d.Arr == D1 {
		err = fmt.Errorf("vector SUB does not take D1")
	}
	e.three("VSUB", "sub", ClassInt, m, n, d, err)
}

// VCMTST sets each lane of d to all ones where n AND m is nonzero, else zero.
func (e *Emitter) VCMTST(m, n, d Vec) {
	var err error
	if d.Arr == D1 {
		err = fmt.Errorf("CMTST does not take D1")
	}
	e.three("VCMTST", "cmtst", ClassInt, m, n, d, err)
}

// VTBL2 looks up bytes: d[i] = (t0 ‖ t1)[idx[i]] (0 where idx[i] ≥ 32); t0, t1 consecutive.
func (e *Emitter) VTBL2(idx Vec, t0, t1 Vec, d Vec) {
	err := checkVecs(idx, t0, t1, d)
	if err == nil && (idx.Arr != B16 || t0.Arr != B16 || t1.Arr != B16 || d.Arr != B16) {
		err = fmt.Errorf("TBL takes B16 operands")
	}
	if err == nil && int(t1.Reg) != (int(t0.Reg)+1)%32 {
		err = fmt.Errorf("TBL table registers V%d, V%d not consecutive", t0.Reg, t1.Reg)
	}
	if err != nil {
		e.fail("TBL", err)
		return
	}
	e.add(Inst{Class: ClassMove, Go: fmt.Sprintf("VTBL %s, [%s, %s], %s", idx.goStr(), t0.goStr(), t1.goStr(), d.goStr()),
		GNU: fmt.Sprintf("tbl %s, {%s, %s}, %s", d.gnuStr(), t0.gnuStr(), t1.gnuStr(), idx.gnuStr()),
		Dst: []VReg{d.Reg}, Src: []VReg{idx.Reg, t0.Reg, t1.Reg}})
}

// VUSHR shifts each lane of n right (logical) by imm (1..lane bits) into d.
func (e *Emitter) VUSHR(imm int, n, d Vec) {
	err := checkVecs(n, d)
	if err == nil && (n.Arr != d.Arr || d.Arr == D1) {
		err = fmt.Errorf("USHR takes one arrangement (not D1): %s, %s", n.Arr, d.Arr)
	}
	if err == nil {
		err = checkRange("shift", imm, 1, 8*d.Arr.Size().Bytes())
	}
	if err != nil {
		e.fail("USHR", err)
		return
	}
	e.add(Inst{Class: ClassInt, Go: fmt.Sprintf("VUSHR $%d, %s, %s", imm, n.goStr(), d.goStr()),
		GNU: fmt.Sprintf("ushr %s, %s, #%d", d.gnuStr(), n.gnuStr(), imm), Dst: []VReg{d.Reg}, Src: []VReg{n.Reg}})
}

// NEG negates each integer lane of n into d (WORD-encoded).
func (e *Emitter) NEG(n, d Vec) {
	w, err := EncNEG(d, n)
	e.word("NEG", ClassInt, w, err, fmt.Sprintf("neg %s, %s", d.gnuStr(), n.gnuStr()), []VReg{d.Reg}, n.Reg)
}

// USHL shifts each lane of n by the signed amount in the lane of m (WORD-encoded).
func (e *Emitter) USHL(m, n, d Vec) {
	w, err := EncUSHL(d, n, m)
	e.word("USHL", ClassInt, w, err, fmt.Sprintf("ushl %s, %s, %s", d.gnuStr(), n.gnuStr(), m.gnuStr()), []VReg{d.Reg}, m.Reg, n.Reg)
}

// MULV multiplies integer lanes: d = n · m (B, H or S; WORD-encoded).
func (e *Emitter) MULV(m, n, d Vec) {
	w, err := EncMULV(d, n, m)
	e.word("MUL (vector)", ClassInt, w, err, fmt.Sprintf("mul %s, %s, %s", d.gnuStr(), n.gnuStr(), m.gnuStr()), []VReg{d.Reg}, m.Reg, n.Reg)
}
