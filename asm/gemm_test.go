package asm

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sparsegen/sparsegen/formats"
	"github.com/sparsegen/sparsegen/ref"
)

// gemmHasFeatures reports whether this CPU has every feature in f (GODEBUG=cpu.… honoured).
func gemmHasFeatures(f Feature) bool { return f&^hostFeatures() == 0 }

// gemmFamilies returns the dense GEMM specs this CPU runs, each also as variants that
// exercise every path of Run: tiny cache blocks (several K, row and column blocks even on
// small shapes), the edge-tile buffer path (fullTiles), and both loop orders (the
// subtest's name ends in /goto when Run is forced onto the GotoBLAS order).
func gemmFamilies(t *testing.T) []*gemmSpec {
	var out []*gemmSpec
	for _, s := range gemmSpecs {
		if !gemmHasFeatures(s.Features) {
			t.Logf("%s: CPU lacks %v, not run", s.Name, s.Features)
			continue
		}
		out = append(out, s)
		small := *s
		small.Name += "/blocks"
		small.kc, small.mc, small.nc = 5, 2*s.Rows, 2*s.Tile
		out = append(out, &small)
		if !s.fullTiles {
			edge := *s
			edge.Name += "/edgebuf"
			edge.fullTiles = true
			out = append(out, &edge)
		}
	}
	return out
}

// forGemm runs f for every family variant under both loop orders.
func forGemm(t *testing.T, f func(t *testing.T, s *gemmSpec)) {
	for _, s := range gemmFamilies(t) {
		t.Run(s.Name, func(t *testing.T) { f(t, s) })
		t.Run(s.Name+"/goto", func(t *testing.T) {
			defer func(v int64) { gemmPanelOuterBytes = v }(gemmPanelOuterBytes)
			gemmPanelOuterBytes = 0
			f(t, s)
		})
	}
}

func randDense(r *rand.Rand, rows, cols, stride int) *formats.Dense {
	d := &formats.Dense{Rows: rows, Cols: cols, Stride: stride, Data: make([]float32, max(rows*stride, 0))}
	for i := range d.Data {
		d.Data[i] = float32(r.NormFloat64())
	}
	return d
}

// gemmCheck compares y (computed) with the float64 oracle within DESIGN §6's bound
// 2(k+1)·ε·Σ|w·x| (plus the bias and old Y terms), and checks that nothing outside the
// M×N window of y changed.
func gemmCheck(t *testing.T, what string, w *formats.Dense, x []float32, ldx int, y0, y []float32, ldy, n int, epi *ref.Epilogue) {
	t.Helper()
	const eps = 1.0 / (1 << 23)
	bad := 0
	for i := 0; i < w.Rows; i++ {
		for j := 0; j < ldy && i*ldy+j < len(y); j++ {
			got := y[i*ldy+j]
			if j >= n {
				if math.Float32bits(got) != math.Float32bits(y0[i*ldy+j]) {
					t.Fatalf("%s: Y[%d,%d] outside N = %d changed: %v → %v", what, i, j, n, y0[i*ldy+j], got)
				}
				continue
			}
			var s, mag float64
			for k := 0; k < w.Cols; k++ {
				p := float64(w.Data[i*w.Stride+k]) * float64(x[k*ldx+j])
				s += p
				mag += math.Abs(p)
			}
			if epi != nil && epi.Bias != nil {
				s += float64(epi.Bias[i])
				mag += math.Abs(float64(epi.Bias[i]))
			}
			if epi != nil && epi.Accumulate {
				s += float64(y0[i*ldy+j])
				mag += math.Abs(float64(y0[i*ldy+j]))
			}
			want := s
			tol := 2*float64(w.Cols+3)*eps*mag + 1e-30
			if epi != nil {
				want = ref.Activate64(epi.Act, s, epi.Lo, epi.Hi)
				if epi.Act == ref.ActGELU || epi.Act == ref.ActSiLU {
					tol = tol*1.2 + 4*eps*math.Abs(want)
				}
			}
			if d := math.Abs(float64(got) - want); !(d <= tol) {
				if bad++; bad <= 5 {
					t.Errorf("%s: Y[%d,%d] = %v, want %v (|err| %.3g > tol %.3g)", what, i, j, got, want, d, tol)
				}
			}
		}
	}
	// Rows past M (ldy padding at the end of y) are untouched too.
	for p := w.Rows * ldy; p < len(y); p++ {
		if math.Float32bits(y[p]) != math.Float32bits(y0[p]) {
			t.Fatalf("%s: Y value %d past row M changed", what, p)
		}
	}
	if bad > 0 {
		t.Fatalf("%s: %d values out of tolerance", what, bad)
	}
}

