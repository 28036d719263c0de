//go:build !purego

package asm

// BSR families on the generated kernels (the manifests, from gen/kernels/bsr.go).
func init() {
	registerBSRGen(bsrAVX512Manifest, bsrAVX512Kernels)
	registerBSRGen(bsrAVX2Manifest, bsrAVX2Kernels)
}
