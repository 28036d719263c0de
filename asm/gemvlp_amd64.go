//go:build !purego

package asm

// The low-precision dense GEMV families on the generated kernels (gemvbf16_*, gemvf16_*,
// gemvi8_* _amd64.s).
func init() {
	registerGemvLPGen(gemvbf16AVX512Manifest, gemvBF16AVX512Kernels)
	registerGemvLPGen(gemvbf16AVX2Manifest, gemvBF16AVX2Kernels)
	registerGemvLPGen(gemvf16AVX512Manifest, gemvF16AVX512Kernels)
	registerGemvLPGen(gemvf16AVX2Manifest, gemvF16AVX2Kernels)
	registerGemvLPGen(gemvi8AVX512Manifest, gemvI8AVX512Kernels)
	registerGemvLPGen(gemvi8AVX2Manifest, gemvI8AVX2Kernels)
}
