package asm

import (
	"errors"
	"math"
	"math/rand"
	"testing"

	"github.com/sparsegen/sparsegen/formats"
	"github.com/sparsegen/sparsegen/ref"
)

// bitmapSpecs returns the bitmap SpMV families this CPU runs (failing if one the build has
// and the CPU supports is not registered) and, in every build, the pure-Go kernel on 8- and
// 16-column chunks (the driver with no generated function).
func bitmapSpecs(t *testing.T) []*spmvBitmapSpec {
	t.Helper()
	out := []*spmvBitmapSpec{
		{Desc: Desc{Name: "spmv_bitmap_go8", Format: "csr", Lanes: 8}},
		{Desc: Desc{Name: "spmv_bitmap_go16", Format: "csr", Lanes: 16}},
	}
	for _, s := range spmvBitmapSpecs {
		if s.bf16 {
			continue
		}
		if s.Features&^hostFeatures() != 0 {
			t.Logf("%s: CPU lacks %v, skipped", s.Name, s.Features&^hostFeatures())
			continue
		}
		if f, ok := Lookup(s.Name); !ok || !f.Bitmap || f.Format != "csr" || f.MaxN != 1 {
			t.Fatalf("%s not registered as a bitmap SpMV family", s.Name)
		}
		out = append(out, s)
	}
	return out
}

// guardBitmap moves k's masks and values next to a guard page on side.
func guardBitmap(t *testing.T, k *spmvBitmapKernel, side guardSide) *spmvBitmapKernel {
	t.Helper()
	k.l.Masks = guardCopy(t, k.l.Masks, side)
	if k.l.BF16 != nil {
		k.l.BF16 = guardCopy(t, k.l.BF16, side)
	} else {
		k.l.Vals = guardCopy(t, k.l.Vals, side)
	}
	return k
}

// bitmapPatterns are adversarial m×k patterns: every column, every other, the first and
// last column of each 8- and 16-column chunk, only the last (partial) chunk, only column
// k−1, and rows alternating empty and full.
func bitmapPatterns(r *rand.Rand, m, k int) map[string]*formats.CSR {
	build := func(keep func(i, j int) bool) *formats.CSR {
		c := &formats.CSR{Rows: m, Cols: k, RowPtr: make([]int64, m+1)}
		for i := 0; i < m; i++ {
			for j := 0; j < k; j++ {
				if keep(i, j) {
					c.ColIdx = append(c.ColIdx, int32(j))
					c.Val = append(c.Val, float32(r.NormFloat64()))
				}
			}
			c.RowPtr[i+1] = int64(len(c.Val))
		}
		return c
	}
	return map[string]*formats.CSR{
		"full":        build(func(i, j int) bool { return true }),
		"alternate":   build(func(i, j int) bool { return (i+j)%2 == 0 }),
		"chunk ends":  build(func(i, j int) bool { return j%8 == 0 || j%8 == 7 || j%16 == 15 }),
		"last chunk":  build(func(i, j int) bool { return j >= k/16*16 }),
		"last column": build(func(i, j int) bool { return j == k-1 }),
		"rows 0/1":    build(func(i, j int) bool { return i%2 == 1 }),
	}
}

