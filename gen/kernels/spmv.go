package kernels

import (
	"fmt"
	"strings"

	"github.com/sparsegen/sparsegen/gen/vm"
)

// SpMV: CSR × one column (N = 1), row-oriented. For each row i < nrows:
//
//	s = Σ_p vals[p] · x[idx[p]]    (Lanes()-wide partial sums: two vector accumulators over
//	                                 chunks of Lanes() entries, a masked last chunk, then
//	                                 ReduceAdd's fixed tree)
//	if flags&EpiBias:  s += bias[i]
//	if flags&EpiLoadY: s += y[i]    (Accumulate)
//	if flags&EpiClamp: s = min(max(s, lo), hi)
//	y[i·ldy] = s
//
// vals and idx run through the rows' entries in order; idx holds 16-bit column indices when
// K ≤ 65536 (6 bytes per nonzero), else 32-bit. x is a contiguous K-vector (the driver
// copies a strided X column first). The AVX2 lowering reads whole index vectors in the
// masked last chunk, so the plan pads the index stream with Lanes() entries. The order of
// the sum depends on the packed plan only.

// SpMVParams is the signature of the SpMV functions (idx is *uint16 or *uint32).
func SpMVParams(bytes int) []vm.Param {
	ik := vm.PtrU16
	if bytes == 4 {
		ik = vm.PtrU32
	}
	return []vm.Param{
		{Name: "vals", Kind: vm.PtrF32}, {Name: "idx", Kind: ik}, {Name: "cnt", Kind: vm.PtrU32},
		{Name: "nrows", Kind: vm.Int}, {Name: "x", Kind: vm.PtrF32}, {Name: "y", Kind: vm.PtrF32},
		{Name: "ldy", Kind: vm.Int}, {Name: "flags", Kind: vm.Int}, {Name: "bias", Kind: vm.PtrF32},
		{Name: "lo", Kind: vm.F32}, {Name: "hi", Kind: vm.F32},
	}
}

// SpMVFuncName names the SpMV function for isa and index width.
func SpMVFuncName(isa string, bytes int) string {
	return fmt.Sprintf("spmv%sI%d", ident(isa), bytes*8)
}

// SpMVBcastName names the broadcast (gather-free) SpMV function.
func SpMVBcastName(isa string, bytes int) string {
	return fmt.Sprintf("spmvB%sI%d", ident(isa), bytes*8)
}

// SpMV is the family: the gather kernels where the machine has gathers (vm.GatherMachine),
// and the gather-free ones (_bcast) where it can blend lanes (vm.BlendMachine: x86): per
// entry one index load and one FMA of x[idx] broadcast against a vector of Lanes() weights,
// one accumulator per lane (genSpMVDiagBody). NEON has neither blend nor a measurement, so
// it keeps its lane-by-lane gather kernels only.
var SpMV = Family{
	File: "spmv",
	Gen: func(m vm.Machine) {
		if g, ok := m.(vm.GatherMachine); ok {
			genSpMV(g, 2)
			genSpMV(g, 4)
		}
		if b, ok := m.(vm.BlendMachine); ok {
			genSpMVBcast(b, 2)
			genSpMVBcast(b, 4)
		}
	},
	Table: func(isa, features string) string {
		id := ident(isa)
		var b strings.Builder
		fmt.Fprintf(&b, "// spmv%sFeatures are the CPU features the spmv%[1]s functions use.\nconst spmv%[1]sFeatures = %[2]s\n\n", id, features)
		fmt.Fprintf(&b, "// spmv%sLanes is the vector width in float32 lanes (the index-stream padding).\nconst spmv%[1]sLanes = %d\n\n", id, lanesOf(isa))
		fmt.Fprintf(&b, "// spmv%sKernels lists the generated SpMV functions: index bits, gather-free, function.\nvar spmv%[1]sKernels = []spmvGenKernel{\n", id)
		for _, bcast := range []bool{false, true} {
			if bcast && isa == "neon" {
				continue
			}
			for _, bytes := range []int{2, 4} {
				fn := SpMVFuncName(isa, bytes)
				if bcast {
					fn = SpMVBcastName(isa, bytes)
				}
				fmt.Fprintf(&b, "\t{bits: %d, bcast: %v, f%d: %s},\n", 8*bytes, bcast, 8*bytes, fn)
			}
		}
		b.WriteString("}\n")
		return b.String()
	},
	// i16 and i32 per ISA, gather and (where registered) gather-free: NEON registers only
	// the lane-by-lane gather kernels (DESIGN §11).
	Kernels: func(isa string) []Kernel {
		var ks []Kernel
		for _, bcast := range []bool{false, true} {
			if bcast && isa == "neon" {
				continue
			}
			for _, bytes := range []int{2, 4} {
				sym, fn := SpMVFuncName(isa, bytes), "genSpMV"
				if bcast {
					sym, fn = SpMVBcastName(isa, bytes), "genSpMVBcast"
				}
				ks = append(ks, Kernel{Kind: KindSpMV, Func: fn, Symbols: []string{sym}, Format: "csr", Lanes: lanesOf(isa),
					Rows: 1, IndexBits: 8 * bytes, Bcast: bcast, MinN: 1, MaxN: 1})
			}
		}
		return ks
	},
	Driver:    "asm/spmv.go (spmv_amd64.go, spmv_arm64.go register)",
	Reference: "ref.CSR (ref/ref.go)",
	Test:      "asm/spmv_test.go",
}

