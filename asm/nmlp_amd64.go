//go:build !purego

package asm

// The low-precision N:M families on the generated kernels (nmbf16_*, nmf16_*, nmi8_*
// _amd64.s, from gen/kernels/nm.go nmLPFamily).
func init() {
	registerNMLPGen(nmbf16AVX512Manifest, nmBF16AVX512Kernels, nmBF16AVX512GemvKernels)
	registerNMLPGen(nmbf16AVX2Manifest, nmBF16AVX2Kernels, nmBF16AVX2GemvKernels)
	registerNMLPGen(nmf16AVX512Manifest, nmF16AVX512Kernels, nmF16AVX512GemvKernels)
	registerNMLPGen(nmf16AVX2Manifest, nmF16AVX2Kernels, nmF16AVX2GemvKernels)
	registerNMLPGen(nmi8AVX512Manifest, nmI8AVX512Kernels, nmI8AVX512GemvKernels)
	registerNMLPGen(nmi8AVX2Manifest, nmI8AVX2Kernels, nmI8AVX2GemvKernels)
}
