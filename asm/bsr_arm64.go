//go:build !purego

package asm

// BSR families on the generated NEON kernels (bsr_neon_arm64.s, from gen/kernels/bsr.go
// through gen/neon): R×1 for R = 1, 2, 4, 8, 4×4 and 1×4 blocks, and any R ≤ 8 × any C by
// column steps. Each weight is one lane operand of FMLA by element.
func init() {
	registerBSRGen(bsrNEONManifest, bsrNEONKernels)
}
