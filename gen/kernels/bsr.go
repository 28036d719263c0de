package kernels

import (
	"fmt"
	"strings"

	"github.com/sparsegen/sparsegen/gen/vm"
)

// BSR row-block kernel (channel-major SpMM) on the packed layout of asm/bsr.go (BSRLayout):
//
//	for each unit (a block row of urows ≤ H rows, H accumulators; the last one has lastRows):
//	    for each column tile of U vectors (then one of the ⌈left/L⌉ ≤ U vectors left, the last
//	    one masked):
//	        acc[0:H][tile] = 0
//	        for each full block: k0 = kidx[q]; for c < CW: w = val[0:H]; acc[r] += w[r]·X[k0+c, tile]
//	        for each tail step:  k  = kidx[q];             w = val[0:H]; acc[r] += w[r]·X[k, tile]
//	        for r < rows: v = acc[r] (+ bias[r] if EpiBias) (+ Y if EpiLoadY) (clamp); Y[r, tile] = v
//
// (ref.Epilogue.Apply's order: sum, bias, old Y, activation.)
//
// Per column, U loads of X feed H·U FMAs (each weight broadcast once, into one register):
// loads per FMA ≈ 1/H + 1/U. X is the caller's (K×n, stride ldx floats): the kernel scales
// the column index by ldx itself, so the packed indices do not depend on ldx, and the last
// vector of a row of X or Y is loaded and stored masked, so nothing past column n is touched.
// Each output lane is one FMA chain over the row's blocks in storage order, each block's
// columns left to right: the order of ref.BSR.

// BSRShape is one generated kernel: H accumulator rows, CW columns per full block, U
// vectors per column tile.
type BSRShape struct{ H, CW, U int }

// BSRShapes lists the kernels per ISA: R×1 for R = 1, 2, 4, 8 (column steps; also the
// generic path for any R ≤ 8 and any C), 4×4 and 1×4 blocks. Register budget H·U + U + 1
// accumulators, X vectors and one broadcast, plus a mask: ≤ 32 zmm, ≤ 16 ymm.
var BSRShapes = map[string][]BSRShape{
	"avx512": {{1, 1, 4}, {2, 1, 6}, {4, 1, 4}, {8, 1, 2}, {4, 4, 4}, {1, 4, 4}},
	"avx2":   {{1, 1, 4}, {2, 1, 4}, {4, 1, 2}, {8, 1, 1}, {4, 4, 2}, {1, 4, 4}},
	// NEON (gen/neon): 30 allocatable V registers (V30, V31 are the backend's scratch);
	// every shape keeps ≥ 8 accumulator chains, weights as FMLA-by-element lanes.
	"neon": {{1, 1, 8}, {2, 1, 6}, {4, 1, 4}, {8, 1, 2}, {4, 4, 4}, {1, 4, 8}},
}

// BSRFits reports whether a kernel of shape s fits the vector registers of isa, the budget
// BSRShapes are chosen in (asmgen -pkg checks users' shapes with it). The column loop holds
// H·U accumulators, U vectors of X and one broadcast weight: H·U + U + 1 ≤ 32 zmm or 16 ymm.
// On AVX2 the masked last tile (up to U vectors) also keeps its mask in a ymm:
// H·U + U + 2 ≤ 16 (AVX-512 masks are K registers, NEON's a GP). On NEON the weights are FMLA-by-element lanes,
// loaded up to four at a time ahead of use, and V30, V31 are the backend's scratch:
// H·U + U + 4 ≤ 30. The block width CW costs no register (its columns are unrolled).
func BSRFits(isa string, s BSRShape) bool { return bsrFits(isa, s, 0) }

// BSRLPFits is BSRFits for weights stored as e (bsrlp.go): bf16 and fp16 widen into the
// broadcast register itself (AVX2's broadcast goes through an xmm that dies as the
// broadcast is written, NEON's through R16), so they cost nothing more; int8 also holds the
// row's scale and the scaled weight, two more vector registers.
func BSRLPFits(isa string, s BSRShape, e vm.Elem) bool {
	extra := 0
	if e == vm.ElemI8 {
		extra = 2
	}
	return bsrFits(isa, s, extra)
}

