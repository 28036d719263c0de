package x86

import (
	"github.com/mmcloughlin/avo/operand"

	"github.com/sparsegen/sparsegen/gen/vm"
)

// The vm.LaneGroupMachine operations (gen/vm/lanegroup.go) on AVX-512 and AVX2: in-lane
// permutes (VPERMILPS by immediate) and, across 128-bit blocks, VSHUFF32X4 (AVX-512) or
// VPERM2F128 (AVX2). Every step writes the whole of its destination (Avo's liveness needs
// whole writes), and on AVX-512 only whole-zmm EVEX forms are used (any of Z0–Z31).

var _ vm.LaneGroupMachine = (*Machine)(nil)

// SumGroups adds each lane to its pair neighbour (VPERMILPS 0xb1: lanes 1, 0, 3, 2), then,
// for groups of 4, each pair sum to the other pair's (0x4e: lanes 2, 3, 0, 1).
func (m *Machine) SumGroups(v vm.Vec, n int) {
	vm.Check(n == 2 || n == 4, "SumGroups of %d", n)
	z := m.v(v)
	imms := []uint8{0xb1, 0x4e}[:n/2]
	for _, imm := range imms {
		h := m.v(m.Vec())
		m.Ctx.VPERMILPS(operand.U8(imm), z, h)
		m.Ctx.VADDPS(h, z, z)
	}
}

// LaneTo0 copies the 128-bit block of lane l to block 0 (VSHUFF32X4 or VPERM2F128), then
// lane l's element of it to element 0 (VPERMILPS).
func (m *Machine) LaneTo0(dst, src vm.Vec, l int) {
	vm.Check(l >= 0 && l < m.Lanes(), "LaneTo0 of lane %d", l)
	b, j := l/4, l%4
	s, d := m.v(src), m.v(dst)
	switch {
	case b == 0:
		m.Ctx.VPERMILPS(operand.U8(uint8(j)), s, d)
		return
	case m.level == AVX512:
		m.Ctx.VSHUFF32X4(operand.U8(uint8(0x55*b)), s, s, d)
	default:
		m.Ctx.VPERM2F128(operand.U8(0x11), s, s, d)
	}
	if j != 0 {
		m.Ctx.VPERMILPS(operand.U8(uint8(j)), d, d)
	}
}
