package vm

// GatherMachine extends Machine with what the row-oriented sparse dot-product kernels (CSR
// N = 1) need: index vectors, gathers and a horizontal sum. Masks select lanes as in
// LoadVMask; a nil mask means all lanes. Masked-off lanes never touch memory and read 0.
// x86 implements it (gen/x86/gather.go); a backend without gathers simply does not, and
// families that need it skip that machine.
type GatherMachine interface {
	Machine
	// LoadIdx zero-extends Lanes() unsigned indices of `bytes` (2 or 4) at m into int32 lanes.
	// With a mask only masked lanes are read (a backend may read the whole vector when the
	// buffer is padded; the family documents the padding it needs).
	LoadIdx(v Vec, m Mem, bytes int, k *Mask)
	// Gather: dst[i] = float32 at base + idx[i]·scale for masked lanes, 0 elsewhere.
	Gather(dst Vec, base Reg, idx Vec, scale int, k *Mask)
	// ReduceAdd leaves Σ lanes of v in lane 0 (a fixed pairwise tree: halves, then quarters, …).
	ReduceAdd(v Vec)
	// StoreLane0 stores lane 0 of v as a float32 at m.
	StoreLane0(m Mem, v Vec)
}
