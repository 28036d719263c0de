package asm

import (
	"fmt"
	"sync"

	"github.com/sparsegen/sparsegen/formats"
	"github.com/sparsegen/sparsegen/ref"
)

// CSR × vector (N = 1, decoding one token), row-oriented (gen/kernels/spmv.go): each row is a
// sparse dot product, either over gathered X values with vector partial sums
// (spmv_csr_i16_*, spmv_csr_i32_*) or, gather-free, one FMA of x[idx] broadcast against a
// vector of the chunk's weights per entry, one accumulator per lane (spmv_csr_i16_bcast_*,
// spmv_csr_i32_bcast_*; x86 only), which reads X in blocks of spmvKBlock columns (one
// kernel per block, see packSpMVBlocks) so X stays in L1. Bytes decide at N = 1,
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
	// colBlocks: the kernel reads X in blocks of spmvKBlock columns (the gather-free ones).
	colBlocks bool
}

// registerSpMVGen registers the SpMV families of a generated manifest on their functions.
func registerSpMVGen(m []Desc, kernels []spmvGenKernel) {
	for _, d := range m {
		g := generated(d, kernels, func(g spmvGenKernel) bool { return g.bits == d.IndexBits && g.bcast == d.Bcast })
		registerSpMV(&spmvSpec{Desc: d, f16: g.f16, f32: g.f32, colBlocks: d.Bcast})
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
	// blocks, where the family reads X in column blocks (spmvSpec.kBlocked) and K is wider
	// than one: a kernel per block of spmvKBlock columns, its indices from the block's first
	// column; the streams above are then empty.
	blocks []*spmvKernel
}

func packSpMV(s *spmvSpec, w *formats.CSR) (*spmvKernel, error) {
	if err := w.ValidateStructure(); err != nil {
		return nil, err
	}
	if s.kBlocked(w.Cols) {
		k, pos, err := packSpMVBlocks(s, w.Rows, w.Cols, w.RowPtr, w.ColIdx, w.Validate)
		if err != nil {
			return nil, err
		}
		for b, blk := range k.blocks {
			blk.vals = make([]float32, len(pos[b])+s.Lanes)
			for q, p := range pos[b] {
				blk.vals[q] = w.Val[p]
			}
		}
		return k, nil
	}
	k, err := packSpMVPattern(s, w.Rows, w.Cols, w.RowPtr, w.ColIdx, w.Validate)
	if err != nil {
		return nil, err
	}
	k.vals = make([]float32, len(w.Val)+s.Lanes)
	copy(k.vals, w.Val)
	return k, nil
}

// spmvKBlock is the widest block of columns a gather-free SpMV reads X over: 16 KB of X,
// which stays in L1 beside the streamed W. Zen 5, one thread, 90% unstructured, the
// gather-free kernel on K whole (4.5M entries each shape): 11008×4096 1.24 ms, 7339×6144
// 1.65, 5504×8192 1.96, 4096×11008 2.25 ms, where the gather kernel ran 1.6–2.0 ms.
const spmvKBlock = 4096

// spmvBlockRows is the run of rows a column-blocked SpMV takes through all its blocks.
const spmvBlockRows = 256

// kBlocked reports whether s runs a W of cols columns in blocks of spmvKBlock.
func (s *spmvSpec) kBlocked(cols int) bool { return s.colBlocks && cols > spmvKBlock }

// packSpMVBlocks packs a valid CSR structure as one kernel per block of spmvKBlock columns
// (rows kept, indices from the block's first column) and returns, per block, the source
// position of each packed entry for the caller to copy the values.
func packSpMVBlocks(s *spmvSpec, rows, cols int, rowPtr []int64, colIdx []int32, validate func() error) (*spmvKernel, [][]int64, error) {
	nb := (cols + spmvKBlock - 1) / spmvKBlock
	ptr, idx, pos := make([][]int64, nb), make([][]int32, nb), make([][]int64, nb)
	for b := range ptr {
		ptr[b] = make([]int64, 1, rows+1)
	}
	for r := 0; r < rows; r++ {
		prev := int32(-1)
		for p := rowPtr[r]; p < rowPtr[r+1]; p++ {
			c := colIdx[p]
			if c <= prev || int(c) >= cols {
				if err := validate(); err != nil {
					return nil, nil, err
				}
				return nil, nil, fmt.Errorf("%w: csr column index outside [0, %d) or out of order", formats.ErrInvalid, cols)
			}
			prev = c
			b := int(c) / spmvKBlock
			idx[b] = append(idx[b], c-int32(b*spmvKBlock))
			pos[b] = append(pos[b], p)
		}
		for b := range ptr {
			ptr[b] = append(ptr[b], int64(len(idx[b])))
		}
	}
	k := &spmvKernel{spec: s, m: rows, k: cols, cost: make([]int64, rows+1)}
	for b := 0; b < nb; b++ {
		blk, err := packSpMVPattern(s, rows, min(spmvKBlock, cols-b*spmvKBlock), ptr[b], idx[b], validate)
		if err != nil {
			return nil, nil, err
		}
		k.blocks = append(k.blocks, blk)
	}
	for r := 0; r < rows; r++ {
		k.cost[r+1] = k.cost[r] + rowPtr[r+1] - rowPtr[r] + int64(nb)
	}
	return k, pos, nil
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
	var blocks int64
	for _, b := range k.blocks {
		blocks += b.PackedBytes()
	}
	return blocks + int64(len(k.vals))*4 + int64(len(k.lp)) + int64(len(k.scale))*4 + int64(len(k.idx16))*2 + int64(len(k.idx32))*4 + int64(len(k.cnt))*4 + int64(len(k.start))*8
}

func (k *spmvKernel) Run(u0, u1 int, x []float32, ldx int, y []float32, ldy, n int, epi *ref.Epilogue) error {
	if err := CheckRun(k, u0, u1, x, ldx, y, ldy, n, epi); err != nil {
		return err
	}
	if n == 0 || u0 == u1 {
		return nil
	}
	first, last, lo, hi, bias, post := csrEpilogue(epi)
	var bp *[]float32
	defer releaseColumnX(&k.pool, &bp)
	for j := 0; j < n; j++ {
		xv := columnX(&k.pool, &bp, x, ldx, k.k, j)
		if k.blocks == nil {
			k.runRows(u0, u1, xv, y[j:], ldy, first|last, bias, lo, hi)
		} else {
			// Rows in runs of spmvBlockRows, each through every block of columns (its Y
			// stays in cache): the first block stores (or adds to Y where the epilogue
			// accumulates), the others add, the last adds bias and clamps.
			for r := u0; r < u1; r += spmvBlockRows {
				re := min(u1, r+spmvBlockRows)
				for b, blk := range k.blocks {
					flags := blockFlags(b, len(k.blocks), first, last)
					blk.runRows(r, re, xv[b*spmvKBlock:], y[j:], ldy, flags, bias, lo, hi)
				}
			}
		}
		activateTile(post, y, ldy, u0, u1, j, j+1)
	}
	return nil
}

// runRows runs rows [u0, u1) of one column: xv is the column (contiguous; the block's
// columns from its first), yc is Y from row 0 of the column, flags the kernel's epilogue.
func (k *spmvKernel) runRows(u0, u1 int, xv, yc []float32, ldy, flags int, bias []float32, lo, hi float32) {
	var dummy float32
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
			k.runLP(r, re, xv, yc[r*ldy:], ldy, flags, bias, lo, hi)
		case k.spec.IndexBits == 16:
			k.spec.f16(&k.vals[p], &k.idx16[p], &k.cnt[r], re-r, &xv[0], &yc[r*ldy], ldy, flags, bptr, lo, hi)
		default:
			k.spec.f32(&k.vals[p], &k.idx32[p], &k.cnt[r], re-r, &xv[0], &yc[r*ldy], ldy, flags, bptr, lo, hi)
		}
		r = re
	}
}

