package kernels

import (
	"fmt"
	"strings"

	"github.com/sparsegen/sparsegen/gen/vm"
)

// Dense GEMM micro-kernels (DESIGN §5.2): one MR×NR tile of Y = W·X over one K block, with the
// epilogue fused into the store. The driver (asm/gemm.go) packs W into MR-row panels stored
// k-major ([k][MR]) and X into NR-column panels ([k][NR]); per k the kernel loads NR/Lanes
// vectors of X, broadcasts MR weights and does MR·NR/Lanes independent FMAs into register
// accumulators (≥ 8 chains for every tile below).
//
// The store, per row i < rows and column j < cols (the rest of the tile is never touched):
//
//	v = acc[i][j]; if flags&1: v += bias[i] … see gemmFlag*; Y[i·ldy + j] = v
//
// Full tiles (cols = NR) store whole vectors; edge tiles use tail masks (opmask on AVX-512,
// VMASKMOVPS on AVX2) and skip vectors past cols; rows past `rows` are skipped, and bias[i]
// is read only for i < rows.

// Flags: the epilogue vocabulary of gen/kernels/contract.go (EpiLoadY, EpiBias, EpiReLU, EpiClamp).

// GemmTile is one register tile: MR rows × V vectors of Lanes columns, and the K unroll.
// Bcast uses the machine's broadcast-operand FMA (BcastFMA) where it has one: MR·V FMAs
// with a memory operand per k instead of MR broadcasts and MR·V register FMAs.
type GemmTile struct {
	MR, V, Unroll int
	Bcast         bool
	// PrefetchW > 0 prefetches the W panel this many bytes ahead, once per unrolled
	// iteration (Prefetcher machines): W streams from memory when N is small and M·K large
	// (11008×4096×16: 34% faster measured with 1024 bytes; neutral at N = 128).
	PrefetchW int
}

// Prefetcher is an optional vm.Machine capability: a cache prefetch hint that never faults.
// gen/x86 implements it (PREFETCHT0).
type Prefetcher interface {
	Prefetch(m vm.Mem)
}

// PrefetcherNTA is an optional vm.Machine capability: a non-temporal prefetch hint (the line
// streams through with the least cache pollution) that never faults. gen/x86 implements it
// (PREFETCHNTA).
type PrefetcherNTA interface {
	PrefetchNTA(m vm.Mem)
}

// BcastFMA is an optional vm.Machine capability: acc += a·broadcast(float32 at m) in one
// instruction (AVX-512's embedded broadcast). gen/x86 implements it.
type BcastFMA interface {
	FMABcast(acc, a vm.Vec, m vm.Mem)
}

// GemmTiles lists the tiles generated per ISA (chosen by measurement; see asm/gemm_amd64.go and
// asm/gemm_arm64.go).
var GemmTiles = map[string][]GemmTile{
	"avx512": {{MR: 6, V: 2, Unroll: 4, Bcast: true, PrefetchW: 1024}, {MR: 12, V: 2, Unroll: 2, Bcast: true, PrefetchW: 1024}, {MR: 6, V: 4, Unroll: 2, Bcast: true, PrefetchW: 1024}, {MR: 14, V: 1, Unroll: 4, Bcast: true, PrefetchW: 1024}},
	"avx2":   {{MR: 6, V: 2, Unroll: 4, PrefetchW: 1024}, {MR: 12, V: 1, Unroll: 4, PrefetchW: 1024}},
	"neon":   {{MR: 8, V: 3, Unroll: 2}},
}

func init() { Register(Gemm) }

func gemmFuncName(isa string, t GemmTile) string {
	return fmt.Sprintf("gemm%dx%d%s", t.MR, t.V*lanesOf(isa), ident(isa))
}

var gemmParams = []vm.Param{
	{Name: "k", Kind: vm.Int}, {Name: "w", Kind: vm.PtrF32}, {Name: "x", Kind: vm.PtrF32},
	{Name: "y", Kind: vm.PtrF32}, {Name: "ldy", Kind: vm.Int}, {Name: "bias", Kind: vm.PtrF32},
	{Name: "flags", Kind: vm.Int}, {Name: "lo", Kind: vm.F32}, {Name: "hi", Kind: vm.F32},
	{Name: "cols", Kind: vm.Int}, {Name: "rows", Kind: vm.Int},
}

