package asm

import (
	"fmt"
	"sync"
	"unsafe"

	"github.com/sparsegen/sparsegen/formats"
	"github.com/sparsegen/sparsegen/ref"
)

// Dense GEMM, Y = epi(W·X), in the GotoBLAS/BLIS scheme (DESIGN §5.2):
//
//   - W (M×K, constant) is packed once at plan time into MR-row panels, each stored k-major
//     ([k][MR], rows past M zero), so a K block [pc, pc+kc) of a panel is contiguous;
//   - X (K×N) is packed per call, one kc×nc block at a time, into NR-column panels
//     ([k][NR], columns past N zero) in a pooled, 64-byte aligned buffer;
//   - loops: jc over N in nc, pc over K in kc, ic over rows in mc, jr over NR panels of
//     X (the kc×NR panel stays in L1), ir over MR panels of W (the mc×kc block in L2);
//   - the micro-kernel computes an MR×NR tile over one K block and fuses the epilogue into
//     its store: the first block adds the bias (and, with Accumulate, Y's old value), later
//     blocks add the partial sum already in Y, the last block applies ReLU or clamp. GELU
//     and SiLU run as a Go pass over the tile after its last block.
//
// The K blocking is fixed at plan time (Pack), so the summation order of every Y element
// depends on the plan only: not on N, on the unit range a thread runs, or on how N is split.
// Edge tiles never touch Y outside rows [0, M) and columns [0, N): the micro-kernel takes the
// number of valid rows and columns and masks (AVX-512 opmask, AVX2 vmaskmovps) or skips the
// rest.

// The micro-kernel's store flags are the epilogue vocabulary of the generated contract.go
// (epiLoadY, epiBias, epiReLU, epiClamp).

// gemmMicro computes one tile: for i < rows, j < cols,
//
//	Y[i·ldy + j] = act(Σ_{p<k} w[p·MR + i]·x[p·NR + j] (+ bias[i]) (+ Y[i·ldy + j]))
//
// with w a packed W panel (k×MR) and x a packed X panel (k×NR). It reads bias[i] only for
// i < rows and touches Y only for i < rows, j < cols. k ≥ 1, 1 ≤ rows ≤ MR, 1 ≤ cols ≤ NR.
type gemmMicro func(k int, w, x, y *float32, ldy int, bias *float32, flags int, lo, hi float32, cols, rows int)

// gemmTile is one generated micro-kernel, as gen/kernels/gemm.go's tables list them.
type gemmTile struct {
	mr, nr int
	micro  gemmMicro
}

// gemmSpec is one dense GEMM family: a tile, its cache blocking and its micro-kernel.
type gemmSpec struct {
	// Desc is the family's descriptor; its register tile is Rows × Tile (MR × NR).
	Desc
	kc    int // K block (upper bound; Pack balances the blocks of a given K)
	mc    int // rows per L2 block (a multiple of MR)
	nc    int // columns per packed X block (a multiple of NR)
	micro gemmMicro
	// fullTiles: the micro-kernel handles only rows = MR and cols = NR (no masks); edge
	// tiles then go through a plan-side MR×NR buffer.
	fullTiles bool
}

// gemmSpecs lists every dense GEMM family built into this binary; the ISA files append to
// it in their init functions, and registerGemm registers them all.
var gemmSpecs []*gemmSpec

func registerGemm(s *gemmSpec) {
	gemmSpecs = append(gemmSpecs, s)
	Register(Family{
		Desc: &s.Desc,
		Pack: func(w formats.Matrix) (Kernel, error) { return packGemm(s, w) },
	})
}

func init() {
	registerGemm(&gemmSpec{
		Desc: Desc{Name: "gemm_4x16_generic", Source: "asm/gemm.go gemmMicroGo", Format: "dense", ISA: Generic,
			DType: "float32", Tile: 16, Rows: 4},
		kc: 256, mc: 128, nc: 1024,
		micro: gemmMicroGo(4, 16),
	})
}

// registerGemmGen registers the GEMM families of a generated manifest on their micro-kernels,
// with the blocking of every generated tile: kc = 256, mc ≈ 144 rows, nc = 2048.
func registerGemmGen(m []Desc, tiles []gemmTile) {
	for _, d := range m {
		t := generated(d, tiles, func(t gemmTile) bool { return t.mr == d.Rows && t.nr == d.Tile })
		registerGemm(&gemmSpec{Desc: d, kc: 256, mc: d.Rows * max(1, 144/d.Rows), nc: 2048, micro: t.micro})
	}
}

