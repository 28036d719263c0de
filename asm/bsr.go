package asm

import (
	"fmt"

	"github.com/sparsegen/sparsegen/formats"
	"github.com/sparsegen/sparsegen/ref"
)

// BSR row-block kernels.
//
// Packed layout (BSRLayout), shared by the pure-Go kernel and the generated ones. A unit is
// one block row of the canonical matrix (R rows; the last may be ragged). Each unit holds
//
//   - NFull full-width blocks: one column index k0 (KIdx) and CW·H weights stored column
//     by column, the H weights of a column contiguous (Val), so the kernel broadcasts each
//     weight once and each load of X[k0+c, tile] feeds H rows;
//   - then NTail single-column steps: one column index k and H weights each. Step mode
//     (CW = 1) turns every block of any R×C into C steps; in block mode (CW = C) only the
//     ragged last block column (width K % C, never padded past K) becomes steps.
//
// H ≥ R is the kernel height: rows R…H−1 of a unit, and the missing rows of a ragged last
// block row, hold zero weights whose sums are never stored. Per row, the sum runs over
// blocks in storage order and each block's columns left to right, as ref.BSR does.
type BSRLayout struct {
	M, K  int
	R, C  int // canonical block
	H     int // accumulator rows per unit (kernel height), ≥ R
	CW    int // columns per full block: C in block mode, 1 in step mode
	Units int
	Hdr   []int32 // per unit: NFull, NTail
	KOff  []int64 // per unit: first index in KIdx (len Units+1)
	VOff  []int64 // per unit: first index in Val (len Units+1)
	KIdx  []int32
	Val   []float32
	Cost  []int64 // prefix sums of work per unit (stored values + 1)

	// A low-precision layout (PackBSRLP, DType ≠ 0) keeps no Val: its weights are LP, the
	// same slots in the same order, e.Bytes() each, unit u from byte LPOff[u]; an int8
	// unit starts with the float32 scales of its H rows (little-endian, zero past the
	// unit's rows), then its weights.
	DType formats.DType
	LP    []byte
	LPOff []int64 // len Units+1
}

// BSRMaxStepRows is the tallest block bsr_any_<isa> takes (its steps run on generated
// kernels of height 1, 2, 4 or 8).
const BSRMaxStepRows = 8

// PackBSR packs a validated BSR for kernels of height h (≥ b.R). blockMode keeps full
// blocks of width b.C together (one index per block); otherwise every column is a step.
func PackBSR(b *formats.BSR, h int, blockMode bool) (*BSRLayout, error) {
	if err := b.Validate(); err != nil {
		return nil, err
	}
	var val []float32
	return packBSR(b, h, blockMode, func(l *BSRLayout, nv int64) {
		l.Val = make([]float32, nv)
		val = l.Val
	}, func(dst, src int64) { val[dst] = b.Val[src] })
}

// packBSR is PackBSR on a validated pattern b (its Val unused): alloc(l, nv) allocates
// the nv packed slots of layout l, put(dst, src) copies stored value src (b's order) into
// packed slot dst; slots put never reaches are padding (zero).
func packBSR(b *formats.BSR, h int, blockMode bool, alloc func(l *BSRLayout, nv int64), put func(dst, src int64)) (*BSRLayout, error) {
	if h < b.R {
		return nil, fmt.Errorf("%w: kernel height %d < block height %d", ErrNotApplicable, h, b.R)
	}
	l := &BSRLayout{M: b.Rows, K: b.Cols, R: b.R, C: b.C, H: h, CW: 1, Units: b.BlockRows()}
	if blockMode {
		l.CW = b.C
	}
	// Sizes first (int64, checked), then one allocation each.
	var nk, nv int64
	for i := 0; i < l.Units; i++ {
		for p := b.BlockRowPtr[i]; p < b.BlockRowPtr[i+1]; p++ {
			_, w := b.BlockDims(i, int(b.BlockCol[p]))
			if blockMode && w == b.C {
				nk++
			} else {
				nk += int64(w)
			}
			nv += int64(w) * int64(h)
		}
	}
	if nk > formats.MaxInt32 || nv > 1<<40 {
		return nil, fmt.Errorf("%w: packed BSR too large (%d indices, %d values)", ErrNotApplicable, nk, nv)
	}
	l.Hdr = make([]int32, 2*l.Units)
	l.KOff = make([]int64, l.Units+1)
	l.VOff = make([]int64, l.Units+1)
	l.Cost = make([]int64, l.Units+1)
	l.KIdx = make([]int32, 0, nk)
	alloc(l, nv)
	var vp int64
	for i := 0; i < l.Units; i++ {
		var nFull, nTail int32
		rows, _ := b.BlockDims(i, 0)
		for p := b.BlockRowPtr[i]; p < b.BlockRowPtr[i+1]; p++ {
			j := int(b.BlockCol[p])
			_, w := b.BlockDims(i, j)
			src := b.BlockOffset(int(p))
			full := blockMode && w == b.C
			if full {
				if nTail != 0 {
					return nil, fmt.Errorf("internal: full block after a ragged one in block row %d", i)
				}
				nFull++
				l.KIdx = append(l.KIdx, int32(j*b.C))
			} else {
				nTail += int32(w)
			}
			for c := 0; c < w; c++ {
				if !full {
					l.KIdx = append(l.KIdx, int32(j*b.C+c))
				}
				for r := 0; r < rows; r++ {
					put(vp+int64(r), src+int64(r*w+c))
				}
				vp += int64(h)
			}
		}
		l.Hdr[2*i], l.Hdr[2*i+1] = nFull, nTail
		l.KOff[i+1] = int64(len(l.KIdx))
		l.VOff[i+1] = vp
		l.Cost[i+1] = l.Cost[i] + (vp-l.VOff[i])/int64(h)*int64(rows) + 1
	}
	return l, nil
}

