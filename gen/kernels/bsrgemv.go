package kernels

import (
	"fmt"
	"strings"

	"github.com/sparsegen/sparsegen/gen/vm"
)

// BSR GEMV (N = 1): a block whole in vectors, on the packed layout of asm/bsrgemv.go
// (BSRGemvLayout). At N = 1 the BSR SpMM kernels (bsr.go) broadcast each weight and FMA it
// against an X vector of which one lane is useful: a weight costs a broadcast load and an
// FMA, so they stream W at a quarter of the read bandwidth. Here a block's R·C weights are
// loaded as R·C/Lanes() whole vectors, stored row by row (lane r·C + c holds W[r][c]), and
// X's C values for the block's columns are broadcast in the matching pattern (LoadGroup:
// x[k0 .. k0+C) repeated in every group of C lanes), one FMA per vector:
//
//	for each unit (a block row of R rows; the last one has lastRows):
//	    acc[v][u] = 0                                        (V = R·C/L vectors, U chains)
//	    for each group of U blocks (then one block at a time, chain 0):
//	        xg = LoadGroup(x + kidx[q]·4, C)                 (kidx: the block's first column)
//	        acc[v][q mod U] += val[q][v·L : v·L+L] · xg      (one FMA with a memory operand)
//	    a = Σ_u acc[v][u] (in u order); SumGroups(a, C)      (every lane: its row's sum)
//	    for r < rows: s = lane r·C of a (LaneTo0); s (·scale[r] for int8) (+ bias[r])
//	                  (+ Y) (clamp) (rowEpilogue); y[r·ldy] = s (StoreLane0)
//
// A block costs one index load, one broadcast load and V FMAs reading L·4 bytes each: at
// 4×4 on AVX-512 one zmm of weights per block, 68 bytes read per 16 weights (4.25 bytes per
// weight). X is contiguous and readable to the last block's k0 + C: the driver passes the
// caller's column when its stride is 1 and K a multiple of C, else a zero-padded copy.
// The ragged last block column is stored zero-padded past K (it reads the copy's zeros);
// the ragged last block row is stored zero-padded too, and its missing rows are never stored.
// The sum's order (U chains, then the lane tree) is not ref.BSR's: results agree to
// rounding, not bit for bit.
//
// Low-precision weights (bf16, fp16, int8; formats.BSRLP) use the same description: the
// weight vectors are widening loads (vm.WidenMachine.LoadWiden, L·e.Bytes() bytes) and an
// FMA from the register; int8 multiplies each row's sum by its row's scale (scale[r]) before
// the epilogue, so an output is Σ q·x · scale where the reference widens q·scale first.
//
// Measured (AMD EPYC Zen 5 VM, 1 thread, asm BenchmarkBSRGemv: random 4×4 blocks, N = 1,
// layers rotated past 96 MiB so W streams from DRAM; benchstat medians of 6, per layer,
// against what dispatch ran at N = 1 before: the CSR SpMV on W converted for float32 (its
// cheapest estimate), the 4×4 SpMM tile of W's dtype for bf16, fp16, int8):
//
//	                 11008×4096                         4096×11008
//	       sparsity  80%       90%        95%           80%       90%        95%
//	f32  GEMV        1.07 ms   0.467 ms   0.292 ms      1.25 ms   0.599 ms   0.245 ms
//	     spmv bcast  2.05      1.00       0.565         3.13      1.48       0.617
//	     bsr4x4_t64  2.66      1.35       0.656         3.11      1.51       0.696
//	bf16 GEMV        0.551     0.304      0.214         1.13      0.360      0.226
//	     t64 tile    4.11      1.33       0.661         2.83      1.43       0.813
//	f16  GEMV        0.579     0.313      0.187         1.26      0.353      0.181
//	     t64 tile    4.25      1.39       0.695         3.21      1.49       0.777
//	i8   GEMV        0.350     0.196      0.114         0.793     0.264      0.135
//	     t64 tile    3.75      1.87       0.954         4.54      1.98       0.951
//
// (AVX-512 kernels; AVX2's GEMV is within 8% of them for float32, 8-32% slower for the
// low-precision ones, and as far ahead of AVX2's tiles.) At 90% the float32 GEMV reads its
// packed W at 41 GB/s on 11008×4096 (the byte bound, ~42 GB/s) and 32 GB/s on 4096×11008;
// bf16 and fp16 at 29-34 GB/s, int8 at 21-29 GB/s (a block is 16 bytes there: the index,
// the X broadcast and the per-row reduction weigh more per byte).

