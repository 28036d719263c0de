//go:build !purego

package asm

// The low-precision SpMV families on the generated NEON kernels (spmvbf16_neon_arm64.s,
// spmvf16_…, spmvi8_…).
func init() {
	registerSpMVLPGen(spmvbf16NEONManifest, spmvBF16NEONKernel)
	registerSpMVLPGen(spmvf16NEONManifest, spmvF16NEONKernel)
	registerSpMVLPGen(spmvi8NEONManifest, spmvI8NEONKernel)
}
