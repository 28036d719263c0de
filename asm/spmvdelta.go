package asm

import (
	"fmt"
	"sync"

	"github.com/sparsegen/sparsegen/formats"
	"github.com/sparsegen/sparsegen/ref"
)

// CSR × vector (N = 1) with 8-bit column deltas (gen/kernels/spmvdelta.go, issue 17): W in
// blocks of at most 4096 columns (X[block] stays in L1; the rows run in runs of
// spmvBlockRows through every block, as the gather-free SpMV's do), each row of a block
// stored as (value, delta) entries in column order, delta = column − the previous entry's
// column (the first entry's: the column within the block). A gap over 255 is bridged by
// padding entries of value 0 and delta 255: they add 0·x = 0 for finite X (dispatch runs a
// non-finite X on the reference kernels, dispatch/nonfinite.go; here 0·Inf makes NaN).
// Bytes per stored weight: the value's (4; 2 for bf16 and fp16; 1 for int8) plus one, plus
// the padding's share (DeltaLayout.BytesPerWeight). The kernel is the gather-free SpMV's
// (one FMA of x[col] broadcast per entry, one accumulator per lane, a blend tree): each
// row's block sum is ReduceAdd of lane partial sums, the blocks' sums added through Y in
// order, so the order depends on the plan (K, Lanes) only and results agree with the other
// CSR kernels within the SpMV tolerance, not bitwise. An int8 row's block sum is
// multiplied by the row's scale before the epilogue, as the other int8 SpMVs do.

// spmvDeltaFunc is a generated float32 8-bit-delta SpMV function, spmvDeltaLPFunc one on
// bf16, fp16 or int8 values (bytes, little-endian; scale: int8's row scales, else unread).
type (
	spmvDeltaFunc   func(vals *float32, deltas *uint8, cnt *uint32, nrows int, x *float32, y *float32, ldy int, flags int, bias *float32, lo, hi float32)
	spmvDeltaLPFunc func(vals *uint8, deltas *uint8, cnt *uint32, nrows int, x *float32, y *float32, ldy int, flags int, bias, scale *float32, lo, hi float32)
)

// deltaKB is the widest K block of the delta layouts (16 KiB of X), spmvKBlock.
const deltaKB = spmvKBlock

// deltaMax is the largest delta; a longer gap takes padding entries of deltaMax each.
const deltaMax = 255

// DeltaLayout is a CSR matrix encoded, per block of KB columns and per row, as entries of a
// value and an 8-bit column delta (the package comment above).
type DeltaLayout struct {
	M, K   int
	Lanes  int // the streams' padding (the kernels' vector width in float32 lanes)
	KB     int // columns per block (the last may be narrower)
	Blocks int // ⌈K/KB⌉ (0 when K = 0)
	// Deltas holds the entries' deltas block after block, row after row, then Lanes zeros.
	Deltas []uint8
	// Vals holds the entries' float32 values in the same order, padding entries 0, then
	// Lanes zeros. A low-precision layout (DType nonzero) holds them in LP instead, as
	// stored (little-endian, DType.Bytes() each, same order and padding), int8's row
	// scales in Scale, and Vals is nil.
	Vals  []float32
	DType formats.DType
	LP    []byte
	Scale []float32
	// Cnt[b·M + i] is the number of entries (padding included) of row i in block b, and
	// Start[b·(M+1) + i] the index of its first.
	Cnt   []uint32
	Start []int64
	nnz   int64
}

// PackDelta encodes a valid CSR matrix (validated first) for kernels of lanes (8 or 16)
// float32 lanes, in column blocks of at most 4096.
func PackDelta(w *formats.CSR, lanes int) (*DeltaLayout, error) { return packDelta(w, lanes, deltaKB) }

// PackDeltaLP is PackDelta for a valid CSR of bf16, fp16 or int8 values (validated first):
// the layout keeps the values as stored, and int8's row scales.
func PackDeltaLP(w *formats.CSRLP, lanes int) (*DeltaLayout, error) {
	return packDeltaLP(w, lanes, deltaKB)
}

func packDelta(w *formats.CSR, lanes, kb int) (*DeltaLayout, error) {
	if w == nil {
		return nil, fmt.Errorf("asm: nil CSR: %w", formats.ErrInvalid)
	}
	if err := w.Validate(); err != nil {
		return nil, err
	}
	l, err := newDeltaLayout(w.Rows, w.Cols, w.RowPtr, w.ColIdx, lanes, kb)
	if err != nil {
		return nil, err
	}
	l.Vals = make([]float32, 0, len(l.Deltas))
	l.pack(w.RowPtr, w.ColIdx, func(q int64) {
		if q < 0 {
			l.Vals = append(l.Vals, 0)
		} else {
			l.Vals = append(l.Vals, w.Val[q])
		}
	})
	l.Vals = append(l.Vals, make([]float32, lanes)...)
	return l, nil
}

