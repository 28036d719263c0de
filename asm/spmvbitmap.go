package asm

import (
	"fmt"
	"math/bits"
	"sync"

	"github.com/sparsegen/sparsegen/formats"
	"github.com/sparsegen/sparsegen/ref"
)

// Bitmap-encoded CSR × vector (N = 1; gen/kernels/spmvbitmap.go, issue 17): each row is cut
// into K blocks of at most 4096 columns and those into chunks of Lanes columns (16 on AVX-512, 8 on AVX2); a chunk stores a Lanes-bit mask
// of the columns that hold a weight, and its weights packed in column order. The kernel
// loads X[chunk] contiguously (masked: absent columns are never read) and expands the packed
// values to their lanes (VEXPANDPS; on AVX2 a 256-entry permutation table and VPERMPS):
// no gathers and no column indices. Bytes per stored weight are 4 + Lanes/(8·nnz per chunk)
// = 4 + 1/(8·density): 4.25 at 50%, 4.625 at 20%, 5.25 at 10%, 6.5 at 5%, where CSR stores
// 6 (16-bit indices) or 8 (32-bit). Each row's sum runs in 4 lane-vector accumulators (chunk
// c into c mod 4), then a fixed reduction tree, per K block, the blocks' sums added
// through Y in order: the order depends on the plan (K, Lanes) only, and differs from CSR's storage order, so results agree with the CSR kernels within
// the SpMV tolerance, not bitwise. The low-precision families (csr_bf16, csr_f16, csr_i8:
// PackBitmapLP) keep the values as stored, 2 or 1 bytes each (2.25 or 1.25 bytes per weight
// at 50%), widened before the expand; an int8 row's sum (of each K block) is multiplied by
// its scale before the epilogue, as the int8 gather SpMV does (asm/spmvlp.go).

// spmvBitmapFunc is a generated bitmap SpMV function (gen/kernels/spmvbitmap.go).
type spmvBitmapFunc func(vals *float32, masks *uint8, nrows int, chunks int, x *float32, y *float32, ldy int, flags int, bias *float32, lo, hi float32)

// spmvBitmap16Func is a generated bitmap SpMV function on 16-bit values, bf16 or fp16
// (PackBitmapLP), and spmvBitmapI8Func one on int8 values, each row's sum times its scale:
// families of format csr_bf16, csr_f16 and csr_i8 that dispatch's low-precision choice
// (dispatch/lowp.go) runs at N = 1 only where W's density is above the float32 bitmap's
// crossover.
type (
	spmvBitmap16Func func(vals *uint16, masks *uint8, nrows int, chunks int, x *float32, y *float32, ldy int, flags int, bias *float32, lo, hi float32)
	spmvBitmapI8Func func(vals *uint8, masks *uint8, nrows int, chunks int, x *float32, y *float32, ldy int, flags int, bias, scale *float32, lo, hi float32)
)

// BitmapLayout is a CSR matrix encoded per row as bitmaps of Lanes-column chunks and the
// chunks' values packed, in blocks of KB columns (X[block] stays in L1 while every row runs
// over it; a K of 11008 streamed X from L2 once per row and ran 1.5× slower than a K of
// 4096 on the same bytes). Bytes per stored weight: BytesPerWeight.
type BitmapLayout struct {
	M, K   int
	Lanes  int // columns per chunk: 8 or 16
	KB     int // columns per K block, a multiple of Lanes (the last block may be narrower)
	Blocks int // K blocks, ⌈K/KB⌉ (0 when K = 0)
	// Masks holds, block after block, the block's M rows of masks: ⌈width/Lanes⌉ masks of
	// Lanes/8 bytes per row (little-endian; bit j of chunk c: column b·KB + c·Lanes + j of
	// the row is stored), then 8 bytes of zero padding. Bits at columns ≥ K are 0.
	Masks []byte
	// Vals holds the stored values block after block, row after row, in column order, then
	// Lanes zeros: the kernels read Lanes values at the value pointer whatever the mask.
	// A layout of low-precision values (PackBitmapLP; DType nonzero) holds them as stored
	// instead, in the same order and padding, and Vals is nil: bf16 and fp16 bit patterns in
	// Bits, int8 in I8 (as bytes) with the row scales in Scale.
	Vals  []float32
	DType formats.DType // 0: float32 (Vals)
	Bits  []uint16
	I8    []uint8
	Scale []float32
	// BlockPtr[b·(M+1) + i] is the index in Vals of row i's first value in block b (len
	// Blocks·(M+1)).
	BlockPtr []int64
	nnz      int64
}

