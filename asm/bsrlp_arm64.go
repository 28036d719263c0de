//go:build !purego

package asm

// The low-precision BSR families on the generated NEON kernels (bsrbf16_neon_arm64.s,
// bsrf16_…, bsri8_…, from gen/kernels/bsrlp.go).
func init() {
	registerBSRGen(bsrbf16NEONManifest, bsrBF16NEONKernels)
	registerBSRGen(bsrf16NEONManifest, bsrF16NEONKernels)
	registerBSRGen(bsri8NEONManifest, bsrI8NEONKernels)
}
