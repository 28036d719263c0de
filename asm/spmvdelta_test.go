package asm

import (
	"errors"
	"math"
	"math/rand"
	"slices"
	"testing"

	"github.com/sparsegen/sparsegen/formats"
	"github.com/sparsegen/sparsegen/ref"
)

// deltaDTypes are the stored value types of the delta SpMV: float32 (0) and the
// low-precision ones.
var deltaDTypes = []formats.DType{0, formats.BF16, formats.F16, formats.I8}

// deltaSpecs returns the delta SpMV families of dtype dt (0: float32) this CPU runs
// (failing if one is not registered as a delta SpMV of its format, or if an ISA has a
// float32 family but not one of dt) and, in every build, the pure-Go kernel for 8 and 16
// lanes (the driver with no generated function).
func deltaSpecs(t *testing.T, dt formats.DType) []*spmvDeltaSpec {
	t.Helper()
	format, name := "csr", "spmv_csr_d8_go"
	if dt != 0 {
		format, name = CSRLPFormat(dt), "spmv_csr_d8_"+dt.String()+"_go"
	}
	out := []*spmvDeltaSpec{
		{Desc: Desc{Name: name + "8", Format: format, Lanes: 8}, lp: dt},
		{Desc: Desc{Name: name + "16", Format: format, Lanes: 16}, lp: dt},
	}
	isas := map[ISA]bool{}
	for _, s := range spmvDeltaSpecs {
		if s.lp != dt {
			continue
		}
		isas[s.ISA] = true
		if s.Features&^hostFeatures() != 0 {
			t.Logf("%s: CPU lacks %v, skipped", s.Name, s.Features&^hostFeatures())
			continue
		}
		if f, ok := Lookup(s.Name); !ok || !f.Delta || f.IndexBits != 8 || f.Format != format || f.MaxN != 1 {
			t.Fatalf("%s not registered as a delta SpMV family of format %s", s.Name, format)
		}
		if (dt == 0) != (s.fn != nil) || (dt == 0) == (s.fnLP != nil) {
			t.Fatalf("%s: registered with the wrong function kind", s.Name)
		}
		out = append(out, s)
	}
	for _, f := range spmvDeltaSpecs {
		if f.lp == 0 && !isas[f.ISA] {
			t.Errorf("%s has a float32 delta family but no %v one", f.ISA, dt)
		}
	}
	return out
}

// guardDelta moves k's streams next to a guard page on side.
func guardDelta(t *testing.T, k *spmvDeltaKernel, side guardSide) *spmvDeltaKernel {
	t.Helper()
	k.l.Deltas = guardCopy(t, k.l.Deltas, side)
	k.l.Cnt = guardCopy(t, k.l.Cnt, side)
	if k.l.LP != nil {
		k.l.LP = guardCopy(t, k.l.LP, side)
	} else {
		k.l.Vals = guardCopy(t, k.l.Vals, side)
	}
	if k.l.Scale != nil {
		k.l.Scale = guardCopy(t, k.l.Scale, side)
	}
	return k
}

// packDeltaCase packs w for s (converted to s's dtype first, rows scaled to distinct
// magnitudes so int8 rows take distinct scales) in blocks of kb columns, next to guard
// pages on side, and returns the kernel and the float32 matrix it computes (W widened).
func packDeltaCase(t *testing.T, s *spmvDeltaSpec, w *formats.CSR, kb int, side guardSide) (*spmvDeltaKernel, *formats.CSR) {
	t.Helper()
	var mw formats.Matrix = w
	wc := w
	if s.lp != 0 {
		w = cloneCSR(w)
		for i := 0; i < w.Rows; i++ {
			for p := w.RowPtr[i]; p < w.RowPtr[i+1]; p++ {
				w.Val[p] *= float32(1 + i%5*3)
			}
		}
		lp, err := formats.CSRLPFromCSR(w, s.lp)
		if err != nil {
			t.Fatal(err)
		}
		mw, wc = lp, lp.ToCSR()
	}
	k, err := packSpMVDelta(s, mw, kb)
	if err != nil {
		t.Fatalf("%s: %v", s.Name, err)
	}
	return guardDelta(t, k, side), wc
}

