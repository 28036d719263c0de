package asm

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/sparsegen/sparsegen/formats"
)

var lpDTypes = []formats.DType{formats.BF16, formats.F16, formats.I8}

// bsrLPFamilies lists the low-precision BSR families this CPU runs with their dtype; each
// dtype must have at least its pure-Go family.
func bsrLPFamilies(t *testing.T) (fams []Family, dts []formats.DType) {
	t.Helper()
	have := map[formats.DType]bool{}
	for _, dt := range lpDTypes {
		for _, f := range Families() {
			if f.Format != BSRLPFormat(dt) || f.ExactN { // the GEMV: bsrgemv_test.go
				continue
			}
			if f.DType != dt.String() {
				t.Fatalf("%s: format %s, dtype %s", f.Name, f.Format, f.DType)
			}
			if lack := f.Features &^ hostFeatures(); lack != 0 {
				t.Logf("%s: CPU lacks %v, not run", f.Name, lack)
				continue
			}
			fams, dts = append(fams, f), append(dts, dt)
			have[dt] = true
		}
	}
	for _, dt := range lpDTypes {
		if !have[dt] {
			t.Fatalf("no %s BSR family runs here", dt)
		}
	}
	return fams, dts
}

// bsrLPTwin is the float32 BSR family of f's ISA, block shape and tile: f's name without
// its dtype.
func bsrLPTwin(t *testing.T, f Family, dt formats.DType) Family {
	t.Helper()
	name := strings.Replace(f.Name, "_"+dt.String(), "", 1)
	tw, ok := Lookup(name)
	if !ok || tw.Format != "bsr" || tw.ISA != f.ISA || tw.Tile != f.Tile || tw.BlockR != f.BlockR || tw.BlockC != f.BlockC {
		t.Fatalf("%s: no float32 twin %s (%+v)", f.Name, name, tw)
	}
	return tw
}

// randBSRLP is randBSR converted to dt (values spread over a few decades).
func randBSRLP(t *testing.T, r *rand.Rand, m, k, br, bc int, dens float64, dt formats.DType) *formats.BSRLP {
	t.Helper()
	b := randBSR(r, m, k, br, bc, dens)
	for i := range b.Val {
		b.Val[i] *= float32(math.Pow(4, float64(r.IntN(5)-2)))
	}
	lp, err := formats.BSRLPFromBSR(b, dt)
	if err != nil {
		t.Fatal(err)
	}
	return lp
}

// forBSRLP runs fn for every low-precision BSR family this CPU has and every test block it
// takes, with the float32 twin family.
func forBSRLP(t *testing.T, fn func(t *testing.T, f, twin Family, dt formats.DType, br, bc int, r *rand.Rand)) {
	fams, dts := bsrLPFamilies(t)
	for i, f := range fams {
		twin := bsrLPTwin(t, f, dts[i])
		ran := 0
		for _, b := range bsrTestBlocks {
			probe := packFamily(t, f, randBSRLP(t, rand.New(rand.NewPCG(0, 0)), b[0], b[1], b[0], b[1], 1, dts[i]))
			if probe == nil {
				continue
			}
			ran++
			t.Run(fmt.Sprintf("%s/%dx%d", f.Name, b[0], b[1]), func(t *testing.T) {
				fn(t, f, twin, dts[i], b[0], b[1], rand.New(rand.NewPCG(uint64(b[0]), uint64(b[1])+uint64(dts[i])<<8)))
			})
		}
		if ran == 0 {
			t.Errorf("%s took none of the test blocks", f.Name)
		}
	}
}

// bsrLPCase runs kern (an LP family's, packed from lp) against ref on W widened first
// (BSRLP.ToBSR: bitwise for the pure-Go family, within DESIGN §6's bound of the float64
// oracle otherwise, runStruct) and, bitwise, against tw (the float32 twin packed from the
// widened W) on the same X and Y: each output is the same chain over the same weights.
func bsrLPCase(t *testing.T, kern, tw Kernel, wide *formats.BSR, r *rand.Rand, c structCase, exact bool) {
	t.Helper()
	seed := r.Uint64()
	c.w = wide
	runStruct(t, kern, rand.New(rand.NewPCG(seed, 1)), c, exact)
	// The same case again on both kernels, bitwise.
	m, k := wide.Shape()
	x := make([]float32, max(0, (k-1)*c.ldx+c.n))
	y := make([]float32, max(0, (m-1)*c.ldy+c.n))
	rr := rand.New(rand.NewPCG(seed, 2))
	randVec(rr, x)
	randVec(rr, y)
	y2 := append([]float32(nil), y...)
	u1 := c.u1
	if u1 < 0 {
		u1 = kern.Units()
	}
	if err := kern.Run(c.u0, u1, x, c.ldx, y, c.ldy, c.n, c.epi); err != nil {
		t.Fatal(err)
	}
	if err := tw.Run(c.u0, u1, x, c.ldx, y2, c.ldy, c.n, c.epi); err != nil {
		t.Fatal(err)
	}
	for i := range y {
		if math.Float32bits(y[i]) != math.Float32bits(y2[i]) {
			t.Fatalf("%s M=%d K=%d N=%d: Y[%d] = %v, the float32 %s on the widened W gives %v", kern.Name(), m, k, c.n, i, y[i], tw.Name(), y2[i])
		}
	}
}

