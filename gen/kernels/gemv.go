package kernels

import (
	"fmt"
	"strings"

	"github.com/sparsegen/sparsegen/gen/vm"
)

// Dense GEMV and small-N dense products, row-oriented: Y = epi(W·X) for a dense row-major W
// (row i at w + i·ldw floats, ldw ≥ k) and C columns of X (C = 1..4), decoding a token or a
// few. At N = 1 a product reads each 4-byte weight once for 2 flops, so the kernel is bound
// by the bytes of W and must stream it at the machine's read bandwidth:
//
//	for each group of R rows, rows i + j·gap for j < R (then, with gap = 1, the rows left,
//	one at a time):
//	    acc[r][c][u] = 0                                   (R·C·U vector chains)
//	    for q = 0; q+U·L ≤ k; q += U·L:                     (the main loop: R row streams)
//	        xv[c][u] = X panel vector (q/L + u, c)         (X loaded once per row group)
//	        acc[r][c][u] += W[r][q + u·L : +L] · xv[c][u]
//	    for q+L ≤ k: acc[r][c][0] += … one vector           (fewer than U vectors left)
//	    if q < k:    acc[r][c][U−1] += … masked to k−q lanes (W and X both masked)
//	    s = Σ_u acc[r][c][u] (in u order), then ReduceAdd's fixed tree
//	    s += bias[i+r·gap] (EpiBias); s += Y (EpiLoadY); clamp to [lo, hi] (EpiClamp)
//	    y[(i+r·gap)·ldy + c] = s
//
// gap is 1 (groups of R consecutive rows: i = 0, R, 2R, …) or, for rows = R·gap, the
// distance between a group's rows (i = 0, 1, …, gap−1): each of the R row pointers then
// walks gap consecutive rows, one long stream. At N = 1 that matters: rows of 8-16 KiB read
// four at a time restart four short streams every group, which the hardware prefetchers
// pick up late (Zen 5, one core, W from DRAM, gap = 1 → gap with 1 MiB streams: float32
// 32-35 → 39 GB/s, bf16 23-25 → 37-38, int8 23-24 → 30-35, against 36-40 read by four
// streams of 40 MiB; asm/gemv.go).
//
// X is a panel of whole vectors: for vector v and column c, L floats x[vL .. vL+L, c] at
// x + (v·C + c)·L floats (for C = 1 simply x[0:k]). Its last vector is read masked, so a
// caller's contiguous X column can be passed as it is at C = 1. The flags are the CSR
// family's (EpiLoadY, EpiBias, EpiClamp; ref's order: sum, bias, old Y, activation), and the
// sum's order depends on k, U and L only (not on the row group or the thread split).
//
// Where GemvPrefetch has a distance, Prefetcher (PrefetcherNTA) machines issue a prefetch
// for every W row that many bytes ahead, one per cache line streamed.

// GemvShape is one generated kernel: R rows per group, C columns of X, U vectors (and
// accumulator chains per row and column) per step of the main loop.
type GemvShape struct{ R, C, U int }

// GemvShapes lists the kernels per ISA, one per column count C = 1..Cmax in order (the
// driver runs N columns as passes of Cmax and one of the rest, over each L2-resident chunk
// of W). Registers: R·C·U accumulators, C·U X vectors, one W vector (C > 1), and on AVX2 a
// mask vector in the tail: ≤ 16 ymm, ≤ 32 zmm, ≤ 30 NEON. AVX-512 goes to C = 6 (24
// accumulators, 6 X vectors, one W vector: 31 zmm): each pass after the first reads the
// chunk of W again from L2, one W vector per C FMAs, so wider passes mean fewer of them.
// Zen 5, 1 thread, 11008×4096, go test -bench Gemv: N = 5 in one C = 5 pass 7.7 ms against
// 9.9 ms as passes of 4 and 1; C = 7 and 8 at R = 2 (14-16 accumulators) ran slower in one
// pass (N = 7 and 8: 13-15 ms) than N = 6 at R = 4 (10 ms): two W rows per group do not
// keep the stream from memory going.
var GemvShapes = map[string][]GemvShape{
	"avx512": {{4, 1, 4}, {4, 2, 2}, {4, 3, 1}, {4, 4, 1}, {4, 5, 1}, {4, 6, 1}},
	"avx2":   {{4, 1, 2}, {4, 2, 1}, {2, 3, 1}, {2, 4, 1}},
	"neon":   {{4, 1, 4}, {4, 2, 2}, {4, 3, 1}, {4, 4, 1}},
}

