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
	return lpRunnable(t, spmvLPSpecs, true, func(s *spmvSpec) (*Desc, formats.DType) { return &s.Desc, s.dtype })
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
	return guardSpMV(t, k, side)
}

// TestSpMVLPShapes: each low-precision SpMV family against ref's float64 oracle on W
// widened first (CSRLP.ToCSR): M = 1, K = 1, empty and full rows, no entries at all, every
// row length up to past two main-loop steps (every tail residue of every ISA's vectors),
// the N > 1 column fallback, strided X and Y, every epilogue, packed streams next to guard
// pages on both sides.
func TestSpMVLPShapes(t *testing.T) {
	shapes := append(spmvShapes[:len(spmvShapes):len(spmvShapes)], spmvShape{40, 70, 0.5, 7, 30})
	for _, s := range spmvLPRunnable(t) {
		r := rand.New(rand.NewSource(int64(71 + s.dtype)))
		cases := 0
		for _, sh := range shapes {
			w := randCSRLP(t, r, s.dtype, sh.m, sh.k, sh.d, sh.empty, sh.full)
			wc := w.ToCSR()
			for _, side := range []guardSide{guardAfter, guardBefore} {
				cases += spmvSweep(t, packSpMVLPGuarded(t, s, w, side), wc, r, side)
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
		checkUnitSplit(t, s.Name, kern, x, 2, 3, &ref.Epilogue{Act: ref.ActGELU})
		// K = 0: Y = epi(0).
		w0 := &formats.CSRLP{Rows: 6, RowPtr: make([]int64, 7), DType: s.dtype}
		if s.dtype == formats.I8 {
			w0.Scale = make([]float32, 6)
		}
		k0, err := packSpMVLP(s, w0)
		if err != nil {
			t.Fatal(err)
		}
		checkK0(t, s.Name, k0)
		// M = 0.
		kz, err := packSpMVLP(s, &formats.CSRLP{Cols: 5, RowPtr: []int64{0}, DType: s.dtype, Scale: []float32{}})
		if err != nil {
			t.Fatal(err)
		}
		if kz.Units() != 0 || kz.Run(0, 0, nil, 1, nil, 1, 1, nil) != nil {
			t.Fatalf("%s: M = 0: %d units", s.Name, kz.Units())
		}
		// Exact widening: row i holds one weight among stored zeros, X = 1 at its column.
		const k = 50
		lp, vals := lpOneHot(t, s.dtype, k, 2)
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
			checkNaNRow(t, s.Name, kn, x)
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
		if s.IndexBits == 16 && !s.kBlocked(big.Cols) { // blocks index from their first column
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

// TestSpMVLPColumnBlocks: the column-blocked low-precision families (x86) on W wider than
// one block (two whole blocks and a ragged one), more rows than a run of spmvBlockRows,
// every epilogue, strided and N > 1 columns, each block's streams against a guard page.
func TestSpMVLPColumnBlocks(t *testing.T) {
	m, k := spmvBlockRows+45, 2*spmvKBlock+37
	ran := 0
	for _, s := range spmvLPRunnable(t) {
		if !s.kBlocked(k) {
			continue
		}
		ran++
		r := rand.New(rand.NewSource(int64(91 + s.dtype)))
		w := randCSRLP(t, r, s.dtype, m, k, 0.02, 3, 7)
		for _, side := range []guardSide{guardAfter, guardBefore} {
			kern := packSpMVLPGuarded(t, s, w, side)
			if got := len(kern.blocks); got != 3 {
				t.Fatalf("%s: %d column blocks, want 3", s.Name, got)
			}
			spmvSweep(t, kern, w.ToCSR(), r, side)
		}
	}
	if ran == 0 {
		t.Skip("no column-blocked low-precision SpMV family in this build (x86 assembly only)")
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
	benchCSRFamilies(b, 75, 1, func(f Family) bool { return f.IndexBits == 16 })
}