// bitmapKB is the K block of the bitmap layouts: ≤ 4096 columns (16 KiB of X).
const bitmapKB = 4096

// PackBitmap encodes a valid CSR matrix (it is validated first) in chunks of lanes columns
// (8 or 16), in K blocks of at most 4096 columns, of equal widths (multiples of lanes).
func PackBitmap(w *formats.CSR, lanes int) (*BitmapLayout, error) {
	return packBitmap(w, lanes, bitmapKB)
}

// PackBitmapLP is PackBitmap for a valid CSR matrix of bf16, fp16 or int8 values (validated
// first): the layout keeps the values as stored (and int8's row scales).
func PackBitmapLP(w *formats.CSRLP, lanes int) (*BitmapLayout, error) {
	return packBitmapLP(w, lanes, bitmapKB)
}

func packBitmapLP(w *formats.CSRLP, lanes, maxKB int) (*BitmapLayout, error) {
	if w == nil {
		return nil, fmt.Errorf("asm: nil CSR: %w", formats.ErrInvalid)
	}
	if err := w.Validate(); err != nil {
		return nil, err
	}
	l, err := packBitmapPattern(w.Rows, w.Cols, w.RowPtr, w.ColIdx, lanes, maxKB)
	if err != nil {
		return nil, err
	}
	l.DType = w.DType
	switch w.DType {
	case formats.BF16, formats.F16:
		l.Bits = make([]uint16, 0, len(w.Bits)+lanes)
		l.packValues(w.RowPtr, w.ColIdx, func(q int64) { l.Bits = append(l.Bits, w.Bits[q]) })
		l.Bits = append(l.Bits, make([]uint16, lanes)...)
	case formats.I8:
		l.I8 = make([]uint8, 0, len(w.I8)+lanes)
		l.packValues(w.RowPtr, w.ColIdx, func(q int64) { l.I8 = append(l.I8, uint8(w.I8[q])) })
		l.I8 = append(l.I8, make([]uint8, lanes)...)
		l.Scale = append([]float32(nil), w.Scale...)
	default:
		return nil, fmt.Errorf("%w: bitmap layout of %v values", ErrNotApplicable, w.DType)
	}
	return l, nil
}

// packBitmap is PackBitmap with K blocks of at most maxKB columns (a multiple of lanes).
func packBitmap(w *formats.CSR, lanes, maxKB int) (*BitmapLayout, error) {
	if w == nil {
		return nil, fmt.Errorf("asm: nil CSR: %w", formats.ErrInvalid)
	}
	if err := w.Validate(); err != nil {
		return nil, err
	}
	l, err := packBitmapPattern(w.Rows, w.Cols, w.RowPtr, w.ColIdx, lanes, maxKB)
	if err != nil {
		return nil, err
	}
	l.Vals = make([]float32, 0, len(w.Val)+lanes)
	l.packValues(w.RowPtr, w.ColIdx, func(q int64) { l.Vals = append(l.Vals, w.Val[q]) })
	l.Vals = append(l.Vals, make([]float32, lanes)...)
	return l, nil
}

// packBitmapPattern lays out the blocks and masks of a validated pattern.
func packBitmapPattern(rows, cols int, rowPtr []int64, colIdx []int32, lanes, maxKB int) (*BitmapLayout, error) {
	if lanes != 8 && lanes != 16 {
		return nil, fmt.Errorf("asm: bitmap chunks of %d columns (want 8 or 16)", lanes)
	}
	mb := lanes / 8
	l := &BitmapLayout{M: rows, K: cols, Lanes: lanes, nnz: int64(len(colIdx))}
	if cols > 0 {
		l.Blocks = (cols + maxKB - 1) / maxKB
		l.KB = ((cols+l.Blocks-1)/l.Blocks + lanes - 1) / lanes * lanes
		l.Blocks = (cols + l.KB - 1) / l.KB
	}
	masks := 0
	for b := 0; b < l.Blocks; b++ {
		masks += rows * l.chunks(b) * mb
	}
	l.Masks = make([]byte, masks+8)
	l.BlockPtr = make([]int64, l.Blocks*(rows+1))
	next := append([]int64(nil), rowPtr[:rows]...) // each row's first entry not yet laid out
	mo, n := 0, int64(0)
	for b := 0; b < l.Blocks; b++ {
		c0, c1 := b*l.KB, min((b+1)*l.KB, cols)
		cb := l.chunks(b)
		for i := 0; i < rows; i++ {
			l.BlockPtr[b*(rows+1)+i] = n
			row := l.Masks[mo+i*cb*mb:]
			q := next[i]
			for ; q < rowPtr[i+1] && int(colIdx[q]) < c1; q++ {
				c := int(colIdx[q]) - c0
				ch, bit := c/lanes, uint(c)%uint(lanes)
				row[ch*mb+int(bit/8)] |= 1 << (bit % 8)
				n++
			}
			next[i] = q
		}
		l.BlockPtr[b*(rows+1)+rows] = n
		mo += rows * cb * mb
	}
	return l, nil
}

