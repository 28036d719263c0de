package kernels

import (
	"fmt"
	"strings"

	"github.com/sparsegen/sparsegen/gen/vm"
)

// N:M kernels on the packed layouts of asm/nm.go (NMLayout).
//
// SpMM (channel-major, any N): units of UH rows whose slots are interleaved
// (ival[(s·UH + r)], ipos likewise, one byte per slot: the position in its group):
//
//	for each unit, for each column tile of U vectors (then one of ⌈rest/Lanes⌉, the last masked):
//	    acc[0:UH][tile] = 0; xg = X row 0
//	    for each full group: for slot j < Keep: for r < UH:
//	        acc[r] += ival[j·UH+r] · X[xg + ipos[j·UH+r]·ldx, tile]
//	        (then xg += Group rows)
//	    the partial last group: lastSlots slots the same way
//	    for r < rows: v = acc[r] (+ bias) (+ Y) (clamp); Y[r, tile] = v
//
// Each output lane is one FMA chain over the row's slots in storage order (ref.NM's order).
// X is a plan-owned, zero-padded panel of one K block × T = U·Lanes columns (the driver,
// nmAsmRun in asm/nm_simd.go, packs it per call and K block, so it stays in L1): row k is at k·T·4
// bytes, a shift of the byte position, and the stream does not depend on the caller's ldx.
// Y is the caller's; its last vector is stored masked.
//
// GEMV (N = 1) on compact positions: slots in chunks of 16; chunk c of a row covers the X
// window starting at c·16/Keep·Group; its positions are packed PB bits each (PB = 2 when
// Group ≤ 4, else 4) in 32-bit words. A pass covers Lanes() slots of a chunk:
//
//	idx = (word >> shift) & (2^PB − 1) | base   (base: the lane's group offset in the window)
//	xv  = (window)[idx]                          (Permute2 over pairs of X vectors, SelectBit tree)
//	acc[r] += xv · vals
//
// Each step runs two units, unit i and unit i + gap of the call (NMGemvSegments), so the
// 2·UH rows share each window's X loads and the chunks stream from two far-apart places;
// gap = 0 runs a unit twice over (both copies add the same partial sums to the same lane
// sums: the driver's odd unit out). The kernel adds to the Lanes() partial sums of each
// row (out[r·Lanes + lane], loaded at the unit's start and stored at its end); the Go driver
// zeroes them, runs the kernel over each K block of chunks in turn (X's block stays in L1),
// then adds the lanes and applies the epilogue. consts holds,
// per pass, four vectors: shift, base, mask, select (lanes that take the second word).
// X is a plan-sized, zero-padded copy, so windows never leave it and spare lanes (value 0,
// position pointing past K) add 0·0.

// NMPattern is a compile-time Keep:Group; Keep = 0 is the generic kernel (runtime keep and
// group, any Keep:Group with Group ≤ 16).
type NMPattern struct{ Keep, Group int }

// NMPatterns are the specialised SpMM patterns (plus the generic one).
var NMPatterns = []NMPattern{{2, 4}, {1, 4}, {2, 8}, {4, 8}, {1, 8}, {0, 0}}

// NMShape is a SpMM register tile: UH rows interleaved, U vectors per row.
type NMShape struct{ UH, U int }

// NMShapes lists the SpMM tiles per ISA.
var NMShapes = map[string][]NMShape{
	"avx512": {{4, 4}, {2, 8}},
	"avx2":   {{2, 4}, {4, 2}, {1, 8}},
	"neon":   {{4, 4}, {2, 8}}, // gen/neon: 16 chains, weights as FMLA-by-element lanes
}

// NMGemvPatterns are the N = 1 patterns per ISA, with rows per unit.
var NMGemvPatterns = map[string][]NMGemv{
	"avx512": {{2, 4, 4}, {1, 4, 4}, {2, 8, 4}, {4, 8, 4}, {1, 8, 4}},
	"avx2":   {{2, 4, 2}, {1, 4, 2}, {2, 8, 2}, {4, 8, 2}},
	"neon":   {{2, 4, 2}, {1, 4, 2}, {2, 8, 2}, {4, 8, 2}},
}

