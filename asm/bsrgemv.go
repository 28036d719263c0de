package asm

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/sparsegen/sparsegen/formats"
	"github.com/sparsegen/sparsegen/ref"
)

// BSR GEMV kernels (N = 1, and N up to the family's MaxN in passes of multi-column kernels):
// gen/kernels/bsrgemv.go describes them.
//
// Packed layout (BSRGemvLayout). A unit is one block row of the canonical matrix (R rows; the
// last may be ragged). Each unit holds Hdr[u] blocks, in the canonical order; block q has its
// first column KIdx[q] (a multiple of C) and R·C weights in Val[q·R·C:], row by row (weight
// (r, c) at r·C + c), zero where the block leaves the matrix (the ragged last block row
// and block column): a block is whole vectors, and its X values are one group load.
type BSRGemvLayout struct {
	M, K  int
	R, C  int
	Units int
	Hdr   []int32 // per unit: blocks
	KOff  []int64 // per unit: first block (len Units+1)
	KIdx  []int32
	Val   []float32
	Cost  []int64 // prefix sums of work per unit (stored weights + 1)

	// A low-precision layout (PackBSRGemvLP, DType ≠ 0) keeps no Val: its weights are LP,
	// the same slots, e.Bytes() each; int8 rows are scaled by Scale (one per row).
	DType formats.DType
	LP    []byte
	Scale []float32
}

// PackBSRGemv packs a validated BSR for the GEMV kernels.
func PackBSRGemv(b *formats.BSR) (*BSRGemvLayout, error) {
	if err := b.Validate(); err != nil {
		return nil, err
	}
	var val []float32
	return packBSRGemv(b, func(l *BSRGemvLayout, nv int64) {
		l.Val = make([]float32, nv)
		val = l.Val
	}, func(dst, src int64) { val[dst] = b.Val[src] })
}

// PackBSRGemvLP packs a validated low-precision BSR for the GEMV kernels: the same slots in
// LP, e.Bytes() each (bf16 and fp16 little-endian), and int8's row scales in Scale.
func PackBSRGemvLP(b *formats.BSRLP) (*BSRGemvLayout, error) {
	if err := b.Validate(); err != nil {
		return nil, err
	}
	eb := int64(b.DType.Bytes())
	var lp []byte
	l, err := packBSRGemv(b.Pattern(), func(l *BSRGemvLayout, nv int64) {
		l.LP = make([]byte, nv*eb)
		lp = l.LP
	}, func(dst, src int64) {
		if b.DType == formats.I8 {
			lp[dst] = byte(b.I8[src])
		} else {
			binary.LittleEndian.PutUint16(lp[2*dst:], b.Bits[src])
		}
	})
	if err != nil {
		return nil, err
	}
	l.DType = b.DType
	if b.DType == formats.I8 {
		l.Scale = b.Scale
	}
	return l, nil
}

// packBSRGemv lays out pattern b: alloc(l, nv) allocates the nv weight slots, put(dst,
// src) copies stored value src (b's order) to slot dst; slots put never reaches are zero.
func packBSRGemv(b *formats.BSR, alloc func(l *BSRGemvLayout, nv int64), put func(dst, src int64)) (*BSRGemvLayout, error) {
	nb := int64(b.NumBlocks())
	rc := int64(b.R) * int64(b.C)
	if nb*rc > 1<<40 || int64(b.BlockCols())*int64(b.C) > formats.MaxInt32 {
		return nil, fmt.Errorf("%w: packed BSR GEMV too large (%d blocks of %d×%d)", ErrNotApplicable, nb, b.R, b.C)
	}
	l := &BSRGemvLayout{M: b.Rows, K: b.Cols, R: b.R, C: b.C, Units: b.BlockRows()}
	l.Hdr = make([]int32, l.Units)
	l.KOff = make([]int64, l.Units+1)
	l.Cost = make([]int64, l.Units+1)
	l.KIdx = make([]int32, nb)
	alloc(l, nb*rc)
	for i := 0; i < l.Units; i++ {
		p0, p1 := b.BlockRowPtr[i], b.BlockRowPtr[i+1]
		l.Hdr[i] = int32(p1 - p0)
		l.KOff[i+1] = p1
		var stored int64
		for p := p0; p < p1; p++ {
			j := int(b.BlockCol[p])
			h, w := b.BlockDims(i, j)
			src := b.BlockOffset(int(p))
			l.KIdx[p] = int32(j * b.C)
			for r := 0; r < h; r++ {
				for c := 0; c < w; c++ {
					put(p*rc+int64(r*b.C+c), src+int64(r*w+c))
				}
			}
			stored += int64(h * w)
		}
		l.Cost[i+1] = l.Cost[i] + stored + 1
	}
	return l, nil
}

// dtypeName is the stored type's name: "float32", or the low-precision dtype's.
func (l *BSRGemvLayout) dtypeName() string {
	if l.DType == 0 {
		return "float32"
	}
	return l.DType.String()
}

// UnitRows returns the output rows [r0, r1) of unit u.
func (l *BSRGemvLayout) UnitRows(u int) (int, int) { return u * l.R, min((u+1)*l.R, l.M) }

