//go:build !purego

package asm

// Dense GEMM families on the generated NEON micro-kernels (gemm_neon_arm64.s; tiles in
// gen/kernels/gemm.go). Blocking as on amd64: kc = 256 (a kc×NR X panel of 12 KiB at NR =
// 12 stays in L1), an mc×kc W block in L2.
func init() {
	registerGemmGen(gemmNEONManifest, gemmNEONTiles)
}