// bsrLPPair packs lp for f and its widened copy for the twin.
func bsrLPPair(t *testing.T, f, twin Family, lp *formats.BSRLP) (kern, tw Kernel, wide *formats.BSR) {
	t.Helper()
	wide = lp.ToBSR()
	kern = packFamily(t, f, lp)
	tw = packFamily(t, twin, wide)
	if kern == nil || tw == nil {
		t.Fatalf("%s or %s refused a %d×%d BSR", f.Name, twin.Name, lp.R, lp.C)
	}
	return kern, tw, wide
}

// TestBSRLPShapes: M a multiple of R and not, K a multiple of C and not, empty and full
// block rows, N around every count of vectors left in a tile, strided X and Y.
func TestBSRLPShapes(t *testing.T) {
	forBSRLP(t, func(t *testing.T, f, twin Family, dt formats.DType, br, bc int, r *rand.Rand) {
		for _, m := range []int{1, br - 1, br, br + 1, 3*br + 2} {
			for _, k := range []int{1, bc - 1, bc + 1, 3*bc + 2, 37} {
				if m < 1 || k < 1 {
					continue
				}
				for _, dens := range []float64{0, 0.5, 1} {
					kern, tw, wide := bsrLPPair(t, f, twin, randBSRLP(t, r, m, k, br, bc, dens, dt))
					tile := kernelTile(kern)
					for _, n := range []int{1, 3, tile/4 + 1, tile/2 + 1, 3*tile/4 + 1, tile - 1, tile, tile + 1, 2*tile + 1} {
						if n < 1 {
							continue
						}
						bsrLPCase(t, kern, tw, wide, r, structCase{w: wide, n: n, ldx: n + r.IntN(3), ldy: n + r.IntN(3), u1: -1}, f.ISA == Generic)
					}
				}
			}
		}
	})
}

// TestBSRLPAllN runs N = 1…max(33, 2·tile+1) with ldx, ldy > N, a ragged last block row and
// column, every epilogue in turn.
func TestBSRLPAllN(t *testing.T) {
	forBSRLP(t, func(t *testing.T, f, twin Family, dt formats.DType, br, bc int, r *rand.Rand) {
		m, k := 3*br+1, 5*bc+bc/2+1
		kern, tw, wide := bsrLPPair(t, f, twin, randBSRLP(t, r, m, k, br, bc, 0.6, dt))
		epis := structEpilogues(r, m)
		for n := 1; n <= max(33, 2*kernelTile(kern)+1); n++ {
			bsrLPCase(t, kern, tw, wide, r, structCase{n: n, ldx: n + 5, ldy: n + 2, epi: epis[n%len(epis)], u1: -1}, f.ISA == Generic)
		}
	})
}

// TestBSRLPGuard places X, Y and the packed weights against an unmapped page, after and
// then before, and runs unit sub-ranges (rows outside them untouched).
func TestBSRLPGuard(t *testing.T) {
	forBSRLP(t, func(t *testing.T, f, twin Family, dt formats.DType, br, bc int, r *rand.Rand) {
		m, k := 4*br+1, 3*bc+1
		lp := randBSRLP(t, r, m, k, br, bc, 0.8, dt)
		kern, tw, wide := bsrLPPair(t, f, twin, lp)
		tile := kernelTile(kern)
		for _, side := range []guardSide{guardAfter, guardBefore} {
			l := kern.(*bsrKernel).l
			l.LP = guardCopy(t, l.LP, side)
			l.KIdx = guardCopy(t, l.KIdx, side)
			for _, n := range []int{1, 2, tile - 1, tile + 1, 2*tile + 1} {
				if n < 1 {
					continue
				}
				bsrLPCase(t, kern, tw, wide, r, structCase{n: n, ldx: n, ldy: n, guard: 1 + int(side), u1: -1}, f.ISA == Generic)
			}
		}
		u := kern.Units()
		for _, rg := range [][2]int{{0, 1}, {1, u}, {u - 1, u}, {2, 2}} {
			bsrLPCase(t, kern, tw, wide, r, structCase{n: 7, ldx: 9, ldy: 7, u0: rg[0], u1: rg[1]}, f.ISA == Generic)
		}
		if err := kern.Run(0, u+1, make([]float32, k*7), 7, make([]float32, m*7), 7, 7, nil); err == nil {
			t.Fatal("unit range past Units accepted")
		}
	})
}

