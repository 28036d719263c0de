//go:build !purego

package asm

func init() {
	transposeKernels[AVX512] = transposeKernel{lanes: transposeAVX512Lanes, features: transposeAVX512Features, tiles: transposeAVX512Kernels}
	transposeKernels[AVX2] = transposeKernel{lanes: transposeAVX2Lanes, features: transposeAVX2Features, tiles: transposeAVX2Kernels}
}
