package asm

import (
	"errors"
	"fmt"
	"math"
	"math/rand"
	"slices"
	"testing"

	"github.com/sparsegen/sparsegen/formats"
	"github.com/sparsegen/sparsegen/ref"
)

// csrRunnable returns the CSR families this CPU runs, failing if a family that the build
// has and the CPU supports is missing (so a silently dropped ISA cannot pass).
func csrRunnable(t *testing.T) []*csrSpec {
	t.Helper()
	var out []*csrSpec
	for _, s := range csrSpecs {
		if s.Features&^hostFeatures() != 0 {
			t.Logf("%s: CPU lacks %v, skipped", s.Name, s.Features&^hostFeatures())
			continue
		}
		if _, ok := Lookup(s.Name); !ok {
			t.Fatalf("%s not registered", s.Name)
		}
		out = append(out, s)
	}
	return out
}

// csrAsmSpecs returns the CSR assembly families this CPU runs, for tests that compare them
// with each other: it skips only where none can run, saying which is absent, this build's
// CSR assembly (-tags purego, or a GOARCH without kernels) or the CPU features of every
// family; csrRunnable fails if a family the CPU supports is missing.
func csrAsmSpecs(t *testing.T) []*csrSpec {
	t.Helper()
	specs := csrRunnable(t)
	if len(specs) == 0 {
		if len(csrSpecs) == 0 {
			t.Skip("this build has no CSR assembly (-tags purego or a GOARCH without kernels)")
		}
		t.Skipf("the CPU (features %v) lacks what every CSR family of this build needs", hostFeatures())
	}
	return specs
}

// randCSR draws an m×k CSR of density d with the given special rows.
func randCSR(r *rand.Rand, m, k int, d float64, emptyRow, fullRow int) *formats.CSR {
	c := &formats.CSR{Rows: m, Cols: k, RowPtr: make([]int64, m+1)}
	for i := 0; i < m; i++ {
		for j := 0; j < k; j++ {
			keep := r.Float64() < d
			if i == emptyRow {
				keep = false
			}
			if i == fullRow {
				keep = true
			}
			if keep {
				c.ColIdx = append(c.ColIdx, int32(j))
				c.Val = append(c.Val, float32(r.NormFloat64()))
			}
		}
		c.RowPtr[i+1] = int64(len(c.Val))
	}
	if err := c.Validate(); err != nil {
		panic(err)
	}
	return c
}

func csrEpilogues(r *rand.Rand, m int) []*ref.Epilogue {
	bias := make([]float32, m)
	for i := range bias {
		bias[i] = float32(r.NormFloat64())
	}
	return []*ref.Epilogue{
		nil,
		{Bias: bias},
		{Act: ref.ActReLU},
		{Bias: bias, Act: ref.ActClamp, Lo: -0.5, Hi: 0.75},
		{Accumulate: true},
		{Bias: bias, Accumulate: true, Act: ref.ActReLU},
		{Bias: bias, Act: ref.ActGELU},
		{Accumulate: true, Act: ref.ActSiLU},
	}
}