// columnX returns column j of X (K×n, stride ldx) contiguous, as the N = 1 kernels read it:
// X itself from column j where ldx is 1, else a copy into a buffer of pool's (at least
// max(k, 1) floats) taken on first use and kept in *bp; the caller puts *bp back.
func columnX(pool *sync.Pool, bp **[]float32, x []float32, ldx, k, j int) []float32 {
	if ldx == 1 {
		return x[j:]
	}
	if *bp == nil {
		*bp = pooledFloats(pool, max(k, 1))
	}
	xc := **bp
	for kk := 0; kk < k; kk++ {
		xc[kk] = x[kk*ldx+j]
	}
	return xc
}

// releaseColumnX returns the buffer columnX took from pool, if it took one (deferred by
// the drivers that call columnX).
func releaseColumnX(pool *sync.Pool, bp **[]float32) {
	if *bp != nil {
		pool.Put(*bp)
	}
}

// blockFlags is the epilogue of column block b of nb that add up through Y: the first
// stores (first: or adds to Y, Accumulate), the others add, the last also applies last's
// bias and clamp.
func blockFlags(b, nb, first, last int) int {
	flags := epiLoadY
	if b == 0 {
		flags = first
	}
	if b == nb-1 {
		flags |= last
	}
	return flags
}

// b2u is 1 for true, 0 for false.
func b2u(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}
