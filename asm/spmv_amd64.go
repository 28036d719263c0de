//go:build !purego

package asm

// SpMV (N = 1) families on the generated functions: 16- and 32-bit index streams, with
// gathers and without (the manifests, from gen/kernels/spmv.go).
func init() {
	registerSpMVGen(spmvAVX512Manifest, spmvAVX512Kernels)
	registerSpMVGen(spmvAVX2Manifest, spmvAVX2Kernels)
}