// csrCheck compares y (the kernel's result) with the float64 oracle of DESIGN §6:
// |err| ≤ 2(k+1)·ε·(Σ|w·x| + |bias| + |old y|) per element, through the activation.
func csrCheck(t *testing.T, what string, w *formats.CSR, x []float32, ldx int, y0, y []float32, ldy, n int, epi *ref.Epilogue) {
	t.Helper()
	const eps = 1.0 / (1 << 24)
	bad := 0
	for i := 0; i < w.Rows; i++ {
		for j := 0; j < n; j++ {
			var s, a float64
			for p := w.RowPtr[i]; p < w.RowPtr[i+1]; p++ {
				v := float64(w.Val[p]) * float64(x[int(w.ColIdx[p])*ldx+j])
				s += v
				a += math.Abs(v)
			}
			k := w.RowPtr[i+1] - w.RowPtr[i]
			act, lo, hi := ref.ActNone, float32(0), float32(0)
			if epi != nil {
				if epi.Bias != nil {
					s += float64(epi.Bias[i])
					a += math.Abs(float64(epi.Bias[i]))
				}
				if epi.Accumulate {
					old := float64(y0[i*ldy+j])
					s += old
					a += math.Abs(old)
				}
				act, lo, hi = epi.Act, epi.Lo, epi.Hi
			}
			want := ref.Activate64(act, s, lo, hi)
			tol := 2*float64(k+3)*eps*a*1.25 + 1e-37
			got := float64(y[i*ldy+j])
			if math.IsNaN(want) != math.IsNaN(got) || math.Abs(got-want) > tol {
				if bad < 5 {
					t.Errorf("%s: Y[%d,%d] = %v, want %v ± %v", what, i, j, got, want, tol)
				}
				bad++
			}
		}
		// Columns past n and padding between rows must be untouched.
		for j := n; j < ldy && i*ldy+j < len(y); j++ {
			if math.Float32bits(y[i*ldy+j]) != math.Float32bits(y0[i*ldy+j]) {
				if bad < 5 {
					t.Errorf("%s: Y[%d,%d] past N changed", what, i, j)
				}
				bad++
			}
		}
	}
}

// csrCase runs kernel kern on w with fresh random X and Y and checks the result; it returns
// the output for bitwise comparisons.
func csrCase(t *testing.T, kern Kernel, w *formats.CSR, r *rand.Rand, n, ldx, ldy int, epi *ref.Epilogue, side guardSide) []float32 {
	t.Helper()
	m, k := w.Shape()
	x, y := csrOperands(t, w, r, n, ldx, ldy, side)
	y0 := append([]float32(nil), y...)
	e := epi
	if epi != nil && epi.Bias != nil {
		ee := *epi
		ee.Bias = guardCopy(t, epi.Bias, side)
		e = &ee
	}
	if err := kern.Run(0, kern.Units(), x, ldx, y, ldy, n, e); err != nil {
		t.Fatal(err)
	}
	csrCheck(t, fmt.Sprintf("%s m=%d k=%d n=%d ldx=%d ldy=%d epi=%+v", kern.Name(), m, k, n, ldx, ldy, epi), w, x, ldx, y0, y, ldy, n, epi)
	return y
}

// guardPacked re-homes the plan's buffers into guarded memory.
func guardPacked(t *testing.T, kern Kernel, side guardSide) {
	p := kern.(*csrKernel).p
	p.Vals = guardCopy(t, p.Vals, side)
	p.Offs = guardCopy(t, p.Offs, side)
	p.Cnt = guardCopy(t, p.Cnt, side)
}

func csrNs(t int) []int {
	if t <= 32 {
		ns := make([]int, 2*t+1)
		for i := range ns {
			ns[i] = i + 1
		}
		return ns
	}
	return []int{1, 2, 7, 8, 9, 15, 16, 17, 31, 33, t/2 + 5, t - 1, t, t + 1, t + 16, 2*t - 1, 2 * t, 2*t + 1}
}

func TestCSRShapes(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	type shape struct {
		m, k        int
		d           float64
		empty, full int
	}
	shapes := []shape{
		{1, 1, 1, -1, -1}, {1, 37, 0.3, -1, 0}, {5, 1, 0.5, 2, -1}, {7, 50, 0, -1, -1}, // M=1, K=1, nnz=0
		{9, 70, 0.2, 3, 5}, {4, 600, 0.05, 0, 1}, // K blocked at T ≥ 64
	}
	for _, s := range csrRunnable(t) {
		for si, sh := range shapes {
			w := randCSR(r, sh.m, sh.k, sh.d, sh.empty, sh.full)
			for kcSel, kc := range []int{0, 7} {
				kern, err := NewCSRKernel(s.Name, w, kc)
				if err != nil {
					t.Fatal(err)
				}
				side := guardSide((si + kcSel) % 2)
				guardPacked(t, kern, side)
				for _, n := range csrNs(s.Tile) {
					epis := csrEpilogues(r, sh.m)
					epi := epis[(n+si)%len(epis)]
					ldx, ldy := n+(n%3), n+(n%2)*5
					csrCase(t, kern, w, r, n, ldx, ldy, epi, side)
				}
			}
		}
	}
}

