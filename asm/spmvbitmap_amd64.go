//go:build !purego

package asm

// The bitmap SpMV (N = 1) families on the generated functions (the manifests, from
// gen/kernels/spmvbitmap.go): float32 on a CSR and bf16 on a CSRLP of bf16. NEON has none:
// no expand instruction.
func init() {
	registerSpMVBitmap(spmvbitmapAVX512Manifest, spmvBitmapAVX512Func, spmvBitmapBF16AVX512Func)
	registerSpMVBitmap(spmvbitmapAVX2Manifest, spmvBitmapAVX2Func, spmvBitmapBF16AVX2Func)
}
