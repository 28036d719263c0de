package x86

import (
	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"

	"github.com/sparsegen/sparsegen/gen/vm"
)

var _ vm.TransposeMachine = (*Machine)(nil)

// Transpose lowers vm.TransposeMachine.Transpose. The first stages write fresh virtual
// registers and the last stage writes the rows' own registers, so no moves are needed and
// Avo's liveness keeps at most about 2·Lanes() vectors live (AVX2: inputs die pair by pair,
// so the 8×8 tile fits in Y0–Y15).
//
// Avo's operand order is Go's (Intel's reversed): VUNPCKLPS b, a, d is d = a0 b0 a1 b1 per
// 128-bit lane; VSHUFPS $imm, b, a, d takes d's low two elements of each 128-bit lane from
// a and the high two from b; VSHUFF32X4 $imm, b, a, d takes d's 128-bit lanes 0, 1 from a
// and 2, 3 from b.
func (m *Machine) Transpose(rows []vm.Vec) {
	l := m.Lanes()
	vm.Check(len(rows) == l, "Transpose of %d rows on %d lanes", len(rows), l)
	seen := map[vm.Vec]bool{}
	for _, r := range rows {
		vm.Check(!seen[r], "Transpose rows repeat register %d", r)
		seen[r] = true
	}
	fresh := func() reg.VecVirtual {
		if m.level == AVX512 {
			return m.Ctx.ZMM()
		}
		return m.Ctx.YMM()
	}
	in := make([]reg.VecVirtual, l)
	for i, r := range rows {
		in[i] = m.v(r)
	}
	// Stages 1 and 2, per group g of four rows a, b, c, d: within every 128-bit lane j,
	// u[g][k] holds (a, b, c, d)[4j+k] — a 4×4 transpose inside each 128-bit lane.
	u := make([][4]reg.VecVirtual, l/4)
	for g := range u {
		a, b, c, d := in[4*g], in[4*g+1], in[4*g+2], in[4*g+3]
		ab0, ab1, cd0, cd1 := fresh(), fresh(), fresh(), fresh()
		m.Ctx.VUNPCKLPS(b, a, ab0) // a0 b0 a1 b1
		m.Ctx.VUNPCKHPS(b, a, ab1) // a2 b2 a3 b3
		m.Ctx.VUNPCKLPS(d, c, cd0) // c0 d0 c1 d1
		m.Ctx.VUNPCKHPS(d, c, cd1) // c2 d2 c3 d3
		for k, src := range [4]struct {
			lo, hi reg.VecVirtual
			imm    uint8
		}{{ab0, cd0, 0x44}, {ab0, cd0, 0xEE}, {ab1, cd1, 0x44}, {ab1, cd1, 0xEE}} {
			u[g][k] = fresh()
			m.Ctx.VSHUFPS(operand.U8(src.imm), src.hi, src.lo, u[g][k])
		}
	}
	out := func(col int) reg.VecVirtual { return m.v(rows[col]) }
	if m.level == AVX2 {
		// Stage 3: column k is the low 128-bit lanes of u[0][k], u[1][k]; column 4+k the high.
		for k := 0; k < 4; k++ {
			m.Ctx.VPERM2F128(operand.U8(0x20), u[1][k], u[0][k], out(k))
			m.Ctx.VPERM2F128(operand.U8(0x31), u[1][k], u[0][k], out(4+k))
		}
		return
	}
	// Stages 3 and 4 (AVX-512): column 4j+k gathers 128-bit lane j of u[0..3][k], a 4×4
	// transpose of 128-bit lanes by two VSHUFF32X4 rounds.
	for k := 0; k < 4; k++ {
		v01lo, v01hi, v23lo, v23hi := fresh(), fresh(), fresh(), fresh()
		m.Ctx.VSHUFF32X4(operand.U8(0x44), u[1][k], u[0][k], v01lo) // u0.0 u0.1 u1.0 u1.1
		m.Ctx.VSHUFF32X4(operand.U8(0xEE), u[1][k], u[0][k], v01hi) // u0.2 u0.3 u1.2 u1.3
		m.Ctx.VSHUFF32X4(operand.U8(0x44), u[3][k], u[2][k], v23lo)
		m.Ctx.VSHUFF32X4(operand.U8(0xEE), u[3][k], u[2][k], v23hi)
		m.Ctx.VSHUFF32X4(operand.U8(0x88), v23lo, v01lo, out(k))    // lanes 0
		m.Ctx.VSHUFF32X4(operand.U8(0xDD), v23lo, v01lo, out(4+k))  // lanes 1
		m.Ctx.VSHUFF32X4(operand.U8(0x88), v23hi, v01hi, out(8+k))  // lanes 2
		m.Ctx.VSHUFF32X4(operand.U8(0xDD), v23hi, v01hi, out(12+k)) // lanes 3
	}
}
