package neon

import (
	"fmt"
	"strings"
)

// Integer and scalar instructions, all native to Go's assembler. Methods take operands in
// Go's order: sources first, destination last.

// Mem is a base register plus an immediate byte offset.
type Mem struct {
	Base Reg
	Off  int
}

// M returns the operand off(base).
func M(base Reg, off int) Mem { return Mem{Base: base, Off: off} }

func (m Mem) goStr() string {
	if m.Off == 0 {
		return fmt.Sprintf("(%s)", m.Base)
	}
	return fmt.Sprintf("%d(%s)", m.Off, m.Base)
}

func (m Mem) gnuStr() string {
	if m.Off == 0 {
		return fmt.Sprintf("[%s]", m.Base.x())
	}
	return fmt.Sprintf("[%s, #%d]", m.Base.x(), m.Off)
}

// checkOff checks a load/store offset: the scaled unsigned form (checkScaled) or the
// unscaled signed 9-bit form −256..255, which Go's assembler (like GNU as for "ldr") emits
// as LDUR/STUR: one instruction either way.
func (m Mem) checkOff(size int) error {
	if err := checkGP(m.Base, false); err != nil {
		return err
	}
	if m.Off >= -256 && m.Off <= 255 {
		return nil
	}
	if err := m.checkScaled(size); err != nil {
		return fmt.Errorf("%w, or in −256..255", err)
	}
	return nil
}

// checkScaled checks an unsigned offset scaled by size (the 12-bit immediate form, so Go's
// assembler emits exactly one instruction).
func (m Mem) checkScaled(size int) error {
	if err := checkGP(m.Base, false); err != nil {
		return err
	}
	if m.Off < 0 || m.Off > 4095*size || m.Off%size != 0 {
		return fmt.Errorf("offset %d not a multiple of %d in 0..%d", m.Off, size, 4095*size)
	}
	return nil
}

func checkPost(inc int) error { return checkRange("post-index increment", inc, -256, 255) }

func (e *Emitter) intOp(op, goText, gnu string, regs ...Reg) {
	for _, r := range regs {
		if err := checkGP(r, false); err != nil {
			e.fail(op, err)
			return
		}
	}
	e.add(Inst{Class: ClassInt, Go: goText, GNU: gnu})
}

// MOVD copies src to dst (src may be ZR).
func (e *Emitter) MOVD(src, dst Reg) {
	if err := first(checkGP(src, true), checkGP(dst, false)); err != nil {
		e.fail("MOVD", err)
		return
	}
	e.add(Inst{Class: ClassInt, Go: fmt.Sprintf("MOVD %s, %s", src, dst), GNU: fmt.Sprintf("mov %s, %s", dst.x(), src.x())})
}

// MOVDImm sets dst to imm, 0 ≤ imm ≤ 65535 (one instruction).
func (e *Emitter) MOVDImm(imm int, dst Reg) {
	if err := first(checkRange("immediate", imm, 0, 65535), checkGP(dst, false)); err != nil {
		e.fail("MOVD $imm", err)
		return
	}
	gnu := "" // Go picks MOVZ or ORR by the value; GNU's "mov" picks its own
	if imm == 0 {
		gnu = fmt.Sprintf("mov %s, xzr", dst.x())
	}
	e.add(Inst{Class: ClassInt, Go: fmt.Sprintf("MOVD $%d, %s", imm, dst), GNU: gnu})
}

// ADD computes dst = n + m.
func (e *Emitter) ADD(m, n, dst Reg) {
	e.intOp("ADD", fmt.Sprintf("ADD %s, %s, %s", m, n, dst), fmt.Sprintf("add %s, %s, %s", dst.x(), n.x(), m.x()), m, n, dst)
}

// ADDShift computes dst = n + m<<shift.
func (e *Emitter) ADDShift(m Reg, shift int, n, dst Reg) {
	if err := checkRange("shift", shift, 0, 63); err != nil {
		e.fail("ADD", err)
		return
	}
	if shift == 0 {
		e.ADD(m, n, dst)
		return
	}
	e.intOp("ADD", fmt.Sprintf("ADD %s<<%d, %s, %s", m, shift, n, dst),
		fmt.Sprintf("add %s, %s, %s, lsl #%d", dst.x(), n.x(), m.x(), shift), m, n, dst)
}