// Gemm is the dense GEMM family.
var Gemm = Family{
	File: "gemm",
	Gen: func(m vm.Machine) {
		for _, t := range GemmTiles[m.ISA()] {
			genGemmTile(m, t)
		}
	},
	Table: func(isa, features string) string {
		var b strings.Builder
		id := ident(isa)
		fmt.Fprintf(&b, "// gemm%[1]sFeatures are the CPU features the gemm*%[1]s kernels use.\nconst gemm%[1]sFeatures = %[2]s\n\n", id, features)
		fmt.Fprintf(&b, "// gemm%sTiles are the generated dense GEMM micro-kernels.\nvar gemm%sTiles = []gemmTile{\n", id, id)
		for _, t := range GemmTiles[isa] {
			fmt.Fprintf(&b, "\t{mr: %d, nr: %d, micro: %s},\n", t.MR, t.V*lanesOf(isa), gemmFuncName(isa, t))
		}
		b.WriteString("}\n")
		return b.String()
	},
	// One kernel per tile. Dispatch hint: a tile NR wide wastes lanes when N < NR/2.
	Kernels: func(isa string) []Kernel {
		var ks []Kernel
		for _, t := range GemmTiles[isa] {
			nr := t.V * lanesOf(isa)
			minN := nr / 2
			if nr <= 16 {
				minN = 1
			}
			ks = append(ks, Kernel{Kind: KindGEMM, Func: "genGemmTile", Symbols: []string{gemmFuncName(isa, t)},
				Format: "dense", Lanes: lanesOf(isa), Tile: nr, Rows: t.MR, MinN: minN})
		}
		return ks
	},
	Driver:    "asm/gemm.go (gemm_amd64.go, gemm_arm64.go register)",
	Reference: "ref.Dense (ref/ref.go)",
	Test:      "asm/gemm_test.go, asm/gemm_guard_test.go",
}

func genGemmTile(m vm.Machine, t GemmTile) {
	L := m.Lanes()
	nr := t.V * L
	vm.Check(t.MR*t.V+t.V+2 <= m.VecRegs(), "gemm %dx%d: %d accumulators do not fit %d registers", t.MR, nr, t.MR*t.V, m.VecRegs())
	vm.Check(t.MR*t.V+1+t.V <= m.VecRegs(), "gemm %dx%d: no room for the epilogue's registers", t.MR, nr)
	name := gemmFuncName(m.ISA(), t)
	m.Func(name, fmt.Sprintf("%s computes a %d×%d tile of Y over k steps of packed W and X panels, epilogue fused (see gen/kernels/gemm.go).", name, t.MR, nr), gemmParams)

	k := m.Param("k")
	w := m.Param("w")
	x := m.Param("x")
	acc := make([][]vm.Vec, t.MR)
	for i := range acc {
		acc[i] = make([]vm.Vec, t.V)
		for j := range acc[i] {
			acc[i][j] = m.Vec()
			m.Zero(acc[i][j])
		}
	}
	xv := make([]vm.Vec, t.V)
	for j := range xv {
		xv[j] = m.Vec()
	}
	bc := []vm.Vec{m.Vec(), m.Vec()}
	bm, bcast := m.(BcastFMA)
	bcast = bcast && t.Bcast
	step := func(u int) {
		for j := range xv {
			m.LoadV(xv[j], vm.At(x, (u*nr+j*L)*4))
		}
		for i := 0; i < t.MR; i++ {
			if bcast {
				for j := range xv {
					bm.FMABcast(acc[i][j], xv[j], vm.At(w, (u*t.MR+i)*4))
				}
				continue
			}
			b := bc[i%2]
			m.Load1(b, vm.At(w, (u*t.MR+i)*4))
			for j := range xv {
				m.FMA(acc[i][j], xv[j], b)
			}
		}
	}
	store := m.NewLabel("store")
	if t.Unroll > 1 {
		tail := m.NewLabel("tail")
		loop := m.NewLabel("loopu")
		m.BrImm(k, vm.LT, int64(t.Unroll), tail)
		m.Bind(loop)
		if pf, ok := m.(Prefetcher); ok && t.PrefetchW > 0 {
			for off := 0; off < t.Unroll*t.MR*4; off += 64 {
				pf.Prefetch(vm.At(w, t.PrefetchW+off))
			}
		}
		for u := 0; u < t.Unroll; u++ {
			step(u)
		}
		m.AddImm(w, int64(t.Unroll*t.MR*4))
		m.AddImm(x, int64(t.Unroll*nr*4))
		m.AddImm(k, -int64(t.Unroll))
		m.BrImm(k, vm.GE, int64(t.Unroll), loop)
		m.Bind(tail)
		m.BrImm(k, vm.LE, 0, store)
	}
	loop1 := m.NewLabel("loop")
	m.Bind(loop1)
	step(0)
	m.AddImm(w, int64(t.MR*4))
	m.AddImm(x, int64(nr*4))
	m.AddImm(k, -1)
	m.BrImm(k, vm.GT, 0, loop1)

	m.Bind(store)
	y := m.Param("y")
	ldy := m.Param("ldy")
	m.Shl(ldy, 2)
	bias := m.Param("bias")
	flags := m.Param("flags")
	rows := m.Param("rows")
	cols := m.Param("cols")
	ep := gemmEpiRegs{tmp: m.Vec()}
	done := m.NewLabel("done")
	masked := m.NewLabel("masked")
	m.BrImm(cols, vm.LT, int64(nr), masked)
	// Full-width tile.
	gemmStoreRows(m, t, acc, y, ldy, bias, flags, rows, cols, nil, ep, done)
	m.Jmp(done)
	// Edge tile: mask j covers lanes [0, min(cols − jL, L)); vectors with cols ≤ jL are
	// skipped (their mask is never used, so it is built from a count clamped to 1).
	m.Bind(masked)
	masks := make([]vm.Mask, t.V)
	for j := range masks {
		n := m.GP()
		m.Mov(n, cols)
		if j > 0 {
			m.AddImm(n, -int64(j*L))
			ok := m.NewLabel("cnt")
			m.BrImm(n, vm.GE, 1, ok)
			m.MovImm(n, 1)
			m.Bind(ok)
		}
		lim := m.GP()
		m.MovImm(lim, int64(L))
		m.Min(n, lim)
		masks[j] = m.TailMask(n)
	}
	gemmStoreRows(m, t, acc, y, ldy, bias, flags, rows, cols, masks, ep, done)
	m.Bind(done)
	m.Ret()
}