func bsrFits(isa string, s BSRShape, extra int) bool {
	if s.H < 1 || s.U < 1 || s.CW < 1 {
		return false
	}
	switch isa {
	case "avx512":
		return s.H*s.U+s.U+1+extra <= 32
	case "avx2":
		return s.H*s.U+s.U+2+extra <= 16
	case "neon":
		return s.H*s.U+s.U+4+extra <= 30
	}
	return false
}

// BSRFuncName names the kernel of shape s on isa.
func BSRFuncName(isa string, s BSRShape) string {
	return fmt.Sprintf("bsr%sH%dC%d", ident(isa), s.H, s.CW)
}

// BSRParams is the signature of every BSR kernel.
var BSRParams = []vm.Param{
	{Name: "hdr", Kind: vm.PtrI32}, {Name: "kidx", Kind: vm.PtrI32}, {Name: "val", Kind: vm.PtrF32},
	{Name: "units", Kind: vm.Int}, {Name: "urows", Kind: vm.Int}, {Name: "lastRows", Kind: vm.Int},
	{Name: "x", Kind: vm.PtrF32}, {Name: "ldx", Kind: vm.Int},
	{Name: "y", Kind: vm.PtrF32}, {Name: "ldy", Kind: vm.Int}, {Name: "n", Kind: vm.Int},
	{Name: "flags", Kind: vm.Int}, {Name: "bias", Kind: vm.PtrF32}, {Name: "lo", Kind: vm.F32}, {Name: "hi", Kind: vm.F32},
}

// BSR is the family.
var BSR = Family{
	File: "bsr",
	Gen: func(m vm.Machine) {
		nm := m.(vm.NMMachine)
		for _, s := range BSRShapes[m.ISA()] {
			genBSR(nm, s)
		}
	},
	Table: func(isa, features string) string {
		id := ident(isa)
		var b strings.Builder
		fmt.Fprintf(&b, "// bsr%sFeatures are the CPU features the bsr%[1]s kernels use.\nconst bsr%[1]sFeatures = %[2]s\n\n", id, features)
		fmt.Fprintf(&b, "// bsr%sKernels lists the generated BSR kernels: height, block width, tile vectors.\nvar bsr%[1]sKernels = []bsrGenKernel{\n", id)
		for _, s := range BSRShapes[isa] {
			fmt.Fprintf(&b, "\t{h: %d, cw: %d, tile: %d, fn: %s},\n", s.H, s.CW, s.U*lanesOf(isa), BSRFuncName(isa, s))
		}
		b.WriteString("}\n")
		return b.String()
	},
	// One kernel per generated shape but 1×1 (it serves only bsr_any), and bsr_any: any
	// R ≤ 8 × any C by column steps on the smallest generated height ≥ R.
	Kernels: func(isa string) []Kernel {
		return bsrKernelsOf(isa, "genBSR", "bsr", "", BSRShapes[isa], func(s BSRShape) string { return BSRFuncName(isa, s) })
	},
	Driver:    "asm/bsr.go, asm/bsr_simd.go (bsr_amd64.go, bsr_arm64.go register)",
	Reference: "ref.BSR (ref/ref.go)",
	Test:      "asm/bsr_test.go, asm/bsr_helpers_test.go",
}