func gemmEpilogues(r *rand.Rand, m int) []*ref.Epilogue {
	bias := make([]float32, m)
	for i := range bias {
		bias[i] = float32(r.NormFloat64())
	}
	return []*ref.Epilogue{
		nil,
		{Bias: bias},
		{Act: ref.ActReLU},
		{Bias: bias, Act: ref.ActReLU, Accumulate: true},
		{Act: ref.ActClamp, Lo: -0.5, Hi: 0.75},
		{Bias: bias, Act: ref.ActClamp, Lo: -1, Hi: 1, Accumulate: true},
		{Accumulate: true},
		{Bias: bias, Act: ref.ActGELU},
		{Act: ref.ActSiLU, Accumulate: true},
	}
}

// runGemm packs w for spec s, runs all units and checks the result against the oracle.
func runGemm(t *testing.T, s *gemmSpec, r *rand.Rand, w *formats.Dense, n, ldx, ldy int, epi *ref.Epilogue) {
	t.Helper()
	kern, err := packGemm(s, w)
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float32, max(w.Cols*ldx, 1))
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	y := make([]float32, max(w.Rows*ldy, 1))
	for i := range y {
		y[i] = float32(r.NormFloat64())
	}
	y0 := append([]float32(nil), y...)
	if err := kern.Run(0, kern.Units(), x, ldx, y, ldy, n, epi); err != nil {
		t.Fatal(err)
	}
	what := fmt.Sprintf("%s M=%d K=%d N=%d ldx=%d ldy=%d epi=%+v", s.Name, w.Rows, w.Cols, n, ldx, ldy, epi)
	gemmCheck(t, what, w, x, ldx, y0, y, ldy, n, epi)
}

func TestGemmShapes(t *testing.T) {
	forGemm(t, func(t *testing.T, s *gemmSpec) {
		r := rand.New(rand.NewPCG(1, uint64(len(s.Name))))
		mr, nr := s.Rows, s.Tile
		ms := []int{1, mr - 1, mr, mr + 1, 2*mr + 3, s.mc + mr + 1}
		ns := []int{1, nr - 1, nr, nr + 1, 2*nr + 1, 3}
		ks := []int{1, 7, s.kc, s.kc + 1, 2*s.kc + 5}
		for _, m := range ms {
			for _, n := range ns {
				for _, k := range ks {
					if m < 1 || n < 1 || (m*k*n > 1<<20 && k > 7) {
						continue
					}
					w := randDense(r, m, k, k)
					ldx := n + r.IntN(3)
					ldy := n + r.IntN(3)
					runGemm(t, s, r, w, n, ldx, ldy, nil)
				}
			}
		}
	})
}

func TestGemmEpilogues(t *testing.T) {
	forGemm(t, func(t *testing.T, s *gemmSpec) {
		r := rand.New(rand.NewPCG(2, uint64(len(s.Name))))
		for _, sh := range [][3]int{{s.Rows + 1, s.kc + 3, s.Tile + 1}, {2*s.Rows - 1, 9, 2*s.Tile + 1}, {1, 1, 1}} {
			m, k, n := sh[0], sh[1], sh[2]
			w := randDense(r, m, k, k+2) // a W stride > K too
			for _, epi := range gemmEpilogues(r, m) {
				runGemm(t, s, r, w, n, n+3, n+1, epi)
			}
		}
	})
}

