package kernels

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/sparsegen/sparsegen/gen/vm"
)

// Baked CSR kernel (asmgen -pkg … -bake FILE[:TENSOR], DESIGN §5.12): the CSR tile kernel
// (genCSRTile) unrolled over one weight matrix's pattern, with every column offset an
// immediate. Per row group it runs exactly its rows' entries: no index loads, no step
// counts, no padding steps. The values are not baked: asm packs them from W at Compile, in
// the order the code reads them, so one kernel serves every W of the same pattern (same
// shape and stored columns, checked by formats.PatternHash at Compile).
//
// The rows are cut into chunks (the work units; one generated function each). A chunk's
// rows are grouped R at a time from its first row (the last group may be shorter); its
// values are stored group by group, step-major inside a group (step s: the s-th entry of
// each row of the group that has one) — BakedLayout. For a chunk of rows [r0, r1):
//
//	acc[r][0:T] = flags&EpiLoadY ? Y[r, 0:T] : 0
//	per entry (r, c) in that order: acc[r] += vals[next] · X[c, 0:T]
//	if flags&EpiBias:  acc[r] += bias[r - r0]
//	if flags&EpiClamp: acc[r] = min(max(acc[r], lo), hi)
//	Y[r, 0:T] = acc[r]
//
// X is a plan-owned panel of K rows of stride T (zero past N), y the chunk's first row of
// Y (stride ldy) and bias its first row's bias. Of each row's U vectors only the first nvec
// are loaded (EpiLoadY) and stored, the last of them masked to tail lanes (1 ≤ nvec ≤ U,
// 1 ≤ tail ≤ Lanes): a tile narrower than T costs one compare per vector and row, not a
// second copy of the code. Each output is the FMA chain of its row's entries in column
// order, as in the runtime CSR kernels.

// BakedLayout is the version of the value order and panel above, in the contract: a user
// package baked against another layout is refused at registration.
const BakedLayout = 1

// BakedParams is the signature of every baked chunk function.
var BakedParams = []vm.Param{
	{Name: "vals", Kind: vm.PtrF32}, {Name: "x", Kind: vm.PtrF32}, {Name: "y", Kind: vm.PtrF32},
	{Name: "ldy", Kind: vm.Int}, {Name: "flags", Kind: vm.Int}, {Name: "bias", Kind: vm.PtrF32},
	{Name: "lo", Kind: vm.F32}, {Name: "hi", Kind: vm.F32},
	{Name: "nvec", Kind: vm.Int}, {Name: "tail", Kind: vm.Int},
}

// BakedChunkEntries bounds the entries of one chunk function: the unit of work (~20 µs at
// N = 64) and what one function asks of the register allocators.
const BakedChunkEntries = 2048

// BakeSpec is one matrix pattern to bake.
type BakeSpec struct {
	Stem    string // the kernel's name part: csr_baked_<Stem>_t<T>_<isa>
	Source  string // where the pattern came from (the -bake argument), for comments
	M, K    int
	RowPtr  []int64 // CSR row pointers (len M+1) and columns (sorted in each row, < K)
	ColIdx  []int32
	Tiles   []int  // one kernel per tile width T (columns per tile): whole vectors on every ISA baked
	Pattern string // formats.PatternHash of the pattern
}

