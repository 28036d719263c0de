package x86

import (
	"github.com/mmcloughlin/avo/operand"

	"github.com/sparsegen/sparsegen/gen/vm"
)

var _ vm.BlendMachine = (*Machine)(nil)

// BlendLanes is VBLENDMPS under a K register loaded with bits (AVX-512), or VBLENDPS with
// bits as its immediate (AVX2).
func (m *Machine) BlendLanes(dst, src vm.Vec, bits uint64) {
	vm.Check(bits < 1<<m.Lanes(), "BlendLanes %#x of %d lanes", bits, m.Lanes())
	if m.level == AVX512 {
		t := m.Ctx.GP32()
		m.Ctx.MOVL(operand.U32(uint32(bits)), t)
		k := m.Ctx.K()
		m.Ctx.KMOVW(t, k)
		m.Ctx.VBLENDMPS(m.v(src), m.v(dst), k, m.v(dst))
		return
	}
	m.Ctx.VBLENDPS(operand.U8(uint8(bits)), m.v(src), m.v(dst), m.v(dst))
}
