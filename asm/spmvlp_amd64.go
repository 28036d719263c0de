//go:build !purego

package asm

// The low-precision SpMV families on the generated kernels (spmvbf16_*, spmvf16_*,
// spmvi8_* _amd64.s).
func init() {
	registerSpMVLPGen(spmvbf16AVX512Manifest, spmvBF16AVX512Kernel)
	registerSpMVLPGen(spmvbf16AVX2Manifest, spmvBF16AVX2Kernel)
	registerSpMVLPGen(spmvf16AVX512Manifest, spmvF16AVX512Kernel)
	registerSpMVLPGen(spmvf16AVX2Manifest, spmvF16AVX2Kernel)
	registerSpMVLPGen(spmvi8AVX512Manifest, spmvI8AVX512Kernel)
	registerSpMVLPGen(spmvi8AVX2Manifest, spmvI8AVX2Kernel)
}
