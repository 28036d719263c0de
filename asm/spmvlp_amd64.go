//go:build !purego

package asm

// The low-precision SpMV families on the generated kernels (spmvbf16_*, spmvf16_*,
// spmvi8_* _amd64.s).
func init() {
	registerSpMVLPGen(spmvbf16AVX512Manifest, spmvBF16AVX512Kernel, spmvBF16AVX512GatherFree)
	registerSpMVLPGen(spmvbf16AVX2Manifest, spmvBF16AVX2Kernel, spmvBF16AVX2GatherFree)
	registerSpMVLPGen(spmvf16AVX512Manifest, spmvF16AVX512Kernel, spmvF16AVX512GatherFree)
	registerSpMVLPGen(spmvf16AVX2Manifest, spmvF16AVX2Kernel, spmvF16AVX2GatherFree)
	registerSpMVLPGen(spmvi8AVX512Manifest, spmvI8AVX512Kernel, spmvI8AVX512GatherFree)
	registerSpMVLPGen(spmvi8AVX2Manifest, spmvI8AVX2Kernel, spmvI8AVX2GatherFree)
}