// GemvMaxNOf is the N range isa's float32 GEMV family declares to dispatch: GemvMaxN where
// passes beyond one were measured to beat the GEMM (AVX-512), else its widest kernel, one
// pass, as before. AVX2 (Zen 5, 1 thread, sparsegen bench -isa avx2, one run each):
// gemv_dense_avx2 chosen at N = 5..8 ran 12.4 ms against gemm_12x8_avx2's 11.2 at
// 11008×4096×5 and 536 µs against 468 at 3072×768×8, so it stays at N ≤ 4; NEON is not
// timed on hardware.
func GemvMaxNOf(isa string) int {
	if isa == "avx512" {
		return GemvMaxN
	}
	return len(GemvShapes[isa])
}

// GemvPrefetch is the software prefetch of W per ISA (none where absent): every W row is
// prefetched Dist bytes ahead, one hint per cache line streamed, non-temporal (NTA) where
// that measured better. Zen 5, 1 thread, N = 1, 11008×4096 and 4096×11008, variants run
// alternately (paired median time ratio to none, 8 pairs each): AVX2 PREFETCHNTA 2048
// 0.89 and 0.80 (7 of 8 pairs faster on both; 0.92 and 0.89 in an earlier set), PREFETCHT0
// 2048/4096 0.98 on 11008×4096; AVX-512 no hint was 5% faster on both shapes (NTA 2048
// 0.96 and 1.02, T0 4096 0.92 and 1.01): its four vectors per row and step keep the
// hardware prefetchers ahead. Its kernels of C ≥ 2 columns (one vector per row and step)
// are another matter: go test -bench Gemv, 11008×4096 and 4096×11008, no hint / T0 2048 /
// NTA 2048 alternated, two runs each: N = 4 7.6-8.1 / 6.9-7.0 / 6.5-6.7 ms and 7.3-8.7 /
// 6.8-7.3 / 6.7-7.0 ms, N = 8 (passes of 6 and 2) 10.3-11.2 / 9.5-9.7 / 9.3 ms and 12.2-12.7
// / 9.8-11.1 / 9.5-9.8 ms, N = 1 unchanged (not hinted). The low-precision kernels keep
// theirs (MinC: float32 only; not measured at C ≥ 2).
//
// AVX2 has no hint: on an AVX2-only AMD EPYC Zen 3 (session 11), the CPU kind that runs
// the AVX2 kernels outside tests, every hint slowed the stream. go test -bench
// 'Gemv/.*/N=1/gemv_dense_avx2', four builds alternated, medians of 5 (11008×4096 and
// 4096×11008, ms): no hint N = 1 12.15 and 11.82, PREFETCHNTA 2048 18.63 and 16.02,
// PREFETCHT0 2048 17.54 and 14.11, PREFETCHNTA 1024 16.47 and 12.50; N = 16 44.75 and
// 44.62, 47.56 and 47.60, 41.53 and 44.98, 44.22 and 44.16; N = 12 35.39 and 37.10 against
// NTA 2048's 37.09 and 37.75. The AVX2 bf16 and fp16 GEMVs lose the hint with it (four
// rounds alternated: 7.5–8.3 against 7.2–8.8 ms, no significant change). (The Zen 5's
// AVX2 figures above came with AVX-512 switched off, where the hint did pay.)
var GemvPrefetch = map[string]GemvPrefetchHint{"avx2": {}, "avx512": {Dist: 2048, NTA: true, MinC: 2}}

// GemvLPPrefetch says which stored types prefetch the next row group (PREFETCHT0, one hint
// per cache line, gemvGroup) in the kernels of C ≥ 2 columns when they run with gap = 1. At
// N = 1 with gap > 1 (the C = 1 kernels) int8 needs no hint: 30-35 GB/s without it, 21-24
// with it (it fetches rows the long streams reach anyway). Measured before gaps, with gap = 1
// at N = 1: Zen 5, 1 thread, go test -bench GemvLP: int8 AVX-512
// 2.2 → 1.3 ms on 11008×4096 (W at 35 GB/s instead of 20) and 2.6 → 1.5 ms on 4096×11008;
// bf16 and fp16, whose rows span two or more pages, already streamed at the fp32 kernel's
// bandwidth without it and measured slower with it (2.6-2.9 → 3.3-3.9 ms, one noisy run);
// in sparsegen bench -cold, three alternated runs each, the ratio to OpenBLAS went 1.55-1.75
// → 1.47-1.59 on 11008×4096 and 1.70-1.83 → 1.82-2.05 on 4096×11008: mixed, left off.
var GemvLPPrefetch = map[vm.Elem]bool{vm.ElemI8: true}

