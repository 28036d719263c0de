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

// csrLPRunnable lists the low-precision CSR SpMM families this CPU runs.
func csrLPRunnable(t *testing.T) []*csrSpec {
	t.Helper()
	var out []*csrSpec
	for _, s := range csrLPSpecs {
		if s.Features&^hostFeatures() != 0 {
			t.Logf("%s: CPU lacks %v, skipped", s.Name, s.Features&^hostFeatures())
			continue
		}
		if f, ok := Lookup(s.Name); !ok || f.Format != CSRLPFormat(s.dtype) || f.DType != s.dtype.String() {
			t.Fatalf("%s registered as %+v", s.Name, f)
		}
		out = append(out, s)
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
	type shape struct {
		m, k        int
		d           float64
		empty, full int
	}
	shapes := []shape{
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
	x := guardSlice[float32](t, max(0, (k-1)*ldx+n), side)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	y := guardSlice[float32](t, max(0, (m-1)*ldy+n), side)
	for i := range y {
		y[i] = float32(r.NormFloat64())
	}
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
		whole, parts, tok := make([]float32, 30*n), make([]float32, 30*n), make([]float32, 30*n)
		epi := &ref.Epilogue{Act: ref.ActSiLU}
		if err := kern.Run(0, kern.Units(), x, n, whole, n, n, epi); err != nil {
			t.Fatal(err)
		}
		for u := 0; u < kern.Units(); u += 2 {
			if err := kern.Run(u, min(u+2, kern.Units()), x, n, parts, n, n, epi); err != nil {
				t.Fatal(err)
			}
		}
		if err := kern.RunTokens(0, kern.Units(), xt, 41, tok, n, n, epi); err != nil {
			t.Fatal(err)
		}
		for i := range whole {
			if math.Float32bits(whole[i]) != math.Float32bits(parts[i]) || math.Float32bits(whole[i]) != math.Float32bits(tok[i]) {
				t.Fatalf("%s: Y[%d]: whole %v, unit split %v, token-major %v", s.Name, i, whole[i], parts[i], tok[i])
			}
		}
		// Exact widening: row i holds one weight among stored zeros, X = 1 at its column.
		const k = 40
		lp := &formats.CSRLP{Cols: k, RowPtr: []int64{0}, DType: s.dtype}
		var vals []float32
		add := func(v float32, q int8, b uint16, sc float32) {
			i := lp.Rows
			c := (i * 7) % k
			for j := max(c-1, 0); j <= min(c+1, k-1); j++ {
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
			yn := make([]float32, 5*2)
			if err := kn.Run(0, kn.Units(), x[:40], 2, yn, 2, 2, &ref.Epilogue{Act: ref.ActReLU}); err != nil {
				t.Fatal(err)
			}
			for i, v := range yn {
				if math.IsNaN(float64(v)) != (i/2 == 3) {
					t.Fatalf("%s: NaN row: Y[%d] = %v", s.Name, i, v)
				}
			}
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
		_ = fmt.Sprint
	}
}

// BenchmarkCSRLP times the low-precision CSR tiles beside the float32 ones of the same
// tile width (32, the one dispatch runs at N = 16) on 11008×4096 at 90% sparsity, N = 16;
// SetBytes is the packed W's bytes and B/nnz its bytes per stored weight.
//
//	flock /tmp/sparsegen-cpu.lock go test ./asm -run '^$' -bench CSRLP -count 6 | benchstat -
func BenchmarkCSRLP(b *testing.B) {
	r := rand.New(rand.NewSource(92))
	const m, k, n, density = 11008, 4096, 16, 0.1
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
	x := make([]float32, k*n)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	y := make([]float32, m*n)
	for _, f := range Families() {
		var w formats.Matrix = c
		switch {
		case f.Tile != 32 || f.Features&^hostFeatures() != 0 || f.ISA == Generic:
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
