package kernels

import (
	"fmt"
	"strings"

	"github.com/sparsegen/sparsegen/gen/vm"
)

// CSR tile kernel (channel-major SpMM), one K block of a packed CSR matrix whose rows are
// grouped R at a time. Each group's entries in the block are padded to the longest row of
// the group and stored step-major: step s holds the s-th entry of each of the R rows (vals
// and offs, R each). A padding entry has weight 0 and points at the panel's zero row, so it
// adds exactly +0. For each group g < ngroups:
//
//	acc[r][0:w] = flags&EpiLoadY ? Y[g·R + r, 0:w] : 0           (r < R)
//	for s < cnt[g]: acc[r] += vals[s·R + r] · X[offs[s·R + r]·CSROffScale bytes, 0:w]
//	if flags&EpiBias:  acc[r] += bias[g·R + r]
//	if flags&EpiClamp: acc[r] = min(max(acc[r], lo), hi)          (ReLU is lo = 0, hi = +Inf)
//	Y[g·R + r, 0:w] = acc[r]
//
// w = U vectors of Lanes() floats; the masked variants store only the first `tail` lanes of
// the last vector (and load only those when EpiLoadY). X is a plan-owned panel: offs are
// scaled byte offsets from x, independent of the caller's ldx; the panel is zero-padded to the full
// tile so its loads never need masks. The loop has no remainders: R·U independent FMA chains
// on every step. The driver (asm/csr.go) blocks K, sets the flags per block, keeps each call
// short and runs a ragged last group through a scratch tile.
//
// Each output lane is one FMA chain over its row's entries in storage order (plus exact +0
// padding steps), so the result depends on the weights only: not on N, the split of N, the
// tile width, R or the ISA (up to the sign of an all-zero sum).

// The flags are the epilogue vocabulary of contract.go (EpiLoadY, EpiBias, EpiClamp).

// CSROffScale is the unit of the 16-bit panel offsets in bytes: offs[p]·8 is the byte offset
// of the entry's panel row (a panel row of T floats is T·4 bytes, a multiple of 8 when T is a
// multiple of 2), so a K block can span 65536·8 / (T·4) rows.
const CSROffScale = 8

// CSRMaxU is the widest tile, in vectors per row.
const CSRMaxU = 8

// CSRGroups are the row-group heights R the tile functions are generated for.
var CSRGroups = []int{1, 2, 4}

// CSRParams is the signature shared by every CSR tile function.
var CSRParams = []vm.Param{
	{Name: "vals", Kind: vm.PtrF32}, {Name: "offs", Kind: vm.PtrU16}, {Name: "cnt", Kind: vm.PtrU32},
	{Name: "ngroups", Kind: vm.Int}, {Name: "x", Kind: vm.PtrF32}, {Name: "y", Kind: vm.PtrF32},
	{Name: "ldy", Kind: vm.Int}, {Name: "flags", Kind: vm.Int}, {Name: "bias", Kind: vm.PtrF32},
	{Name: "lo", Kind: vm.F32}, {Name: "hi", Kind: vm.F32}, {Name: "tail", Kind: vm.Int},
}

// CSRFuncName names the tile function of R rows × u vectors on isa.
func CSRFuncName(isa string, r, u int, masked bool) string {
	s := fmt.Sprintf("csr%sR%dU%d", ident(isa), r, u)
	if masked {
		s += "M"
	}
	return s
}

// CSRFits reports whether R rows × u vectors fit nvec vector registers (R·u accumulators,
// R broadcasts, a mask).
func CSRFits(r, u, nvec int) bool { return r*u+r+1 <= nvec }

// csrGroupWeights reports whether a tile of R rows × u vectors has a vector register
// left, beyond CSRFits' count, for its step's weights loaded as one group (vm.GroupMachine).
// Zen 5, 11008×4096×16 at 90%, t16 (R = 4, u = 1) on AVX-512, hand-edited variants of one
// loop: entry-by-entry loads 2.6-2.7 ms; the R offsets in one load 2.4-2.5 ms; the R
// weights in one load 2.3-2.4 ms; both 2.1-2.2 ms.
func csrGroupWeights(r, u, nvec int) bool { return r*u+r+2 <= nvec }

