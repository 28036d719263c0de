package vm

// ExpandMachine extends Machine with what the bitmap-encoded SpMV (gen/kernels/spmvbitmap.go)
// needs: a chunk of Lanes() columns is stored as a Lanes()-bit mask and the chunk's nonzero
// values packed, and the kernel places the packed values in their lanes (an expand) instead
// of gathering X. x86 implements it (gen/x86/expand.go: VEXPANDPS on AVX-512, a 256-entry
// permutation table and VPERMPS on AVX2); a backend without it does not, and the family
// skips that machine (NEON does: it has no expand, and a table lookup per 4-lane chunk
// would cost more than the gather kernels save).
type ExpandMachine interface {
	Machine
	// ExpandTable returns a register to pass to every BitMask of the function; call it once,
	// before the loops (AVX2 keeps its permutation table's address there; a backend that
	// needs no table returns a register it never reads).
	ExpandTable() Reg
	// BitMask is the mask of the lanes whose bit is set in the low Lanes() bits of bits
	// (bit i: lane i); the register's higher bits must be 0.
	BitMask(bits, table Reg) Mask
	// ExpandLoad sets the j-th lane of k (in lane order) to the j-th float32 at m and every
	// other lane to +0. It may read Lanes() floats at m whatever k holds (AVX2 does):
	// callers pad the value stream by Lanes() floats.
	ExpandLoad(v Vec, m Mem, k Mask)
	// Expand is ExpandLoad from the lanes of src (lane j of src to the j-th lane of k).
	Expand(dst, src Vec, k Mask)
	// FMAMemMask: acc[i] += a[i]·mem[i], one rounding, for the lanes i of k; the vector at m
	// is read only in those lanes (the others never fault). a must be +0 outside k (as
	// ExpandLoad leaves it): a backend may add 0·0 there, which leaves acc unchanged
	// except that −0 becomes +0.
	FMAMemMask(acc, a Vec, m Mem, k Mask)
	// PopCnt sets dst to the number of set bits of src.
	PopCnt(dst, src Reg)
}
