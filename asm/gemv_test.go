package asm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sparsegen/sparsegen/formats"
	"github.com/sparsegen/sparsegen/ref"
)

// gemvRunnable lists the GEMV families this CPU runs (the pure-Go one always).
func gemvRunnable(t *testing.T) []*gemvSpec {
	var out []*gemvSpec
	for _, s := range gemvSpecs {
		if s.Features&^hostFeatures() != 0 {
			t.Logf("%s: CPU lacks %v, skipped", s.Name, s.Features&^hostFeatures())
			continue
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		t.Fatal("no GEMV family registered")
	}
	return out
}

// gemvUnroll is the floats of a kernel's main-loop step (U·L at C = 1): K up to twice it
// plus a vector covers no, one and two main steps, every single-vector count and every
// tail residue.
func gemvUnroll(s *gemvSpec) int {
	if s.Lanes == 0 {
		return 4
	}
	return 4 * s.Lanes // the largest U·L of the generated shapes (AVX-512 and NEON: U = 4)
}

// gemvCase runs kern on random X and Y at n columns (strides ldx, ldy), checks the result
// against the float64 oracle (gemmCheck: also that Y outside the M×N window is untouched)
// and against ref.Dense.
func gemvCase(t *testing.T, what string, kern Kernel, w *formats.Dense, r *rand.Rand, n, ldx, ldy int, epi *ref.Epilogue) {
	t.Helper()
	m, k := w.Rows, w.Cols
	x := make([]float32, max((k-1)*ldx+n, 0))
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	y := make([]float32, max((m-1)*ldy+n, 0)+ldy-n) // ldy padding after the last row too
	for i := range y {
		y[i] = float32(r.NormFloat64())
	}
	y0 := append([]float32(nil), y...)
	if err := kern.Run(0, kern.Units(), x, ldx, y, ldy, n, epi); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	gemmCheck(t, what, w, x, ldx, y0, y, ldy, n, epi)
	want := append([]float32(nil), y0...)
	if err := ref.Dense(w, x, ldx, want, ldy, n, epi); err != nil {
		t.Fatalf("%s: ref: %v", what, err)
	}
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			g, e := float64(y[i*ldy+j]), float64(want[i*ldy+j])
			if d := math.Abs(g - e); !(d <= 1e-4*(1+math.Abs(e))*math.Sqrt(float64(k+1))) && !(math.IsNaN(g) && math.IsNaN(e)) {
				t.Fatalf("%s: Y[%d,%d] = %v, ref.Dense %v", what, i, j, g, e)
			}
		}
	}
}

// TestGemvShapes: every K from 1 to past two main-loop steps (every residue mod the vector
// width, K < one vector, the single-vector steps), M around the row group (1, R−1, R, R+1,
// odd), N = 1..16 (every column count of a pass, and passes of the widest plus the rest),
// strided X and Y, W stored with a stride > K, every epilogue; then K past one K block
// (gemvKBlock: the partial sums of each block go through Y) at N up to 16.
func TestGemvShapes(t *testing.T) {
	for _, s := range gemvRunnable(t) {
		r := rand.New(rand.NewPCG(21, 0))
		cases := 0
		epis := func(m int) []*ref.Epilogue { return gemmEpilogues(r, m) }
		// Every K, M = 5 (one group of 4 and a single row), N and epilogue cycling.
		for k := 1; k <= 2*gemvUnroll(s)+(s.Lanes+1); k++ {
			w := randDense(r, 5, k, k+k%3)
			kern, err := packGemv(s, w)
			if err != nil {
				t.Fatal(err)
			}
			n := 1 + k%16
			ldx, ldy := n, n
			if k%4 == 1 {
				ldx, ldy = n+2, n+1
			}
			es := epis(5)
			gemvCase(t, fmt.Sprintf("%s M=5 K=%d N=%d", s.Name, k, n), kern, w, r, n, ldx, ldy, es[k%len(es)])
			if n != 1 {
				gemvCase(t, fmt.Sprintf("%s M=5 K=%d N=1", s.Name, k), kern, w, r, 1, 1, 1, es[(k+1)%len(es)])
				cases++
			}
			cases++
		}
		// Every M up to 13 and every epilogue at a few K, N = 1 and 3.
		for _, k := range []int{3, max(s.Lanes, 4), 2*gemvUnroll(s) + 7} {
			for m := 1; m <= 13; m++ {
				w := randDense(r, m, k, k+1)
				kern, err := packGemv(s, w)
				if err != nil {
					t.Fatal(err)
				}
				for ei, epi := range epis(m) {
					for _, n := range []int{1, 3} {
						ldx, ldy := n, n
						if ei%2 == 1 {
							ldx, ldy = n+1, n+3
						}
						gemvCase(t, fmt.Sprintf("%s M=%d K=%d N=%d epi %d", s.Name, m, k, n, ei), kern, w, r, n, ldx, ldy, epi)
						cases++
					}
				}
			}
		}
		// K blocks: K around one and two blocks and ragged, M = 9, N = 1..16, every epilogue.
		for _, k := range []int{gemvKBlockFloats, gemvKBlockFloats + 1, 2*gemvKBlockFloats + 67, 3001} {
			if gemvKBlock(k) >= k && k > gemvKBlockFloats {
				t.Fatalf("K = %d: one block of %d", k, gemvKBlock(k))
			}
			w := randDense(r, 9, k, k+5)
			kern, err := packGemv(s, w)
			if err != nil {
				t.Fatal(err)
			}
			es := epis(9)
			for n := 1; n <= 16; n++ {
				ldx, ldy := n, n
				if n%3 == 0 {
					ldx, ldy = n+3, n+2
				}
				gemvCase(t, fmt.Sprintf("%s M=9 K=%d N=%d", s.Name, k, n), kern, w, r, n, ldx, ldy, es[(n+k)%len(es)])
				cases++
			}
		}
		t.Logf("%s: %d cases", s.Name, cases)
	}
}

