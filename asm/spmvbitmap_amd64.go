//go:build !purego

package asm

// The bitmap SpMV (N = 1) families on the generated functions (the manifests, from
// gen/kernels/spmvbitmap.go): float32 on a CSR and bf16 on a CSRLP of bf16 (file
// spmvbitmap), fp16 and int8 on a CSRLP of theirs (files spmvbitmapf16, spmvbitmapi8: the
// fp16 one needs F16C on AVX2). NEON has none: no expand instruction.
func init() {
	registerSpMVBitmap(spmvbitmapAVX512Manifest, spmvBitmapAVX512Func, spmvBitmapBF16AVX512Func, nil)
	registerSpMVBitmap(spmvbitmapAVX2Manifest, spmvBitmapAVX2Func, spmvBitmapBF16AVX2Func, nil)
	registerSpMVBitmap(spmvbitmapf16AVX512Manifest, nil, spmvBitmapF16AVX512Func, nil)
	registerSpMVBitmap(spmvbitmapf16AVX2Manifest, nil, spmvBitmapF16AVX2Func, nil)
	registerSpMVBitmap(spmvbitmapi8AVX512Manifest, nil, nil, spmvBitmapI8AVX512Func)
	registerSpMVBitmap(spmvbitmapi8AVX2Manifest, nil, nil, spmvBitmapI8AVX2Func)
}