// CSR is the family: for each R in CSRGroups and width u = 1..CSRMaxU that fits, an
// unmasked and a masked function.
var CSR = Family{
	File: "csr",
	Gen: func(m vm.Machine) {
		for _, r := range CSRGroups {
			for u := 1; u <= CSRMaxU; u++ {
				if CSRFits(r, u, m.VecRegs()) {
					genCSRTile(m, r, u, false)
					genCSRTile(m, r, u, true)
				}
			}
		}
	},
	Table: func(isa, features string) string {
		id := ident(isa)
		var b strings.Builder
		fmt.Fprintf(&b, "// csr%sFeatures are the CPU features the csr%[1]s tile functions use.\nconst csr%[1]sFeatures = %[2]s\n\n", id, features)
		fmt.Fprintf(&b, "// csr%sLanes is the vector width in float32 lanes.\nconst csr%[1]sLanes = %d\n\n", id, lanesOf(isa))
		fmt.Fprintf(&b, "// csr%sTiles[log2 R][masked][u] is the tile function of R rows × u vectors (nil: does not fit).\nvar csr%[1]sTiles = [%d][2][%d]csrTileFunc{\n", id, len(CSRGroups), CSRMaxU+1)
		writeCSRTileRows(&b, func(r, u int, masked bool) string {
			if !CSRFits(r, u, vecRegsOf(isa)) {
				return ""
			}
			return CSRFuncName(isa, r, u, masked)
		})
		return b.String()
	},
	Kernels:   csrKernels,
	Driver:    "asm/csr.go (csr_amd64.go, csr_arm64.go register)",
	Reference: "ref.CSR (ref/ref.go)",
	Test:      "asm/csr_test.go, asm/panel_test.go",
}

// CSRKernel is one registered CSR SpMM kernel: tile width T (columns per tile), row
// group R (so that R·T/Lanes chains cover the FMA latency) and its N range.
type CSRKernel struct{ T, R, MinN, MaxN int }

// CSRKernels lists the registered CSR kernels per ISA (tile widths chosen by measurement;
// DESIGN §5.3). NEON: T = 16 and 32, two rows interleaved, 8 and 16 chains.
var CSRKernels = map[string][]CSRKernel{
	"avx512": {{16, 4, 2, 16}, {32, 4, 8, 64}, {64, 2, 32, 0}, {128, 2, 64, 0}},
	"avx2":   {{16, 4, 2, 16}, {32, 2, 8, 64}, {64, 1, 32, 0}},
	"neon":   {{16, 2, 0, 0}, {32, 2, 0, 0}},
}

func csrKernels(isa string) []Kernel {
	return csrKernelsOf(isa, "genCSRTile", "csr", "", func(r, u int, masked bool) string { return CSRFuncName(isa, r, u, masked) })
}

// csrKernelsOf lists the CSRKernels of isa as registered kernels of format and value type
// dtype ("" for float32) whose tile functions fn names (the CSR and CSRLP families).
func csrKernelsOf(isa, fn, format, dtype string, name func(r, u int, masked bool) string) []Kernel {
	L := lanesOf(isa)
	var ks []Kernel
	for _, c := range CSRKernels[isa] {
		var syms []string
		for u := 1; u <= c.T/L; u++ {
			vm.Check(CSRFits(c.R, u, vecRegsOf(isa)), "csr t%d on %s: R = %d × %d vectors does not fit", c.T, isa, c.R, u)
			syms = append(syms, name(c.R, u, false), name(c.R, u, true))
		}
		ks = append(ks, Kernel{Kind: KindCSR, Func: fn, Symbols: syms, Format: format, DType: dtype, Lanes: L,
			Tile: c.T, Rows: c.R, MinN: c.MinN, MaxN: c.MaxN})
	}
	return ks
}

// writeCSRTileRows writes the rows and closing brace of a [log2 R][masked][u] tile table:
// name gives each tile function's name, "" for nil.
func writeCSRTileRows(b *strings.Builder, name func(r, u int, masked bool) string) {
	for _, r := range CSRGroups {
		b.WriteString("\t{\n")
		for _, masked := range []bool{false, true} {
			names := []string{""}
			for u := 1; u <= CSRMaxU; u++ {
				names = append(names, name(r, u, masked))
			}
			fmt.Fprintf(b, "\t\t{%s},\n", goFuncList(names))
		}
		b.WriteString("\t},\n")
	}
	b.WriteString("}\n")
}