// GemvPrefetchHint is one ISA's prefetch of W (GemvPrefetch).
type GemvPrefetchHint struct {
	Dist int  // bytes ahead (0: none)
	NTA  bool // non-temporal (PrefetcherNTA machines), else into every cache level
	MinC int  // > 0: only the float32 kernels of at least this many columns (0: every kernel)
}

// GemvParams is the signature of every GEMV kernel.
var GemvParams = []vm.Param{
	{Name: "w", Kind: vm.PtrF32}, {Name: "ldw", Kind: vm.Int}, {Name: "rows", Kind: vm.Int}, {Name: "k", Kind: vm.Int},
	{Name: "x", Kind: vm.PtrF32}, {Name: "y", Kind: vm.PtrF32}, {Name: "ldy", Kind: vm.Int},
	{Name: "flags", Kind: vm.Int}, {Name: "bias", Kind: vm.PtrF32}, {Name: "lo", Kind: vm.F32}, {Name: "hi", Kind: vm.F32},
	{Name: "gap", Kind: vm.Int},
}

// GemvFuncName names the kernel of shape s on isa.
func GemvFuncName(isa string, s GemvShape) string {
	return fmt.Sprintf("gemv%sR%dC%d", ident(isa), s.R, s.C)
}

// gemvMachine is what the family needs beyond vm.Machine: the horizontal sum and the lane-0
// store of the SpMV kernels (every backend has them as part of vm.GatherMachine).
type gemvMachine interface {
	vm.Machine
	ReduceAdd(v vm.Vec)
	StoreLane0(m vm.Mem, v vm.Vec)
	Mul(dst, src vm.Reg) // dst *= src (the gap's strides)
}

// Gemv is the family.
var Gemv = Family{
	File: "gemv",
	Gen: func(m vm.Machine) {
		g, ok := m.(gemvMachine)
		if !ok {
			return
		}
		for _, s := range GemvShapes[m.ISA()] {
			genGemv(g, s)
		}
	},
	Table: func(isa, features string) string {
		id := ident(isa)
		var b strings.Builder
		fmt.Fprintf(&b, "// gemv%sFeatures are the CPU features the gemv%[1]s kernels use.\nconst gemv%[1]sFeatures = %[2]s\n\n", id, features)
		fmt.Fprintf(&b, "// gemv%sLanes is the vector width in float32 lanes (the X panel's vector).\nconst gemv%[1]sLanes = %d\n\n", id, lanesOf(isa))
		fmt.Fprintf(&b, "// gemv%sKernels lists the generated GEMV kernels by column count (index C−1): rows per group, function.\nvar gemv%[1]sKernels = [gemvMaxCols]gemvGenKernel{\n", id)
		writeGemvKernels(&b, GemvShapes[isa], gemvSymbols(GemvShapes[isa], func(s GemvShape) string { return GemvFuncName(isa, s) }))
		return b.String()
	},
	// One kernel per ISA: it runs N in passes of its widest kernel, declared up to
	// GemvMaxNOf(isa).
	Kernels: func(isa string) []Kernel {
		if len(GemvShapes[isa]) == 0 {
			return nil
		}
		syms := gemvSymbols(GemvShapes[isa], func(s GemvShape) string { return GemvFuncName(isa, s) })
		return []Kernel{{Kind: KindGEMV, Func: "genGemv", Symbols: syms, Format: "dense", Lanes: lanesOf(isa),
			Rows: GemvUnitRows, MinN: 1, MaxN: GemvMaxNOf(isa), ExactN: true}}
	},
	Driver:    "asm/gemv.go (gemv_amd64.go, gemv_arm64.go register)",
	Reference: "ref.Dense (ref/ref.go)",
	Test:      "asm/gemv_test.go, asm/gemv_guard_test.go, dispatch/gemv_test.go",
}

func init() { Register(Gemv) }

