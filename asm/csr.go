package asm

import (
	"fmt"
	"math"
	"sort"
	"sync"

	"github.com/sparsegen/sparsegen/formats"
	"github.com/sparsegen/sparsegen/internal/extent"
	"github.com/sparsegen/sparsegen/internal/sysmem"
	"github.com/sparsegen/sparsegen/ref"
)

// CSR SpMM, channel-major (X K×N, Y M×N), DESIGN §5.3.
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

// The tile kernel's flags are the epilogue vocabulary (epiLoadY, epiBias, epiClamp) and
// csrOffScale the unit of the packed panel offsets, both in the generated contract.go.

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
// round trip), at least 16 KiB of panel and, while the panel stays within csrPanelMax, at
// least 256 rows, and at most the range of the 16-bit offsets in 8-byte units
// ((Kc+1)·t·4 ≤ 65536·8). Measured on Zen 5 (48 KiB L1D): at T = 16, Kc = 256 (16 KiB
// panel) ran 1.2× faster than Kc = 512 (11008×4096×16 at 90%); at T = 64 the 16-entry rule
// (Kc = 160) was best at 90%. With the grouped step loads (§5.3) the 256-row floor made t32
// and t64 11-17% faster where it applies (t32 at 80-90%, t64 at 80%: BenchmarkCSR medians
// of 6 on 11008×4096×16, 2048×512×49, 3072×768×128) and changed nothing measurable
// elsewhere.
func CSRBlock(k, t int, d float64) int {
	hi := max(1, 65536*csrOffScale/(4*t)-1)
	lo := min(hi, max(1, 16384/(4*t), min(256, csrPanelMax()/(4*t))))
	kc := hi
	if d > 0 {
		kc = int(math.Ceil(16 / d))
	}
	kc = min(max(kc, lo), hi)
	return min(kc, max(k, 1))
}

// csrPanelMax is the largest panel CSRBlock's 256-row floor may make: two thirds of the
// L1 data cache (sysfs), else 32 KiB, the size measured on Zen 5's 48 KiB L1D. A 32 KiB L1D
// (Zen 2-4, older Intel) gets about 21 KiB, near the 16 KiB floor it was tuned with.
var csrPanelMax = sync.OnceValue(func() int {
	if l1 := sysmem.CacheSizes(sysmem.CPU0Caches)[1]; l1 > 0 {
		return int(l1 * 2 / 3)
	}
	return 32 << 10
})

