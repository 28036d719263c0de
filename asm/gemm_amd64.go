//go:build !purego

package asm

import "fmt"

// Dense GEMM families on the generated micro-kernels (gemm_avx512_amd64.s,
// gemm_avx2_amd64.s; tiles listed in gen/kernels/gemm.go). Cache blocking: kc = 256 keeps a
// kc×NR X panel in L1 (32 KiB at NR = 32) in the GotoBLAS order, an mc×kc W block (≈ 144
// rows, 144 KiB) in L2, and an X block of kc×nc (2 MiB at most) in L2/L3; when all of packed
// X fits in half the L2, Run loops W panels outermost instead (see Run).

func init() {
	for _, t := range gemmAVX512Tiles {
		registerGemm(gemmAMD64Spec(t, AVX512, gemmAVX512Features))
	}
	for _, t := range gemmAVX2Tiles {
		registerGemm(gemmAMD64Spec(t, AVX2, gemmAVX2Features))
	}
}

func gemmAMD64Spec(t gemmTile, isa ISA, f Feature) *gemmSpec {
	s := &gemmSpec{
		name: fmt.Sprintf("gemm_%dx%d_%s", t.mr, t.nr, isa), isa: isa, features: f,
		mr: t.mr, nr: t.nr, kc: 256, mc: t.mr * max(1, 144/t.mr), nc: 2048,
		micro: t.micro,
	}
	// Dispatch hints: a tile NR wide wastes lanes when N < NR.
	s.minN = t.nr / 2
	if t.nr <= 16 {
		s.minN = 1
	}
	return s
}
