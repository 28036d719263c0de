//go:build !purego

package asm

// Dense GEMM families on the generated micro-kernels (gemm_avx512_amd64.s,
// gemm_avx2_amd64.s; tiles and N ranges in the manifests, from gen/kernels/gemm.go). Cache
// blocking: kc = 256 keeps a kc×NR X panel in L1 (32 KiB at NR = 32) in the GotoBLAS order,
// an mc×kc W block (≈ 144 rows, 144 KiB) in L2, and an X block of kc×nc (2 MiB at most) in
// L2/L3; when all of packed X fits in half the L2, Run loops W panels outermost instead (see
// Run).

func init() {
	registerGemmGen(gemmAVX512Manifest, gemmAVX512Tiles)
	registerGemmGen(gemmAVX2Manifest, gemmAVX2Tiles)
}
