//go:build !purego

package asm

func init() {
	transposeKernels[NEON] = transposeKernel{isa: NEON, lanes: transposeNEONLanes, features: transposeNEONFeatures, tiles: transposeNEONKernels}
}
