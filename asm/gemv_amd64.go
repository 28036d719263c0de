//go:build !purego

package asm

// Dense GEMV families on the generated kernels (gemv_avx512_amd64.s, gemv_avx2_amd64.s).
func init() {
	registerGemvGen(gemvAVX512Manifest, gemvAVX512Kernels)
	registerGemvGen(gemvAVX2Manifest, gemvAVX2Kernels)
}