// NMGemvSegments is the number of units a GEMV step runs side by side, gap units apart:
// two streams of chunks instead of one. A single stream kept fewer misses in flight than
// the memory allows (Zen 5, one core, from DRAM: one linear stream 28-30 GB/s, two 34-36,
// four 37-41); 2·UH rows of accumulators fit every ISA's registers with every pattern's
// tables (1:8 on AVX-512: 8 accumulators, 8 window and 4 select vectors).
const NMGemvSegments = 2

// NMGemvPrefetch is the distance in bytes at which each segment's stream of chunk values
// is prefetched (PREFETCHNTA, one hint per cache line), per ISA (none where absent). The
// kernel does much work per byte (position decode, permutes, selects), so its out-of-order
// window covers little of the stream; the hints run ahead of it. Zen 5, one core, W from
// DRAM, 2:4 and 1:4 at 11008×4096 and 4096×11008 (asm probe, medians of 21, two rounds):
// no hint 17-19 GB/s (float32 and bf16), PREFETCHT0 at 1024/2048/4096 22-27, PREFETCHNTA at
// 2048 25-29 (at 1024 and 4096 1-3 GB/s less); int8 12-13 → 17-21. Not on AVX2: on the
// AVX2-only Zen 3 every hint slowed the dense GEMV's stream (GemvPrefetch).
var NMGemvPrefetch = map[string]int{"avx512": 2048}

// NMGemv is one N = 1 kernel: Keep:Group and rows per unit.
type NMGemv struct{ Keep, Group, UH int }

func nmPat(p NMPattern) string {
	if p.Keep == 0 {
		return "Any"
	}
	return fmt.Sprintf("%dof%d", p.Keep, p.Group)
}

// NMFuncName names a SpMM kernel.
func NMFuncName(isa string, p NMPattern, s NMShape) string {
	return fmt.Sprintf("nm%s%sR%dU%d", ident(isa), nmPat(p), s.UH, s.U)
}

// NMGemvFuncName names a GEMV kernel.
func NMGemvFuncName(isa string, g NMGemv) string {
	return fmt.Sprintf("nmv%s%dof%dR%d", ident(isa), g.Keep, g.Group, g.UH)
}

// NMParams is the SpMM signature.
var NMParams = []vm.Param{
	{Name: "ival", Kind: vm.PtrF32}, {Name: "ipos", Kind: vm.PtrU8}, {Name: "spr", Kind: vm.Int},
	{Name: "gfull", Kind: vm.Int}, {Name: "keep", Kind: vm.Int}, {Name: "group", Kind: vm.Int}, {Name: "lastSlots", Kind: vm.Int},
	{Name: "units", Kind: vm.Int}, {Name: "lastRows", Kind: vm.Int},
	{Name: "x", Kind: vm.PtrF32},
	{Name: "y", Kind: vm.PtrF32}, {Name: "ldy", Kind: vm.Int}, {Name: "n", Kind: vm.Int},
	{Name: "flags", Kind: vm.Int}, {Name: "bias", Kind: vm.PtrF32}, {Name: "lo", Kind: vm.F32}, {Name: "hi", Kind: vm.F32},
}

// NMGemvParams is the GEMV signature.
var NMGemvParams = []vm.Param{
	{Name: "vals", Kind: vm.PtrF32}, {Name: "bits", Kind: vm.PtrU32}, {Name: "chunks", Kind: vm.Int},
	{Name: "units", Kind: vm.Int}, {Name: "x", Kind: vm.PtrF32}, {Name: "out", Kind: vm.PtrF32},
	{Name: "consts", Kind: vm.PtrU32}, {Name: "gap", Kind: vm.Int},
}

