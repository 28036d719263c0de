package asm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sparsegen/sparsegen/formats"
	"github.com/sparsegen/sparsegen/ref"
)

// gemvLPRunnable lists the low-precision GEMV families this CPU runs (the pure-Go ones
// always), failing when a dtype has none.
func gemvLPRunnable(t *testing.T) []*gemvLPSpec {
	return lpRunnable(t, gemvLPSpecs, true, func(s *gemvLPSpec) (*Desc, formats.DType) { return &s.Desc, s.dtype })
}

// randLP is a random rows×cols W in dtype t with row stride `stride` (≥ cols); the values
// past cols in each row are garbage (a NaN or a large value) the kernel must never read.
func randLP(t *testing.T, r *rand.Rand, dt formats.DType, rows, cols, stride int) *formats.DenseLP {
	t.Helper()
	d, err := formats.DenseLPFromDense(randDense(r, rows, cols, cols), dt)
	if err != nil {
		t.Fatal(err)
	}
	out := &formats.DenseLP{Rows: rows, Cols: cols, Stride: stride, DType: dt, Scale: d.Scale}
	if dt == formats.I8 {
		out.I8 = make([]int8, rows*stride)
		for i := range out.I8 {
			out.I8[i] = 127
		}
		for i := 0; i < rows; i++ {
			copy(out.I8[i*stride:], d.I8[i*cols:(i+1)*cols])
		}
	} else {
		out.Bits = make([]uint16, rows*stride)
		for i := range out.Bits {
			out.Bits[i] = 0x7fc0 // NaN in bf16 and in f16
		}
		for i := 0; i < rows; i++ {
			copy(out.Bits[i*stride:], d.Bits[i*cols:(i+1)*cols])
		}
	}
	if err := out.Validate(); err != nil {
		t.Fatal(err)
	}
	return out
}

func gemvLPUnroll(s *gemvLPSpec) int {
	if s.Lanes == 0 {
		return 4
	}
	return 4 * s.Lanes
}

// TestGemvLPShapes: each low-precision family against ref.Dense on W widened first
// (DenseLP.ToDense) and the float64 oracle: every K from 1 to 70 and past two main-loop
// steps (every tail residue), M = 1..20 (every row-group remainder), N = 1..6 (every
// column pass, 4 + the rest), strided W, X and Y, every epilogue; then long rows.
func TestGemvLPShapes(t *testing.T) {
	for _, s := range gemvLPRunnable(t) {
		r := rand.New(rand.NewPCG(41, uint64(s.dtype)))
		cases := 0
		epis := func(m int) []*ref.Epilogue { return gemmEpilogues(r, m) }
		for k := 1; k <= max(70, 2*gemvLPUnroll(s)+s.Lanes+1); k++ {
			m := 1 + k%20
			w := randLP(t, r, s.dtype, m, k, k+k%3)
			kern, err := packGemvLP(s, w)
			if err != nil {
				t.Fatal(err)
			}
			wd := w.ToDense()
			n := 1 + k%16
			ldx, ldy := n, n
			if k%4 == 1 {
				ldx, ldy = n+2, n+1
			}
			es := epis(m)
			gemvCase(t, fmt.Sprintf("%s M=%d K=%d N=%d", s.Name, m, k, n), kern, wd, r, n, ldx, ldy, es[k%len(es)])
			if n != 1 {
				gemvCase(t, fmt.Sprintf("%s M=%d K=%d N=1", s.Name, m, k), kern, wd, r, 1, 1, 1, es[(k+1)%len(es)])
				cases++
			}
			cases++
		}
		for _, k := range []int{3, max(s.Lanes, 4), 2*gemvLPUnroll(s) + 7} {
			for m := 1; m <= 20; m++ {
				w := randLP(t, r, s.dtype, m, k, k+1)
				kern, err := packGemvLP(s, w)
				if err != nil {
					t.Fatal(err)
				}
				wd := w.ToDense()
				for ei, epi := range epis(m) {
					for _, n := range []int{1, 3, 9} {
						ldx, ldy := n, n
						if ei%2 == 1 {
							ldx, ldy = n+1, n+3
						}
						gemvCase(t, fmt.Sprintf("%s M=%d K=%d N=%d epi %d", s.Name, m, k, n, ei), kern, wd, r, n, ldx, ldy, epi)
						cases++
					}
				}
			}
		}
		// Long rows (the float32 GEMV's K blocks; this one runs K whole: blocking it measured
		// slower for int8 and mixed for bf16/fp16, Zen 5): M = 9, N = 1..9, every epilogue.
		for _, k := range []int{gemvKBlockFloats, gemvKBlockFloats + 1, 2*gemvKBlockFloats + 67, 3001} {
			w := randLP(t, r, s.dtype, 9, k, k+5)
			kern, err := packGemvLP(s, w)
			if err != nil {
				t.Fatal(err)
			}
			wd := w.ToDense()
			es := epis(9)
			for n := 1; n <= 9; n++ {
				ldx, ldy := n, n
				if n%3 == 0 {
					ldx, ldy = n+3, n+2
				}
				gemvCase(t, fmt.Sprintf("%s M=9 K=%d N=%d", s.Name, k, n), kern, wd, r, n, ldx, ldy, es[(n+k)%len(es)])
				cases++
			}
		}
		t.Logf("%s: %d cases", s.Name, cases)
	}
}