// bsrKernelsOf lists the kernels of the BSR shapes on isa, generated by fn, for packing
// format and dtype ("" for float32), whose functions name gives (the BSR and BSRLP
// families).
func bsrKernelsOf(isa, fn, format, dtype string, shapes []BSRShape, name func(BSRShape) string) []Kernel {
	var ks []Kernel
	var steps []string
	for _, s := range shapes {
		if s.CW == 1 {
			steps = append(steps, name(s))
		}
		if s.H == 1 && s.CW == 1 {
			continue
		}
		ks = append(ks, Kernel{Kind: KindBSR, Func: fn, Symbols: []string{name(s)}, Format: format, DType: dtype,
			Lanes: lanesOf(isa), Tile: s.U * lanesOf(isa), Rows: s.H, BlockR: s.H, BlockC: s.CW})
	}
	return append(ks, Kernel{Kind: KindBSR, Func: fn, Symbols: steps, Format: format, DType: dtype, Lanes: lanesOf(isa)})
}

type bsrGen struct {
	m vm.NMMachine
	s BSRShape
	e vm.Elem // how the weights are stored (vm.ElemF32; else bsrlp.go's families)
}

func log2(v int) int {
	n := 0
	for 1<<n < v {
		n++
	}
	vm.Check(1<<n == v, "%d is not a power of two", v)
	return n
}

// mulConst multiplies r by the constant c ≥ 1: a shift when c is a power of two (every
// shape sparsegen ships), else a multiply (user shapes such as 3×4, asmgen -pkg).
func mulConst(m vm.NMMachine, r vm.Reg, c int) {
	switch {
	case c == 1:
	case c&(c-1) == 0:
		m.Shl(r, log2(c))
	default:
		t := m.GP()
		m.MovImm(t, int64(c))
		m.Mul(r, t)
	}
}

func genBSR(m vm.NMMachine, s BSRShape) {
	name := BSRFuncName(m.ISA(), s)
	m.Func(name, fmt.Sprintf("%s runs the BSR kernel with %d accumulator rows, %d columns per block, tiles of %d columns.", name, s.H, s.CW, s.U*m.Lanes()), BSRParams)
	genBSRBody(m, s, vm.ElemF32)
}

// genBSRBody emits the body of a BSR kernel of shape s whose weights are stored as e into
// the function just begun: vm.ElemF32 (the float32 kernels), or bf16, fp16, int8
// (bsrlp.go), where each weight is a widening broadcast (vm.WidenMachine.Load1Widen) and
// an int8 weight is multiplied by its row's scale before its FMAs; an int8 unit's value
// stream starts with its H row scales (float32), then its weights.
func genBSRBody(m vm.NMMachine, s BSRShape, e vm.Elem) {
	L := m.Lanes()
	eb := int64(e.Bytes())
	g := &bsrGen{m: m, s: s, e: e}
	hdr, kidx, val := m.Param("hdr"), m.Param("kidx"), m.Param("val")
	y, bp := m.Param("y"), m.Param("bias")
	u := m.Param("units") // units left
	exit := m.NewLabel("exit")
	top := m.NewLabel("unit")
	m.Bind(top)
	m.BrImm(u, vm.LE, 0, exit)
	{
		// Column loop: j is the first column of the tile.
		j := m.GP()
		m.MovImm(j, 0)
		tiles, singles, done := m.NewLabel("tiles"), m.NewLabel("singles"), m.NewLabel("cols")
		m.Bind(tiles)
		left := g.colsLeft(j)
		m.BrImm(left, vm.LT, int64(s.U*L), singles)
		g.tile(hdr, kidx, val, y, bp, u, j, s.U, nil)
		m.AddImm(j, int64(s.U*L))
		m.Jmp(tiles)
		// The 0 < left < U·L columns left: one tile of v = ⌈left/L⌉ vectors, the last one
		// masked, so W is read once for them (one single-vector tile each read it up to U
		// times: 2048×512×49 ran 1.8× slower than N = 64 on AVX-512 bsr4x1_t64).
		m.Bind(singles)
		left = g.colsLeft(j)
		m.BrImm(left, vm.LE, 0, done)
		for v := 1; v <= s.U; v++ {
			next := m.NewLabel("rest")
			if v < s.U {
				m.BrImm(left, vm.GT, int64(v*L), next)
			}
			lanes := m.GP() // left − (v−1)·L lanes in the masked last vector
			m.Mov(lanes, left)
			if v > 1 {
				m.AddImm(lanes, -int64((v-1)*L))
			}
			mask := m.TailMask(lanes)
			g.tile(hdr, kidx, val, y, bp, u, j, v, &mask)
			m.Jmp(done)
			m.Bind(next)
		}
		m.Bind(done)

		// Next unit: kidx += nFull+nTail, val += (nFull·CW + nTail)·H weights (and the H
		// scales of int8), y += H rows.
		nf, nt := m.GP(), m.GP()
		m.Load(nf, vm.At(hdr, 0), 4)
		m.Load(nt, vm.At(hdr, 4), 4)
		q := m.GP()
		m.Mov(q, nf)
		m.Add(q, nt)
		m.Lea(kidx, vm.Idx(kidx, q, 4))
		mulConst(m, nf, s.CW)
		m.Add(nf, nt)
		mulConst(m, nf, s.H*int(eb))
		m.Add(val, nf)
		if e == vm.ElemI8 {
			m.AddImm(val, int64(4*s.H))
		}
		ly := m.Param("ldy")
		m.Mul(ly, m.Param("urows"))
		m.Shl(ly, 2)
		m.Add(y, ly)
		ur := m.Param("urows")
		m.Shl(ur, 2)
		m.Add(bp, ur)
		m.AddImm(hdr, 8)
		m.AddImm(u, -1)
		m.Jmp(top)
	}
	m.Bind(exit)
	m.Ret()
}