// gemvSymbols names the GEMV functions of shapes in order (column counts 1, 2, …).
func gemvSymbols(shapes []GemvShape, name func(GemvShape) string) []string {
	var syms []string
	for _, s := range shapes {
		syms = append(syms, name(s))
	}
	return syms
}

// writeGemvKernels writes the entries and closing brace of a generated GEMV kernel table:
// rows per group, columns and function of each of isa's shapes.
func writeGemvKernels(b *strings.Builder, shapes []GemvShape, syms []string) {
	for i, s := range shapes {
		fmt.Fprintf(b, "\t{rows: %d, cols: %d, fn: %s},\n", s.R, s.C, syms[i])
	}
	b.WriteString("}\n")
}

func genGemv(m gemvMachine, s GemvShape) {
	name := GemvFuncName(m.ISA(), s)
	m.Func(name, fmt.Sprintf("%s computes y = epi(W·X) for rows dense rows of W (stride ldw) and %d column(s) of an X panel, %d rows at a time.", name, s.C, s.R), GemvParams)
	genGemvBody(m, s, vm.ElemF32)
}

// genGemvBody emits the body of a GEMV kernel whose W elements are stored as e (vm.ElemF32:
// the float32 kernels; else GemvLP's, gen/kernels/gemvlp.go) into the function just begun.
func genGemvBody(m gemvMachine, s GemvShape, e vm.Elem) {
	vm.Check(s.C >= 1 && s.C <= GemvMaxCols && s.U >= 1 && (s.R == 1 || s.R == 2 || s.R == 4), "gemv shape %+v", s)
	i := m.GP() // first row of the group
	m.MovImm(i, 0)
	wg, yg := m.Param("w"), m.Param("y")
	groups, singles, exit := m.NewLabel("groups"), m.NewLabel("singles"), m.NewLabel("exit")
	if s.R > 1 {
		// A group exists while its last row, i + (R−1)·gap, is below rows.
		m.Bind(groups)
		last := m.Param("gap")
		if s.R > 2 {
			f := m.GP()
			m.MovImm(f, int64(s.R-1))
			m.Mul(last, f)
		}
		m.Add(last, i)
		rows := m.Param("rows")
		m.Br(last, vm.GE, rows, singles)
		gemvGroup(m, s, e, s.R, i, wg, yg)
		m.Jmp(groups)
	}
	m.Bind(singles)
	if s.R > 1 { // with gap > 1 the groups covered rows = R·gap, no row is left
		gap := m.Param("gap")
		m.BrImm(gap, vm.NE, 1, exit)
	}
	left := m.Param("rows")
	m.Sub(left, i)
	m.BrImm(left, vm.LE, 0, exit)
	gemvGroup(m, s, e, 1, i, wg, yg)
	m.Jmp(singles)
	m.Bind(exit)
	m.Ret()
}

