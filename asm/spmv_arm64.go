//go:build !purego

package asm

// SpMV (N = 1) on the generated NEON functions (spmv_neon_arm64.s): NEON has no gather, so
// the backend loads the four x values lane by lane; 16- and 32-bit index streams. The
// manifest registers only these (gen/kernels/spmv.go), not the gather-free ones.
func init() {
	registerSpMVGen(spmvNEONManifest, spmvNEONKernels)
}
