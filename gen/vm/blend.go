package vm

// BlendMachine extends Machine with a lane selection by a pattern fixed at generation time.
// The gather-free SpMV (gen/kernels/spmv.go) keeps one accumulator per lane, each summing
// its lane's entries, and gathers the lanes back with a tree of these blends. x86
// implements it (gen/x86/blend.go); a backend without it does not, and the family skips it.
type BlendMachine interface {
	GatherMachine
	// BlendLanes sets the lanes of dst whose bit is set in bits (bit l: lane l) to the
	// same lanes of src; the other lanes of dst are unchanged.
	BlendLanes(dst, src Vec, bits uint64)
}