func TestCSREpilogues(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	w := randCSR(r, 13, 90, 0.15, 4, 7)
	for _, s := range csrRunnable(t) {
		kern, err := NewCSRKernel(s.Name, w, 16)
		if err != nil {
			t.Fatal(err)
		}
		for _, side := range []guardSide{guardAfter, guardBefore} {
			for _, epi := range csrEpilogues(r, w.Rows) {
				for _, n := range []int{1, s.Lanes - 1, s.Tile, s.Tile + 3} {
					csrCase(t, kern, w, r, n, n+2, n+1, epi, side)
				}
			}
		}
	}
}

func TestCSRNaN(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	w := randCSR(r, 6, 20, 0.5, -1, 0)
	for _, s := range csrRunnable(t) {
		kern, _ := NewCSRKernel(s.Name, w, 0)
		n := 5
		x := make([]float32, 20*n)
		for i := range x {
			x[i] = 1
		}
		x[0] = float32(math.NaN()) // row 0 is full: Y[0, 0] is NaN
		y := make([]float32, 6*n)
		for _, epi := range []*ref.Epilogue{{Act: ref.ActReLU}, {Act: ref.ActClamp, Lo: -1, Hi: 1}} {
			if err := kern.Run(0, kern.Units(), x, n, y, n, n, epi); err != nil {
				t.Fatal(err)
			}
			if !math.IsNaN(float64(y[0])) {
				t.Errorf("%s %v: NaN did not propagate, got %v", s.Name, epi.Act, y[0])
			}
		}
	}
}

