//go:build !purego

package asm

// The dense GEMV family on the generated NEON kernels (gemv_neon_arm64.s).
func init() {
	registerGemvGen(gemvNEONManifest, gemvNEONKernels)
}
