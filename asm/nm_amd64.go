//go:build !purego

package asm

// N:M families on the generated kernels (the manifests, from gen/kernels/nm.go).
func init() {
	registerNMGen(nmAVX512Manifest, nmAVX512Kernels, nmAVX512GemvKernels)
	registerNMGen(nmAVX2Manifest, nmAVX2Kernels, nmAVX2GemvKernels)
}