// csrRowGroup returns the row group, from groups (ascending), for a CSR tile of u vectors
// on isa: the smallest whose R·u chains cover the FMA latency (≥ 8) and fit the registers
// (CSRFits), else the largest that fits; 0 when none fits.
func csrRowGroup(groups []int, u int, isa string) int {
	r := 0
	for _, rr := range groups {
		if CSRFits(rr, u, vecRegsOf(isa)) {
			r = rr
			if rr*u >= 8 {
				break
			}
		}
	}
	return r
}

func vecRegsOf(isa string) int {
	if isa == "avx2" {
		return 16
	}
	return 32
}

type csrGen struct {
	m      vm.Machine
	r, u   int
	masked bool
	mask   vm.Mask
	acc    [][]vm.Vec // [row][vector]
}

func genCSRTile(m vm.Machine, R, u int, masked bool) {
	L := m.Lanes()
	name := CSRFuncName(m.ISA(), R, u, masked)
	doc := fmt.Sprintf("%s runs the CSR tile kernel on groups of %d rows × %d columns (%d vectors)", name, R, u*L, u)
	if masked {
		doc += "; the last vector is masked to tail lanes"
	}
	m.Func(name, doc+".", CSRParams)
	genCSRTileBody(m, R, u, masked, vm.ElemF32)
}

// genCSRTileBody emits the body of a CSR tile function whose weights are stored as e
// (vm.ElemF32: the float32 tiles; else CSRLP's, gen/kernels/csrlp.go) into the function
// just begun. Other than float32, each step's weight is a widening broadcast
// (vm.WidenMachine.Load1Widen), and an int8 weight is multiplied by its row's scale
// (scale[g·R + r], one rounding: the float32 value ref uses) before its FMAs.
func genCSRTileBody(m vm.Machine, R, u int, masked bool, e vm.Elem) {
	L := m.Lanes()
	eb := e.Bytes()
	g := &csrGen{m: m, r: R, u: u, masked: masked}

	vals, offs, cnt := m.Param("vals"), m.Param("offs"), m.Param("cnt")
	x, y := m.Param("x"), m.Param("y")
	if masked {
		g.mask = m.TailMask(m.Param("tail"))
	}
	g.acc = make([][]vm.Vec, R)
	for r := range g.acc {
		for j := 0; j < u; j++ {
			g.acc[r] = append(g.acc[r], m.Vec())
		}
	}
	i := m.GP()
	m.MovImm(i, 0)
	exit, top := m.NewLabel("exit"), m.NewLabel("group")
	c := countedLoopHead(m, "ngroups", i, cnt, top, exit)
	yr := y
	for r := 0; r < R; r++ {
		if r > 0 {
			yr = g.nextRow(yr)
		}
		g.init(r, yr)
	}
	var sp vm.Reg = -1 // int8: the group's first row scale
	if e == vm.ElemI8 {
		sp = m.GP()
		m.Mov(sp, i)
		m.Shl(sp, log2(R)+2)
		m.Add(sp, m.Param("scale"))
	}
	done, loop := m.NewLabel("stored"), m.NewLabel("step")
	m.BrImm(c, vm.LE, 0, done)
	m.Bind(loop)
	{
		ts := make([]vm.Reg, R)
		bs := make([]vm.Vec, R)
		// weight sets bs[r] to row r's weight of the step, broadcast.
		weight := func(r int) {
			bs[r] = broadcastWeight(m, e, m.Vec(), vm.At(vals, eb*r), vm.At(sp, 4*r), func() (vm.Vec, vm.Vec) { return m.Vec(), m.Vec() })
		}
		if gm, ok := m.(vm.GroupMachine); ok && R > 1 {
			// The step's R offsets in one load; a float32 step's R weights in one group
			// load split by in-register broadcasts where a vector register is free.
			for r := range ts {
				ts[r] = m.GP()
			}
			gm.LoadU16s(ts, vm.At(offs, 0))
			if e == vm.ElemF32 && csrGroupWeights(R, u, m.VecRegs()) {
				wg := m.Vec()
				gm.LoadGroup(wg, vm.At(vals, 0), R)
				for r := range bs {
					bs[r] = m.Vec()
					gm.BcastGroup(bs[r], wg, r, R)
				}
			} else {
				for r := range bs {
					weight(r)
				}
			}
		} else {
			for r := range ts {
				ts[r] = m.GP()
				m.Load(ts[r], vm.At(offs, 2*r), 2)
				weight(r)
			}
		}
		for j := 0; j < u; j++ {
			for r := 0; r < R; r++ {
				m.FMAMem(g.acc[r][j], bs[r], vm.Idx(x, ts[r], CSROffScale).Off(j*L*4))
			}
		}
		m.AddImm(vals, int64(eb*R))
		m.AddImm(offs, int64(2*R))
		m.AddImm(c, -1)
		m.BrImm(c, vm.GT, 0, loop)
	}
	m.Bind(done)
	yr = y
	for r := 0; r < R; r++ {
		if r > 0 {
			yr = g.nextRow(yr)
		}
		g.store(r, yr, i, r)
	}
	for r := 0; r < R; r++ {
		g.advance(y)
	}
	m.AddImm(i, 1)
	m.Jmp(top)
	m.Bind(exit)
	m.Ret()
}