// TestCSRBitwise: every Y element is one FMA chain in storage order, so every family
// (any tile width, either ISA), any K block, any N split and any unit split give the same
// bits.
func TestCSRBitwise(t *testing.T) {
	r := rand.New(rand.NewSource(4))
	specs := csrAsmSpecs(t)
	w := randCSR(r, 23, 700, 0.1, 5, 9)
	n, ldx, ldy := 150, 151, 153
	x := make([]float32, (w.Cols-1)*ldx+n)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	bias := make([]float32, w.Rows)
	for i := range bias {
		bias[i] = float32(r.NormFloat64())
	}
	epi := &ref.Epilogue{Bias: bias, Act: ref.ActReLU}
	run := func(kern Kernel, cols [][2]int, units [][2]int) []float32 {
		y := make([]float32, (w.Rows-1)*ldy+n)
		nu := kern.Units()
		for _, c := range cols {
			for _, u := range units {
				u = [2]int{min(u[0], nu), min(u[1], nu)}

				if err := kern.Run(u[0], u[1], x[c[0]:], ldx, y[c[0]:], ldy, c[1]-c[0], epi); err != nil {
					t.Fatal(err)
				}
			}
		}
		return y
	}
	var want []float32
	for _, s := range specs {
		for _, kc := range []int{0, 5, 64} {
			kern, err := NewCSRKernel(s.Name, w, kc)
			if err != nil {
				t.Fatal(err)
			}
			for _, split := range []struct{ cols, units [][2]int }{
				{[][2]int{{0, n}}, [][2]int{{0, 1 << 30}}},
				{[][2]int{{0, 17}, {17, 100}, {100, n}}, [][2]int{{0, 1}, {1, 3}, {3, 1 << 30}}},
			} {
				y := run(kern, split.cols, split.units)
				if want == nil {
					want = y
					csrCheck(t, s.Name, w, x, ldx, y, y, ldy, n, epi)
					continue
				}
				for i := range want {
					if math.Float32bits(y[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%s kc=%d split %v: Y[%d] = %v, want bitwise %v", s.Name, kc, split.cols, i, y[i], want[i])
					}
				}
			}
		}
	}
}

func TestCSRRunChecks(t *testing.T) {
	r := rand.New(rand.NewSource(5))
	w := randCSR(r, 4, 8, 0.5, -1, -1)
	for _, s := range csrRunnable(t) {
		kern, _ := NewCSRKernel(s.Name, w, 0)
		x := make([]float32, 8*4)
		y := make([]float32, 4*4)
		if err := kern.Run(0, 4, x[:31], 4, y, 4, 4, nil); err == nil {
			t.Errorf("%s: short X accepted", s.Name)
		}
		if err := kern.Run(0, 4, x, 4, y[:15], 4, 4, nil); err == nil {
			t.Errorf("%s: short Y accepted", s.Name)
		}
		if err := kern.Run(0, 5, x, 4, y, 4, 4, nil); err == nil {
			t.Errorf("%s: unit range past M accepted", s.Name)
		}
		if err := kern.Run(0, 4, x, 4, y, 4, 4, &ref.Epilogue{Bias: make([]float32, 3)}); err == nil {
			t.Errorf("%s: short bias accepted", s.Name)
		}
	}
	if _, err := PackCSR(w, 64, 2, 4096); err == nil {
		t.Error("K block past the 16-bit offset range accepted")
	}
}

// TestCSRAllTiles runs every generated tile function (each R × U, masked and not), also
// those no registered family uses today, against the reference.
func TestCSRAllTiles(t *testing.T) {
	r := rand.New(rand.NewSource(6))
	seen := map[*[csrGroups][2][csrMaxU + 1]csrTileFunc]bool{}
	for _, s := range csrRunnable(t) {
		if seen[s.tiles] {
			continue
		}
		seen[s.tiles] = true
		for ri, R := range []int{1, 2, 4} {
			for u := 1; u <= 8; u++ {
				if s.tiles[ri][0][u] == nil || s.tiles[ri][1][u] == nil {
					continue
				}
				spec := *s
				spec.Tile, spec.Rows = u*s.Lanes, R
				spec.Name = fmt.Sprintf("%s_r%du%d", s.Name, R, u)
				w := randCSR(r, 4*R+1, 45, 0.3, 1, 2)
				p, err := PackCSR(w, spec.Tile, R, 9)
				if err != nil {
					t.Fatal(err)
				}
				kern := &csrKernel{spec: &spec, p: p}
				t.Logf("%s", spec.Name)
				for _, n := range []int{spec.Tile, spec.Tile - 1, 1, 2*spec.Tile + 1} {
					if n < 1 {
						continue
					}
					epis := csrEpilogues(r, w.Rows)
					csrCase(t, kern, w, r, n, n+1, n+2, epis[(n+u)%len(epis)], guardSide(u%2))
				}
			}
		}
	}
}

// TestCSRGoTiles runs the packing and the driver with the Go tile kernel: on every GOARCH
// and under -tags purego, every R, tile width and lane count, with guard pages.
func TestCSRGoTiles(t *testing.T) {
	r := rand.New(rand.NewSource(7))
	for _, lanes := range []int{4, 8, 16} {
		tiles := csrGoTiles(lanes)
		for _, R := range []int{1, 2, 4} {
			for _, u := range []int{1, 2, 4} {
				spec := &csrSpec{Desc: Desc{Name: fmt.Sprintf("go_l%d_r%d_u%d", lanes, R, u), ISA: Generic, Tile: u * lanes, Rows: R, Lanes: lanes}, tiles: tiles}
				for si, sh := range [][2]int{{1, 1}, {4*R + 1, 45}, {7, 300}} {
					w := randCSR(r, sh[0], sh[1], 0.3, 1, 2)
					for _, kc := range []int{0, 5} {
						p, err := PackCSR(w, spec.Tile, R, kc)
						if err != nil {
							t.Fatal(err)
						}
						kern := &csrKernel{spec: spec, p: p}
						side := guardSide((si + kc) % 2)
						guardPacked(t, kern, side)
						for _, n := range []int{1, spec.Tile, spec.Tile + 3} {
							epis := csrEpilogues(r, w.Rows)
							csrCase(t, kern, w, r, n, n+1, n+2, epis[(n+si+kc)%len(epis)], side)
						}
					}
				}
			}
		}
	}
}

// BenchmarkPackCSR: PackCSR's time per nonzero on 3072×768 at 90% for the layouts the
// default policy packs (tile width, row group).
func BenchmarkPackCSR(b *testing.B) {
	w := randCSR(rand.New(rand.NewSource(5)), 3072, 768, 0.1, -1, -1)
	for _, tr := range [][2]int{{16, 4}, {32, 4}, {64, 1}, {128, 2}} {
		b.Run(fmt.Sprintf("t%d_r%d", tr[0], tr[1]), func(b *testing.B) {
			for b.Loop() {
				if _, err := PackCSR(w, tr[0], tr[1], 0); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(w.Val)), "ns/nnz")
		})
	}
}