func TestSpMVBitmapShapes(t *testing.T) {
	r := rand.New(rand.NewSource(31))
	ks := []int{1, 7, 8, 9, 15, 16, 17, 31, 33, 63, 64, 65, 100, 300}
	cases := 0
	for _, s := range bitmapSpecs(t) {
		for _, sh := range spmvShapes {
			w := randCSR(r, sh.m, sh.k, sh.d, sh.empty, sh.full)
			for _, side := range []guardSide{guardAfter, guardBefore} {
				kb := bitmapKB
				if side == guardBefore {
					kb = 16 // K blocks of one or two chunks: every epilogue across blocks
				}
				k, err := packSpMVBitmapKB(s, w, kb)
				if err != nil {
					t.Fatal(err)
				}
				cases += spmvSweep(t, guardBitmap(t, k, side), w, r, side)
			}
		}
		for _, kk := range ks {
			for di, d := range []float64{0, 0.05, 0.3, 0.5, 0.9, 1} {
				m := 1 + r.Intn(9)
				w := randCSR(r, m, kk, d, m/2, (m-1)/3*2)
				kb := []int{bitmapKB, 16, 32}[di%3] // K blocks of 1, 2 or 4 chunks too
				k, err := packSpMVBitmapKB(s, w, kb)
				if err != nil {
					t.Fatal(err)
				}
				side := guardSide(r.Intn(2))
				csrCase(t, guardBitmap(t, k, side), w, r, 1, 1, 1, nil, side)
				cases++
			}
			for name, w := range bitmapPatterns(r, 5, kk) {
				k, err := packSpMVBitmapKB(s, w, []int{bitmapKB, 32}[kk%2])
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				csrCase(t, guardBitmap(t, k, guardAfter), w, r, 1, 1, 1, &ref.Epilogue{Accumulate: true}, guardAfter)
				cases++
			}
		}
	}
	t.Logf("%d cases", cases)
}

// TestSpMVBitmapUnitRanges runs row ranges (a thread's share) and compares them with the
// whole run bitwise: the order of a row's sum does not depend on the range (K blocks of 64
// columns: the partial sums pass through Y).
func TestSpMVBitmapUnitRanges(t *testing.T) {
	r := rand.New(rand.NewSource(32))
	w := randCSR(r, 37, 203, 0.4, 3, 5)
	x := make([]float32, w.Cols)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	for _, s := range bitmapSpecs(t) {
		k, err := packSpMVBitmapKB(s, w, 64)
		if err != nil {
			t.Fatal(err)
		}
		whole := make([]float32, w.Rows)
		if err := k.Run(0, w.Rows, x, 1, whole, 1, 1, nil); err != nil {
			t.Fatal(err)
		}
		part := make([]float32, w.Rows)
		for u := 0; u < w.Rows; u += 5 {
			if err := k.Run(u, min(u+5, w.Rows), x, 1, part, 1, 1, nil); err != nil {
				t.Fatal(err)
			}
		}
		for i := range whole {
			if math.Float32bits(whole[i]) != math.Float32bits(part[i]) {
				t.Errorf("%s: row %d: %v whole, %v by ranges", s.Name, i, whole[i], part[i])
			}
		}
	}
}

// TestSpMVBitmapNonFinite: a column a row does not store is never multiplied (an Inf in X
// there must not make NaN, as in CSR), and a NaN weight or an Inf in X at a stored column
// reaches Y.
func TestSpMVBitmapNonFinite(t *testing.T) {
	r := rand.New(rand.NewSource(33))
	for _, s := range bitmapSpecs(t) {
		w := randCSR(r, 4, 40, 0.5, 0, 1)        // row 0 empty, row 1 full
		w.Val[w.RowPtr[2]] = float32(math.NaN()) // row 2's first weight
		cols := map[int32]bool{}                 // the columns row 3 stores
		for _, c := range w.ColIdx[w.RowPtr[3]:w.RowPtr[4]] {
			cols[c] = true
		}
		k, err := packSpMVBitmap(s, w)
		if err != nil {
			t.Fatal(err)
		}
		x := make([]float32, 40)
		for i := range x {
			x[i] = 1
		}
		gap := -1
		for j := 0; j < 40; j++ {
			if !cols[int32(j)] {
				gap = j
				break
			}
		}
		if gap < 0 {
			t.Fatal("row 3 is full; pick another seed")
		}
		x[gap] = float32(math.Inf(1))
		y := make([]float32, 4)
		if err := k.Run(0, 4, x, 1, y, 1, 1, nil); err != nil {
			t.Fatal(err)
		}
		if y[0] != 0 || !math.IsInf(float64(y[1]), 0) || !math.IsNaN(float64(y[2])) || math.IsNaN(float64(y[3])) || math.IsInf(float64(y[3]), 0) {
			t.Errorf("%s: got %v; want [0, ±Inf, NaN, finite] (Inf at column %d, which row 3 does not store)", s.Name, y, gap)
		}
	}
}

