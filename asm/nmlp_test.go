package asm

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/sparsegen/sparsegen/formats"
	"github.com/sparsegen/sparsegen/ref"
)

// nmLPTestPatterns: the specialised patterns, a ChunkAligned one the SpMM tiles run on
// their generic pattern (1:2), and odd ones only the any-pattern tiles take (3:7, 5:16).
var nmLPTestPatterns = [][2]int{{2, 4}, {1, 4}, {2, 8}, {4, 8}, {1, 8}, {1, 2}, {3, 7}, {5, 16}}

// nmLPFamilies lists the low-precision N:M families this CPU runs, failing unless every
// dtype has one (the pure-Go ones always run).
func nmLPFamilies(t *testing.T) []Family {
	t.Helper()
	var all []Family
	for _, f := range Families() {
		if dt, err := formats.ParseDType(f.DType); err == nil && f.Format == NMLPFormat(dt) && !f.Bitmap { // the bitmap twins: nmbitmap_test.go
			all = append(all, f)
		}
	}
	return lpRunnable(t, all, true, func(f Family) (*Desc, formats.DType) {
		dt, _ := formats.ParseDType(f.DType)
		return f.Desc, dt
	})
}

// nmFloatTwin is the float32 N:M family that f runs in low precision: the same ISA, kind,
// pattern, rows and tile (pure Go: nm_packed_generic or nm_gemv_generic).
func nmFloatTwin(t *testing.T, f Family) Family {
	t.Helper()
	for _, g := range Families() {
		if g.Format == "nm" && g.ISA == f.ISA && g.MaxN == f.MaxN && g.Keep == f.Keep && g.Group == f.Group &&
			g.Rows == f.Rows && g.Tile == f.Tile && g.Name != "ref_nm_generic" {
			return g
		}
	}
	t.Fatalf("%s: no float32 twin", f.Name)
	return Family{}
}

