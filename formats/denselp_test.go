package formats

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

// nearest16 rounds v to the nearest of the values widen(b) over all 65536 patterns b (ties
// to the even pattern), the definition Float32ToBF16 and Float32ToF16 must meet; NaN maps
// to NaN. It works on a sorted table of the finite values plus ±Inf.
type table16 struct {
	vals []float64
	bits []uint16
}

func newTable16(widen func(uint16) float32) *table16 {
	t := &table16{}
	for b := 0; b < 1<<16; b++ {
		v := float64(widen(uint16(b)))
		if math.IsNaN(v) || (v == 0 && b&0x8000 != 0) {
			continue
		}
		t.vals = append(t.vals, v)
		t.bits = append(t.bits, uint16(b))
	}
	// Insertion by sort: patterns are monotone within each sign; sort by value.
	idx := make([]int, len(t.vals))
	for i := range idx {
		idx[i] = i
	}
	sortByVal(idx, t.vals)
	vs, bs := make([]float64, len(idx)), make([]uint16, len(idx))
	for i, j := range idx {
		vs[i], bs[i] = t.vals[j], t.bits[j]
	}
	t.vals, t.bits = vs, bs
	return t
}

func sortByVal(idx []int, v []float64) {
	// a simple merge sort (the table is 65k entries)
	if len(idx) < 2 {
		return
	}
	m := len(idx) / 2
	a, b := append([]int(nil), idx[:m]...), append([]int(nil), idx[m:]...)
	sortByVal(a, v)
	sortByVal(b, v)
	i, j := 0, 0
	for k := range idx {
		if j >= len(b) || (i < len(a) && v[a[i]] <= v[b[j]]) {
			idx[k] = a[i]
			i++
		} else {
			idx[k] = b[j]
			j++
		}
	}
}

// round gives the IEEE round-to-nearest-even result of v (finite) in the table's format,
// with overflow to ±Inf where v is at least halfway past the largest finite value.
func (t *table16) round(v float64, maxFinite float64, ulpTop float64) float64 {
	if math.Abs(v) >= maxFinite+ulpTop/2 {
		if math.Abs(v) == maxFinite+ulpTop/2 {
			// halfway: ties to even; the largest finite has an odd significand
			return math.Copysign(math.Inf(1), v)
		}
		return math.Copysign(math.Inf(1), v)
	}
	lo, hi := 0, len(t.vals)-1
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if t.vals[mid] <= v {
			lo = mid
		} else {
			hi = mid
		}
	}
	a, b := t.vals[lo], t.vals[hi]
	switch da, db := v-a, b-v; {
	case da < db:
		return a
	case db < da:
		return b
	case t.bits[lo]&1 == 0:
		return a
	}
	return b
}

func TestLP16Rounding(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, c := range []struct {
		name      string
		widen     func(uint16) float32
		narrow    func(float32) uint16
		maxFinite float64
		ulpTop    float64
	}{
		{"bf16", BF16ToFloat32, Float32ToBF16, float64(math.Float32frombits(0x7f7f0000)), math.Ldexp(1, 127-7)},
		{"f16", F16ToFloat32, Float32ToF16, 65504, 32},
	} {
		tab := newTable16(c.widen)
		// Every pattern round-trips (NaN stays NaN, the sign of zero kept).
		for b := 0; b < 1<<16; b++ {
			v := c.widen(uint16(b))
			got := c.narrow(v)
			if math.IsNaN(float64(v)) {
				if !math.IsNaN(float64(c.widen(got))) {
					t.Fatalf("%s: NaN %#04x narrowed to %#04x", c.name, b, got)
				}
				continue
			}
			if got != uint16(b) {
				t.Fatalf("%s: %#04x → %v → %#04x", c.name, b, v, got)
			}
		}
		// Random float32 over all magnitudes, and exact midpoints.
		for i := 0; i < 300000; i++ {
			var v float32
			if i%3 == 0 {
				b := uint16(r.Uint32())
				w := float64(c.widen(b))
				if math.IsNaN(w) || math.IsInf(w, 0) {
					continue
				}
				nb := b + 1
				w2 := float64(c.widen(nb))
				if math.IsNaN(w2) || math.IsInf(w2, 0) || (b&0x7fff) == 0x7fff {
					continue
				}
				v = float32((w + w2) / 2) // midpoints are exact in float32 for both formats
			} else {
				v = math.Float32frombits(r.Uint32())
			}
			if math.IsNaN(float64(v)) {
				continue
			}
			want := tab.round(float64(v), c.maxFinite, c.ulpTop)
			got := float64(c.widen(c.narrow(v)))
			if got != want || (got == 0 && math.Signbit(got) != math.Signbit(float64(v))) {
				t.Fatalf("%s: %v (%#08x) rounded to %v, want %v", c.name, v, math.Float32bits(v), got, want)
			}
		}
	}
}

