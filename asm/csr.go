package asm

import (
	"fmt"
	"math"
	"sync"

	"github.com/sparsegen/sparsegen/formats"
	"github.com/sparsegen/sparsegen/ref"
)

// CSR SpMM, channel-major (X K×N, Y M×N), DESIGN §5.
//
// Plan (PackCSR): the rows' entries are regrouped by K block: block b covers columns
// [b·Kc, (b+1)·Kc) and holds, row after row, each row's entries in that block. Per entry the
// plan stores its value and a 16-bit byte offset (c − b·Kc)·T·4 into an X panel of stride T
// floats, so nothing depends on the caller's ldx. Kc is chosen by density with
// Kc·T·4 ≤ 64 KiB (the offset range) and ≥ 32 KiB (the L1-resident part of the panel).
//
// Run: per tile of T columns, X[:, tile] is copied into a pooled K×T panel (zero-padded past
// N), then for each K block the generated tile kernel runs over the rows in chunks of
// bounded work (≤ ~100 µs per assembly call). The first block starts from zero (or from Y
// with Accumulate); later blocks continue from the partial sums in Y; the last applies bias
// and ReLU/clamp in the store; GELU/SiLU run as a Go pass over the finished tile.
//
// Every Y element is one FMA chain over its row's entries in storage order, starting from 0
// (or the old Y): its value depends on the plan only — not on the K blocking, tile width,
// N split, unit split or ISA.

// csrTileFunc is the generated CSR tile kernel (gen/kernels/csr.go documents it): one K
// block of nrows packed rows, U vectors wide, with the fused epilogue.
type csrTileFunc func(vals *float32, offs *uint16, cnt *uint32, nrows int, x *float32, y *float32, ldy int, flags int, bias *float32, lo, hi float32, tail int)

// Flags of the CSR tile kernel (gen/kernels: CSRLoadY, CSRBias, CSRClamp).
const (
	csrLoadY = 1
	csrBias  = 2
	csrClamp = 4
)

// csrChunkWork bounds the lane-FMAs of one assembly call (entries × T): 2²¹ is ~20 µs at
// peak and stays under ~100 µs when X comes from L2.
const csrChunkWork = 1 << 21

// CSRPacked is a CSR matrix packed for the tile kernels of width T.
type CSRPacked struct {
	M, K   int
	T      int // tile width in floats (the panel stride)
	Kc     int // K block
	Blocks int
	Vals   []float32 // entries ordered (block, row, column); one padding value at the end
	Offs   []uint16  // byte offsets into the block's panel; one padding value at the end
	Cnt    []uint32  // Blocks×M entry counts
	Start  []int64   // Blocks×(M+1): first entry of (block, row)
	Cost   []int64   // prefix sums per row of entries + 1
	nnz    int64
}

// CSRBlock returns the K block for tile width t and density d (entries per M·K): long
// enough that a row segment holds ~16 entries, at least the L1 share (32 KiB of panel) and
// at most the 16-bit offset range (64 KiB of panel).
func CSRBlock(k, t int, d float64) int {
	lo := max(1, 32768/(4*t))
	hi := max(1, 65536/(4*t))
	kc := hi
	if d > 0 {
		kc = int(math.Ceil(16 / d))
	}
	kc = min(max(kc, lo), hi)
	return min(kc, max(k, 1))
}

