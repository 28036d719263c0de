package vm

// NMMachine extends Machine with what the N:M and BSR kernels need beyond the CSR set:
// an integer multiply (X row offsets k·ldx in the caller's X, no per-call X panel) and the
// integer-vector and permute operations of the compact-position N = 1 kernels. Vectors hold
// float32 or int32 lanes alike; these operations read them as int32.
//
// A backend implements it next to Machine (gen/x86/nm.go); the NEON backend will too
// (TBL for Permute2, USHL for VShrVar).
type NMMachine interface {
	Machine
	Mul(dst, src Reg) // dst *= src (signed, low 64 bits)

	VShrVar(dst, src, sh Vec) // dst[i] = uint32(src[i]) >> sh[i] (sh[i] < 32)
	VAndOr(dst, and, or Vec)  // dst[i] = dst[i]&and[i] | or[i]
	// Permute2: dst[i] = (a ‖ b)[idx[i] mod 2·Lanes()], a table of two vectors.
	Permute2(dst, idx, a, b Vec)
	// SelectBit: dst[i] = idx[i] bit `bit` set ? b[i] : a[i].
	SelectBit(dst, idx Vec, bit int, a, b Vec)
}