func TestDenseLPConvertAndValidate(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	w := &Dense{Rows: 7, Cols: 13, Stride: 15, Data: make([]float32, 7*15)}
	for i := range w.Data {
		w.Data[i] = float32(r.NormFloat64() * 3)
	}
	for j := 0; j < 13; j++ {
		w.Data[2*15+j] = 0 // a zero row
	}
	for _, dt := range []DType{BF16, F16, I8} {
		d, err := DenseLPFromDense(w, dt)
		if err != nil {
			t.Fatal(err)
		}
		if d.Rows != 7 || d.Cols != 13 || d.DType != dt {
			t.Fatalf("%v: %+v", dt, d)
		}
		back := d.ToDense()
		for i := 0; i < 7; i++ {
			amax := 0.0
			for j := 0; j < 13; j++ {
				amax = math.Max(amax, math.Abs(float64(w.At(i, j))))
			}
			for j := 0; j < 13; j++ {
				v, g := float64(w.At(i, j)), float64(back.At(i, j))
				var tol float64
				switch dt {
				case BF16:
					tol = math.Abs(v) / 256
				case F16:
					tol = math.Abs(v) / 2048
				case I8:
					tol = amax / 127 * 0.5000001
				}
				if math.Abs(v-g) > tol {
					t.Fatalf("%v: (%d,%d) %v came back %v", dt, i, j, v, g)
				}
			}
		}
		if dt == I8 {
			if d.Scale[2] != 0 {
				t.Fatalf("zero row scale %v", d.Scale[2])
			}
			for i := 0; i < 7; i++ {
				peak := 0
				for _, q := range d.I8[i*13 : i*13+13] {
					peak = max(peak, int(q), -int(q))
				}
				if i != 2 && peak != 127 {
					t.Fatalf("row %d: max |q| = %d, want 127", i, peak)
				}
			}
		}
		if err := d.Validate(); err != nil {
			t.Fatal(err)
		}
	}
	// int8 cannot hold NaN or Inf: an error, not a silent change.
	w.Data[3*15+4] = float32(math.Inf(-1))
	if _, err := DenseLPFromDense(w, I8); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Inf quantised: %v", err)
	}
	// NaN survives bf16 and f16.
	w.Data[3*15+4] = float32(math.NaN())
	for _, dt := range []DType{BF16, F16} {
		d, err := DenseLPFromDense(w, dt)
		if err != nil || !math.IsNaN(float64(d.ToDense().At(3, 4))) {
			t.Fatalf("%v: NaN lost (%v)", dt, err)
		}
	}
	// Validation.
	bad := []*DenseLP{
		nil,
		{Rows: 2, Cols: 2, Stride: 2, DType: 0, Bits: make([]uint16, 4)},
		{Rows: 2, Cols: 2, Stride: 1, DType: BF16, Bits: make([]uint16, 4)},
		{Rows: 2, Cols: 2, Stride: 2, DType: BF16, Bits: make([]uint16, 3)},
		{Rows: 2, Cols: 2, Stride: 2, DType: F16, Bits: make([]uint16, 4), Scale: []float32{1, 1}},
		{Rows: 2, Cols: 2, Stride: 2, DType: I8, I8: make([]int8, 4), Scale: []float32{1}},
		{Rows: 2, Cols: 2, Stride: 2, DType: I8, I8: make([]int8, 3), Scale: []float32{1, 1}},
		{Rows: 2, Cols: 2, Stride: 2, DType: I8, I8: make([]int8, 4), Scale: []float32{1, 1}, Bits: make([]uint16, 4)},
		{Rows: -1, Cols: 2, Stride: 2, DType: BF16},
	}
	for i, d := range bad {
		if err := d.Validate(); !errors.Is(err, ErrInvalid) {
			t.Fatalf("bad %d validated: %v", i, err)
		}
	}
	if n := (&DenseLP{Rows: 1, Cols: 4, Stride: 4, DType: BF16, Bits: []uint16{0, 0x8000, 1, 0x7fc0}}).NNZ(); n != 2 {
		t.Fatalf("NNZ %d", n)
	}
	for _, s := range []string{"bf16", "f16", "i8"} {
		if dt, err := ParseDType(s); err != nil || dt.String() != s {
			t.Fatalf("%s: %v %v", s, dt, err)
		}
	}
	if _, err := ParseDType("f32"); err == nil {
		t.Fatal("f32 parsed as a low-precision dtype")
	}
}

