//go:build !purego

package asm

// The low-precision dense GEMV families on the generated NEON kernels (gemvbf16_neon_arm64.s,
// gemvf16_…, gemvi8_…).
func init() {
	registerGemvLPGen(gemvbf16NEONManifest, gemvBF16NEONKernels)
	registerGemvLPGen(gemvf16NEONManifest, gemvF16NEONKernels)
	registerGemvLPGen(gemvi8NEONManifest, gemvI8NEONKernels)
}
