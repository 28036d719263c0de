//go:build !purego

package asm

import "fmt"

// Dense GEMM families on the generated NEON micro-kernels (gemm_neon_arm64.s; tiles in
// gen/kernels/gemm.go). Blocking as on amd64: kc = 256 (a kc×NR X panel of 12 KiB at NR =
// 12 stays in L1), an mc×kc W block in L2.
func init() {
	for _, t := range gemmNEONTiles {
		registerGemm(&gemmSpec{
			name: fmt.Sprintf("gemm_%dx%d_%s", t.mr, t.nr, NEON), isa: NEON, features: gemmNEONFeatures,
			mr: t.mr, nr: t.nr, kc: 256, mc: t.mr * max(1, 144/t.mr), nc: 2048,
			micro: t.micro, minN: 1,
		})
	}
}
