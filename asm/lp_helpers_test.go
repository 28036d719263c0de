package asm

import (
	"fmt"
	"math"
	mrand "math/rand"
	"testing"

	"github.com/sparsegen/sparsegen/formats"
	"github.com/sparsegen/sparsegen/ref"
)

// lpRunnable keeps the specs this CPU runs (logging the others), failing when one of
// the dtypes bf16, f16, i8 has none if every dtype must run here (a pure-Go family);
// desc gives a spec's descriptor and dtype.
func lpRunnable[S any](t *testing.T, specs []S, everyDType bool, desc func(S) (*Desc, formats.DType)) []S {
	t.Helper()
	var out []S
	have := map[formats.DType]bool{}
	for _, s := range specs {
		d, dt := desc(s)
		if d.Features&^hostFeatures() != 0 {
			t.Logf("%s: CPU lacks %v, skipped", d.Name, d.Features&^hostFeatures())
			continue
		}
		out = append(out, s)
		have[dt] = true
	}
	for _, dt := range []formats.DType{formats.BF16, formats.F16, formats.I8} {
		if everyDType && !have[dt] {
			t.Fatalf("no %s family runs here", dt)
		}
	}
	return out
}

// checkK0 runs a kernel packed from a 6×0 W (K = 0): Y must be epi(0), ReLU(bias).
func checkK0(t *testing.T, name string, k0 Kernel) {
	t.Helper()
	bias := []float32{1, -2, 3, -4, 5, -6}
	y := []float32{9, 9, 9, 9, 9, 9}
	if err := k0.Run(0, k0.Units(), nil, 1, y, 1, 1, &ref.Epilogue{Bias: bias, Act: ref.ActReLU}); err != nil {
		t.Fatal(err)
	}
	for i, v := range y {
		if v != max(bias[i], 0) {
			t.Fatalf("%s: K = 0: Y[%d] = %v, want %v", name, i, v, max(bias[i], 0))
		}
	}
}

// lpOneHot is a CSRLP of dtype dt with K = k whose row i holds the i-th extreme weight of
// dt at column 7i mod k, among stored zeros in the spread columns on each side: bf16's
// largest and smallest magnitudes and ±Inf, fp16's subnormals, largest and ±Inf, int8
// ±127 and ±1 with extreme scales (and scale 0). It returns the weights' float32 values,
// which a kernel must give exactly with X = 1 at the weight's column.
func lpOneHot(t *testing.T, dt formats.DType, k, spread int) (*formats.CSRLP, []float32) {
	t.Helper()
	lp := &formats.CSRLP{Cols: k, RowPtr: []int64{0}, DType: dt}
	var vals []float32
	add := func(v float32, q int8, b uint16, sc float32) {
		i := lp.Rows
		c := (i * 7) % k
		for j := max(c-spread, 0); j <= min(c+spread, k-1); j++ {
			lp.ColIdx = append(lp.ColIdx, int32(j))
			if dt == formats.I8 {
				lp.I8 = append(lp.I8, map[bool]int8{true: q}[j == c])
			} else {
				lp.Bits = append(lp.Bits, map[bool]uint16{true: b}[j == c])
			}
		}
		if dt == formats.I8 {
			lp.Scale = append(lp.Scale, sc)
		}
		lp.Rows++
		lp.RowPtr = append(lp.RowPtr, int64(len(lp.ColIdx)))
		vals = append(vals, v)
	}
	switch dt {
	case formats.BF16:
		for _, b := range []uint16{0x7f7f, 0xff7f, 0x0001, 0x8080, 0x3f80, 0x7f80, 0xff80} {
			add(formats.BF16ToFloat32(b), 0, b, 0)
		}
	case formats.F16:
		for _, b := range []uint16{0x0001, 0x83ff, 0x7bff, 0xfbff, 0x3c00, 0x7c00, 0xfc00} {
			add(formats.F16ToFloat32(b), 0, b, 0)
		}
	case formats.I8:
		q := []int8{127, -127, 1, -1, 64, 3}
		sc := []float32{3e-3, 1e30, 1e-38, 7, -2, 0}
		for i := range q {
			add(sc[i]*float32(q[i]), q[i], 0, sc[i])
		}
	}
	if err := lp.Validate(); err != nil {
		t.Fatal(err)
	}
	return lp, vals
}