// UnitRows returns the output rows [r0, r1) of unit u.
func (l *BSRLayout) UnitRows(u int) (int, int) { return u * l.R, min((u+1)*l.R, l.M) }

// Bytes is the packed size.
func (l *BSRLayout) Bytes() int64 {
	return int64(len(l.Val))*4 + int64(len(l.LP)) + int64(len(l.KIdx))*4 + int64(len(l.Hdr))*4 + int64(len(l.KOff)+len(l.VOff)+len(l.Cost)+len(l.LPOff))*8
}

// runGo is the pure-Go kernel on the packed layout: separate multiply and add in the
// reference's order, so its results equal ref.BSR bit for bit.
func (l *BSRLayout) runGo(u0, u1 int, x []float32, ldx int, y []float32, ldy, n int, epi *ref.Epilogue) {
	var buf []float32
	if l.DType != 0 {
		buf = make([]float32, l.H)
	}
	// weights returns the rows weights of the step at slot vp of unit u as float32: Val's,
	// or the low-precision ones widened as BSRLP.ToBSR widens them.
	weights := func(u int, vp int64, rows int) []float32 {
		if l.DType == 0 {
			return l.Val[vp : vp+int64(rows)]
		}
		return l.widenStep(u, vp, buf[:rows])
	}
	acc := make([]float32, l.H*n)
	for u := u0; u < u1; u++ {
		r0, r1 := l.UnitRows(u)
		rows := r1 - r0
		clear(acc[:rows*n])
		kp, vp := l.KOff[u], l.VOff[u]
		nFull, nTail := int(l.Hdr[2*u]), int(l.Hdr[2*u+1])
		for b := 0; b < nFull; b++ {
			k0 := int(l.KIdx[kp])
			kp++
			for c := 0; c < l.CW; c++ {
				xr := x[(k0+c)*ldx:][:n]
				w := weights(u, vp, rows)
				for r, wv := range w {
					axpyGo(acc[r*n:(r+1)*n], wv, xr)
				}
				vp += int64(l.H)
			}
		}
		for s := 0; s < nTail; s++ {
			xr := x[int(l.KIdx[kp])*ldx:][:n]
			kp++
			w := weights(u, vp, rows)
			for r, wv := range w {
				axpyGo(acc[r*n:(r+1)*n], wv, xr)
			}
			vp += int64(l.H)
		}
		for r := 0; r < rows; r++ {
			storeGo(y[(r0+r)*ldy:][:n], acc[r*n:(r+1)*n], r0+r, epi)
		}
	}
}

// axpyGo and storeGo are ref's axpy and store: the same expression, so the same rounding.
func axpyGo(acc []float32, a float32, x []float32) {
	x = x[:len(acc)]
	for i := range acc {
		acc[i] += a * x[i]
	}
}

func storeGo(y, acc []float32, m int, epi *ref.Epilogue) {
	for i, v := range acc {
		y[i] = epi.Apply(v, m, y[i])
	}
}

// bsrKernel is a packed BSR with the kernel that runs it.
type bsrKernel struct {
	name string // the family's
	isa  ISA
	tile int // columns per tile of the generated kernel (0: pure Go)
	l    *BSRLayout
	run  func(l *BSRLayout, u0, u1 int, x []float32, ldx int, y []float32, ldy, n int, epi *ref.Epilogue)
}

func (k *bsrKernel) Name() string              { return k.name }
func (k *bsrKernel) ISA() ISA                  { return k.isa }
func (k *bsrKernel) Shape() (int, int)         { return k.l.M, k.l.K }
func (k *bsrKernel) Units() int                { return k.l.Units }
func (k *bsrKernel) UnitRows(u int) (int, int) { return k.l.UnitRows(u) }
func (k *bsrKernel) UnitCost() []int64         { return k.l.Cost }
func (k *bsrKernel) PackedBytes() int64        { return k.l.Bytes() }
func (k *bsrKernel) Layout() *BSRLayout        { return k.l }
func (k *bsrKernel) String() string            { return k.name }
func (k *bsrKernel) Run(u0, u1 int, x []float32, ldx int, y []float32, ldy, n int, epi *ref.Epilogue) error {
	if err := CheckRun(k, u0, u1, x, ldx, y, ldy, n, epi); err != nil {
		return err
	}
	if n == 0 || u0 == u1 {
		return nil
	}
	k.run(k.l, u0, u1, x, ldx, y, ldy, n, epi)
	return nil
}

func bsrGoRun(l *BSRLayout, u0, u1 int, x []float32, ldx int, y []float32, ldy, n int, epi *ref.Epilogue) {
	l.runGo(u0, u1, x, ldx, y, ldy, n, epi)
}

// The pure-Go family takes any R×C: step mode for C = 1 or C > 4, block mode otherwise.
func init() {
	Register(Family{
		Desc: &Desc{Name: "bsr_packed_generic", Source: "asm/bsr.go runGo", Format: "bsr", ISA: Generic, DType: "float32"},
		Pack: func(w formats.Matrix) (Kernel, error) {
			b, ok := w.(*formats.BSR)
			if !ok {
				return nil, ErrNotApplicable
			}
			l, err := PackBSR(b, b.R, b.C > 1)
			if err != nil {
				return nil, err
			}
			return &bsrKernel{name: "bsr_packed_generic", isa: Generic, l: l, run: bsrGoRun}, nil
		},
	})
}
