package asm

import (
	"fmt"
	"sync"

	"github.com/sparsegen/sparsegen/formats"
	"github.com/sparsegen/sparsegen/ref"
)

// Dense GEMV and small-N dense products (gen/kernels/gemv.go): Y = epi(W·X) row by row for
// a dense W, the kernel of decoding (N = 1), where each 4-byte weight is read once for 2
// flops and the product is bound by the bytes of W. The plan copies W into 64-byte aligned
// rows (stride K rounded up to 16 floats), so a row's vector loads never straddle a cache
// line; the kernel streams R rows at once (R·U independent FMA chains per column), X loaded
// once per row group, a horizontal sum per row and the CSR family's fused epilogue.
//
// Columns run in passes of up to the ISA's widest kernel (one generated kernel per column
// count C = 1..6 on AVX-512, 1..4 on AVX2 and NEON); a pass reads X from a panel of whole
// vectors (gen/kernels/gemv.go), except at N = 1 with a contiguous X column, which the
// kernel reads in place (its last vector masked). N of one pass streams W in gap mode, K
// whole (gemvStreams: a row group's rows a block of rows apart, so each row is one long
// stream); more passes run rows in chunks of about gemvChunkBytes of W, K in blocks of
// gemvKBlock, every pass over a block before the next (W read from memory once, by the first
// pass; the block stays in L2 and the pass's X block in L1; a call stays short). gemv_dense_avx512 declares N ≤ gemvMaxN (16), the others N ≤ 4
// (gen/kernels.GemvMaxNOf): dispatch runs dense W there where the cost model prices them
// cheapest. Any N runs correctly. The sum's order depends on K, the ISA
// and the width of the pass a column falls in (its kernel's U chains per row; that is, on N,
// as it did before N > 4 was declared): not on the row chunking or on the unit range a
// thread runs.

// gemvFunc is a generated GEMV kernel.
type gemvFunc func(w *float32, ldw, rows, k int, x, y *float32, ldy, flags int, bias *float32, lo, hi float32, gap int)

// gemvGenKernel is one generated kernel as gen/kernels/gemv.go's tables list it.
type gemvGenKernel struct {
	rows, cols int
	fn         gemvFunc
}

// gemvUnitRows, the rows per work unit (a multiple of every kernel's row group),
// gemvMaxCols, the widest kernel in columns, and gemvMaxN, the widest N range a family
// declares, are in the generated contract.go.

// gemvChunkBytes bounds the W bytes of one kernel call.
const gemvChunkBytes = 256 << 10

// gemvSpec is one GEMV family: the generated kernels of one ISA (or none: pure Go).
type gemvSpec struct {
	Desc                            // Lanes: the X panel's vector width (0 for the pure-Go kernel)
	kern [gemvMaxCols]gemvGenKernel // by column count − 1; fn nil: pure Go, or wider than the ISA's widest
}

// gemvWidest is the widest kernel of a generated table in columns: the columns of a pass.
func gemvWidest[K any](kern []K, has func(K) bool) int {
	c := 0
	for c < len(kern) && has(kern[c]) {
		c++
	}
	return c
}

// cols is the widest kernel of s in columns.
func (s *gemvSpec) cols() int {
	return gemvWidest(s.kern[:], func(k gemvGenKernel) bool { return k.fn != nil })
}

var gemvSpecs []*gemvSpec

func registerGemv(s *gemvSpec) {
	gemvSpecs = append(gemvSpecs, s)
	Register(Family{
		Desc: &s.Desc,
		Pack: func(w formats.Matrix) (Kernel, error) { return packGemv(s, w) },
	})
}

func init() {
	registerGemv(&gemvSpec{Desc: Desc{Name: "gemv_dense_generic", Source: "asm/gemv.go gemvGo", Format: "dense", ISA: Generic,
		DType: "float32", Rows: gemvUnitRows, MinN: 1, MaxN: 4, ExactN: true}}) // not timed against the GEMM beyond N = 4
}

// registerGemvGen registers the GEMV family of a generated manifest on its kernels.
func registerGemvGen(m []Desc, kern [gemvMaxCols]gemvGenKernel) {
	for _, d := range m {
		registerGemv(&gemvSpec{Desc: d, kern: kern})
	}
}

