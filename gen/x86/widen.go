package x86

import (
	"github.com/mmcloughlin/avo/operand"

	"github.com/sparsegen/sparsegen/gen/vm"
)

// The vm.WidenMachine load (gen/vm/widen.go) on AVX-512 and AVX2: one widening load, plus
// a shift (bf16) or a conversion (int8). Every form reads exactly Lanes() elements.

var _ vm.WidenMachine = (*Machine)(nil)

func (m *Machine) LoadWiden(v vm.Vec, a vm.Mem, e vm.Elem) {
	d := m.v(v)
	switch e {
	case vm.ElemF32:
		m.Ctx.VMOVUPS(m.mem(a), d)
	case vm.ElemBF16:
		// Zero-extend each 16-bit word into a 32-bit lane, then move it to the high half:
		// a bf16 is the high half of the float32 it stands for.
		m.Ctx.VPMOVZXWD(m.mem(a), d)
		m.Ctx.VPSLLD(operand.U8(16), d, d)
	case vm.ElemF16:
		// AVX-512F (zmm ← m256) or F16C (ymm ← m128); exact, subnormals included.
		m.Ctx.VCVTPH2PS(m.mem(a), d)
	case vm.ElemI8:
		m.Ctx.VPMOVSXBD(m.mem(a), d)
		m.Ctx.VCVTDQ2PS(d, d)
	default:
		vm.Check(false, "LoadWiden of %v", e)
	}
}

// LoadWidenMask: AVX-512 zero-masks the widening load itself ({z} forms with the tail's
// opmask, which also suppress faults on the masked-off elements); AVX2 has no masked 8- or
// 16-bit loads, so it widens the whole vector (the caller's stream is padded) and ANDs it
// with the tail's all-ones/zero lane mask.
func (m *Machine) LoadWidenMask(v vm.Vec, a vm.Mem, e vm.Elem, k vm.Mask) {
	d := m.v(v)
	if m.level != AVX512 {
		m.LoadWiden(v, a, e)
		m.Ctx.VANDPS(m.kmasks[k], d, d)
		return
	}
	km := m.kmasks[k]
	switch e {
	case vm.ElemF32:
		m.Ctx.VMOVUPS_Z(m.mem(a), km, d)
	case vm.ElemBF16:
		m.Ctx.VPMOVZXWD_Z(m.mem(a), km, d)
		m.Ctx.VPSLLD(operand.U8(16), d, d)
	case vm.ElemF16:
		m.Ctx.VCVTPH2PS_Z(m.mem(a), km, d)
	case vm.ElemI8:
		m.Ctx.VPMOVSXBD_Z(m.mem(a), km, d)
		m.Ctx.VCVTDQ2PS(d, d)
	default:
		vm.Check(false, "LoadWidenMask of %v", e)
	}
}

// Load1Widen goes through a general register: a zero- or sign-extending load; bf16: a
// 16-bit shift; fp16: the pattern doubled into both halves of the dword; then the dword is
// broadcast (VPBROADCASTD from the register on AVX-512, through an xmm on AVX2) and int8
// converted, fp16 converted from the broadcast's low half (every half holds the pattern).
func (m *Machine) Load1Widen(v vm.Vec, a vm.Mem, e vm.Elem) {
	d := m.v(v)
	if e == vm.ElemF32 {
		m.Ctx.VBROADCASTSS(m.mem(a), d)
		return
	}
	t := m.Ctx.GP32()
	switch e {
	case vm.ElemBF16:
		m.Ctx.MOVWLZX(m.mem(a), t)
		m.Ctx.SHLL(operand.U8(16), t)
	case vm.ElemF16:
		m.Ctx.MOVWLZX(m.mem(a), t)
		m.Ctx.IMUL3L(operand.U32(0x10001), t, t)
	case vm.ElemI8:
		m.Ctx.MOVBLSX(m.mem(a), t)
	default:
		vm.Check(false, "Load1Widen of %v", e)
	}
	if m.level == AVX512 {
		m.Ctx.VPBROADCASTD(t, d)
	} else {
		x := m.Ctx.XMM()
		m.Ctx.VMOVD(t, x)
		m.Ctx.VPBROADCASTD(x, d)
	}
	switch e {
	case vm.ElemF16:
		if m.level == AVX512 {
			m.Ctx.VCVTPH2PS(d.AsY(), d)
		} else {
			m.Ctx.VCVTPH2PS(d.AsX(), d)
		}
	case vm.ElemI8:
		m.Ctx.VCVTDQ2PS(d, d)
	}
}
