//go:build !purego

package asm

// The bitmap SpMV (N = 1) families on the generated functions (the manifests, from
// gen/kernels/spmvbitmap.go), and the bf16 kernels beside them (not registered:
// spmvBitmapBF16Func). NEON has none: no expand instruction.
func init() {
	registerSpMVBitmap(spmvbitmapAVX512Manifest, spmvBitmapAVX512Func)
	registerSpMVBitmap(spmvbitmapAVX2Manifest, spmvBitmapAVX2Func)
	for _, b := range []struct {
		name     string
		isa      ISA
		features Feature
		lanes    int
		fn       spmvBitmapBF16Func
	}{
		{"spmv_bitmap_bf16_avx512", AVX512, spmvbitmapAVX512Manifest[0].Features, spmvBitmapAVX512Lanes, spmvBitmapBF16AVX512Func},
		{"spmv_bitmap_bf16_avx2", AVX2, spmvbitmapAVX2Manifest[0].Features, spmvBitmapAVX2Lanes, spmvBitmapBF16AVX2Func},
	} {
		spmvBitmapBF16Specs = append(spmvBitmapBF16Specs, &spmvBitmapSpec{
			Desc: Desc{Name: b.name, Format: "csr_bf16", ISA: b.isa, Features: b.features, DType: "bf16", Lanes: b.lanes, Rows: 1, Bitmap: true, MinN: 1, MaxN: 1},
			bf16: true, fnBF16: b.fn})
	}
}