// gemvGroup computes rows [i, i+R) (R = r): the dot products, the epilogue and the stores,
// then moves i, wg and yg on by r rows. W's elements are stored as e: other than float32,
// each W vector is a widening load (vm.WidenMachine), always of a whole vector (the tail
// too: the plan pads every row to a multiple of the vector with zeros), and an int8 row's
// sum is multiplied by its scale before the epilogue.
func gemvGroup(m gemvMachine, s GemvShape, e vm.Elem, r int, i, wg, yg vm.Reg) {
	L := m.Lanes()
	C, U := s.C, s.U
	eb := e.Bytes()
	shift := map[int]int{1: 0, 2: 1, 4: 2}[eb]
	wload := func(v vm.Vec, a vm.Mem) { m.LoadV(v, a) }
	if e != vm.ElemF32 {
		wm := m.(vm.WidenMachine)
		wload = func(v vm.Vec, a vm.Mem) { wm.LoadWiden(v, a, e) }
	}
	// Row pointers: p[0] = wg, p[j] = wg + j·gap·ldw elements.
	p := make([]vm.Reg, r)
	p[0] = wg
	if r > 1 {
		step := m.Param("ldw")
		if shift > 0 {
			m.Shl(step, shift)
		}
		m.Mul(step, m.Param("gap"))
		for j := 1; j < r; j++ {
			p[j] = m.GP()
			m.Lea(p[j], vm.Idx(p[j-1], step, 1))
		}
	}
	// Low-precision rows are short streams (a 4096-weight int8 row is one 4 KiB page, where
	// hardware prefetchers stop): in the kernels of C ≥ 2 columns, when gap = 1 (passes
	// over an L2-sized chunk of rows), the next R rows, contiguous after these, are
	// prefetched linearly while these stream, R·U·L elements per step (nxt = the next
	// group's start). With gap > 1 (N up to one pass) the R streams are long ones the
	// hardware prefetchers follow.
	var nxt vm.Reg = -1
	lpHint, lpOK := m.(Prefetcher)
	if lpOK && GemvLPPrefetch[e] && C >= 2 {
		ldw := m.Param("ldw")
		if shift > 0 {
			m.Shl(ldw, shift)
		}
		nxt = m.GP()
		m.Lea(nxt, vm.Idx(p[r-1], ldw, 1))
	}
	acc := make([][][]vm.Vec, r)
	for j := range acc {
		acc[j] = make([][]vm.Vec, C)
		for c := range acc[j] {
			acc[j][c] = make([]vm.Vec, U)
			for u := range acc[j][c] {
				acc[j][c][u] = m.Vec()
				m.Zero(acc[j][c][u])
			}
		}
	}
	q := m.GP() // floats of each row done
	m.MovImm(q, 0)
	xp := m.Param("x") // the panel vector at q
	// step adds nv vectors (from q) into accumulator u0+u; masked: one vector, k−q lanes.
	step := func(nv, u0 int, k *vm.Mask) {
		wAt := func(j, u int) vm.Mem { return vm.Idx(p[j], q, eb).Off(u * L * eb) }
		xAt := func(c, u int) vm.Mem { return vm.At(xp, (u*C+c)*L*4) }
		if k != nil {
			// The tail: one column at a time (fewer live registers), W reloaded per column.
			for c := 0; c < C; c++ {
				xv := m.Vec()
				m.LoadVMask(xv, xAt(c, 0), *k)
				for j := 0; j < r; j++ {
					wv := m.Vec()
					if e == vm.ElemF32 {
						m.LoadVMask(wv, wAt(j, 0), *k)
					} else {
						wload(wv, wAt(j, 0)) // whole vector: the row's padding is zero
					}
					m.FMA(acc[j][c][u0], wv, xv)
				}
			}
			return
		}
		if nxt >= 0 && nv == U {
			skip := m.NewLabel("nohint") // with gap > 1 the next group is not next in memory
			m.BrImm(m.Param("gap"), vm.NE, 1, skip)
			for off := 0; off < r*nv*L*eb; off += 64 {
				lpHint.Prefetch(vm.Idx(nxt, q, r*eb).Off(off))
			}
			m.Bind(skip)
		}
		if pf := GemvPrefetch[m.ISA()]; pf.Dist > 0 && nv == U && nxt < 0 && (pf.MinC == 0 || C >= pf.MinC && e == vm.ElemF32) {
			hint := func(vm.Mem) {}
			if p, ok := m.(Prefetcher); ok {
				hint = p.Prefetch
			}
			if p, ok := m.(PrefetcherNTA); ok && pf.NTA {
				hint = p.PrefetchNTA
			}
			for j := 0; j < r; j++ {
				for off := 0; off < nv*L*eb; off += 64 {
					hint(wAt(j, 0).Off(pf.Dist + off))
				}
			}
		}
		xv := make([][]vm.Vec, C)
		for c := range xv {
			xv[c] = make([]vm.Vec, nv)
			for u := range xv[c] {
				xv[c][u] = m.Vec()
				m.LoadV(xv[c][u], xAt(c, u))
			}
		}
		for j := 0; j < r; j++ {
			for u := 0; u < nv; u++ {
				if C == 1 && e == vm.ElemF32 {
					m.FMAMem(acc[j][0][u0+u], xv[0][u], wAt(j, u))
					continue
				}
				wv := m.Vec()
				wload(wv, wAt(j, u))
				for c := 0; c < C; c++ {
					m.FMA(acc[j][c][u0+u], wv, xv[c][u])
				}
			}
		}
	}
	k := m.Param("k")
	main, one, tail, sum := m.NewLabel("main"), m.NewLabel("one"), m.NewLabel("tail"), m.NewLabel("sum")
	if U > 1 {
		lim := m.GP()
		m.Mov(lim, k)
		m.AddImm(lim, int64(-U*L))
		m.Br(q, vm.GT, lim, one)
		m.Bind(main)
		step(U, 0, nil)
		m.AddImm(q, int64(U*L))
		m.AddImm(xp, int64(U*C*L*4))
		m.Br(q, vm.LE, lim, main)
	}
	m.Bind(one)
	lim1 := m.GP()
	m.Mov(lim1, k)
	m.AddImm(lim1, int64(-L))
	m.Br(q, vm.GT, lim1, tail)
	oneLoop := m.NewLabel("oneloop")
	m.Bind(oneLoop)
	step(1, 0, nil)
	m.AddImm(q, int64(L))
	m.AddImm(xp, int64(C*L*4))
	m.Br(q, vm.LE, lim1, oneLoop)
	m.Bind(tail)
	rem := m.GP()
	m.Mov(rem, k)
	m.Sub(rem, q)
	m.BrImm(rem, vm.LE, 0, sum)
	mask := m.TailMask(rem)
	step(1, U-1, &mask)
	m.Bind(sum)

	// Reduce, epilogue, store: row j (row i + j·gap of the call) has its column c at
	// yg + (j·gap·ldy + c) floats, its bias and scale at index i + j·gap.
	ystep := m.Param("ldy")
	m.Shl(ystep, 2)
	yr := m.GP()
	m.Mov(yr, yg)
	row := i
	if r > 1 {
		m.Mul(ystep, m.Param("gap"))
		row = m.GP()
		m.Mov(row, i)
	}
	for j := 0; j < r; j++ {
		for c := 0; c < C; c++ {
			a := acc[j][c]
			for u := 1; u < U; u++ {
				m.VAdd(a[0], a[u])
			}
			m.ReduceAdd(a[0])
			sum := a[0]
			if e == vm.ElemI8 {
				// y = scale[i+j]·Σ w8·x, one rounding (an FMA onto zero), then the epilogue.
				sc := m.Vec()
				m.Load1(sc, vm.Idx(m.Param("scale"), row, 4))
				sum = m.Vec()
				m.Zero(sum)
				m.FMA(sum, a[0], sc)
			}
			rowEpilogue(m, sum, row, 0, vm.At(yr, c*4))
			m.StoreLane0(vm.At(yr, c*4), sum)
		}
		if j+1 < r {
			m.Add(yr, ystep)
			m.Add(row, m.Param("gap"))
		}
	}
	// The next group starts adv rows on: r with gap = 1, else the next row (1).
	adv := m.GP()
	m.MovImm(adv, 1)
	if r > 1 {
		next := m.NewLabel("next")
		m.BrImm(m.Param("gap"), vm.NE, 1, next)
		m.MovImm(adv, int64(r))
		m.Bind(next)
	}
	m.Add(i, adv)
	ldy := m.Param("ldy")
	m.Shl(ldy, 2)
	m.Mul(ldy, adv)
	m.Add(yg, ldy)
	ldw := m.Param("ldw")
	if shift > 0 {
		m.Shl(ldw, shift)
	}
	m.Mul(ldw, adv)
	m.Add(wg, ldw)
}

