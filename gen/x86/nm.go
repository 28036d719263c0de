package x86

import (
	"github.com/mmcloughlin/avo/operand"

	"github.com/sparsegen/sparsegen/gen/vm"
)

// The vm.NMMachine operations (gen/vm/nm.go) on AVX-512 and AVX2.

var _ vm.NMMachine = (*Machine)(nil)

func (m *Machine) Mul(dst, src vm.Reg) { m.Ctx.IMULQ(m.g(src), m.g(dst)) }

func (m *Machine) VShrVar(dst, src, sh vm.Vec) { m.Ctx.VPSRLVD(m.v(sh), m.v(src), m.v(dst)) }

func (m *Machine) VAndOr(dst, and, or vm.Vec) {
	if m.level == AVX512 {
		// 0xEA is A&B | C with A = dst, B = and, C = or.
		m.Ctx.VPTERNLOGD(operand.U8(0xEA), m.v(or), m.v(and), m.v(dst))
		return
	}
	m.Ctx.VPAND(m.v(and), m.v(dst), m.v(dst))
	m.Ctx.VPOR(m.v(or), m.v(dst), m.v(dst))
}

func (m *Machine) Permute2(dst, idx, a, b vm.Vec) {
	if m.level == AVX512 {
		// VPERMI2PS overwrites its index operand with the result.
		if dst != idx {
			m.Ctx.VMOVDQA32(m.v(idx), m.v(dst))
		}
		m.Ctx.VPERMI2PS(m.v(b), m.v(a), m.v(dst))
		return
	}
	// AVX2: two one-table permutes (VPERMPS uses idx mod 8), then bit 3 picks the table.
	lo, hi, sel := m.Ctx.YMM(), m.Ctx.YMM(), m.Ctx.YMM()
	m.Ctx.VPERMPS(m.v(a), m.v(idx), lo)
	m.Ctx.VPERMPS(m.v(b), m.v(idx), hi)
	m.Ctx.VPSLLD(operand.U8(28), m.v(idx), sel)
	m.Ctx.VBLENDVPS(sel, hi, lo, m.v(dst))
}

func (m *Machine) SelectBit(dst, idx vm.Vec, bit int, a, b vm.Vec) {
	vm.Check(bit >= 0 && bit < 32, "SelectBit bit %d", bit)
	if m.level == AVX512 {
		t := m.Ctx.ZMM()
		k := m.Ctx.K()
		m.Ctx.VPSLLD(operand.U8(uint8(31-bit)), m.v(idx), t)
		m.Ctx.VPMOVD2M(t, k)
		m.Ctx.VBLENDMPS(m.v(b), m.v(a), k, m.v(dst))
		return
	}
	t := m.Ctx.YMM()
	m.Ctx.VPSLLD(operand.U8(uint8(31-bit)), m.v(idx), t)
	m.Ctx.VBLENDVPS(t, m.v(b), m.v(a), m.v(dst))
}