// ADDImm computes dst = n + imm, 0 ≤ imm ≤ 4095.
func (e *Emitter) ADDImm(imm int, n, dst Reg) {
	if err := checkRange("immediate", imm, 0, 4095); err != nil {
		e.fail("ADD $imm", err)
		return
	}
	e.intOp("ADD $imm", fmt.Sprintf("ADD $%d, %s, %s", imm, n, dst), fmt.Sprintf("add %s, %s, #%d", dst.x(), n.x(), imm), n, dst)
}

// SUB computes dst = n − m.
func (e *Emitter) SUB(m, n, dst Reg) {
	e.intOp("SUB", fmt.Sprintf("SUB %s, %s, %s", m, n, dst), fmt.Sprintf("sub %s, %s, %s", dst.x(), n.x(), m.x()), m, n, dst)
}

// SUBShift computes dst = n − m<<shift.
func (e *Emitter) SUBShift(m Reg, shift int, n, dst Reg) {
	if err := checkRange("shift", shift, 0, 63); err != nil {
		e.fail("SUB", err)
		return
	}
	e.intOp("SUB", fmt.Sprintf("SUB %s<<%d, %s, %s", m, shift, n, dst),
		fmt.Sprintf("sub %s, %s, %s, lsl #%d", dst.x(), n.x(), m.x(), shift), m, n, dst)
}

// SUBImm computes dst = n − imm, 0 ≤ imm ≤ 4095.
func (e *Emitter) SUBImm(imm int, n, dst Reg) {
	if err := checkRange("immediate", imm, 0, 4095); err != nil {
		e.fail("SUB $imm", err)
		return
	}
	e.intOp("SUB $imm", fmt.Sprintf("SUB $%d, %s, %s", imm, n, dst), fmt.Sprintf("sub %s, %s, #%d", dst.x(), n.x(), imm), n, dst)
}

// SUBS computes dst = n − m and sets the flags.
func (e *Emitter) SUBS(m, n, dst Reg) {
	e.intOp("SUBS", fmt.Sprintf("SUBS %s, %s, %s", m, n, dst), fmt.Sprintf("subs %s, %s, %s", dst.x(), n.x(), m.x()), m, n, dst)
}

// SUBSImm computes dst = n − imm, 0 ≤ imm ≤ 4095, and sets the flags.
func (e *Emitter) SUBSImm(imm int, n, dst Reg) {
	if err := checkRange("immediate", imm, 0, 4095); err != nil {
		e.fail("SUBS $imm", err)
		return
	}
	e.intOp("SUBS $imm", fmt.Sprintf("SUBS $%d, %s, %s", imm, n, dst), fmt.Sprintf("subs %s, %s, #%d", dst.x(), n.x(), imm), n, dst)
}

// ADDSImm computes dst = n + imm, 0 ≤ imm ≤ 4095, and sets the flags.
func (e *Emitter) ADDSImm(imm int, n, dst Reg) {
	if err := checkRange("immediate", imm, 0, 4095); err != nil {
		e.fail("ADDS $imm", err)
		return
	}
	e.intOp("ADDS $imm", fmt.Sprintf("ADDS $%d, %s, %s", imm, n, dst), fmt.Sprintf("adds %s, %s, #%d", dst.x(), n.x(), imm), n, dst)
}

// CMP sets the flags from n − m.
func (e *Emitter) CMP(m, n Reg) {
	e.intOp("CMP", fmt.Sprintf("CMP %s, %s", m, n), fmt.Sprintf("cmp %s, %s", n.x(), m.x()), m, n)
}

// CMPImm sets the flags from n − imm, 0 ≤ imm ≤ 4095.
func (e *Emitter) CMPImm(imm int, n Reg) {
	if err := checkRange("immediate", imm, 0, 4095); err != nil {
		e.fail("CMP $imm", err)
		return
	}
	e.intOp("CMP $imm", fmt.Sprintf("CMP $%d, %s", imm, n), fmt.Sprintf("cmp %s, #%d", n.x(), imm), n)
}