// gemmKernel is a dense W packed for one gemmSpec.
type gemmKernel struct {
	spec   *gemmSpec
	m, k   int
	kc     int       // K block for this K: balanced, ≤ spec.kc
	panels int       // ⌈M / MR⌉; one unit per panel
	wp     []float32 // panels × K × MR, 64-byte aligned
	cost   []int64
	pool   sync.Pool // *[]float32, packed X blocks
}

func packGemm(s *gemmSpec, w formats.Matrix) (Kernel, error) {
	d, ok := w.(*formats.Dense)
	if !ok {
		return nil, fmt.Errorf("%w: %s takes a dense matrix, not %T", ErrNotApplicable, s.Name, w)
	}
	if err := d.Validate(); err != nil {
		return nil, err
	}
	m, k := d.Rows, d.Cols
	g := &gemmKernel{spec: s, m: m, k: k, panels: (m + s.Rows - 1) / s.Rows}
	if blocks := (k + s.kc - 1) / s.kc; blocks > 0 {
		g.kc = (k + blocks - 1) / blocks
	}
	size := int64(g.panels) * int64(s.Rows) * int64(k)
	if size > int64(^uint(0)>>1)/8 {
		return nil, fmt.Errorf("%w: %d×%d weight is too large to pack", ref.ErrShape, m, k)
	}
	g.wp = alignedFloats(int(size))
	for p := 0; p < g.panels; p++ {
		dst := g.wp[p*k*s.Rows : (p+1)*k*s.Rows]
		for i := 0; i < s.Rows && p*s.Rows+i < m; i++ {
			for kk, v := range d.Row(p*s.Rows + i) {
				dst[kk*s.Rows+i] = v
			}
		}
	}
	g.cost = uniformCost(g.panels, int64(k)*int64(s.Rows))
	return g, nil
}

// alignedFloats returns n zeroed float32s starting on a 64-byte boundary.
func alignedFloats(n int) []float32 {
	buf := make([]float32, n+16)
	off := 0
	if a := uintptr(unsafe.Pointer(unsafe.SliceData(buf))) & 63; a != 0 {
		off = int(64-a) / 4
	}
	return buf[off : off+n : off+n]
}

func (g *gemmKernel) Name() string              { return g.spec.Name }
func (g *gemmKernel) ISA() ISA                  { return g.spec.ISA }
func (g *gemmKernel) Shape() (int, int)         { return g.m, g.k }
func (g *gemmKernel) Units() int                { return g.panels }
func (g *gemmKernel) UnitCost() []int64         { return g.cost }
func (g *gemmKernel) PackedBytes() int64        { return int64(len(g.wp)) * 4 }
func (g *gemmKernel) UnitRows(u int) (int, int) { return u * g.spec.Rows, min((u+1)*g.spec.Rows, g.m) }

// Tile reports the register tile (MR, NR) and the K block this plan uses.
func (g *gemmKernel) Tile() (mr, nr, kc int) { return g.spec.Rows, g.spec.Tile, g.kc }