// TestGemvUnitsAndEdges: a part of the units at a time gives the whole product, K = 0 and
// M = 0 work, and NaN in W reaches Y through the clamp.
func TestGemvUnitsAndEdges(t *testing.T) {
	for _, s := range gemvRunnable(t) {
		r := rand.New(rand.NewPCG(22, 0))
		w := randDense(r, 70, 37, 40)
		kern, err := packGemv(s, w)
		if err != nil {
			t.Fatal(err)
		}
		x := make([]float32, 37*2)
		for i := range x {
			x[i] = float32(r.NormFloat64())
		}
		checkUnitSplit(t, s.Name, kern, x, 2, 3, nil)
		// K = 0: Y = epi(0).
		w0 := &formats.Dense{Rows: 6, Cols: 0, Stride: 0}
		k0, err := packGemv(s, w0)
		if err != nil {
			t.Fatal(err)
		}
		checkK0(t, s.Name, k0)
		// M = 0.
		kz, err := packGemv(s, &formats.Dense{Rows: 0, Cols: 5, Stride: 5})
		if err != nil {
			t.Fatal(err)
		}
		if kz.Units() != 0 || kz.Run(0, 0, nil, 1, nil, 1, 1, nil) != nil {
			t.Fatalf("%s: M = 0: %d units", s.Name, kz.Units())
		}
		// NaN in W stays NaN through ReLU; a dense-only family refuses CSR.
		wn := randDense(r, 5, 20, 20)
		wn.Data[3*20+7] = float32(math.NaN())
		kn, err := packGemv(s, wn)
		if err != nil {
			t.Fatal(err)
		}
		yn := make([]float32, 5)
		if err := kn.Run(0, kn.Units(), x[:20], 1, yn, 1, 1, &ref.Epilogue{Act: ref.ActReLU}); err != nil {
			t.Fatal(err)
		}
		for i, v := range yn {
			if math.IsNaN(float64(v)) != (i == 3) {
				t.Fatalf("%s: NaN row: Y[%d] = %v", s.Name, i, v)
			}
		}
		if _, err := packGemv(s, &formats.CSR{Rows: 1, Cols: 1, RowPtr: []int64{0, 0}}); err == nil {
			t.Fatalf("%s packed a CSR matrix", s.Name)
		}
	}
}

// TestGemvRegistered: every GEMV family is a dense family for N from 1, computing exact N.
func TestGemvRegistered(t *testing.T) {
	for _, s := range gemvSpecs {
		f, ok := Lookup(s.Name)
		if !ok || f.Format != "dense" || f.MinN != 1 || f.MaxN != s.MaxN || !f.ExactN || f.ISA != s.ISA {
			t.Fatalf("%s: registered as %+v", s.Name, f)
		}
	}
}

