//go:build !purego

package asm

// The low-precision SpMV families on the generated NEON kernels (spmvbf16_neon_arm64.s,
// spmvf16_…, spmvi8_…).
func init() {
	registerSpMVLPGen(spmvbf16NEONManifest, spmvBF16NEONKernel, spmvBF16NEONGatherFree)
	registerSpMVLPGen(spmvf16NEONManifest, spmvF16NEONKernel, spmvF16NEONGatherFree)
	registerSpMVLPGen(spmvi8NEONManifest, spmvI8NEONKernel, spmvI8NEONGatherFree)
}