// Run computes Y rows of panels [u0, u1). It packs X once per call (per kc×nc block), so
// callers should hand it large unit ranges rather than one panel at a time.
func (g *gemmKernel) Run(u0, u1 int, x []float32, ldx int, y []float32, ldy, n int, epi *ref.Epilogue) error {
	if err := CheckRun(g, u0, u1, x, ldx, y, ldy, n, epi); err != nil {
		return err
	}
	if n == 0 || u0 == u1 {
		return nil
	}
	s := g.spec
	mr, nr := s.Rows, s.Tile
	r0, r1 := u0*mr, min(u1*mr, g.m)
	if g.k == 0 {
		for r := r0; r < r1; r++ {
			row := y[r*ldy : r*ldy+n]
			for j := range row {
				row[j] = epi.Apply(0, r, row[j])
			}
		}
		return nil
	}

	var bias []float32
	var lo, hi float32
	firstFlags, lastFlags := 0, 0
	slowAct := ref.ActNone
	if epi != nil {
		bias = epi.Bias
		if bias != nil {
			firstFlags |= epiBias
		}
		if epi.Accumulate {
			firstFlags |= epiLoadY
		}
		switch epi.Act {
		case ref.ActReLU:
			lastFlags |= epiReLU
		case ref.ActClamp:
			lastFlags |= epiClamp
			lo, hi = epi.Lo, epi.Hi
		case ref.ActGELU, ref.ActSiLU:
			slowAct = epi.Act
		}
	}

	e := gemmEpi{y: y, ldy: ldy, bias: bias, lo: lo, hi: hi, slowAct: slowAct, first: firstFlags, last: lastFlags}
	npanAll := (n + nr - 1) / nr
	if n <= s.nc && int64(g.k)*int64(npanAll*nr)*4 <= gemmPanelOuterBytes {
		// All of packed X fits in L2: pack it once, then run each W panel through every K
		// block and X panel in turn, so W streams from memory exactly once, in order (the
		// order that matters when N is small and W is large).
		bp := g.xbuf(g.k * npanAll * nr)
		defer g.pool.Put(bp)
		xp := *bp
		for pc := 0; pc < g.k; pc += g.kc {
			kcur := min(g.kc, g.k-pc)
			packXBlock(xp[pc*npanAll*nr:(pc+kcur)*npanAll*nr], x[pc*ldx:], ldx, kcur, n, nr)
		}
		for p := u0; p < u1; p++ {
			for pc := 0; pc < g.k; pc += g.kc {
				kcur := min(g.kc, g.k-pc)
				for jr := 0; jr < npanAll; jr++ {
					g.tile(&e, p, pc, kcur, &xp[(pc*npanAll+jr*kcur)*nr], jr*nr, n)
				}
			}
		}
		return nil
	}

	ncMax := min(s.nc, npanAll*nr)
	bp := g.xbuf(g.kc * ncMax)
	defer g.pool.Put(bp)
	xp := *bp
	mcp := max(s.mc/mr, 1) // panels per L2 block
	for jc := 0; jc < n; jc += s.nc {
		ncur := min(s.nc, n-jc)
		npan := (ncur + nr - 1) / nr
		for pc := 0; pc < g.k; pc += g.kc {
			kcur := min(g.kc, g.k-pc)
			packXBlock(xp[:kcur*npan*nr], x[pc*ldx+jc:], ldx, kcur, ncur, nr)
			for ic := u0; ic < u1; ic += mcp {
				icEnd := min(ic+mcp, u1)
				for jr := 0; jr < npan; jr++ {
					xpan := &xp[jr*kcur*nr]
					for p := ic; p < icEnd; p++ {
						g.tile(&e, p, pc, kcur, xpan, jc+jr*nr, n)
					}
				}
			}
		}
	}
	return nil
}

// gemmPanelOuterBytes bounds the packed X for which Run packs all of X up front and loops
// W panels outermost. Measured on Zen 5 (1 MiB L2, 32 MiB L3): the panel-outer order was as
// fast as the GotoBLAS order or faster up to the 1.5 MiB packed X of 768×3072×128.
var gemmPanelOuterBytes int64 = 2 << 20

// gemmEpi carries one Run's output and epilogue to the tiles.
type gemmEpi struct {
	y           []float32
	ldy         int
	bias        []float32
	lo, hi      float32
	slowAct     ref.Activation
	first, last int // flags of the first and last K block
}

// tile runs the micro-kernel for W panel p, K block [pc, pc+kc), on the packed X panel
// xpan whose first column is col (of n).
func (g *gemmKernel) tile(e *gemmEpi, p, pc, kc int, xpan *float32, col, n int) {
	s := g.spec
	mr, nr := s.Rows, s.Tile
	flags := epiLoadY
	if pc == 0 {
		flags = e.first
	}
	last := pc+kc == g.k
	if last {
		flags |= e.last
	}
	row := p * mr
	rows := min(mr, g.m-row)
	cols := min(nr, n-col)
	w := &g.wp[(p*g.k+pc)*mr]
	if s.fullTiles && (rows < mr || cols < nr) {
		gemmEdge(s, kc, w, xpan, e.y[row*e.ldy+col:], e.ldy, e.bias, row, flags, e.lo, e.hi, cols, rows)
	} else {
		var bptr *float32
		if flags&epiBias != 0 {
			bptr = &e.bias[row]
		}
		s.micro(kc, w, xpan, &e.y[row*e.ldy+col], e.ldy, bptr, flags, e.lo, e.hi, cols, rows)
	}
	if last {
		activateTile(e.slowAct, e.y, e.ldy, row, row+rows, col, col+cols)
	}
}