var bakeStemRE = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// Check validates a spec for the ISAs asked: the pattern, the stem, and T against each
// ISA's vectors and registers.
func (b *BakeSpec) Check(isas []string) error {
	if !bakeStemRE.MatchString(b.Stem) {
		return fmt.Errorf("-bake %s: name %q is not lower-case letters, digits and _ (from a letter)", b.Source, b.Stem)
	}
	if b.M < 1 || b.K < 1 || len(b.RowPtr) != b.M+1 || b.RowPtr[0] != 0 || b.RowPtr[b.M] != int64(len(b.ColIdx)) {
		return fmt.Errorf("-bake %s: a %d×%d pattern with %d row pointers and %d entries", b.Source, b.M, b.K, len(b.RowPtr), len(b.ColIdx))
	}
	if len(b.ColIdx) == 0 {
		return fmt.Errorf("-bake %s: the matrix stores no entries: nothing to bake", b.Source)
	}
	for i := 0; i < b.M; i++ {
		lo, hi := b.RowPtr[i], b.RowPtr[i+1]
		if hi < lo {
			return fmt.Errorf("-bake %s: row pointers decrease at row %d", b.Source, i)
		}
		for q := lo; q < hi; q++ {
			if c := b.ColIdx[q]; c < 0 || int(c) >= b.K || q > lo && c <= b.ColIdx[q-1] {
				return fmt.Errorf("-bake %s: row %d: column %d out of range or order", b.Source, i, c)
			}
		}
	}
	if len(b.Tiles) == 0 {
		return fmt.Errorf("-bake %s: no tile width", b.Source)
	}
	for _, t := range b.Tiles {
		if int64(b.K)*int64(t)*4 > 1<<30 {
			return fmt.Errorf("-bake %s: a panel of %d rows × %d floats exceeds the 1 GiB offset range", b.Source, b.K, t)
		}
	}
	for _, isa := range isas {
		if len(b.TilesFor(isa)) == 0 {
			_, err := bakedShape(isa, b.Tiles[0])
			return fmt.Errorf("-bake %s: no tile for %s: %w", b.Source, isa, err)
		}
	}
	return nil
}

// TilesFor lists the tiles of b that isa takes (whole vectors that fit its registers): a
// tile too wide for NEON's 4-float vectors, say, is baked for the other ISAs only.
func (b *BakeSpec) TilesFor(isa string) []int {
	var out []int
	for _, t := range b.Tiles {
		if _, err := bakedShape(isa, t); err == nil {
			out = append(out, t)
		}
	}
	return out
}

// bakedShape returns the row group R of tile width t on isa: the smallest power of two
// whose R·U chains cover the FMA latency (≥ 8) and fit the registers (R·U accumulators, R
// broadcasts and a spare), else the largest that fits.
func bakedShape(isa string, t int) (int, error) {
	L := lanesOf(isa)
	if t < L || t%L != 0 || t/L > CSRMaxU {
		return 0, fmt.Errorf("tile %d is not 1 to %d vectors of %d floats on %s", t, CSRMaxU, L, isa)
	}
	r := csrRowGroup([]int{1, 2, 4, 8}, t/L, isa)
	if r == 0 {
		return 0, fmt.Errorf("tile %d does not fit the %s registers", t, isa)
	}
	return r, nil
}

// chunks cuts the rows into chunk functions at group boundaries: [r0, r1) pairs of at
// most BakedChunkEntries entries, and about a sixteenth of the whole (at least 128 entries)
// so that threads have units to share out (a longer group takes a chunk of its own).
func (b *BakeSpec) chunks(R int) [][2]int {
	limit := int64(min(BakedChunkEntries, max(128, len(b.ColIdx)/16)))
	var out [][2]int
	r0 := 0
	for r0 < b.M {
		r1 := min(r0+R, b.M)
		for r1 < b.M {
			next := min(r1+R, b.M)
			if b.RowPtr[next]-b.RowPtr[r0] > limit {
				break
			}
			r1 = next
		}
		out = append(out, [2]int{r0, r1})
		r0 = r1
	}
	return out
}

// BakedFuncName names chunk c of the tile-t kernel of pattern stem on isa.
func BakedFuncName(isa, stem string, t, c int) string {
	return fmt.Sprintf("baked%s%sT%dC%d", ident(isa), strings.ReplaceAll(stem, "_", ""), t, c)
}

// bakedRange is the N range of a baked kernel of tile t on isa: that of sparsegen's CSR
// kernel of the same tile (the policy prices it from that kernel's entries), else N ≥ 2.
func bakedRange(isa string, t int) (lo, hi int) {
	for _, c := range CSRKernels[isa] {
		if c.T == t {
			return max(c.MinN, 2), c.MaxN
		}
	}
	return 2, 0
}