// colsCSR is an m×k CSR whose row i stores the columns cols(i) (sorted, distinct), values
// standard normal.
func colsCSR(r *rand.Rand, m, k int, cols func(i int) []int) *formats.CSR {
	c := &formats.CSR{Rows: m, Cols: k, RowPtr: make([]int64, m+1)}
	for i := 0; i < m; i++ {
		cs := slices.Compact(slices.Sorted(slices.Values(cols(i))))
		for _, j := range cs {
			if j >= 0 && j < k {
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

// gapRows are rows of long gaps for a K of at least 4096+37 in blocks of kb: gaps of 254,
// 255, 256, 510, 511, 765 and 766 columns, first entries at columns 255, 256, 510 and 4095
// of a block (15 padding entries before it at kb 4096), entries on both sides of each block
// edge, a row holding only K−1, and empty rows.
func gapRows(k, kb int) [][]int {
	rows := [][]int{
		{255}, {256}, {0, 255}, {0, 256}, {1, 511}, {0, 510}, {0, 511}, {3, 768}, {2, 768},
		{0, 254, 509, 765, 1020, 1531}, {kb - 1}, {kb - 1, kb}, {kb - 2, kb + 255}, {kb, kb + 256},
		{k - 1}, {}, {0, kb - 1, 2*kb - 1, k - 1}, {kb + 510}, {},
	}
	var every []int // every 300th column: a padding entry between each
	for j := 7; j < k; j += 300 {
		every = append(every, j)
	}
	return append(rows, every)
}

// TestSpMVDeltaShapes runs every delta kernel, every dtype, on the SpMV test shapes with
// every epilogue (K blocks of 4096 and of 16 columns), random shapes at densities 0..1 in
// blocks of 4096, 16 and 300 columns, against ref.CSR on W (widened), the streams against a
// guard page.
func TestSpMVDeltaShapes(t *testing.T) {
	r := rand.New(rand.NewSource(41))
	for _, dt := range deltaDTypes {
		cases := 0
		for _, s := range deltaSpecs(t, dt) {
			for _, sh := range spmvShapes {
				w := randCSR(r, sh.m, sh.k, sh.d, sh.empty, sh.full)
				for _, side := range []guardSide{guardAfter, guardBefore} {
					kb := deltaKB
					if side == guardBefore {
						kb = 16
					}
					k, wc := packDeltaCase(t, s, w, kb, side)
					cases += spmvSweep(t, k, wc, r, side)
				}
			}
			for _, kk := range []int{1, 7, 8, 9, 15, 16, 17, 33, 65, 255, 256, 257, 300, 700} {
				for di, d := range []float64{0, 0.01, 0.05, 0.3, 0.9, 1} {
					m := 1 + r.Intn(9)
					w := randCSR(r, m, kk, d, m/2, (m-1)/3*2)
					k, wc := packDeltaCase(t, s, w, []int{deltaKB, 16, 300}[di%3], guardSide(r.Intn(2)))
					csrCase(t, k, wc, r, 1, 1, 1, &ref.Epilogue{Accumulate: true}, guardAfter)
					cases++
				}
			}
		}
		t.Logf("%v: %d cases", dtName(dt), cases)
	}
}

// TestSpMVDeltaEveryRowLength runs rows of every length 0..3·Lanes+1 in one matrix (row i
// has i entries), over K = 64 (short deltas) and K = 2000 (long ones, padding between),
// so each kernel's full-chunk loop and every length of its last chunk run, padding entries
// included, with the streams against a guard page.
func TestSpMVDeltaEveryRowLength(t *testing.T) {
	r := rand.New(rand.NewSource(42))
	for _, dt := range deltaDTypes {
		for _, s := range deltaSpecs(t, dt) {
			for _, k := range []int{64, 2000} {
				rows := 3*s.Lanes + 2
				w := colsCSR(r, rows, k, func(i int) []int { return r.Perm(k)[:min(i, k)] })
				for _, side := range []guardSide{guardAfter, guardBefore} {
					kern, wc := packDeltaCase(t, s, w, deltaKB, side)
					csrCase(t, kern, wc, r, 1, 1, 1, nil, side)
				}
			}
		}
	}
}

// TestSpMVDeltaLongGaps runs the rows of gapRows (gaps over 255 and 510, at and across
// block edges) in a W of two whole blocks and a ragged one with more rows than a run of
// spmvBlockRows (the rows repeat), every epilogue, N = 1 and a strided N = 2, the streams
// against a guard page; and again in blocks of 1000 columns (a K of 8229: 9 blocks).
func TestSpMVDeltaLongGaps(t *testing.T) {
	r := rand.New(rand.NewSource(43))
	const k = 2*deltaKB + 37
	for _, kb := range []int{deltaKB, 1000} {
		gr := gapRows(k, kb)
		m := spmvBlockRows + 45
		w := colsCSR(r, m, k, func(i int) []int {
			if i%3 == 2 { // and rows of random long gaps
				n := r.Intn(40)
				return r.Perm(k)[:n]
			}
			return gr[i%len(gr)]
		})
		for _, dt := range deltaDTypes {
			for _, s := range deltaSpecs(t, dt) {
				for _, side := range []guardSide{guardAfter, guardBefore} {
					kern, wc := packDeltaCase(t, s, w, kb, side)
					if want := (k + kb - 1) / kb; kern.l.Blocks != want {
						t.Fatalf("%s: %d column blocks, want %d", s.Name, kern.l.Blocks, want)
					}
					if kern.l.Entries() <= kern.l.NNZ() {
						t.Fatalf("%s: no padding entries in a W of long gaps", s.Name)
					}
					for _, epi := range csrEpilogues(r, m) {
						csrCase(t, kern, wc, r, 1, 1, 1, epi, side)
						csrCase(t, kern, wc, r, 2, 3, 2, epi, side)
					}
				}
			}
		}
	}
}

// TestSpMVDeltaUnitRanges runs row ranges (a thread's share) and compares them with the
// whole run bitwise, for every dtype (K blocks of 64 columns: the partial sums pass
// through Y): the order of a row's sum does not depend on the range.
func TestSpMVDeltaUnitRanges(t *testing.T) {
	r := rand.New(rand.NewSource(44))
	w := randCSR(r, 37, 203, 0.4, 3, 5)
	x := make([]float32, w.Cols)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	for _, dt := range deltaDTypes {
		for _, s := range deltaSpecs(t, dt) {
			k, _ := packDeltaCase(t, s, w, 64, guardAfter)
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
}

// TestSpMVDeltaNonFinite: a NaN weight and an Inf in X at a stored column reach Y, an
// empty row gives 0, and an Inf in X at a column no entry (padding included) reads leaves
// a row finite.
func TestSpMVDeltaNonFinite(t *testing.T) {
	r := rand.New(rand.NewSource(45))
	for _, s := range deltaSpecs(t, 0) {
		w := colsCSR(r, 4, 40, func(i int) []int {
			return [][]int{{}, {3, 9, 20}, {1, 2, 30}, {0, 5, 39}}[i]
		})
		w.Val[w.RowPtr[2]] = float32(math.NaN())
		k, err := packSpMVDelta(s, w, deltaKB)
		if err != nil {
			t.Fatal(err)
		}
		x := make([]float32, 40)
		for i := range x {
			x[i] = 1
		}
		x[9] = float32(math.Inf(1)) // row 1 stores it; row 3 does not
		y := make([]float32, 4)
		if err := k.Run(0, 4, x, 1, y, 1, 1, nil); err != nil {
			t.Fatal(err)
		}
		if y[0] != 0 || !math.IsInf(float64(y[1]), 0) || !math.IsNaN(float64(y[2])) || math.IsNaN(float64(y[3])) || math.IsInf(float64(y[3]), 0) {
			t.Errorf("%s: got %v; want [0, ±Inf, NaN, finite]", s.Name, y)
		}
	}
}

// TestPackDelta decodes the layout (deltas back to columns, padding entries 0 with delta
// 255, each block's first delta from its first column), checks its counts and bytes per
// weight, the pure-Go MulVec against ref, and that bad input is refused before a kernel.
func TestPackDelta(t *testing.T) {
	r := rand.New(rand.NewSource(46))
	const k = 1300
	gr := gapRows(k, 500)
	w := colsCSR(r, len(gr), k, func(i int) []int { return gr[i] })
	x := make([]float32, k)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	for _, lanes := range []int{8, 16} {
		l, err := packDelta(w, lanes, 500)
		if err != nil {
			t.Fatal(err)
		}
		if l.Blocks != 3 || len(l.Vals) != len(l.Deltas) || l.Entries() != int64(len(l.Deltas)-lanes) || l.NNZ() != int64(len(w.Val)) {
			t.Fatalf("lanes %d: %d blocks, %d values, %d deltas, %d entries", lanes, l.Blocks, len(l.Vals), len(l.Deltas), l.Entries())
		}
		pads := int64(0)
		for i := 0; i < w.Rows; i++ {
			var cols []int32
			var vals []float32
			for b := 0; b < l.Blocks; b++ {
				p0, n := l.Start[b*(l.M+1)+i], int64(l.Cnt[b*l.M+i])
				c := b * 500
				for p := p0; p < p0+n; p++ {
					c += int(l.Deltas[p])
					if l.Vals[p] == 0 { // padding (the stored values are never 0)
						if l.Deltas[p] != deltaMax || p == p0+n-1 {
							t.Errorf("lanes %d row %d: padding entry with delta %d at %d of %d", lanes, i, l.Deltas[p], p-p0, n)
						}
						pads++
						continue
					}
					cols = append(cols, int32(c))
					vals = append(vals, l.Vals[p])
				}
			}
			if !slices.Equal(cols, w.ColIdx[w.RowPtr[i]:w.RowPtr[i+1]]) || !slices.Equal(vals, w.Val[w.RowPtr[i]:w.RowPtr[i+1]]) {
				t.Errorf("lanes %d row %d: decoded columns %v, want %v", lanes, i, cols, w.ColIdx[w.RowPtr[i]:w.RowPtr[i+1]])
			}
		}
		if pads != l.Entries()-l.NNZ() || pads == 0 {
			t.Errorf("lanes %d: %d padding entries decoded, layout has %d", lanes, pads, l.Entries()-l.NNZ())
		}
		if want := 5 * float64(l.Entries()) / float64(l.NNZ()); l.BytesPerWeight() != want {
			t.Errorf("lanes %d: %v bytes per weight, want %v", lanes, l.BytesPerWeight(), want)
		}
		y, want := make([]float32, w.Rows), make([]float32, w.Rows)
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
		if err := l.MulVec(x[:k-1], y); !errors.Is(err, ref.ErrShape) {
			t.Errorf("MulVec with a short x: %v", err)
		}
	}
	// A layout from PackDelta: blocks of 4096, 15 padding entries before column 4095.
	l, err := PackDelta(colsCSR(r, 1, 4096, func(int) []int { return []int{4095} }), 16)
	if err != nil {
		t.Fatal(err)
	}
	if l.Entries() != 17 || l.Deltas[16] != 4095-16*255 {
		t.Errorf("column 4095 alone: %d entries, last delta %d; want 17 and %d", l.Entries(), l.Deltas[16], 4095-16*255)
	}

	// Bad input: refused with a clear error, before any kernel runs.
	s := deltaSpecs(t, 0)[len(deltaSpecs(t, 0))-1]
	bad := cloneCSR(w)
	bad.ColIdx[1], bad.ColIdx[2] = bad.ColIdx[2], bad.ColIdx[1] // row 2 out of order
	if _, err := packSpMVDelta(s, bad, deltaKB); !errors.Is(err, formats.ErrInvalid) {
		t.Errorf("%s: out-of-order columns: %v", s.Name, err)
	}
	bad = cloneCSR(w)
	bad.ColIdx[len(bad.ColIdx)-1] = k
	if _, err := packSpMVDelta(s, bad, deltaKB); !errors.Is(err, formats.ErrInvalid) {
		t.Errorf("%s: a column ≥ K: %v", s.Name, err)
	}
	if _, err := packSpMVDelta(s, (*formats.CSR)(nil), deltaKB); !errors.Is(err, formats.ErrInvalid) {
		t.Errorf("%s: nil CSR: %v", s.Name, err)
	}
	lp, err := formats.CSRLPFromCSR(w, formats.BF16)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := packSpMVDelta(s, lp, deltaKB); !errors.Is(err, ErrNotApplicable) {
		t.Errorf("%s: a CSRLP for a float32 family: %v", s.Name, err)
	}
	for _, dt := range deltaDTypes[1:] {
		sl := deltaSpecs(t, dt)[0]
		if _, err := packSpMVDelta(sl, w, deltaKB); !errors.Is(err, ErrNotApplicable) {
			t.Errorf("%s: a float32 CSR: %v", sl.Name, err)
		}
		other := formats.F16
		if dt == formats.F16 {
			other = formats.I8
		}
		o, err := formats.CSRLPFromCSR(w, other)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := packSpMVDelta(sl, o, deltaKB); !errors.Is(err, ErrNotApplicable) {
			t.Errorf("%s: %v values: %v", sl.Name, other, err)
		}
		if _, err := packSpMVDelta(sl, (*formats.CSRLP)(nil), deltaKB); !errors.Is(err, ErrNotApplicable) && !errors.Is(err, formats.ErrInvalid) {
			t.Errorf("%s: nil CSRLP: %v", sl.Name, err)
		}
	}
	i8, err := formats.CSRLPFromCSR(w, formats.I8)
	if err != nil {
		t.Fatal(err)
	}
	i8.Scale = i8.Scale[:len(i8.Scale)-1]
	if _, err := packSpMVDelta(deltaSpecs(t, formats.I8)[0], i8, deltaKB); !errors.Is(err, formats.ErrInvalid) {
		t.Errorf("int8 with a scale short: %v", err)
	}
	if _, err := packDelta(w, 4, deltaKB); err == nil {
		t.Error("a layout for 4 lanes packed")
	}
}

// cloneCSR is a deep copy of w.
func cloneCSR(w *formats.CSR) *formats.CSR {
	return &formats.CSR{Rows: w.Rows, Cols: w.Cols, RowPtr: slices.Clone(w.RowPtr), ColIdx: slices.Clone(w.ColIdx), Val: slices.Clone(w.Val)}
}

// dtName names a delta dtype (0: float32).
func dtName(dt formats.DType) string {
	if dt == 0 {
		return "float32"
	}
	return dt.String()
}
