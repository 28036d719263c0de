//go:build !purego && (amd64 || arm64)

package asm

// The driver of the generated BSR kernels, shared by every ISA that has them (amd64:
// bsr_amd64.go, arm64: bsr_arm64.go register their tables).

import (
	"fmt"

	"github.com/sparsegen/sparsegen/formats"
	"github.com/sparsegen/sparsegen/ref"
)

// bsrFunc is a generated BSR kernel (gen/kernels/bsr.go documents it).
type bsrFunc func(hdr *int32, kidx *int32, val *float32, units, urows, lastRows int, x *float32, ldx int, y *float32, ldy, n, flags int, bias *float32, lo, hi float32)

// bsrLPFunc is a generated low-precision BSR kernel (gen/kernels/bsrlp.go): bsrFunc with
// val the unit's bytes in BSRLayout.LP.
type bsrLPFunc func(hdr *int32, kidx *int32, val *uint8, units, urows, lastRows int, x *float32, ldx int, y *float32, ldy, n, flags int, bias *float32, lo, hi float32)

// bsrGenKernel is one entry of the generated tables: accumulator rows, block width, tile,
// and the kernel: fn for float32 weights, lp for a low-precision dtype's.
type bsrGenKernel struct {
	h, cw, tile int
	fn          bsrFunc
	lp          bsrLPFunc
}

// The kernels' flags are the epilogue vocabulary of the generated contract.go.

// bsrCallWork bounds one assembly call to about this many multiply-adds of one column
// (stored weights × n), ≈ 100 µs at worst (DESIGN §6: Go cannot preempt assembly).
const bsrCallWork = 1 << 21

var (
	dummyF32 [16]float32
	dummyI32 [1]int32
)

func f32At(s []float32, i int64) *float32 {
	if i < int64(len(s)) {
		return &s[i]
	}
	return &dummyF32[0]
}

func u8At(s []byte, i int64) *uint8 {
	if i < int64(len(s)) {
		return &s[i]
	}
	return &dummyU8
}

func i32At(s []int32, i int64) *int32 {
	if i < int64(len(s)) {
		return &s[i]
	}
	return &dummyI32[0]
}

// structFlags maps an epilogue to the kernels' flags; slow is GELU or SiLU, applied in Go
// after the call.
func structFlags(epi *ref.Epilogue) (flags int, lo, hi float32, slow ref.Activation) {
	a := lowerEpilogue(epi)
	if a.loadY {
		flags |= epiLoadY
	}
	if a.bias {
		flags |= epiBias
	}
	if a.clamp {
		flags |= epiClamp
	}
	return flags, a.lo, a.hi, a.post
}

func bsrAsmRun(g bsrGenKernel) func(l *BSRLayout, u0, u1 int, x []float32, ldx int, y []float32, ldy, n int, epi *ref.Epilogue) {
	return func(l *BSRLayout, u0, u1 int, x []float32, ldx int, y []float32, ldy, n int, epi *ref.Epilogue) {
		flags, lo, hi, slow := structFlags(epi)
		var bias []float32
		if epi != nil {
			bias = epi.Bias
		}
		for a := u0; a < u1; {
			b := a + 1
			for b < u1 && (l.Cost[b+1]-l.Cost[a])*int64(n) <= bsrCallWork {
				b++
			}
			r0, _ := l.UnitRows(a)
			lr0, r1 := l.UnitRows(b - 1)
			if g.lp != nil {
				g.lp(&l.Hdr[2*a], i32At(l.KIdx, l.KOff[a]), u8At(l.LP, l.LPOff[a]), b-a, l.R, r1-lr0,
					f32At(x, 0), ldx, &y[r0*ldy], ldy, n, flags, f32At(bias, int64(r0)), lo, hi)
			} else {
				g.fn(&l.Hdr[2*a], i32At(l.KIdx, l.KOff[a]), f32At(l.Val, l.VOff[a]), b-a, l.R, r1-lr0,
					f32At(x, 0), ldx, &y[r0*ldy], ldy, n, flags, f32At(bias, int64(r0)), lo, hi)
			}
			activateTile(slow, y, ldy, r0, r1, 0, n)
			a = b
		}
	}
}

// bsrBlockFamily is the family of d's block shape (BlockR×BlockC) on kernel g, in block
// mode when g.cw > 1: sparsegen's own (registerBSRGen) and users' generated ones
// (RegisterGenerated).
func bsrBlockFamily(d *Desc, g bsrGenKernel) Family {
	run := bsrAsmRun(g)
	return Family{
		Desc: d,
		Pack: func(w formats.Matrix) (Kernel, error) {
			r, c, pack, err := bsrPacker(d, w)
			if err != nil {
				return nil, err
			}
			if r != d.BlockR || c != d.BlockC {
				return nil, ErrNotApplicable
			}
			l, err := pack(g.h, g.cw > 1)
			if err != nil {
				return nil, err
			}
			return &bsrKernel{name: d.Name, isa: d.ISA, tile: g.tile, l: l, run: run}, nil
		},
	}
}

// bsrPacker returns the block shape of W and how to pack it when family d takes W's type:
// a formats.BSR for float32 families, a formats.BSRLP of d's dtype for the low-precision
// ones (else ErrNotApplicable).
func bsrPacker(d *Desc, w formats.Matrix) (r, c int, pack func(h int, block bool) (*BSRLayout, error), err error) {
	if d.DType == "" || d.DType == "float32" {
		b, ok := w.(*formats.BSR)
		if !ok || b == nil {
			return 0, 0, nil, ErrNotApplicable
		}
		return b.R, b.C, func(h int, block bool) (*BSRLayout, error) { return PackBSR(b, h, block) }, nil
	}
	t, err := formats.ParseDType(d.DType)
	if err != nil {
		return 0, 0, nil, fmt.Errorf("asm: %s: %v", d.Name, err)
	}
	b, err := bsrLPOf(d.Name, t, w)
	if err != nil {
		return 0, 0, nil, err
	}
	return b.R, b.C, func(h int, block bool) (*BSRLayout, error) { return PackBSRLP(b, h, block) }, nil
}

// registerBSRGen registers the BSR families of a generated manifest on their kernels: a
// family with a block shape (BlockR×BlockC) runs the kernel of that height and width, in
// block mode when BlockC > 1; bsr_any (0×0) takes any R ≤ 8 × any C by column steps on the
// smallest generated height ≥ R.
func registerBSRGen(m []Desc, kernels []bsrGenKernel) {
	for _, d := range m {
		if d.BlockR != 0 {
			Register(bsrBlockFamily(&d, generated(d, kernels, func(g bsrGenKernel) bool { return g.h == d.BlockR && g.cw == d.BlockC && g.tile == d.Tile })))
			continue
		}
		steps := map[int]bsrGenKernel{}
		for _, g := range kernels {
			if g.cw == 1 {
				steps[g.h] = g
			}
		}
		Register(Family{
			Desc: &d,
			Pack: func(w formats.Matrix) (Kernel, error) {
				br, _, pack, err := bsrPacker(&d, w)
				if err != nil {
					return nil, err
				}
				for _, h := range []int{1, 2, 4, BSRMaxStepRows} {
					g, ok := steps[h]
					if !ok || h < br {
						continue
					}
					l, err := pack(h, false)
					if err != nil {
						return nil, err
					}
					return &bsrKernel{name: d.Name, isa: d.ISA, tile: g.tile, l: l, run: bsrAsmRun(g)}, nil
				}
				return nil, fmt.Errorf("%w: block height %d > %d", ErrNotApplicable, br, BSRMaxStepRows)
			},
		})
	}
}
