package kernels

import (
	"fmt"
	"strings"

	"github.com/sparsegen/sparsegen/gen/vm"
)

// Transpose is the float32 matrix transpose over full L×L tiles (L = Lanes(): 16 on
// AVX-512, 8 on AVX2, 4 on NEON), for machines with vm.TransposeMachine:
//
//	for each tile column J < colTiles (outer), each tile row I < rowTiles (inner):
//	    v[r] = src[(I·L + r)·lds + J·L : +L]   r < L   (L vector loads)
//	    Transpose(v)                                    (v[c] = column c of the tile)
//	    dst[(J·L + c)·ldd + I·L : +L] = v[c]    c < L   (L vector stores)
//
// Strides are in elements. The asm driver (asm/transpose.go) checks every bound before the
// call, passes only full tiles and transposes the ragged edges in Go.
//
// Loop order: tile columns outermost, so consecutive tiles write the same L rows of dst,
// one L-float segment further along each: L sequential write streams, each line of dst
// completed by consecutive tiles; src is read L rows at a time down one L-float column strip
// (one cache line per row on AVX-512). The other order (tile rows outermost) writes one line
// in each of cols rows of dst per tile row, which for a tall src (3072×128 → 128×3072) is 128
// write streams; it measured slower (asm BenchmarkTranspose).
var Transpose = Family{
	File: "transpose",
	Gen: func(m vm.Machine) {
		tm, ok := m.(vm.TransposeMachine)
		if !ok {
			return
		}
		for _, o := range transposeOrders {
			genTranspose(tm, o)
		}
	},
	Table: func(isa, features string) string {
		id, l := ident(isa), lanesOf(isa)
		var b strings.Builder
		fmt.Fprintf(&b, "// transpose%sFeatures are the CPU features the transpose%[1]s kernels use.\nconst transpose%[1]sFeatures = %[2]s\n\n", id, features)
		fmt.Fprintf(&b, "// transpose%sLanes is the tile side of the transpose%[1]s kernels.\nconst transpose%[1]sLanes = %[2]d\n\n", id, l)
		var names []string
		for _, o := range transposeOrders {
			names = append(names, TransposeFuncName(isa, o))
		}
		fmt.Fprintf(&b, "// transpose%sKernels are the tile kernels by loop order (transposeColsOuter, transposeRowsOuter).\nvar transpose%[1]sKernels = [...]transposeTileFunc{%[2]s}\n", id, goFuncList(names))
		return b.String()
	},
}

func init() { Register(Transpose) }

// transposeOrder is a loop order over the tiles.
type transposeOrder int

const (
	transposeColsOuter transposeOrder = iota // tile columns outer, tile rows inner
	transposeRowsOuter                       // tile rows outer, tile columns inner
)

var transposeOrders = []transposeOrder{transposeColsOuter, transposeRowsOuter}

// TransposeParams is the signature of every transpose kernel.
var TransposeParams = []vm.Param{
	{Name: "dst", Kind: vm.PtrF32}, {Name: "ldd", Kind: vm.Int},
	{Name: "src", Kind: vm.PtrF32}, {Name: "lds", Kind: vm.Int},
	{Name: "rowTiles", Kind: vm.Int}, {Name: "colTiles", Kind: vm.Int},
}

// TransposeFuncName names the tile kernel of isa with loop order o.
func TransposeFuncName(isa string, o transposeOrder) string {
	l := lanesOf(isa)
	s := fmt.Sprintf("transpose%dx%d%s", l, l, ident(isa))
	if o == transposeRowsOuter {
		s += "Rows"
	}
	return s
}

func genTranspose(m vm.TransposeMachine, o transposeOrder) {
	l := m.Lanes()
	vm.Check(l%4 == 0, "transpose: %d lanes", l)
	name := TransposeFuncName(m.ISA(), o)
	order := "tile columns outer, tile rows inner"
	if o == transposeRowsOuter {
		order = "tile rows outer, tile columns inner"
	}
	m.Func(name, fmt.Sprintf("%s transposes rowTiles×colTiles %[2]d×%[2]d tiles, dst[j·ldd+i] = src[i·lds+j] (%[3]s).",
		name, l, order), TransposeParams)
	done := m.NewLabel("done")
	outerName, innerName := "colTiles", "rowTiles"
	if o == transposeRowsOuter {
		outerName, innerName = innerName, outerName
	}
	nOuter := m.Param(outerName)
	m.BrImm(nOuter, vm.LE, 0, done)
	nInner := m.Param(innerName)
	m.BrImm(nInner, vm.LE, 0, done)
	src, dst := m.Param("src"), m.Param("dst")
	lds, ldd := m.Param("lds"), m.Param("ldd")
	m.Shl(lds, 2) // bytes
	m.Shl(ldd, 2)
	lds3, ldd3 := m.GP(), m.GP()
	m.Lea(lds3, vm.Idx(lds, lds, 2))
	m.Lea(ldd3, vm.Idx(ldd, ldd, 2))
	v := make([]vm.Vec, l)
	for i := range v {
		v[i] = m.Vec()
	}
	// rows loads (load) or stores v[0..l) at p, p+ld, …; with advance, p ends l·ld further.
	rows := func(p, ld, ld3 vm.Reg, load, advance bool) {
		for g := 0; g < l/4; g++ {
			for r, a := range []vm.Mem{vm.At(p, 0), vm.Idx(p, ld, 1), vm.Idx(p, ld, 2), vm.Idx(p, ld3, 1)} {
				if load {
					m.LoadV(v[4*g+r], a)
				} else {
					m.StoreV(a, v[4*g+r])
				}
			}
			if advance || g < l/4-1 {
				m.Lea(p, vm.Idx(p, ld, 4))
			}
		}
	}
	outer, inner := m.NewLabel("outer"), m.NewLabel("inner")
	m.Bind(outer)
	sp, dp := m.GP(), m.GP()
	m.Mov(sp, src)
	m.Mov(dp, dst)
	i := m.Param(innerName)
	m.Bind(inner)
	if o == transposeColsOuter {
		rows(sp, lds, lds3, true, true) // sp moves down to the next tile row
		m.Transpose(v)
		q := m.GP()
		m.Mov(q, dp)
		rows(q, ldd, ldd3, false, false)
		m.AddImm(dp, int64(4*l)) // the next tile row lands l columns further in dst
	} else {
		p := m.GP()
		m.Mov(p, sp)
		rows(p, lds, lds3, true, false)
		m.AddImm(sp, int64(4*l))
		m.Transpose(v)
		rows(dp, ldd, ldd3, false, true) // dp moves down to the next tile column's dst rows
	}
	m.AddImm(i, -1)
	m.BrImm(i, vm.GT, 0, inner)
	t := m.GP()
	if o == transposeColsOuter {
		m.AddImm(src, int64(4*l))
		m.Mov(t, ldd)
		m.Shl(t, log2(l))
		m.Add(dst, t)
	} else {
		m.AddImm(dst, int64(4*l))
		m.Mov(t, lds)
		m.Shl(t, log2(l))
		m.Add(src, t)
	}
	m.AddImm(nOuter, -1)
	m.BrImm(nOuter, vm.GT, 0, outer)
	m.Bind(done)
	m.Ret()
}
