//go:build !purego

package asm

// The low-precision BSR families on the generated kernels (bsrbf16_*, bsrf16_*, bsri8_*
// _amd64.s, from gen/kernels/bsrlp.go).
func init() {
	registerBSRGen(bsrbf16AVX512Manifest, bsrBF16AVX512Kernels)
	registerBSRGen(bsrbf16AVX2Manifest, bsrBF16AVX2Kernels)
	registerBSRGen(bsrf16AVX512Manifest, bsrF16AVX512Kernels)
	registerBSRGen(bsrf16AVX2Manifest, bsrF16AVX2Kernels)
	registerBSRGen(bsri8AVX512Manifest, bsrI8AVX512Kernels)
	registerBSRGen(bsri8AVX2Manifest, bsrI8AVX2Kernels)
}