// TestGemmNaN: NaN propagates through ReLU and clamp in the fused store.
func TestGemmNaN(t *testing.T) {
	for _, s := range gemmFamilies(t) {
		m, k, n := s.Rows, 3, s.Tile
		w := &formats.Dense{Rows: m, Cols: k, Stride: k, Data: make([]float32, m*k)}
		w.Data[0] = float32(math.NaN())
		kern, err := packGemm(s, w)
		if err != nil {
			t.Fatal(err)
		}
		x := make([]float32, k*n)
		for i := range x {
			x[i] = 1
		}
		for _, epi := range []*ref.Epilogue{{Act: ref.ActReLU}, {Act: ref.ActClamp, Lo: -1, Hi: 1}} {
			y := make([]float32, m*n)
			if err := kern.Run(0, kern.Units(), x, n, y, n, n, epi); err != nil {
				t.Fatal(err)
			}
			for j := 0; j < n; j++ {
				if !math.IsNaN(float64(y[j])) {
					t.Fatalf("%s %v: Y[0,%d] = %v, want NaN", s.Name, epi.Act, j, y[j])
				}
			}
			if y[n] != 0 {
				t.Fatalf("%s %v: Y[1,0] = %v, want 0", s.Name, epi.Act, y[n])
			}
		}
	}
}

// TestGemmSplitsBitwise: any split of the units or of N gives bitwise the same Y
// (DESIGN §6: the summation order depends on the plan only).
func TestGemmSplitsBitwise(t *testing.T) {
	forGemm(t, func(t *testing.T, s *gemmSpec) {
		r := rand.New(rand.NewPCG(3, 0))
		m, k, n := 3*s.Rows+2, 2*s.kc+9, 3*s.Tile+5
		w := randDense(r, m, k, k)
		kern, err := packGemm(s, w)
		if err != nil {
			t.Fatal(err)
		}
		x := randDense(r, k, n, n).Data
		bias := randDense(r, 1, m, m).Data
		epi := &ref.Epilogue{Bias: bias, Act: ref.ActReLU}
		full := make([]float32, m*n)
		if err := kern.Run(0, kern.Units(), x, n, full, n, n, epi); err != nil {
			t.Fatal(err)
		}
		// The other loop order.
		order := make([]float32, m*n)
		func() {
			defer func(v int64) { gemmPanelOuterBytes = v }(gemmPanelOuterBytes)
			if gemmPanelOuterBytes == 0 {
				gemmPanelOuterBytes = 1 << 40
			} else {
				gemmPanelOuterBytes = 0
			}
			if err := kern.Run(0, kern.Units(), x, n, order, n, n, epi); err != nil {
				t.Fatal(err)
			}
		}()
		// Split units one by one, and N in two uneven column ranges.
		parts := make([]float32, m*n)
		for u := 0; u < kern.Units(); u++ {
			if err := kern.Run(u, u+1, x, n, parts, n, n, epi); err != nil {
				t.Fatal(err)
			}
		}
		cols := make([]float32, m*n)
		n1 := s.Tile/2 + 1
		if err := kern.Run(0, kern.Units(), x, n, cols, n, n1, epi); err != nil {
			t.Fatal(err)
		}
		if err := kern.Run(0, kern.Units(), x[n1:], n, cols[n1:], n, n-n1, epi); err != nil {
			t.Fatal(err)
		}
		for i := range full {
			if b := math.Float32bits(full[i]); b != math.Float32bits(parts[i]) || b != math.Float32bits(cols[i]) || b != math.Float32bits(order[i]) {
				t.Fatalf("Y[%d]: full %v, unit split %v, N split %v, other loop order %v", i, full[i], parts[i], cols[i], order[i])
			}
		}
	})
}

// TestGemmMicroMatchesGo: each machine micro-kernel agrees with the pure-Go micro-kernel of
// the same tile on the same packed panels (a check of the packed layout independent of the
// blocking).
func TestGemmMicroMatchesGo(t *testing.T) {
	for _, s := range gemmFamilies(t) {
		if s.ISA == Generic {
			continue
		}
		t.Run(s.Name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(4, 0))
			goMicro := gemmMicroGo(s.Rows, s.Tile)
			for _, k := range []int{1, 2, 5, 64} {
				for _, rows := range []int{1, s.Rows} {
					for _, cols := range []int{1, s.Tile/2 + 1, s.Tile} {
						if s.fullTiles && (rows < s.Rows || cols < s.Tile) {
							continue
						}
						for _, flags := range []int{0, epiLoadY | epiBias, epiReLU, epiClamp | epiLoadY} {
							w := randDense(r, 1, k*s.Rows, k*s.Rows).Data
							x := randDense(r, 1, k*s.Tile, k*s.Tile).Data
							bias := randDense(r, 1, s.Rows, s.Rows).Data[:rows]
							ldy := s.Tile + 3
							y1 := randDense(r, 1, s.Rows*ldy, s.Rows*ldy).Data
							y2 := append([]float32(nil), y1...)
							s.micro(k, &w[0], &x[0], &y1[0], ldy, &bias[0], flags, -0.5, 0.5, cols, rows)
							goMicro(k, &w[0], &x[0], &y2[0], ldy, &bias[0], flags, -0.5, 0.5, cols, rows)
							for i := range y1 {
								if d := math.Abs(float64(y1[i] - y2[i])); d > 1e-4*float64(k) {
									t.Fatalf("k=%d rows=%d cols=%d flags=%b: Y[%d] = %v, Go %v", k, rows, cols, flags, i, y1[i], y2[i])
								}
							}
						}
					}
				}
			}
		})
	}
}