// Small N (the multi-column kernels). A kernel of NC > 1 columns runs NC columns of X per
// call from a panel the driver packs per pass: for each group of C rows of X (k0 = g·C),
// the NC columns' C values side by side (panel[(g·NC + c)·C + j] = X[k0+j][c], zero past
// K), so a block's NC groups are NC broadcasts at k0·NC·4 + c·C·4 bytes. The block's V
// weight vectors are loaded (widened) once for all NC columns, and each column has its own
// accumulators (V·NC: the columns are the independent chains, U = 1):
//
//	for each block:  w[v] = W block (widened once); for c < NC: xg = LoadGroup(panel at
//	                 k0·NC + c·C); acc[v][c] += w[v]·xg
//	then, per column c, the N = 1 kernel's lane sums and row epilogue into y[r·ldy + c].
//
// So a weight costs 1/NC of a load (and of a widening) per FMA where the SpMM tiles pay
// a broadcast per FMA, and NC independent chains hide the FMA latency. The driver
// (asm/bsrgemv.go) runs N in passes of the widest kernel that fits, over chunks of block
// rows whose weights stay in L2, so W streams from memory once per call.

// BSRGemvShape is one generated kernel: R×C blocks, U accumulator chains per vector, NC
// columns per call (0 or 1: the N = 1 kernel; else a power of two, U ignored).
type BSRGemvShape struct{ R, C, U, NC int }

// BSRGemvCols are the column counts of the multi-column kernels generated per ISA and
// block height (powers of two; V·NC accumulators, V weight vectors and a group register
// must fit the vector registers: AVX2's 4×4 holds 4 columns, its 8×4 2).
//
// Measured (Zen 5, 1 thread, 4×4 blocks at 90%, medians of 3; float32 / bf16, against the
// fastest SpMM kernel of the same dtype forced on the same W: bsr4x4_t64, bsr_any,
// spmm_csr_t16):
//
//	          11008×4096                768×3072               3072×768
//	N = 2     0.68 / 0.55 vs 1.51 / 1.55 ms   62 / 64 vs 88 / 107 µs   46 / 57 vs 88 / 89 µs
//	N = 4     0.93 / 0.64 vs 1.90 / 1.64      83 / 80 vs 105 / 114     59 / 57 vs 90 / 90
//	N = 8     1.47 / 1.13 vs 1.95 / 1.59      117 / 119 vs 92 / 120    98 / 95 vs 104 / 110
//	N = 16    2.36 / 1.68 vs 2.24 / 1.68      156 / 214 vs 101 / 142   192 / 179 vs 93 / 95
//
// From N = 8 the panel (K·N floats: 96 KiB at K = 3072) no longer fits L1, and each block's
// N group loads come from L2, as the SpMM tiles' X rows do; at N = 16 the kernel lost
// where W fits the caches, so AVX-512 stops at 8 columns. Tried and not kept: at 16 columns
// on 4×4 (one vector per block, as many columns as lanes) a transposed epilogue (the 16
// accumulators transposed, each row's C partial sums added into one vector of its 16
// outputs, one vector epilogue and store per row instead of 64 scalar ones) changed
// nothing measurable (11008×4096 2.74 ms, 768×3072 207 µs against bsr4x4_t64's 2.62 ms
// and 116 µs): the epilogue is not what binds it. A K-blocked panel would be next.
var BSRGemvCols = map[string]map[int][]int{
	"avx512": {4: {2, 4, 8}, 8: {2, 4, 8}},
	"avx2":   {4: {2, 4}, 8: {2}},
}

// BSRGemvMaxN is the N range the families declare per ISA (N = 1 … MaxN in passes of the
// kernels above): dispatch prices them there like any other family.
var BSRGemvMaxN = map[string]int{"avx512": 8, "avx2": 4}

