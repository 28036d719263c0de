package vm

// LaneGroupMachine extends Machine with what the BSR GEMV (gen/kernels/bsrgemv.go) needs to
// keep a whole block in one vector: a block's weights lie row by row, C lanes per row, X's C
// values for the block's columns repeated in every group of C lanes (GroupMachine.LoadGroup),
// one FMA per vector; at a block row's end each row's C lanes are summed (SumGroups) and the
// row's sum brought to lane 0 (LaneTo0) for the scalar epilogue and store of the GEMV
// (ReduceAdd and StoreLane0 as in GatherMachine). x86 implements it (gen/x86/lanegroup.go);
// a backend without it does not, and the family skips that machine.
type LaneGroupMachine interface {
	GroupMachine
	ReduceAdd(v Vec)
	StoreLane0(m Mem, v Vec)
	// SumGroups sets every lane of v to the sum of the n (2 or 4) lanes of its aligned group
	// of n lanes: a fixed tree, lane pairs first (lanes 0+1 and 2+3, then their sums).
	SumGroups(v Vec, n int)
	// LaneTo0 sets lane 0 of dst to lane l of src (0 ≤ l < Lanes()); dst's other lanes are
	// unspecified. src is unchanged.
	LaneTo0(dst, src Vec, l int)
}
