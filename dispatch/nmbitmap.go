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
// 2026-12-07, six alternated runs of -benchtime 20x, the GEMV reading X in 4096-column K
// blocks; the median of the per-run ratios bitmap / GEMV (the same run), and the medians of
// the times in ms (a loaded VM: ±15-90% per run):
//
//	                 11008×4096                 4096×11008
//	2:4 f32    1.00 (3.43 / 3.56)         1.04 (3.65 / 3.56)    spmv_bitmap on NMToCSR
//	2:4 bf16   0.95 (2.10 / 2.17)         0.94 (2.18 / 2.32)
//	2:4 f16    0.88 (2.16 / 2.39)         0.96 (2.15 / 2.31)
//	2:4 i8     1.25 (1.88 / 1.51)         1.27 (2.30 / 2.00)
//
// At 1:4 (before the K blocks, which sped the GEMV up further at 4096×11008) the bitmap ran
// 1.7-2.2× the GEMV's time on 11008×4096 in bf16, fp16 and int8 (it costs per 16-column
// chunk, and a 1:4 chunk holds 4 weights), 0.96-1.69× on 4096×11008. AVX2 (one run,
// 11008×4096): the bitmap lost at 2:4 bf16 (4.8 / 3.6 ms), fp16 (4.0 / 3.4) and int8 (4.3 /
// 3.6). A float32 N:M W reaches the float32 bitmap through its csr target (dispatch/bitmap.go
// prices it; at 2:4 the two tie, above).
var nmBitmapWins = map[asm.ISA]map[string][][2]int{
	asm.AVX512: {"bf16": {{2, 4}}, "f16": {{2, 4}}},
}

// nmBitmapPays reports whether the bitmap family f runs a keep:group W of its dtype at N = 1
// rather than the N:M GEMV (nmBitmapWins).
func nmBitmapPays(f asm.Family, keep, group int) bool {
	return slices.Contains(nmBitmapWins[f.ISA][f.DType], [2]int{keep, group})
}