// NM is the family.
var NM = Family{
	File: "nm",
	Gen: func(m vm.Machine) {
		nm := m.(vm.NMMachine)
		for _, p := range NMPatterns {
			for _, s := range NMShapes[m.ISA()] {
				genNMSpMM(nm, p, s, vm.ElemF32)
			}
		}
		for _, g := range NMGemvPatterns[m.ISA()] {
			genNMGemv(nm, g, vm.ElemF32)
		}
	},
	Table: func(isa, features string) string {
		id := ident(isa)
		var b strings.Builder
		fmt.Fprintf(&b, "// nm%sFeatures are the CPU features the nm%[1]s kernels use.\nconst nm%[1]sFeatures = %[2]s\n\n", id, features)
		fmt.Fprintf(&b, "// nm%sKernels lists the generated N:M SpMM kernels (keep = 0: any pattern).\nvar nm%[1]sKernels = []nmGenKernel{\n", id)
		for _, p := range NMPatterns {
			for _, s := range NMShapes[isa] {
				fmt.Fprintf(&b, "\t{keep: %d, group: %d, uh: %d, tile: %d, fn: %s},\n", p.Keep, p.Group, s.UH, s.U*lanesOf(isa), NMFuncName(isa, p, s))
			}
		}
		b.WriteString("}\n\n")
		fmt.Fprintf(&b, "// nm%sGemvKernels lists the generated N:M GEMV kernels.\nvar nm%[1]sGemvKernels = []nmGemvKernel{\n", id)
		for _, g := range NMGemvPatterns[isa] {
			pb, words, passes, tables := nmGemvGeometry(g, lanesOf(isa))
			fmt.Fprintf(&b, "\t{keep: %d, group: %d, uh: %d, lanes: %d, pb: %d, words: %d, passes: %d, tables: %d, fn: %s},\n",
				g.Keep, g.Group, g.UH, lanesOf(isa), pb, words, passes, tables, NMGemvFuncName(isa, g))
		}
		b.WriteString("}\n")
		return b.String()
	},
	Kernels: func(isa string) []Kernel {
		return nmKernels(isa, NMPatterns, NMGemvPatterns[isa], "", vm.ElemF32)
	},
	Driver:    "asm/nm.go, asm/nm_simd.go (nm_amd64.go, nm_arm64.go register)",
	Reference: "ref.NM (ref/ref.go)",
	Test:      "asm/nm_test.go",
}

func init() { Register(NM) }

// nmKernels lists the N:M kernels of isa (names under prefix): the SpMM tiles of every
// pattern in pats on every shape of NMShapes, then the GEMV (N = 1) of each of gemvs.
func nmKernels(isa string, pats []NMPattern, gemvs []NMGemv, prefix string, e vm.Elem) []Kernel {
	L := lanesOf(isa)
	format, dtype, spmm, gemv := "nm", "", "genNMSpMM", "genNMGemv"
	if e != vm.ElemF32 {
		format, dtype, spmm, gemv = "nm_"+e.String(), e.String(), "nmLPFamily", "nmLPFamily"
	}
	var ks []Kernel
	for _, p := range pats {
		for _, s := range NMShapes[isa] {
			ks = append(ks, Kernel{Kind: KindNMSpMM, Func: spmm, Symbols: []string{NMLPFuncName(isa, e, p, s)}, Format: format, DType: dtype,
				Lanes: L, Tile: s.U * L, Rows: s.UH, Keep: p.Keep, Group: p.Group, MinN: 2, Prefix: prefix})
		}
	}
	for _, g := range gemvs {
		ks = append(ks, Kernel{Kind: KindNMGemv, Func: gemv, Symbols: []string{NMLPGemvFuncName(isa, e, g)}, Format: format, DType: dtype,
			Lanes: L, Rows: g.UH, Keep: g.Keep, Group: g.Group, MinN: 1, MaxN: 1, Prefix: prefix})
	}
	return ks
}

type nmGen struct {
	m  vm.NMMachine
	p  NMPattern
	s  NMShape
	e  vm.Elem // the stored weight type (vm.ElemF32: the float32 kernels)
	sc vm.Reg  // int8: the unit's first row scale
}

