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

// csrLPRunnable lists the low-precision CSR SpMM families this CPU runs, each registered
// with its format and dtype.
func csrLPRunnable(t *testing.T) []*csrSpec {
	t.Helper()
	out := lpRunnable(t, csrLPSpecs, false, func(s *csrSpec) (*Desc, formats.DType) { return &s.Desc, s.dtype })
	for _, s := range out {
		if f, ok := Lookup(s.Name); !ok || f.Format != CSRLPFormat(s.dtype) || f.DType != s.dtype.String() {
			t.Fatalf("%s registered as %+v", s.Name, f)
		}
	}
	return out
}

// csrFloatTwin is the float32 CSR family with s's ISA, tile and row group.
func csrFloatTwin(t *testing.T, s *csrSpec) *csrSpec {
	t.Helper()
	for _, f := range csrSpecs {
		if f.ISA == s.ISA && f.Tile == s.Tile && f.Rows == s.Rows {
			return f
		}
	}
	t.Fatalf("%s: no float32 CSR family with tile %d, rows %d", s.Name, s.Tile, s.Rows)
	return nil
}

// TestCSRLPShapes: each low-precision CSR SpMM family against ref's float64 oracle on W
// widened first (CSRLP.ToCSR), and bitwise against the float32 family of its tile on those
// widened weights (each output is the same FMA chain over the same float32 weights): M = 1,
// K = 1, no entries, empty and full rows, a ragged last row group, K blocked (K block 7 and
// by density), every N up to two tiles and past (every masked width), strided X and Y,
// every epilogue, the packed streams next to guard pages on either side.
func TestCSRLPShapes(t *testing.T) {
	shapes := []spmvShape{
		{1, 1, 1, -1, -1}, {1, 37, 0.3, -1, 0}, {5, 1, 0.5, 2, -1}, {7, 50, 0, -1, -1},
		{9, 70, 0.2, 3, 5}, {4, 600, 0.05, 0, 1}, {11, 45, 0.6, 10, 4},
	}
	for _, s := range csrLPRunnable(t) {
		r := rand.New(rand.NewSource(int64(90 + s.dtype)))
		twin := csrFloatTwin(t, s)
		cases := 0
		for si, sh := range shapes {
			w := randCSRLP(t, r, s.dtype, sh.m, sh.k, sh.d, sh.empty, sh.full)
			wc := w.ToCSR()
			for kcSel, kc := range []int{0, 7} {
				kern, err := packCSRLP(s, w, kc)
				if err != nil {
					t.Fatal(err)
				}
				ref32, err := NewCSRKernel(twin.Name, wc, kc)
				if err != nil {
					t.Fatal(err)
				}
				side := guardSide((si + kcSel) % 2)
				kern.lp = guardCopy(t, kern.lp, side)
				kern.p.Offs = guardCopy(t, kern.p.Offs, side)
				kern.p.Cnt = guardCopy(t, kern.p.Cnt, side)
				if kern.scale != nil {
					kern.scale = guardCopy(t, kern.scale, side)
				}
				for _, n := range csrNs(s.Tile) {
					epis := csrEpilogues(r, sh.m)
					epi := epis[(n+si)%len(epis)]
					ldx, ldy := n+(n%3), n+(n%2)*5
					got, want := csrPair(t, kern, ref32, wc, r, n, ldx, ldy, epi, side)
					for i := range want {
						if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
							t.Fatalf("%s %dx%d kc %d n %d: Y[%d] = %v, the float32 tile on the widened W gives %v", s.Name, sh.m, sh.k, kc, n, i, got[i], want[i])
						}
					}
					cases++
				}
			}
		}
		t.Logf("%s: %d cases", s.Name, cases)
	}
}

// csrPair runs kern and twin on the same fresh X and old Y (kern's operands next to guard
// pages on side), checks kern's Y against the oracle on w and returns both outputs.
func csrPair(t *testing.T, kern, twin Kernel, w *formats.CSR, r *rand.Rand, n, ldx, ldy int, epi *ref.Epilogue, side guardSide) (got, want []float32) {
	t.Helper()
	m, k := w.Shape()
	x, y := csrOperands(t, w, r, n, ldx, ldy, side)
	y0 := append([]float32(nil), y...)
	want = append([]float32(nil), y...)
	if err := kern.Run(0, kern.Units(), x, ldx, y, ldy, n, epi); err != nil {
		t.Fatal(err)
	}
	if err := twin.Run(0, twin.Units(), x, ldx, want, ldy, n, epi); err != nil {
		t.Fatal(err)
	}
	csrCheck(t, fmt.Sprintf("%s m=%d k=%d n=%d ldx=%d ldy=%d epi=%+v", kern.Name(), m, k, n, ldx, ldy, epi), w, x, ldx, y0, y, ldy, n, epi)
	return y, want
}

