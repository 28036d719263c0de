//go:build !purego

package asm

// CSR families on the generated NEON tile kernels (csr_neon_arm64.s, lowered from the same
// description as the amd64 ones by gen/neon). T = 16 and 32 columns: 4 and 8 vectors per
// row, two rows interleaved, so 8 and 16 independent accumulator chains (the manifest,
// from gen/kernels/csr.go CSRKernels).
func init() {
	registerCSRGen(csrNEONManifest, &csrNEONTiles)
}
