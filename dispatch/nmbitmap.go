package dispatch

import (
	"slices"

	"github.com/sparsegen/sparsegen/asm"
)

// The bitmap SpMV on N:M weights (asm/nmbitmap.go: nm_bitmap_<dtype>_<isa>, the
// low-precision bitmap kernel on an NMLP's slots converted exactly to a CSRLP). compileLP
// ranks a bitmap family of W's format before the N:M GEMV where it pays (lpWeights.
// bitmapPays); for an N:M W that is where nmBitmapWins lists W's pattern for the family's
// ISA and dtype: where the bitmap measured faster than the N:M GEMV on both of issue 17's
// shapes. Elsewhere the GEMV runs (the bitmap costs per chunk of Lanes columns, so its time
// falls little with the pattern's density while the GEMV's falls with its slots).
//
// asm BenchmarkNMN1, one thread, N = 1, every slot nonzero, AMD EPYC Zen 5 (AVX-512),
// 2026-12-07, six alternated runs of -benchtime 20x; the median of the per-run ratios
// bitmap / GEMV (the same run), medians of the times in ms (a loaded VM: ±10-60% per run):
//
//	                 11008×4096                 4096×11008
//	2:4 f32    0.94 (3.62 / 3.88)         0.87 (3.53 / 4.34)    spmv_bitmap on NMToCSR (see below)
//	2:4 bf16   0.90 (2.08 / 2.42)         0.84 (2.24 / 2.48)
//	2:4 f16    0.79 (2.13 / 2.61)         0.92 (2.52 / 2.84)
//	2:4 i8     1.20 (1.95 / 1.63)         0.88 (1.98 / 2.21)
//	1:4 bf16   1.69 (1.94 / 1.25)         1.09 (2.06 / 1.84)
//	1:4 f16    1.94 (2.04 / 1.09)         0.96 (1.96 / 2.07)
//	1:4 i8     2.17 (2.08 / 0.99)         1.69 (1.91 / 1.13)
//
// AVX2 (one run, 11008×4096): the bitmap lost at 2:4 bf16 (4.8 / 3.6 ms), fp16 (4.0 / 3.4)
// and int8 (4.3 / 3.6). A float32 N:M W reaches the float32 bitmap through its csr target
// (dispatch/bitmap.go prices it).
var nmBitmapWins = map[asm.ISA]map[string][][2]int{
	asm.AVX512: {"bf16": {{2, 4}}, "f16": {{2, 4}}},
}

// nmBitmapPays reports whether the bitmap family f runs a keep:group W of its dtype at N = 1
// rather than the N:M GEMV (nmBitmapWins).
func nmBitmapPays(f asm.Family, keep, group int) bool {
	return slices.Contains(nmBitmapWins[f.ISA][f.DType], [2]int{keep, group})
}