// gemvKernel is a dense W packed for one gemvSpec.
type gemvKernel struct {
	spec *gemvSpec
	m, k int
	ldw  int       // row stride of w: K rounded up to 16 floats
	w    []float32 // m × ldw, 64-byte aligned, padding zero
	cost []int64
	pool sync.Pool // *[]float32: X panels
}

func packGemv(s *gemvSpec, w formats.Matrix) (Kernel, error) {
	d, ok := w.(*formats.Dense)
	if !ok {
		return nil, fmt.Errorf("%w: %s takes a dense matrix, not %T", ErrNotApplicable, s.Name, w)
	}
	if err := d.Validate(); err != nil {
		return nil, err
	}
	m, k := d.Rows, d.Cols
	ldw := (k + 15) &^ 15
	if int64(m)*int64(ldw) > int64(^uint(0)>>1)/8 {
		return nil, fmt.Errorf("%w: %d×%d weight is too large to pack", ref.ErrShape, m, k)
	}
	g := &gemvKernel{spec: s, m: m, k: k, ldw: ldw, w: alignedFloats(m * ldw)}
	for i := 0; i < m; i++ {
		copy(g.w[i*ldw:i*ldw+k], d.Row(i))
	}
	units := (m + gemvUnitRows - 1) / gemvUnitRows
	g.cost = uniformCost(units, int64(gemvUnitRows)*int64(k))
	return g, nil
}

func (g *gemvKernel) Name() string       { return g.spec.Name }
func (g *gemvKernel) ISA() ISA           { return g.spec.ISA }
func (g *gemvKernel) Shape() (int, int)  { return g.m, g.k }
func (g *gemvKernel) Units() int         { return len(g.cost) - 1 }
func (g *gemvKernel) UnitCost() []int64  { return g.cost }
func (g *gemvKernel) PackedBytes() int64 { return int64(len(g.w)) * 4 }
func (g *gemvKernel) UnitRows(u int) (int, int) {
	return u * gemvUnitRows, min((u+1)*gemvUnitRows, g.m)
}

// gemvDummy stands in for an empty operand (a kernel given k = 0 reads no W or X).
var gemvDummy float32

// Run computes rows of units [u0, u1), columns [0, n).
func (g *gemvKernel) Run(u0, u1 int, x []float32, ldx int, y []float32, ldy, n int, epi *ref.Epilogue) error {
	if err := CheckRun(g, u0, u1, x, ldx, y, ldy, n, epi); err != nil {
		return err
	}
	if n == 0 || u0 == u1 {
		return nil
	}
	r0, r1 := g.UnitRows(u0)
	_, r1 = g.UnitRows(u1 - 1)
	first, last, lo, hi, bias, post := csrEpilogue(epi)
	flags := first | last
	s := g.spec
	if s.kern[0].fn == nil {
		gemvGo(g.w, g.ldw, r0, r1, g.k, x, ldx, y, ldy, n, flags, bias, lo, hi)
		activateTile(post, y, ldy, r0, r1, 0, n)
		return nil
	}
	cw := s.cols()
	gx := newGemvX(&g.pool, x, ldx, g.k, n, s.Lanes, cw)
	defer gx.put()
	if n <= cw {
		// One pass: W read once, in long row streams (gemvStreams), K whole.
		kn := s.kern[n-1]
		gemvStreams(r0, r1, kn.rows, 4*g.ldw, func(rs, rows, gap int) {
			g.call(kn.fn, rs, 0, g.k, gx.pass(0), y, ldy, rows, flags, bias, lo, hi, gap)
			activateTile(post, y, ldy, rs, rs+rows, 0, n)
		})
		return nil
	}
	chunk := max(gemvUnitRows, gemvChunkBytes/(4*max(g.ldw, 1))&^(gemvUnitRows-1))
	kb := gemvKBlock(g.k)
	for rs := r0; rs < r1; rs += chunk {
		re := min(rs+chunk, r1)
		// K blocks: the first adds the caller's old Y (first), later ones the partial sum
		// stored by the one before (epiLoadY), the last one bias and clamp (last).
		for k0 := 0; k0 == 0 || k0 < g.k; k0 += kb {
			kl := min(kb, g.k-k0)
			fl := first
			if k0 > 0 {
				fl = epiLoadY
			}
			if k0+kl == g.k {
				fl |= last
			}
			for j0 := 0; j0 < n; j0 += cw {
				c := min(cw, n-j0)
				g.call(s.kern[c-1].fn, rs, k0, kl, gx.passAt(j0, k0), y[j0:], ldy, re-rs, fl, bias, lo, hi, 1)
			}
		}
		activateTile(post, y, ldy, rs, re, 0, n)
	}
	return nil
}

