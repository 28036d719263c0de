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
// Plan (PackCSR): rows are grouped R at a time (R = 1, 2 or 4 by family, for R·U ≥ 8
// independent FMA chains) and the entries regrouped by K block: block b covers columns
// [b·Kc, (b+1)·Kc). Per (block, group) the rows' entries are padded to the group's longest
// row and stored step-major (step s: the s-th entry of each row), so the kernel runs every
// step on all R rows with no remainder loops. Per entry the plan stores its value and a
// 16-bit offset (c − b·Kc)·T·4/8 (in 8-byte units) into an X panel of stride T floats, so nothing depends on
// the caller's ldx; padding entries are 0 and point at the zero row Kc of the block's panel.
// Kc is chosen by density (CSRBlock) with (Kc+1)·T·4 ≤ 512 KiB (the offset range).
//
// Run: per tile of T columns, X[:, tile] is copied into a pooled panel ((Kc+1)·T floats per
// block, zero-padded past N, a zero row per block), then for each K block the generated tile
// kernel runs over the groups in chunks of bounded work (≤ ~100 µs per assembly call). The
// first block starts from zero (or from Y with Accumulate); later blocks continue from the
// partial sums in Y; the last applies bias and ReLU/clamp in the store; GELU/SiLU run as a
// Go pass over the finished tile. A ragged last group (M % R ≠ 0) runs through a scratch
// tile, so no kernel touches Y or bias past row M.
//
// Every Y element is one FMA chain over its row's entries in storage order, starting from 0
// (or the old Y), plus exact +0 padding steps: its value depends on the weights only — not on
// the K blocking, R, tile width, N split, unit split or ISA.

// csrTileFunc is the generated CSR tile kernel (gen/kernels/csr.go documents it): one K
// block of ngroups packed row groups, U vectors wide, with the fused epilogue.
type csrTileFunc func(vals *float32, offs *uint16, cnt *uint32, ngroups int, x *float32, y *float32, ldy int, flags int, bias *float32, lo, hi float32, tail int)

// Flags of the CSR tile kernel (gen/kernels: CSRLoadY, CSRBias, CSRClamp).
const (
	csrLoadY = 1
	csrBias  = 2
	csrClamp = 4
)

// csrOffScale is the unit of the packed panel offsets in bytes (gen/kernels.CSROffScale).
const csrOffScale = 8

// csrChunkWork bounds the lane-FMAs of one assembly call (entries × T): 2²⁰ is ~30 µs at the
// rates measured here (~20–35 G lane-FMA/s) and stays well under 100 µs when X or the packed
// stream come from further away. One group's share of one K block (≤ Kc·R·T) is far smaller.
const csrChunkWork = 1 << 20

// CSRPacked is a CSR matrix packed for the tile kernels of width T and row groups of R.
type CSRPacked struct {
	M, K   int
	T      int // tile width in floats (the panel stride)
	R      int // rows per group
	Groups int // ⌈M/R⌉ (the work units)
	Kc     int // K block; the block's panel has Kc+1 rows (the last is zero)
	Blocks int
	Vals   []float32 // entries ordered (block, group, step, row); one padding value at the end
	Offs   []uint16  // byte offsets into the block's panel; one padding value at the end
	Cnt    []uint32  // Blocks×Groups steps (the longest row of the group in the block)
	Start  []int64   // Blocks×(Groups+1): first entry of (block, group)
	Cost   []int64   // prefix sums per group of entries + 1
	nnz    int64
}

// CSRBlock returns the K block for tile width t and density d (entries per M·K): long
// enough that a row segment holds ~16 entries (a short segment costs a loop exit and a Y
// round trip), at least 16 KiB of panel, and at most the 16-bit offset range
// ((Kc+1)·t·4 ≤ 65536). Measured here (11008×4096×16 at 90%, T = 16): Kc = 256 (16 KiB
// panel) ran 1.2× faster than Kc = 512; at T = 64 the 16-entry rule (Kc = 160) was best.
func CSRBlock(k, t int, d float64) int {
	hi := max(1, 65536*csrOffScale/(4*t)-1)
	lo := min(hi, max(1, 16384/(4*t)))
	kc := hi
	if d > 0 {
		kc = int(math.Ceil(16 / d))
	}
	kc = min(max(kc, lo), hi)
	return min(kc, max(k, 1))
}