// BenchmarkGemv times the GEMV families (and the dense GEMM ones at the same N) on the
// decode shapes of a 7B model, W far larger than the caches; SetBytes is W's bytes, so the
// reported MB/s is the W stream's bandwidth.
//
//	flock /tmp/sparsegen-cpu.lock go test ./asm -run '^$' -bench Gemv -benchtime 20x
func BenchmarkGemv(b *testing.B) {
	r := rand.New(rand.NewPCG(25, 0))
	for _, sh := range [][2]int{{11008, 4096}, {4096, 11008}} {
		w := randDense(r, sh[0], sh[1], sh[1])
		for _, f := range Families() {
			if f.Format != "dense" || f.Features&^hostFeatures() != 0 || f.ISA == Generic {
				continue
			}
			kern, err := f.Pack(w)
			if err != nil {
				b.Fatal(err)
			}
			for _, n := range []int{1, 2, 4, 5, 6, 7, 8, 12, 16} {
				x := make([]float32, sh[1]*n)
				for i := range x {
					x[i] = float32(r.NormFloat64())
				}
				y := make([]float32, sh[0]*n)
				b.Run(fmt.Sprintf("%dx%d/N=%d/%s", sh[0], sh[1], n, f.Name), func(b *testing.B) {
					b.SetBytes(int64(sh[0]) * int64(sh[1]) * 4)
					for range b.N {
						if err := kern.Run(0, kern.Units(), x, n, y, n, n, nil); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}

// TestGemvStreams: gemvStreams covers every row once, in blocks of R·gap rows (gap ≤ the
// stream's rows) and a last call of gap = 1 over fewer than 2R rows; and in one pass (N = 1,
// 2 and the widest kernel's) every GEMV family (float32 and low-precision) gives Y bitwise
// the same with streams of one row (gap = 1 throughout), of a few rows (many blocks) and of
// the default length, on M around the blocks, every epilogue, against the oracle too.
func TestGemvStreams(t *testing.T) {
	for _, R := range []int{1, 2, 4} {
		for _, per := range []int{1, 2, 3, 7, 100} {
			for m := 0; m <= 60; m++ {
				saved := gemvStreamBytes
				gemvStreamBytes = per * 64
				next := 5
				gemvStreams(5, 5+m, R, 64, func(rs, rows, gap int) {
					switch {
					case rs != next:
						t.Fatalf("R=%d per=%d M=%d: block at row %d, want %d", R, per, m, rs, next)
					case gap > 1 && (rows != R*gap || gap > per):
						t.Fatalf("R=%d per=%d M=%d: %d rows with gap %d", R, per, m, rows, gap)
					case gap == 1 && (rs+rows != 5+m || rows >= 2*R && per > 1 && R > 1):
						t.Fatalf("R=%d per=%d M=%d: a gap-1 call of %d rows at %d", R, per, m, rows, rs)
					}
					next += rows
				})
				gemvStreamBytes = saved
				if next != 5+m && m > 0 {
					t.Fatalf("R=%d per=%d M=%d: rows up to %d covered", R, per, m, next)
				}
			}
		}
	}
	r := rand.New(rand.NewPCG(26, 0))
	const k = 75
	type family struct {
		name     string
		kern     Kernel
		w        *formats.Dense
		rowBytes int
		cols     int // the widest kernel's columns (0: pure Go, one pass at every N)
	}
	for _, m := range []int{7, 8, 9, 23, 37, 64} {
		wd := randDense(r, m, k, k)
		var fams []family
		for _, s := range gemvRunnable(t) {
			kern, err := packGemv(s, wd)
			if err != nil {
				t.Fatal(err)
			}
			fams = append(fams, family{s.Name, kern, wd, 4 * kern.(*gemvKernel).ldw, s.cols()})
		}
		for _, s := range gemvLPRunnable(t) {
			lp := randLP(t, r, s.dtype, m, k, k)
			kern, err := packGemvLP(s, lp)
			if err != nil {
				t.Fatal(err)
			}
			cw := gemvWidest(s.kern[:], func(k gemvLPGenKernel) bool { return k.fn != nil })
			fams = append(fams, family{s.Name, kern, lp.ToDense(), s.dtype.Bytes() * kern.(*gemvLPKernel).ldw, cw})
		}
		for _, f := range fams {
			for _, n := range []int{1, 2, max(f.cols, 1)} {
				x := make([]float32, k*n)
				for i := range x {
					x[i] = float32(r.NormFloat64())
				}
				for ei, epi := range gemmEpilogues(r, m) {
					var first []float32
					for _, rowsPer := range []int{0, 1, 2, 3, 1 << 20} {
						saved := gemvStreamBytes
						gemvStreamBytes = rowsPer * f.rowBytes
						y := make([]float32, m*n)
						for i := range y {
							y[i] = float32(i%5) - 2
						}
						y0 := append([]float32(nil), y...)
						err := f.kern.Run(0, f.kern.Units(), x, n, y, n, n, epi)
						gemvStreamBytes = saved
						if err != nil {
							t.Fatal(err)
						}
						what := fmt.Sprintf("%s M=%d N=%d epi %d streams of %d rows", f.name, m, n, ei, rowsPer)
						if first == nil {
							first = y
							gemmCheck(t, what, f.w, x, n, y0, y, n, n, epi)
							continue
						}
						for i := range y {
							if math.Float32bits(y[i]) != math.Float32bits(first[i]) {
								t.Fatalf("%s: Y[%d] = %v, with gap = 1 %v", what, i, y[i], first[i])
							}
						}
					}
				}
			}
		}
	}
}
