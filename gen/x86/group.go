package x86

import (
	"github.com/mmcloughlin/avo/operand"

	"github.com/sparsegen/sparsegen/gen/vm"
)

// The vm.GroupMachine operations (gen/vm/group.go) on AVX-512 and AVX2.

var _ vm.GroupMachine = (*Machine)(nil)

// LoadU16s loads the group into its last register and peels the others off its low end:
// a zero-extending 16-bit move and a shift each, ALU work beside the loads the tiles are
// bound by.
func (m *Machine) LoadU16s(dst []vm.Reg, a vm.Mem) {
	n := len(dst)
	vm.Check(n == 2 || n == 4, "LoadU16s of %d", n)
	last := m.g(dst[n-1])
	if n == 4 {
		m.Ctx.MOVQ(m.mem(a), last)
	} else {
		m.Ctx.MOVL(m.mem(a), last.As32())
	}
	for j := 0; j < n-1; j++ {
		m.Ctx.MOVWQZX(last.As16(), m.g(dst[j]))
		m.Ctx.SHRQ(operand.U8(16), last)
	}
}

func (m *Machine) LoadU8s(dst []vm.Reg, a vm.Mem) {
	n := len(dst)
	vm.Check(n == 2 || n == 4 || n == 8, "LoadU8s of %d", n)
	last := m.g(dst[n-1])
	switch n {
	case 8:
		m.Ctx.MOVQ(m.mem(a), last)
	case 4:
		m.Ctx.MOVL(m.mem(a), last.As32())
	default:
		m.Ctx.MOVWQZX(m.mem(a), last)
	}
	for j := 0; j < n-1; j++ {
		m.Ctx.MOVBQZX(last.As8(), m.g(dst[j]))
		m.Ctx.SHRQ(operand.U8(8), last)
	}
}

func (m *Machine) LoadGroup(v vm.Vec, a vm.Mem, n int) {
	switch {
	case n == 2:
		m.Ctx.VBROADCASTSD(m.mem(a), m.v(v))
	case n == 4 && m.level == AVX512:
		m.Ctx.VBROADCASTF32X4(m.mem(a), m.v(v))
	case n == 4:
		m.Ctx.VBROADCASTF128(m.mem(a), m.v(v))
	default:
		vm.Check(false, "LoadGroup of %d", n)
	}
}

// BcastGroup is an in-lane permute (VPERMILPS by immediate): every 128-bit block holds the
// group (LoadGroup), so selecting element j in each block fills the vector with it.
func (m *Machine) BcastGroup(dst, src vm.Vec, j, n int) {
	vm.Check(j >= 0 && j < n && (n == 2 || n == 4), "BcastGroup %d of %d", j, n)
	m.Ctx.VPERMILPS(operand.U8(uint8(0x55*j)), m.v(src), m.v(dst))
}

// ByteField copies src and moves byte j to bit shift with one shift, then masks it: the
// copy is a register move (renamed away on current cores), so two ALU operations where the
// entry-by-entry decode took a byte load, a shift and an add. Byte 0 is a zero-extending
// byte move and a shift.
func (m *Machine) ByteField(dst, src vm.Reg, j, shift int) {
	vm.Check(j >= 0 && j < 8 && shift >= 0 && shift <= 23, "ByteField byte %d shift %d", j, shift)
	d, s := m.g(dst), m.g(src)
	if j == 0 {
		m.Ctx.MOVBQZX(s.As8(), d)
		if shift > 0 {
			m.Ctx.SHLQ(operand.U8(uint8(shift)), d)
		}
		return
	}
	m.Ctx.MOVQ(s, d)
	switch sh := shift - 8*j; {
	case sh < 0:
		m.Ctx.SHRQ(operand.U8(uint8(-sh)), d)
	case sh > 0:
		m.Ctx.SHLQ(operand.U8(uint8(sh)), d)
	}
	m.Ctx.ANDQ(operand.I32(int32(0xFF<<shift)), d)
}
