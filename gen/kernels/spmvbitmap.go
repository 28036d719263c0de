package kernels

import (
	"fmt"
	"strings"

	"github.com/sparsegen/sparsegen/gen/vm"
)

// SpMVBitmap: CSR × one column (N = 1) over a bitmap encoding (asm/spmvbitmap.go packs it).
// Each row is cut into C = ⌈K/L⌉ chunks of L = Lanes() columns; chunk c of row i stores an
// L-bit mask (bit j: column c·L + j holds a weight; L/8 bytes, little-endian) and the
// chunk's weights packed in column order. The masks of all rows follow each other
// (M·C masks), and so do the values (row after row: CSR's value array). Per row:
//
//	acc[j mod 4] lane l += v · x[c·L + l]   for each chunk c, in order, over the lanes l
//	                                          of its mask (the packed values expanded to
//	                                          their lanes; absent lanes neither read x nor
//	                                          change acc), chunk c into accumulator c mod 4
//	s = ReduceAdd((acc0 + acc1) + (acc2 + acc3))
//	then the epilogue of genSpMV (bias, Accumulate, clamp), y[i·ldy] = s
//
// No gathers and no column indices: X is read contiguously, L columns per chunk, and the
// value pointer advances by the popcount of the masks, once per four chunks. Masked-off lanes of X are never
// read, so the last chunk of a row needs no tail code (X's slice may end at K). AVX2 reads
// L values at the value pointer whatever the mask: the plan pads the value stream with L
// floats. The order of the sum depends on the plan (K, L) only.

// SpMVBitmapParams is the signature of the bitmap SpMV functions.
func SpMVBitmapParams() []vm.Param {
	return []vm.Param{
		{Name: "vals", Kind: vm.PtrF32}, {Name: "masks", Kind: vm.PtrU8}, {Name: "nrows", Kind: vm.Int},
		{Name: "chunks", Kind: vm.Int}, {Name: "x", Kind: vm.PtrF32}, {Name: "y", Kind: vm.PtrF32},
		{Name: "ldy", Kind: vm.Int}, {Name: "flags", Kind: vm.Int}, {Name: "bias", Kind: vm.PtrF32},
		{Name: "lo", Kind: vm.F32}, {Name: "hi", Kind: vm.F32},
	}
}

// SpMVBitmapI8Params is the signature of the bitmap SpMV functions on int8 values: vals is
// a byte pointer and scale (after bias) points at the nrows rows' scales.
func SpMVBitmapI8Params() []vm.Param {
	p := SpMVBitmapParams()
	p[0].Kind = vm.PtrU8
	return append(p[:9:9], append([]vm.Param{{Name: "scale", Kind: vm.PtrF32}}, p[9:]...)...)
}

// SpMVBitmapFuncName names the bitmap SpMV function for isa and stored value type e.
func SpMVBitmapFuncName(isa string, e vm.Elem) string {
	if e == vm.ElemF32 {
		return "spmvBitmap" + ident(isa)
	}
	return "spmvBitmap" + strings.ToUpper(e.String()) + ident(isa)
}

// SpMVBitmap is the family, on machines with an expand (vm.ExpandMachine) and a horizontal
// sum (vm.GatherMachine): AVX-512 and AVX2. NEON has no expand and registers none.
var SpMVBitmap = Family{
	File: "spmvbitmap",
	Gen: func(m vm.Machine) {
		e, ok1 := m.(vm.ExpandMachine)
		g, ok2 := m.(vm.GatherMachine)
		if ok1 && ok2 {
			genSpMVBitmap(e, g, vm.ElemF32)
			if _, ok := m.(vm.WidenMachine); ok {
				genSpMVBitmap(e, g, vm.ElemBF16)
			}
		}
	},
	Table: func(isa, features string) string {
		id := ident(isa)
		var b strings.Builder
		if isa == "neon" {
			return ""
		}
		fmt.Fprintf(&b, "// spmvBitmap%sLanes is the chunk width in columns (the value-stream padding).\nconst spmvBitmap%[1]sLanes = %d\n\n", id, lanesOf(isa))
		fmt.Fprintf(&b, "// spmvBitmap%sFunc is the generated bitmap SpMV function.\nvar spmvBitmap%[1]sFunc spmvBitmapFunc = %s\n\n", id, SpMVBitmapFuncName(isa, vm.ElemF32))
		fmt.Fprintf(&b, "// spmvBitmapBF16%sFunc is the generated bitmap SpMV function on bf16 values.\nvar spmvBitmapBF16%[1]sFunc spmvBitmap16Func = %s\n", id, SpMVBitmapFuncName(isa, vm.ElemBF16))
		return b.String()
	},
	Kernels: func(isa string) []Kernel {
		if isa == "neon" {
			return nil
		}
		// float32 on a CSR, bf16 on a CSRLP of bf16 (dispatch/lowp.go runs it where W's
		// density is above the float32 kernel's crossover, dispatch/bitmap.go).
		return []Kernel{{Kind: KindSpMVBitmap, Func: "genSpMVBitmap", Symbols: []string{SpMVBitmapFuncName(isa, vm.ElemF32)}, Format: "csr",
			Lanes: lanesOf(isa), Rows: 1, Bitmap: true, MinN: 1, MaxN: 1},
			{Kind: KindSpMVBitmap, Func: "genSpMVBitmap", Symbols: []string{SpMVBitmapFuncName(isa, vm.ElemBF16)}, Format: "csr_bf16", DType: "bf16",
				Lanes: lanesOf(isa), Rows: 1, Bitmap: true, MinN: 1, MaxN: 1},
			nmBitmapKernel(isa, vm.ElemBF16)}
	},
	Driver:    "asm/spmvbitmap.go (spmvbitmap_amd64.go registers)",
	Reference: "ref.CSR (ref/ref.go); asm.BitmapLayout.MulVec, the pure-Go kernel",
	Test:      "asm/spmvbitmap_test.go",
}