// genNMSpMM emits the SpMM kernel of pattern p on tile s over weights stored as e: float32
// (NMParams), or bf16, fp16, int8 (NMLPParams, each slot's weight widened as it is
// broadcast, an int8 one multiplied by its row's scale first).
func genNMSpMM(m vm.NMMachine, p NMPattern, s NMShape, e vm.Elem) {
	L := m.Lanes()
	name := NMLPFuncName(m.ISA(), e, p, s)
	what := "any N:M"
	if p.Keep > 0 {
		what = fmt.Sprintf("%d:%d", p.Keep, p.Group)
	}
	params, of := NMParams, ""
	if e != vm.ElemF32 {
		params, of = NMLPParams, fmt.Sprintf(" of %s weights", e)
	}
	m.Func(name, fmt.Sprintf("%s runs the %s SpMM kernel%s on %d interleaved rows, tiles of %d columns.", name, what, of, s.UH, s.U*L), params)
	g := &nmGen{m: m, p: p, s: s, e: e, sc: -1}
	b := &bsrGen{m: m, s: BSRShape{H: s.UH, CW: 1, U: s.U}} // shares the column loop and the store
	ival, ipos := m.Param("ival"), m.Param("ipos")
	y, bp := m.Param("y"), m.Param("bias")
	if e == vm.ElemI8 {
		g.sc = m.Param("scale")
	}
	u := m.Param("units")
	exit, top := m.NewLabel("exit"), m.NewLabel("unit")
	m.Bind(top)
	m.BrImm(u, vm.LE, 0, exit)
	{
		j := m.GP()
		m.MovImm(j, 0)
		tiles, done := m.NewLabel("tiles"), m.NewLabel("cols")
		m.Bind(tiles)
		left := b.colsLeft(j)
		rest := m.NewLabel("rest")
		m.BrImm(left, vm.LT, int64(s.U*L), rest)
		g.tile(b, ival, ipos, y, bp, u, j, s.U, nil)
		m.AddImm(j, int64(s.U*L))
		m.Jmp(tiles)
		// The rest (< U vectors): one tile of ⌈left/L⌉ vectors, the last one masked, so a
		// ragged N keeps as many accumulator chains as a full tile.
		m.Bind(rest)
		m.BrImm(left, vm.LE, 0, done)
		for uu := s.U; uu >= 1; uu-- {
			next := m.NewLabel("narrower")
			if uu > 1 {
				m.BrImm(left, vm.LE, int64((uu-1)*L), next)
			}
			m.AddImm(left, -int64((uu-1)*L))
			mask := m.TailMask(left)
			g.tile(b, ival, ipos, y, bp, u, j, uu, &mask)
			m.Jmp(done)
			m.Bind(next)
		}
		m.Bind(done)

		// Next unit: UH rows of slots, UH rows of Y, bias and scales.
		t := m.Param("spr")
		m.Lea(ipos, vm.Idx(ipos, t, s.UH))
		if sh := log2(s.UH * e.Bytes()); sh > 0 {
			m.Shl(t, sh)
		}
		m.Add(ival, t)
		ly := m.Param("ldy")
		m.Shl(ly, log2(s.UH*4))
		m.Add(y, ly)
		m.AddImm(bp, int64(s.UH*4))
		if g.sc >= 0 {
			m.AddImm(g.sc, int64(s.UH*4))
		}
		m.AddImm(u, -1)
		m.Jmp(top)
	}
	m.Bind(exit)
	m.Ret()
}

