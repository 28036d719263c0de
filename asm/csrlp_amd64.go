//go:build !purego

package asm

// The low-precision CSR SpMM families on the generated tiles (csrbf16_*, csrf16_*, csri8_*
// _amd64.s).
func init() {
	registerCSRLPGen(csrbf16AVX512Manifest, &csrBF16AVX512Tiles)
	registerCSRLPGen(csrbf16AVX2Manifest, &csrBF16AVX2Tiles)
	registerCSRLPGen(csrf16AVX512Manifest, &csrF16AVX512Tiles)
	registerCSRLPGen(csrf16AVX2Manifest, &csrF16AVX2Tiles)
	registerCSRLPGen(csri8AVX512Manifest, &csrI8AVX512Tiles)
	registerCSRLPGen(csri8AVX2Manifest, &csrI8AVX2Tiles)
}
