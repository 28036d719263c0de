package formats

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

// TestCSRLPFromCSR: converting a CSR's values gives exactly what DenseLPFromDense gives on
// the same weights dense (the same rounding; int8 scales over a row's stored values equal
// those over the dense row), the pattern is kept, NNZ counts the nonzero patterns, and an
// int8 conversion of a NaN or ±Inf is an error naming its row and column.
func TestCSRLPFromCSR(t *testing.T) {
	r := rand.New(rand.NewPCG(81, 82))
	d, err := ZeroDense(23, 57)
	if err != nil {
		t.Fatal(err)
	}
	for i := range d.Data {
		if r.Float64() < 0.3 {
			d.Data[i] = float32(r.NormFloat64() * math.Pow(10, float64(r.IntN(9)-4)))
		}
	}
	for i := 0; i < d.Cols; i++ {
		d.Data[4*d.Cols+i] = 0 // an empty row
	}
	c, err := CSRFromDense(d)
	if err != nil {
		t.Fatal(err)
	}
	forEachLP(t, d, func(dt DType, lp *CSRLP, dl *DenseLP) {
		got, want := lp.ToDense(), dl.ToDense()
		for i := range want.Data {
			if math.Float32bits(got.Data[i]) != math.Float32bits(want.Data[i]) {
				t.Fatalf("%v: W[%d] = %v, dense conversion gives %v", dt, i, got.Data[i], want.Data[i])
			}
		}
		if lp.NNZ() != dl.NNZ() || lp.Stored() != c.Stored() {
			t.Fatalf("%v: NNZ %d (dense %d), stored %d of %d", dt, lp.NNZ(), dl.NNZ(), lp.Stored(), c.Stored())
		}
		back := lp.ToCSR()
		for p := range c.ColIdx {
			if back.ColIdx[p] != c.ColIdx[p] {
				t.Fatalf("%v: pattern changed at %d", dt, p)
			}
		}
		if dt == I8 && lp.Scale[4] != 0 {
			t.Fatalf("empty row scale %v", lp.Scale[4])
		}
	})
	c.Val[3] = float32(math.Inf(-1))
	if _, err := CSRLPFromCSR(c, I8); !errors.Is(err, ErrInvalid) {
		t.Fatalf("int8 of -Inf: %v", err)
	}
	if lp, err := CSRLPFromCSR(c, F16); err != nil || F16ToFloat32(lp.Bits[3]) != float32(math.Inf(-1)) {
		t.Fatalf("f16 of -Inf: %v", err)
	}
	if _, err := CSRLPFromCSR(c, DType(9)); err == nil {
		t.Fatal("dtype 9 converted")
	}
}

// TestCSRLPValidate: CSR's rules on the pattern and DenseLP's on the dtype's slices, each
// broken once.
func TestCSRLPValidate(t *testing.T) {
	good := func(dt DType) *CSRLP {
		c := &CSRLP{Rows: 3, Cols: 4, RowPtr: []int64{0, 2, 2, 3}, ColIdx: []int32{0, 3, 1}, DType: dt}
		if dt == I8 {
			c.I8, c.Scale = []int8{1, -2, 3}, []float32{1, 1, 0.5}
		} else {
			c.Bits = []uint16{0x3f80, 0xbf80, 0x4000}
		}
		return c
	}
	for _, dt := range []DType{BF16, F16, I8} {
		if err := good(dt).Validate(); err != nil {
			t.Fatalf("%v: %v", dt, err)
		}
		bad := map[string]func(c *CSRLP){
			"dtype":        func(c *CSRLP) { c.DType = 0 },
			"column >= K":  func(c *CSRLP) { c.ColIdx[1] = 4 },
			"unsorted":     func(c *CSRLP) { c.ColIdx[1] = 0 },
			"row pointers": func(c *CSRLP) { c.RowPtr[2] = 1 },
			"rowptr len":   func(c *CSRLP) { c.RowPtr = c.RowPtr[:3] },
			"values":       func(c *CSRLP) { c.Bits, c.I8 = c.Bits[:len(c.Bits)/2], c.I8[:len(c.I8)/2] },
			"other slice": func(c *CSRLP) {
				if c.DType == I8 {
					c.Bits = []uint16{1}
				} else {
					c.I8 = []int8{1}
				}
			},
			"scales": func(c *CSRLP) {
				if c.DType == I8 {
					c.Scale = c.Scale[:2]
				} else {
					c.Scale = []float32{1, 1, 1}
				}
			},
		}
		for name, breakIt := range bad {
			c := good(dt)
			breakIt(c)
			if err := c.Validate(); !errors.Is(err, ErrInvalid) {
				t.Errorf("%v %s: %v", dt, name, err)
			}
		}
	}
	var nilc *CSRLP
	if err := nilc.Validate(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("nil: %v", err)
	}
}

// forEachLP calls f with d converted to a CSRLP (from its CSR) and to a DenseLP in each
// low-precision dtype.
func forEachLP(t *testing.T, d *Dense, f func(dt DType, lp *CSRLP, dl *DenseLP)) {
	t.Helper()
	c, err := CSRFromDense(d)
	if err != nil {
		t.Fatal(err)
	}
	for _, dt := range []DType{BF16, F16, I8} {
		lp, err := CSRLPFromCSR(c, dt)
		if err != nil {
			t.Fatal(err)
		}
		dl, err := DenseLPFromDense(d, dt)
		if err != nil {
			t.Fatal(err)
		}
		f(dt, lp, dl)
	}
}
