package asm

import (
	"fmt"
	"math"
	"regexp"
	"sync"
	"unsafe"

	"github.com/sparsegen/sparsegen/formats"
	"github.com/sparsegen/sparsegen/ref"
)

// Baked CSR kernels (DESIGN §5.12): generated into a user's package by `asmgen -pkg …
// -bake FILE[:TENSOR]` for one weight's sparsity pattern, with every column offset compiled
// into the code (gen/kernels/bake.go describes the code and its value order). The
// package registers them through RegisterGenerated like any generated kernel; this file is
// their driver. A baked family takes only a CSR whose formats.PatternHash is its
// Desc.Pattern (checked by Pack, before any code runs): the code reads X at the offsets of
// that pattern and nothing else, so the hash is what makes it safe. The values are packed
// from W here, so one kernel serves every W of the pattern.

// BakedFunc is one chunk function of a baked kernel: its rows' outputs on one tile of
// Desc.Tile columns. vals: the chunk's first value (BakedLayout order); x: the panel (K
// rows of stride Tile); y: the chunk's first row of Y (stride ldy); bias: its first row's
// bias; flags: the epilogue (epiLoadY, epiBias, epiClamp) with its bounds lo, hi; nvec:
// the vectors of each row to load and store (1 … Tile/Lanes), the last masked to tail
// lanes (1 … Lanes).
type BakedFunc func(vals *float32, x *float32, y *float32, ldy int, flags int, bias *float32, lo, hi float32, nvec, tail int)

// BakedChunk is Rows consecutive rows of W and the function that computes them.
type BakedChunk struct {
	Rows int
	Fn   BakedFunc
}

// BakedCSR is the geometry and code of a baked kernel: the M×K shape it was baked for and
// its chunks, in row order (their Rows sum to M).
type BakedCSR struct {
	M, K   int
	Chunks []BakedChunk
}

var patternRE = regexp.MustCompile(`^[0-9a-f]{32}$`)

// checkBaked validates a baked descriptor and its code (checkGenerated's csr case).
func checkBaked(d *Desc, f GeneratedFuncs) error {
	b := f.Baked
	if b == nil || f.NM != nil || f.NMGemv != nil || f.CSR != nil || f.CSRMasked != nil {
		return fmt.Errorf("a baked kernel takes Baked only")
	}
	if !patternRE.MatchString(d.Pattern) {
		return fmt.Errorf("pattern %q is not a formats.PatternHash", d.Pattern)
	}
	if d.Rows < 1 || d.Rows > 8 || d.Rows&(d.Rows-1) != 0 {
		return fmt.Errorf("baked row group %d (want 1, 2, 4 or 8)", d.Rows)
	}
	if u := d.Tile / d.Lanes; d.Tile%d.Lanes != 0 || u < 1 || u > csrMaxU {
		return fmt.Errorf("baked tile %d is not 1 to %d vectors of %d", d.Tile, csrMaxU, d.Lanes)
	}
	if b.M < 1 || b.K < 1 || len(b.Chunks) == 0 {
		return fmt.Errorf("baked for %d×%d with %d chunks", b.M, b.K, len(b.Chunks))
	}
	if d.PatternRows != b.M || d.PatternCols != b.K {
		return fmt.Errorf("descriptor says %d×%d, the code was baked for %d×%d", d.PatternRows, d.PatternCols, b.M, b.K)
	}
	rows := 0
	for i, c := range b.Chunks {
		if c.Rows < 1 || c.Fn == nil {
			return fmt.Errorf("chunk %d: %d rows, function %v", i, c.Rows, c.Fn != nil)
		}
		rows += c.Rows
	}
	if rows != b.M {
		return fmt.Errorf("chunks cover %d rows of %d", rows, b.M)
	}
	return nil
}

// generatedBaked registers the family of a baked kernel.
func generatedBaked(d *Desc, f GeneratedFuncs) Family {
	b := f.Baked
	return Family{
		Desc: d,
		Pack: func(w formats.Matrix) (Kernel, error) {
			c, ok := w.(*formats.CSR)
			if !ok {
				return nil, fmt.Errorf("%w: %s takes CSR, not %T", ErrNotApplicable, d.Name, w)
			}
			if c.Rows != b.M || c.Cols != b.K {
				return nil, fmt.Errorf("%w: %s was baked for %d×%d, not %d×%d", ErrNotApplicable, d.Name, b.M, b.K, c.Rows, c.Cols)
			}
			if err := c.Validate(); err != nil {
				return nil, err
			}
			h, err := formats.PatternHash(c)
			if err != nil {
				return nil, err
			}
			if h != d.Pattern {
				return nil, fmt.Errorf("%w: %s was baked for pattern %s, W has %s", ErrNotApplicable, d.Name, d.Pattern, h)
			}
			return packBaked(d, b, c), nil
		},
	}
}

// bakedKernel is a baked kernel with W's values in its order.
type bakedKernel struct {
	d      *Desc
	b      *BakedCSR
	vals   []float32 // BakedLayout order, chunk after chunk; one 0 at the end
	start  []int     // chunk u's first value
	row0   []int     // chunk u's first row (len Units()+1)
	cost   []int64   // prefix sums of entries + rows per chunk
	panels sync.Pool // *[]float32: the X panel, K×Tile
}

