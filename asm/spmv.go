package asm

import (
	"fmt"
	"sync"

	"github.com/sparsegen/sparsegen/formats"
	"github.com/sparsegen/sparsegen/ref"
)

// CSR × vector (N = 1, decoding one token), row-oriented (gen/kernels/spmv.go): each row is a
// sparse dot product, either over gathered X values with vector partial sums
// (spmv_csr_i16_*, spmv_csr_i32_*) or, gather-free, one broadcast of x[idx] per entry into
// four round-robin accumulators (spmv_csr_i16_bcast_*, spmv_csr_i32_bcast_*). Bytes decide at N = 1,
// so the plan stores 16-bit column indices when K ≤ 65536 (6 bytes per nonzero; family
// spmv_csr_i16_*) and 32-bit ones otherwise (spmv_csr_i32_*). The index stream is padded
// with one vector of zeros (the AVX2 tail reads whole index vectors; the gather itself is
// masked). The summation order (lane partial sums, then a fixed reduction tree) depends on
// the plan only. For N > 1 the kernel runs column by column (a fallback: dispatch prefers the
// tile families there).

type spmvI16Func func(vals *float32, idx *uint16, cnt *uint32, nrows int, x *float32, y *float32, ldy int, flags int, bias *float32, lo, hi float32)
type spmvI32Func func(vals *float32, idx *uint32, cnt *uint32, nrows int, x *float32, y *float32, ldy int, flags int, bias *float32, lo, hi float32)

// spmvChunk bounds the entries of one assembly call (~100 µs even from DRAM).
const spmvChunk = 1 << 17

// spmvGenKernel is one generated SpMV function as gen/kernels/spmv.go's tables list it.
type spmvGenKernel struct {
	bits  int  // index width: 16 or 32
	bcast bool // the gather-free kernel (broadcast loads)
	f16   spmvI16Func
	f32   spmvI32Func
}

// spmvSpec is one SpMV family: its descriptor (IndexBits, Bcast, Lanes: the index-stream
// padding) and its generated function. A low-precision family (spmvlp.go) has a dtype and
// lp, or no function at all: the pure-Go kernel.
type spmvSpec struct {
	Desc
	f16   spmvI16Func
	f32   spmvI32Func
	dtype formats.DType // 0: float32 values
	lp    spmvLPFunc
}

// registerSpMVGen registers the SpMV families of a generated manifest on their functions.
func registerSpMVGen(m []Desc, kernels []spmvGenKernel) {
	for _, d := range m {
		g := generated(d, kernels, func(g spmvGenKernel) bool { return g.bits == d.IndexBits && g.bcast == d.Bcast })
		registerSpMV(&spmvSpec{Desc: d, f16: g.f16, f32: g.f32})
	}
}

var spmvSpecs []*spmvSpec

// registerSpMV registers s; spmvSpecs lists the float32 ones (spmvLPSpecs the others).
func registerSpMV(s *spmvSpec) {
	if s.dtype == 0 {
		spmvSpecs = append(spmvSpecs, s)
	}
	Register(Family{
		Desc: &s.Desc,
		Pack: func(w formats.Matrix) (Kernel, error) {
			if s.dtype != 0 {
				return packSpMVLP(s, w)
			}
			c, ok := w.(*formats.CSR)
			if !ok {
				return nil, fmt.Errorf("%w: %s takes CSR, not %T", ErrNotApplicable, s.Name, w)
			}
			return packSpMV(s, c)
		},
	})
}

type spmvKernel struct {
	spec  *spmvSpec
	m, k  int
	vals  []float32 // float32 families
	lp    []byte    // low-precision families: the values as stored (little-endian), padded
	scale []float32 // int8 values: one per row
	idx16 []uint16
	idx32 []uint32
	cnt   []uint32
	start []int64
	cost  []int64
	pool  sync.Pool
}

func packSpMV(s *spmvSpec, w *formats.CSR) (*spmvKernel, error) {
	if err := w.ValidateStructure(); err != nil {
		return nil, err
	}
	k, err := packSpMVPattern(s, w.Rows, w.Cols, w.RowPtr, w.ColIdx, w.Validate)
	if err != nil {
		return nil, err
	}
	k.vals = make([]float32, len(w.Val)+s.Lanes)
	copy(k.vals, w.Val)
	return k, nil
}

