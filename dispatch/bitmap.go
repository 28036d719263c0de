package dispatch

import (
	"fmt"

	"github.com/sparsegen/sparsegen/asm"
)

// The bitmap SpMV (asm/spmvbitmap.go: spmv_bitmap_avx512, spmv_bitmap_avx2; N = 1 on a CSR
// target) costs per chunk of Lanes columns as well as per stored weight, so a cost per
// stored value does not describe it: its time over the CSR SpMV's falls with the density.
// The policy prices it as the gather SpMV of its ISA with 16-bit indices (that family's
// coefficients on the same target and policy point, in-cache or large-W) times
// bitmapRatio at W's density, the ratio measured between the two kernels. Where the ratio
// is below 1, the bitmap's estimate undercuts the CSR SpMV's and Compile picks it at N = 1
// (it packs W's bitmap once, on first use, like any kernel); elsewhere it never does. The
// bitmap family's own policy-table entries, if a calibration wrote any, are not used.

// bitmapDensity and bitmapRatios: the median time of the bitmap kernel over that of
// spmv_csr_i16 of the same ISA, the larger ratio of two shapes, at densities 5%, 10%,
// 20%, 30% and 50%; linear in between, the nearest point outside. Measured with asm
// BenchmarkSpMVBitmap (-count 6, one thread, N = 1, uniform random W; AMD EPYC Zen 5,
// 2026-12-07), medians in ms, bitmap / i16 = ratio:
//
//	                    AVX-512                            AVX2
//	density   11008×4096      4096×11008       11008×4096      4096×11008
//	  50%    3.24/7.80 0.42  3.04/10.58 0.29  3.56/7.45 0.48  3.61/9.75 0.37
//	  30%    2.45/4.72 0.52  2.46/7.01  0.35  3.36/4.58 0.73  3.42/6.86 0.50
//	  20%    2.26/3.28 0.69  2.31/4.85  0.48  3.38/3.10 1.09  3.44/4.84 0.71
//	  10%    2.17/1.64 1.32  2.18/2.00  1.09  3.30/1.58 2.09  3.29/2.01 1.64
//	   5%    2.11/0.83 2.56  2.13/0.86  2.46  3.23/0.81 4.01  3.26/0.86 3.81
//
// The bitmap kernel costs per 16- or 8-column chunk, so its time barely falls below 20%
// density while CSR's falls with the weights: the crossover is near 15% density (85%
// sparsity) on AVX-512 and 22% on AVX2. At 50% the AVX-512 kernel reads W at 29.6–31.5
// GB/s, 75–80% of the measured read bandwidth (39.3 GB/s, BenchmarkRead mem avx512),
// where CSR i16 reads 33–44%.
var (
	bitmapDensity = []float64{0.05, 0.10, 0.20, 0.30, 0.50}
	bitmapRatios  = map[asm.ISA][]float64{
		asm.AVX512: {2.56, 1.32, 0.69, 0.52, 0.42},
		asm.AVX2:   {4.01, 2.09, 1.09, 0.73, 0.48},
	}
	// bitmapRatiosDType replaces bitmapRatios for a low-precision family where its own
	// measurements move the crossover. AVX2 int8 (spmv_bitmap_i8_avx2) costs a flat ~3.9 ms
	// on 11008×4096 (its widening and scaling per chunk), over spmv_csr_i16_i8_avx2: 0.50 at
	// 50% density, 0.81 at 30%, 1.22 at 20% (asm BenchmarkSpMVBitmapLP, benchstat medians of
	// 6, Zen 5, 2026-12-07), so it breaks even near 25%, not the float32 table's 22%; below
	// 20% the float32 points are kept (it only loses more there). Every other dtype measured
	// at or below the float32 ratios (DESIGN §5.4), which therefore price them.
	bitmapRatiosDType = map[string]map[asm.ISA][]float64{
		"i8": {asm.AVX2: {4.01, 2.09, 1.22, 0.81, 0.50}},
	}
)

// bitmapRatio is the bitmap family f's time over its CSR base's on an m×k W storing
// stored values (a ratio above 1 where it has no measurements: never chosen).
func bitmapRatio(f asm.Family, stored int64, m, k int) (ratio, density float64) {
	rs, ok := bitmapRatios[f.ISA]
	if f.Desc != nil {
		if r, ok2 := bitmapRatiosDType[f.DType][f.ISA]; ok2 {
			rs, ok = r, true
		}
	}
	if !ok || m == 0 || k == 0 {
		return 2, 0
	}
	d := float64(stored) / (float64(m) * float64(k))
	switch {
	case d <= bitmapDensity[0]:
		return rs[0], d
	case d >= bitmapDensity[len(bitmapDensity)-1]:
		return rs[len(rs)-1], d
	}
	for i := 1; i < len(bitmapDensity); i++ {
		if d <= bitmapDensity[i] {
			a := (d - bitmapDensity[i-1]) / (bitmapDensity[i] - bitmapDensity[i-1])
			return rs[i-1] + a*(rs[i]-rs[i-1]), d
		}
	}
	return rs[len(rs)-1], d // not reached
}

// bitmapBase is the family a bitmap family is priced from: the gather CSR SpMV of its ISA
// with 16-bit indices.
func bitmapBase(f asm.Family) (asm.Family, bool) {
	for _, g := range asm.Families() {
		if g.Format == "csr" && g.ISA == f.ISA && g.MaxN == 1 && g.IndexBits == 16 && !g.Bcast && !g.Bitmap && g.DType == f.DType {
			return g, true
		}
	}
	return asm.Family{}, false
}

// bitmapCoef: a bitmap family's coefficients at pn are its base's (ok false for any other
// family, or where the base is not registered: the usual lookup then prices it).
func (pol *policy) bitmapCoef(f asm.Family, t target, pn int) (coef, bool) {
	if !f.Bitmap {
		return coef{}, false
	}
	b, ok := bitmapBase(f)
	if !ok {
		return coef{}, false
	}
	c := pol.coefAt(b, t, pn)
	c.source = "like " + b.Name + ", " + c.source
	return c, true
}

// bitmapEstimate scales a bitmap family's estimate e (its base's) by bitmapRatio.
func bitmapEstimate(f asm.Family, t target, m, k int, e float64, src string) (float64, string) {
	r, d := bitmapRatio(f, t.stored, m, k)
	return e * r, fmt.Sprintf("%s × %.2f (bitmap at density %.3f)", src, r, d)
}