// checkUnitSplit runs kern on all its units at once and then step units at a time, on X
// (K×n, stride n) and Y (M×n), and fails unless both give Y bitwise; it returns that Y.
func checkUnitSplit(t *testing.T, name string, kern Kernel, x []float32, n, step int, epi *ref.Epilogue) []float32 {
	t.Helper()
	m, _ := kern.Shape()
	whole, parts := make([]float32, m*n), make([]float32, m*n)
	if err := kern.Run(0, kern.Units(), x, n, whole, n, n, epi); err != nil {
		t.Fatal(err)
	}
	for u := 0; u < kern.Units(); u += step {
		if err := kern.Run(u, min(u+step, kern.Units()), x, n, parts, n, n, epi); err != nil {
			t.Fatal(err)
		}
	}
	for i := range whole {
		if math.Float32bits(whole[i]) != math.Float32bits(parts[i]) {
			t.Fatalf("%s: unit split changed Y[%d]: %v vs %v", name, i, whole[i], parts[i])
		}
	}
	return whole
}

// checkNaNRow runs kern, packed from a 5×20 W whose weight (3, 7) is NaN, on x (20 values,
// N = 1) through ReLU: row 3, and only row 3, must be NaN.
func checkNaNRow(t *testing.T, name string, kern Kernel, x []float32) {
	t.Helper()
	yn := make([]float32, 5)
	if err := kern.Run(0, kern.Units(), x[:20], 1, yn, 1, 1, &ref.Epilogue{Act: ref.ActReLU}); err != nil {
		t.Fatal(err)
	}
	for i, v := range yn {
		if math.IsNaN(float64(v)) != (i == 3) {
			t.Fatalf("%s: NaN row: Y[%d] = %v", name, i, v)
		}
	}
}

// spmvSweep runs kern (packed from w, whose widened float32 values are wc, next to guard
// pages on side) against the oracle with every epilogue: N = 1 contiguous and strided, and
// N = 3 (the column-by-column fallback). It returns the number of cases.
func spmvSweep(t *testing.T, kern Kernel, wc *formats.CSR, r *mrand.Rand, side guardSide) int {
	t.Helper()
	cases := 0
	for ei, epi := range csrEpilogues(r, wc.Rows) {
		n, ldx, ldy := 1, 1, 1
		if ei%3 == 1 {
			ldx, ldy = 3, 2
		}
		if ei%4 == 3 {
			n, ldx, ldy = 3, 4, 5 // the column-by-column fallback
		}
		csrCase(t, kern, wc, r, n, ldx, ldy, epi, side)
		cases++
	}
	return cases
}

// csrOperands draws an X (K×n, stride ldx) and a Y (M×n, stride ldy) for w from r, each
// next to a guard page on side.
func csrOperands(t *testing.T, w *formats.CSR, r *mrand.Rand, n, ldx, ldy int, side guardSide) (x, y []float32) {
	t.Helper()
	m, k := w.Shape()
	x = guardSlice[float32](t, max(0, (k-1)*ldx+n), side)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	y = guardSlice[float32](t, max(0, (m-1)*ldy+n), side)
	for i := range y {
		y[i] = float32(r.NormFloat64())
	}
	return x, y
}

// benchCSRFamilies times, on one 11008×4096 CSR at 90% sparsity (standard normal values
// from seed) and N = n, every family this CPU runs that keep accepts and that takes CSR
// (the CSR) or CSR in a low-precision dtype (the CSR converted, CSRLPFromCSR); SetBytes is
// the packed W's bytes, so MB/s is the W stream's bandwidth, and B/nnz its bytes per
// stored weight.
func benchCSRFamilies(b *testing.B, seed int64, n int, keep func(Family) bool) {
	r := mrand.New(mrand.NewSource(seed))
	const m, k, d = 11008, 4096, 0.1
	c := &formats.CSR{Rows: m, Cols: k, RowPtr: make([]int64, m+1)}
	for i := 0; i < m; i++ {
		for j := 0; j < k; j++ {
			if r.Float64() < d {
				c.ColIdx = append(c.ColIdx, int32(j))
				c.Val = append(c.Val, float32(r.NormFloat64()))
			}
		}
		c.RowPtr[i+1] = int64(len(c.Val))
	}
	x := make([]float32, k*n)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	y := make([]float32, m*n)
	for _, f := range Families() {
		if !keep(f) || f.Features&^hostFeatures() != 0 || f.ISA == Generic {
			continue
		}
		var w formats.Matrix = c
		if f.Format != "csr" {
			t, err := formats.ParseDType(f.DType)
			if err != nil || f.Format != CSRLPFormat(t) {
				continue
			}
			if w, err = formats.CSRLPFromCSR(c, t); err != nil {
				b.Fatal(err)
			}
		}
		kern, err := f.Pack(w)
		if err != nil {
			b.Fatal(err)
		}
		bytes := kern.PackedBytes()
		b.Run(fmt.Sprintf("%dx%d/n%d/%s", m, k, n, f.Name), func(b *testing.B) {
			b.SetBytes(bytes)
			b.ReportMetric(float64(bytes)/float64(len(c.Val)), "B/nnz")
			for range b.N {
				if err := kern.Run(0, kern.Units(), x, n, y, n, n, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
