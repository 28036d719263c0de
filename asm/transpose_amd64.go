//go:build !purego

package asm

func init() {
	transposeKernels[AVX512] = transposeKernel{isa: AVX512, lanes: transposeAVX512Lanes, features: transposeAVX512Features, tiles: transposeAVX512Kernels}
	transposeKernels[AVX2] = transposeKernel{isa: AVX2, lanes: transposeAVX2Lanes, features: transposeAVX2Features, tiles: transposeAVX2Kernels}
}