// LSL computes dst = n << shift, 1 ≤ shift ≤ 63.
func (e *Emitter) LSL(shift int, n, dst Reg) {
	if err := checkRange("shift", shift, 1, 63); err != nil {
		e.fail("LSL", err)
		return
	}
	e.intOp("LSL", fmt.Sprintf("LSL $%d, %s, %s", shift, n, dst), fmt.Sprintf("lsl %s, %s, #%d", dst.x(), n.x(), shift), n, dst)
}

// LSR computes dst = n >> shift (logical), 1 ≤ shift ≤ 63.
func (e *Emitter) LSR(shift int, n, dst Reg) {
	if err := checkRange("shift", shift, 1, 63); err != nil {
		e.fail("LSR", err)
		return
	}
	e.intOp("LSR", fmt.Sprintf("LSR $%d, %s, %s", shift, n, dst), fmt.Sprintf("lsr %s, %s, #%d", dst.x(), n.x(), shift), n, dst)
}

// MUL computes dst = n · m.
func (e *Emitter) MUL(m, n, dst Reg) {
	e.intOp("MUL", fmt.Sprintf("MUL %s, %s, %s", m, n, dst), fmt.Sprintf("mul %s, %s, %s", dst.x(), n.x(), m.x()), m, n, dst)
}

// MADD computes dst = a + n · m.
func (e *Emitter) MADD(m, a, n, dst Reg) {
	e.intOp("MADD", fmt.Sprintf("MADD %s, %s, %s, %s", m, a, n, dst),
		fmt.Sprintf("madd %s, %s, %s, %s", dst.x(), n.x(), m.x(), a.x()), m, a, n, dst)
}

// LoadKind is the width and extension of an integer load.
type LoadKind uint8

const (
	LoadD  LoadKind = iota // 64 bits (MOVD)
	LoadWU                 // 32 bits, zero-extended (MOVWU)
	LoadW                  // 32 bits, sign-extended (MOVW)
	LoadHU                 // 16 bits, zero-extended (MOVHU)
	LoadBU                 // 8 bits, zero-extended (MOVBU)
)

var loadGo = [...]string{"MOVD", "MOVWU", "MOVW", "MOVHU", "MOVBU"}
var loadGNU = [...]string{"ldr", "ldr", "ldrsw", "ldrh", "ldrb"}
var loadSize = [...]int{8, 4, 4, 2, 1}

func (k LoadKind) valid() bool { return int(k) < len(loadGo) }

func (k LoadKind) gnuDst(r Reg) string {
	if k == LoadD || k == LoadW {
		return r.x()
	}
	return r.w()
}

// Load reads memory at m into dst; the offset must be a multiple of the size, unsigned.
func (e *Emitter) Load(k LoadKind, m Mem, dst Reg) {
	if !k.valid() {
		e.fail("load", fmt.Errorf("invalid load kind %d", k))
		return
	}
	op := loadGo[k]
	if err := first(m.checkOff(loadSize[k]), checkGP(dst, false)); err != nil {
		e.fail(op, err)
		return
	}
	e.add(Inst{Class: ClassIntLoad, Go: fmt.Sprintf("%s %s, %s", op, m.goStr(), dst),
		GNU: fmt.Sprintf("%s %s, %s", loadGNU[k], k.gnuDst(dst), m.gnuStr())})
}

// LoadPost reads memory at base into dst, then adds inc (−256..255) to base.
func (e *Emitter) LoadPost(k LoadKind, base Reg, inc int, dst Reg) {
	if !k.valid() {
		e.fail("load", fmt.Errorf("invalid load kind %d", k))
		return
	}
	op := loadGo[k] + ".P"
	if err := first(checkGP(base, false), checkGP(dst, false), checkPost(inc)); err != nil {
		e.fail(op, err)
		return
	}
	if base == dst {
		e.fail(op, fmt.Errorf("post-indexed load into its own base register %s", base))
		return
	}
	e.add(Inst{Class: ClassIntLoad, Go: fmt.Sprintf("%s %d(%s), %s", op, inc, base, dst),
		GNU: fmt.Sprintf("%s %s, [%s], #%d", loadGNU[k], k.gnuDst(dst), base.x(), inc)})
}

