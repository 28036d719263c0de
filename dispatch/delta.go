package dispatch

import (
	"fmt"

	"github.com/sparsegen/sparsegen/asm"
)

// The 8-bit-delta SpMV (asm/spmvdelta.go: spmv_csr_d8_<isa>, spmv_csr_d8_<dtype>_<isa>; N = 1
// on a CSR target) is priced as the bitmap SpMV is (bitmap.go): as the CSR SpMV of its ISA
// and dtype with 16-bit indices (the gather-free one where there is one) times deltaRatio
// at W's density, the ratio of the two kernels' measured times. Where the ratio is below 1
// Compile would pick it at N = 1; at every density measured it is above 1 (below), so
// Compile never does, and a low-precision W (lowp.go, which ranks rather than prices) runs
// it only where deltaPays. Its own policy-table entries, if a calibration wrote any, are not
// used.

// deltaDensity and deltaRatios: the median time of the 8-bit-delta kernel over that of
// spmv_csr_i16_bcast of the same ISA (low precision: spmv_csr_i16_<dtype>, gather-free on
// x86), the larger ratio of 11008×4096 and 4096×11008, at densities 2%, 5%, 10%, 20% and
// 30%; linear in between, the nearest point outside. asm BenchmarkSpMVDelta (-benchtime
// 20x, six passes of -count 1 so that the two kernels alternate; one thread, N = 1,
// uniform random W; AMD EPYC Zen 5 VM, 2026-12-07, other agents' builds beside it).
// Medians in ms, delta / base, 11008×4096 then 4096×11008, at 70, 80, 90, 95 and 98%
// sparsity:
//
//	float32 avx512   4.48/4.03 4.09/3.81  2.71/2.49 2.55/2.60  1.28/1.18 1.36/1.21  0.67/0.61 0.74/0.67  0.35/0.29 0.38/0.35
//	float32 avx2     4.12/4.07 4.02/3.88  2.77/2.55 2.60/2.54  1.31/1.15 1.35/1.22  0.70/0.62 0.73/0.66  0.34/0.30 0.39/0.33
//	bf16 avx512      3.39/3.23 3.39/3.35  2.32/2.25 2.32/2.15  1.21/1.08 1.21/1.12  0.66/0.61 0.68/0.64  0.34/0.28 0.38/0.32
//	bf16 avx2        3.47/3.42 3.48/3.37  2.38/2.24 2.44/2.33  1.23/1.12 1.25/1.13  0.68/0.61 0.70/0.64  0.33/0.31 0.37/0.34
//	f16 avx512       3.38/3.55 3.43/3.34  2.32/2.22 2.28/2.24  1.18/1.11 1.30/1.14  0.67/0.57 0.70/0.62  0.35/0.29 0.37/0.34
//	f16 avx2         3.72/3.49 3.49/3.56  2.41/2.35 2.43/2.37  1.32/1.14 1.34/1.19  0.69/0.59 0.71/0.64  0.35/0.30 0.38/0.34
//	i8 avx512        3.14/2.95 3.23/3.05  2.17/2.02 2.24/2.05  1.23/1.04 1.21/1.07  0.68/0.57 0.69/0.63  0.34/0.28 0.38/0.32
//	i8 avx2          3.35/3.26 3.32/3.15  2.29/2.18 2.34/2.15  1.22/1.13 1.23/1.15  0.66/0.63 0.68/0.64  0.34/0.32 0.37/0.35
//
// (fp16 from a later run of its own, beside a second bf16 run whose larger ratios were
// 0.98–1.35: at 70% sparsity the two kernels tie within the noise on AVX2.) Every ratio
// above is at least 1.03, single shapes 0.95–0.98 at 70–80% in a few runs: both
// kernels are bound by their per-entry work, not by W's bytes, at these shapes (the i16
// kernel runs every dtype at about the same time per entry, and as fast with W in L2), and
// a delta costs more decode work than a 16-bit index (gen/kernels/spmvdelta.go).
var (
	deltaDensity = []float64{0.02, 0.05, 0.10, 0.20, 0.30}
	deltaRatios  = map[string]map[asm.ISA][]float64{
		"float32": {asm.AVX512: {1.22, 1.11, 1.12, 1.09, 1.11}, asm.AVX2: {1.18, 1.13, 1.15, 1.09, 1.04}},
		"bf16":    {asm.AVX512: {1.21, 1.08, 1.12, 1.08, 1.05}, asm.AVX2: {1.08, 1.11, 1.10, 1.06, 1.03}},
		"f16":     {asm.AVX512: {1.23, 1.19, 1.14, 1.05, 1.03}, asm.AVX2: {1.16, 1.16, 1.16, 1.03, 1.07}},
		"i8":      {asm.AVX512: {1.23, 1.20, 1.18, 1.10, 1.07}, asm.AVX2: {1.06, 1.06, 1.08, 1.09, 1.05}},
	}
)

// deltaRatio is the delta family f's time over its CSR base's on an m×k W storing stored
// values (2 where it has no measurements: never chosen).
func deltaRatio(f asm.Family, stored int64, m, k int) (ratio, density float64) {
	var rs []float64
	if f.Desc != nil {
		rs = deltaRatios[f.DType][f.ISA]
	}
	if rs == nil {
		return 2, 0
	}
	return densityRatio(deltaDensity, rs, stored, m, k)
}

// deltaEstimate scales a delta family's estimate e (its base's) by deltaRatio.
func deltaEstimate(f asm.Family, t target, m, k int, e float64, src string) (float64, string) {
	r, d := deltaRatio(f, t.stored, m, k)
	return e * r, fmt.Sprintf("%s × %.2f (8-bit deltas at density %.3f)", src, r, d)
}

// deltaPays: a low-precision W runs the delta SpMV of its dtype where its measured ratio
// (deltaRatio) is below 1 at W's density; nowhere at present.
func (l *lpWeights) deltaPays(f asm.Family) bool {
	r, _ := deltaRatio(f, l.stored, l.m, l.k)
	return r < 1
}