// bsrGemvKernels are isa's kernels of every shape: the N = 1 one, then its column counts.
func bsrGemvKernels(isa string) []BSRGemvShape {
	var out []BSRGemvShape
	for _, s := range BSRGemvShapes[isa] {
		out = append(out, s)
		for _, nc := range BSRGemvCols[isa][s.R] {
			out = append(out, BSRGemvShape{R: s.R, C: s.C, U: 1, NC: nc})
		}
	}
	return out
}

// BSRGemvShapes lists the kernels per ISA: blocks of R·C a multiple of Lanes() (whole
// vectors), C = 4 (one 128-bit group of X), four accumulator chains (two vectors each on
// AVX2 8×4 already). The other shapes (R×1, 1×4: fewer weights per block than a vector)
// keep the SpMM kernels at N = 1 (not measured here). NEON: not generated (the backend has
// no LaneGroupMachine).
var BSRGemvShapes = map[string][]BSRGemvShape{
	"avx512": {{4, 4, 4, 1}, {8, 4, 4, 1}},
	"avx2":   {{4, 4, 4, 1}, {8, 4, 2, 1}},
}

// BSRGemvElems are the stored types of the family: float32 (file bsrgemv) and the
// low-precision ones (file bsrgemv<elem>).
var BSRGemvElems = []vm.Elem{vm.ElemF32, vm.ElemBF16, vm.ElemF16, vm.ElemI8}

// BSRGemvParams is the signature of every BSR GEMV kernel: val is a *float32 for float32
// weights, a byte pointer for the low-precision ones; scale (int8: one float32 per row of
// the call, from its first row) is unused by the others.
func BSRGemvParams(e vm.Elem) []vm.Param {
	vk := vm.PtrF32
	if e != vm.ElemF32 {
		vk = vm.PtrU8
	}
	return []vm.Param{
		{Name: "hdr", Kind: vm.PtrI32}, {Name: "kidx", Kind: vm.PtrI32}, {Name: "val", Kind: vk}, {Name: "scale", Kind: vm.PtrF32},
		{Name: "units", Kind: vm.Int}, {Name: "lastRows", Kind: vm.Int},
		{Name: "x", Kind: vm.PtrF32}, {Name: "y", Kind: vm.PtrF32}, {Name: "ldy", Kind: vm.Int},
		{Name: "flags", Kind: vm.Int}, {Name: "bias", Kind: vm.PtrF32}, {Name: "lo", Kind: vm.F32}, {Name: "hi", Kind: vm.F32},
	}
}

// BSRGemvFuncName names the kernel of shape s on isa for weights stored as e.
func BSRGemvFuncName(isa string, e vm.Elem, s BSRGemvShape) string {
	dt := ""
	if e != vm.ElemF32 {
		dt = strings.ToUpper(e.String())
	}
	if s.NC > 1 {
		return fmt.Sprintf("bsrGemv%s%sR%dC%dN%d", dt, ident(isa), s.R, s.C, s.NC)
	}
	return fmt.Sprintf("bsrGemv%s%sR%dC%d", dt, ident(isa), s.R, s.C)
}

func bsrGemvFile(e vm.Elem) string {
	if e == vm.ElemF32 {
		return "bsrgemv"
	}
	return "bsrgemv" + e.String()
}

