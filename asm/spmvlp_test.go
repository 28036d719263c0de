package asm

import (
	"errors"
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/sparsegen/sparsegen/formats"
	"github.com/sparsegen/sparsegen/ref"
)

// spmvLPRunnable lists the low-precision SpMV families this CPU runs (the pure-Go ones
// always), failing when a dtype has none.
func spmvLPRunnable(t *testing.T) []*spmvSpec {
	var out []*spmvSpec
	have := map[formats.DType]bool{}
	for _, s := range spmvLPSpecs {
		if s.Features&^hostFeatures() != 0 {
			t.Logf("%s: CPU lacks %v, skipped", s.Name, s.Features&^hostFeatures())
			continue
		}
		out = append(out, s)
		have[s.dtype] = true
	}
	for _, d := range []formats.DType{formats.BF16, formats.F16, formats.I8} {
		if !have[d] {
			t.Fatalf("no %s SpMV family runs here", d)
		}
	}
	return out
}

// randCSRLP is randCSR's matrix converted to dtype dt (CSRLPFromCSR).
func randCSRLP(t *testing.T, r *rand.Rand, dt formats.DType, m, k int, d float64, emptyRow, fullRow int) *formats.CSRLP {
	t.Helper()
	w, err := formats.CSRLPFromCSR(randCSR(r, m, k, d, emptyRow, fullRow), dt)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// packSpMVLPGuarded packs w and moves the packed streams next to a guard page.
func packSpMVLPGuarded(t *testing.T, s *spmvSpec, w *formats.CSRLP, side guardSide) *spmvKernel {
	t.Helper()
	k, err := packSpMVLP(s, w)
	if err != nil {
		t.Fatal(err)
	}
	k.lp = guardCopy(t, k.lp, side)
	k.cnt = guardCopy(t, k.cnt, side)
	if k.scale != nil {
		k.scale = guardCopy(t, k.scale, side)
	}
	if k.idx16 != nil {
		k.idx16 = guardCopy(t, k.idx16, side)
	} else {
		k.idx32 = guardCopy(t, k.idx32, side)
	}
	return k
}

// TestSpMVLPShapes: each low-precision SpMV family against ref's float64 oracle on W
// widened first (CSRLP.ToCSR): M = 1, K = 1, empty and full rows, no entries at all, every
// row length up to past two main-loop steps (every tail residue of every ISA's vectors),
// the N > 1 column fallback, strided X and Y, every epilogue, packed streams next to guard
// pages on both sides.
func TestSpMVLPShapes(t *testing.T) {
	type shape struct {
		m, k        int
		d           float64
		empty, full int
	}
	shapes := []shape{
		{1, 1, 1, -1, -1}, {1, 100, 0.4, -1, 0}, {6, 1, 0.5, 1, -1}, {7, 40, 0, -1, -1},
		{19, 80, 0.3, 2, 11}, {5, 300, 0.1, 0, 3}, {33, 17, 0.9, 4, 5}, {40, 70, 0.5, 7, 30},
	}
	for _, s := range spmvLPRunnable(t) {
		r := rand.New(rand.NewSource(int64(71 + s.dtype)))
		cases := 0
		for _, sh := range shapes {
			w := randCSRLP(t, r, s.dtype, sh.m, sh.k, sh.d, sh.empty, sh.full)
			wc := w.ToCSR()
			for _, side := range []guardSide{guardAfter, guardBefore} {
				kern := packSpMVLPGuarded(t, s, w, side)
				for ei, epi := range csrEpilogues(r, sh.m) {
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
			}
		}
		// Every row length from 0 to 2·(2·Lanes)+3: full rows of K columns, 5 rows each.
		for k := 1; k <= 4*max(s.Lanes, 4)+3; k++ {
			w := randCSRLP(t, r, s.dtype, 5, k, 1, 2, -1)
			kern := packSpMVLPGuarded(t, s, w, guardAfter)
			csrCase(t, kern, w.ToCSR(), r, 1, 1, 1, nil, guardAfter)
			cases++
		}
		t.Logf("%s: %d cases", s.Name, cases)
	}
}

// TestSpMVLPNextRowInf: the masked last chunk of a row must not multiply the next row's
// values: rows alternate finite values with +Inf ones (bf16, f16) or full-scale int8, and
// every row length leaves a tail, so an Inf·0 there would turn a finite row into NaN.
func TestSpMVLPNextRowInf(t *testing.T) {
	for _, s := range spmvLPRunnable(t) {
		r := rand.New(rand.NewSource(73))
		for _, k := range []int{3, 5, 7, 13, 21, 33, 47} {
			w := randCSRLP(t, r, s.dtype, 8, k, 1, -1, -1)
			for i := 1; i < w.Rows; i += 2 {
				for p := w.RowPtr[i]; p < w.RowPtr[i+1]; p++ {
					if s.dtype == formats.I8 {
						w.I8[p] = -127
					} else {
						w.Bits[p] = 0x7f80 // +Inf in bf16
						if s.dtype == formats.F16 {
							w.Bits[p] = 0x7c00
						}
					}
				}
			}
			kern := packSpMVLPGuarded(t, s, w, guardAfter)
			x := make([]float32, k)
			for i := range x {
				x[i] = float32(r.NormFloat64())
			}
			y := make([]float32, w.Rows)
			if err := kern.Run(0, kern.Units(), x, 1, y, 1, 1, nil); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < w.Rows; i += 2 {
				if math.IsNaN(float64(y[i])) || math.IsInf(float64(y[i]), 0) {
					t.Fatalf("%s K=%d: row %d = %v: the next row's values reached it", s.Name, k, i, y[i])
				}
			}
			csrCheck(t, fmt.Sprintf("%s K=%d", s.Name, k), w.ToCSR(), x, 1, make([]float32, w.Rows), y, 1, 1, nil)
		}
	}
}

// TestSpMVLPEdges: unit splits give the whole product bitwise, K = 0 and M = 0 work, the
// widening is exact for extreme values (bf16's largest and smallest, f16 subnormals and
// ±Inf, int8 ±127 with extreme scales), a NaN weight reaches Y through ReLU, and a family
// refuses another dtype, a float32 CSR, a K its indices cannot hold and a bad index.
func TestSpMVLPEdges(t *testing.T) {
	for _, s := range spmvLPRunnable(t) {
		r := rand.New(rand.NewSource(74))
		w := randCSRLP(t, r, s.dtype, 70, 37, 0.4, 5, 6)
		kern, err := packSpMVLP(s, w)
		if err != nil {
			t.Fatal(err)
		}
		x := make([]float32, 37*2)
		for i := range x {
			x[i] = float32(r.NormFloat64())
		}
		whole := make([]float32, 70*2)
		parts := make([]float32, 70*2)
		epi := &ref.Epilogue{Act: ref.ActGELU}
		if err := kern.Run(0, kern.Units(), x, 2, whole, 2, 2, epi); err != nil {
			t.Fatal(err)
		}
		for u := 0; u < kern.Units(); u += 3 {
			if err := kern.Run(u, min(u+3, kern.Units()), x, 2, parts, 2, 2, epi); err != nil {
				t.Fatal(err)
			}
		}
		for i := range whole {
			if math.Float32bits(whole[i]) != math.Float32bits(parts[i]) {
				t.Fatalf("%s: unit split changed Y[%d]: %v vs %v", s.Name, i, whole[i], parts[i])
			}
		}
		// K = 0: Y = epi(0).
		w0 := &formats.CSRLP{Rows: 6, RowPtr: make([]int64, 7), DType: s.dtype}
		if s.dtype == formats.I8 {
			w0.Scale = make([]float32, 6)
		}
		k0, err := packSpMVLP(s, w0)
		if err != nil {
			t.Fatal(err)
		}
		bias := []float32{1, -2, 3, -4, 5, -6}
		y := []float32{9, 9, 9, 9, 9, 9}
		if err := k0.Run(0, k0.Units(), nil, 1, y, 1, 1, &ref.Epilogue{Bias: bias, Act: ref.ActReLU}); err != nil {
			t.Fatal(err)
		}
		for i, v := range y {
			if v != max(bias[i], 0) {
				t.Fatalf("%s: K = 0: Y[%d] = %v, want %v", s.Name, i, v, max(bias[i], 0))
			}
		}
		// M = 0.
		kz, err := packSpMVLP(s, &formats.CSRLP{Cols: 5, RowPtr: []int64{0}, DType: s.dtype, Scale: []float32{}})
		if err != nil {
			t.Fatal(err)
		}
		if kz.Units() != 0 || kz.Run(0, 0, nil, 1, nil, 1, 1, nil) != nil {
			t.Fatalf("%s: M = 0: %d units", s.Name, kz.Units())
		}
		// Exact widening: row i holds one weight v at column c (among zeros), X = 1 there.
		const k = 50
		var vals []float32
		lp := &formats.CSRLP{Cols: k, RowPtr: []int64{0}, DType: s.dtype}
		add := func(v float32, q int8, b uint16, sc float32) {
			i := lp.Rows
			c := (i * 7) % k
			for j := c - 2; j <= c+2; j++ { // stored zeros around it
				if j < 0 || j >= k {
					continue
				}
				lp.ColIdx = append(lp.ColIdx, int32(j))
				if s.dtype == formats.I8 {
					lp.I8 = append(lp.I8, map[bool]int8{true: q}[j == c])
				} else {
					lp.Bits = append(lp.Bits, map[bool]uint16{true: b}[j == c])
				}
			}
			if s.dtype == formats.I8 {
				lp.Scale = append(lp.Scale, sc)
			}
			lp.Rows++
			lp.RowPtr = append(lp.RowPtr, int64(len(lp.ColIdx)))
			vals = append(vals, v)
		}
		switch s.dtype {
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
		ke, err := packSpMVLP(s, lp)
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
			if g, e := ye[i], vals[i]; g != e || math.Signbit(float64(g)) != math.Signbit(float64(e)) && e != 0 {
				t.Fatalf("%s: weight %d widened to %v, want %v", s.Name, i, g, e)
			}
		}
		// A NaN weight stays NaN through ReLU (bf16, f16).
		if s.dtype != formats.I8 {
			wn := randCSRLP(t, r, s.dtype, 5, 20, 1, -1, -1)
			wn.Bits[3*20+7] = 0x7fc0
			kn, err := packSpMVLP(s, wn)
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
		}
		// Refusals: a float32 CSR, another dtype, a bad column index, and K > 65536 for
		// 16-bit indices (the pure-Go kernel takes it).
		if _, err := packSpMVLP(s, randCSR(r, 3, 3, 1, -1, -1)); !errors.Is(err, ErrNotApplicable) {
			t.Fatalf("%s packed a float32 CSR: %v", s.Name, err)
		}
		other := formats.BF16
		if s.dtype == formats.BF16 {
			other = formats.F16
		}
		if _, err := packSpMVLP(s, randCSRLP(t, r, other, 3, 3, 1, -1, -1)); !errors.Is(err, ErrNotApplicable) {
			t.Fatalf("%s packed a %s matrix: %v", s.Name, other, err)
		}
		wb := randCSRLP(t, r, s.dtype, 4, 9, 1, -1, -1)
		wb.ColIdx[10] = 9
		if _, err := packSpMVLP(s, wb); !errors.Is(err, formats.ErrInvalid) {
			t.Fatalf("%s packed column 9 of 9: %v", s.Name, err)
		}
		wb.ColIdx[10] = wb.ColIdx[9]
		if _, err := packSpMVLP(s, wb); !errors.Is(err, formats.ErrInvalid) {
			t.Fatalf("%s packed a repeated column: %v", s.Name, err)
		}
		big, err := formats.CSRLPFromCSR(&formats.CSR{Rows: 2, Cols: 70000, RowPtr: []int64{0, 2, 3},
			ColIdx: []int32{5, 69999, 65536}, Val: []float32{1, 2, -3}}, s.dtype)
		if err != nil {
			t.Fatal(err)
		}
		kb, err := packSpMVLP(s, big)
		if s.IndexBits == 16 {
			if !errors.Is(err, ErrNotApplicable) {
				t.Fatalf("%s: K = 70000 with 16-bit indices: %v", s.Name, err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		xb := make([]float32, 70000)
		xb[5], xb[69999], xb[65536] = 1, 3, 2
		yb := make([]float32, 2)
		if err := kb.Run(0, 2, xb, 1, yb, 1, 1, nil); err != nil {
			t.Fatal(err)
		}
		bv := big.ToCSR().Val // int8: 1 and 2 quantised with one scale
		if want := []float32{bv[0] + 3*bv[1], 2 * bv[2]}; yb[0] != want[0] || yb[1] != want[1] {
			t.Fatalf("%s: K = 70000 gave %v; want %v", s.Name, yb, want)
		}
	}
}

// TestSpMVLPRegistered: per dtype a 16-bit-index family on every ISA that has gathers and
// widening loads, for N = 1, and the pure-Go one for every N; format csr_<dtype>.
func TestSpMVLPRegistered(t *testing.T) {
	n := map[formats.DType]int{}
	for _, s := range spmvLPSpecs {
		f, ok := Lookup(s.Name)
		if !ok || f.Format != CSRLPFormat(s.dtype) || f.MinN != 1 || f.MaxN != map[bool]int{true: 0, false: 1}[s.ISA == Generic] || f.ISA != s.ISA || f.DType != s.dtype.String() {
			t.Fatalf("%s: registered as %+v", s.Name, f)
		}
		if (s.ISA == Generic) != (s.IndexBits == 32) || (s.ISA == Generic) != (s.lp == nil) {
			t.Fatalf("%s: %d-bit indices, generated %v", s.Name, s.IndexBits, s.lp != nil)
		}
		n[s.dtype]++
	}
	for _, d := range []formats.DType{formats.BF16, formats.F16, formats.I8} {
		if n[d] != n[formats.BF16] || n[d] < 1 {
			t.Fatalf("families per dtype: %v", n)
		}
	}
}

// BenchmarkSpMVLP times the low-precision SpMV families beside the float32 SpMVs (16-bit
// indices, gather and gather-free) at N = 1 on the decode shape 11008×4096 at 90%
// sparsity, W far larger than the L2; SetBytes is the packed W's bytes (values, indices,
// counts, scales), so MB/s is the W stream's bandwidth, and B/nnz its bytes per stored
// weight.
//
//	flock /tmp/sparsegen-cpu.lock go test ./asm -run '^$' -bench SpMVLP -count 6 | benchstat -
func BenchmarkSpMVLP(b *testing.B) {
	r := rand.New(rand.NewSource(75))
	const m, k, density = 11008, 4096, 0.1
	c := &formats.CSR{Rows: m, Cols: k, RowPtr: make([]int64, m+1)}
	for i := 0; i < m; i++ {
		for j := 0; j < k; j++ {
			if r.Float64() < density {
				c.ColIdx = append(c.ColIdx, int32(j))
				c.Val = append(c.Val, float32(r.NormFloat64()))
			}
		}
		c.RowPtr[i+1] = int64(len(c.Val))
	}
	x := make([]float32, k)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	y := make([]float32, m)
	for _, f := range Families() {
		var w formats.Matrix = c
		switch {
		case f.IndexBits != 16 || f.Features&^hostFeatures() != 0 || f.ISA == Generic:
			continue
		case f.Format == "csr":
		default:
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
		bytes := kern.(*spmvKernel).PackedBytes()
		b.Run(fmt.Sprintf("%dx%d/%s", m, k, f.Name), func(b *testing.B) {
			b.SetBytes(bytes)
			b.ReportMetric(float64(bytes)/float64(len(c.Val)), "B/nnz")
			for range b.N {
				if err := kern.Run(0, kern.Units(), x, 1, y, 1, 1, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