// colsLeft returns a fresh register with n − j, the columns left from column j.
func (g *bsrGen) colsLeft(j vm.Reg) vm.Reg {
	left := g.m.Param("n")
	g.m.Sub(left, j)
	return left
}

// tile computes and stores one column tile of u vectors (the last one masked when mask is
// set) for the H rows of the current unit; j is the tile's first column.
func (g *bsrGen) tile(hdr, kidx, val, y, bp, units, j vm.Reg, u int, mask *vm.Mask) {
	m, s := g.m, g.s
	L := m.Lanes()
	acc := make([][]vm.Vec, s.H)
	for r := range acc {
		for range u {
			a := m.Vec()
			m.Zero(a)
			acc[r] = append(acc[r], a)
		}
	}
	xs := make([]vm.Vec, u)
	for i := range xs {
		xs[i] = m.Vec()
	}
	w := m.Vec() // one broadcast register, reused (Avo's greedy allocator likes few virtuals)
	var sc, ws vm.Vec
	if g.e == vm.ElemI8 {
		sc, ws = m.Vec(), m.Vec() // a row's scale, the scaled weight
	}
	eb := int64(g.e.Bytes())
	ldxB := m.Param("ldx")
	m.Shl(ldxB, 2)
	kp, vp, cnt := m.GP(), m.GP(), m.GP()
	m.Mov(kp, kidx)
	m.Mov(vp, val)
	if g.e == vm.ElemI8 {
		m.AddImm(vp, int64(4*s.H)) // past the unit's scales
	}
	for part, cw := range []int{s.CW, 1} {
		if part == 1 && s.CW == 1 {
			// Step mode has no full blocks: hdr[0] counts steps, hdr[1] is zero.
			break
		}
		m.Load(cnt, vm.At(hdr, 4*part), 4)
		if part == 0 && s.CW == 1 {
			t := m.GP()
			m.Load(t, vm.At(hdr, 4), 4)
			m.Add(cnt, t)
		}
		skip, loop := m.NewLabel("noblk"), m.NewLabel("blk")
		m.BrImm(cnt, vm.LE, 0, skip)
		m.Bind(loop)
		xb := m.GP()
		m.Load(xb, vm.At(kp, 0), 4)
		m.Mul(xb, ldxB)
		m.Add(xb, m.Param("x"))
		for c := 0; c < cw; c++ {
			for i, xv := range xs {
				at := vm.Idx(xb, j, 4).Off(i * L * 4)
				if mask != nil && i == u-1 {
					m.LoadVMask(xv, at, *mask)
				} else {
					m.LoadV(xv, at)
				}
			}
			for r := 0; r < s.H; r++ {
				wr := g.weight(w, sc, ws, vp, val, c*s.H+r, r)
				for i, xv := range xs {
					m.FMA(acc[r][i], wr, xv)
				}
			}
			if c < cw-1 {
				m.Add(xb, ldxB)
			}
		}
		m.AddImm(kp, 4)
		m.AddImm(vp, int64(cw*s.H)*eb)
		m.AddImm(cnt, -1)
		m.BrImm(cnt, vm.GT, 0, loop)
		m.Bind(skip)
	}

	// Store rows r < rows: urows (≤ H), or lastRows in the last unit.
	rows := m.Param("urows")
	full := m.NewLabel("allrows")
	m.BrImm(units, vm.GT, 1, full)
	m.Mov(rows, m.Param("lastRows"))
	m.Bind(full)
	yr := m.GP()
	m.Mov(yr, y)
	end := m.NewLabel("stored")
	tmp := [3]vm.Vec{w, xs[0], m.Vec()} // bias, lo, hi: the loop's registers are free now
	for r := 0; r < s.H; r++ {
		if r > 0 {
			m.BrImm(rows, vm.LE, int64(r), end)
			ly := m.Param("ldy")
			m.Shl(ly, 2)
			m.Add(yr, ly)
		}
		g.store(acc[r], yr, bp, j, r, mask, tmp)
	}
	m.Bind(end)
}