// BakedCodeBytes estimates the machine code of b's tile-t kernel on isa: a broadcast and
// U memory-operand FMAs per entry (x86: ~10 bytes each with a 32-bit displacement; NEON:
// ~16 with the address arithmetic) and each row's init and store (x86 ~80 + 30·U bytes,
// NEON ~120 + 60·U). Against go tool nm -size on the example's layers (256×64 … 2048×512
// at 90%, every tile): within 10%.
func BakedCodeBytes(isa string, b *BakeSpec, t int) (int64, error) {
	if _, err := bakedShape(isa, t); err != nil {
		return 0, err
	}
	u := int64(t / lanesOf(isa))
	per, row, rowU := int64(10), int64(80), int64(30)
	if isa == "neon" {
		per, row, rowU = 16, 120, 60
	}
	return int64(len(b.ColIdx))*per*(1+u) + int64(b.M)*(row+rowU*u), nil
}

// Baked is the family of one baked pattern in a user package (prefix: the namespace): a
// kernel per tile width.
func Baked(b *BakeSpec, prefix string) Family {
	return Family{
		File: "baked_" + b.Stem,
		Desc: "bake",
		Gen: func(m vm.Machine) {
			for _, t := range b.TilesFor(m.ISA()) {
				R, err := bakedShape(m.ISA(), t)
				vm.Check(err == nil, "%v", err)
				for c, ch := range b.chunks(R) {
					genCSRBaked(m, b, t, BakedFuncName(m.ISA(), b.Stem, t, c), ch[0], ch[1], R)
				}
			}
		},
		Table: func(isa, features string) string {
			v := "baked_" + b.Stem + ident(isa)
			var sb strings.Builder
			fmt.Fprintf(&sb, "// %sFuncs holds the chunk functions of %[1]sManifest, entry by entry: rows per chunk and code.\nvar %[1]sFuncs = []asm.GeneratedFuncs{\n", v)
			for _, t := range b.TilesFor(isa) {
				R, _ := bakedShape(isa, t)
				fmt.Fprintf(&sb, "\t{Baked: &asm.BakedCSR{M: %d, K: %d, Chunks: []asm.BakedChunk{\n", b.M, b.K)
				for c, ch := range b.chunks(R) {
					fmt.Fprintf(&sb, "\t\t{Rows: %d, Fn: %s},\n", ch[1]-ch[0], BakedFuncName(isa, b.Stem, t, c))
				}
				sb.WriteString("\t}}},\n")
			}
			sb.WriteString("}\n")
			return sb.String()
		},
		Kernels: func(isa string) []Kernel {
			var ks []Kernel
			for _, t := range b.TilesFor(isa) {
				R, _ := bakedShape(isa, t)
				var syms []string
				for c := range b.chunks(R) {
					syms = append(syms, BakedFuncName(isa, b.Stem, t, c))
				}
				lo, hi := bakedRange(isa, t)
				size, _ := BakedCodeBytes(isa, b, t)
				ks = append(ks, Kernel{Kind: KindBaked, Func: "genCSRBaked", Symbols: syms, Format: "csr", Lanes: lanesOf(isa),
					Tile: t, Rows: R, MinN: lo, MaxN: hi, Prefix: prefix, Baked: b.Stem, Pattern: b.Pattern, PatternRows: b.M, PatternCols: b.K, CodeBytes: size})
			}
			return ks
		},
		Driver:    "asm.RegisterGenerated (sparsegen asm/baked.go)",
		Reference: "ref.CSR (sparsegen ref/ref.go)",
		Test:      "the generated sparsegen_baked_test.go of this package",
	}
}

