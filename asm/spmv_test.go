package asm

import (
	"fmt"
	"math"
	"math/rand"
	"slices"
	"testing"

	"github.com/sparsegen/sparsegen/formats"
	"github.com/sparsegen/sparsegen/ref"
)

func spmvRunnable(t *testing.T) []*spmvSpec {
	var out []*spmvSpec
	for _, s := range spmvSpecs {
		if s.Features&^hostFeatures() != 0 {
			t.Logf("%s: CPU lacks %v, skipped", s.Name, s.Features&^hostFeatures())
			continue
		}
		out = append(out, s)
	}
	return out
}

func packSpMVGuarded(t *testing.T, s *spmvSpec, w *formats.CSR, side guardSide) Kernel {
	k, err := packSpMV(s, w)
	if err != nil {
		t.Fatal(err)
	}
	return guardSpMV(t, k, side)
}

// guardSpMV moves k's packed streams (values, low-precision values and scales, indices,
// counts) next to a guard page on side.
func guardSpMV(t *testing.T, k *spmvKernel, side guardSide) *spmvKernel {
	t.Helper()
	for i, b := range k.blocks {
		k.blocks[i] = guardSpMV(t, b, side)
	}
	if k.blocks != nil {
		k.cnt = guardCopy(t, k.cnt, side)
		return k
	}
	if k.vals != nil {
		k.vals = guardCopy(t, k.vals, side)
	}
	if k.lp != nil {
		k.lp = guardCopy(t, k.lp, side)
	}
	if k.scale != nil {
		k.scale = guardCopy(t, k.scale, side)
	}
	k.cnt = guardCopy(t, k.cnt, side)
	if k.idx16 != nil {
		k.idx16 = guardCopy(t, k.idx16, side)
	} else {
		k.idx32 = guardCopy(t, k.idx32, side)
	}
	return k
}

// spmvShape is a test matrix: M×K at density d, with an empty and a full row (−1: none).
type spmvShape struct {
	m, k        int
	d           float64
	empty, full int
}

// spmvShapes: M = 1, K = 1, no entries, empty and full rows, short and long rows.
var spmvShapes = []spmvShape{
	{1, 1, 1, -1, -1}, {1, 100, 0.4, -1, 0}, {6, 1, 0.5, 1, -1}, {7, 40, 0, -1, -1},
	{19, 80, 0.3, 2, 11}, {5, 300, 0.1, 0, 3}, {33, 17, 0.9, 4, 5},
}

func TestSpMVShapes(t *testing.T) {
	r := rand.New(rand.NewSource(11))
	for _, s := range spmvRunnable(t) {
		for si, sh := range spmvShapes {
			w := randCSR(r, sh.m, sh.k, sh.d, sh.empty, sh.full)
			for _, side := range []guardSide{guardAfter, guardBefore} {
				spmvSweep(t, packSpMVGuarded(t, s, w, side), w, r, side)
				_ = si
			}
		}
	}
}

