package asm

import (
	"fmt"
	"math/bits"
	"sync"

	"github.com/sparsegen/sparsegen/formats"
	"github.com/sparsegen/sparsegen/ref"
)

// Bitmap-encoded CSR × vector (N = 1; gen/kernels/spmvbitmap.go, issue 17): each row is cut
// into chunks of Lanes columns (16 on AVX-512, 8 on AVX2); a chunk stores a Lanes-bit mask
// of the columns that hold a weight, and its weights packed in column order. The kernel
// loads X[chunk] contiguously (masked: absent columns are never read) and expands the packed
// values to their lanes (VEXPANDPS; on AVX2 a 256-entry permutation table and VPERMPS):
// no gathers and no column indices. Bytes per stored weight are 4 + Lanes/(8·nnz per chunk)
// = 4 + 1/(8·density): 4.25 at 50%, 4.625 at 20%, 5.25 at 10%, 6.5 at 5%, where CSR stores
// 6 (16-bit indices) or 8 (32-bit). Each row's sum runs in 4 lane-vector accumulators (chunk
// c into c mod 4), then a fixed reduction tree: the order depends on the plan (K, Lanes)
// only, and differs from CSR's storage order, so results agree with the CSR kernels within
// the SpMV tolerance, not bitwise.

// spmvBitmapFunc is a generated bitmap SpMV function (gen/kernels/spmvbitmap.go).
type spmvBitmapFunc func(vals *float32, masks *uint8, nrows int, chunks int, x *float32, y *float32, ldy int, flags int, bias *float32, lo, hi float32)

// BitmapLayout is a CSR matrix encoded per row as bitmaps of Lanes-column chunks and the
// chunks' values packed. Bytes per stored weight: BytesPerWeight.
type BitmapLayout struct {
	M, K   int
	Lanes  int // columns per chunk: 8 or 16
	Chunks int // chunks per row, ⌈K/Lanes⌉
	// Masks holds M·Chunks masks of Lanes/8 bytes (little-endian; bit j of chunk c of row i:
	// W[i, c·Lanes + j] is stored), row after row, then 8 bytes of zero padding. Bits at
	// columns ≥ K are 0.
	Masks []byte
	// Vals holds the stored values in row, then column order (CSR's), then Lanes zeros: the
	// AVX2 kernel reads Lanes values at the value pointer whatever the mask.
	Vals []float32
	// RowPtr[i] is the index in Vals of row i's first value (CSR's RowPtr).
	RowPtr []int64
}

// PackBitmap encodes a valid CSR matrix (it is validated first) in chunks of lanes columns
// (8 or 16).
func PackBitmap(w *formats.CSR, lanes int) (*BitmapLayout, error) {
	if lanes != 8 && lanes != 16 {
		return nil, fmt.Errorf("asm: bitmap chunks of %d columns (want 8 or 16)", lanes)
	}
	if w == nil {
		return nil, fmt.Errorf("asm: nil CSR: %w", formats.ErrInvalid)
	}
	if err := w.Validate(); err != nil {
		return nil, err
	}
	mb := lanes / 8
	chunks := (w.Cols + lanes - 1) / lanes
	l := &BitmapLayout{M: w.Rows, K: w.Cols, Lanes: lanes, Chunks: chunks,
		Masks: make([]byte, w.Rows*chunks*mb+8), Vals: make([]float32, len(w.Val)+lanes),
		RowPtr: append([]int64(nil), w.RowPtr...)}
	copy(l.Vals, w.Val)
	for i := 0; i < w.Rows; i++ {
		row := l.Masks[i*chunks*mb:]
		for _, c := range w.ColIdx[w.RowPtr[i]:w.RowPtr[i+1]] {
			ch, b := int(c)/lanes, uint(c)%uint(lanes)
			row[ch*mb+int(b/8)] |= 1 << (b % 8)
		}
	}
	return l, nil
}

// MaskBytes is the bytes of the masks without padding (M·Chunks·Lanes/8).
func (l *BitmapLayout) MaskBytes() int64 { return int64(l.M) * int64(l.Chunks) * int64(l.Lanes/8) }

// NNZ is the number of stored weights.
func (l *BitmapLayout) NNZ() int64 { return l.RowPtr[l.M] }

// BytesPerWeight is the bytes the kernel streams per stored weight: 4 for the value plus
// the masks' share, 4 + MaskBytes/NNZ (+Inf for an empty matrix).
func (l *BitmapLayout) BytesPerWeight() float64 {
	return 4 + float64(l.MaskBytes())/float64(l.NNZ())
}

// mask returns the mask of chunk c of row i.
func (l *BitmapLayout) mask(i, c int) uint32 {
	if l.Lanes == 8 {
		return uint32(l.Masks[i*l.Chunks+c])
	}
	p := 2 * (i*l.Chunks + c)
	return uint32(l.Masks[p]) | uint32(l.Masks[p+1])<<8
}