// PackCSR packs a validated CSR for tile width t (a multiple of 4, ≤ 128), row groups of r
// (1, 2 or 4) and K block kc (0 chooses by density; (kc+1)·t·4 must be ≤ 65536·8).
func PackCSR(w *formats.CSR, t, r, kc int) (*CSRPacked, error) {
	if err := w.Validate(); err != nil {
		return nil, err
	}
	if t <= 0 || t%4 != 0 || t > 128 {
		return nil, fmt.Errorf("asm: CSR tile width %d not a multiple of 4 in [4, 128]", t)
	}
	if r != 1 && r != 2 && r != 4 {
		return nil, fmt.Errorf("asm: CSR row group %d not 1, 2 or 4", r)
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
	if kc <= 0 || int64(kc+1)*int64(t)*4 > 65536*csrOffScale {
		return nil, fmt.Errorf("asm: CSR K block %d × tile %d exceeds the 16-bit offset range", kc, t)
	}
	nb := max(1, (k+kc-1)/kc)
	ng := (m + r - 1) / r
	p := &CSRPacked{M: m, K: k, T: t, R: r, Groups: ng, Kc: kc, Blocks: nb, nnz: nnz,
		Cnt: make([]uint32, nb*ng), Start: make([]int64, nb*(ng+1)), Cost: make([]int64, ng+1)}
	// Steps per (block, group): the longest row's count.
	rowCnt := make([]uint32, nb)
	for g := 0; g < ng; g++ {
		var entries int64
		for i := g * r; i < min(g*r+r, m); i++ {
			clear(rowCnt)
			// Columns increase within a row (validated): walk the K blocks instead of
			// dividing by kc per entry.
			b, lim := 0, kc
			for q := w.RowPtr[i]; q < w.RowPtr[i+1]; q++ {
				for int(w.ColIdx[q]) >= lim {
					b, lim = b+1, lim+kc
				}
				rowCnt[b]++
			}
			for b, c := range rowCnt {
				p.Cnt[b*ng+g] = max(p.Cnt[b*ng+g], c)
			}
			entries += w.RowPtr[i+1] - w.RowPtr[i]
		}
		p.Cost[g+1] = p.Cost[g] + entries + 1
	}
	var s int64
	for b := 0; b < nb; b++ {
		for g := 0; g < ng; g++ {
			p.Start[b*(ng+1)+g] = s
			s += int64(p.Cnt[b*ng+g]) * int64(r)
		}
		p.Start[b*(ng+1)+ng] = s
	}
	p.Vals = make([]float32, s+1)
	p.Offs = make([]uint16, s+1)
	// Padding: weight 0 at the zero row Kc of each block's panel.
	zeroOff := uint16(kc * t * 4 / csrOffScale)
	for i := range p.Offs {
		p.Offs[i] = zeroOff
	}
	step := make([]int64, nb) // next step of the current row in each block
	for i := 0; i < m; i++ {
		g, rr := i/r, i%r
		clear(step)
		b, lo := 0, 0 // the K block of the current column and its first column
		for q := w.RowPtr[i]; q < w.RowPtr[i+1]; q++ {
			c := int(w.ColIdx[q])
			for c >= lo+kc {
				b, lo = b+1, lo+kc
			}
			e := p.Start[b*(ng+1)+g] + step[b]*int64(r) + int64(rr)
			step[b]++
			p.Vals[e] = w.Val[q]
			p.Offs[e] = uint16((c - lo) * t * 4 / csrOffScale)
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
	r        int // rows per group (1, 2 or 4; the tiles for R must exist for every U ≤ t/lanes)
	lanes    int
	tiles    *[3][2][9]csrTileFunc // [log2 R][masked][U]
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
			p, err := PackCSR(c, s.t, s.r, 0)
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
	return NewCSRKernelGroup(family, w, 0, kc)
}

// NewCSRKernelGroup is NewCSRKernel with an explicit row-group height r (0: the family's),
// for tuning; it fails if the tile functions for r do not fit the ISA's registers.
func NewCSRKernelGroup(family string, w *formats.CSR, r, kc int) (Kernel, error) {
	for _, s := range csrSpecs {
		if s.name == family {
			if r != 0 && r != s.r {
				ss := *s
				ss.r = r
				for u := 1; u <= s.t/s.lanes; u++ {
					if r != 1 && r != 2 && r != 4 || ss.tiles[log2int(r)][1][u] == nil || ss.tiles[log2int(r)][0][u] == nil {
						return nil, fmt.Errorf("%w: %s has no tiles for R = %d", ErrNotApplicable, family, r)
					}
				}
				s = &ss
			}
			p, err := PackCSR(w, s.t, s.r, kc)
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
func (c *csrKernel) Units() int                { return c.p.Groups }
func (c *csrKernel) UnitRows(u int) (int, int) { return u * c.p.R, min(u*c.p.R+c.p.R, c.p.M) }
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
	a := lowerEpilogue(epi)
	if a.loadY {
		first |= csrLoadY
	}
	if a.bias {
		last |= csrBias
		bias = epi.Bias
	}
	if a.clamp {
		last |= csrClamp
	}
	return first, last, a.lo, a.hi, bias, a.post
}

func (c *csrKernel) Run(u0, u1 int, x []float32, ldx int, y []float32, ldy, n int, epi *ref.Epilogue) error {
	if err := CheckRun(c, u0, u1, x, ldx, y, ldy, n, epi); err != nil {
		return err
	}
	if n == 0 || u0 == u1 {
		return nil
	}
	p, s := c.p, c.spec
	t, L, R := p.T, s.lanes, p.R
	first, last, lo, hi, bias, post := csrEpilogue(epi)
	pstride := (p.Kc + 1) * t // panel floats per block
	bp := c.panel(p.Blocks * pstride)
	defer c.pool.Put(bp)
	panel := *bp
	// Full groups go straight to Y; a ragged last group (M % R ≠ 0) through a scratch tile.
	full := u1
	ragged := u1 == p.Groups && p.M%R != 0
	if ragged {
		full--
	}
	var scratch [4 * 128]float32
	var sbias [4]float32
	var dummy float32
	ti := log2int(R)
	for n0 := 0; n0 < n; n0 += t {
		w := min(t, n-n0)
		packPanel(panel, x, ldx, p.K, p.Kc, n0, w, t)
		fn, tail := s.tiles[ti][0][t/L], L
		if w < t {
			u := (w + L - 1) / L
			fn, tail = s.tiles[ti][1][u], w-(u-1)*L
		}
		for b := 0; b < p.Blocks; b++ {
			flags := csrLoadY
			if b == 0 {
				flags = first
			}
			if b == p.Blocks-1 {
				flags |= last
			}
			xb := &panel[b*pstride]
			start := p.Start[b*(p.Groups+1):]
			cnt := p.Cnt[b*p.Groups:]
			for g := u0; g < full; {
				// A chunk of groups with bounded work.
				ge := g + 1
				for ge < full && (start[ge+1]-start[g])*int64(t) <= csrChunkWork {
					ge++
				}
				bptr := &dummy
				if flags&csrBias != 0 {
					bptr = &bias[g*R]
				}
				fn(&p.Vals[start[g]], &p.Offs[start[g]], &cnt[g], ge-g, xb, &y[g*R*ldy+n0], ldy, flags, bptr, lo, hi, tail)
				g = ge
			}
			if ragged {
				g := p.Groups - 1
				rows := p.M - g*R
				if b == 0 && flags&csrLoadY != 0 {
					for i := 0; i < rows; i++ {
						copy(scratch[i*t:i*t+w], y[(g*R+i)*ldy+n0:(g*R+i)*ldy+n0+w])
					}
				}
				if flags&csrBias != 0 {
					copy(sbias[:rows], bias[g*R:])
				}
				fn(&p.Vals[start[g]], &p.Offs[start[g]], &cnt[g], 1, xb, &scratch[0], t, flags, &sbias[0], lo, hi, tail)
				if b == p.Blocks-1 {
					for i := 0; i < rows; i++ {
						copy(y[(g*R+i)*ldy+n0:(g*R+i)*ldy+n0+w], scratch[i*t:i*t+w])
					}
				}
			}
		}
		if post != ref.ActNone {
			for r := u0 * R; r < min(u1*R, p.M); r++ {
				row := y[r*ldy+n0 : r*ldy+n0+w]
				for j, v := range row {
					row[j] = ref.Activate(post, v, 0, 0)
				}
			}
		}
	}
	return nil
}

func log2int(r int) int {
	n := 0
	for r > 1 {
		r >>= 1
		n++
	}
	return n
}

// packPanel copies X[0:k, n0:n0+w] into the panel: per K block of kc rows, kc+1 rows of
// stride t (columns w..t zero, row kc zero: the target of padding entries).
func packPanel(panel, x []float32, ldx, k, kc, n0, w, t int) {
	pstride := (kc + 1) * t
	for b := 0; b*kc < max(k, 1); b++ {
		base := b * pstride
		rows := min(kc, k-b*kc)
		for kk := 0; kk < rows; kk++ {
			d := panel[base+kk*t : base+kk*t+t]
			copy(d, x[(b*kc+kk)*ldx+n0:(b*kc+kk)*ldx+n0+w])
			if w < t {
				clear(d[w:])
			}
		}
		clear(panel[base+kc*t : base+kc*t+t])
	}
}
