package x86

import (
	"github.com/mmcloughlin/avo/operand"

	"github.com/sparsegen/sparsegen/gen/vm"
)

// The vm.ExpandMachine operations (gen/vm/expand.go) on AVX-512 and AVX2.
//
// AVX-512: the mask is a K register (KMOVW from the bits), the expand a load of 16 floats
// (the stream is padded) and VEXPANDPS with zeroing, register to register, and the FMA
// merge-masked with its X operand in memory (masked lanes are neither read nor changed).
//
// AVX2 has no expand: the mask is a vector of eight int32 lanes sign-extended from one
// entry of bitperm8<>, a 256-entry table of 8 bytes indexed by the 8 bits. Byte i of
// entry b is 0x80 | (the rank of lane i among b's set lanes) where bit i is set, else 0:
// sign-extended, a set lane is negative (VMASKMOVPS and VBLENDVPS read the sign) and holds
// its source lane in its low 3 bits (VPERMPS reads those). The expand permutes the eight
// floats at m (it reads all eight: the stream is padded) and blends +0 into the clear lanes.

var _ vm.ExpandMachine = (*Machine)(nil)

func (m *Machine) ExpandTable() vm.Reg {
	r := m.GP()
	if m.level == AVX512 {
		return r // never read
	}
	t := m.table("bitperm8", 256*8, func(off int) operand.Constant {
		b, v := off/8, uint64(0)
		rank := 0
		for i := 0; i < 8; i++ {
			if b&(1<<i) != 0 {
				v |= uint64(0x80|rank) << (8 * i)
				rank++
			}
		}
		return operand.U64(v)
	}, 8)
	m.Ctx.LEAQ(t, m.g(r))
	return r
}

func (m *Machine) BitMask(bits, table vm.Reg) vm.Mask {
	if m.level == AVX512 {
		k := m.Ctx.K()
		m.Ctx.KMOVW(m.g(bits).As32(), k)
		m.kmasks = append(m.kmasks, k)
	} else {
		y := m.Ctx.YMM()
		m.Ctx.VPMOVSXBD(operand.Mem{Base: m.g(table), Index: m.g(bits), Scale: 8}, y)
		m.kmasks = append(m.kmasks, y)
	}
	return vm.Mask(len(m.kmasks) - 1)
}

func (m *Machine) ExpandLoad(v vm.Vec, a vm.Mem, k vm.Mask) {
	if m.level == AVX512 {
		// Register form: VEXPANDPS from memory ran 3× slower on Zen 5 (11008×4096 at 50%:
		// 12.2 ms against 4.0 ms for the AVX2 kernel).
		t := m.Ctx.ZMM()
		m.Ctx.VMOVUPS(m.mem(a), t)
		m.Ctx.VEXPANDPS_Z(t, m.kmasks[k], m.v(v))
		return
	}
	p, z := m.Ctx.YMM(), m.Ctx.YMM()
	m.Ctx.VPERMPS(m.mem(a), m.kmasks[k], p)
	m.Ctx.VPXOR(z, z, z)
	m.Ctx.VBLENDVPS(m.kmasks[k], p, z, m.v(v))
}

func (m *Machine) Expand(dst, src vm.Vec, k vm.Mask) {
	if m.level == AVX512 {
		m.Ctx.VEXPANDPS_Z(m.v(src), m.kmasks[k], m.v(dst))
		return
	}
	p, z := m.Ctx.YMM(), m.Ctx.YMM()
	m.Ctx.VPERMPS(m.v(src), m.kmasks[k], p)
	m.Ctx.VPXOR(z, z, z)
	m.Ctx.VBLENDVPS(m.kmasks[k], p, z, m.v(dst))
}

func (m *Machine) FMAMemMask(acc, a vm.Vec, mm vm.Mem, k vm.Mask) {
	if m.level == AVX512 {
		m.Ctx.VFMADD231PS(m.mem(mm), m.v(a), m.kmasks[k], m.v(acc))
		return
	}
	t := m.Ctx.YMM()
	m.Ctx.VMASKMOVPS(m.mem(mm), m.kmasks[k], t)
	m.Ctx.VFMADD231PS(t, m.v(a), m.v(acc))
}

func (m *Machine) PopCnt(dst, src vm.Reg) { m.Ctx.POPCNTQ(m.g(src), m.g(dst)) }
