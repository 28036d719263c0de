package vm

// TransposeMachine extends Machine with an in-register tile transpose: the float32 matrix
// transpose family (gen/kernels/transpose.go) loads Lanes() rows of a Lanes()×Lanes() tile,
// transposes them in registers and stores Lanes() rows of the transposed tile.
//
// Lowerings: AVX-512 16×16 by VUNPCKLPS/VUNPCKHPS, VSHUFPS and two VSHUFF32X4 stages;
// AVX2 8×8 by VUNPCKLPS/VUNPCKHPS, VSHUFPS and VPERM2F128 (gen/x86/transpose.go); NEON 4×4
// by TRN1/TRN2 on .4S then .2D (gen/neon). Every lowering only moves bits: NaN payloads,
// signed zeros and infinities are copied exactly.
type TransposeMachine interface {
	Machine
	// Transpose transposes the Lanes()×Lanes() tile held in rows (len(rows) == Lanes(),
	// distinct registers) in place: before, rows[i] holds row i; after, rows[i] holds
	// column i (rows[i][j] = old rows[j][i]).
	Transpose(rows []Vec)
}