// TestCSRLPEdges: token-major X gives channel-major's Y bitwise, unit splits give the whole
// product bitwise, a NaN weight reaches Y through ReLU, the widening is exact for extreme
// values, and a family refuses a float32 CSR, another dtype and a bad column index.
func TestCSRLPEdges(t *testing.T) {
	for _, s := range csrLPRunnable(t) {
		r := rand.New(rand.NewSource(91))
		w := randCSRLP(t, r, s.dtype, 30, 41, 0.4, 3, 8)
		kern, err := packCSRLP(s, w, 0)
		if err != nil {
			t.Fatal(err)
		}
		n := s.Tile + 3
		x := make([]float32, 41*n)
		for i := range x {
			x[i] = float32(r.NormFloat64())
		}
		xt := make([]float32, n*41)
		for kk := 0; kk < 41; kk++ {
			for j := 0; j < n; j++ {
				xt[j*41+kk] = x[kk*n+j]
			}
		}
		epi := &ref.Epilogue{Act: ref.ActSiLU}
		whole := checkUnitSplit(t, s.Name, kern, x, n, 2, epi)
		tok := make([]float32, 30*n)
		if err := kern.RunTokens(0, kern.Units(), xt, 41, tok, n, n, epi); err != nil {
			t.Fatal(err)
		}
		for i := range whole {
			if math.Float32bits(whole[i]) != math.Float32bits(tok[i]) {
				t.Fatalf("%s: Y[%d]: channel-major %v, token-major %v", s.Name, i, whole[i], tok[i])
			}
		}
		// Exact widening: row i holds one weight among stored zeros, X = 1 at its column.
		const k = 40
		lp, vals := lpOneHot(t, s.dtype, k, 1)
		ke, err := packCSRLP(s, lp, 0)
		if err != nil {
			t.Fatal(err)
		}
		const ne = 3
		for i := range vals {
			xe := make([]float32, k*ne)
			for j := 0; j < ne; j++ {
				xe[((i*7)%k)*ne+j] = 1
			}
			ye := make([]float32, len(vals)*ne)
			if err := ke.Run(0, ke.Units(), xe, ne, ye, ne, ne, nil); err != nil {
				t.Fatal(err)
			}
			for j := 0; j < ne; j++ {
				if g, e := ye[i*ne+j], vals[i]; g != e || math.Signbit(float64(g)) != math.Signbit(float64(e)) && e != 0 {
					t.Fatalf("%s: weight %d widened to %v, want %v", s.Name, i, g, e)
				}
			}
		}
		if s.dtype != formats.I8 {
			wn := randCSRLP(t, r, s.dtype, 5, 20, 1, -1, -1)
			wn.Bits[3*20+7] = 0x7fc0
			kn, err := packCSRLP(s, wn, 0)
			if err != nil {
				t.Fatal(err)
			}
			checkNaNRow(t, s.Name, kn, x)
		}
		if _, err := packCSRLP(s, randCSR(r, 3, 3, 1, -1, -1), 0); !errors.Is(err, ErrNotApplicable) {
			t.Fatalf("%s packed a float32 CSR: %v", s.Name, err)
		}
		other := formats.I8
		if s.dtype == formats.I8 {
			other = formats.F16
		}
		if _, err := packCSRLP(s, randCSRLP(t, r, other, 3, 3, 1, -1, -1), 0); !errors.Is(err, ErrNotApplicable) {
			t.Fatalf("%s packed a %s matrix: %v", s.Name, other, err)
		}
		wb := randCSRLP(t, r, s.dtype, 4, 9, 1, -1, -1)
		wb.ColIdx[10] = 9
		if _, err := packCSRLP(s, wb, 0); !errors.Is(err, formats.ErrInvalid) {
			t.Fatalf("%s packed column 9 of 9: %v", s.Name, err)
		}
	}
}

// BenchmarkCSRLP times the low-precision CSR tiles beside the float32 ones of the same
// tile width (32, the one dispatch runs at N = 16) on 11008×4096 at 90% sparsity, N = 16;
// SetBytes is the packed W's bytes and B/nnz its bytes per stored weight.
//
//	flock /tmp/sparsegen-cpu.lock go test ./asm -run '^$' -bench CSRLP -count 6 | benchstat -
func BenchmarkCSRLP(b *testing.B) {
	benchCSRFamilies(b, 92, 16, func(f Family) bool { return f.Tile == 32 })
}