// TestGemvLPEdges: unit splits give the whole product bitwise, K = 0 and M = 0 work, a NaN
// weight (bf16, f16) reaches Y through the clamp, the widening is exact for extreme values
// (f16 subnormals and ±Inf, bf16's largest, int8 ±127 with its scale), and a family refuses
// another dtype or a float32 W.
func TestGemvLPEdges(t *testing.T) {
	for _, s := range gemvLPRunnable(t) {
		r := rand.New(rand.NewPCG(42, 0))
		w := randLP(t, r, s.dtype, 70, 37, 40)
		kern, err := packGemvLP(s, w)
		if err != nil {
			t.Fatal(err)
		}
		x := make([]float32, 37*2)
		for i := range x {
			x[i] = float32(r.NormFloat64())
		}
		checkUnitSplit(t, s.Name, kern, x, 2, 3, nil)
		// K = 0: Y = epi(0).
		w0 := &formats.DenseLP{Rows: 6, DType: s.dtype}
		if s.dtype == formats.I8 {
			w0.Scale = make([]float32, 6)
		}
		k0, err := packGemvLP(s, w0)
		if err != nil {
			t.Fatal(err)
		}
		checkK0(t, s.Name, k0)
		// M = 0.
		wz := &formats.DenseLP{Cols: 5, Stride: 5, DType: s.dtype}
		kz, err := packGemvLP(s, wz)
		if err != nil {
			t.Fatal(err)
		}
		if kz.Units() != 0 || kz.Run(0, 0, nil, 1, nil, 1, 1, nil) != nil {
			t.Fatalf("%s: M = 0: %d units", s.Name, kz.Units())
		}
		// Exact widening: row i has a single weight v at column c, X = 1 there, so Y = v.
		const k = 50
		var vals []float32
		var lp *formats.DenseLP
		switch s.dtype {
		case formats.BF16, formats.F16:
			var bits []uint16
			if s.dtype == formats.BF16 {
				bits = []uint16{0x7f7f, 0xff7f, 0x0001, 0x8080, 0x3f80, 0x7f80, 0xff80, 0x7fc1}
			} else {
				bits = []uint16{0x0001, 0x83ff, 0x7bff, 0xfbff, 0x3c00, 0x7c00, 0xfc00, 0x7e01}
			}
			all := make([]uint16, len(bits)*k)
			for i, b := range bits {
				all[i*k+(i*7)%k] = b
				if s.dtype == formats.BF16 {
					vals = append(vals, formats.BF16ToFloat32(b))
				} else {
					vals = append(vals, formats.F16ToFloat32(b))
				}
			}
			lp, err = formats.NewDenseLP16(s.dtype, len(bits), k, k, all)
		case formats.I8:
			q := []int8{127, -127, 1, -1, 0, 64}
			sc := []float32{3e-3, 1e30, 1e-38, 7, 5, -2}
			all := make([]int8, len(q)*k)
			for i, v := range q {
				all[i*k+(i*7)%k] = v
				vals = append(vals, sc[i]*float32(v))
			}
			lp, err = formats.NewDenseI8(len(q), k, k, all, sc)
		}
		if err != nil {
			t.Fatal(err)
		}
		ke, err := packGemvLP(s, lp)
		if err != nil {
			t.Fatal(err)
		}
		for i := range vals {
			xe := make([]float32, k)
			xe[(i*7)%k] = 1
			ye := make([]float32, len(vals))
			if err := ke.Run(0, ke.Units(), xe, 1, ye, 1, 1, nil); err != nil {
				t.Fatal(err)
			}
			g, e := ye[i], vals[i]
			if !(g == e || (math.IsNaN(float64(g)) && math.IsNaN(float64(e)))) || math.Signbit(float64(g)) != math.Signbit(float64(e)) && e != 0 {
				t.Fatalf("%s: weight %d widened to %v, want %v", s.Name, i, g, e)
			}
		}
		// A NaN weight stays NaN through ReLU (bf16, f16).
		if s.dtype != formats.I8 {
			wn := randLP(t, r, s.dtype, 5, 20, 20)
			wn.Bits[3*20+7] = 0x7fc0
			kn, err := packGemvLP(s, wn)
			if err != nil {
				t.Fatal(err)
			}
			checkNaNRow(t, s.Name, kn, x)
		}
		if _, err := packGemvLP(s, randDense(r, 3, 3, 3)); err == nil {
			t.Fatalf("%s packed a float32 matrix", s.Name)
		}
		other := formats.BF16
		if s.dtype == formats.BF16 {
			other = formats.F16
		}
		if _, err := packGemvLP(s, randLP(t, r, other, 3, 3, 3)); err == nil {
			t.Fatalf("%s packed a %s matrix", s.Name, other)
		}
	}
}

