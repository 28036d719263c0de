//go:build !purego

package asm

// CSR families on the generated NEON tile kernels (csr_neon_arm64.s, lowered from the same
// description as the amd64 ones by gen/neon). T = 16 and 32 columns: 4 and 8 vectors per
// row, two rows interleaved, so 8 and 16 independent accumulator chains.
func init() {
	for _, s := range []*csrSpec{
		{name: "spmm_csr_t16_neon", isa: NEON, features: csrNEONFeatures, t: 16, r: 2, lanes: csrNEONLanes, tiles: &csrNEONTiles},
		{name: "spmm_csr_t32_neon", isa: NEON, features: csrNEONFeatures, t: 32, r: 2, lanes: csrNEONLanes, tiles: &csrNEONTiles},
	} {
		csrSpecs = append(csrSpecs, s)
		registerCSR(s)
	}
}