// Bytes is the packed size.
func (l *BSRGemvLayout) Bytes() int64 {
	return int64(len(l.Val))*4 + int64(len(l.LP)) + int64(len(l.Scale))*4 + int64(len(l.KIdx))*4 + int64(len(l.Hdr))*4 + int64(len(l.KOff)+len(l.Cost))*8
}

// xLen is the length of the X column the kernels read: K rounded up to C (the ragged last
// block column reads zeros past K).
func (l *BSRGemvLayout) xLen() int { return (l.K + l.C - 1) / l.C * l.C }

// runGo is the pure-Go GEMV on the layout, column xc (len ≥ xLen, zero past K) into yc
// (row r at yc[r·ldy]): the kernels' order (per row, blocks in storage order, columns
// left to right; one chain), which ref.BSR's sums agree with to rounding.
func (l *BSRGemvLayout) runGo(u0, u1 int, xc, yc []float32, ldy int, epi *ref.Epilogue) {
	rc := l.R * l.C
	for u := u0; u < u1; u++ {
		r0, r1 := l.UnitRows(u)
		for r := r0; r < r1; r++ {
			var s float32
			for q := l.KOff[u]; q < l.KOff[u+1]; q++ {
				o := q*int64(rc) + int64((r-r0)*l.C)
				xv := xc[l.KIdx[q]:][:l.C]
				for c := range xv {
					s += l.weight(o+int64(c)) * xv[c]
				}
			}
			if l.DType == formats.I8 {
				s *= l.Scale[r]
			}
			yc[r*ldy] = epi.Apply(s, r, yc[r*ldy])
		}
	}
}

// weight is slot o's weight widened (int8: unscaled).
func (l *BSRGemvLayout) weight(o int64) float32 {
	switch l.DType {
	case formats.BF16:
		return formats.BF16ToFloat32(binary.LittleEndian.Uint16(l.LP[2*o:]))
	case formats.F16:
		return formats.F16ToFloat32(binary.LittleEndian.Uint16(l.LP[2*o:]))
	case formats.I8:
		return float32(int8(l.LP[o]))
	}
	return l.Val[o]
}

// bsrGemvKernel is a packed BSR GEMV with the function that runs one column.
type bsrGemvKernel struct {
	name string
	isa  ISA
	l    *BSRGemvLayout
	// col runs units [u0, u1) of one column: xc contiguous (len ≥ xLen, zero past K), yc
	// from row 0 of the column (stride ldy).
	col func(l *BSRGemvLayout, u0, u1 int, xc, yc []float32, ldy int, epi *ref.Epilogue)
	// cols (nil: none) runs units [u0, u1) of N > 1 columns in passes of the widths given,
	// from their panels one after another in panel (packBSRGemvPanels), into yc from
	// column 0; widths are the column counts it has kernels for, widest first.
	cols   func(l *BSRGemvLayout, u0, u1 int, panel []float32, passes []int, yc []float32, ldy int, epi *ref.Epilogue)
	widths []int
	pool   sync.Pool // *[]float32 X copies and panels
}

// bsrGemvPasses splits n columns into passes of the widest widths that fit (widths
// descending, the last 1).
func bsrGemvPasses(n int, widths []int) []int {
	var out []int
	for _, w := range widths {
		for n >= w {
			out = append(out, w)
			n -= w
		}
	}
	return out
}

// packBSRGemvPanels lays out X's n columns for the passes: pass p (columns [j0, j0+w)) is
// xLen·w floats, for each group g of C rows of X the w columns' C values side by side
// (panel[(g·w + c)·C + j] = X[g·C + j][j0 + c]), zero past K.
func packBSRGemvPanels(panel, x []float32, ldx int, l *BSRGemvLayout, passes []int) {
	C, xl := l.C, l.xLen()
	off, j0 := 0, 0
	for _, w := range passes {
		p := panel[off : off+xl*w]
		for g := 0; g < xl/C; g++ {
			rows := min(C, l.K-g*C) // only the last group is ragged
			for c := 0; c < w; c++ {
				dst := p[(g*w+c)*C:][:C]
				src := x[g*C*ldx+j0+c:]
				for j := range rows {
					dst[j] = src[j*ldx]
				}
				clear(dst[rows:])
			}
		}
		off += xl * w
		j0 += w
	}
}

func (k *bsrGemvKernel) Name() string              { return k.name }
func (k *bsrGemvKernel) ISA() ISA                  { return k.isa }
func (k *bsrGemvKernel) Shape() (int, int)         { return k.l.M, k.l.K }
func (k *bsrGemvKernel) Units() int                { return k.l.Units }
func (k *bsrGemvKernel) UnitRows(u int) (int, int) { return k.l.UnitRows(u) }
func (k *bsrGemvKernel) UnitCost() []int64         { return k.l.Cost }
func (k *bsrGemvKernel) PackedBytes() int64        { return k.l.Bytes() }
func (k *bsrGemvKernel) String() string            { return k.name }

