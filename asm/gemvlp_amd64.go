//go:build !purego

package asm

import "github.com/sparsegen/sparsegen/formats"

// The low-precision dense GEMV families on the generated kernels (gemvbf16_*, gemvf16_*,
// gemvi8_* _amd64.s).
func init() {
	for _, s := range []*gemvLPSpec{
		{dtype: formats.BF16, isa: AVX512, features: gemvBF16AVX512Features, lanes: 16, kern: gemvBF16AVX512Kernels},
		{dtype: formats.BF16, isa: AVX2, features: gemvBF16AVX2Features, lanes: 8, kern: gemvBF16AVX2Kernels},
		{dtype: formats.F16, isa: AVX512, features: gemvF16AVX512Features, lanes: 16, kern: gemvF16AVX512Kernels},
		{dtype: formats.F16, isa: AVX2, features: gemvF16AVX2Features, lanes: 8, kern: gemvF16AVX2Kernels},
		{dtype: formats.I8, isa: AVX512, features: gemvI8AVX512Features, lanes: 16, kern: gemvI8AVX512Kernels},
		{dtype: formats.I8, isa: AVX2, features: gemvI8AVX2Features, lanes: 8, kern: gemvI8AVX2Kernels},
	} {
		s.name = "gemv_dense_" + s.dtype.String() + "_" + s.isa.String()
		registerGemvLP(s)
	}
}