func TestGemmErrors(t *testing.T) {
	for _, s := range gemmSpecs {
		csr, err := formats.CSRFromDense(&formats.Dense{Rows: 2, Cols: 2, Stride: 2, Data: []float32{1, 0, 0, 1}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := packGemm(s, csr); !errors.Is(err, ErrNotApplicable) {
			t.Fatalf("%s: packing CSR: %v, want ErrNotApplicable", s.Name, err)
		}
		w := &formats.Dense{Rows: 3, Cols: 4, Stride: 4, Data: make([]float32, 12)}
		kern, err := packGemm(s, w)
		if err != nil {
			t.Fatal(err)
		}
		x, y := make([]float32, 4*5), make([]float32, 3*5)
		for _, c := range []struct {
			name      string
			x         []float32
			ldx, ldy  int
			y         []float32
			n, u0, u1 int
			epi       *ref.Epilogue
		}{
			{"short X", x[:19], 5, 5, y, 5, 0, 1, nil},
			{"short Y", x, 5, 5, y[:14], 5, 0, 1, nil},
			{"ldx < N", x, 4, 5, y, 5, 0, 1, nil},
			{"units", x, 5, 5, y, 5, 0, kern.Units() + 1, nil},
			{"bias", x, 5, 5, y, 5, 0, 1, &ref.Epilogue{Bias: make([]float32, 2)}},
		} {
			if err := kern.Run(c.u0, c.u1, c.x, c.ldx, c.y, c.ldy, c.n, c.epi); err == nil {
				t.Fatalf("%s: %s: no error", s.Name, c.name)
			}
		}
		if kern.Name() != s.Name {
			t.Fatalf("kernel name %q", kern.Name())
		}
	}
}

func TestGemmRegistered(t *testing.T) {
	n := 0
	for _, f := range Families() {
		if f.Format == "dense" && f.Tile != 0 && !f.ExactN {
			n++
			if f.Format != "dense" {
				t.Errorf("%s: format %q", f.Name, f.Format)
			}
		}
	}
	if n != len(gemmSpecs) || n == 0 {
		t.Fatalf("%d gemm families registered, %d specs", n, len(gemmSpecs))
	}
}

// TestGemmConcurrent: Run is safe for concurrent use on disjoint unit ranges (the packed X
// buffers come from a pool) and gives bitwise the serial result.
func TestGemmConcurrent(t *testing.T) {
	for _, s := range gemmFamilies(t) {
		r := rand.New(rand.NewPCG(6, 0))
		m, k, n := 8*s.Rows+3, s.kc+17, 2*s.Tile+3
		w := randDense(r, m, k, k)
		kern, err := packGemm(s, w)
		if err != nil {
			t.Fatal(err)
		}
		x := randDense(r, k, n, n).Data
		want := make([]float32, m*n)
		if err := kern.Run(0, kern.Units(), x, n, want, n, n, nil); err != nil {
			t.Fatal(err)
		}
		got := make([]float32, m*n)
		u := kern.Units()
		errs := make(chan error, 4)
		for g := 0; g < 4; g++ {
			go func() { errs <- kern.Run(g*u/4, (g+1)*u/4, x, n, got, n, n, nil) }()
		}
		for range 4 {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		for i := range want {
			if math.Float32bits(want[i]) != math.Float32bits(got[i]) {
				t.Fatalf("%s: Y[%d] = %v concurrently, %v serially", s.Name, i, got[i], want[i])
			}
		}
	}
}
