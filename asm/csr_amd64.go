//go:build !purego

package asm

func init() {
	for _, s := range []*csrSpec{
		{name: "spmm_csr_t16_avx512", isa: AVX512, features: csrAVX512Features, t: 16, r: 4, lanes: csrAVX512Lanes, tiles: &csrAVX512Tiles, minN: 2, maxN: 16},
		{name: "spmm_csr_t32_avx512", isa: AVX512, features: csrAVX512Features, t: 32, r: 4, lanes: csrAVX512Lanes, tiles: &csrAVX512Tiles, minN: 8, maxN: 64},
		{name: "spmm_csr_t64_avx512", isa: AVX512, features: csrAVX512Features, t: 64, r: 2, lanes: csrAVX512Lanes, tiles: &csrAVX512Tiles, minN: 32},
		{name: "spmm_csr_t128_avx512", isa: AVX512, features: csrAVX512Features, t: 128, r: 2, lanes: csrAVX512Lanes, tiles: &csrAVX512Tiles, minN: 64},
		{name: "spmm_csr_t16_avx2", isa: AVX2, features: csrAVX2Features, t: 16, r: 4, lanes: csrAVX2Lanes, tiles: &csrAVX2Tiles, minN: 2, maxN: 16},
		{name: "spmm_csr_t32_avx2", isa: AVX2, features: csrAVX2Features, t: 32, r: 2, lanes: csrAVX2Lanes, tiles: &csrAVX2Tiles, minN: 8, maxN: 64},
		{name: "spmm_csr_t64_avx2", isa: AVX2, features: csrAVX2Features, t: 64, r: 1, lanes: csrAVX2Lanes, tiles: &csrAVX2Tiles, minN: 32},
	} {
		csrSpecs = append(csrSpecs, s)
		registerCSR(s)
	}
}