// TestBSRLPEdges: the widening is exact for extreme values (one weight per row among
// stored zeros, X = 1 at its column: bf16's and fp16's largest, smallest, subnormal and
// infinite values; int8 ±127 with extreme, negative and zero scales), a NaN weight reaches
// its row and only its row, and a family refuses a float32 BSR, another dtype, another
// block shape and an invalid BSRLP.
func TestBSRLPEdges(t *testing.T) {
	forBSRLP(t, func(t *testing.T, f, twin Family, dt formats.DType, br, bc int, r *rand.Rand) {
		const k = 40
		var extremes []float32
		switch dt {
		case formats.BF16:
			for _, b := range []uint16{0x7f7f, 0xff7f, 0x0001, 0x8080, 0x3f80, 0x7f80, 0xff80} {
				extremes = append(extremes, formats.BF16ToFloat32(b))
			}
		case formats.F16:
			for _, b := range []uint16{0x0001, 0x83ff, 0x7bff, 0xfbff, 0x3c00, 0x7c00, 0xfc00} {
				extremes = append(extremes, formats.F16ToFloat32(b))
			}
		case formats.I8:
			extremes = []float32{1, -1, 1, -1, 1, -1, 1}
		}
		rows := len(extremes)
		d := &formats.Dense{Rows: rows, Cols: k, Stride: k, Data: make([]float32, rows*k)}
		for i, v := range extremes {
			d.Data[i*k+(i*7)%k] = v
		}
		b, err := formats.BSRFromDense(d, br, bc)
		if err != nil {
			t.Fatal(err)
		}
		lp, err := formats.BSRLPFromBSR(b, dt)
		if err != nil {
			t.Fatal(err)
		}
		if dt == formats.I8 {
			copy(lp.Scale, []float32{3e-3, 1e30, 1e-38, 7, -2, 0, 1.5e-45})
		}
		want := lp.ToDense()
		kern := packFamily(t, f, lp)
		const ne = 3
		for i := 0; i < rows; i++ {
			c := (i * 7) % k
			x := make([]float32, k*ne)
			for j := 0; j < ne; j++ {
				x[c*ne+j] = 1
			}
			y := make([]float32, rows*ne)
			if err := kern.Run(0, kern.Units(), x, ne, y, ne, ne, nil); err != nil {
				t.Fatal(err)
			}
			e := want.Data[i*k+c]
			for j := 0; j < ne; j++ {
				if g := y[i*ne+j]; g != e || (e != 0 && math.Signbit(float64(g)) != math.Signbit(float64(e))) {
					t.Fatalf("%s: row %d weight widened to %v, want %v", f.Name, i, g, e)
				}
			}
		}
		// A NaN weight at (3, 7) of a 5×20 W reaches row 3 only.
		if dt != formats.I8 {
			dn := &formats.Dense{Rows: 5, Cols: 20, Stride: 20, Data: make([]float32, 100)}
			for i := range dn.Data {
				dn.Data[i] = 1 + float32(r.Float64())
			}
			bn, err := formats.BSRFromDense(dn, br, bc)
			if err != nil {
				t.Fatal(err)
			}
			wn, err := formats.BSRLPFromBSR(bn, dt)
			if err != nil {
				t.Fatal(err)
			}
			nan := uint16(0x7fc0)
			if dt == formats.F16 {
				nan = 0x7e00
			}
			pat := wn.Pattern()
			bi, bj := 3/br, 7/bc
			found := false
			for p := pat.BlockRowPtr[bi]; p < pat.BlockRowPtr[bi+1]; p++ {
				if int(pat.BlockCol[p]) == bj {
					_, w := pat.BlockDims(bi, bj)
					wn.Bits[pat.BlockOffset(int(p))+int64((3%br)*w+7%bc)] = nan
					found = true
				}
			}
			if !found {
				t.Fatal("block of (3, 7) not stored")
			}
			x := make([]float32, 20)
			randVec(r, x)
			checkNaNRow(t, f.Name, packFamily(t, f, wn), x)
		}
		// Refusals.
		if _, err := f.Pack(randBSR(r, 5, 9, br, bc, 1)); !errors.Is(err, ErrNotApplicable) {
			t.Fatalf("%s packed a float32 BSR: %v", f.Name, err)
		}
		other := formats.I8
		if dt == formats.I8 {
			other = formats.BF16
		}
		if _, err := f.Pack(randBSRLP(t, r, 5, 9, br, bc, 1, other)); !errors.Is(err, ErrNotApplicable) || !strings.Contains(err.Error(), other.String()) {
			t.Fatalf("%s packed a %s BSR: %v", f.Name, other, err)
		}
		if f.BlockR != 0 {
			if _, err := f.Pack(randBSRLP(t, r, 5, 9, br+1, bc, 1, dt)); !errors.Is(err, ErrNotApplicable) {
				t.Fatalf("%s packed %d×%d blocks: %v", f.Name, br+1, bc, err)
			}
		}
		bad := randBSRLP(t, r, 5, 9, br, bc, 1, dt)
		bad.BlockCol[0] = int32((9 + bc - 1) / bc)
		if _, err := f.Pack(bad); !errors.Is(err, formats.ErrInvalid) {
			t.Fatalf("%s packed a block column past K: %v", f.Name, err)
		}
	})
}