// PackCSR packs a validated CSR for tile width t (a multiple of 16, ≤ 128) and K block kc
// (0 chooses by density; kc·t·4 must be ≤ 65536).
func PackCSR(w *formats.CSR, t, kc int) (*CSRPacked, error) {
	if err := w.Validate(); err != nil {
		return nil, err
	}
	if t <= 0 || t%8 != 0 || t > 128 {
		return nil, fmt.Errorf("asm: CSR tile width %d not a multiple of 8 in [8, 128]", t)
	}
	m, k := w.Rows, w.Cols
	nnz := int64(len(w.Val))
	if kc == 0 {
		d := 0.0
		if m > 0 && k > 0 {
			d = float64(nnz) / (float64(m) * float64(k))
		}
		kc = CSRBlock(k, t, d)
	}
	if kc <= 0 || int64(kc)*int64(t)*4 > 65536 {
		return nil, fmt.Errorf("asm: CSR K block %d × tile %d exceeds the 16-bit offset range", kc, t)
	}
	nb := max(1, (k+kc-1)/kc)
	p := &CSRPacked{M: m, K: k, T: t, Kc: kc, Blocks: nb, nnz: nnz,
		Vals: make([]float32, nnz+1), Offs: make([]uint16, nnz+1),
		Cnt: make([]uint32, nb*m), Start: make([]int64, nb*(m+1)), Cost: make([]int64, m+1)}
	for r := 0; r < m; r++ {
		for q := w.RowPtr[r]; q < w.RowPtr[r+1]; q++ {
			p.Cnt[int(w.ColIdx[q])/kc*m+r]++
		}
		p.Cost[r+1] = p.Cost[r] + (w.RowPtr[r+1] - w.RowPtr[r]) + 1
	}
	var s int64
	for b := 0; b < nb; b++ {
		for r := 0; r < m; r++ {
			p.Start[b*(m+1)+r] = s
			s += int64(p.Cnt[b*m+r])
		}
		p.Start[b*(m+1)+m] = s
	}
	fill := make([]int64, nb) // next free entry of the current row in each block
	for r := 0; r < m; r++ {
		for b := range fill {
			fill[b] = p.Start[b*(m+1)+r]
		}
		for q := w.RowPtr[r]; q < w.RowPtr[r+1]; q++ {
			c := int(w.ColIdx[q])
			b := c / kc
			i := fill[b]
			fill[b]++
			p.Vals[i] = w.Val[q]
			p.Offs[i] = uint16((c - b*kc) * t * 4)
		}
	}
	return p, nil
}

// Bytes is the packed size.
func (p *CSRPacked) Bytes() int64 {
	return int64(len(p.Vals))*4 + int64(len(p.Offs))*2 + int64(len(p.Cnt))*4 + int64(len(p.Start))*8
}

// csrSpec is one CSR SpMM family: a tile width on an ISA with its generated tiles.
type csrSpec struct {
	name     string // e.g. "spmm_csr_t64_avx512"
	isa      ISA
	features Feature
	t        int // tile width (floats)
	lanes    int
	tiles    *[2][9]csrTileFunc // [masked][U]
	minN     int
	maxN     int
}

func registerCSR(s *csrSpec) {
	Register(Family{
		Name: s.name, Format: "csr", ISA: s.isa, Features: s.features, MinN: s.minN, MaxN: s.maxN,
		Pack: func(w formats.Matrix) (Kernel, error) {
			c, ok := w.(*formats.CSR)
			if !ok {
				return nil, fmt.Errorf("%w: %s takes CSR, not %T", ErrNotApplicable, s.name, w)
			}
			p, err := PackCSR(c, s.t, 0)
			if err != nil {
				return nil, err
			}
			return &csrKernel{spec: s, p: p}, nil
		},
	})
}

// NewCSRKernel packs w for the named CSR family with an explicit K block (0: by density);
// benchmarks and tests use it to compare blockings.
func NewCSRKernel(family string, w *formats.CSR, kc int) (Kernel, error) {
	for _, s := range csrSpecs {
		if s.name == family {
			p, err := PackCSR(w, s.t, kc)
			if err != nil {
				return nil, err
			}
			return &csrKernel{spec: s, p: p}, nil
		}
	}
	return nil, fmt.Errorf("%w: no CSR family %q", ErrNotApplicable, family)
}

// csrSpecs lists the CSR families built into this binary (filled by the ISA files).
var csrSpecs []*csrSpec

type csrKernel struct {
	spec *csrSpec
	p    *CSRPacked
	pool sync.Pool // *[]float32 X panels
}