// genCSRBaked emits chunk rows [r0, r1) of b on tiles of t columns as one function, groups
// of R rows.
func genCSRBaked(m vm.Machine, b *BakeSpec, t int, name string, r0, r1, R int) {
	L := m.Lanes()
	u := t / L
	m.Func(name, fmt.Sprintf("%s runs rows %d to %d of the baked pattern %s (%d×%d) on a tile of %d columns.", name, r0, r1-1, b.Stem, b.M, b.K, t), BakedParams)
	vals, x, y := m.Param("vals"), m.Param("x"), m.Param("y")
	mask := m.TailMask(m.Param("tail"))
	vi := 0 // the next value, from the chunk's first
	for g0, gi := r0, 0; g0 < r1; g0, gi = g0+R, gi+1 {
		rows := min(R, r1-g0)
		g := &csrGen{m: m, r: R, u: u, acc: make([][]vm.Vec, rows), mask: mask}
		for r := range g.acc {
			for j := 0; j < u; j++ {
				g.acc[r] = append(g.acc[r], m.Vec())
			}
		}
		m.Comment("rows %d to %d", g0, g0+rows-1)
		yr := y
		for r := 0; r < rows; r++ {
			if r > 0 {
				yr = g.nextRow(yr)
			}
			bakedInit(g, r, yr)
		}
		for s := 0; ; s++ {
			any := false
			for r := 0; r < rows; r++ {
				lo, hi := b.RowPtr[g0+r], b.RowPtr[g0+r+1]
				if lo+int64(s) >= hi {
					continue
				}
				any = true
				c := int(b.ColIdx[lo+int64(s)])
				bv := m.Vec()
				m.Load1(bv, vm.At(vals, 4*vi))
				vi++
				for j := 0; j < u; j++ {
					m.FMAMem(g.acc[r][j], bv, vm.At(x, (c*t+j*L)*4))
				}
			}
			if !any {
				break
			}
		}
		// store's bias index is group·R + row: gi is the group's index in the chunk.
		i := m.GP()
		m.MovImm(i, int64(gi))
		yr = y
		for r := 0; r < rows; r++ {
			if r > 0 {
				yr = g.nextRow(yr)
			}
			g.epilogue(r, i, r)
			bakedWrite(g, r, yr)
		}
		for r := 0; r < rows; r++ {
			g.advance(y)
		}
	}
	m.Ret()
}

// bakedInit sets row r's accumulators to zero, then, with EpiLoadY, loads its first nvec
// vectors of Y at y, the last masked: the vectors past nvec stay zero and are never stored.
func bakedInit(g *csrGen, r int, y vm.Reg) {
	m := g.m
	L := m.Lanes()
	for _, a := range g.acc[r] {
		m.Zero(a)
	}
	done := m.NewLabel("inited")
	m.BrBits(m.Param("flags"), EpiLoadY, false, done)
	bakedPartial(g, done, func(j int, masked bool) {
		if masked {
			m.LoadVMask(g.acc[r][j], vm.At(y, j*L*4), g.mask)
		} else {
			m.LoadV(g.acc[r][j], vm.At(y, j*L*4))
		}
	})
	m.Bind(done)
}

// bakedWrite stores row r's first nvec vectors at y, the last masked.
func bakedWrite(g *csrGen, r int, y vm.Reg) {
	m := g.m
	L := m.Lanes()
	done := m.NewLabel("stored")
	bakedPartial(g, done, func(j int, masked bool) {
		if masked {
			m.StoreVMask(vm.At(y, j*L*4), g.acc[r][j], g.mask)
		} else {
			m.StoreV(vm.At(y, j*L*4), g.acc[r][j])
		}
	})
	m.Bind(done)
}

// bakedPartial emits op on vectors 0 … nvec−1, the last one masked, then jumps to done:
// vector j runs unmasked unless nvec = j+1, where the masked form runs and the row ends.
func bakedPartial(g *csrGen, done vm.Label, op func(j int, masked bool)) {
	m := g.m
	nv := m.Param("nvec")
	last := make([]vm.Label, g.u)
	for j := 0; j < g.u-1; j++ {
		last[j] = m.NewLabel("last")
		m.BrImm(nv, vm.EQ, int64(j+1), last[j])
		op(j, false)
	}
	op(g.u-1, true)
	m.Jmp(done)
	for j := 0; j < g.u-1; j++ {
		m.Bind(last[j])
		op(j, true)
		m.Jmp(done)
	}
}