func packDeltaLP(w *formats.CSRLP, lanes, kb int) (*DeltaLayout, error) {
	if w == nil {
		return nil, fmt.Errorf("asm: nil CSR: %w", formats.ErrInvalid)
	}
	if err := w.Validate(); err != nil {
		return nil, err
	}
	l, err := newDeltaLayout(w.Rows, w.Cols, w.RowPtr, w.ColIdx, lanes, kb)
	if err != nil {
		return nil, err
	}
	l.DType = w.DType
	switch w.DType {
	case formats.BF16, formats.F16:
		l.LP = make([]byte, 0, 2*len(l.Deltas))
		l.pack(w.RowPtr, w.ColIdx, func(q int64) {
			var v uint16
			if q >= 0 {
				v = w.Bits[q]
			}
			l.LP = append(l.LP, byte(v), byte(v>>8))
		})
		l.LP = append(l.LP, make([]byte, 2*lanes)...)
	case formats.I8:
		l.LP = make([]byte, 0, len(l.Deltas))
		l.pack(w.RowPtr, w.ColIdx, func(q int64) {
			var v int8
			if q >= 0 {
				v = w.I8[q]
			}
			l.LP = append(l.LP, byte(v))
		})
		l.LP = append(l.LP, make([]byte, lanes)...)
		l.Scale = append([]float32(nil), w.Scale...)
	default:
		return nil, fmt.Errorf("%w: delta layout of %v values", ErrNotApplicable, w.DType)
	}
	return l, nil
}

// newDeltaLayout lays out the deltas, counts and starts of a validated pattern.
func newDeltaLayout(rows, cols int, rowPtr []int64, colIdx []int32, lanes, kb int) (*DeltaLayout, error) {
	if lanes != 8 && lanes != 16 {
		return nil, fmt.Errorf("asm: delta layout for %d lanes (want 8 or 16)", lanes)
	}
	if kb < 1 {
		return nil, fmt.Errorf("asm: delta layout with %d-column blocks", kb)
	}
	l := &DeltaLayout{M: rows, K: cols, Lanes: lanes, KB: kb, nnz: int64(len(colIdx))}
	if cols > 0 {
		l.Blocks = (cols + kb - 1) / kb
	}
	l.Cnt = make([]uint32, l.Blocks*rows+1)
	l.Start = make([]int64, l.Blocks*(rows+1))
	l.Deltas = make([]uint8, 0, len(colIdx)+lanes)
	l.pack(rowPtr, colIdx, func(int64) {})
	l.Deltas = append(l.Deltas, make([]uint8, lanes)...)
	return l, nil
}

// pack walks the layout's entries in order, block after block and row after row: on the
// first walk (Deltas empty) it appends each delta and fills Cnt and Start; on every walk it
// calls put with the source index of each entry, −1 for padding.
func (l *DeltaLayout) pack(rowPtr []int64, colIdx []int32, put func(q int64)) {
	first := len(l.Deltas) == 0
	next := append([]int64(nil), rowPtr[:l.M]...)
	n := int64(0)
	for b := 0; b < l.Blocks; b++ {
		c0, c1 := b*l.KB, min((b+1)*l.KB, l.K)
		for i := 0; i < l.M; i++ {
			n0 := n
			p := 0
			q := next[i]
			for ; q < rowPtr[i+1] && int(colIdx[q]) < c1; q++ {
				c := int(colIdx[q]) - c0
				for c-p > deltaMax {
					if first {
						l.Deltas = append(l.Deltas, deltaMax)
					}
					put(-1)
					p += deltaMax
					n++
				}
				if first {
					l.Deltas = append(l.Deltas, uint8(c-p))
				}
				put(q)
				p = c
				n++
			}
			next[i] = q
			if first {
				l.Start[b*(l.M+1)+i] = n0
				l.Cnt[b*l.M+i] = uint32(n - n0)
			}
		}
		if first {
			l.Start[b*(l.M+1)+l.M] = n
		}
	}
}

// NNZ is the number of stored weights (padding not counted).
func (l *DeltaLayout) NNZ() int64 { return l.nnz }

// Entries is the number of packed entries, padding included.
func (l *DeltaLayout) Entries() int64 { return int64(len(l.Deltas) - l.Lanes) }

