//go:build !purego

package asm

// The dense GEMV family on the generated NEON kernels (gemv_neon_arm64.s).
func init() {
	registerGemv(&gemvSpec{name: "gemv_dense_neon", isa: NEON, features: gemvNEONFeatures, lanes: gemvNEONLanes, kern: gemvNEONKernels, maxN: gemvMaxN})
}