// TestBSRLPPackedBytes: the packed weights take the dtype's bytes per slot (and int8 its
// H scales per unit), fewer than the float32 layout's.
func TestBSRLPPackedBytes(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, dt := range lpDTypes {
		lp := randBSRLP(t, r, 37, 50, 4, 4, 0.5, dt)
		l, err := PackBSRLP(lp, 4, true)
		if err != nil {
			t.Fatal(err)
		}
		l32, err := PackBSR(lp.ToBSR(), 4, true)
		if err != nil {
			t.Fatal(err)
		}
		want := int64(len(l32.Val) * dt.Bytes())
		if dt == formats.I8 {
			want += int64(4 * 4 * l.Units)
		}
		if int64(len(l.LP)) != want || l.Val != nil || l.Bytes() >= l32.Bytes() {
			t.Fatalf("%s: %d LP bytes, want %d; Val %d; %d bytes vs float32 %d", dt, len(l.LP), want, len(l.Val), l.Bytes(), l32.Bytes())
		}
	}
}

// BenchmarkBSRLP times the 4×4 BSR kernels of every dtype on this CPU's widest ISA on one
// 11008×4096 W with 10% of its 4×4 blocks kept (standard normal values), N = 1 and 16, one
// thread; SetBytes is the packed W's bytes. Compare the dtypes with
//
//	flock /tmp/sparsegen-cpu.lock go test ./asm -run '^$' -bench BSRLP -count 8 > b.txt
//	benchstat -col /dtype b.txt
func BenchmarkBSRLP(b *testing.B) {
	r := rand.New(rand.NewPCG(93, 94))
	const m, k, br, bc = 11008, 4096, 4, 4
	w := &formats.BSR{Rows: m, Cols: k, R: br, C: bc, BlockRowPtr: make([]int64, m/br+1)}
	for i := 0; i < m/br; i++ {
		for j := 0; j < k/bc; j++ {
			if r.Float64() < 0.1 {
				w.BlockCol = append(w.BlockCol, int32(j))
				for range br * bc {
					w.Val = append(w.Val, float32(r.NormFloat64()))
				}
			}
		}
		w.BlockRowPtr[i+1] = int64(len(w.BlockCol))
	}
	if err := w.Validate(); err != nil {
		b.Fatal(err)
	}
	var best ISA
	for _, f := range Families() {
		if f.BlockR == br && f.BlockC == bc && f.Features&^hostFeatures() == 0 && f.ISA > best {
			best = f.ISA
		}
	}
	for _, n := range []int{1, 16} {
		x := make([]float32, k*n)
		for i := range x {
			x[i] = float32(r.NormFloat64())
		}
		y := make([]float32, m*n)
		for _, dt := range []string{"f32", "bf16", "f16", "i8"} {
			var mat formats.Matrix = w
			format := "bsr"
			if dt != "f32" {
				t, _ := formats.ParseDType(dt)
				lp, err := formats.BSRLPFromBSR(w, t)
				if err != nil {
					b.Fatal(err)
				}
				mat, format = lp, BSRLPFormat(t)
			}
			for _, f := range Families() {
				if f.Format != format || f.BlockR != br || f.BlockC != bc || f.ISA != best {
					continue
				}
				kern, err := f.Pack(mat)
				if err != nil {
					b.Fatal(err)
				}
				bytes := kern.PackedBytes()
				b.Run(fmt.Sprintf("n=%d/kernel=%s/dtype=%s", n, strings.Replace(f.Name, "_"+dt, "", 1), dt), func(b *testing.B) {
					b.SetBytes(bytes)
					for range b.N {
						if err := kern.Run(0, kern.Units(), x, n, y, n, n, nil); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}
