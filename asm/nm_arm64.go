//go:build !purego

package asm

// N:M families on the generated NEON kernels (nm_neon_arm64.s, from gen/kernels/nm.go
// through gen/neon): SpMM tiles 4×16 and 2×32, and the compact-position GEMV (N = 1).
func init() {
	registerNMGen(nmNEONManifest, nmNEONKernels, nmNEONGemvKernels)
}
