package x86

import (
	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"

	"github.com/sparsegen/sparsegen/gen/vm"
)

var _ vm.GatherMachine = (*Machine)(nil)

func (m *Machine) LoadIdx(v vm.Vec, a vm.Mem, bytes int, k *vm.Mask) {
	vm.Check(bytes == 2 || bytes == 4, "LoadIdx of %d-byte indices", bytes)
	if m.level == AVX512 {
		switch {
		case bytes == 2 && k == nil:
			m.Ctx.VPMOVZXWD(m.mem(a), m.v(v))
		case bytes == 2:
			m.Ctx.VPMOVZXWD_Z(m.mem(a), m.kmasks[*k], m.v(v))
		case k == nil:
			m.Ctx.VMOVDQU32(m.mem(a), m.v(v))
		default:
			m.Ctx.VMOVDQU32_Z(m.mem(a), m.kmasks[*k], m.v(v))
		}
		return
	}
	// AVX2: no masked 16-bit loads; the family pads the index stream so a full read is safe.
	if bytes == 2 {
		m.Ctx.VPMOVZXWD(m.mem(a), m.v(v))
	} else if k == nil {
		m.Ctx.VMOVDQU(m.mem(a), m.v(v))
	} else {
		m.Ctx.VPMASKMOVD(m.mem(a), m.kmasks[*k], m.v(v))
	}
}

func (m *Machine) Gather(dst vm.Vec, base vm.Reg, idx vm.Vec, scale int, k *vm.Mask) {
	mem := operand.Mem{Base: m.g(base), Index: m.v(idx), Scale: uint8(scale)}
	if m.level == AVX512 {
		// The gather clears its mask: work on a copy (or a fresh all-ones mask).
		t := m.Ctx.K()
		if k == nil {
			m.Ctx.KXNORW(t, t, t)
		} else {
			m.Ctx.KMOVW(m.kmasks[*k], t)
		}
		m.Ctx.VPXORD(m.v(dst), m.v(dst), m.v(dst))
		m.Ctx.VGATHERDPS(mem, t, m.v(dst))
		return
	}
	t := m.Ctx.YMM()
	if k == nil {
		m.Ctx.VPCMPEQD(t, t, t)
	} else {
		m.Ctx.VMOVDQU(m.kmasks[*k], t)
	}
	m.Ctx.VXORPS(m.v(dst), m.v(dst), m.v(dst))
	m.Ctx.VGATHERDPS(t, mem, m.v(dst))
}

func (m *Machine) ReduceAdd(v vm.Vec) {
	z := m.v(v)
	if m.level == AVX512 {
		// Whole-zmm EVEX forms only (AVX512F): v or the scratch may be Z16–Z31, which VEX
		// cannot encode and whose 128/256-bit EVEX forms need AVX512VL. Same pairs as the
		// AVX2 tree: halves, quarters, lanes 2–3 onto 0–1, lane 1 onto 0.
		// Each step writes all of a fresh scratch (Avo's liveness needs whole writes).
		h := m.Ctx.ZMM()
		m.Ctx.VSHUFF32X4(operand.U8(0x4e), z, z, h) // 128-bit lanes 2, 3, 0, 1
		m.Ctx.VADDPS(h, z, z)
		h = m.Ctx.ZMM()
		m.Ctx.VSHUFF32X4(operand.U8(0xb1), z, z, h) // 128-bit lanes 1, 0, 3, 2
		m.Ctx.VADDPS(h, z, z)
		h = m.Ctx.ZMM()
		m.Ctx.VPERMILPS(operand.U8(0xee), z, h)
		m.Ctx.VADDPS(h, z, z)
		h = m.Ctx.ZMM()
		m.Ctx.VMOVSHDUP(z, h)
		m.Ctx.VADDPS(h, z, z)
		return
	}
	x := m.Ctx.XMM()
	m.Ctx.VEXTRACTF128(operand.U8(1), z.AsY(), x)
	m.Ctx.VADDPS(x, z.AsX(), z.AsX())
	m.Ctx.VMOVHLPS(z.AsX(), z.AsX(), x)
	m.Ctx.VADDPS(x, z.AsX(), z.AsX())
	m.Ctx.VMOVSHDUP(z.AsX(), x)
	m.Ctx.VADDSS(x, z.AsX(), z.AsX())
}

func (m *Machine) StoreLane0(a vm.Mem, v vm.Vec) { m.Ctx.VMOVSS(m.v(v).AsX(), m.mem(a)) }

var _ reg.Register = reg.X0