// packValues calls put with the index of each stored entry in the layout's value order.
func (l *BitmapLayout) packValues(rowPtr []int64, colIdx []int32, put func(q int64)) {
	next := append([]int64(nil), rowPtr[:l.M]...)
	for b := 0; b < l.Blocks; b++ {
		c1 := min((b+1)*l.KB, l.K)
		for i := 0; i < l.M; i++ {
			q := next[i]
			for ; q < rowPtr[i+1] && int(colIdx[q]) < c1; q++ {
				put(q)
			}
			next[i] = q
		}
	}
}

// val is the p-th stored value, widened (int8: the stored integer, before the row scale).
func (l *BitmapLayout) val(p int64) float32 {
	switch l.DType {
	case formats.BF16:
		return formats.BF16ToFloat32(l.Bits[p])
	case formats.F16:
		return formats.F16ToFloat32(l.Bits[p])
	case formats.I8:
		return float32(int8(l.I8[p]))
	}
	return l.Vals[p]
}

// chunks is the number of chunks per row of block b.
func (l *BitmapLayout) chunks(b int) int {
	return (min((b+1)*l.KB, l.K) - b*l.KB + l.Lanes - 1) / l.Lanes
}

// maskOff is the offset in Masks of block b's masks.
func (l *BitmapLayout) maskOff(b int) int { return b * l.M * (l.KB / l.Lanes) * (l.Lanes / 8) }

// MaskBytes is the bytes of the masks without padding.
func (l *BitmapLayout) MaskBytes() int64 { return int64(len(l.Masks) - 8) }

// NNZ is the number of stored weights.
func (l *BitmapLayout) NNZ() int64 { return l.nnz }

// BytesPerWeight is the bytes the kernel streams per stored weight: the value's (4, or 2
// for bf16 and fp16, 1 for int8) plus the masks' share, MaskBytes/NNZ (+Inf for an empty
// matrix).
func (l *BitmapLayout) BytesPerWeight() float64 {
	vb := 4
	if l.DType != 0 {
		vb = l.DType.Bytes()
	}
	return float64(vb) + float64(l.MaskBytes())/float64(l.NNZ())
}

// mask returns the mask of chunk c of row i in block b.
func (l *BitmapLayout) mask(b, i, c int) uint32 {
	p := l.maskOff(b) + (i*l.chunks(b)+c)*(l.Lanes/8)
	if l.Lanes == 8 {
		return uint32(l.Masks[p])
	}
	return uint32(l.Masks[p]) | uint32(l.Masks[p+1])<<8
}

// mulRows is the pure-Go kernel (purego builds, and the reference of the layout's
// decoding): y[(i−r0)·ldy] = epi(Σ_k W[i, k]·x[k]) over rows [r0, r1), the epilogue of
// flags (bias, Accumulate from y, clamp to [lo, hi]) as the generated kernels apply it.
// Each row sums in column order, in one float32 (int8: then times the row's scale).
func (l *BitmapLayout) mulRows(r0, r1 int, x, y []float32, ldy, flags int, bias []float32, lo, hi float32) {
	for i := r0; i < r1; i++ {
		var s float32
		for b := 0; b < l.Blocks; b++ {
			p := l.BlockPtr[b*(l.M+1)+i]
			for c := 0; c < l.chunks(b); c++ {
				m := l.mask(b, i, c)
				xs := x[b*l.KB+c*l.Lanes:]
				for m != 0 {
					j := bits.TrailingZeros32(m)
					s += l.val(p) * xs[j]
					p++
					m &= m - 1
				}
			}
		}
		y[(i-r0)*ldy] = rowEpilogueGo(s, l.Scale, i, y[(i-r0)*ldy], flags, bias, lo, hi)
	}
}

// rowEpilogueGo finishes row i's sum s in a pure-Go N = 1 kernel as the generated ones do:
// times the row's scale (int8 weights; scale nil otherwise), plus bias[i] (epiBias), plus
// old, Y's value (epiLoadY), clamped to [lo, hi] unless NaN (epiClamp).
func rowEpilogueGo(s float32, scale []float32, i int, old float32, flags int, bias []float32, lo, hi float32) float32 {
	if scale != nil {
		s *= scale[i]
	}
	if flags&epiBias != 0 {
		s += bias[i]
	}
	if flags&epiLoadY != 0 {
		s += old
	}
	if flags&epiClamp != 0 && s == s {
		s = min(max(s, lo), hi)
	}
	return s
}