// Run runs N > 1 in passes of the multi-column kernels where the family has them (X packed
// into their panels), else each column on its own: X's column as it is when its stride is
// 1 and K a multiple of C, else a zero-padded copy.
func (k *bsrGemvKernel) Run(u0, u1 int, x []float32, ldx int, y []float32, ldy, n int, epi *ref.Epilogue) error {
	if err := CheckRun(k, u0, u1, x, ldx, y, ldy, n, epi); err != nil {
		return err
	}
	if n == 0 || u0 == u1 {
		return nil
	}
	l := k.l
	if n > 1 && k.cols != nil {
		passes := bsrGemvPasses(n, k.widths)
		bp := pooledFloats(&k.pool, l.xLen()*n)
		defer k.pool.Put(bp)
		panel := (*bp)[:l.xLen()*n]
		packBSRGemvPanels(panel, x, ldx, l, passes)
		k.cols(l, u0, u1, panel, passes, y, ldy, epi)
		return nil
	}
	var xc []float32
	if ldx != 1 || l.K%l.C != 0 {
		bp := pooledFloats(&k.pool, l.xLen())
		defer k.pool.Put(bp)
		xc = (*bp)[:l.xLen()]
	}
	for j := 0; j < n; j++ {
		xj := x[j:]
		if xc != nil {
			for kk := 0; kk < l.K; kk++ {
				xc[kk] = x[kk*ldx+j]
			}
			xj = xc
		}
		k.col(l, u0, u1, xj, y[j:], ldy, epi)
	}
	return nil
}

func bsrGemvGoCol(l *BSRGemvLayout, u0, u1 int, xc, yc []float32, ldy int, epi *ref.Epilogue) {
	l.runGo(u0, u1, xc, yc, ldy, epi)
}

// bsrGemvCols runs N > 1 columns from their panels (bsrGemvKernel.cols).
type bsrGemvCols func(l *BSRGemvLayout, u0, u1 int, panel []float32, passes []int, yc []float32, ldy int, epi *ref.Epilogue)

// bsrGemvFamily is the GEMV family d (block shape d.BlockR×d.BlockC) whose col runs a
// column and cols (nil: none) N > 1 columns in passes of widths (widest first, last 1).
func bsrGemvFamily(d *Desc, col func(l *BSRGemvLayout, u0, u1 int, xc, yc []float32, ldy int, epi *ref.Epilogue), cols bsrGemvCols, widths []int) Family {
	return Family{
		Desc: d,
		Pack: func(w formats.Matrix) (Kernel, error) {
			var l *BSRGemvLayout
			var err error
			if d.DType == "" || d.DType == "float32" {
				b, ok := w.(*formats.BSR)
				if !ok || b == nil {
					return nil, ErrNotApplicable
				}
				if b.R != d.BlockR || b.C != d.BlockC {
					return nil, ErrNotApplicable
				}
				l, err = PackBSRGemv(b)
			} else {
				t, perr := formats.ParseDType(d.DType)
				if perr != nil {
					return nil, fmt.Errorf("asm: %s: %v", d.Name, perr)
				}
				b, lerr := bsrLPOf(d.Name, t, w)
				if lerr != nil {
					return nil, lerr
				}
				if b.R != d.BlockR || b.C != d.BlockC {
					return nil, ErrNotApplicable
				}
				l, err = PackBSRGemvLP(b)
			}
			if err != nil {
				return nil, err
			}
			return &bsrGemvKernel{name: d.Name, isa: d.ISA, l: l, col: col, cols: cols, widths: widths}, nil
		},
		// Every ISA's GEMV of one block shape and dtype packs the same BSRGemvLayout: one
		// packing serves them all.
		Layout: func(w formats.Matrix) string {
			if !bsrGemvTakes(d, w) {
				return ""
			}
			return fmt.Sprintf("bsrgemv/%dx%d/%s", d.BlockR, d.BlockC, cmp.Or(d.DType, "float32"))
		},
		Derive: func(from Kernel) (Kernel, int64, error) {
			f, ok := from.(*bsrGemvKernel)
			if !ok || f.l.R != d.BlockR || f.l.C != d.BlockC || f.l.dtypeName() != cmp.Or(d.DType, "float32") {
				return nil, 0, fmt.Errorf("%w: %s cannot share the packing of %s", ErrNotApplicable, d.Name, from.Name())
			}
			return &bsrGemvKernel{name: d.Name, isa: d.ISA, l: f.l, col: col, cols: cols, widths: widths}, 0, nil
		},
	}
}

// bsrGemvTakes reports whether family d packs w: a BSR (float32 families) or a BSRLP of
// d's dtype, of d's block shape.
func bsrGemvTakes(d *Desc, w formats.Matrix) bool {
	if d.DType == "" || d.DType == "float32" {
		b, ok := w.(*formats.BSR)
		return ok && b != nil && b.R == d.BlockR && b.C == d.BlockC
	}
	b, ok := w.(*formats.BSRLP)
	return ok && b != nil && b.DType.String() == d.DType && b.R == d.BlockR && b.C == d.BlockC
}