// nextRow returns a fresh register holding y + ldy·4 bytes.
func (g *csrGen) nextRow(y vm.Reg) vm.Reg {
	r := g.m.Param("ldy")
	g.m.Shl(r, 2)
	g.m.Add(r, y)
	return r
}

// advance moves y one row down.
func (g *csrGen) advance(y vm.Reg) {
	r := g.m.Param("ldy")
	g.m.Shl(r, 2)
	g.m.Add(y, r)
}

// init sets row r's accumulators to Y (EpiLoadY) or zero.
func (g *csrGen) init(r int, y vm.Reg) {
	m := g.m
	L := m.Lanes()
	flags := m.Param("flags")
	zero, done := m.NewLabel("zero"), m.NewLabel("inited")
	m.BrBits(flags, EpiLoadY, false, zero)
	for j, a := range g.acc[r] {
		if g.masked && j == g.u-1 {
			m.LoadVMask(a, vm.At(y, j*L*4), g.mask)
		} else {
			m.LoadV(a, vm.At(y, j*L*4))
		}
	}
	m.Jmp(done)
	m.Bind(zero)
	for _, a := range g.acc[r] {
		m.Zero(a)
	}
	m.Bind(done)
}

// store applies the epilogue to row r (index i+dr) and writes it at y.
func (g *csrGen) store(r int, y, i vm.Reg, dr int) {
	g.epilogue(r, i, dr)
	m := g.m
	L := m.Lanes()
	for j, a := range g.acc[r] {
		if g.masked && j == g.u-1 {
			m.StoreVMask(vm.At(y, j*L*4), a, g.mask)
		} else {
			m.StoreV(vm.At(y, j*L*4), a)
		}
	}
}

// epilogue adds the bias of row r (index i·R + dr) and clamps, as flags say.
func (g *csrGen) epilogue(r int, i vm.Reg, dr int) {
	m := g.m
	flags := m.Param("flags")
	nobias := m.NewLabel("nobias")
	m.BrBits(flags, EpiBias, false, nobias)
	{
		bias := m.Param("bias")
		b := m.Vec()
		// bias[g·R + dr]: the group index times R·4 bytes.
		gi := m.GP()
		m.Mov(gi, i)
		m.Shl(gi, log2(g.r)+2)
		m.Load1(b, vm.Idx(bias, gi, 1).Off(4*dr))
		for _, a := range g.acc[r] {
			m.VAdd(a, b)
		}
	}
	m.Bind(nobias)
	flags = m.Param("flags")
	noclamp := m.NewLabel("noclamp")
	m.BrBits(flags, EpiClamp, false, noclamp)
	{
		lo, hi := m.Vec(), m.Vec()
		m.ParamF32(lo, "lo")
		m.ParamF32(hi, "hi")
		for _, a := range g.acc[r] {
			m.VMax(a, lo)
			m.VMin(a, hi)
		}
	}
	m.Bind(noclamp)
}
