package kernels

import (
	"fmt"
	"strings"

	"github.com/sparsegen/sparsegen/gen/vm"
)

// CSR tile kernel (channel-major SpMM), one K block of a packed CSR matrix:
//
//	for each row i < nrows (in pairs when the registers allow):
//	    acc[0:w] = flags&CSRLoadY ? Y[i, 0:w] : 0
//	    for p < cnt[i]: acc += vals[p] · X[offs[p] bytes, 0:w]   (one FMA chain per lane, in order)
//	    if flags&CSRBias:  acc += bias[i]
//	    if flags&CSRClamp: acc = min(max(acc, lo), hi)            (ReLU is lo = 0, hi = +Inf)
//	    Y[i, 0:w] = acc
//
// w = U vectors of Lanes() floats; the masked variants store only the first `tail` lanes of
// the last vector (and load only those when CSRLoadY). X is a plan-owned panel: offs are
// byte offsets from x, independent of the caller's ldx; the panel is zero-padded to the full
// tile so the loads never need masks. vals and offs advance through the rows' entries in
// order (row i+1 starts where row i ends). The driver (asm/csr.go) blocks K, sets the flags
// per block and keeps each call short.
//
// Each output lane is one FMA chain in storage order, so the result depends on the packed
// plan only: not on N, the split of N, the tile width or the ISA.
const (
	CSRLoadY = 1 // start from Y (a K block after the first, or Accumulate)
	CSRBias  = 2 // add bias[i] (last K block)
	CSRClamp = 4 // clamp to [lo, hi] (last K block)
)

// CSRMaxU is the widest tile, in vectors per row.
const CSRMaxU = 8

// CSRParams is the signature shared by every CSR tile function.
var CSRParams = []vm.Param{
	{Name: "vals", Kind: vm.PtrF32}, {Name: "offs", Kind: vm.PtrU16}, {Name: "cnt", Kind: vm.PtrU32},
	{Name: "nrows", Kind: vm.Int}, {Name: "x", Kind: vm.PtrF32}, {Name: "y", Kind: vm.PtrF32},
	{Name: "ldy", Kind: vm.Int}, {Name: "flags", Kind: vm.Int}, {Name: "bias", Kind: vm.PtrF32},
	{Name: "lo", Kind: vm.F32}, {Name: "hi", Kind: vm.F32}, {Name: "tail", Kind: vm.Int},
}

// CSRFuncName names the tile function of width u vectors on isa.
func CSRFuncName(isa string, u int, masked bool) string {
	s := fmt.Sprintf("csr%sU%d", ident(isa), u)
	if masked {
		s += "M"
	}
	return s
}

// CSRRows is how many rows a tile function of width u interleaves on a machine with
// nvec vector registers: two when 2·u accumulators, two broadcasts and a mask fit.
func CSRRows(u, nvec int) int {
	if 2*u+3 <= nvec {
		return 2
	}
	return 1
}

// CSR is the family: for each width u = 1..CSRMaxU an unmasked and a masked function.
var CSR = Family{
	File: "csr",
	Gen: func(m vm.Machine) {
		for u := 1; u <= CSRMaxU; u++ {
			genCSRTile(m, u, false)
			genCSRTile(m, u, true)
		}
	},
	Table: func(isa, features string) string {
		id := ident(isa)
		var full, masked []string
		full, masked = append(full, ""), append(masked, "")
		for u := 1; u <= CSRMaxU; u++ {
			full = append(full, CSRFuncName(isa, u, false))
			masked = append(masked, CSRFuncName(isa, u, true))
		}
		var b strings.Builder
		fmt.Fprintf(&b, "// csr%sFeatures are the CPU features the csr%s tile functions use.\nconst csr%[1]sFeatures = %[2]s\n\n", id, features)
		fmt.Fprintf(&b, "// csr%sLanes is the vector width in float32 lanes.\nconst csr%[1]sLanes = %d\n\n", id, lanesOf(isa))
		fmt.Fprintf(&b, "// csr%sTiles[masked][u] is the tile function of u vectors.\nvar csr%[1]sTiles = [2][%d]csrTileFunc{\n\t{%s},\n\t{%s},\n}\n",
			id, CSRMaxU+1, goFuncList(full), goFuncList(masked))
		return b.String()
	},
}

type csrGen struct {
	m      vm.Machine
	u      int
	masked bool
	mask   vm.Mask
	acc    [2][]vm.Vec
}