// MulVec sets y[i] = Σ W[i, k]·x[k] over rows [r0, r1), with the epilogue of flags (bias,
// Accumulate from y, clamp to [lo, hi]) as the generated kernels apply it, y[i] at
// y[(i−r0)·ldy]: the pure-Go kernel (purego builds, and the reference of the layout's
// decoding). Each row sums in column order.
func (l *BitmapLayout) mulRows(r0, r1 int, x, y []float32, ldy, flags int, bias []float32, lo, hi float32) {
	for i := r0; i < r1; i++ {
		p := l.RowPtr[i]
		var s float32
		for c := 0; c < l.Chunks; c++ {
			m := l.mask(i, c)
			xs := x[c*l.Lanes:]
			for m != 0 {
				j := bits.TrailingZeros32(m)
				s += l.Vals[p] * xs[j]
				p++
				m &= m - 1
			}
		}
		if flags&epiBias != 0 {
			s += bias[i]
		}
		o := (i - r0) * ldy
		if flags&epiLoadY != 0 {
			s += y[o]
		}
		if flags&epiClamp != 0 && s == s {
			s = min(max(s, lo), hi)
		}
		y[o] = s
	}
}

// MulVec sets y = W·x (len(x) ≥ K, len(y) ≥ M) with the pure-Go kernel.
func (l *BitmapLayout) MulVec(x, y []float32) error {
	if len(x) < l.K || len(y) < l.M {
		return fmt.Errorf("%w: bitmap %d×%d times x[%d] into y[%d]", ref.ErrShape, l.M, l.K, len(x), len(y))
	}
	l.mulRows(0, l.M, x, y, 1, 0, nil, 0, 0)
	return nil
}

// spmvBitmapSpec is one bitmap SpMV family: its descriptor and generated function (nil:
// the pure-Go kernel).
type spmvBitmapSpec struct {
	Desc
	fn spmvBitmapFunc
}

var spmvBitmapSpecs []*spmvBitmapSpec

// registerSpMVBitmap registers the bitmap SpMV family of a generated manifest.
func registerSpMVBitmap(m []Desc, fn spmvBitmapFunc) {
	for _, d := range m {
		s := &spmvBitmapSpec{Desc: d, fn: fn}
		spmvBitmapSpecs = append(spmvBitmapSpecs, s)
		Register(Family{
			Desc: &s.Desc,
			Pack: func(w formats.Matrix) (Kernel, error) {
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
	l, err := PackBitmap(w, s.Lanes)
	if err != nil {
		return nil, err
	}
	k := &spmvBitmapKernel{spec: s, l: l, cost: make([]int64, l.M+1)}
	for i := 0; i < l.M; i++ {
		// Per row: its values, a fifth of its chunks (one mask each), the store.
		k.cost[i+1] = k.cost[i] + (l.RowPtr[i+1] - l.RowPtr[i]) + int64(l.Chunks)/5 + 1
	}
	return k, nil
}

func (k *spmvBitmapKernel) Name() string              { return k.spec.Name }
func (k *spmvBitmapKernel) ISA() ISA                  { return k.spec.ISA }
func (k *spmvBitmapKernel) Shape() (int, int)         { return k.l.M, k.l.K }
func (k *spmvBitmapKernel) Units() int                { return k.l.M }
func (k *spmvBitmapKernel) UnitRows(u int) (int, int) { return u, u + 1 }
func (k *spmvBitmapKernel) UnitCost() []int64         { return k.cost }
func (k *spmvBitmapKernel) PackedBytes() int64 {
	return int64(len(k.l.Vals))*4 + int64(len(k.l.Masks)) + int64(len(k.l.RowPtr))*8
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
	flags := first | last
	var dummy float32
	var bp *[]float32
	mb := l.Lanes / 8
	// Rows per call: about spmvChunk values or masks (~100 µs even from DRAM).
	step := max(1, spmvChunk/max(1, l.Chunks))
	for j := 0; j < n; j++ {
		xv := x[j:]
		if ldx != 1 {
			if bp == nil {
				bp = k.xbuf()
				defer k.pool.Put(bp)
			}
			xc := *bp
			for kk := 0; kk < l.K; kk++ {
				xc[kk] = x[kk*ldx+j]
			}
			xv = xc
		}
		if k.spec.fn == nil || l.K == 0 {
			l.mulRows(u0, u1, xv, y[u0*ldy+j:], ldy, flags, bias, lo, hi)
		} else {
			for r := u0; r < u1; r += step {
				re := min(r+step, u1)
				bptr := &dummy
				if flags&epiBias != 0 {
					bptr = &bias[r]
				}
				k.spec.fn(&l.Vals[l.RowPtr[r]], &l.Masks[r*l.Chunks*mb], re-r, l.Chunks, &xv[0], &y[r*ldy+j], ldy, flags, bptr, lo, hi)
			}
		}
		activateTile(post, y, ldy, u0, u1, j, j+1)
	}
	return nil
}

func (k *spmvBitmapKernel) xbuf() *[]float32 {
	if bp, ok := k.pool.Get().(*[]float32); ok && len(*bp) >= k.l.K {
		return bp
	}
	b := make([]float32, max(k.l.K, 1))
	return &b
}
