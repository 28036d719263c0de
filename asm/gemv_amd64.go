//go:build !purego

package asm

// Dense GEMV families on the generated kernels (gemv_avx512_amd64.s, gemv_avx2_amd64.s).
func init() {
	registerGemv(&gemvSpec{name: "gemv_dense_avx512", isa: AVX512, features: gemvAVX512Features, lanes: gemvAVX512Lanes, kern: gemvAVX512Kernels, maxN: gemvMaxN})
	registerGemv(&gemvSpec{name: "gemv_dense_avx2", isa: AVX2, features: gemvAVX2Features, lanes: gemvAVX2Lanes, kern: gemvAVX2Kernels, maxN: gemvMaxN})
}