// BytesPerWeight is the bytes the kernel streams per stored weight: (value + delta) per
// entry, padding included, over the stored weights (+Inf for an empty matrix).
func (l *DeltaLayout) BytesPerWeight() float64 {
	vb := 4
	if l.DType != 0 {
		vb = l.DType.Bytes()
	}
	return float64(int64(vb+1)*l.Entries()) / float64(l.nnz)
}

// val is the p-th entry's value, widened (int8: the stored integer, before the row scale).
func (l *DeltaLayout) val(p int64) float32 {
	switch l.DType {
	case formats.BF16:
		return formats.BF16ToFloat32(uint16(l.LP[2*p]) | uint16(l.LP[2*p+1])<<8)
	case formats.F16:
		return formats.F16ToFloat32(uint16(l.LP[2*p]) | uint16(l.LP[2*p+1])<<8)
	case formats.I8:
		return float32(int8(l.LP[p]))
	}
	return l.Vals[p]
}

// mulRows is the pure-Go kernel (purego builds, and the reference of the layout's
// decoding): y[(i−r0)·ldy] = epi(Σ_k W[i, k]·x[k]) over rows [r0, r1), the epilogue of
// flags as the generated kernels apply it. Each row sums its entries in order, padding
// included, in one float32 (int8: then times the row's scale).
func (l *DeltaLayout) mulRows(r0, r1 int, x, y []float32, ldy, flags int, bias []float32, lo, hi float32) {
	for i := r0; i < r1; i++ {
		var s float32
		for b := 0; b < l.Blocks; b++ {
			p := l.Start[b*(l.M+1)+i]
			xs := x[b*l.KB:]
			c := 0
			for e := p; e < p+int64(l.Cnt[b*l.M+i]); e++ {
				c += int(l.Deltas[e])
				s += l.val(e) * xs[c]
			}
		}
		y[(i-r0)*ldy] = rowEpilogueGo(s, l.Scale, i, y[(i-r0)*ldy], flags, bias, lo, hi)
	}
}

// MulVec sets y = W·x (len(x) ≥ K, len(y) ≥ M) with the pure-Go kernel.
func (l *DeltaLayout) MulVec(x, y []float32) error {
	if len(x) < l.K || len(y) < l.M {
		return fmt.Errorf("%w: delta %d×%d times x[%d] into y[%d]", ref.ErrShape, l.M, l.K, len(x), len(y))
	}
	l.mulRows(0, l.M, x, y, 1, 0, nil, 0, 0)
	return nil
}

// spmvDeltaSpec is one 8-bit-delta SpMV family: its descriptor and generated function
// (both nil: the pure-Go kernel).
type spmvDeltaSpec struct {
	Desc
	fn   spmvDeltaFunc
	lp   formats.DType // nonzero: packs a CSRLP of lp (PackDeltaLP) and runs fnLP
	fnLP spmvDeltaLPFunc
}

// spmvDeltaSpecs are the registered 8-bit-delta SpMV families (tests run each).
var spmvDeltaSpecs []*spmvDeltaSpec

// registerSpMVDelta registers the delta SpMV families of a generated manifest: a float32
// entry runs fn on a CSR, a bf16, fp16 or int8 entry fnLP on a CSRLP of its dtype.
func registerSpMVDelta(m []Desc, fn spmvDeltaFunc, fnLP spmvDeltaLPFunc) {
	for _, d := range m {
		s := &spmvDeltaSpec{Desc: d, fn: fn}
		if t, ok := bitmapDTypes[d.DType]; ok {
			s.fn, s.lp, s.fnLP = nil, t, fnLP
		}
		if s.fn == nil && s.fnLP == nil {
			panic(fmt.Sprintf("asm: delta family %s registered without its function", d.Name))
		}
		spmvDeltaSpecs = append(spmvDeltaSpecs, s)
		Register(Family{
			Desc: &s.Desc,
			Pack: func(w formats.Matrix) (Kernel, error) { return packSpMVDelta(s, w, deltaKB) },
		})
	}
}

type spmvDeltaKernel struct {
	spec *spmvDeltaSpec
	l    *DeltaLayout
	cost []int64
	pool sync.Pool
}