func (c *csrKernel) Name() string              { return c.spec.name }
func (c *csrKernel) ISA() ISA                  { return c.spec.isa }
func (c *csrKernel) Shape() (int, int)         { return c.p.M, c.p.K }
func (c *csrKernel) Units() int                { return c.p.M }
func (c *csrKernel) UnitRows(u int) (int, int) { return u, u + 1 }
func (c *csrKernel) UnitCost() []int64         { return c.p.Cost }
func (c *csrKernel) PackedBytes() int64        { return c.p.Bytes() }

// Packed exposes the plan (read-only) for tests and benchmarks.
func (c *csrKernel) Packed() *CSRPacked { return c.p }

func (c *csrKernel) panel(n int) *[]float32 {
	if bp, ok := c.pool.Get().(*[]float32); ok && cap(*bp) >= n {
		*bp = (*bp)[:n]
		return bp
	}
	b := make([]float32, n)
	return &b
}

// csrEpilogue turns epi into the kernel's flags and bounds. post is GELU/SiLU (or none),
// applied in Go after the last block.
func csrEpilogue(epi *ref.Epilogue) (first, last int, lo, hi float32, bias []float32, post ref.Activation) {
	if epi == nil {
		return 0, 0, 0, 0, nil, ref.ActNone
	}
	if epi.Accumulate {
		first |= csrLoadY
	}
	if epi.Bias != nil {
		last |= csrBias
		bias = epi.Bias
	}
	switch epi.Act {
	case ref.ActReLU:
		last |= csrClamp
		lo, hi = 0, float32(math.Inf(1))
	case ref.ActClamp:
		last |= csrClamp
		lo, hi = epi.Lo, epi.Hi
	case ref.ActGELU, ref.ActSiLU:
		post = epi.Act
	}
	return
}

func (c *csrKernel) Run(u0, u1 int, x []float32, ldx int, y []float32, ldy, n int, epi *ref.Epilogue) error {
	if err := CheckRun(c, u0, u1, x, ldx, y, ldy, n, epi); err != nil {
		return err
	}
	if n == 0 || u0 == u1 {
		return nil
	}
	p, s := c.p, c.spec
	t, L := p.T, s.lanes
	first, last, lo, hi, bias, post := csrEpilogue(epi)
	var dummy float32
	bp := c.panel(max(p.K, 1)*t + t)
	defer c.pool.Put(bp)
	panel := *bp
	for n0 := 0; n0 < n; n0 += t {
		w := min(t, n-n0)
		packPanel(panel, x, ldx, p.K, n0, w, t)
		fn, tail := s.tiles[0][t/L], L
		if w < t {
			u := (w + L - 1) / L
			fn, tail = s.tiles[1][u], w-(u-1)*L
		}
		for b := 0; b < p.Blocks; b++ {
			flags := csrLoadY
			if b == 0 {
				flags = first
			}
			if b == p.Blocks-1 {
				flags |= last
			}
			xb := &panel[b*p.Kc*t]
			start := p.Start[b*(p.M+1):]
			cnt := p.Cnt[b*p.M:]
			for r := u0; r < u1; {
				// A chunk of rows with bounded work.
				re := r + 1
				for re < u1 && (start[re+1]-start[r])*int64(t) <= csrChunkWork {
					re++
				}
				bptr := &dummy
				if flags&csrBias != 0 {
					bptr = &bias[r]
				}
				fn(&p.Vals[start[r]], &p.Offs[start[r]], &cnt[r], re-r, xb, &y[r*ldy+n0], ldy, flags, bptr, lo, hi, tail)
				r = re
			}
		}
		if post != ref.ActNone {
			for r := u0; r < u1; r++ {
				row := y[r*ldy+n0 : r*ldy+n0+w]
				for j, v := range row {
					row[j] = ref.Activate(post, v, 0, 0)
				}
			}
		}
	}
	return nil
}

// packPanel copies X[0:k, n0:n0+w] into panel (stride t), zero-filling columns w..t.
func packPanel(panel, x []float32, ldx, k, n0, w, t int) {
	for kk := 0; kk < k; kk++ {
		d := panel[kk*t : kk*t+t]
		copy(d, x[kk*ldx+n0:kk*ldx+n0+w])
		if w < t {
			clear(d[w:])
		}
	}
}
