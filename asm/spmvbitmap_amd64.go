//go:build !purego

package asm

// The bitmap SpMV (N = 1) families on the generated functions (the manifests, from
// gen/kernels/spmvbitmap.go). NEON has none: no expand instruction.
func init() {
	registerSpMVBitmap(spmvbitmapAVX512Manifest, spmvBitmapAVX512Func)
	registerSpMVBitmap(spmvbitmapAVX2Manifest, spmvBitmapAVX2Func)
}