// gemmStoreRows emits the epilogue and store of every row; with masks (an edge tile) vector
// j of a row is loaded and stored under masks[j] and skipped when cols ≤ j·Lanes.
func gemmStoreRows(m vm.Machine, t GemmTile, acc [][]vm.Vec, y, ldy, bias, flags, rows, cols vm.Reg, masks []vm.Mask, ep gemmEpiRegs, done vm.Label) {
	L := m.Lanes()
	for i := 0; i < t.MR; i++ {
		if i > 0 {
			m.BrImm(rows, vm.LE, int64(i), done)
			m.Add(y, ldy)
		}
		row := acc[i]
		nb := m.NewLabel("nobias")
		m.BrBits(flags, EpiBias, false, nb)
		m.Load1(ep.tmp, vm.At(bias, i*4))
		for _, a := range row {
			m.VAdd(a, ep.tmp)
		}
		m.Bind(nb)
		nl := m.NewLabel("noload")
		m.BrBits(flags, EpiLoadY, false, nl)
		for j, a := range row {
			if masks != nil {
				if j > 0 {
					m.BrImm(cols, vm.LE, int64(j*L), nl)
				}
				m.LoadVMask(ep.tmp, vm.At(y, j*L*4), masks[j])
				m.VAdd(a, ep.tmp)
			} else {
				m.VAddMem(a, vm.At(y, j*L*4))
			}
		}
		m.Bind(nl)
		nr := m.NewLabel("norelu")
		m.BrBits(flags, EpiReLU, false, nr)
		m.Zero(ep.tmp)
		for _, a := range row {
			m.VMax(a, ep.tmp)
		}
		m.Bind(nr)
		nc := m.NewLabel("noclamp")
		m.BrBits(flags, EpiClamp, false, nc)
		m.ParamF32(ep.tmp, "lo")
		for _, a := range row {
			m.VMax(a, ep.tmp)
		}
		m.ParamF32(ep.tmp, "hi")
		for _, a := range row {
			m.VMin(a, ep.tmp)
		}
		m.Bind(nc)
		end := m.NewLabel("rowend")
		for j, a := range row {
			if masks != nil {
				if j > 0 {
					m.BrImm(cols, vm.LE, int64(j*L), end)
				}
				m.StoreVMask(vm.At(y, j*L*4), a, masks[j])
			} else {
				m.StoreV(vm.At(y, j*L*4), a)
			}
		}
		m.Bind(end)
	}
}

// gemmEpiRegs are the vectors the epilogue uses besides the accumulators (and the tail
// masks, which are vectors on AVX2): one scratch, so that 12 accumulators and 2 masks fit
// AVX2's 16 registers.
type gemmEpiRegs struct{ tmp vm.Vec }