// packSpMVDelta packs w (a CSR, or a CSRLP of s's dtype) in K blocks of at most kb columns
// (tests use narrow ones).
func packSpMVDelta(s *spmvDeltaSpec, w formats.Matrix, kb int) (*spmvDeltaKernel, error) {
	var l *DeltaLayout
	var err error
	if s.lp != 0 {
		c, ok := w.(*formats.CSRLP)
		if !ok || c == nil || c.DType != s.lp {
			return nil, fmt.Errorf("%w: %s takes a CSR of %s values (formats.CSRLP), not %s", ErrNotApplicable, s.Name, s.lp, describeLP(w))
		}
		l, err = packDeltaLP(c, s.Lanes, kb)
	} else {
		c, ok := w.(*formats.CSR)
		if !ok {
			return nil, fmt.Errorf("%w: %s takes CSR, not %T", ErrNotApplicable, s.Name, w)
		}
		l, err = packDelta(c, s.Lanes, kb)
	}
	if err != nil {
		return nil, err
	}
	k := &spmvDeltaKernel{spec: s, l: l, cost: make([]int64, l.M+1)}
	for i := 0; i < l.M; i++ {
		// Per row: its entries (padding included) and a store per block.
		e := int64(l.Blocks)
		for b := 0; b < l.Blocks; b++ {
			e += int64(l.Cnt[b*l.M+i])
		}
		k.cost[i+1] = k.cost[i] + e
	}
	return k, nil
}

func (k *spmvDeltaKernel) Name() string              { return k.spec.Name }
func (k *spmvDeltaKernel) ISA() ISA                  { return k.spec.ISA }
func (k *spmvDeltaKernel) Shape() (int, int)         { return k.l.M, k.l.K }
func (k *spmvDeltaKernel) Units() int                { return k.l.M }
func (k *spmvDeltaKernel) UnitRows(u int) (int, int) { return u, u + 1 }
func (k *spmvDeltaKernel) UnitCost() []int64         { return k.cost }
func (k *spmvDeltaKernel) PackedBytes() int64 {
	l := k.l
	return int64(len(l.Vals))*4 + int64(len(l.LP)) + int64(len(l.Scale))*4 + int64(len(l.Deltas)) + int64(len(l.Cnt))*4 + int64(len(l.Start))*8
}

// Layout is the packed encoding (read-only).
func (k *spmvDeltaKernel) Layout() *DeltaLayout { return k.l }

func (k *spmvDeltaKernel) Run(u0, u1 int, x []float32, ldx int, y []float32, ldy, n int, epi *ref.Epilogue) error {
	if err := CheckRun(k, u0, u1, x, ldx, y, ldy, n, epi); err != nil {
		return err
	}
	if n == 0 || u0 == u1 {
		return nil
	}
	l := k.l
	first, last, lo, hi, bias, post := csrEpilogue(epi)
	var dummy float32
	var bp *[]float32
	defer releaseColumnX(&k.pool, &bp)
	for j := 0; j < n; j++ {
		xv := columnX(&k.pool, &bp, x, ldx, l.K, j)
		if (k.spec.fn == nil && k.spec.fnLP == nil) || l.K == 0 {
			l.mulRows(u0, u1, xv, y[u0*ldy+j:], ldy, first|last, bias, lo, hi)
			activateTile(post, y, ldy, u0, u1, j, j+1)
			continue
		}
		// Rows in runs of spmvBlockRows, each through every block (its Y stays in cache):
		// the first block stores (or adds to Y, Accumulate), later ones add, the last adds
		// the bias and clamps. A call takes at most about spmvChunk entries.
		for r0 := u0; r0 < u1; r0 += spmvBlockRows {
			r1 := min(u1, r0+spmvBlockRows)
			for b := 0; b < l.Blocks; b++ {
				flags := blockFlags(b, l.Blocks, first, last)
				st := l.Start[b*(l.M+1):]
				for r := r0; r < r1; {
					re := r + 1
					for re < r1 && st[re+1]-st[r] <= spmvChunk {
						re++
					}
					bptr := &dummy
					if flags&epiBias != 0 {
						bptr = &bias[r]
					}
					p := st[r]
					xp, yp, cp := &xv[b*l.KB], &y[r*ldy+j], &l.Cnt[b*l.M+r]
					if l.DType == 0 {
						k.spec.fn(&l.Vals[p], &l.Deltas[p], cp, re-r, xp, yp, ldy, flags, bptr, lo, hi)
					} else {
						sp := &dummy
						if l.Scale != nil {
							sp = &l.Scale[r]
						}
						k.spec.fnLP(&l.LP[p*int64(l.DType.Bytes())], &l.Deltas[p], cp, re-r, xp, yp, ldy, flags, bptr, sp, lo, hi)
					}
					r = re
				}
			}
		}
		activateTile(post, y, ldy, u0, u1, j, j+1)
	}
	return nil
}