// bsrGemvFamily is the family of weights stored as e.
func bsrGemvFamily(e vm.Elem) Family {
	dtype := ""
	if e != vm.ElemF32 {
		dtype = e.String()
	}
	return Family{
		File: bsrGemvFile(e),
		Desc: "bsrgemv",
		Gen: func(m vm.Machine) {
			lg, ok := m.(vm.LaneGroupMachine)
			if !ok {
				return
			}
			if _, ok := m.(vm.WidenMachine); !ok && e != vm.ElemF32 {
				return
			}
			for _, s := range bsrGemvKernels(m.ISA()) {
				name := BSRGemvFuncName(m.ISA(), e, s)
				if s.NC > 1 {
					m.Func(name, fmt.Sprintf("%s computes y = epi(W·x) for units block rows of %d×%d blocks of %s weights, %d columns of X from a panel.", name, s.R, s.C, e, s.NC), BSRGemvParams(e))
				} else {
					m.Func(name, fmt.Sprintf("%s computes y = epi(W·x) for units block rows of %d×%d blocks of %s weights (%d chains).", name, s.R, s.C, e, s.U), BSRGemvParams(e))
				}
				genBSRGemv(lg, s, e)
			}
		},
		Table: func(isa, features string) string {
			id := strings.ToUpper(dtype) + ident(isa)
			var b strings.Builder
			fmt.Fprintf(&b, "// bsrGemv%sFeatures are the CPU features the bsrGemv%[1]s kernels use.\nconst bsrGemv%[1]sFeatures = %[2]s\n\n", id, features)
			fmt.Fprintf(&b, "// bsrGemv%sKernels lists the generated BSR GEMV kernels: block shape, columns per call, function.\nvar bsrGemv%[1]sKernels = []bsrGemvGenKernel{\n", id)
			for _, s := range bsrGemvKernels(isa) {
				fn := "fn"
				if e != vm.ElemF32 {
					fn = "lp"
				}
				fmt.Fprintf(&b, "\t{r: %d, c: %d, n: %d, %s: %s},\n", s.R, s.C, max(s.NC, 1), fn, BSRGemvFuncName(isa, e, s))
			}
			b.WriteString("}\n")
			return b.String()
		},
		Kernels: func(isa string) []Kernel {
			format := "bsr"
			if dtype != "" {
				format = "bsr_" + dtype
			}
			var ks []Kernel
			for _, s := range BSRGemvShapes[isa] {
				syms := []string{BSRGemvFuncName(isa, e, s)}
				for _, nc := range BSRGemvCols[isa][s.R] {
					syms = append(syms, BSRGemvFuncName(isa, e, BSRGemvShape{R: s.R, C: s.C, U: 1, NC: nc}))
				}
				ks = append(ks, Kernel{Kind: KindBSRGemv, Func: "genBSRGemv", Symbols: syms, Format: format, DType: dtype,
					Lanes: lanesOf(isa), Rows: s.R, BlockR: s.R, BlockC: s.C, MinN: 1, MaxN: max(BSRGemvMaxN[isa], 1), ExactN: true})
			}
			return ks
		},
		Driver:    "asm/bsrgemv.go (bsrgemv_amd64.go registers)",
		Reference: "ref.BSR (ref/ref.go); on W widened for the low-precision dtypes",
		Test:      "asm/bsrgemv_test.go, dispatch/bsrgemv_test.go",
	}
}

func init() {
	for _, e := range BSRGemvElems {
		Register(bsrGemvFamily(e))
	}
}

// BSRGemvPrefetch is the distance in bytes at which the one-column kernels prefetch the
// block values (PREFETCHNTA, one hint per cache line of a step's U blocks), per ISA (none
// where absent): one stream of values, a few FMAs per line, and an index and a broadcast
// per block, leave the out-of-order window short of the memory's latency. Zen 5, one core,
// 4×4 blocks at 90%, 11008×4096 and 4096×11008 from DRAM (asm probe, medians of 11, two
// rounds): float32 no hint 12-18 GB/s, NTA 1024 12-21, NTA 2048 15-22, NTA 4096 12-23,
// PREFETCHT0 2048 11-17; int8 12-14 → 14-23 at NTA 2048. Not on AVX2 (GemvPrefetch).
var BSRGemvPrefetch = map[string]int{"avx512": 2048}

