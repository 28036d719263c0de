//go:build !purego

package asm

// The 8-bit-delta SpMV (N = 1) families on the generated functions (the manifests, from
// gen/kernels/spmvdelta.go): float32 on a CSR (file spmvdelta), bf16, fp16 and int8 on a
// CSRLP of theirs (files spmvdeltabf16, spmvdeltaf16, spmvdeltai8: the fp16 one needs F16C
// on AVX2). NEON has none: the gather-free SpMV needs a lane blend.
func init() {
	registerSpMVDelta(spmvdeltaAVX512Manifest, spmvDeltaAVX512Func, nil)
	registerSpMVDelta(spmvdeltaAVX2Manifest, spmvDeltaAVX2Func, nil)
	registerSpMVDelta(spmvdeltabf16AVX512Manifest, nil, spmvDeltaBF16AVX512Func)
	registerSpMVDelta(spmvdeltabf16AVX2Manifest, nil, spmvDeltaBF16AVX2Func)
	registerSpMVDelta(spmvdeltaf16AVX512Manifest, nil, spmvDeltaF16AVX512Func)
	registerSpMVDelta(spmvdeltaf16AVX2Manifest, nil, spmvDeltaF16AVX2Func)
	registerSpMVDelta(spmvdeltai8AVX512Manifest, nil, spmvDeltaI8AVX512Func)
	registerSpMVDelta(spmvdeltai8AVX2Manifest, nil, spmvDeltaI8AVX2Func)
}