// tile computes and stores one column tile for the unit's UH rows.
func (g *nmGen) tile(b *bsrGen, ival, ipos, y, bp, units, j vm.Reg, u int, mask *vm.Mask) {
	m, s, p := g.m, g.s, g.p
	L := m.Lanes()
	eb := g.e.Bytes()
	acc := make([][]vm.Vec, s.UH)
	for r := range acc {
		for range u {
			a := m.Vec()
			m.Zero(a)
			acc[r] = append(acc[r], a)
		}
	}
	w, t := m.Vec(), m.Vec()
	rowShift := log2(s.U * L * 4) // X is a panel of T = U·Lanes floats per row
	vp, pp, xg := m.GP(), m.GP(), m.GP()
	m.Mov(vp, ival)
	m.Mov(pp, ipos)
	m.Lea(xg, vm.Idx(m.Param("x"), j, 4))

	// slots emits n slots (from offset d slots from vp/pp) of every row.
	slots := func(d, n int) {
		if gm, ok := m.(vm.GroupMachine); ok && n*s.UH > 1 {
			g.groupedEntries(gm, acc, vp, pp, xg, d*s.UH, n*s.UH, rowShift)
			return
		}
		for dd := d; dd < d+n; dd++ {
			for r := 0; r < s.UH; r++ {
				q := m.GP()
				m.Load(q, vm.At(pp, dd*s.UH+r), 1)
				m.Shl(q, rowShift)
				m.Add(q, xg)
				wr := g.weight(w, vp, dd*s.UH+r, r)
				for i, a := range acc[r] {
					// The panel is zero-padded to T columns: no X load needs a mask.
					m.FMAMem(a, wr, vm.At(q, i*L*4))
				}
			}
		}
	}
	// groupStride adds Group rows of X to xg.
	groupStride := func() {
		if p.Keep > 0 {
			m.AddImm(xg, int64(p.Group<<rowShift))
			return
		}
		gs := m.Param("group")
		m.Shl(gs, rowShift)
		m.Add(xg, gs)
	}

	cnt := m.Param("gfull")
	gdone, gloop := m.NewLabel("gdone"), m.NewLabel("group")
	if gm, ok := m.(vm.GroupMachine); ok && p.Keep > 0 && nmUnroll(p, s) > 1 {
		// Few entries per group: G groups per iteration, so that one load takes the
		// positions and one the weights of at least 4 entries; the rest one by one below.
		G := nmUnroll(p, s)
		gloopG, single := m.NewLabel("groups"), m.NewLabel("single")
		m.BrImm(cnt, vm.LT, int64(G), single)
		m.Bind(gloopG)
		g.groupedEntries(gm, acc, vp, pp, xg, 0, G*p.Keep*s.UH, rowShift)
		m.AddImm(vp, int64(G*p.Keep*s.UH*eb))
		m.AddImm(pp, int64(G*p.Keep*s.UH))
		m.AddImm(xg, int64(G*p.Group<<rowShift))
		m.AddImm(cnt, -int64(G))
		m.BrImm(cnt, vm.GE, int64(G), gloopG)
		m.Bind(single)
	}
	m.BrImm(cnt, vm.LE, 0, gdone)
	m.Bind(gloop)
	if p.Keep > 0 {
		slots(0, p.Keep)
		m.AddImm(vp, int64(p.Keep*s.UH*eb))
		m.AddImm(pp, int64(p.Keep*s.UH))
	} else {
		k := m.Param("keep")
		sl := m.NewLabel("slot")
		m.Bind(sl)
		slots(0, 1)
		m.AddImm(vp, int64(s.UH*eb))
		m.AddImm(pp, int64(s.UH))
		m.AddImm(k, -1)
		m.BrImm(k, vm.GT, 0, sl)
	}
	groupStride()
	m.AddImm(cnt, -1)
	m.BrImm(cnt, vm.GT, 0, gloop)
	m.Bind(gdone)

	// The partial last group.
	k := m.Param("lastSlots")
	pdone, ploop := m.NewLabel("pdone"), m.NewLabel("partial")
	m.BrImm(k, vm.LE, 0, pdone)
	m.Bind(ploop)
	slots(0, 1)
	m.AddImm(vp, int64(s.UH*eb))
	m.AddImm(pp, int64(s.UH))
	m.AddImm(k, -1)
	m.BrImm(k, vm.GT, 0, ploop)
	m.Bind(pdone)

	// Store rows r < rows: UH, or lastRows in the last unit.
	rows := m.GP()
	m.MovImm(rows, int64(s.UH))
	full := m.NewLabel("allrows")
	m.BrImm(units, vm.GT, 1, full)
	m.Mov(rows, m.Param("lastRows"))
	m.Bind(full)
	yr := m.GP()
	m.Mov(yr, y)
	end := m.NewLabel("stored")
	tmp := [3]vm.Vec{w, t, m.Vec()}
	for r := 0; r < s.UH; r++ {
		if r > 0 {
			m.BrImm(rows, vm.LE, int64(r), end)
			ly := m.Param("ldy")
			m.Shl(ly, 2)
			m.Add(yr, ly)
		}
		b.store(acc[r], yr, bp, j, r, mask, tmp)
	}
	m.Bind(end)
}