// rowEpilogue finishes lane 0 of a, the sum of row i+j: + bias[i+j] (EpiBias), + the old
// y at yAt (EpiLoadY), then the clamp to [lo, hi] (EpiClamp), each under its flag. The
// GEMV and SpMV kernels, which reduce a row to one lane, share it.
func rowEpilogue(m vm.Machine, a vm.Vec, i vm.Reg, j int, yAt vm.Mem) {
	flags := m.Param("flags")
	nobias := m.NewLabel("nobias")
	m.BrBits(flags, EpiBias, false, nobias)
	{
		bias := m.Param("bias")
		b := m.Vec()
		m.Load1(b, vm.Idx(bias, i, 4).Off(j*4))
		m.VAdd(a, b)
	}
	m.Bind(nobias)
	flags = m.Param("flags")
	noacc := m.NewLabel("noacc")
	m.BrBits(flags, EpiLoadY, false, noacc)
	{
		b := m.Vec()
		m.Load1(b, yAt)
		m.VAdd(a, b)
	}
	m.Bind(noacc)
	flags = m.Param("flags")
	noclamp := m.NewLabel("noclamp")
	m.BrBits(flags, EpiClamp, false, noclamp)
	{
		lo, hi := m.Vec(), m.Vec()
		m.ParamF32(lo, "lo")
		m.ParamF32(hi, "hi")
		m.VMax(a, lo)
		m.VMin(a, hi)
	}
	m.Bind(noclamp)
}
