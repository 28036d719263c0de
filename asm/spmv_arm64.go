//go:build !purego

package asm

// SpMV (N = 1) on the generated NEON functions (spmv_neon_arm64.s): NEON has no gather, so
// the backend loads the four x values lane by lane; 16- and 32-bit index streams.
func init() {
	for _, s := range []*spmvSpec{
		{name: "spmv_csr_i16_neon", isa: NEON, features: spmvNEONFeatures, bytes: 2, lanes: spmvNEONLanes, f16: spmvNEONI16},
		{name: "spmv_csr_i32_neon", isa: NEON, features: spmvNEONFeatures, bytes: 4, lanes: spmvNEONLanes, f32: spmvNEONI32},
	} {
		registerSpMV(s)
	}
}
