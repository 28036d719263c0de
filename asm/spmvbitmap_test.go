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
		if s.lp != 0 {
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
	switch {
	case k.l.Bits != nil:
		k.l.Bits = guardCopy(t, k.l.Bits, side)
	case k.l.I8 != nil:
		k.l.I8 = guardCopy(t, k.l.I8, side)
	default:
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
// whole run bitwise, for every dtype: the order of a row's sum does not depend on the range (K blocks of 64
// columns: the partial sums pass through Y).
func TestSpMVBitmapUnitRanges(t *testing.T) {
	r := rand.New(rand.NewSource(32))
	w := randCSR(r, 37, 203, 0.4, 3, 5)
	x := make([]float32, w.Cols)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	type spec struct {
		s *spmvBitmapSpec
		w *formats.CSRLP // nil: float32
	}
	var specs []spec
	for _, s := range bitmapSpecs(t) {
		specs = append(specs, spec{s, nil})
	}
	for _, dt := range bitmapLPDTypes { // int8: each range's rows take their own scales
		lp, err := formats.CSRLPFromCSR(w, dt)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range bitmapLPSpecs(t, dt) {
			specs = append(specs, spec{s, lp})
		}
	}
	for _, sp := range specs {
		s := sp.s
		var k *spmvBitmapKernel
		var err error
		if sp.w == nil {
			k, err = packSpMVBitmapKB(s, w, 64)
		} else {
			k, err = packSpMVBitmapLP(s, sp.w, 64)
		}
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

// bitmapLPDTypes are the low-precision dtypes with bitmap families.
var bitmapLPDTypes = []formats.DType{formats.BF16, formats.F16, formats.I8}

// bitmapLPSpecs returns the bitmap kernels of dtype dt this CPU runs (failing if one is not
// registered as a bitmap SpMV of dt CSRLP weights, or if the build registers none of an ISA
// the CPU runs) and the pure-Go kernel on 8- and 16-column chunks.
func bitmapLPSpecs(t *testing.T, dt formats.DType) []*spmvBitmapSpec {
	t.Helper()
	out := []*spmvBitmapSpec{
		{Desc: Desc{Name: "spmv_bitmap_" + dt.String() + "_go8", Format: CSRLPFormat(dt), Lanes: 8}, lp: dt},
		{Desc: Desc{Name: "spmv_bitmap_" + dt.String() + "_go16", Format: CSRLPFormat(dt), Lanes: 16}, lp: dt},
	}
	isas := map[ISA]bool{}
	for _, s := range spmvBitmapSpecs {
		if s.lp != dt {
			continue
		}
		isas[s.ISA] = true
		if s.Features&^hostFeatures() != 0 {
			t.Logf("%s: CPU lacks %v, skipped", s.Name, s.Features&^hostFeatures())
			continue
		}
		if f, ok := Lookup(s.Name); !ok || !f.Bitmap || f.Format != CSRLPFormat(dt) || f.DType != dt.String() || f.MaxN != 1 {
			t.Fatalf("%s not registered as a %s bitmap SpMV family", s.Name, dt)
		}
		if (dt == formats.I8) != (s.fnI8 != nil) || (dt == formats.I8) == (s.fn16 != nil) || s.fn != nil {
			t.Fatalf("%s: registered with the wrong function kind", s.Name)
		}
		out = append(out, s)
	}
	for _, f := range spmvBitmapSpecs {
		if f.lp == 0 && !isas[f.ISA] {
			t.Errorf("%s has a float32 bitmap family but no %s one", f.ISA, dt)
		}
	}
	return out
}

// bitmapPadNaN is a pattern of dtype dt that is NaN (int8: −128, the value no symmetric
// quantisation stores).
func bitmapPadNaN(dt formats.DType) uint16 {
	switch dt {
	case formats.BF16:
		return 0x7fc0
	case formats.F16:
		return 0x7e00
	}
	return 0x80
}

// TestSpMVBitmapLP checks the bf16, fp16 and int8 bitmap kernels against the float64
// oracle of the widened matrix (CSRLP.ToCSR: int8 q·scale per weight, the reference of the
// int8 gather SpMV's tests; the kernels scale each row's sum, within the tolerance), over
// the shapes and K blocks of TestSpMVBitmapShapes; a NaN in the padding past a row's values
// must not reach Y (the widened vector is expanded, so lanes past the popcount are
// dropped). int8 rows take their own scales (max|v|/127 per row, rows of different
// magnitudes).
func TestSpMVBitmapLP(t *testing.T) {
	r := rand.New(rand.NewSource(35))
	for _, dt := range bitmapLPDTypes {
		cases := 0
		for _, s := range bitmapLPSpecs(t, dt) {
			check := func(w *formats.CSR, kb int, side guardSide, sweep bool) {
				t.Helper()
				for i := 0; i < w.Rows; i++ { // rows of different magnitudes: distinct int8 scales
					for p := w.RowPtr[i]; p < w.RowPtr[i+1]; p++ {
						w.Val[p] *= float32(1 + i%5*3)
					}
				}
				lp, err := formats.CSRLPFromCSR(w, dt)
				if err != nil {
					t.Fatal(err)
				}
				k, err := packSpMVBitmapLP(s, lp, kb)
				if err != nil {
					t.Fatal(err)
				}
				for i := 0; i < s.Lanes; i++ {
					if k.l.Bits != nil {
						k.l.Bits[len(k.l.Bits)-1-i] = bitmapPadNaN(dt)
					} else {
						k.l.I8[len(k.l.I8)-1-i] = uint8(bitmapPadNaN(dt))
					}
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
				check(randCSR(r, sh.m, sh.k, sh.d, sh.empty, sh.full), 16, guardBefore, true)
			}
			for _, kk := range []int{1, 7, 8, 9, 15, 16, 17, 33, 65, 100, 300} {
				for di, d := range []float64{0, 0.05, 0.3, 0.9, 1} {
					m := 1 + r.Intn(9)
					check(randCSR(r, m, kk, d, m/2, (m-1)/3*2), []int{bitmapKB, 16, 32}[di%3], guardSide(r.Intn(2)), false)
				}
				for _, w := range bitmapPatterns(r, 5, kk) {
					check(w, []int{bitmapKB, 32}[kk%2], guardAfter, false)
				}
			}
		}
		t.Logf("%s: %d cases", dt, cases)
	}
	w := randCSR(r, 3, 20, 0.5, -1, -1)
	for _, dt := range bitmapLPDTypes {
		other := formats.F16
		if dt == formats.F16 {
			other = formats.I8
		}
		lp, err := formats.CSRLPFromCSR(w, other)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := packSpMVBitmapLP(bitmapLPSpecs(t, dt)[0], lp, bitmapKB); !errors.Is(err, ErrNotApplicable) {
			t.Errorf("packing %s values for %s: %v", other, dt, err)
		}
	}
	if _, err := packSpMVBitmapLP(bitmapLPSpecs(t, formats.I8)[0], nil, bitmapKB); !errors.Is(err, formats.ErrInvalid) {
		t.Errorf("packing a nil CSRLP: %v", err)
	}
	if _, err := packSpMVBitmapLP(bitmapSpecs(t)[0], &formats.CSRLP{}, bitmapKB); !errors.Is(err, ErrNotApplicable) {
		t.Errorf("packing a CSRLP for a float32 spec: %v", err)
	}
}

// TestSpMVBitmapLPNonFinite: a column a row does not store is never multiplied (an Inf in X
// there must not make NaN), an Inf in X at a stored column reaches Y, and a NaN weight
// (bf16, fp16) reaches Y; an empty row gives 0.
func TestSpMVBitmapLPNonFinite(t *testing.T) {
	r := rand.New(rand.NewSource(36))
	for _, dt := range bitmapLPDTypes {
		for _, s := range bitmapLPSpecs(t, dt) {
			w := randCSR(r, 4, 40, 0.5, 0, 1) // row 0 empty, row 1 full
			lp, err := formats.CSRLPFromCSR(w, dt)
			if err != nil {
				t.Fatal(err)
			}
			if dt != formats.I8 {
				lp.Bits[lp.RowPtr[2]] = bitmapPadNaN(dt) // row 2's first weight
			}
			stored := map[int32]bool{}
			for _, c := range w.ColIdx[w.RowPtr[3]:w.RowPtr[4]] {
				stored[c] = true
			}
			gap := -1
			for j := 0; j < 40 && gap < 0; j++ {
				if !stored[int32(j)] {
					gap = j
				}
			}
			if gap < 0 {
				t.Fatal("row 3 is full; pick another seed")
			}
			k, err := packSpMVBitmapLP(s, lp, bitmapKB)
			if err != nil {
				t.Fatal(err)
			}
			x := make([]float32, 40)
			for i := range x {
				x[i] = 1
			}
			x[gap] = float32(math.Inf(1))
			y := make([]float32, 4)
			if err := k.Run(0, 4, x, 1, y, 1, 1, nil); err != nil {
				t.Fatal(err)
			}
			y2 := float64(y[2])
			if y[0] != 0 || !(math.IsInf(float64(y[1]), 0) || math.IsNaN(float64(y[1]))) || (dt != formats.I8) != math.IsNaN(y2) || math.IsNaN(float64(y[3])) || math.IsInf(float64(y[3]), 0) {
				t.Errorf("%s: got %v; want [0, ±Inf, NaN (int8: a number), finite] (Inf at column %d, which row 3 does not store)", s.Name, y, gap)
			}
		}
	}
}

// TestPackBitmapLP decodes each dtype's layout with the pure-Go kernel against ref on W
// widened, and checks its bytes per weight (the value's bytes plus the masks' share).
func TestPackBitmapLP(t *testing.T) {
	r := rand.New(rand.NewSource(37))
	w := randCSR(r, 9, 50, 0.3, 2, 4)
	x := make([]float32, 50)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	for _, dt := range bitmapLPDTypes {
		lp, err := formats.CSRLPFromCSR(w, dt)
		if err != nil {
			t.Fatal(err)
		}
		for _, lanes := range []int{8, 16} {
			l, err := PackBitmapLP(lp, lanes)
			if err != nil {
				t.Fatal(err)
			}
			y, want := make([]float32, 9), make([]float32, 9)
			if err := l.MulVec(x, y); err != nil {
				t.Fatal(err)
			}
			if err := ref.CSR(lp.ToCSR(), x, 1, want, 1, 1, nil); err != nil {
				t.Fatal(err)
			}
			for i := range y {
				if math.Abs(float64(y[i]-want[i])) > 1e-4*(1+math.Abs(float64(want[i]))) {
					t.Errorf("%s lanes %d: MulVec y[%d] = %v, want %v", dt, lanes, i, y[i], want[i])
				}
			}
			wantB := float64(dt.Bytes()) + float64(9*((50+lanes-1)/lanes)*lanes/8)/float64(len(w.Val))
			if b := l.BytesPerWeight(); math.Abs(b-wantB) > 1e-12 {
				t.Errorf("%s lanes %d: %v bytes per weight, want %v", dt, lanes, b, wantB)
			}
		}
	}
	bad, err := formats.CSRLPFromCSR(w, formats.I8)
	if err != nil {
		t.Fatal(err)
	}
	bad.Scale = bad.Scale[:8]
	if _, err := PackBitmapLP(bad, 16); !errors.Is(err, formats.ErrInvalid) {
		t.Errorf("PackBitmapLP with 8 scales for 9 rows: %v", err)
	}
}
