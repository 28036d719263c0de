//go:build !purego

package asm

func init() {
	registerNMGen(AVX512, nmAVX512Features, nmAVX512Kernels, nmAVX512GemvKernels)
	registerNMGen(AVX2, nmAVX2Features, nmAVX2Kernels, nmAVX2GemvKernels)
}