// groupedEntries emits n > 1 consecutive entries from entry e0 (entry e = slot·UH + row, in
// storage order) on a backend with group loads: their byte positions in loads of 8, 4 or 2
// bytes split in registers (ByteField, already scaled to panel rows), their weights in
// groups of 4 or 2 (LoadGroup) broadcast per entry (BcastGroup). Entry by entry, an entry
// costs two loads beside its U X loads; grouped, one load per 4 weights and one per up to 8
// positions. The FMAs, and so each chain's order, are those of the entry-by-entry code.
func (g *nmGen) groupedEntries(gm vm.GroupMachine, acc [][]vm.Vec, vp, pp, xg vm.Reg, e0, n, rowShift int) {
	m, s := g.m, g.s
	L := m.Lanes()
	var word vm.Reg
	var wg vm.Vec
	wordAt, wordLen, groupAt, groupLen := 0, 0, 0, 0
	for e := 0; e < n; e++ {
		if e >= wordAt+wordLen {
			wordAt, wordLen = e, chunkOf(n-e, 8)
			word = m.GP()
			m.Load(word, vm.At(pp, e0+e), wordLen)
		}
		if e >= groupAt+groupLen {
			groupAt, groupLen = e, chunkOf(n-e, 4)
			if g.e != vm.ElemF32 {
				groupLen = 1 // a widening broadcast per entry
			}
			if groupLen > 1 {
				wg = m.Vec()
				gm.LoadGroup(wg, vm.At(vp, (e0+e)*4), groupLen)
			}
		}
		q := m.GP()
		if wordLen > 1 {
			gm.ByteField(q, word, e-wordAt, rowShift)
		} else {
			m.Load(q, vm.At(pp, e0+e), 1)
			m.Shl(q, rowShift)
		}
		w := m.Vec()
		if groupLen > 1 {
			gm.BcastGroup(w, wg, e-groupAt, groupLen)
		} else {
			w = g.weight(w, vp, e0+e, (e0+e)%s.UH)
		}
		// Entries past the first group's (G groups per iteration) read their group's rows.
		x := vm.Idx(xg, q, 1)
		if g.p.Keep > 0 {
			x = x.Off((e0 + e) / s.UH / g.p.Keep * g.p.Group << rowShift)
		}
		for i, a := range acc[(e0+e)%s.UH] {
			m.FMAMem(a, w, x.Off(i*L*4))
		}
	}
}

// weight sets w to the weight of entry e (slot·UH + row, from vp) of row r, broadcast, and
// returns the vector that holds it (broadcastWeight: an int8 weight multiplied by row r's
// scale into a fresh vector, the value formats.NMLP.ToNM gives).
func (g *nmGen) weight(w vm.Vec, vp vm.Reg, e, r int) vm.Vec {
	m := g.m
	return broadcastWeight(m, g.e, w, vm.At(vp, e*g.e.Bytes()), vm.At(g.sc, r*4), func() (vm.Vec, vm.Vec) { return m.Vec(), m.Vec() })
}

// nmUnroll is how many groups of pattern p one iteration of the grouped tile takes (vm.GroupMachine):
// enough for 4 entries (Keep·UH each).
func nmUnroll(p NMPattern, s NMShape) int {
	return max(1, 4/(p.Keep*s.UH))
}

