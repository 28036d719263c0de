//go:build !purego

package asm

import "github.com/sparsegen/sparsegen/formats"

// The low-precision dense GEMV families on the generated NEON kernels (gemvbf16_neon_arm64.s,
// gemvf16_…, gemvi8_…).
func init() {
	for _, s := range []*gemvLPSpec{
		{dtype: formats.BF16, isa: NEON, features: gemvBF16NEONFeatures, lanes: 4, kern: gemvBF16NEONKernels},
		{dtype: formats.F16, isa: NEON, features: gemvF16NEONFeatures, lanes: 4, kern: gemvF16NEONKernels},
		{dtype: formats.I8, isa: NEON, features: gemvI8NEONFeatures, lanes: 4, kern: gemvI8NEONKernels},
	} {
		s.name = "gemv_dense_" + s.dtype.String() + "_" + s.isa.String()
		registerGemvLP(s)
	}
}
