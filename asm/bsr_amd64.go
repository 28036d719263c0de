//go:build !purego

package asm

func init() {
	registerBSRGen(AVX512, bsrAVX512Features, bsrAVX512Kernels)
	registerBSRGen(AVX2, bsrAVX2Features, bsrAVX2Kernels)
}