// MulVec sets y = W·x (len(x) ≥ K, len(y) ≥ M) with the pure-Go kernel.
func (l *BitmapLayout) MulVec(x, y []float32) error {
	if len(x) < l.K || len(y) < l.M {
		return fmt.Errorf("%w: bitmap %d×%d times x[%d] into y[%d]", ref.ErrShape, l.M, l.K, len(x), len(y))
	}
	l.mulRows(0, l.M, x, y, 1, 0, nil, 0, 0)
	return nil
}

// spmvBitmapSpec is one bitmap SpMV family: its descriptor and generated function (all
// nil: the pure-Go kernel).
type spmvBitmapSpec struct {
	Desc
	fn   spmvBitmapFunc
	lp   formats.DType // nonzero: packs a CSRLP of lp (PackBitmapLP) and runs fn16 or fnI8
	fn16 spmvBitmap16Func
	fnI8 spmvBitmapI8Func
}

// spmvBitmapSpecs are the registered bitmap SpMV families, float32, bf16, fp16 and int8
// (tests run each).
var spmvBitmapSpecs []*spmvBitmapSpec

// bitmapDTypes are the low-precision dtypes by their descriptor name.
var bitmapDTypes = map[string]formats.DType{"bf16": formats.BF16, "f16": formats.F16, "i8": formats.I8}

// registerSpMVBitmap registers the bitmap SpMV families of a generated manifest: its
// float32 entry runs fn on a CSR, its bf16 and fp16 entries fn16 and its int8 entry fnI8 on
// a CSRLP of their dtype (a manifest holds one function of each kind at most).
func registerSpMVBitmap(m []Desc, fn spmvBitmapFunc, fn16 spmvBitmap16Func, fnI8 spmvBitmapI8Func) {
	for _, d := range m {
		s := &spmvBitmapSpec{Desc: d, fn: fn}
		if t, ok := bitmapDTypes[d.DType]; ok {
			s.fn, s.lp = nil, t
			if t == formats.I8 {
				s.fnI8 = fnI8
			} else {
				s.fn16 = fn16
			}
		}
		if s.fn == nil && s.fn16 == nil && s.fnI8 == nil {
			panic(fmt.Sprintf("asm: bitmap family %s registered without its function", d.Name))
		}
		if s.lp != 0 && d.Format == NMLPFormat(s.lp) {
			registerNMBitmap(s) // the same kernel on N:M weights (nmbitmap.go)
			continue
		}
		spmvBitmapSpecs = append(spmvBitmapSpecs, s)
		Register(Family{
			Desc: &s.Desc,
			Pack: func(w formats.Matrix) (Kernel, error) {
				if s.lp != 0 {
					c, ok := w.(*formats.CSRLP)
					if !ok {
						return nil, fmt.Errorf("%w: %s takes a CSR of %s values (formats.CSRLP), not %s", ErrNotApplicable, s.Name, s.lp, describeLP(w))
					}
					return packSpMVBitmapLP(s, c, bitmapKB)
				}
				c, ok := w.(*formats.CSR)
				if !ok {
					return nil, fmt.Errorf("%w: %s takes CSR, not %T", ErrNotApplicable, s.Name, w)
				}
				return packSpMVBitmap(s, c)
			},
		})
	}
}

type spmvBitmapKernel struct {
	spec *spmvBitmapSpec
	l    *BitmapLayout
	cost []int64
	pool sync.Pool
}

func packSpMVBitmap(s *spmvBitmapSpec, w *formats.CSR) (*spmvBitmapKernel, error) {
	return packSpMVBitmapKB(s, w, bitmapKB)
}

// packSpMVBitmapKB packs with K blocks of at most maxKB columns (tests use narrow ones).
func packSpMVBitmapKB(s *spmvBitmapSpec, w *formats.CSR, maxKB int) (*spmvBitmapKernel, error) {
	l, err := packBitmap(w, s.Lanes, maxKB)
	if err != nil {
		return nil, err
	}
	return newSpMVBitmapKernel(s, l, w.RowPtr), nil
}