// packSpMVPattern packs the pattern of a CSR matrix whose structure (ValidateStructure) is
// valid: the index stream of s's width, padded by s.Lanes zeros, the row counts and costs.
// Each column index is checked as it is converted (in [0, K) and after the row's previous
// one), flags folded without a branch per entry; validate names a bad one.
func packSpMVPattern(s *spmvSpec, rows, cols int, rowPtr []int64, colIdx []int32, validate func() error) (*spmvKernel, error) {
	if s.IndexBits == 16 && cols > 1<<16 {
		return nil, fmt.Errorf("%w: %s needs K ≤ 65536, have %d", ErrNotApplicable, s.Name, cols)
	}
	nnz := len(colIdx)
	k := &spmvKernel{spec: s, m: rows, k: cols, cnt: make([]uint32, rows+1),
		start: append([]int64(nil), rowPtr...), cost: make([]int64, rows+1)}
	var bad uint32
	kk := uint32(cols)
	if s.IndexBits == 16 {
		k.idx16 = make([]uint16, nnz+s.Lanes)
	} else {
		k.idx32 = make([]uint32, nnz+s.Lanes)
	}
	for r := 0; r < rows; r++ {
		prev := int64(-1)
		lo, hi := rowPtr[r], rowPtr[r+1]
		for q, c := range colIdx[lo:hi] {
			bad |= b2u(uint32(c) >= kk) | b2u(int64(c) <= prev)
			prev = int64(c)
			if s.IndexBits == 16 {
				k.idx16[lo+int64(q)] = uint16(c)
			} else {
				k.idx32[lo+int64(q)] = uint32(c)
			}
		}
	}
	if bad != 0 {
		if err := validate(); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%w: csr column index outside [0, %d) or out of order", formats.ErrInvalid, cols)
	}
	for r := 0; r < rows; r++ {
		k.cnt[r] = uint32(rowPtr[r+1] - rowPtr[r])
		k.cost[r+1] = k.cost[r] + int64(k.cnt[r]) + 1
	}
	return k, nil
}

func (k *spmvKernel) Name() string              { return k.spec.Name }
func (k *spmvKernel) ISA() ISA                  { return k.spec.ISA }
func (k *spmvKernel) Shape() (int, int)         { return k.m, k.k }
func (k *spmvKernel) Units() int                { return k.m }
func (k *spmvKernel) UnitRows(u int) (int, int) { return u, u + 1 }
func (k *spmvKernel) UnitCost() []int64         { return k.cost }
func (k *spmvKernel) PackedBytes() int64 {
	return int64(len(k.vals))*4 + int64(len(k.lp)) + int64(len(k.scale))*4 + int64(len(k.idx16))*2 + int64(len(k.idx32))*4 + int64(len(k.cnt))*4 + int64(len(k.start))*8
}

func (k *spmvKernel) Run(u0, u1 int, x []float32, ldx int, y []float32, ldy, n int, epi *ref.Epilogue) error {
	if err := CheckRun(k, u0, u1, x, ldx, y, ldy, n, epi); err != nil {
		return err
	}
	if n == 0 || u0 == u1 {
		return nil
	}
	first, last, lo, hi, bias, post := csrEpilogue(epi)
	flags := first | last
	var dummy float32
	var bp *[]float32
	for j := 0; j < n; j++ {
		xv := x[j:]
		if ldx != 1 {
			if bp == nil {
				bp = k.xbuf()
				defer k.pool.Put(bp)
			}
			xc := *bp
			for kk := 0; kk < k.k; kk++ {
				xc[kk] = x[kk*ldx+j]
			}
			xv = xc
		}
		for r := u0; r < u1; {
			re := r + 1
			for re < u1 && k.start[re+1]-k.start[r] <= spmvChunk {
				re++
			}
			bptr := &dummy
			if flags&epiBias != 0 {
				bptr = &bias[r]
			}
			p := k.start[r]
			switch {
			case k.spec.dtype != 0:
				k.runLP(r, re, xv, y[r*ldy+j:], ldy, flags, bias, lo, hi)
			case k.spec.IndexBits == 16:
				k.spec.f16(&k.vals[p], &k.idx16[p], &k.cnt[r], re-r, &xv[0], &y[r*ldy+j], ldy, flags, bptr, lo, hi)
			default:
				k.spec.f32(&k.vals[p], &k.idx32[p], &k.cnt[r], re-r, &xv[0], &y[r*ldy+j], ldy, flags, bptr, lo, hi)
			}
			r = re
		}
		activateTile(post, y, ldy, u0, u1, j, j+1)
	}
	return nil
}

func (k *spmvKernel) xbuf() *[]float32 {
	if bp, ok := k.pool.Get().(*[]float32); ok && len(*bp) >= k.k {
		return bp
	}
	b := make([]float32, max(k.k, 1))
	return &b
}

// b2u is 1 for true, 0 for false.
func b2u(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}