// spmvBitmapLPFamily is the bitmap SpMV on values stored as e (fp16 or int8), in a file of
// its own (spmvbitmap<e>): asmgen computes a file's CPU features from all its instructions,
// and AVX2's fp16 widening (VCVTPH2PS) needs F16C, which the float32 and bf16 kernels do
// not. The float32 and bf16 kernels stay in SpMVBitmap's file.
func spmvBitmapLPFamily(e vm.Elem) Family {
	typ := "spmvBitmap16Func"
	if e == vm.ElemI8 {
		typ = "spmvBitmapI8Func"
	}
	return Family{
		File: "spmvbitmap" + e.String(),
		Desc: "spmvbitmap",
		Gen: func(m vm.Machine) {
			x, ok1 := m.(vm.ExpandMachine)
			g, ok2 := m.(vm.GatherMachine)
			_, ok3 := m.(vm.WidenMachine)
			if ok1 && ok2 && ok3 {
				genSpMVBitmap(x, g, e)
			}
		},
		Table: func(isa, features string) string {
			if isa == "neon" {
				return ""
			}
			id := strings.ToUpper(e.String()) + ident(isa)
			return fmt.Sprintf("// spmvBitmap%[1]sFunc is the generated bitmap SpMV function on %[2]s values.\nvar spmvBitmap%[1]sFunc %[3]s = %[4]s\n", id, e, typ, SpMVBitmapFuncName(isa, e))
		},
		// On a CSRLP of e (dispatch/lowp.go runs it where W's density is above the float32
		// kernel's crossover, dispatch/bitmap.go).
		Kernels: func(isa string) []Kernel {
			if isa == "neon" {
				return nil
			}
			return []Kernel{{Kind: KindSpMVBitmap, Func: "genSpMVBitmap", Symbols: []string{SpMVBitmapFuncName(isa, e)}, Format: "csr_" + e.String(), DType: e.String(),
				Lanes: lanesOf(isa), Rows: 1, Bitmap: true, MinN: 1, MaxN: 1}, nmBitmapKernel(isa, e)}
		},
		Driver:    "asm/spmvbitmap.go (spmvbitmap_amd64.go registers)",
		Reference: "ref.CSR on W widened (formats.CSRLP.ToCSR); asm.BitmapLayout.MulVec, the pure-Go kernel",
		Test:      "asm/spmvbitmap_test.go",
	}
}

func init() {
	Register(SpMVBitmap)
	Register(spmvBitmapLPFamily(vm.ElemF16))
	Register(spmvBitmapLPFamily(vm.ElemI8))
}