// LoadIdx reads the element idx of an array at base: base + idx·size.
func (e *Emitter) LoadIdx(k LoadKind, base, idx, dst Reg) {
	if !k.valid() {
		e.fail("load", fmt.Errorf("invalid load kind %d", k))
		return
	}
	op := loadGo[k]
	if err := first(checkGP(base, false), checkGP(idx, false), checkGP(dst, false)); err != nil {
		e.fail(op, err)
		return
	}
	sh := map[int]int{8: 3, 4: 2, 2: 1, 1: 0}[loadSize[k]]
	if sh == 0 {
		e.add(Inst{Class: ClassIntLoad, Go: fmt.Sprintf("%s (%s)(%s), %s", op, base, idx, dst),
			GNU: fmt.Sprintf("%s %s, [%s, %s]", loadGNU[k], k.gnuDst(dst), base.x(), idx.x())})
		return
	}
	e.add(Inst{Class: ClassIntLoad, Go: fmt.Sprintf("%s (%s)(%s<<%d), %s", op, base, idx, sh, dst),
		GNU: fmt.Sprintf("%s %s, [%s, %s, lsl #%d]", loadGNU[k], k.gnuDst(dst), base.x(), idx.x(), sh)})
}

// StoreKind is the width of an integer store.
type StoreKind uint8

const (
	StoreD StoreKind = iota // 64 bits (MOVD)
	StoreW                  // 32 bits (MOVW)
	StoreH                  // 16 bits (MOVH)
	StoreB                  // 8 bits (MOVB)
)

var storeGo = [...]string{"MOVD", "MOVW", "MOVH", "MOVB"}
var storeGNU = [...]string{"str", "str", "strh", "strb"}
var storeSize = [...]int{8, 4, 2, 1}

func (k StoreKind) gnuSrc(r Reg) string {
	if k == StoreD {
		return r.x()
	}
	return r.w()
}

// Store writes the low bytes of src at m (offset a multiple of the size, unsigned).
func (e *Emitter) Store(k StoreKind, src Reg, m Mem) {
	if int(k) >= len(storeGo) {
		e.fail("store", fmt.Errorf("invalid store kind %d", k))
		return
	}
	op := storeGo[k]
	if err := first(m.checkOff(storeSize[k]), checkGP(src, true)); err != nil {
		e.fail(op, err)
		return
	}
	e.add(Inst{Class: ClassStore, Go: fmt.Sprintf("%s %s, %s", op, src, m.goStr()),
		GNU: fmt.Sprintf("%s %s, %s", storeGNU[k], k.gnuSrc(src), m.gnuStr())})
}

// StoreIdx writes the low bytes of src to element idx of an array at base.
func (e *Emitter) StoreIdx(k StoreKind, src, base, idx Reg) {
	if int(k) >= len(storeGo) {
		e.fail("store", fmt.Errorf("invalid store kind %d", k))
		return
	}
	op := storeGo[k]
	if err := first(checkGP(src, true), checkGP(base, false), checkGP(idx, false)); err != nil {
		e.fail(op, err)
		return
	}
	sh := map[int]int{8: 3, 4: 2, 2: 1, 1: 0}[storeSize[k]]
	if sh == 0 {
		e.add(Inst{Class: ClassStore, Go: fmt.Sprintf("%s %s, (%s)(%s)", op, src, base, idx),
			GNU: fmt.Sprintf("%s %s, [%s, %s]", storeGNU[k], k.gnuSrc(src), base.x(), idx.x())})
		return
	}
	e.add(Inst{Class: ClassStore, Go: fmt.Sprintf("%s %s, (%s)(%s<<%d)", op, src, base, idx, sh),
		GNU: fmt.Sprintf("%s %s, [%s, %s, lsl #%d]", storeGNU[k], k.gnuSrc(src), base.x(), idx.x(), sh)})
}

