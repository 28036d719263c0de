//go:build !purego

package asm

import "github.com/sparsegen/sparsegen/ref"

// The driver of the generated BSR GEMV kernels (bsrgemv_avx512_amd64.s,
// bsrgemv_avx2_amd64.s; gen/kernels/bsrgemv.go documents them).

// bsrGemvFunc is a generated float32 BSR GEMV kernel.
type bsrGemvFunc func(hdr *int32, kidx *int32, val *float32, scale *float32, units, lastRows int, x *float32, y *float32, ldy, flags int, bias *float32, lo, hi float32)

// bsrGemvLPFunc is a generated low-precision BSR GEMV kernel: val the first block's bytes
// in BSRGemvLayout.LP, scale the call's first row's (int8).
type bsrGemvLPFunc func(hdr *int32, kidx *int32, val *uint8, scale *float32, units, lastRows int, x *float32, y *float32, ldy, flags int, bias *float32, lo, hi float32)

// bsrGemvGenKernel is one entry of the generated tables: block shape and kernel (fn for
// float32 weights, lp for a low-precision dtype's).
type bsrGemvGenKernel struct {
	r, c int
	fn   bsrGemvFunc
	lp   bsrGemvLPFunc
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
		rc := int64(l.R * l.C)
		for a := u0; a < u1; {
			b := a + 1
			for b < u1 && l.Cost[b+1]-l.Cost[a] <= bsrCallWork {
				b++
			}
			r0, _ := l.UnitRows(a)
			lr0, r1 := l.UnitRows(b - 1)
			if g.lp != nil {
				g.lp(&l.Hdr[a], i32At(l.KIdx, l.KOff[a]), u8At(l.LP, l.KOff[a]*rc*int64(l.DType.Bytes())), f32At(l.Scale, int64(r0)), b-a, r1-lr0,
					f32At(xc, 0), &yc[r0*ldy], ldy, flags, f32At(bias, int64(r0)), lo, hi)
			} else {
				g.fn(&l.Hdr[a], i32At(l.KIdx, l.KOff[a]), f32At(l.Val, l.KOff[a]*rc), &dummyF32[0], b-a, r1-lr0,
					f32At(xc, 0), &yc[r0*ldy], ldy, flags, f32At(bias, int64(r0)), lo, hi)
			}
			activateTile(slow, yc, ldy, r0, r1, 0, 1)
			a = b
		}
	}
}

func registerBSRGemvGen(m []Desc, kernels []bsrGemvGenKernel) {
	for _, d := range m {
		g := generated(d, kernels, func(g bsrGemvGenKernel) bool { return g.r == d.BlockR && g.c == d.BlockC })
		Register(bsrGemvFamily(&d, bsrGemvAsmCol(g)))
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