func genBSRGemv(m vm.LaneGroupMachine, s BSRGemvShape, e vm.Elem) {
	if s.NC > 1 {
		genBSRGemvCols(m, s, e)
		return
	}
	L := m.Lanes()
	vm.Check((s.C == 2 || s.C == 4) && s.R*s.C%L == 0 && s.U >= 1, "bsr gemv shape %+v on %d lanes", s, L)
	V := s.R * s.C / L
	eb := e.Bytes()
	blockBytes := int64(s.R * s.C * eb)
	hdr, kidx, val, y, u, i, top, exit, acc := bsrGemvUnitStart(m, V, s.U)
	xg, wv := m.Vec(), m.Vec()
	x := m.Param("x")
	nb := m.GP()
	m.Load(nb, vm.At(hdr, 0), 4)
	// block runs block b of the current position into chain ch.
	block := func(b, ch int) {
		k := m.GP()
		m.Load(k, vm.At(kidx, 4*b), 4)
		m.LoadGroup(xg, vm.Idx(x, k, 4), s.C)
		for v := 0; v < V; v++ {
			at := vm.At(val, int(blockBytes)*b+v*L*eb)
			if e == vm.ElemF32 {
				m.FMAMem(acc[v][ch], xg, at)
			} else {
				m.(vm.WidenMachine).LoadWiden(wv, at, e)
				m.FMA(acc[v][ch], wv, xg)
			}
		}
	}
	groups, singles, sum := m.NewLabel("groups"), m.NewLabel("singles"), m.NewLabel("sum")
	if s.U > 1 {
		m.Bind(groups)
		m.BrImm(nb, vm.LT, int64(s.U), singles)
		if pf, ok := m.(PrefetcherNTA); ok && BSRGemvPrefetch[m.ISA()] > 0 {
			for off := 0; off < int(blockBytes)*s.U; off += 64 {
				pf.PrefetchNTA(vm.At(val, BSRGemvPrefetch[m.ISA()]+off))
			}
		}
		for b := 0; b < s.U; b++ {
			block(b, b)
		}
		m.AddImm(kidx, int64(4*s.U))
		m.AddImm(val, blockBytes*int64(s.U))
		m.AddImm(nb, -int64(s.U))
		m.Jmp(groups)
	}
	m.Bind(singles)
	m.BrImm(nb, vm.LE, 0, sum)
	block(0, 0)
	m.AddImm(kidx, 4)
	m.AddImm(val, blockBytes)
	m.AddImm(nb, -1)
	m.Jmp(singles)
	m.Bind(sum)
	sums := make([][]vm.Vec, V) // one column: chain 0 of each vector, the others added in
	for v := range acc {
		for ch := 1; ch < s.U; ch++ {
			m.VAdd(acc[v][0], acc[v][ch])
		}
		sums[v] = acc[v][:1]
	}
	bsrGemvUnitEnd(m, s, e, sums, hdr, i, y, u, top, exit)
}

// genBSRGemvCols is the kernel of s.NC > 1 columns (see "Small N" above): x is the pass's
// panel, y the pass's first column.
func genBSRGemvCols(m vm.LaneGroupMachine, s BSRGemvShape, e vm.Elem) {
	L, NC := m.Lanes(), s.NC
	vm.Check((s.C == 2 || s.C == 4) && s.R*s.C%L == 0 && NC > 1 && NC&(NC-1) == 0, "bsr gemv shape %+v on %d lanes", s, L)
	V := s.R * s.C / L
	vm.Check(V*NC+V+1 <= m.VecRegs(), "bsr gemv %+v: %d accumulators do not fit", s, V*NC)
	eb := e.Bytes()
	blockBytes := int64(s.R * s.C * eb)
	hdr, kidx, val, y, u, i, top, exit, acc := bsrGemvUnitStart(m, V, NC)
	wv := make([]vm.Vec, V)
	for v := range wv {
		wv[v] = m.Vec()
	}
	xg := m.Vec()
	x := m.Param("x")
	nb := m.GP()
	m.Load(nb, vm.At(hdr, 0), 4)
	blocks, sum := m.NewLabel("blocks"), m.NewLabel("sum")
	m.Bind(blocks)
	m.BrImm(nb, vm.LE, 0, sum)
	{
		k := m.GP()
		m.Load(k, vm.At(kidx, 0), 4)
		m.Shl(k, log2(NC*4)) // k0·NC floats into the panel
		for v := 0; v < V; v++ {
			at := vm.At(val, v*L*eb)
			if e == vm.ElemF32 {
				m.LoadV(wv[v], at)
			} else {
				m.(vm.WidenMachine).LoadWiden(wv[v], at, e)
			}
		}
		for c := 0; c < NC; c++ {
			m.LoadGroup(xg, vm.Idx(x, k, 1).Off(c*s.C*4), s.C)
			for v := 0; v < V; v++ {
				m.FMA(acc[v][c], wv[v], xg)
			}
		}
	}
	m.AddImm(kidx, 4)
	m.AddImm(val, blockBytes)
	m.AddImm(nb, -1)
	m.Jmp(blocks)
	m.Bind(sum)
	bsrGemvUnitEnd(m, s, e, acc, hdr, i, y, u, top, exit)
}