func TestSpMVNaNAndApplicability(t *testing.T) {
	r := rand.New(rand.NewSource(12))
	w := randCSR(r, 3, 40, 0.5, -1, 1)
	for _, s := range spmvRunnable(t) {
		kern, err := packSpMV(s, w)
		if err != nil {
			t.Fatal(err)
		}
		x := make([]float32, 40)
		x[7] = float32(math.Inf(1))
		y := make([]float32, 3)
		for _, epi := range []*ref.Epilogue{{Act: ref.ActReLU}, {Act: ref.ActClamp, Lo: -1, Hi: 1}} {
			w.Val[w.RowPtr[1]+7] = 0 // row 1 is full: 0·Inf = NaN must reach Y[1]
			kern, _ = packSpMV(s, w)
			if err := kern.Run(0, 3, x, 1, y, 1, 1, epi); err != nil {
				t.Fatal(err)
			}
			if !math.IsNaN(float64(y[1])) {
				t.Errorf("%s %v: NaN did not propagate, got %v", s.Name, epi.Act, y[1])
			}
		}
		big := &formats.CSR{Rows: 1, Cols: 70000, RowPtr: []int64{0, 1}, ColIdx: []int32{69999}, Val: []float32{2}}
		k2, err := packSpMV(s, big)
		if s.IndexBits == 16 && !s.kBlocked(big.Cols) { // blocks index from their first column
			if err == nil {
				t.Errorf("%s accepted K = 70000", s.Name)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		xb := make([]float32, 70000)
		xb[69999] = 3
		yb := make([]float32, 1)
		if err := k2.Run(0, 1, xb, 1, yb, 1, 1, nil); err != nil || yb[0] != 6 {
			t.Errorf("%s: K = 70000 gave %v, %v; want 6", s.Name, yb[0], err)
		}
		_ = kern
	}
}

// TestSpMVEveryRowLength runs rows of every length 0..3·Lanes+1 in one matrix (row r has
// r entries, spread over K = 64), so each kernel's full-chunk loop and every length of its
// last chunk run, rows before and after each, with the streams against a guard page.
func TestSpMVEveryRowLength(t *testing.T) {
	r := rand.New(rand.NewSource(14))
	for _, s := range spmvRunnable(t) {
		rows := 3*s.Lanes + 2
		w := &formats.CSR{Rows: rows, Cols: 64, RowPtr: make([]int64, rows+1)}
		for i := 0; i < rows; i++ {
			for _, c := range r.Perm(64)[:i] {
				w.ColIdx = append(w.ColIdx, int32(c))
			}
			slices.Sort(w.ColIdx[w.RowPtr[i]:])
			w.RowPtr[i+1] = int64(len(w.ColIdx))
		}
		for range w.ColIdx {
			w.Val = append(w.Val, r.Float32()*2-1)
		}
		for _, side := range []guardSide{guardAfter, guardBefore} {
			csrCase(t, packSpMVGuarded(t, s, w, side), w, r, 1, 1, 1, nil, side)
		}
	}
}

// TestSpMVColumnBlocks runs W wider than one block of columns (two whole blocks and a
// ragged one) with more rows than a run of spmvBlockRows, every epilogue, N = 1 and a
// strided N = 2, each block's streams against a guard page.
func TestSpMVColumnBlocks(t *testing.T) {
	r := rand.New(rand.NewSource(15))
	m, k := spmvBlockRows+45, 2*spmvKBlock+37
	w := randCSR(r, m, k, 0.02, 3, 7)
	ran := 0
	for _, s := range spmvRunnable(t) {
		if !s.kBlocked(k) {
			continue
		}
		ran++
		for _, side := range []guardSide{guardAfter, guardBefore} {
			kern := packSpMVGuarded(t, s, w, side)
			if got := len(kern.(*spmvKernel).blocks); got != 3 {
				t.Fatalf("%s: %d column blocks, want 3", s.Name, got)
			}
			for _, epi := range csrEpilogues(r, m) {
				csrCase(t, kern, w, r, 1, 1, 1, epi, side)
				csrCase(t, kern, w, r, 2, 3, 2, epi, side)
			}
		}
	}
	if ran == 0 {
		t.Skip("no column-blocked SpMV family in this build (x86 assembly only)")
	}
}

func TestSpMVLongRows(t *testing.T) {
	// Rows longer than a chunk call, and every length mod 2·Lanes.
	r := rand.New(rand.NewSource(13))
	for _, s := range spmvRunnable(t) {
		for _, k := range []int{31, 32, 33, 47, 48, 49, 64, 65} {
			w := randCSR(r, 4, k, 1, -1, -1)
			kern, _ := packSpMV(s, w)
			csrCase(t, kern, w, r, 1, 1, 1, nil, guardAfter)
		}
		_ = fmt.Sprint
	}
}