func init() { Register(SpMV) }

func genSpMV(m vm.GatherMachine, bytes int) {
	name := SpMVFuncName(m.ISA(), bytes)
	m.Func(name, fmt.Sprintf("%s computes y = epi(W·x) for nrows packed CSR rows with %d-bit column indices.", name, bytes*8), SpMVParams(bytes))
	genSpMVBody(m, bytes, vm.ElemF32)
}

// genSpMVBody emits the body of a gather SpMV kernel whose values are stored as e
// (vm.ElemF32: the float32 kernels; else SpMVLP's, gen/kernels/spmvlp.go) into the function
// just begun. Other than float32, each value vector is a widening load (vm.WidenMachine),
// the masked last chunk's with its lanes past the row cleared (the next row's values may be
// ±Inf or NaN, and Inf·0 is NaN), and an int8 row's sum is multiplied by its scale before
// the epilogue.
func genSpMVBody(m vm.GatherMachine, bytes int, e vm.Elem) {
	L := m.Lanes()
	eb := e.Bytes()
	vals, idx, cnt := m.Param("vals"), m.Param("idx"), m.Param("cnt")
	x, y := m.Param("x"), m.Param("y")
	i := m.GP()
	m.MovImm(i, 0)
	a0, a1 := m.Vec(), m.Vec()
	exit, row := m.NewLabel("exit"), m.NewLabel("row")

	c := countedLoopHead(m, "nrows", i, cnt, row, exit)
	q := m.GP()
	m.MovImm(q, 0)
	m.Zero(a0)
	m.Zero(a1)
	chunk := func(acc vm.Vec, disp int, k *vm.Mask) {
		iv, xv, wv := m.Vec(), m.Vec(), m.Vec()
		m.LoadIdx(iv, vm.Idx(idx, q, bytes).Off(disp*bytes), bytes, k)
		m.Gather(xv, x, iv, 4, k)
		loadValues(m, wv, vm.Idx(vals, q, eb).Off(disp*eb), e, k)
		m.FMA(acc, wv, xv)
	}
	// Pairs of full chunks.
	two, one, tail, sum := m.NewLabel("two"), m.NewLabel("one"), m.NewLabel("tail"), m.NewLabel("sum")
	lim := m.GP()
	m.Mov(lim, c)
	m.AddImm(lim, int64(-2*L))
	m.Br(q, vm.GT, lim, one)
	m.Bind(two)
	chunk(a0, 0, nil)
	chunk(a1, L, nil)
	m.AddImm(q, int64(2*L))
	m.Br(q, vm.LE, lim, two)
	m.Bind(one)
	lim1 := m.GP()
	m.Mov(lim1, c)
	m.AddImm(lim1, int64(-L))
	m.Br(q, vm.GT, lim1, tail)
	chunk(a0, 0, nil)
	m.AddImm(q, int64(L))
	m.Bind(tail)
	rem := m.GP()
	m.Mov(rem, c)
	m.Sub(rem, q)
	m.BrImm(rem, vm.LE, 0, sum)
	k := m.TailMask(rem)
	chunk(a1, 0, &k)
	m.Bind(sum)
	m.VAdd(a0, a1)
	spmvFinishRow(m, a0, e, i, y)
	spmvRowTail(m, vals, idx, c, y, i, eb, bytes, row, exit)
}

// loadValues loads a chunk's Lanes() values stored as e at at into wv, widened to float32
// (vm.WidenMachine) unless float32; with k, only k's lanes (the others +0).
func loadValues(m vm.Machine, wv vm.Vec, at vm.Mem, e vm.Elem, k *vm.Mask) {
	switch {
	case e != vm.ElemF32 && k == nil:
		m.(vm.WidenMachine).LoadWiden(wv, at, e)
	case e != vm.ElemF32:
		m.(vm.WidenMachine).LoadWidenMask(wv, at, e, *k)
	case k == nil:
		m.LoadV(wv, at)
	default:
		m.LoadVMask(wv, at, *k)
	}
}

