//go:build !purego

package asm

// The low-precision N:M families on the generated NEON kernels (nmbf16_neon_arm64.s,
// nmf16_neon_arm64.s, nmi8_neon_arm64.s, from gen/kernels/nm.go nmLPFamily).
func init() {
	registerNMLPGen(nmbf16NEONManifest, nmBF16NEONKernels, nmBF16NEONGemvKernels)
	registerNMLPGen(nmf16NEONManifest, nmF16NEONKernels, nmF16NEONGemvKernels)
	registerNMLPGen(nmi8NEONManifest, nmI8NEONKernels, nmI8NEONGemvKernels)
}
