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
// 2026-12-08, -benchtime 20x -count 4, after the GEMV's two-segment steps and NTA
// prefetch (gen/kernels/nm.go); medians in ms, bitmap / GEMV:
//
//	                 11008×4096                 4096×11008
//	2:4 f32    3.28 / 2.73 (1.20)         3.21 / 2.63 (1.22)    spmv_bitmap on NMToCSR
//	2:4 bf16   2.01 / 1.36 (1.47)         2.40 / 1.47 (1.63)
//	2:4 f16    2.04 / 1.43 (1.43)         2.21 / 1.54 (1.43)
//	2:4 i8     1.88 / 1.28 (1.47)         1.98 / 1.11 (1.78)
//
// Before those (2026-12-07, six runs) the bitmap had won 2:4 bf16 (0.94-0.95) and fp16
// (0.88-0.96), which this table listed. At 1:4 the bitmap ran 1.7-2.2× the GEMV's time on
// 11008×4096 in bf16, fp16 and int8 (it costs per 16-column chunk, and a 1:4 chunk holds
// 4 weights), 0.96-1.69× on 4096×11008. AVX2 (one run, 11008×4096): the bitmap lost at
// 2:4 bf16 (4.8 / 3.6 ms), fp16 (4.0 / 3.4) and int8 (4.3 / 3.6). A float32 N:M W reaches
// the float32 bitmap through its csr target (dispatch/bitmap.go prices it).
var nmBitmapWins = map[asm.ISA]map[string][][2]int{}

// nmBitmapPays reports whether the bitmap family f runs a keep:group W of its dtype at N = 1
// rather than the N:M GEMV (nmBitmapWins).
func nmBitmapPays(f asm.Family, keep, group int) bool {
	return slices.Contains(nmBitmapWins[f.ISA][f.DType], [2]int{keep, group})
}