// MOVDConst sets dst to any 64-bit constant; Go's assembler may use up to four
// instructions (MOVZ/MOVN and MOVK), so shape counts treat it as one integer op.
func (e *Emitter) MOVDConst(v int64, dst Reg) {
	if err := checkGP(dst, false); err != nil {
		e.fail("MOVD $const", err)
		return
	}
	if v >= 0 && v <= 65535 {
		e.MOVDImm(int(v), dst)
		return
	}
	e.add(Inst{Class: ClassInt, Go: fmt.Sprintf("MOVD $%d, %s", v, dst)})
}

// CMNImm sets the flags from n + imm, 0 ≤ imm ≤ 4095 (compare with −imm).
func (e *Emitter) CMNImm(imm int, n Reg) {
	if err := checkRange("immediate", imm, 0, 4095); err != nil {
		e.fail("CMN $imm", err)
		return
	}
	e.intOp("CMN $imm", fmt.Sprintf("CMN $%d, %s", imm, n), fmt.Sprintf("cmn %s, #%d", n.x(), imm), n)
}

// TST sets the flags from n AND m.
func (e *Emitter) TST(m, n Reg) {
	e.intOp("TST", fmt.Sprintf("TST %s, %s", m, n), fmt.Sprintf("tst %s, %s", n.x(), m.x()), m, n)
}

// CSEL sets dst = c ? n : m.
func (e *Emitter) CSEL(c Cond, n, m, dst Reg) {
	if int(c) >= len(condNames) {
		e.fail("CSEL", fmt.Errorf("invalid condition %d", c))
		return
	}
	e.intOp("CSEL", fmt.Sprintf("CSEL %s, %s, %s, %s", c, n, m, dst),
		fmt.Sprintf("csel %s, %s, %s, %s", dst.x(), n.x(), m.x(), strings.ToLower(c.String())), n, m, dst)
}

// LoadArg loads the 8-byte argument name+off(FP) (a pointer or an int) into dst.
func (e *Emitter) LoadArg(name string, off int, dst Reg) {
	if err := first(checkArg(name, off, 8), checkGP(dst, false)); err != nil {
		e.fail("MOVD arg", err)
		return
	}
	e.add(Inst{Class: ClassIntLoad, Go: fmt.Sprintf("MOVD %s+%d(FP), %s", name, off, dst)})
}

// LoadArgF32 loads the float32 argument name+off(FP) into lane 0 of dst (other lanes zero).
func (e *Emitter) LoadArgF32(name string, off int, dst VReg) {
	if err := checkArg(name, off, 4); err != nil {
		e.fail("FMOVS arg", err)
		return
	}
	if !dst.valid() {
		e.fail("FMOVS arg", fmt.Errorf("vector register %d out of range V0..V31", dst))
		return
	}
	e.add(Inst{Class: ClassLoadLane, Go: fmt.Sprintf("FMOVS %s+%d(FP), F%d", name, off, dst), Dst: []VReg{dst}})
}

func checkArg(name string, off, size int) error {
	if !validLabel(name) {
		return fmt.Errorf("invalid argument name %q", name)
	}
	if off < 0 || off%size != 0 {
		return fmt.Errorf("argument offset %d not a non-negative multiple of %d", off, size)
	}
	return nil
}

func checkF(v VReg) error {
	if !v.valid() {
		return fmt.Errorf("vector register %d out of range V0..V31", v)
	}
	return nil
}

// FMOVSLoad loads a float32 at m into lane 0 of dst, zeroing the other lanes.
func (e *Emitter) FMOVSLoad(m Mem, dst VReg) {
	if err := first(m.checkOff(4), checkF(dst)); err != nil {
		e.fail("FMOVS load", err)
		return
	}
	e.add(Inst{Class: ClassLoadLane, Go: fmt.Sprintf("FMOVS %s, F%d", m.goStr(), dst),
		GNU: fmt.Sprintf("ldr s%d, %s", dst, m.gnuStr()), Dst: []VReg{dst}})
}