// TestCSRDerive: a CSR family derived from another's packing of the same W (same row group
// and K block) holds exactly what PackCSR gives it, shares the values, and runs bitwise the
// same; families of another layout are refused.
func TestCSRDerive(t *testing.T) {
	r := rand.New(rand.NewSource(8))
	for _, d := range []float64{0.02, 0.1, 0.3} {
		w := randCSR(r, 37, 900, d, 4, 11)
		for _, from := range csrSpecs {
			ff, _ := Lookup(from.Name)
			src, err := ff.Pack(w)
			if err != nil {
				t.Fatal(err)
			}
			for _, to := range csrSpecs {
				tf, _ := Lookup(to.Name)
				sameLayout := ff.Layout(w) == tf.Layout(w)
				got, added, err := tf.Derive(src)
				if !sameLayout {
					if !errors.Is(err, ErrNotApplicable) {
						t.Fatalf("d=%g %s from %s (layouts %s, %s): err %v, want ErrNotApplicable", d, to.Name, from.Name, ff.Layout(w), tf.Layout(w), err)
					}
					continue
				}
				if err != nil {
					t.Fatalf("d=%g %s from %s: %v", d, to.Name, from.Name, err)
				}
				want, err := PackCSR(w, to.Tile, to.Rows, 0)
				if err != nil {
					t.Fatal(err)
				}
				gp, sp := got.(*csrKernel).p, src.(*csrKernel).p
				if gp.T != want.T || gp.R != want.R || gp.Kc != want.Kc || gp.Blocks != want.Blocks || gp.Groups != want.Groups ||
					!slices.Equal(gp.Offs, want.Offs) || !slices.Equal(gp.Vals, want.Vals) || !slices.Equal(gp.Cnt, want.Cnt) ||
					!slices.Equal(gp.Start, want.Start) || !slices.Equal(gp.Cost, want.Cost) {
					t.Fatalf("d=%g %s derived from %s differs from its own packing", d, to.Name, from.Name)
				}
				if &gp.Vals[0] != &sp.Vals[0] || added != int64(len(gp.Offs))*2 {
					t.Fatalf("d=%g %s from %s: values not shared, or added %d bytes", d, to.Name, from.Name, added)
				}
				if to.Features&^hostFeatures() != 0 {
					continue
				}
				n := 40
				x := make([]float32, w.Cols*n)
				for i := range x {
					x[i] = float32(r.NormFloat64())
				}
				y1, y2 := make([]float32, w.Rows*n), make([]float32, w.Rows*n)
				own := &csrKernel{spec: to, p: want}
				if err := own.Run(0, own.Units(), x, n, y1, n, n, nil); err != nil {
					t.Fatal(err)
				}
				if err := got.Run(0, got.Units(), x, n, y2, n, n, nil); err != nil {
					t.Fatal(err)
				}
				for i := range y1 {
					if math.Float32bits(y1[i]) != math.Float32bits(y2[i]) {
						t.Fatalf("d=%g %s from %s: Y[%d] %v, own packing %v", d, to.Name, from.Name, i, y2[i], y1[i])
					}
				}
			}
		}
	}
	// Not a CSR tile kernel: the generic reference kernel of the same W.
	gen, _ := Lookup("ref_csr_generic")
	foreign, err := gen.Pack(randCSR(r, 5, 9, 0.5, -1, -1))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range csrSpecs {
		f, _ := Lookup(s.Name)
		if _, _, err := f.Derive(foreign); !errors.Is(err, ErrNotApplicable) {
			t.Fatalf("%s derived from a foreign kernel: %v", s.Name, err)
		}
	}
}
