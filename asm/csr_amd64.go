//go:build !purego

package asm

// CSR families on the generated tile kernels: their tile widths, row groups and N ranges
// are in the manifests (gen/kernels/csr.go CSRKernels).
func init() {
	registerCSRGen(csrAVX512Manifest, &csrAVX512Tiles)
	registerCSRGen(csrAVX2Manifest, &csrAVX2Tiles)
}