// bsrGemvUnitStart opens either kernel: its pointer and count params, the first row i of
// the unit (from the call's first row), the unit loop's top (exit after the last unit) and
// V×chains accumulators zeroed at the top of every unit.
func bsrGemvUnitStart(m vm.Machine, V, chains int) (hdr, kidx, val, y, u, i vm.Reg, top, exit vm.Label, acc [][]vm.Vec) {
	hdr, kidx, val = m.Param("hdr"), m.Param("kidx"), m.Param("val")
	y = m.Param("y")
	u = m.Param("units")
	i = m.GP()
	m.MovImm(i, 0)
	exit, top = m.NewLabel("exit"), m.NewLabel("unit")
	m.Bind(top)
	m.BrImm(u, vm.LE, 0, exit)
	acc = make([][]vm.Vec, V)
	for v := range acc {
		for range chains {
			a := m.Vec()
			m.Zero(a)
			acc[v] = append(acc[v], a)
		}
	}
	return
}

// bsrGemvUnitEnd ends a unit of either kernel and loops: acc[v][c] is vector v of column c;
// each gets its groups summed (SumGroups), then for rows r < R (lastRows in the last unit)
// and every column, row r's sum goes to lane 0 (LaneTo0), int8 times the row's scale, the
// row epilogue and a store at y + r·ldy + c; then hdr, y and the first row i advance a unit
// (kidx and val are already past it) and the loop returns to top (exit after the last).
func bsrGemvUnitEnd(m vm.LaneGroupMachine, s BSRGemvShape, e vm.Elem, acc [][]vm.Vec, hdr, i, y, u vm.Reg, top, exit vm.Label) {
	L := m.Lanes()
	for v := range acc {
		for c := range acc[v] {
			m.SumGroups(acc[v][c], s.C)
		}
	}
	rows := m.GP()
	m.MovImm(rows, int64(s.R))
	full := m.NewLabel("allrows")
	m.BrImm(u, vm.GT, 1, full)
	m.Mov(rows, m.Param("lastRows"))
	m.Bind(full)
	yr := m.GP()
	m.Mov(yr, y)
	end := m.NewLabel("stored")
	for r := 0; r < s.R; r++ {
		if r > 0 {
			m.BrImm(rows, vm.LE, int64(r), end)
			ly := m.Param("ldy")
			m.Shl(ly, 2)
			m.Add(yr, ly)
		}
		var sc vm.Vec
		if e == vm.ElemI8 {
			sc = m.Vec()
			m.Load1(sc, vm.Idx(m.Param("scale"), i, 4).Off(4*r))
		}
		for c := range acc[0] {
			t := m.Vec()
			m.LaneTo0(t, acc[(r*s.C)/L][c], (r*s.C)%L)
			if e == vm.ElemI8 {
				z := m.Vec()
				m.Zero(z)
				m.FMA(z, t, sc)
				t = z
			}
			rowEpilogue(m, t, i, r, vm.At(yr, 4*c))
			m.StoreLane0(vm.At(yr, 4*c), t)
		}
	}
	m.Bind(end)

	// Next unit: hdr += 4, y += R rows, i += R (kidx and val already past the unit).
	m.AddImm(hdr, 4)
	ly := m.Param("ldy")
	m.Shl(ly, int(log2(4*s.R)))
	m.Add(y, ly)
	m.AddImm(i, int64(s.R))
	m.AddImm(u, -1)
	m.Jmp(top)
	m.Bind(exit)
	m.Ret()
}