// FMOVSLoadPost loads a float32 at base into lane 0 of dst, then adds inc to base.
func (e *Emitter) FMOVSLoadPost(base Reg, inc int, dst VReg) {
	if err := first(checkGP(base, false), checkPost(inc), checkF(dst)); err != nil {
		e.fail("FMOVS.P load", err)
		return
	}
	e.add(Inst{Class: ClassLoadLane, Go: fmt.Sprintf("FMOVS.P %d(%s), F%d", inc, base, dst),
		GNU: fmt.Sprintf("ldr s%d, [%s], #%d", dst, base.x(), inc), Dst: []VReg{dst}})
}

// FMOVSLoadIdx loads the float32 at base + 4·idx into lane 0 of dst.
func (e *Emitter) FMOVSLoadIdx(base, idx Reg, dst VReg) {
	if err := first(checkGP(base, false), checkGP(idx, false), checkF(dst)); err != nil {
		e.fail("FMOVS load", err)
		return
	}
	e.add(Inst{Class: ClassLoadLane, Go: fmt.Sprintf("FMOVS (%s)(%s<<2), F%d", base, idx, dst),
		GNU: fmt.Sprintf("ldr s%d, [%s, %s, lsl #2]", dst, base.x(), idx.x()), Dst: []VReg{dst}})
}

// FMOVQLoad loads 128 bits at m into dst (offset a multiple of 16 in 0..65520).
func (e *Emitter) FMOVQLoad(m Mem, dst VReg) {
	if err := first(m.checkOff(16), checkF(dst)); err != nil {
		e.fail("FMOVQ load", err)
		return
	}
	e.add(Inst{Class: ClassLoad, Go: fmt.Sprintf("FMOVQ %s, F%d", m.goStr(), dst),
		GNU: fmt.Sprintf("ldr q%d, %s", dst, m.gnuStr()), Dst: []VReg{dst}})
}

// FMOVQLoadPost loads 128 bits at base into dst, then adds inc (−256..255) to base.
func (e *Emitter) FMOVQLoadPost(base Reg, inc int, dst VReg) {
	if err := first(checkGP(base, false), checkPost(inc), checkF(dst)); err != nil {
		e.fail("FMOVQ.P load", err)
		return
	}
	e.add(Inst{Class: ClassLoad, Go: fmt.Sprintf("FMOVQ.P %d(%s), F%d", inc, base, dst),
		GNU: fmt.Sprintf("ldr q%d, [%s], #%d", dst, base.x(), inc), Dst: []VReg{dst}})
}

// FMOVQStore stores all 128 bits of src at m (offset a multiple of 16 in 0..65520).
func (e *Emitter) FMOVQStore(src VReg, m Mem) {
	if err := first(m.checkOff(16), checkF(src)); err != nil {
		e.fail("FMOVQ store", err)
		return
	}
	e.add(Inst{Class: ClassStore, Go: fmt.Sprintf("FMOVQ F%d, %s", src, m.goStr()),
		GNU: fmt.Sprintf("str q%d, %s", src, m.gnuStr()), Src: []VReg{src}})
}

// FMOVDLoad loads 64 bits at m into the low half of dst, zeroing the high half.
func (e *Emitter) FMOVDLoad(m Mem, dst VReg) {
	if err := first(m.checkOff(8), checkF(dst)); err != nil {
		e.fail("FMOVD load", err)
		return
	}
	e.add(Inst{Class: ClassLoadLane, Go: fmt.Sprintf("FMOVD %s, F%d", m.goStr(), dst),
		GNU: fmt.Sprintf("ldr d%d, %s", dst, m.gnuStr()), Dst: []VReg{dst}})
}

// FMOVDLoadPost loads 64 bits at base into the low half of dst (high half zeroed), then
// adds inc (−256..255) to base.
func (e *Emitter) FMOVDLoadPost(base Reg, inc int, dst VReg) {
	if err := first(checkGP(base, false), checkPost(inc), checkF(dst)); err != nil {
		e.fail("FMOVD.P load", err)
		return
	}
	e.add(Inst{Class: ClassLoadLane, Go: fmt.Sprintf("FMOVD.P %d(%s), F%d", inc, base, dst),
		GNU: fmt.Sprintf("ldr d%d, [%s], #%d", dst, base.x(), inc), Dst: []VReg{dst}})
}

