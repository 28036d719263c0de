//go:build !purego

package asm

import (
	"slices"

	"github.com/sparsegen/sparsegen/ref"
)

// The driver of the generated BSR GEMV kernels (bsrgemv_avx512_amd64.s,
// bsrgemv_avx2_amd64.s; gen/kernels/bsrgemv.go documents them).

// bsrGemvFunc is a generated float32 BSR GEMV kernel.
type bsrGemvFunc func(hdr *int32, kidx *int32, val *float32, scale *float32, units, lastRows int, x *float32, y *float32, ldy, flags int, bias *float32, lo, hi float32)

// bsrGemvLPFunc is a generated low-precision BSR GEMV kernel: val the first block's bytes
// in BSRGemvLayout.LP, scale the call's first row's (int8).
type bsrGemvLPFunc func(hdr *int32, kidx *int32, val *uint8, scale *float32, units, lastRows int, x *float32, y *float32, ldy, flags int, bias *float32, lo, hi float32)

// bsrGemvGenKernel is one entry of the generated tables: block shape, columns per call
// (1: X a column; n > 1: X the pass's panel) and kernel (fn for float32 weights, lp for a
// low-precision dtype's).
type bsrGemvGenKernel struct {
	r, c, n int
	fn      bsrGemvFunc
	lp      bsrGemvLPFunc
}

// bsrGemvChunkBytes bounds the packed weights of one multi-column call: every pass runs
// over a chunk of block rows before the next chunk, so W streams from memory once and the
// later passes read it from L2 (as the dense GEMV's chunks, gemvChunkBytes).
const bsrGemvChunkBytes = 256 << 10

// call runs g on units [a, b) of l: x is its X (a column, or a pass's panel), y the Y of
// unit a's first row.
func (g bsrGemvGenKernel) call(l *BSRGemvLayout, a, b int, x, y *float32, ldy, flags int, bias []float32, lo, hi float32) {
	r0, _ := l.UnitRows(a)
	lr0, r1 := l.UnitRows(b - 1)
	rc := int64(l.R * l.C)
	if g.lp != nil {
		g.lp(&l.Hdr[a], i32At(l.KIdx, l.KOff[a]), u8At(l.LP, l.KOff[a]*rc*int64(l.DType.Bytes())), f32At(l.Scale, int64(r0)), b-a, r1-lr0,
			x, y, ldy, flags, f32At(bias, int64(r0)), lo, hi)
		return
	}
	g.fn(&l.Hdr[a], i32At(l.KIdx, l.KOff[a]), f32At(l.Val, l.KOff[a]*rc), &dummyF32[0], b-a, r1-lr0,
		x, y, ldy, flags, f32At(bias, int64(r0)), lo, hi)
}

// bsrGemvChunkEnd is the end of the chunk of units that starts at a: past a, units while
// their work (l.Cost, stored weights) stays within limit; at most u1.
func bsrGemvChunkEnd(l *BSRGemvLayout, a, u1 int, limit int64) int {
	b := a + 1
	for b < u1 && l.Cost[b+1]-l.Cost[a] <= limit {
		b++
	}
	return b
}

// bsrGemvAsmCols runs N > 1 columns on the multi-column kernels ks (by width): chunks of
// block rows of about bsrGemvChunkBytes of weights, every pass over a chunk in turn.
func bsrGemvAsmCols(ks map[int]bsrGemvGenKernel) bsrGemvCols {
	return func(l *BSRGemvLayout, u0, u1 int, panel []float32, passes []int, yc []float32, ldy int, epi *ref.Epilogue) {
		flags, lo, hi, slow := structFlags(epi)
		var bias []float32
		if epi != nil {
			bias = epi.Bias
		}
		eb := int64(4)
		if l.DType != 0 {
			eb = int64(l.DType.Bytes())
		}
		n, xl := 0, l.xLen()
		for _, w := range passes {
			n += w
		}
		for a := u0; a < u1; {
			b := bsrGemvChunkEnd(l, a, u1, bsrGemvChunkBytes/eb)
			r0, _ := l.UnitRows(a)
			_, r1 := l.UnitRows(b - 1)
			off, j0 := 0, 0
			for _, w := range passes {
				ks[w].call(l, a, b, &panel[off], &yc[r0*ldy+j0], ldy, flags, bias, lo, hi)
				off += xl * w
				j0 += w
			}
			activateTile(slow, yc, ldy, r0, r1, 0, n)
			a = b
		}
	}
}

// bsrGemvAsmCol runs units [u0, u1) of one column on g, in calls of about bsrCallWork
// weights (DESIGN §6: Go cannot preempt assembly).
func bsrGemvAsmCol(g bsrGemvGenKernel) func(l *BSRGemvLayout, u0, u1 int, xc, yc []float32, ldy int, epi *ref.Epilogue) {
	return func(l *BSRGemvLayout, u0, u1 int, xc, yc []float32, ldy int, epi *ref.Epilogue) {
		flags, lo, hi, slow := structFlags(epi)
		var bias []float32
		if epi != nil {
			bias = epi.Bias
		}
		for a := u0; a < u1; {
			b := bsrGemvChunkEnd(l, a, u1, bsrCallWork)
			r0, _ := l.UnitRows(a)
			_, r1 := l.UnitRows(b - 1)
			g.call(l, a, b, f32At(xc, 0), &yc[r0*ldy], ldy, flags, bias, lo, hi)
			activateTile(slow, yc, ldy, r0, r1, 0, 1)
			a = b
		}
	}
}

func registerBSRGemvGen(m []Desc, kernels []bsrGemvGenKernel) {
	for _, d := range m {
		g := generated(d, kernels, func(g bsrGemvGenKernel) bool { return g.r == d.BlockR && g.c == d.BlockC && g.n == 1 })
		ks := map[int]bsrGemvGenKernel{}
		var widths []int
		for _, k := range kernels {
			if k.r == d.BlockR && k.c == d.BlockC && k.n > 1 {
				ks[k.n] = k
				widths = append(widths, k.n)
			}
		}
		if len(widths) == 0 {
			Register(bsrGemvFamily(&d, bsrGemvAsmCol(g), nil, nil))
			continue
		}
		ks[1] = g // a pass of one column: the N = 1 kernel reads a one-column panel as X
		slices.Sort(widths)
		slices.Reverse(widths)
		Register(bsrGemvFamily(&d, bsrGemvAsmCol(g), bsrGemvAsmCols(ks), append(widths, 1)))
	}
}

func init() {
	registerBSRGemvGen(bsrgemvAVX512Manifest, bsrGemvAVX512Kernels)
	registerBSRGemvGen(bsrgemvAVX2Manifest, bsrGemvAVX2Kernels)
	registerBSRGemvGen(bsrgemvbf16AVX512Manifest, bsrGemvBF16AVX512Kernels)
	registerBSRGemvGen(bsrgemvbf16AVX2Manifest, bsrGemvBF16AVX2Kernels)
	registerBSRGemvGen(bsrgemvf16AVX512Manifest, bsrGemvF16AVX512Kernels)
	registerBSRGemvGen(bsrgemvf16AVX2Manifest, bsrGemvF16AVX2Kernels)
	registerBSRGemvGen(bsrgemvi8AVX512Manifest, bsrGemvI8AVX512Kernels)
	registerBSRGemvGen(bsrgemvi8AVX2Manifest, bsrGemvI8AVX2Kernels)
}
