package dispatch

import (
	"fmt"

	"github.com/sparsegen/sparsegen/asm"
)

// The bitmap SpMV (asm/spmvbitmap.go: spmv_bitmap_avx512, spmv_bitmap_avx2; N = 1 on a CSR
// target) costs per chunk of Lanes columns as well as per stored weight, so a cost per
// stored value does not describe it: its time over the CSR SpMV's falls with the density.
// The policy prices it as the CSR SpMV of its ISA and dtype with 16-bit indices (bitmapBase:
// the gather-free one where there is one; that family's coefficients on the same target and
// policy point, in-cache or large-W) times bitmapRatio at W's density, the ratio measured
// between the two kernels. Where the ratio is below 1, the bitmap's estimate undercuts the
// CSR SpMV's and Compile picks it at N = 1 (it packs W's bitmap once, on first use, like
// any kernel); elsewhere it never does. The bitmap family's own policy-table entries, if a
// calibration wrote any, are not used.

// bitmapDensity and bitmapRatios: the median time of the float32 bitmap kernel over that
// of spmv_csr_i16_bcast of the same ISA, the larger ratio of two shapes, at densities 5%,
// 10%, 20%, 30% and 50%; linear in between, the nearest point outside. Measured with asm
// BenchmarkSpMVBitmap (-benchtime 20x -count 6, one thread, N = 1, uniform random W),
// medians in ms, bitmap / i16 bcast = ratio; AVX-512 on an AMD EPYC Zen 5 (2026-12-07),
// AVX2 on an AVX2-only AMD EPYC Zen 3 (2026-12-07, session 11), the kind of CPU that runs
// the AVX2 kernels outside tests:
//
//	                    AVX-512 (Zen 5)                    AVX2 (Zen 3)
//	density   11008×4096      4096×11008       11008×4096      4096×11008
//	  50%    3.25/6.49 0.50  3.53/6.18 0.57   12.84/14.66 0.88  12.90/14.46 0.89
//	  30%    2.52/3.99 0.63  2.53/3.53 0.72   10.07/9.21  1.09  11.51/9.51  1.21
//	  20%    2.36/2.59 0.91  2.37/2.42 0.98    9.72/6.11  1.59  10.61/7.02  1.51
//	  10%    2.28/1.16 1.97  2.35/1.22 1.92   10.52/3.27  3.22  10.48/3.33  3.14
//	   5%    2.23/0.62 3.59  2.19/0.67 3.27    9.74/1.45  6.72  11.28/1.52  7.40
//
// The bitmap kernel costs per 16- or 8-column chunk, so its time barely falls below 20%
// density while CSR's falls with the weights: the crossover is near 20% density (80%
// sparsity) on AVX-512 and near 41% on the Zen 3. (On the Zen 5 with AVX-512 switched
// off, AVX2's ratios were 5.31, 2.88, 1.40, 0.89 and 0.59, a crossover near 27%: per
// 8-column chunk the Zen 3 takes about 1.9 ns against the Zen 5's 0.6, 3×, per entry of
// the gather-free SpMV about 2.8× at 10% density and 2.3× at 50%.)
var (
	bitmapDensity = []float64{0.05, 0.10, 0.20, 0.30, 0.50}
	bitmapRatios  = map[asm.ISA][]float64{
		asm.AVX512: {3.59, 1.97, 0.98, 0.72, 0.57},
		asm.AVX2:   {7.40, 3.22, 1.59, 1.21, 0.89},
	}
	// bitmapRatiosDType replaces bitmapRatios for a low-precision family: its time over
	// the SpMV of its dtype with 16-bit indices (spmv_csr_i16_<dtype>, gather-free on x86),
	// the larger ratio of 11008×4096 and 4096×11008, same densities; asm
	// BenchmarkSpMVBitmapLP (-benchtime 20x -count 6, medians). AVX-512 on the Zen 5
	// (2026-12-07, three helper agents building beside it): bitmap / SpMV ms at 90% and 50%
	// sparsity (11008×4096) bf16 1.81/1.07 and 2.14/6.60, fp16 1.79/1.03 and 1.93/5.33,
	// int8 1.78/1.02 and 1.84/4.98; the int8 4096×11008 points at 20% and 10% density (2.57
	// and 2.62 ms bitmap, against 1.8 on the other shape) were taken as measured. AVX2 on
	// the Zen 3 (session 11): bf16 8.51/2.85 and 10.75/14.23, fp16 6.87/2.64 and 9.55/13.90,
	// int8 9.31/2.82 and 9.02/12.08. The SpMV runs every dtype at about the float32 time
	// (bound by its per-entry work, not the value bytes), the bitmap falls with the bytes
	// on the Zen 5 and hardly at all on the Zen 3, so the crossover is near 20% density on
	// AVX-512 and near 40% on AVX2 (the Zen 5 with AVX-512 off measured 6.16, 3.35, 1.69,
	// 1.10, 0.70 for bf16: about the same).
	bitmapRatiosDType = map[string]map[asm.ISA][]float64{
		"bf16": {asm.AVX512: {3.14, 1.73, 0.86, 0.59, 0.38}, asm.AVX2: {6.50, 3.35, 1.61, 1.20, 0.76}},
		"f16":  {asm.AVX512: {3.14, 1.75, 0.88, 0.58, 0.38}, asm.AVX2: {6.86, 3.16, 1.79, 1.22, 0.71}},
		"i8":   {asm.AVX512: {3.19, 2.33, 1.07, 0.60, 0.38}, asm.AVX2: {6.82, 3.51, 2.11, 1.28, 0.75}},
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
	if !ok {
		return 2, 0
	}
	return densityRatio(bitmapDensity, rs, stored, m, k)
}

// densityRatio is the ratio rs measured at the densities dens (increasing) for an m×k W
// storing stored values: linear in between, the nearest point outside (2, never chosen,
// for an empty shape), with W's density.
func densityRatio(dens, rs []float64, stored int64, m, k int) (ratio, density float64) {
	if m == 0 || k == 0 {
		return 2, 0
	}
	d := float64(stored) / (float64(m) * float64(k))
	switch {
	case d <= dens[0]:
		return rs[0], d
	case d >= dens[len(dens)-1]:
		return rs[len(rs)-1], d
	}
	for i := 1; i < len(dens); i++ {
		if d <= dens[i] {
			a := (d - dens[i-1]) / (dens[i] - dens[i-1])
			return rs[i-1] + a*(rs[i]-rs[i-1]), d
		}
	}
	return rs[len(rs)-1], d // not reached
}

// bitmapBase is the family a bitmap family is priced from: the CSR SpMV of its ISA and
// dtype with 16-bit indices, the gather-free one where there is one.
func bitmapBase(f asm.Family) (asm.Family, bool) {
	var base asm.Family
	found := false
	for _, g := range asm.Families() {
		if g.Format == "csr" && g.ISA == f.ISA && g.MaxN == 1 && g.IndexBits == 16 && !g.Bitmap && g.DType == f.DType && (!found || g.Bcast) {
			base, found = g, true
		}
	}
	return base, found
}

// baseCoef: a bitmap or 8-bit-delta family's coefficients at pn are its base's (bitmapBase;
// ok false for any other family, or where the base is not registered: the usual lookup then
// prices it). bitmapEstimate and deltaEstimate scale the base's estimate by the family's
// measured ratio.
func (pol *policy) baseCoef(f asm.Family, t target, pn int) (coef, bool) {
	if !f.Bitmap && !f.Delta {
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