// FMOVDStore stores the low 64 bits of src at m.
func (e *Emitter) FMOVDStore(src VReg, m Mem) {
	if err := first(m.checkOff(8), checkF(src)); err != nil {
		e.fail("FMOVD store", err)
		return
	}
	e.add(Inst{Class: ClassStore, Go: fmt.Sprintf("FMOVD F%d, %s", src, m.goStr()),
		GNU: fmt.Sprintf("str d%d, %s", src, m.gnuStr()), Src: []VReg{src}})
}

// FMOVSStore stores lane 0 of src at m.
func (e *Emitter) FMOVSStore(src VReg, m Mem) {
	if err := first(m.checkOff(4), checkF(src)); err != nil {
		e.fail("FMOVS store", err)
		return
	}
	e.add(Inst{Class: ClassStore, Go: fmt.Sprintf("FMOVS F%d, %s", src, m.goStr()),
		GNU: fmt.Sprintf("str s%d, %s", src, m.gnuStr()), Src: []VReg{src}})
}

// FMOVSStorePost stores lane 0 of src at base, then adds inc to base.
func (e *Emitter) FMOVSStorePost(src VReg, base Reg, inc int) {
	if err := first(checkGP(base, false), checkPost(inc), checkF(src)); err != nil {
		e.fail("FMOVS.P store", err)
		return
	}
	e.add(Inst{Class: ClassStore, Go: fmt.Sprintf("FMOVS.P F%d, %d(%s)", src, inc, base),
		GNU: fmt.Sprintf("str s%d, [%s], #%d", src, base.x(), inc), Src: []VReg{src}})
}

func (e *Emitter) scalarF(op, gnu string, class Class, dst VReg, srcs ...VReg) {
	for _, v := range append([]VReg{dst}, srcs...) {
		if err := checkF(v); err != nil {
			e.fail(op, err)
			return
		}
	}
	ops := make([]string, 0, len(srcs)+1)
	gops := []string{fmt.Sprintf("s%d", dst)}
	for _, s := range srcs {
		ops = append(ops, fmt.Sprintf("F%d", s))
	}
	ops = append(ops, fmt.Sprintf("F%d", dst))
	for i := len(srcs) - 1; i >= 0; i-- {
		gops = append(gops, fmt.Sprintf("s%d", srcs[i]))
	}
	e.add(Inst{Class: class, Go: op + " " + strings.Join(ops, ", "), GNU: gnu + " " + strings.Join(gops, ", "),
		Dst: []VReg{dst}, Src: srcs})
}

// FMOVS copies lane 0 of src to dst (scalar move; other lanes of dst are zeroed).
func (e *Emitter) FMOVS(src, dst VReg) { e.scalarF("FMOVS", "fmov", ClassMove, dst, src) }

// FADDS computes dst = n + m on lane 0 (scalar).
func (e *Emitter) FADDS(m, n, dst VReg) { e.scalarF("FADDS", "fadd", ClassFArith, dst, m, n) }

// FMAXS computes dst = max(n, m) on lane 0; NaN in either gives NaN.
func (e *Emitter) FMAXS(m, n, dst VReg) { e.scalarF("FMAXS", "fmax", ClassFArith, dst, m, n) }

// FMINS computes dst = min(n, m) on lane 0; NaN in either gives NaN.
func (e *Emitter) FMINS(m, n, dst VReg) { e.scalarF("FMINS", "fmin", ClassFArith, dst, m, n) }

// FMADDS computes dst = a + n·m on lane 0 (fused).
func (e *Emitter) FMADDS(m, a, n, dst VReg) {
	for _, v := range []VReg{m, a, n, dst} {
		if err := checkF(v); err != nil {
			e.fail("FMADDS", err)
			return
		}
	}
	e.add(Inst{Class: ClassFMA, Go: fmt.Sprintf("FMADDS F%d, F%d, F%d, F%d", m, a, n, dst),
		GNU: fmt.Sprintf("fmadd s%d, s%d, s%d, s%d", dst, n, m, a), Dst: []VReg{dst}, Src: []VReg{m, a, n}})
}
