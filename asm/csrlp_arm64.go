//go:build !purego

package asm

// The low-precision CSR SpMM families on the generated NEON tiles (csrbf16_neon_arm64.s,
// csrf16_…, csri8_…).
func init() {
	registerCSRLPGen(csrbf16NEONManifest, &csrBF16NEONTiles)
	registerCSRLPGen(csrf16NEONManifest, &csrF16NEONTiles)
	registerCSRLPGen(csri8NEONManifest, &csrI8NEONTiles)
}