// call runs kernel fn on rows [rs, rs+rows) and W's columns [k0, k0+kl) with gap, X at x, Y
// from y[rs·ldy].
func (g *gemvKernel) call(fn gemvFunc, rs, k0, kl int, x *float32, y []float32, ldy, rows, flags int, bias []float32, lo, hi float32, gap int) {
	wp, bptr := &gemvDummy, &gemvDummy
	if kl > 0 {
		wp = &g.w[rs*g.ldw+k0]
	}
	if flags&epiBias != 0 {
		bptr = &bias[rs]
	}
	fn(wp, g.ldw, rows, kl, x, &y[rs*ldy], ldy, flags, bptr, lo, hi, gap)
}

// gemvStreamBytes is the W bytes each of a row group's R streams reads in one kernel call
// of a single pass (gemvStreams): long enough that the hardware prefetchers run ahead of every stream
// (Zen 5, one core, float32 4096- and 11008-float rows from DRAM: streams of 64 KiB 35-36
// GB/s, 256 KiB 37-40, 1 MiB 39-41, four streams of 40 MiB 36-40), short enough that a call
// (R MiB of W) ends within about 0.1 ms (the runtime cannot preempt assembly). A variable
// for the tests.
var gemvStreamBytes = 1 << 20

// gemvStreams runs rows [r0, r1) of a GEMV of one pass (N up to the widest kernel) as
// run(rs, rows, gap) calls of the
// kernel of R-row groups with gap (gen/kernels/gemv.go): blocks of R·gap rows, gap the rows
// of about gemvStreamBytes of W (rows of rowBytes each), so that each of a group's rows
// starts a stream of gap consecutive rows; the last block is as wide as the rows left allow,
// and fewer than 2R rows left run with gap = 1. Every row's sum is the same as with gap = 1.
func gemvStreams(r0, r1, groupRows, rowBytes int, run func(rs, rows, gap int)) {
	per := max(1, gemvStreamBytes/max(rowBytes, 1))
	for rs := r0; rs < r1; {
		gap := min(per, (r1-rs)/groupRows)
		if gap <= 1 {
			run(rs, r1-rs, 1)
			return
		}
		run(rs, groupRows*gap, gap)
		rs += groupRows * gap
	}
}

// gemvKBlockFloats bounds the K block of one GEMV kernel call, so that a pass's X block (up
// to gemvMaxCols columns of it: 24 KiB) stays in L1 while the rows of a chunk of W stream
// past it; unblocked, every pass read its whole X panel (96 KiB at K = 4096 and 6 columns)
// from L2 once per row group besides W's rows. Zen 5, 1 thread, 11008×4096, go test -bench
// Gemv, one run each on a shared machine: N = 8 13.6 → 9.8 ms, N = 16 16.2 → 14.4 ms
// (passes of 4 then); 512 and 256 were no faster.
const gemvKBlockFloats = 1024

// gemvKBlock is the K block of the GEMV calls on a K-column W: K itself up to
// gemvKBlockFloats, else K cut into equal blocks rounded up to 64 floats (a whole main-loop
// step of every ISA, so only the last block has a tail). It depends on K alone.
func gemvKBlock(k int) int {
	if k <= gemvKBlockFloats {
		return max(k, 1)
	}
	nb := (k + gemvKBlockFloats - 1) / gemvKBlockFloats
	return ((k+nb-1)/nb + 63) &^ 63
}

// gemvX is the X of one GEMV call as its kernels read it, pass by pass (pass p: columns
// [cw·p, min(cw·p+cw, n)), cw the widest kernel's columns): in place when it is one
// contiguous column, else packed once into the passes' panels (packGemvPanels) in a pooled
// buffer that put returns to the pool.
type gemvX struct {
	x, panel []float32
	stride   int // floats per column of a panel: K rounded up to whole vectors
	n, cw    int // columns; columns per pass
	inPlace  bool
	pool     *sync.Pool
	bp       *[]float32 // the pooled panel buffer, nil when none
}

