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
// nvec vector registers: enough rows for ~8 independent accumulator chains (4 rows when
// u ≤ 2, 2 when the 2·u accumulators, broadcasts and a mask fit, else 1).
func CSRRows(u, nvec int) int {
	switch {
	case u <= 2 && 4*u+5 <= nvec:
		return 4
	case 2*u+3 <= nvec:
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
	acc    [][]vm.Vec // [row][vector]
}

func genCSRTile(m vm.Machine, u int, masked bool) {
	rows := CSRRows(u, m.VecRegs())
	name := CSRFuncName(m.ISA(), u, masked)
	doc := fmt.Sprintf("%s runs the CSR tile kernel on %d columns (%d vectors), %d rows interleaved", name, u*m.Lanes(), u, rows)
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
	g.acc = make([][]vm.Vec, rows)
	for r := range g.acc {
		for j := 0; j < u; j++ {
			g.acc[r] = append(g.acc[r], m.Vec())
		}
	}
	i := m.GP()
	m.MovImm(i, 0)
	exit := m.NewLabel("exit")
	// Groups of R rows while at least R remain, then R/2, …, 1.
	for r := rows; r >= 1; r /= 2 {
		g.group(r, vals, offs, cnt, x, y, i, exit)
	}
	m.Bind(exit)
	m.Ret()
}

// group emits the loop over groups of R rows: their common entries in lockstep (R·U
// chains), then each row's remainder alone, then the R stores.
func (g *csrGen) group(R int, vals, offs, cnt, x, y, i vm.Reg, exit vm.Label) {
	m := g.m
	L := m.Lanes()
	top, next := m.NewLabel("group"), m.NewLabel("fewer")
	m.Bind(top)
	left := m.Param("nrows")
	m.Sub(left, i)
	if R == 1 {
		m.BrImm(left, vm.LT, 1, exit)
	} else {
		m.BrImm(left, vm.LT, int64(R), next)
	}
	// q[r] = first entry of row r (relative to vals/offs); common = min counts.
	q := make([]vm.Reg, R)
	common := m.GP()
	for r := 0; r < R; r++ {
		q[r] = m.GP()
		if r == 0 {
			m.MovImm(q[0], 0)
			m.Load(common, vm.Idx(cnt, i, 4), 4)
			continue
		}
		c := m.GP()
		m.Load(c, vm.Idx(cnt, i, 4).Off(4*(r-1)), 4)
		m.Mov(q[r], q[r-1])
		m.Add(q[r], c)
		c2 := m.GP()
		m.Load(c2, vm.Idx(cnt, i, 4).Off(4*r), 4)
		m.Min(common, c2)
	}
	yr := y
	for r := 0; r < R; r++ {
		if r > 0 {
			yr = g.nextRow(yr)
		}
		g.init(r, yr)
	}
	rem := m.NewLabel("rem")
	loop := m.NewLabel("lock")
	m.BrImm(common, vm.LE, 0, rem)
	m.Bind(loop)
	{
		ts := make([]vm.Reg, R)
		bs := make([]vm.Vec, R)
		for r := 0; r < R; r++ {
			ts[r] = m.GP()
			m.Load(ts[r], vm.Idx(offs, q[r], 2), 2)
			bs[r] = m.Vec()
			m.Load1(bs[r], vm.Idx(vals, q[r], 4))
		}
		for j := 0; j < g.u; j++ {
			for r := 0; r < R; r++ {
				m.FMAMem(g.acc[r][j], bs[r], vm.Idx(x, ts[r], 1).Off(j*L*4))
			}
		}
		for r := 0; r < R; r++ {
			m.AddImm(q[r], 1)
		}
		m.Br(q[0], vm.LT, common, loop)
	}
	m.Bind(rem)
	// Row r ends where row r+1 starts: q[r+1] − common; the last row ends at
	// q[R−1] − common + cnt[i+R−1].
	for r := 0; r < R; r++ {
		end := m.GP()
		if r < R-1 {
			m.Mov(end, q[r+1])
			m.Sub(end, common)
		} else {
			m.Load(end, vm.Idx(cnt, i, 4).Off(4*r), 4)
			m.Add(end, q[r])
			m.Sub(end, common)
		}
		g.rowLoop(r, vals, offs, x, q[r], end)
		if r == R-1 {
			yr := y
			for rr := 0; rr < R; rr++ {
				if rr > 0 {
					yr = g.nextRow(yr)
				}
				g.store(rr, yr, i, rr)
			}
			m.Lea(vals, vm.Idx(vals, end, 4))
			m.Lea(offs, vm.Idx(offs, end, 2))
		}
	}
	for r := 0; r < R; r++ {
		g.advance(y)
	}
	m.AddImm(i, int64(R))
	m.Jmp(top)
	m.Bind(next)
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
func (g *csrGen) store(r int, y, i vm.Reg, dr int) {
	m := g.m
	L := m.Lanes()
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
