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

// Load1Widen: bf16 and fp16 broadcast the stored pattern from memory into every 16-bit
// lane (VPBROADCASTW, reads 2 bytes, no general register), then bf16 shifts each dword
// left by 16 (it holds the pattern twice; the shift keeps one as the high half) and fp16
// converts the low half. int8 goes through a general register (a sign-extending load,
// VPBROADCASTD from the register on AVX-512, through an xmm on AVX2) and converts: a byte
// broadcast and a 24-bit arithmetic shift measured slower (BenchmarkBSRLP, i8 at N = 16,
// AMD EPYC Turin-like: 3.03 ms against 2.06 ms, ±10-21%), while the 16-bit broadcast cut
// fp16's time (N = 16: 2.23 to 1.83 ms; N = 1: 1.81 to 1.39 ms).
func (m *Machine) Load1Widen(v vm.Vec, a vm.Mem, e vm.Elem) {
	d := m.v(v)
	switch e {
	case vm.ElemF32:
		m.Ctx.VBROADCASTSS(m.mem(a), d)
	case vm.ElemBF16:
		m.Ctx.VPBROADCASTW(m.mem(a), d)
		m.Ctx.VPSLLD(operand.U8(16), d, d)
	case vm.ElemF16:
		m.Ctx.VPBROADCASTW(m.mem(a), d)
		if m.level == AVX512 {
			m.Ctx.VCVTPH2PS(d.AsY(), d)
		} else {
			m.Ctx.VCVTPH2PS(d.AsX(), d)
		}
	case vm.ElemI8:
		t := m.Ctx.GP32()
		m.Ctx.MOVBLSX(m.mem(a), t)
		if m.level == AVX512 {
			m.Ctx.VPBROADCASTD(t, d)
		} else {
			x := m.Ctx.XMM()
			m.Ctx.VMOVD(t, x)
			m.Ctx.VPBROADCASTD(x, d)
		}
		m.Ctx.VCVTDQ2PS(d, d)
	default:
		vm.Check(false, "Load1Widen of %v", e)
	}
}