// TestGemvLPRegistered: one family per dtype and ISA, format dense_<dtype>, every N.
func TestGemvLPRegistered(t *testing.T) {
	for _, s := range gemvLPSpecs {
		f, ok := Lookup(s.Name)
		if !ok || f.Format != LPFormat(s.dtype) || f.MinN != 1 || f.MaxN != 0 || !f.ExactN || f.ISA != s.ISA {
			t.Fatalf("%s: registered as %+v", s.Name, f)
		}
	}
}

// BenchmarkGemvLP times the low-precision GEMV families beside the float32 GEMV on the
// decode shapes of a 7B model, W far larger than the caches; SetBytes is the stored W's
// bytes, so MB/s is the W stream's bandwidth.
//
//	flock /tmp/sparsegen-cpu.lock go test ./asm -run '^$' -bench GemvLP -benchtime 20x
func BenchmarkGemvLP(b *testing.B) {
	r := rand.New(rand.NewPCG(45, 0))
	for _, sh := range [][2]int{{11008, 4096}, {4096, 11008}} {
		wf := randDense(r, sh[0], sh[1], sh[1])
		x := make([]float32, sh[1])
		for i := range x {
			x[i] = float32(r.NormFloat64())
		}
		y := make([]float32, sh[0])
		for _, f := range Families() {
			if (f.Format != "dense" && f.Format[:min(6, len(f.Format))] != "dense_") || f.Features&^hostFeatures() != 0 || f.ISA == Generic {
				continue
			}
			if f.Format == "dense" && !f.ExactN {
				continue // the GEMMs
			}
			var w formats.Matrix = wf
			eb := 4
			if t, err := formats.ParseDType(f.Format[min(6, len(f.Format)):]); err == nil {
				if w, err = formats.DenseLPFromDense(wf, t); err != nil {
					b.Fatal(err)
				}
				eb = t.Bytes()
			}
			kern, err := f.Pack(w)
			if err != nil {
				b.Fatal(err)
			}
			b.Run(fmt.Sprintf("%dx%d/%s", sh[0], sh[1], f.Name), func(b *testing.B) {
				b.SetBytes(int64(sh[0]) * int64(sh[1]) * int64(eb))
				for range b.N {
					if err := kern.Run(0, kern.Units(), x, 1, y, 1, 1, nil); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