// packSpMVBitmapLP packs a low-precision CSR for a spec of its dtype (validated first), K
// blocks of at most maxKB columns.
func packSpMVBitmapLP(s *spmvBitmapSpec, w *formats.CSRLP, maxKB int) (*spmvBitmapKernel, error) {
	if s.lp == 0 {
		return nil, fmt.Errorf("%w: %s takes float32 values", ErrNotApplicable, s.Name)
	}
	if w == nil {
		return nil, fmt.Errorf("asm: nil CSR: %w", formats.ErrInvalid)
	}
	if w.DType != s.lp {
		return nil, fmt.Errorf("%w: %s takes %s values, not %s", ErrNotApplicable, s.Name, s.lp, w.DType)
	}
	l, err := packBitmapLP(w, s.Lanes, maxKB)
	if err != nil {
		return nil, err
	}
	return newSpMVBitmapKernel(s, l, w.RowPtr), nil
}

func newSpMVBitmapKernel(s *spmvBitmapSpec, l *BitmapLayout, rowPtr []int64) *spmvBitmapKernel {
	k := &spmvBitmapKernel{spec: s, l: l, cost: make([]int64, l.M+1)}
	chunks := int64((l.K + l.Lanes - 1) / l.Lanes)
	for i := 0; i < l.M; i++ {
		// Per row: its values, a fifth of its chunks (one mask each), the store.
		k.cost[i+1] = k.cost[i] + (rowPtr[i+1] - rowPtr[i]) + chunks/5 + 1
	}
	return k
}

func (k *spmvBitmapKernel) Name() string              { return k.spec.Name }
func (k *spmvBitmapKernel) ISA() ISA                  { return k.spec.ISA }
func (k *spmvBitmapKernel) Shape() (int, int)         { return k.l.M, k.l.K }
func (k *spmvBitmapKernel) Units() int                { return k.l.M }
func (k *spmvBitmapKernel) UnitRows(u int) (int, int) { return u, u + 1 }
func (k *spmvBitmapKernel) UnitCost() []int64         { return k.cost }
func (k *spmvBitmapKernel) PackedBytes() int64 {
	return int64(len(k.l.Vals))*4 + int64(len(k.l.Bits))*2 + int64(len(k.l.I8)) + int64(len(k.l.Scale))*4 + int64(len(k.l.Masks)) + int64(len(k.l.BlockPtr))*8
}

// Layout is the packed encoding (read-only).
func (k *spmvBitmapKernel) Layout() *BitmapLayout { return k.l }

func (k *spmvBitmapKernel) Run(u0, u1 int, x []float32, ldx int, y []float32, ldy, n int, epi *ref.Epilogue) error {
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
	mb := l.Lanes / 8
	defer releaseColumnX(&k.pool, &bp)
	for j := 0; j < n; j++ {
		xv := columnX(&k.pool, &bp, x, ldx, l.K, j)
		if (k.spec.fn == nil && k.spec.fn16 == nil && k.spec.fnI8 == nil) || l.K == 0 {
			l.mulRows(u0, u1, xv, y[u0*ldy+j:], ldy, first|last, bias, lo, hi)
			activateTile(post, y, ldy, u0, u1, j, j+1)
			continue
		}
		// K block by K block over all the rows (X[block] stays in L1): the first starts from
		// zero (or Y, Accumulate), later ones add Y's partial sum, the last adds the bias
		// and clamps. Rows per call: about spmvChunk masks (~100 µs even from DRAM).
		for b := 0; b < l.Blocks; b++ {
			flags := blockFlags(b, l.Blocks, first, last)
			cb := l.chunks(b)
			step := max(1, spmvChunk/max(1, cb))
			for r := u0; r < u1; r += step {
				re := min(r+step, u1)
				bptr := &dummy
				if flags&epiBias != 0 {
					bptr = &bias[r]
				}
				vp, mp := l.BlockPtr[b*(l.M+1)+r], &l.Masks[l.maskOff(b)+r*cb*mb]
				switch {
				case l.Bits != nil:
					k.spec.fn16(&l.Bits[vp], mp, re-r, cb, &xv[b*l.KB], &y[r*ldy+j], ldy, flags, bptr, lo, hi)
				case l.I8 != nil:
					k.spec.fnI8(&l.I8[vp], mp, re-r, cb, &xv[b*l.KB], &y[r*ldy+j], ldy, flags, bptr, &l.Scale[r], lo, hi)
				default:
					k.spec.fn(&l.Vals[vp], mp, re-r, cb, &xv[b*l.KB], &y[r*ldy+j], ldy, flags, bptr, lo, hi)
				}
			}
		}
		activateTile(post, y, ldy, u0, u1, j, j+1)
	}
	return nil
}