// spmvFinishRow sums the lanes of a0 (ReduceAdd), multiplies an int8 row's sum by its scale
// (y = scale[i]·Σ q·x, one rounding: an FMA onto zero), applies the epilogue and stores row
// i's y.
func spmvFinishRow(m vm.GatherMachine, a0 vm.Vec, e vm.Elem, i, y vm.Reg) {
	m.ReduceAdd(a0)
	if e == vm.ElemI8 {
		sc, s := m.Vec(), m.Vec()
		m.Load1(sc, vm.Idx(m.Param("scale"), i, 4))
		m.Zero(s)
		m.FMA(s, a0, sc)
		a0 = s
	}
	spmvEpilogue(m, a0, i, y)
	m.StoreLane0(vm.At(y, 0), a0)
}

// genSpMVBcast emits the gather-free float32 kernel (genSpMVDiagBody).
func genSpMVBcast(m vm.BlendMachine, bytes int) {
	name := SpMVBcastName(m.ISA(), bytes)
	m.Func(name, fmt.Sprintf("%s computes y = epi(W·x) for nrows packed CSR rows with %d-bit column indices, without gathers.", name, bytes*8), SpMVParams(bytes))
	genSpMVDiagBody(m, vm.ElemF32, indexCols(m, bytes))
}

// genSpMVDiagBody emits the body of a gather-free SpMV kernel whose values are stored as e
// (float32, or widened as genSpMVBody's are) into the function just begun. A row's entries
// go Lanes() at a time: one vector load of their weights, then per entry j one index load
// and one FMA of x[idx] broadcast to every lane against that weight vector, into
// accumulator j, so lane j of accumulator j sums entries j, j+L, j+2L, … in order (the
// other lanes hold products of other entries, never read). At the row's end a tree of
// blends gathers lane j of accumulator j into one vector (pairs, then fours, …) and
// ReduceAdd's fixed tree sums it; a row's last chunk of r < L entries loads its weights
// masked and runs entries 0..r−1. Per entry this is one broadcast load of X and one FMA
// (AVX-512 folds the broadcast into the FMA), against the gather kernels' gathered load per
// lane: Zen 5, one thread, 11008×4096 at 90% (a hand-written prototype of this loop against
// the gather loop, 416 entries per row, go test -bench): 1.05 against 1.62 ms, and 0.195
// against 0.324 ns per entry with W in L2. The broadcast operand leaves the
// selected lane exact whatever the others hold, so NaN and Inf follow ref.CSR.
func genSpMVDiagBody(m vm.BlendMachine, e vm.Elem, cols diagCols) {
	L := m.Lanes()
	eb := e.Bytes()
	vals, cnt := m.Param("vals"), m.Param("cnt")
	y := m.Param("y")
	i := m.GP()
	m.MovImm(i, 0)
	acc := make([]vm.Vec, L)
	for j := range acc {
		acc[j] = m.Vec()
	}
	exit, row := m.NewLabel("exit"), m.NewLabel("row")
	c := countedLoopHead(m, "nrows", i, cnt, row, exit)
	q := m.GP()
	m.MovImm(q, 0)
	if cols.rowStart != nil {
		cols.rowStart()
	}
	for _, a := range acc {
		m.Zero(a)
	}
	// entries runs entries 0..n−1 of the chunk at q against wv; with done, it leaves for
	// done once rem ≤ j (the row's last, partial chunk).
	entries := func(wv vm.Vec, n int, rem *vm.Reg, done vm.Label) {
		for j := 0; j < n; j++ {
			if rem != nil {
				m.BrImm(*rem, vm.LE, int64(j), done)
			}
			at, after := cols.at(q, j, rem != nil && j == n-1)
			fmaBcast(m, acc[j], wv, at)
			if after != nil {
				after()
			}
		}
	}
	full, tail, sum := m.NewLabel("full"), m.NewLabel("tail"), m.NewLabel("sum")
	lim := m.GP()
	m.Mov(lim, c)
	m.AddImm(lim, int64(-L))
	m.Br(q, vm.GT, lim, tail)
	m.Bind(full)
	wv := m.Vec()
	loadValues(m, wv, vm.Idx(vals, q, eb), e, nil)
	entries(wv, L, nil, sum)
	m.AddImm(q, int64(L))
	m.Br(q, vm.LE, lim, full)
	m.Bind(tail)
	rem := m.GP()
	m.Mov(rem, c)
	m.Sub(rem, q)
	m.BrImm(rem, vm.LE, 0, sum)
	k := m.TailMask(rem)
	wt := m.Vec()
	loadValues(m, wt, vm.Idx(vals, q, eb), e, &k)
	entries(wt, L-1, &rem, sum)
	m.Bind(sum)
	for s := 1; s < L; s *= 2 {
		var bits uint64
		for l := 0; l < L; l++ {
			if (l/s)%2 == 1 {
				bits |= 1 << l
			}
		}
		for j := 0; j < L; j += 2 * s {
			m.BlendLanes(acc[j], acc[j+s], bits)
		}
	}
	spmvFinishRow(m, acc[0], e, i, y)
	spmvRowTail(m, vals, cols.stream, c, y, i, eb, cols.bytes, row, exit)
}