// TestDenseLPNoColumns: an M×0 DenseLP with empty data (valid) counts no weights and widens
// to an M×0 Dense instead of slicing past its empty data.
func TestDenseLPNoColumns(t *testing.T) {
	for _, d := range []*DenseLP{
		{Rows: 3, Cols: 0, Stride: 1, DType: BF16},
		{Rows: 3, Cols: 0, Stride: 1, DType: I8, Scale: []float32{1, 2, 3}},
	} {
		if err := d.Validate(); err != nil {
			t.Fatalf("%s: %v", d.DType, err)
		}
		if n := d.NNZ(); n != 0 {
			t.Errorf("%s: NNZ = %d", d.DType, n)
		}
		if w := d.ToDense(); w.Rows != 3 || w.Cols != 0 {
			t.Errorf("%s: ToDense is %d×%d", d.DType, w.Rows, w.Cols)
		}
	}
}

// TestFloat64To16: one correct rounding (nearest, ties to even, overflow to ±Inf) from
// float64, checked against table16.round over all patterns, on sums of two 16-bit values
// (the duplicates readers merge: exact in float64, often a tie plus a little) and values
// just off a 16-bit value.
func TestFloat64To16(t *testing.T) {
	r := rand.New(rand.NewPCG(51, 52))
	for _, c := range []struct {
		dt        DType
		widen     func(uint16) float32
		maxFinite float64
		ulpTop    float64
	}{
		{BF16, BF16ToFloat32, float64(math.Float32frombits(0x7f7f0000)), math.Ldexp(1, 127-7)},
		{F16, F16ToFloat32, 65504, 32},
	} {
		tab := newTable16(c.widen)
		finite := func() float64 {
			for {
				if v := float64(c.widen(uint16(r.Uint32()))); !math.IsNaN(v) && !math.IsInf(v, 0) {
					return v
				}
			}
		}
		doubleRounded := 0
		for n := 0; n < 200000; n++ {
			var v float64
			switch n % 4 {
			case 0:
				v = finite() + finite()
			case 3: // a tie plus less than float32 resolves: float32 would round onto the tie
				b := uint16(r.Uint32())
				lo, hi := float64(c.widen(b)), float64(c.widen(b+1)) // b+1: next magnitude
				if math.IsNaN(lo) || math.IsInf(lo, 0) || math.IsNaN(hi) || math.IsInf(hi, 0) || b&0x7fff == 0x7fff {
					continue
				}
				v = (lo+hi)/2 + (hi-lo)*math.Ldexp(1, -18-r.IntN(20))*float64(1-2*r.IntN(2))
			case 1: // same binade: sums near a tie
				a := finite()
				v = a + math.Ldexp(finite(), -r.IntN(30))*math.Copysign(1, a)
			default:
				v = finite() * (1 + (r.Float64()-0.5)*1e-6)
			}
			got := float64(c.widen(Float64To16(c.dt, v)))
			want := tab.round(v, c.maxFinite, c.ulpTop)
			if got != want {
				t.Fatalf("%s: %v rounds to %v, nearest even is %v", c.dt, v, got, want)
			}
			if float64(c.widen(round1(c.dt, float32(v)))) != want {
				doubleRounded++
			}
		}
		if doubleRounded == 0 {
			t.Errorf("%s: rounding through float32 never differed: the test does not reach double rounding", c.dt)
		}
		t.Logf("%s: %d of 200000 values would be double-rounded through float32", c.dt, doubleRounded)
	}
}

func round1(t DType, v float32) uint16 {
	if t == F16 {
		return Float32ToF16(v)
	}
	return Float32ToBF16(v)
}