// weight broadcasts the weight of row r at index i of the value stream vp into w and
// returns the register holding it as float32 (broadcastWeight: for int8 ws = w·scale, the
// scale of row r at unit + 4r, in the preallocated sc and ws).
func (g *bsrGen) weight(w, sc, ws vm.Vec, vp, unit vm.Reg, i, r int) vm.Vec {
	return broadcastWeight(g.m, g.e, w, vm.At(vp, i*g.e.Bytes()), vm.At(unit, 4*r), func() (vm.Vec, vm.Vec) { return sc, ws })
}

// store applies the epilogue to one row's accumulators and writes them at yr + j.
func (g *bsrGen) store(acc []vm.Vec, yr, bp, j vm.Reg, r int, mask *vm.Mask, tmp [3]vm.Vec) {
	m := g.m
	L := m.Lanes()
	u := len(acc)
	at := func(i int) vm.Mem { return vm.Idx(yr, j, 4).Off(i * L * 4) }
	flags := m.Param("flags")
	nobias := m.NewLabel("nobias")
	m.BrBits(flags, EpiBias, false, nobias)
	b := tmp[0]
	m.Load1(b, vm.At(bp, r*4))
	for _, a := range acc {
		m.VAdd(a, b)
	}
	m.Bind(nobias)
	noload := m.NewLabel("noload")
	m.BrBits(flags, EpiLoadY, false, noload)
	for i, a := range acc {
		if mask != nil && i == u-1 {
			t := tmp[0]
			m.LoadVMask(t, at(i), *mask)
			m.VAdd(a, t)
		} else {
			m.VAddMem(a, at(i))
		}
	}
	m.Bind(noload)
	noclamp := m.NewLabel("noclamp")
	m.BrBits(flags, EpiClamp, false, noclamp)
	lo, hi := tmp[1], tmp[2]
	m.ParamF32(lo, "lo")
	m.ParamF32(hi, "hi")
	for _, a := range acc {
		m.VMax(a, lo)
		m.VMin(a, hi)
	}
	m.Bind(noclamp)
	for i, a := range acc {
		if mask != nil && i == u-1 {
			m.StoreVMask(at(i), a, *mask)
		} else {
			m.StoreV(at(i), a)
		}
	}
}

func init() { Register(BSR) }