// genSpMVBitmap emits the bitmap SpMV on values stored as e: float32, or bf16, fp16 or
// int8 (Lanes() values widened by a vm.WidenMachine load, then expanded in registers; the
// value stream is then uint16 or bytes and padded by Lanes() values too). int8: each row's
// sum (of each K block: the driver adds the blocks' sums through Y) is multiplied by its
// scale, one rounding (an FMA onto zero), before the epilogue, as the int8 gather SpMV does
// (genSpMVBody).
func genSpMVBitmap(m vm.ExpandMachine, g vm.GatherMachine, e vm.Elem) {
	L := m.Lanes()
	mb := L / 8 // bytes per mask
	eb := e.Bytes()
	name := SpMVBitmapFuncName(m.ISA(), e)
	params := SpMVBitmapParams()
	what := ""
	switch e {
	case vm.ElemF32:
	case vm.ElemI8:
		params = SpMVBitmapI8Params()
		what = " with int8 values times the row scales"
	default:
		params[0].Kind = vm.PtrU16
		what = " with " + e.String() + " values"
	}
	m.Func(name, fmt.Sprintf("%s computes y = epi(W·x) for nrows rows of a bitmap-encoded W (%d-column chunks)%s.", name, L, what), params)
	expand := func(w vm.Vec, at vm.Mem, k vm.Mask) {
		if e == vm.ElemF32 {
			m.ExpandLoad(w, at, k)
			return
		}
		t := m.Vec()
		m.(vm.WidenMachine).LoadWiden(t, at, e)
		m.Expand(w, t, k)
	}
	vals, masks := m.Param("vals"), m.Param("masks")
	y := m.Param("y")
	tbl := m.ExpandTable()
	i := m.GP()
	m.MovImm(i, 0)
	acc := []vm.Vec{m.Vec(), m.Vec(), m.Vec(), m.Vec()}
	exit, row := m.NewLabel("exit"), m.NewLabel("row")
	m.Bind(row)
	left := m.Param("nrows")
	m.Sub(left, i)
	m.BrImm(left, vm.LE, 0, exit)
	for _, a := range acc {
		m.Zero(a)
	}
	c := m.Param("chunks")
	xp := m.Param("x")
	// chunk j of the current step: mask at masks + j·mb, X at xp + j·L floats.
	chunk := func(a vm.Vec, j int) {
		bits := m.GP()
		m.Load(bits, vm.At(masks, j*mb), mb)
		k := m.BitMask(bits, tbl)
		w := m.Vec()
		expand(w, vm.At(vals, 0), k)
		m.FMAMemMask(a, w, vm.At(xp, j*L*4), k)
		n := m.GP()
		m.PopCnt(n, bits)
		m.Lea(vals, vm.Idx(vals, n, eb))
	}
	four, tail, sum := m.NewLabel("four"), m.NewLabel("tail"), m.NewLabel("sum")
	m.BrImm(c, vm.LT, 4, tail)
	m.Bind(four)
	// Four chunks a step: chunk j's values start at vals + (popcounts of chunks < j), summed
	// off the loop-carried path, and vals advances once per step. (Advancing it chunk by
	// chunk made the pointer a serial chain: 1.08 ns per chunk in cache against 0.60 without
	// the advance, 512×4096 at 10%, AVX-512, Zen 5.)
	var off vm.Reg
	for j := 0; j < 4; j++ {
		bits := m.GP()
		m.Load(bits, vm.At(masks, j*mb), mb)
		k := m.BitMask(bits, tbl)
		at := vm.At(vals, 0)
		if j > 0 {
			at = vm.Idx(vals, off, eb)
		}
		w := m.Vec()
		expand(w, at, k)
		m.FMAMemMask(acc[j], w, vm.At(xp, j*L*4), k)
		n := m.GP()
		m.PopCnt(n, bits)
		if j == 0 {
			off = n
		} else {
			m.Add(off, n)
		}
	}
	m.Lea(vals, vm.Idx(vals, off, eb))
	m.AddImm(masks, int64(4*mb))
	m.AddImm(xp, int64(4*L*4))
	m.AddImm(c, -4)
	m.BrImm(c, vm.GE, 4, four)
	m.Bind(tail)
	// 0–3 chunks left: chunk j into accumulator j, as in the unrolled loop.
	for j := 0; j < 3; j++ {
		m.BrImm(c, vm.LE, 0, sum)
		chunk(acc[j], 0)
		m.AddImm(masks, int64(mb))
		m.AddImm(xp, int64(L*4))
		m.AddImm(c, -1)
	}
	m.Bind(sum)
	m.VAdd(acc[0], acc[1])
	m.VAdd(acc[2], acc[3])
	m.VAdd(acc[0], acc[2])
	g.ReduceAdd(acc[0])
	res := acc[0]
	if e == vm.ElemI8 {
		sc, s := m.Vec(), m.Vec()
		m.Load1(sc, vm.Idx(m.Param("scale"), i, 4))
		m.Zero(s)
		m.FMA(s, acc[0], sc)
		res = s
	}
	spmvEpilogue(m, res, i, y)
	g.StoreLane0(vm.At(y, 0), res)
	nextRow(m, y, i, row, exit)
}

// nmBitmapKernel is the low-precision bitmap SpMV of e registered a second time for N:M
// weights of e (format nm_<e>, any pattern, N = 1): nm_bitmap_<e>_<isa>. Its driver
// (asm/nmbitmap.go) converts the NMLP's slots, exactly, to a CSRLP and packs the bitmap
// layout; an N:M matrix is a bitmap matrix with a fixed count per group (2:4: 2.25 bytes
// per bf16 weight, the compact-position GEMV's), and dispatch/nmbitmap.go runs it where it
// measured faster than the N:M GEMV.
func nmBitmapKernel(isa string, e vm.Elem) Kernel {
	return Kernel{Kind: KindSpMVBitmap, Func: "genSpMVBitmap", Symbols: []string{SpMVBitmapFuncName(isa, e)}, Format: "nm_" + e.String(), DType: e.String(),
		Lanes: lanesOf(isa), Rows: 1, Bitmap: true, MinN: 1, MaxN: 1}
}