// chunkOf is the largest power of two ≤ min(n, most): how many of n items one group load takes.
func chunkOf(n, most int) int {
	c := 1
	for c*2 <= min(n, most) {
		c *= 2
	}
	return c
}

// nmGemvGeometry: bits per position, 32-bit words per 16-slot chunk, passes per chunk and
// X-vector pairs per pass window. asm/nm.go builds the consts table to match: per pass,
// shift = (lane mod lanes-per-word)·PB, base = the lane's group offset in the pass window,
// mask = 2^PB − 1, select = 1 for lanes that read the pass's second word.
func nmGemvGeometry(g NMGemv, lanes int) (pb, words, passes, tables int) {
	pb = NMPosBits(g.Group)
	words = NMChunkSlots * pb / NMWordBits
	passes = NMChunkSlots / lanes
	win := (lanes + g.Keep - 1) / g.Keep * g.Group
	tables = (win + 2*lanes - 1) / (2 * lanes)
	return
}

// genNMGemv emits the GEMV kernel g over weights stored as e: float32 (NMGemvParams), or
// bf16, fp16, int8 (NMGemvLPParams: each pass's weights widened as they are loaded, int8
// ones multiplied by their row's scale first).
func genNMGemv(m vm.NMMachine, g NMGemv, e vm.Elem) {
	L := m.Lanes()
	eb := e.Bytes()
	pb, words, passes, tables := nmGemvGeometry(g, L)
	name := NMLPGemvFuncName(m.ISA(), e, g)
	params, of := NMGemvParams, ""
	if e != vm.ElemF32 {
		params, of = NMGemvLPParams, fmt.Sprintf(" of %s weights", e)
	}
	m.Func(name, fmt.Sprintf("%s runs the %d:%d GEMV kernel%s on %d rows at a time (compact %d-bit positions).", name, g.Keep, g.Group, of, g.UH, pb), params)
	vals, bits, out := m.Param("vals"), m.Param("bits"), m.Param("out")
	var sc vm.Reg = -1
	if e == vm.ElemI8 {
		sc = m.Param("scale")
	}
	// The second segment: unit i + gap beside unit i, its chunks, bits, lane sums and
	// scales that many units on (gap·chunks·UH·16 values, gap·chunks·UH·Words words,
	// gap·UH·L sums, gap·UH scales).
	gap := m.Param("gap")
	vg, bg, og := m.GP(), m.GP(), m.GP()
	m.Mov(vg, gap)
	m.Mul(vg, m.Param("chunks"))
	m.Mov(bg, vg)
	m.Shl(vg, log2(g.UH*NMChunkSlots*eb))
	m.Shl(bg, log2(g.UH*words*4))
	m.Mov(og, gap)
	m.Shl(og, log2(g.UH*L*4))
	var sg vm.Reg = -1
	if sc >= 0 {
		sg = m.GP()
		m.Mov(sg, gap)
		m.Shl(sg, log2(g.UH*4))
	}
	// seg is the address off bytes past base in segment s (0 or 1).
	seg := func(base, stride vm.Reg, s, off int) vm.Mem {
		if s == 0 {
			return vm.At(base, off)
		}
		return vm.Idx(base, stride, 1).Off(off)
	}
	u := m.Param("units")
	exit, top := m.NewLabel("exit"), m.NewLabel("unit")
	m.Bind(top)
	m.BrImm(u, vm.LE, 0, exit)
	{
		// The unit's lane sums continue from out (the driver zeroes it before a row's first
		// K block), so a row's chunks form one chain per lane across K blocks.
		acc := make([]vm.Vec, NMGemvSegments*g.UH) // segment s, row r: acc[s·UH + r]
		for i := range acc {
			acc[i] = m.Vec()
			m.LoadV(acc[i], seg(out, og, i/g.UH, i%g.UH*L*4))
		}
		xw := m.Param("x")
		c := m.Param("chunks")
		cloop := m.NewLabel("chunk")
		cdone := m.NewLabel("cdone")
		m.BrImm(c, vm.LE, 0, cdone)
		m.Bind(cloop)
		consts := m.Param("consts")
		tab := make([]vm.Vec, 2*tables)
		for i := range tab {
			tab[i] = m.Vec()
		}
		shift, base, msk, sel := m.Vec(), m.Vec(), m.Vec(), m.Vec()
		idx, idx2 := m.Vec(), m.Vec()
		sub := make([]vm.Vec, tables)
		for i := range sub {
			sub[i] = m.Vec()
		}
		for ps := 0; ps < passes; ps++ {
			lane0 := ps * L
			winOff := lane0 / g.Keep * g.Group * 4
			for i := range tab {
				m.LoadV(tab[i], vm.At(xw, winOff+i*L*4))
			}
			co := ps * 4 * L * 4
			m.LoadV(shift, vm.At(consts, co))
			m.LoadV(base, vm.At(consts, co+L*4))
			m.LoadV(msk, vm.At(consts, co+2*L*4))
			w0 := lane0 * pb / 32           // word of the pass's first lane
			w1 := (lane0 + L - 1) * pb / 32 // and of its last
			if w1 != w0 {
				m.LoadV(sel, vm.At(consts, co+3*L*4))
			}
			for i := range acc {
				sgm, r := i/g.UH, i%g.UH
				m.Load1(idx, seg(bits, bg, sgm, (r*words+w0)*4))
				if w1 != w0 {
					m.Load1(idx2, seg(bits, bg, sgm, (r*words+w1)*4))
					m.SelectBit(idx, sel, 0, idx, idx2)
				}
				m.VShrVar(idx, idx, shift)
				m.VAndOr(idx, msk, base)
				for t := 0; t < tables; t++ {
					m.Permute2(sub[t], idx, tab[2*t], tab[2*t+1])
				}
				// Tree of selects on the window bits above the table index.
				bit := log2(2 * L)
				for n := tables; n > 1; n /= 2 {
					for t := 0; t < n/2; t++ {
						m.SelectBit(sub[t], idx, bit, sub[2*t], sub[2*t+1])
					}
					bit++
				}
				if e == vm.ElemF32 {
					m.FMAMem(acc[i], sub[0], seg(vals, vg, sgm, (r*NMChunkSlots+lane0)*4))
					continue
				}
				wv := m.Vec()
				m.(vm.WidenMachine).LoadWiden(wv, seg(vals, vg, sgm, (r*NMChunkSlots+lane0)*eb), e)
				if e == vm.ElemI8 {
					s, ws := m.Vec(), m.Vec()
					m.Load1(s, seg(sc, sg, sgm, r*4))
					m.Zero(ws)
					m.FMA(ws, wv, s)
					wv = ws
				}
				m.FMA(acc[i], sub[0], wv)
			}
		}
		if pf, ok := m.(PrefetcherNTA); ok && NMGemvPrefetch[m.ISA()] > 0 {
			for sgm := 0; sgm < NMGemvSegments; sgm++ {
				for off := 0; off < g.UH*NMChunkSlots*eb; off += 64 {
					pf.PrefetchNTA(seg(vals, vg, sgm, NMGemvPrefetch[m.ISA()]+off))
				}
			}
		}
		m.AddImm(vals, int64(g.UH*NMChunkSlots*eb))
		m.AddImm(bits, int64(g.UH*words*4))
		m.AddImm(xw, int64(NMChunkSlots/g.Keep*g.Group*4))
		m.AddImm(c, -1)
		m.BrImm(c, vm.GT, 0, cloop)
		m.Bind(cdone)
		for i, a := range acc {
			m.StoreV(seg(out, og, i/g.UH, i%g.UH*L*4), a)
		}
		m.AddImm(out, int64(g.UH*L*4))
		if sc >= 0 {
			m.AddImm(sc, int64(g.UH*4))
		}
		m.AddImm(u, -1)
		m.Jmp(top)
	}
	m.Bind(exit)
	m.Ret()
}