func newGemvX(pool *sync.Pool, x []float32, ldx, k, n, lanes, cw int) gemvX {
	g := gemvX{x: x, stride: (k + lanes - 1) / lanes * lanes, n: n, cw: cw, inPlace: n == 1 && ldx == 1, pool: pool}
	if !g.inPlace && k > 0 {
		g.bp = pooledFloats(pool, g.stride*n)
		g.panel = *g.bp
		packGemvPanels(g.panel, x, ldx, k, n, lanes, cw)
	}
	return g
}

// put returns the panel buffer to its pool.
func (g gemvX) put() {
	if g.bp != nil {
		g.pool.Put(g.bp)
	}
}

// pass is the X the kernels read for the pass starting at column j0 (a dummy when K = 0).
func (g gemvX) pass(j0 int) *float32 { return g.passAt(j0, 0) }

// passAt is the X of the pass starting at column j0 from row k0 of X, a multiple of the
// vector width (a dummy when K = 0): in a pass's panel of c columns, vector v starts at
// v·c·L floats.
func (g gemvX) passAt(j0, k0 int) *float32 {
	switch {
	case g.stride == 0:
		return &gemvDummy
	case g.inPlace:
		return &g.x[k0]
	}
	c := min(g.cw, g.n-j0)
	return &g.panel[g.stride*j0+k0*c]
}

// pooledFloats takes a buffer of at least n floats from pool, or makes one (a smaller one
// taken is dropped).
func pooledFloats(pool *sync.Pool, n int) *[]float32 {
	if bp, ok := pool.Get().(*[]float32); ok && len(*bp) >= n {
		return bp
	}
	b := make([]float32, n)
	return &b
}

// gemvGo is the pure-Go kernel: rows [r0, r1) of w (stride ldw) times columns [0, n) of X
// (K×n, stride ldx), four partial sums per dot product, then the epilogue of the generated
// kernels (flags epiBias, epiLoadY, epiClamp, in ref's order).
func gemvGo(w []float32, ldw, r0, r1, k int, x []float32, ldx int, y []float32, ldy, n, flags int, bias []float32, lo, hi float32) {
	var xc []float32
	for j := 0; j < n; j++ {
		xv := x[j:]
		if ldx != 1 && k > 0 {
			if xc == nil {
				xc = make([]float32, k)
			}
			for kk := range xc {
				xc[kk] = x[kk*ldx+j]
			}
			xv = xc
		}
		for r := r0; r < r1; r++ {
			row := w[r*ldw : r*ldw+k]
			var s0, s1, s2, s3 float32
			q := 0
			for ; q+4 <= k; q += 4 {
				s0 += row[q] * xv[q]
				s1 += row[q+1] * xv[q+1]
				s2 += row[q+2] * xv[q+2]
				s3 += row[q+3] * xv[q+3]
			}
			for ; q < k; q++ {
				s0 += row[q] * xv[q]
			}
			s := (s0 + s1) + (s2 + s3)
			if flags&epiBias != 0 {
				s += bias[r]
			}
			if flags&epiLoadY != 0 {
				s += y[r*ldy+j]
			}
			if flags&epiClamp != 0 {
				s = clampNaN(s, lo, hi)
			}
			y[r*ldy+j] = s
		}
	}
}

// clampNaN is min(max(s, lo), hi) with NaN kept, as MAXPS/MINPS with s first do.
func clampNaN(s, lo, hi float32) float32 {
	if s < lo {
		s = lo
	}
	if s > hi {
		s = hi
	}
	return s
}

// packGemvPanels copies X (k×n, stride ldx) into the panels the GEMV kernels read: pass p
// covers columns [cw·p, min(cw·p+cw, n)), vector v of the pass holds X[vL : vL+L, col] for each
// of its c columns in turn, zero past k (the float32 and the low-precision GEMV alike).
func packGemvPanels(panel, x []float32, ldx, k, n, L, cw int) {
	nv := (k + L - 1) / L
	for j0 := 0; j0 < n; j0 += cw {
		c := min(cw, n-j0)
		pp := panel[nv*L*j0 : nv*L*(j0+c)]
		for v := 0; v < nv; v++ {
			for cc := 0; cc < c; cc++ {
				dst := pp[(v*c+cc)*L : (v*c+cc+1)*L]
				for l := range dst {
					if kk := v*L + l; kk < k {
						dst[l] = x[kk*ldx+j0+cc]
					} else {
						dst[l] = 0
					}
				}
			}
		}
	}
}