func genCSRTile(m vm.Machine, u int, masked bool) {
	L := m.Lanes()
	rows := CSRRows(u, m.VecRegs())
	name := CSRFuncName(m.ISA(), u, masked)
	doc := fmt.Sprintf("%s runs the CSR tile kernel on %d columns (%d vectors), %d rows interleaved", name, u*L, u, rows)
	if masked {
		doc += "; the last vector is masked to tail lanes"
	}
	m.Func(name, doc+".", CSRParams)
	g := &csrGen{m: m, u: u, masked: masked}

	vals, offs, cnt := m.Param("vals"), m.Param("offs"), m.Param("cnt")
	x, y := m.Param("x"), m.Param("y")
	if masked {
		g.mask = m.TailMask(m.Param("tail"))
	}
	for r := 0; r < rows; r++ {
		for j := 0; j < u; j++ {
			g.acc[r] = append(g.acc[r], m.Vec())
		}
	}
	i := m.GP()
	m.MovImm(i, 0)
	exit := m.NewLabel("exit")
	single := m.NewLabel("single")

	if rows == 2 {
		top := m.NewLabel("pair")
		m.Bind(top)
		left := m.Param("nrows")
		m.Sub(left, i)
		m.BrImm(left, vm.LT, 2, single)

		c0, c1 := m.GP(), m.GP()
		m.Load(c0, vm.Idx(cnt, i, 4), 4)
		m.Load(c1, vm.Idx(cnt, i, 4).Off(4), 4)
		y1 := g.nextRow(y)
		g.init(0, y)
		g.init(1, y1)
		end1 := m.GP()
		m.Mov(end1, c0)
		m.Add(end1, c1)
		common := c1 // c1 is dead after end1: reuse it as min(c0, c1)
		m.Min(common, c0)
		q, q1 := m.GP(), m.GP()
		m.MovImm(q, 0)
		m.Mov(q1, c0)

		rem := m.NewLabel("rem")
		loop := m.NewLabel("both")
		m.BrImm(common, vm.LE, 0, rem)
		m.Bind(loop)
		{
			t0, t1 := m.GP(), m.GP()
			m.Load(t0, vm.Idx(offs, q, 2), 2)
			m.Load(t1, vm.Idx(offs, q1, 2), 2)
			b0, b1 := m.Vec(), m.Vec()
			m.Load1(b0, vm.Idx(vals, q, 4))
			m.Load1(b1, vm.Idx(vals, q1, 4))
			for j := 0; j < u; j++ {
				m.FMAMem(g.acc[0][j], b0, vm.Idx(x, t0, 1).Off(j*L*4))
				m.FMAMem(g.acc[1][j], b1, vm.Idx(x, t1, 1).Off(j*L*4))
			}
			m.AddImm(q, 1)
			m.AddImm(q1, 1)
			m.Br(q, vm.LT, common, loop)
		}
		m.Bind(rem)
		g.rowLoop(0, vals, offs, x, q, c0)
		g.rowLoop(1, vals, offs, x, q1, end1)

		g.store(0, y, cnt, i, 0)
		y1 = g.nextRow(y)
		g.store(1, y1, cnt, i, 1)
		m.Lea(vals, vm.Idx(vals, end1, 4))
		m.Lea(offs, vm.Idx(offs, end1, 2))
		m.Mov(y, y1)
		g.advance(y)
		m.AddImm(i, 2)
		m.Jmp(top)
	}

	// One row at a time (the last odd row, or every row when pairs do not fit).
	m.Bind(single)
	{
		left := m.Param("nrows")
		m.Sub(left, i)
		m.BrImm(left, vm.LE, 0, exit)
		c0 := m.GP()
		m.Load(c0, vm.Idx(cnt, i, 4), 4)
		g.init(0, y)
		q := m.GP()
		m.MovImm(q, 0)
		g.rowLoop(0, vals, offs, x, q, c0)
		g.store(0, y, cnt, i, 0)
		m.Lea(vals, vm.Idx(vals, c0, 4))
		m.Lea(offs, vm.Idx(offs, c0, 2))
		g.advance(y)
		m.AddImm(i, 1)
		m.Jmp(single)
	}
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

// init sets row r's accumulators to Y (CSRLoadY) or zero.
func (g *csrGen) init(r int, y vm.Reg) {
	m := g.m
	L := m.Lanes()
	flags := m.Param("flags")
	zero, done := m.NewLabel("zero"), m.NewLabel("inited")
	m.BrBits(flags, CSRLoadY, false, zero)
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

// rowLoop runs row r's remaining entries q < end on its own.
func (g *csrGen) rowLoop(r int, vals, offs, x, q, end vm.Reg) {
	m := g.m
	L := m.Lanes()
	skip, loop := m.NewLabel("rdone"), m.NewLabel("row")
	m.Br(q, vm.GE, end, skip)
	m.Bind(loop)
	t := m.GP()
	m.Load(t, vm.Idx(offs, q, 2), 2)
	b := m.Vec()
	m.Load1(b, vm.Idx(vals, q, 4))
	for j, a := range g.acc[r] {
		m.FMAMem(a, b, vm.Idx(x, t, 1).Off(j*L*4))
	}
	m.AddImm(q, 1)
	m.Br(q, vm.LT, end, loop)
	m.Bind(skip)
}

// store applies the epilogue to row r (index i+dr) and writes it at y.
func (g *csrGen) store(r int, y, cnt, i vm.Reg, dr int) {
	m := g.m
	L := m.Lanes()
	_ = cnt
	flags := m.Param("flags")
	nobias := m.NewLabel("nobias")
	m.BrBits(flags, CSRBias, false, nobias)
	{
		bias := m.Param("bias")
		b := m.Vec()
		m.Load1(b, vm.Idx(bias, i, 4).Off(4*dr))
		for _, a := range g.acc[r] {
			m.VAdd(a, b)
		}
	}
	m.Bind(nobias)
	flags = m.Param("flags")
	noclamp := m.NewLabel("noclamp")
	m.BrBits(flags, CSRClamp, false, noclamp)
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
	for j, a := range g.acc[r] {
		if g.masked && j == g.u-1 {
			m.StoreVMask(vm.At(y, j*L*4), a, g.mask)
		} else {
			m.StoreV(vm.At(y, j*L*4), a)
		}
	}
}