func TestPackBitmap(t *testing.T) {
	r := rand.New(rand.NewSource(34))
	w := randCSR(r, 9, 50, 0.3, 2, 4)
	for _, lanes := range []int{8, 16} {
		for _, kb := range []int{bitmapKB, 16, 32} {
			l, err := packBitmap(w, lanes, kb)
			if err != nil {
				t.Fatal(err)
			}
			if l.KB%lanes != 0 || l.KB > max(kb, lanes) || l.Blocks != (50+l.KB-1)/l.KB || len(l.Vals) != len(w.Val)+lanes {
				t.Fatalf("lanes %d, max block %d: blocks %d of %d columns, %d values", lanes, kb, l.Blocks, l.KB, len(l.Vals))
			}
			// Decode: every mask bit is a stored column, in order, its value the stored one,
			// and nothing else is set.
			for i := 0; i < w.Rows; i++ {
				var got []int32
				var vals []float32
				for b := 0; b < l.Blocks; b++ {
					p := l.BlockPtr[b*(w.Rows+1)+i]
					for c := 0; c < l.chunks(b); c++ {
						m := l.mask(b, i, c)
						for j := 0; j < lanes; j++ {
							if m&(1<<j) != 0 {
								got = append(got, int32(b*l.KB+c*lanes+j))
								vals = append(vals, l.Vals[p])
								p++
							}
						}
					}
					if p != l.BlockPtr[b*(w.Rows+1)+i+1] {
						t.Fatalf("lanes %d block %d row %d: values end at %d, next row starts at %d", lanes, b, i, p, l.BlockPtr[b*(w.Rows+1)+i+1])
					}
				}
				want := w.ColIdx[w.RowPtr[i]:w.RowPtr[i+1]]
				wantV := w.Val[w.RowPtr[i]:w.RowPtr[i+1]]
				if len(got) != len(want) {
					t.Fatalf("lanes %d row %d: columns %v, want %v", lanes, i, got, want)
				}
				for q := range got {
					if got[q] != want[q] || vals[q] != wantV[q] {
						t.Fatalf("lanes %d row %d: columns %v values %v, want %v %v", lanes, i, got, vals, want, wantV)
					}
				}
			}
			chunks := 0
			for b := 0; b < l.Blocks; b++ {
				chunks += l.chunks(b)
			}
			if len(l.Masks) != 9*chunks*lanes/8+8 {
				t.Errorf("lanes %d, max block %d: %d mask bytes for %d chunks per row", lanes, kb, len(l.Masks), chunks)
			}
		}
		l, err := PackBitmap(w, lanes)
		if err != nil {
			t.Fatal(err)
		}
		wantB := 4 + float64(9*((50+lanes-1)/lanes)*lanes/8)/float64(len(w.Val))
		if b := l.BytesPerWeight(); math.Abs(b-wantB) > 1e-12 {
			t.Errorf("lanes %d: %v bytes per weight, want %v", lanes, b, wantB)
		}
		y, want := make([]float32, 9), make([]float32, 9)
		x := make([]float32, 50)
		for i := range x {
			x[i] = float32(r.NormFloat64())
		}
		if err := l.MulVec(x, y); err != nil {
			t.Fatal(err)
		}
		if err := ref.CSR(w, x, 1, want, 1, 1, nil); err != nil {
			t.Fatal(err)
		}
		for i := range y {
			if math.Abs(float64(y[i]-want[i])) > 1e-4*(1+math.Abs(float64(want[i]))) {
				t.Errorf("lanes %d: MulVec y[%d] = %v, want %v", lanes, i, y[i], want[i])
			}
		}
		if err := l.MulVec(x[:49], y); !errors.Is(err, ref.ErrShape) {
			t.Errorf("MulVec of a short x: %v", err)
		}
	}
	if _, err := PackBitmap(w, 4); err == nil {
		t.Error("PackBitmap took 4-column chunks")
	}
	bad := *w
	bad.ColIdx = append([]int32(nil), w.ColIdx...)
	bad.ColIdx[w.RowPtr[4]] = 50
	if _, err := PackBitmap(&bad, 16); !errors.Is(err, formats.ErrInvalid) {
		t.Errorf("PackBitmap of a column ≥ K: %v", err)
	}
	if _, err := PackBitmap(nil, 16); !errors.Is(err, formats.ErrInvalid) {
		t.Errorf("PackBitmap(nil): %v", err)
	}
}

