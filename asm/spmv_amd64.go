//go:build !purego

package asm

func init() {
	for _, s := range []*spmvSpec{
		{name: "spmv_csr_i16_avx512", isa: AVX512, features: spmvAVX512Features, bytes: 2, lanes: spmvAVX512Lanes, f16: spmvAVX512I16},
		{name: "spmv_csr_i32_avx512", isa: AVX512, features: spmvAVX512Features, bytes: 4, lanes: spmvAVX512Lanes, f32: spmvAVX512I32},
		{name: "spmv_csr_i16_avx2", isa: AVX2, features: spmvAVX2Features, bytes: 2, lanes: spmvAVX2Lanes, f16: spmvAVX2I16},
		{name: "spmv_csr_i32_avx2", isa: AVX2, features: spmvAVX2Features, bytes: 4, lanes: spmvAVX2Lanes, f32: spmvAVX2I32},
		{name: "spmv_csr_i16_bcast_avx512", isa: AVX512, features: spmvAVX512Features, bytes: 2, lanes: spmvAVX512Lanes, f16: spmvBAVX512I16, bcast: true},
		{name: "spmv_csr_i32_bcast_avx512", isa: AVX512, features: spmvAVX512Features, bytes: 4, lanes: spmvAVX512Lanes, f32: spmvBAVX512I32, bcast: true},
		{name: "spmv_csr_i16_bcast_avx2", isa: AVX2, features: spmvAVX2Features, bytes: 2, lanes: spmvAVX2Lanes, f16: spmvBAVX2I16, bcast: true},
		{name: "spmv_csr_i32_bcast_avx2", isa: AVX2, features: spmvAVX2Features, bytes: 4, lanes: spmvAVX2Lanes, f32: spmvBAVX2I32, bcast: true},
	} {
		registerSpMV(s)
	}
}