func packBaked(d *Desc, b *BakedCSR, c *formats.CSR) *bakedKernel {
	k := &bakedKernel{d: d, b: b, vals: make([]float32, 0, len(c.Val)+1),
		start: make([]int, len(b.Chunks)+1), row0: make([]int, len(b.Chunks)+1), cost: make([]int64, len(b.Chunks)+1)}
	R := d.Rows
	r0 := 0
	for u, ch := range b.Chunks {
		k.start[u], k.row0[u] = len(k.vals), r0
		r1 := r0 + ch.Rows
		for g0 := r0; g0 < r1; g0 += R {
			g1 := min(g0+R, r1)
			for s := int64(0); ; s++ {
				any := false
				for i := g0; i < g1; i++ {
					if q := c.RowPtr[i] + s; q < c.RowPtr[i+1] {
						k.vals = append(k.vals, c.Val[q])
						any = true
					}
				}
				if !any {
					break
				}
			}
		}
		k.cost[u+1] = k.cost[u] + int64(len(k.vals)-k.start[u]) + int64(ch.Rows)
		r0 = r1
	}
	k.start[len(b.Chunks)], k.row0[len(b.Chunks)] = len(k.vals), r0
	k.vals = append(k.vals, 0) // a chunk with no entries still gets a valid pointer
	return k
}

func (k *bakedKernel) Name() string              { return k.d.Name }
func (k *bakedKernel) ISA() ISA                  { return k.d.ISA }
func (k *bakedKernel) Shape() (int, int)         { return k.b.M, k.b.K }
func (k *bakedKernel) Units() int                { return len(k.b.Chunks) }
func (k *bakedKernel) UnitRows(u int) (int, int) { return k.row0[u], k.row0[u+1] }
func (k *bakedKernel) UnitCost() []int64         { return k.cost }
func (k *bakedKernel) PackedBytes() int64 {
	return int64(len(k.vals))*4 + int64(len(k.start)+len(k.row0))*8 + int64(len(k.cost))*8
}

func (k *bakedKernel) Run(u0, u1 int, x []float32, ldx int, y []float32, ldy, n int, epi *ref.Epilogue) error {
	if err := CheckRun(k, u0, u1, x, ldx, y, ldy, n, epi); err != nil {
		return err
	}
	if n == 0 || u0 == u1 {
		return nil
	}
	t, kk := k.d.Tile, k.b.K
	flags, last, lo, hi, bias, post := csrEpilogue(epi)
	flags |= last // one pass over K: the first block is the last
	bp := pooledFloats(&k.panels, kk*t)
	defer k.panels.Put(bp)
	panel := *bp
	var dummy float32
	for n0 := 0; n0 < n; n0 += t {
		w := min(t, n-n0)
		for r := 0; r < kk; r++ {
			copy(panel[r*t:r*t+w], x[r*ldx+n0:r*ldx+n0+w])
			if w < t {
				clear(panel[r*t+w : r*t+t])
			}
		}
		L := k.d.Lanes
		nvec := (w + L - 1) / L
		tail := w - (nvec-1)*L
		for u := u0; u < u1; u++ {
			r0 := k.row0[u]
			bptr := &dummy
			if flags&epiBias != 0 {
				bptr = &bias[r0]
			}
			k.b.Chunks[u].Fn(&k.vals[k.start[u]], &panel[0], &y[r0*ldy+n0], ldy, flags, bptr, lo, hi, nvec, tail)
		}
		activateTile(post, y[n0:], ldy, k.row0[u0], k.row0[u1], 0, w)
	}
	return nil
}

// BakedGo is the pure-Go lowering of gen/kernels/bake.go's description for w: chunks of
// chunkRows rows (the last may be shorter) in groups of r rows, on tiles of t floats of
// lanes-wide vectors (nvec and tail as the generated code takes them). It runs asm's baked
// driver without generated code: the tests register it as a baked kernel and check it
// against the reference. Nothing registers it outside tests (the runtime CSR kernels
// serve where no baked code was generated).
func BakedGo(w *formats.CSR, chunkRows, r, t, lanes int) *BakedCSR {
	b := &BakedCSR{M: w.Rows, K: w.Cols}
	for r0 := 0; r0 < w.Rows; r0 += chunkRows {
		rows := min(chunkRows, w.Rows-r0)
		b.Chunks = append(b.Chunks, BakedChunk{Rows: rows, Fn: bakedGoChunk(w, r0, rows, r, t, lanes)})
	}
	return b
}

func bakedGoChunk(w *formats.CSR, r0, rows, R, t, lanes int) BakedFunc {
	entries := int(w.RowPtr[r0+rows] - w.RowPtr[r0])
	return func(vals *float32, x *float32, y *float32, ldy int, flags int, bias *float32, lo, hi float32, nvec, tail int) {
		cols := (nvec-1)*lanes + tail
		vs := unsafe.Slice(vals, max(entries, 1))
		xs := unsafe.Slice(x, w.Cols*t)
		ys := unsafe.Slice(y, (rows-1)*ldy+cols)
		acc := make([]float32, rows*t)
		if flags&epiLoadY != 0 {
			for i := 0; i < rows; i++ {
				copy(acc[i*t:i*t+cols], ys[i*ldy:i*ldy+cols])
			}
		}
		vi := 0
		for g0 := 0; g0 < rows; g0 += R {
			for s := int64(0); ; s++ {
				any := false
				for i := g0; i < min(g0+R, rows); i++ {
					q := w.RowPtr[r0+i] + s
					if q >= w.RowPtr[r0+i+1] {
						continue
					}
					any = true
					v, c := vs[vi], int(w.ColIdx[q])
					vi++
					for j := 0; j < t; j++ {
						acc[i*t+j] = float32(math.FMA(float64(v), float64(xs[c*t+j]), float64(acc[i*t+j])))
					}
				}
				if !any {
					break
				}
			}
		}
		for i := 0; i < rows; i++ {
			for j := 0; j < cols; j++ {
				a := acc[i*t+j]
				if flags&epiBias != 0 {
					a += unsafe.Slice(bias, rows)[i]
				}
				if flags&epiClamp != 0 && !(a != a) {
					a = min(max(a, lo), hi)
				}
				ys[i*ldy+j] = a
			}
		}
	}
}