// bitmapBF16Specs returns the bf16 bitmap kernels this CPU runs (failing if one is not
// registered as a bitmap SpMV of bf16 CSRLP weights) and the pure-Go kernel on 8- and
// 16-column chunks.
func bitmapBF16Specs(t *testing.T) []*spmvBitmapSpec {
	t.Helper()
	out := []*spmvBitmapSpec{
		{Desc: Desc{Name: "spmv_bitmap_bf16_go8", Format: "csr_bf16", Lanes: 8}, bf16: true},
		{Desc: Desc{Name: "spmv_bitmap_bf16_go16", Format: "csr_bf16", Lanes: 16}, bf16: true},
	}
	for _, s := range spmvBitmapSpecs {
		if !s.bf16 {
			continue
		}
		if s.Features&^hostFeatures() != 0 {
			t.Logf("%s: CPU lacks %v, skipped", s.Name, s.Features&^hostFeatures())
			continue
		}
		if f, ok := Lookup(s.Name); !ok || !f.Bitmap || f.Format != CSRLPFormat(formats.BF16) || f.DType != "bf16" || f.MaxN != 1 {
			t.Fatalf("%s not registered as a bf16 bitmap SpMV family", s.Name)
		}
		out = append(out, s)
	}
	return out
}

// TestSpMVBitmapBF16 checks the bf16 bitmap kernels against the float64 oracle of the
// widened matrix (CSRLP.ToCSR), over the shapes and K blocks of TestSpMVBitmapShapes; a
// NaN or Inf in the padding past a row's values must not reach Y (the widened vector is
// expanded, so lanes past the popcount are dropped).
func TestSpMVBitmapBF16(t *testing.T) {
	r := rand.New(rand.NewSource(35))
	cases := 0
	for _, s := range bitmapBF16Specs(t) {
		check := func(w *formats.CSR, kb int, side guardSide, sweep bool) {
			t.Helper()
			lp, err := formats.CSRLPFromCSR(w, formats.BF16)
			if err != nil {
				t.Fatal(err)
			}
			k, err := packSpMVBitmapBF16(s, lp, kb)
			if err != nil {
				t.Fatal(err)
			}
			for i := len(k.l.BF16) - s.Lanes; i < len(k.l.BF16); i++ {
				k.l.BF16[i] = 0x7fc0 // NaN in the padding
			}
			k = guardBitmap(t, k, side)
			if sweep {
				cases += spmvSweep(t, k, lp.ToCSR(), r, side)
			} else {
				csrCase(t, k, lp.ToCSR(), r, 1, 1, 1, &ref.Epilogue{Accumulate: true}, side)
				cases++
			}
		}
		for _, sh := range spmvShapes {
			w := randCSR(r, sh.m, sh.k, sh.d, sh.empty, sh.full)
			check(w, bitmapKB, guardAfter, true)
			check(w, 16, guardBefore, true)
		}
		for _, kk := range []int{1, 7, 8, 9, 15, 16, 17, 33, 65, 100, 300} {
			for di, d := range []float64{0, 0.05, 0.3, 0.9, 1} {
				m := 1 + r.Intn(9)
				check(randCSR(r, m, kk, d, m/2, (m-1)/3*2), []int{bitmapKB, 16, 32}[di%3], guardSide(r.Intn(2)), false)
			}
		}
	}
	t.Logf("%d cases", cases)
	w := randCSR(r, 3, 20, 0.5, -1, -1)
	if _, err := packSpMVBitmapBF16(bitmapBF16Specs(t)[0], &formats.CSRLP{Rows: 3, Cols: 20, RowPtr: w.RowPtr, ColIdx: w.ColIdx, DType: formats.F16, Bits: make([]uint16, len(w.ColIdx))}, bitmapKB); !errors.Is(err, ErrNotApplicable) {
		t.Errorf("packing fp16 values as bf16: %v", err)
	}
}