// gemmEdge runs a full-tile-only micro-kernel on an edge tile (rows < MR or cols < NR)
// through an MR×NR buffer, so that it never touches Y or bias outside their slices. The
// arithmetic is the micro-kernel's own, so the result is bitwise that of a full tile.
func gemmEdge(s *gemmSpec, k int, w, x *float32, y []float32, ldy int, bias []float32, row, flags int, lo, hi float32, cols, rows int) {
	var tile [1024]float32
	var b [64]float32
	nr := s.Tile
	if flags&epiLoadY != 0 {
		for i := 0; i < rows; i++ {
			copy(tile[i*nr:i*nr+cols], y[i*ldy:i*ldy+cols])
		}
	}
	if flags&epiBias != 0 {
		copy(b[:rows], bias[row:row+rows])
	}
	s.micro(k, w, x, &tile[0], nr, &b[0], flags, lo, hi, nr, s.Rows)
	for i := 0; i < rows; i++ {
		copy(y[i*ldy:i*ldy+cols], tile[i*nr:i*nr+cols])
	}
}

// xbuf returns a pooled, 64-byte aligned buffer of at least n floats.
func (g *gemmKernel) xbuf(n int) *[]float32 {
	if bp, ok := g.pool.Get().(*[]float32); ok && cap(*bp) >= n {
		*bp = (*bp)[:cap(*bp)]
		return bp
	}
	b := alignedFloats(n)
	return &b
}

// packXBlock packs the kc×nc block of X at x (stride ldx) into ⌈nc/nr⌉ panels of kc×nr,
// zero-filling columns past nc.
func packXBlock(dst, x []float32, ldx, kc, nc, nr int) {
	full := nc / nr
	tail := nc - full*nr
	for k := 0; k < kc; k++ {
		src := x[k*ldx : k*ldx+nc]
		for j := 0; j < full; j++ {
			copy(dst[(j*kc+k)*nr:(j*kc+k+1)*nr], src[j*nr:(j+1)*nr])
		}
		if tail > 0 {
			d := dst[(full*kc+k)*nr : (full*kc+k+1)*nr]
			copy(d, src[full*nr:])
			clear(d[tail:])
		}
	}
}

// gemmMicroGo is the pure-Go micro-kernel for an mr×nr tile (mr·nr ≤ 1024): the generic
// family's kernel and, in tests, a second oracle on the exact packed layout of every tile.
func gemmMicroGo(mr, nr int) gemmMicro {
	if mr*nr > 1024 {
		panic("asm: gemmMicroGo tile too large")
	}
	return func(k int, w, x, y *float32, ldy int, bias *float32, flags int, lo, hi float32, cols, rows int) {
		ws := unsafe.Slice(w, k*mr)
		xs := unsafe.Slice(x, k*nr)
		ys := unsafe.Slice(y, (rows-1)*ldy+cols)
		var bs []float32
		if flags&epiBias != 0 {
			bs = unsafe.Slice(bias, rows)
		}
		var accBuf [1024]float32
		acc := accBuf[:mr*nr]
		for p := 0; p < k; p++ {
			xr := xs[p*nr : p*nr+nr]
			for i, wv := range ws[p*mr : p*mr+mr] {
				a := acc[i*nr : i*nr+nr]
				for j, xv := range xr {
					a[j] += wv * xv
				}
			}
		}
		for i := 0; i < rows; i++ {
			yr := ys[i*ldy : i*ldy+cols]
			for j := range yr {
				v := acc[i*nr+j]
				if flags&epiBias != 0 {
					v += bs[i]
				}
				if flags&epiLoadY != 0 {
					v += yr[j]
				}
				if flags&epiReLU != 0 && v < 0 {
					v = 0
				}
				if flags&epiClamp != 0 {
					if v < lo {
						v = lo
					}
					if v > hi {
						v = hi
					}
				}
				yr[j] = v
			}
		}
	}
}