// PackCSR packs a validated CSR for tile width t (a multiple of 4, ≤ 128), row groups of r
// (1, 2 or 4) and K block kc (0 chooses by density; (kc+1)·t·4 must be ≤ 65536·8).
func PackCSR(w *formats.CSR, t, r, kc int) (*CSRPacked, error) {
	// The structure here; every column index is checked as pass 2 reads it (in range,
	// strictly increasing in its row), so a malformed W is refused without a separate
	// pass over its entries.
	if err := w.ValidateStructure(); err != nil {
		return nil, err
	}
	if err := checkCSRTile(t); err != nil {
		return nil, err
	}
	if r != 1 && r != 2 && r != 4 {
		return nil, fmt.Errorf("asm: CSR row group %d not 1, 2 or 4", r)
	}
	m, k := w.Rows, w.Cols
	nnz := int64(len(w.Val))
	if kc == 0 {
		kc = CSRBlock(k, t, csrDensity(w))
	}
	if kc <= 0 || !csrOffsetsFit(kc, t) {
		return nil, fmt.Errorf("asm: CSR K block %d × tile %d exceeds the 16-bit offset range", kc, t)
	}
	nb := max(1, (k+kc-1)/kc)
	ng := (m + r - 1) / r
	p := &CSRPacked{M: m, K: k, T: t, R: r, Groups: ng, Kc: kc, Blocks: nb, nnz: nnz,
		Cnt: make([]uint32, nb*ng), Start: make([]int64, nb*(ng+1)), Cost: make([]int64, ng+1)}
	// Pass 1: where each row's entries of each K block begin (columns increase within a
	// row, validated: one binary search per block boundary instead of a test per entry),
	// and per (block, group) the longest row's count.
	bound := make([]int64, m*(nb+1)) // bound[i·(nb+1)+b]: row i's first entry in block b
	for i := 0; i < m; i++ {
		bi := bound[i*(nb+1) : (i+1)*(nb+1)]
		lo, hi := w.RowPtr[i], w.RowPtr[i+1]
		cols := w.ColIdx[lo:hi]
		bi[0], bi[nb] = lo, hi
		q := 0
		for b := 1; b < nb; b++ {
			lim := int32(b * kc)
			if q < len(cols) && cols[q] < lim {
				q += sort.Search(len(cols)-q, func(j int) bool { return cols[q+j] >= lim })
			}
			bi[b] = lo + int64(q)
		}
		g := i / r
		for b := 0; b < nb; b++ {
			p.Cnt[b*ng+g] = max(p.Cnt[b*ng+g], uint32(bi[b+1]-bi[b]))
		}
		p.Cost[g+1] += hi - lo
	}
	for g := 0; g < ng; g++ {
		p.Cost[g+1] += p.Cost[g] + 1
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
	// Pass 2: entries to their steps; padding (weight 0, left by make) points at the zero
	// row Kc of each block's panel.
	zeroOff := uint16(kc * t * 4 / csrOffScale)
	p.Offs[s] = zeroOff
	scale := int32(t * 4 / csrOffScale)
	// Segment by segment in storage order (block, group, row), so that Vals and Offs are
	// written front to back. A column is checked where it lands: inside its block (so in
	// [0, K)) and after the previous one of its row in the block; blocks are in order, so
	// that orders the whole row.
	for b := 0; b < nb; b++ {
		base := int32(b * kc)
		lim := min(base+int32(kc), int32(k))
		for g := 0; g < ng; g++ {
			seg := p.Start[b*(ng+1)+g]
			steps := int64(p.Cnt[b*ng+g])
			for rr := 0; rr < r; rr++ {
				i := g*r + rr
				e := seg + int64(rr)
				end := e + steps*int64(r)
				if i < m {
					q0, q1 := bound[i*(nb+1)+b], bound[i*(nb+1)+b+1]
					if j, ok := csrPlaceRun(p.Vals, p.Offs, e, r, w.Val[q0:q1], w.ColIdx[q0:q1], base, lim, scale); !ok {
						return nil, csrBadIndex(w, i, q0+int64(j))
					}
					e += (q1 - q0) * int64(r)
				}
				for ; e < end; e += int64(r) {
					p.Offs[e] = zeroOff
				}
			}
		}
	}
	return p, nil
}

// csrPlaceRun stores one row's entries of one segment at every r-th slot from e: values, and
// offsets (c − base)·scale. It reports false and the entry's index at a column outside
// [base, lim) or not after the previous one.
func csrPlaceRun(dv []float32, do []uint16, e int64, r int, vals []float32, cols []int32, base, lim, scale int32) (int, bool) {
	prev := base - 1
	vals = vals[:len(cols)]
	for j, c := range cols {
		if c <= prev || c >= lim {
			return j, false
		}
		prev = c
		dv[e] = vals[j]
		do[e] = uint16((c - base) * scale)
		e += int64(r)
	}
	return 0, true
}

// csrBadIndex is the error for the column index at entry q of row i, which a packer found
// out of range or out of order: the full validation names the rule.
func csrBadIndex(w *formats.CSR, i int, q int64) error {
	if err := w.Validate(); err != nil {
		return err
	}
	return fmt.Errorf("%w: csr row %d, index %d: column %d out of place", formats.ErrInvalid, i, q, w.ColIdx[q])
}

// Bytes is the packed size.
func (p *CSRPacked) Bytes() int64 {
	return int64(len(p.Vals))*4 + int64(len(p.Offs))*2 + int64(len(p.Cnt))*4 + int64(len(p.Start))*8
}

// csrSpec is one CSR SpMM family: a tile width on an ISA with its generated tiles.
type csrSpec struct {
	// Desc is the family's descriptor: Tile is the tile width (floats), Rows the rows per
	// group (1, 2 or 4; the tiles for R must exist for every U ≤ Tile/Lanes).
	Desc
	tiles *[csrGroups][2][csrMaxU + 1]csrTileFunc // [log2 R][masked][U]
	// A low-precision family (csrlp.go) has a dtype and its tiles instead.
	dtype   formats.DType
	lpTiles *[csrGroups][2][csrMaxU + 1]csrLPTileFunc
}

// registerCSRGen registers the CSR families of a generated manifest on their tile table.
func registerCSRGen(m []Desc, tiles *[csrGroups][2][csrMaxU + 1]csrTileFunc) {
	for _, d := range m {
		s := &csrSpec{Desc: d, tiles: tiles}
		csrSpecs = append(csrSpecs, s)
		registerCSR(s)
	}
}

func registerCSR(s *csrSpec) { Register(csrFamily(s)) }

// csrFamily is the family of a CSR spec (registerCSR; RegisterGenerated for a user's).
func csrFamily(s *csrSpec) Family {
	return Family{
		Desc: &s.Desc,
		Pack: func(w formats.Matrix) (Kernel, error) {
			c, ok := w.(*formats.CSR)
			if !ok {
				return nil, fmt.Errorf("%w: %s takes CSR, not %T", ErrNotApplicable, s.Name, w)
			}
			p, err := PackCSR(c, s.Tile, s.Rows, 0)
			if err != nil {
				return nil, err
			}
			return &csrKernel{spec: s, p: p}, nil
		},
		// Tile widths differ only in the offsets' scale: packings of the same row group
		// and K block share their values, counts and starts.
		Layout: func(w formats.Matrix) string {
			c, ok := w.(*formats.CSR)
			if !ok {
				return ""
			}
			return fmt.Sprintf("csr/r%d/kc%d", s.Rows, CSRBlock(c.Cols, s.Tile, csrDensity(c)))
		},
		Derive: func(from Kernel) (Kernel, int64, error) {
			f, ok := from.(*csrKernel)
			if !ok || f.p.R != s.Rows || f.p.Kc != CSRBlock(f.p.K, s.Tile, f.p.density()) {
				return nil, 0, fmt.Errorf("%w: %s cannot share the packing of %s", ErrNotApplicable, s.Name, from.Name())
			}
			p, err := f.p.withTile(s.Tile)
			if err != nil {
				return nil, 0, err
			}
			return &csrKernel{spec: s, p: p}, int64(len(p.Offs)) * 2, nil
		},
	}
}

// csrDensity is the density PackCSR chooses its K block by: stored entries over M·K.
func csrDensity(w *formats.CSR) float64 { return storedDensity(int64(len(w.Val)), w.Rows, w.Cols) }

func (p *CSRPacked) density() float64 { return storedDensity(p.nnz, p.M, p.K) }

func storedDensity(stored int64, m, k int) float64 {
	if m == 0 || k == 0 {
		return 0
	}
	return float64(stored) / (float64(m) * float64(k))
}

// checkCSRTile checks a CSR tile width: a multiple of 4 floats, at most 128.
func checkCSRTile(t int) error {
	if t <= 0 || t%4 != 0 || t > 128 {
		return fmt.Errorf("asm: CSR tile width %d not a multiple of 4 in [4, 128]", t)
	}
	return nil
}

// csrOffsetsFit reports whether a K block of kc rows (and its zero row) of a panel of
// stride t fits the 16-bit scaled offsets.
func csrOffsetsFit(kc, t int) bool { return int64(kc+1)*int64(t)*4 <= 65536*csrOffScale }

// withTile returns p for tile width t: the same values, counts, starts and costs (shared,
// read-only), with the offsets rescaled to a panel of stride t. It is exactly what PackCSR
// gives for t with the same row group and K block.
func (p *CSRPacked) withTile(t int) (*CSRPacked, error) {
	if err := checkCSRTile(t); err != nil {
		return nil, err
	}
	if !csrOffsetsFit(p.Kc, t) {
		return nil, fmt.Errorf("%w: CSR K block %d × tile %d exceeds the 16-bit offset range", ErrNotApplicable, p.Kc, t)
	}
	q := *p
	q.T = t
	q.Offs = make([]uint16, len(p.Offs))
	// An offset is column·(T·4/8): rescale through the column, exactly.
	from, to := uint32(p.T*4/csrOffScale), uint32(t*4/csrOffScale)
	switch {
	case to%from == 0:
		f := to / from
		for i, o := range p.Offs {
			q.Offs[i] = uint16(uint32(o) * f)
		}
	case from%to == 0:
		f := from / to
		for i, o := range p.Offs {
			q.Offs[i] = uint16(uint32(o) / f)
		}
	default:
		for i, o := range p.Offs {
			q.Offs[i] = uint16(uint32(o) / from * to)
		}
	}
	return &q, nil
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
		if s.Name == family {
			if r != 0 && r != s.Rows {
				ss := *s
				ss.Rows = r
				for u := 1; u <= s.Tile/s.Lanes; u++ {
					if r != 1 && r != 2 && r != 4 || ss.tiles[log2int(r)][1][u] == nil || ss.tiles[log2int(r)][0][u] == nil {
						return nil, fmt.Errorf("%w: %s has no tiles for R = %d", ErrNotApplicable, family, r)
					}
				}
				s = &ss
			}
			p, err := PackCSR(w, s.Tile, s.Rows, kc)
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
	spec  *csrSpec
	p     *CSRPacked
	lp    []byte    // a low-precision family's weights in p's order (p.Vals is then nil)
	scale []float32 // int8 weights: one per row
	pool  sync.Pool // *[]float32 X panels
}

func (c *csrKernel) Name() string              { return c.spec.Name }
func (c *csrKernel) ISA() ISA                  { return c.spec.ISA }
func (c *csrKernel) Shape() (int, int)         { return c.p.M, c.p.K }
func (c *csrKernel) Units() int                { return c.p.Groups }
func (c *csrKernel) UnitRows(u int) (int, int) { return u * c.p.R, min(u*c.p.R+c.p.R, c.p.M) }
func (c *csrKernel) UnitCost() []int64         { return c.p.Cost }
func (c *csrKernel) PackedBytes() int64 {
	return c.p.Bytes() + int64(len(c.lp)) + 4*int64(len(c.scale))
}

// Packed exposes the plan (read-only) for tests and benchmarks.
func (c *csrKernel) Packed() *CSRPacked { return c.p }

// csrEpilogue turns epi into the kernel's flags and bounds. post is GELU/SiLU (or none),
// applied in Go after the last block.
func csrEpilogue(epi *ref.Epilogue) (first, last int, lo, hi float32, bias []float32, post ref.Activation) {
	a := lowerEpilogue(epi)
	if a.loadY {
		first |= epiLoadY
	}
	if a.bias {
		last |= epiBias
		bias = epi.Bias
	}
	if a.clamp {
		last |= epiClamp
	}
	return first, last, a.lo, a.hi, bias, a.post
}

func (c *csrKernel) Run(u0, u1 int, x []float32, ldx int, y []float32, ldy, n int, epi *ref.Epilogue) error {
	if err := CheckRun(c, u0, u1, x, ldx, y, ldy, n, epi); err != nil {
		return err
	}
	return c.run(u0, u1, x, ldx, y, ldy, n, epi, false)
}

// RunTokens is Run with X token-major (n×K, stride ldx ≥ K); Y stays M×n (ldy ≥ n).
func (c *csrKernel) RunTokens(u0, u1 int, x []float32, ldx int, y []float32, ldy, n int, epi *ref.Epilogue) error {
	if err := c.checkUnitsY(u0, u1, y, ldy, n, epi); err != nil {
		return err
	}
	if err := checkMatrix("X (token-major)", n, c.p.K, x, ldx); err != nil {
		return err
	}
	return c.run(u0, u1, x, ldx, y, ldy, n, epi, true)
}

func (c *csrKernel) run(u0, u1 int, x []float32, ldx int, y []float32, ldy, n int, epi *ref.Epilogue, tokenMajor bool) error {
	if n == 0 || u0 == u1 {
		return nil
	}
	// One K block's panel at a time, packed just before its block runs: it stays in L1/L2
	// (a whole tile's panel is K·T floats, 1.5 MiB at K = 3072, T = 128, and went out to
	// L3 between its packing and its use). Measured interleaved, 768×3072×128 at 90%: 3–4%
	// faster at 1 and 2 threads; neutral at K = 768.
	pstride := (c.p.Kc + 1) * c.p.T
	bp := pooledFloats(&c.pool, pstride)
	defer c.pool.Put(bp)
	panel := *bp
	var err error
	for n0 := 0; n0 < n; n0 += c.p.T {
		w := min(c.p.T, n-n0)
		c.runTile(u0, u1, func(b int) []float32 {
			if e := c.packBlock(panel, b, x, ldx, n0, w, tokenMajor); e != nil && err == nil {
				err = e
			}
			return panel
		}, w, y[n0:], ldy, epi)
	}
	return err
}

// checkUnitsY checks the unit range, the epilogue and Y (M×n, stride ldy) of a call that
// does not take channel-major X.
func (c *csrKernel) checkUnitsY(u0, u1 int, y []float32, ldy, n int, epi *ref.Epilogue) error {
	if u0 < 0 || u1 < u0 || u1 > c.Units() {
		return fmt.Errorf("%w: units [%d, %d) outside [0, %d)", ref.ErrShape, u0, u1, c.Units())
	}
	if err := epi.Check(c.p.M); err != nil {
		return err
	}
	return ref.CheckOperands(c.p.M, 0, n, nil, n, y, ldy) // Y only (K = 0)
}

// checkMatrix checks that x holds a rows×cols matrix with row stride ld.
func checkMatrix(name string, rows, cols int, x []float32, ld int) error {
	if rows < 0 || cols < 0 || ld < cols {
		return fmt.Errorf("%w: %s %d×%d with stride %d", ref.ErrShape, name, rows, cols, ld)
	}
	if need, ok := extent.Span(int64(rows), int64(cols), int64(ld)); !ok || int64(len(x)) < need {
		return fmt.Errorf("%w: %s has %d values, %d×%d with stride %d needs %s", ref.ErrShape, name, len(x), rows, cols, ld, extent.Need(need, ok))
	}
	return nil
}

// packBlock copies K block b of X[:, n0:n0+w] into that block's panel (Kc+1 rows of
// stride T, columns w..T zero, row Kc zero). Token-major X (n×K) is transposed on the way, on the
// kernel's ISA.
func (c *csrKernel) packBlock(blockPanel []float32, b int, x []float32, ldx, n0, w int, tokenMajor bool) error {
	t, kc := c.p.T, c.p.Kc
	d := blockPanel[:(kc+1)*t]
	k0 := b * kc
	rows := min(kc, c.p.K-k0)
	if tokenMajor {
		if rows > 0 {
			if err := TransposeUpTo(c.spec.ISA, d, t, x[n0*ldx+k0:], ldx, w, rows); err != nil {
				return err
			}
		}
		if w < t {
			for kk := 0; kk < rows; kk++ {
				clear(d[kk*t+w : kk*t+t])
			}
		}
	} else {
		for kk := 0; kk < rows; kk++ {
			dr := d[kk*t : kk*t+t]
			copy(dr, x[(k0+kk)*ldx+n0:(k0+kk)*ldx+n0+w])
			if w < t {
				clear(dr[w:])
			}
		}
	}
	clear(d[kc*t : kc*t+t])
	return nil
}

// runTile runs units [u0, u1) on one tile of w ≤ T columns (blockPanel(b): K block b's
// panel, called once per block in order; y: the tile's first column).
func (c *csrKernel) runTile(u0, u1 int, blockPanel func(b int) []float32, w int, y []float32, ldy int, epi *ref.Epilogue) {
	p, s := c.p, c.spec
	t, L, R := p.T, s.Lanes, p.R
	first, last, lo, hi, bias, post := csrEpilogue(epi)
	// Full groups go straight to Y; a ragged last group (M % R ≠ 0) through a scratch tile.
	full := u1
	ragged := u1 == p.Groups && p.M%R != 0
	if ragged {
		full--
	}
	var scratch [4 * 128]float32
	var sbias, sscale [4]float32
	var dummy float32
	ti, masked, u := log2int(R), 0, t/L
	tail := L
	if w < t {
		masked, u = 1, (w+L-1)/L
		tail = w - (u-1)*L
	}
	// call runs the tile function on ng groups from entry st: the float32 one, or the
	// low-precision one on c.lp with the groups' scales sp.
	call := func(st int64, cn *uint32, ng int, xb, yp *float32, ldy, flags int, bp, sp *float32) {
		if s.lpTiles != nil {
			s.lpTiles[ti][masked][u](&c.lp[st*int64(s.dtype.Bytes())], &p.Offs[st], cn, ng, xb, yp, ldy, flags, bp, sp, lo, hi, tail)
			return
		}
		s.tiles[ti][masked][u](&p.Vals[st], &p.Offs[st], cn, ng, xb, yp, ldy, flags, bp, lo, hi, tail)
	}
	for b := 0; b < p.Blocks; b++ {
		flags := epiLoadY
		if b == 0 {
			flags = first
		}
		if b == p.Blocks-1 {
			flags |= last
		}
		xb := &blockPanel(b)[0]
		start := p.Start[b*(p.Groups+1):]
		cnt := p.Cnt[b*p.Groups:]
		for g := u0; g < full; {
			// A chunk of groups with bounded work.
			ge := g + 1
			for ge < full && (start[ge+1]-start[g])*int64(t) <= csrChunkWork {
				ge++
			}
			bptr, sptr := &dummy, &dummy
			if flags&epiBias != 0 {
				bptr = &bias[g*R]
			}
			if c.scale != nil {
				sptr = &c.scale[g*R]
			}
			call(start[g], &cnt[g], ge-g, xb, &y[g*R*ldy], ldy, flags, bptr, sptr)
			g = ge
		}
		if ragged {
			g := p.Groups - 1
			rows := p.M - g*R
			if b == 0 && flags&epiLoadY != 0 {
				for i := 0; i < rows; i++ {
					copy(scratch[i*t:i*t+w], y[(g*R+i)*ldy:(g*R+i)*ldy+w])
				}
			}
			if flags&epiBias != 0 {
				copy(sbias[:rows], bias[g*R:])
			}
			if c.scale != nil {
				copy(sscale[:rows], c.scale[g*R:])
			}
			call(start[g], &cnt[g], 1, xb, &scratch[0], t, flags, &sbias[0], &sscale[0])
			if b == p.Blocks-1 {
				for i := 0; i < rows; i++ {
					copy(y[(g*R+i)*ldy:(g*R+i)*ldy+w], scratch[i*t:i*t+w])
				}
			}
		}
	}
	activateTile(post, y, ldy, u0*R, min(u1*R, p.M), 0, w)
}

func log2int(r int) int {
	n := 0
	for r > 1 {
		r >>= 1
		n++
	}
	return n
}
