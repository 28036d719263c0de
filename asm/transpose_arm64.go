//go:build !purego

package asm

func init() {
	transposeKernels[NEON] = transposeKernel{lanes: transposeNEONLanes, features: transposeNEONFeatures, tiles: transposeNEONKernels}
}