// diagCols is how genSpMVDiagBody finds each entry's X: stream is the index stream (its
// register, cols.bytes per entry, advanced past each row with the values); rowStart (may
// be nil) runs at the start of each row; at returns the address of x[col] for entry j of
// the chunk at q (j counts from 0 in every chunk, so a decoder's state starts there) and
// what to emit after the entry's FMA (nil: nothing); lastOfRow is set for the last entry a
// row's partial last chunk may run.
type diagCols struct {
	stream   vm.Reg
	bytes    int
	rowStart func()
	at       func(q vm.Reg, j int, lastOfRow bool) (vm.Mem, func())
}

// indexCols reads 16- or 32-bit column indices (the idx stream), 16-bit ones four per
// 8-byte load where the machine can split them (vm.GroupMachine).
func indexCols(m vm.Machine, bytes int) diagCols {
	idx, x := m.Param("idx"), m.Param("x")
	gm, grouped := m.(vm.GroupMachine)
	grouped = grouped && bytes == 2
	var cols []vm.Reg
	return diagCols{stream: idx, bytes: bytes, at: func(q vm.Reg, j int, _ bool) (vm.Mem, func()) {
		if !grouped {
			col := m.GP()
			m.Load(col, vm.Idx(idx, q, bytes).Off(j*bytes), bytes)
			return vm.Idx(x, col, 4), nil
		}
		if j%4 == 0 {
			// The index stream is padded by L entries, so a group may run past the row.
			cols = []vm.Reg{m.GP(), m.GP(), m.GP(), m.GP()}
			gm.LoadU16s(cols, vm.Idx(idx, q, 2).Off(j*2))
		}
		return vm.Idx(x, cols[j%4], 4), nil
	}}
}

// fmaBcast is acc += a·broadcast(float32 at mm): the machine's fused form where it has one
// (BcastFMA), else a broadcast load and an FMA.
func fmaBcast(m vm.Machine, acc, a vm.Vec, mm vm.Mem) {
	if bm, ok := m.(BcastFMA); ok {
		bm.FMABcast(acc, a, mm)
		return
	}
	t := m.Vec()
	m.Load1(t, mm)
	m.FMA(acc, a, t)
}

// countedLoopHead opens a loop over rows or row groups with a uint32 entry count each (the
// SpMV and CSR SpMM kernels): at label top, exit when i reaches the parameter named limit,
// else load cnt[i] into a new register.
func countedLoopHead(m vm.Machine, limit string, i, cnt vm.Reg, top, exit vm.Label) vm.Reg {
	m.Bind(top)
	left := m.Param(limit)
	m.Sub(left, i)
	m.BrImm(left, vm.LE, 0, exit)
	c := m.GP()
	m.Load(c, vm.Idx(cnt, i, 4), 4)
	return c
}

// spmvRowTail closes the SpMV row loop: vals (vb bytes per value) and idx (bytes per index)
// move past the row's c entries, y to the next row (ldy floats on), and the loop goes on
// with i + 1.
func spmvRowTail(m vm.Machine, vals, idx, c, y, i vm.Reg, vb, bytes int, row, exit vm.Label) {
	m.Lea(vals, vm.Idx(vals, c, vb))
	m.Lea(idx, vm.Idx(idx, c, bytes))
	nextRow(m, y, i, row, exit)
}

// nextRow closes a loop over rows (the SpMV kernels'): y moves to the next row (ldy floats
// on) and the loop goes on with i + 1; exit is bound after it.
func nextRow(m vm.Machine, y, i vm.Reg, row, exit vm.Label) {
	ldy := m.Param("ldy")
	m.Shl(ldy, 2)
	m.Add(y, ldy)
	m.AddImm(i, 1)
	m.Jmp(row)
	m.Bind(exit)
	m.Ret()
}

// spmvEpilogue finishes row i's sum in lane 0 of a0 (rowEpilogue, with y at row i).
func spmvEpilogue(m vm.Machine, a0 vm.Vec, i, y vm.Reg) { rowEpilogue(m, a0, i, 0, vm.At(y, 0)) }