// randNMLP is randNM (row 0 empty, stored zeros) converted to dt.
func randNMLP(t *testing.T, r *rand.Rand, dt formats.DType, m, k, keep, group int) *formats.NMLP {
	t.Helper()
	w, err := formats.NMLPFromNM(randNM(r, m, k, keep, group), dt)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// nmLPPair runs kern (low precision) and twin (float32, packed from W widened) on the
// same X and Y and fails unless Y is the same bit for bit (NaN: both NaN).
func nmLPPair(t *testing.T, what string, kern, twin Kernel, r *rand.Rand, n, ldx, ldy int, epi *ref.Epilogue) {
	t.Helper()
	m, k := kern.Shape()
	x := make([]float32, max(0, (k-1)*ldx+n))
	y := make([]float32, max(0, (m-1)*ldy+n))
	randVec(r, x)
	randVec(r, y)
	y2 := slices.Clone(y)
	if err := kern.Run(0, kern.Units(), x, ldx, y, ldy, n, epi); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if err := twin.Run(0, twin.Units(), x, ldx, y2, ldy, n, epi); err != nil {
		t.Fatalf("%s: twin: %v", what, err)
	}
	for i := range y {
		a, b := y[i], y2[i]
		if math.Float32bits(a) != math.Float32bits(b) && !(a != a && b != b) {
			t.Fatalf("%s: Y[%d] = %v, the float32 kernel on the widened W gives %v", what, i, a, b)
		}
	}
}

// TestNMLPShapes: every low-precision N:M family (each dtype, each ISA this CPU runs, pure
// Go) on every test pattern it takes, against ref's float64 oracle on W widened first
// (NMLP.ToNM) with guard pages around X and Y, and bitwise against its float32 twin on the
// widened W: M not a multiple of the unit, K not a multiple of the group (partial last
// group), of the 16-slot chunk and of the K block, N over every tail of the column tile,
// strided X and Y, every epilogue; pure-Go SpMM also bitwise against ref.NM.
func TestNMLPShapes(t *testing.T) {
	cases := 0
	for _, f := range nmLPFamilies(t) {
		dt, _ := formats.ParseDType(f.DType)
		twinF := nmFloatTwin(t, f)
		for _, p := range nmLPTestPatterns {
			keep, group := p[0], p[1]
			r := rand.New(rand.NewPCG(uint64(keep)*31+uint64(dt), uint64(group)))
			if packFamily(t, f, randNMLP(t, r, dt, 2, group, keep, group)) == nil {
				continue
			}
			t.Run(fmt.Sprintf("%s/%d:%d", f.Name, keep, group), func(t *testing.T) {
				for _, m := range []int{1, 3, 7} {
					for _, k := range []int{1, group - 1, group + 1, 5*group + 3, 16*group/keep + 1, 389} {
						if k < 1 {
							continue
						}
						w := randNMLP(t, r, dt, m, k, keep, group)
						wf := w.ToNM()
						kern, twin := packFamily(t, f, w), packFamily(t, twinF, wf)
						if kern == nil || twin == nil {
							t.Fatalf("%s or %s refused %d:%d", f.Name, twinF.Name, keep, group)
						}
						tile := kernelTile(kern)
						ns := []int{1}
						if f.MaxN != 1 {
							ns = []int{1, 2, tile - 1, tile, tile + 1, 2*tile + 3}
						}
						epis := structEpilogues(r, m)
						for i, n := range ns {
							epi := epis[(i+m+k)%len(epis)]
							exact := f.ISA == Generic && f.MaxN != 1
							runStruct(t, kern, r, structCase{w: wf, n: n, ldx: n + r.IntN(3), ldy: n + r.IntN(3), epi: epi, guard: 1 + i%2, u1: -1}, exact)
							nmLPPair(t, fmt.Sprintf("%s M=%d K=%d N=%d", f.Name, m, k, n), kern, twin, r, n, n+1, n+2, epi)
							cases++
						}
					}
				}
			})
		}
	}
	t.Logf("%d cases", cases)
}

// TestNMLPAllN: every N from 1 to two column tiles and past, on a W with several K blocks
// and a ragged last unit, bitwise against the float32 twin.
func TestNMLPAllN(t *testing.T) {
	for _, f := range nmLPFamilies(t) {
		if f.MaxN == 1 {
			continue
		}
		dt, _ := formats.ParseDType(f.DType)
		twinF := nmFloatTwin(t, f)
		for _, p := range [][2]int{{2, 4}, {3, 7}} {
			r := rand.New(rand.NewPCG(uint64(p[0]), uint64(dt)))
			w := randNMLP(t, r, dt, 9, 300+p[1]/2+1, p[0], p[1])
			kern := packFamily(t, f, w)
			if kern == nil {
				continue
			}
			twin := packFamily(t, twinF, w.ToNM())
			for n := 1; n <= 2*kernelTile(kern)+1; n++ {
				nmLPPair(t, fmt.Sprintf("%s %d:%d N=%d", f.Name, p[0], p[1], n), kern, twin, r, n, n+3, n+1, &ref.Epilogue{Accumulate: n%2 == 0})
			}
		}
	}
}

// TestNMLPExtremes: the extreme values of each dtype (bf16's largest and smallest
// magnitudes and ±Inf, fp16's subnormals, largest and ±Inf, int8 ±127 with extreme and
// zero scales) through every family, bitwise against the float32 twin; K = 0 gives
// epi(0); unit ranges split anywhere give the same Y.
func TestNMLPExtremes(t *testing.T) {
	for _, f := range nmLPFamilies(t) {
		dt, _ := formats.ParseDType(f.DType)
		twinF := nmFloatTwin(t, f)
		keep, group := f.Keep, f.Group
		if keep == 0 && f.MaxN == 1 {
			keep, group = 2, 4 // the pure-Go GEMV: any aligned pattern
		} else if keep == 0 {
			keep, group = 3, 7
		}
		r := rand.New(rand.NewPCG(7, uint64(dt)))
		w := randNMLP(t, r, dt, 7, 16*group/keep*2+group/2, keep, group)
		spr := w.SlotsPerRow()
		for i := 0; i < w.Rows; i++ {
			s := i*spr + (i*5)%spr
			switch dt {
			case formats.BF16:
				w.Bits[s] = []uint16{0x7f7f, 0xff7f, 0x0001, 0x8080, 0x3f80, 0x7f80, 0xff80}[i]
			case formats.F16:
				w.Bits[s] = []uint16{0x0001, 0x83ff, 0x7bff, 0xfbff, 0x3c00, 0x7c00, 0xfc00}[i]
			case formats.I8:
				w.I8[s] = []int8{127, -127, 1, -1, 64, 3, -128}[i]
				w.Scale[i] = []float32{3e-3, 1e30, 1e-38, 7, -2, 0, 1}[i]
			}
		}
		kern, twin := packFamily(t, f, w), packFamily(t, twinF, w.ToNM())
		if kern == nil {
			t.Fatalf("%s refused %d:%d", f.Name, keep, group)
		}
		n := 1
		if f.MaxN != 1 {
			n = kernelTile(kern) + 3
		}
		nmLPPair(t, f.Name+" extremes", kern, twin, r, n, n, n, &ref.Epilogue{Bias: make([]float32, 7)})
		x := make([]float32, w.Cols*n)
		randVec(r, x)
		checkUnitSplit(t, f.Name, kern, x, n, 1, nil)

		w0 := &formats.NMLP{Rows: 6, Cols: 0, Keep: keep, Group: group, DType: dt}
		if dt == formats.I8 {
			w0.Scale = make([]float32, 6)
		}
		if k0 := packFamily(t, f, w0); k0 != nil {
			checkK0(t, f.Name, k0)
		}
	}
}

// TestNMLPRefuses: a low-precision family takes only an NMLP of its dtype (and its
// pattern); the float32 families refuse every NMLP; an invalid NMLP is an error, not
// ErrNotApplicable; an N = 1 family refuses N = 2.
func TestNMLPRefuses(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	ws := map[formats.DType]*formats.NMLP{}
	for _, dt := range []formats.DType{formats.BF16, formats.F16, formats.I8} {
		ws[dt] = randNMLP(t, r, dt, 5, 40, 2, 4)
	}
	for _, f := range nmLPFamilies(t) {
		dt, _ := formats.ParseDType(f.DType)
		for odt, w := range ws {
			_, err := f.Pack(w)
			if odt != dt && !errors.Is(err, ErrNotApplicable) {
				t.Fatalf("%s packed a %s NMLP: %v", f.Name, odt, err)
			}
		}
		if _, err := f.Pack(ws[dt].ToNM()); !errors.Is(err, ErrNotApplicable) {
			t.Fatalf("%s packed a float32 NM: %v", f.Name, err)
		}
		bad := *ws[dt]
		bad.Pos = slices.Clone(bad.Pos)
		bad.Pos[1] = bad.Pos[0]
		if _, err := f.Pack(&bad); err == nil || errors.Is(err, ErrNotApplicable) && f.Keep == 2 && f.Group == 4 {
			t.Fatalf("%s packed an invalid NMLP: %v", f.Name, err)
		}
		if f.MaxN == 1 {
			if kern := packFamily(t, f, ws[dt]); kern != nil {
				if err := kern.Run(0, kern.Units(), make([]float32, 80), 2, make([]float32, 10), 2, 2, nil); err == nil {
					t.Fatalf("%s ran N = 2", f.Name)
				}
			}
		}
	}
	for _, f := range structFamilies(t, "nm") {
		if _, err := f.Pack(ws[formats.BF16]); !errors.Is(err, ErrNotApplicable) {
			t.Fatalf("float32 %s packed an NMLP: %v", f.Name, err)
		}
	}
}

// TestNMLPPackedBytes: a low-precision plan reads fewer bytes than the float32 one: the
// values at their dtype's size.
func TestNMLPPackedBytes(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, f := range nmLPFamilies(t) {
		dt, _ := formats.ParseDType(f.DType)
		w := randNMLP(t, r, dt, 16, 256, 2, 4)
		kern := packFamily(t, f, w)
		if kern == nil {
			continue
		}
		twin := packFamily(t, nmFloatTwin(t, f), w.ToNM())
		l, lf := kern.(*nmKernel).l, twin.(*nmKernel).l
		vals := int64(len(lf.Val) + len(lf.ValChunks))
		want := twin.PackedBytes() - vals*int64(4-dt.Bytes()) + int64(len(l.Scale))*4
		if got := kern.PackedBytes(); got != want {
			t.Fatalf("%s: %d packed bytes, want %d (float32: %d)", f.Name, got, want, twin.PackedBytes())
		}
	}
}
