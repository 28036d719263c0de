package neon

import (
	"fmt"

	"github.com/sparsegen/sparsegen/gen/vm"
)

// The 4×4 tile transpose (vm.TransposeMachine) and the permutes it needs. TRN1/TRN2 are
// native in Go 1.26's assembler (VTRN1, VTRN2).

var _ vm.TransposeMachine = (*Machine)(nil)

func trnArr(a Arr) error {
	if a == D1 {
		return fmt.Errorf("TRN1/TRN2 do not take D1")
	}
	return nil
}

// VTRN1 interleaves the even-numbered lanes: d[2i] = n[2i], d[2i+1] = m[2i].
func (e *Emitter) VTRN1(m, n, d Vec) { e.three("VTRN1", "trn1", ClassMove, m, n, d, trnArr(d.Arr)) }

// VTRN2 interleaves the odd-numbered lanes: d[2i] = n[2i+1], d[2i+1] = m[2i+1].
func (e *Emitter) VTRN2(m, n, d Vec) { e.three("VTRN2", "trn2", ClassMove, m, n, d, trnArr(d.Arr)) }

// Transpose transposes the 4×4 tile in rows (vm.TransposeMachine) in place.
func (m *Machine) Transpose(rows []vm.Vec) {
	vm.Check(len(rows) == 4, "neon: Transpose of %d rows (want 4)", len(rows))
	for i := range rows {
		for j := range i {
			vm.Check(rows[i] != rows[j], "neon: Transpose rows repeat register %d", rows[i])
		}
	}
	m.add(op{k: oTranspose, v: append([]vm.Vec(nil), rows...)})
}

// transpose lowers oTranspose with V30 and V31 as scratch: eight TRN instructions, rows
// a, b, c, d (distinct registers: all four are live together) become columns 0..3.
//
//	V30 = trn1.4s(a, b) = a0 b0 a2 b2    V31 = trn2.4s(a, b) = a1 b1 a3 b3
//	a   = trn1.4s(c, d) = c0 d0 c2 d2    b   = trn2.4s(c, d) = c1 d1 c3 d3
//	c   = trn2.2d(V30, a) = a2 b2 c2 d2  a   = trn1.2d(V30, a) = a0 b0 c0 d0
//	d   = trn2.2d(V31, b) = a3 b3 c3 d3  b   = trn1.2d(V31, b) = a1 b1 c1 d1
func (l *lower) transpose(o *op) {
	e := l.f.Emitter
	a, b, c, d := l.v(o.v[0]), l.v(o.v[1]), l.v(o.v[2]), l.v(o.v[3])
	e.VTRN1(b.S4(), a.S4(), vTmp0.S4())
	e.VTRN2(b.S4(), a.S4(), vTmp1.S4())
	e.VTRN1(d.S4(), c.S4(), a.S4())
	e.VTRN2(d.S4(), c.S4(), b.S4())
	e.VTRN2(a.D2(), vTmp0.D2(), c.D2())
	e.VTRN1(a.D2(), vTmp0.D2(), a.D2())
	e.VTRN2(b.D2(), vTmp1.D2(), d.D2())
	e.VTRN1(b.D2(), vTmp1.D2(), b.D2())
}
