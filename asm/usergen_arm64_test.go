//go:build !purego

package asm

// ownBSRTable is the generated BSR manifest and kernels the BSR tests dress as a user's.
func ownBSRTable() ([]Desc, []bsrGenKernel) { return bsrNEONManifest, bsrNEONKernels }
