package fileio

import (
	"bytes"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sparsegen/sparsegen/formats"
)

// TestSafetensorsDenseLP: BF16 and F16 tensors load as stored (the bits WriteSafetensors
// rounded to), Dense still widens the same tensor to the same values, and an F32 tensor is
// refused by DenseLP.
func TestSafetensorsDenseLP(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	w, _ := formats.ZeroDense(5, 9)
	for i := range w.Data {
		w.Data[i] = float32(r.NormFloat64() * 10)
	}
	var buf bytes.Buffer
	err := WriteSafetensors(&buf, []Tensor{{Name: "b", DType: "BF16", Data: w}, {Name: "h", DType: "F16", Data: w}, {Name: "f", Data: w}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := OpenSafetensors(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		dt     formats.DType
		narrow func(float32) uint16
	}{{"b", formats.BF16, formats.Float32ToBF16}, {"h", formats.F16, formats.Float32ToF16}} {
		d, info, err := s.DenseLP(c.name)
		if err != nil {
			t.Fatal(err)
		}
		if d.DType != c.dt || d.Rows != 5 || d.Cols != 9 || info.Layout != "dense" {
			t.Fatalf("%s: %+v %+v", c.name, d, info)
		}
		wide, _, err := s.Dense(c.name)
		if err != nil {
			t.Fatal(err)
		}
		back := d.ToDense()
		for i, v := range w.Data {
			if d.Bits[i] != c.narrow(v) {
				t.Fatalf("%s: element %d: bits %#04x, want %#04x", c.name, i, d.Bits[i], c.narrow(v))
			}
			if math.Float32bits(back.Data[i]) != math.Float32bits(wide.Data[i]) {
				t.Fatalf("%s: element %d widens to %v, Dense read %v", c.name, i, back.Data[i], wide.Data[i])
			}
		}
	}
	if _, _, err := s.DenseLP("f"); err == nil {
		t.Fatal("an F32 tensor read as DenseLP")
	}
	if _, _, err := s.DenseLP("nope"); err == nil {
		t.Fatal("a missing tensor read")
	}
}

// TestNPZDenseLPRoundTrip: each dtype (with a stride > cols) writes and reads back with the
// same dtype and bits; an int8 array without its scales is refused.
func TestNPZDenseLPRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	w, _ := formats.ZeroDense(4, 6)
	for i := range w.Data {
		w.Data[i] = float32(r.NormFloat64())
	}
	for _, dt := range []formats.DType{formats.BF16, formats.F16, formats.I8} {
		d, err := formats.DenseLPFromDense(w, dt)
		if err != nil {
			t.Fatal(err)
		}
		for _, compress := range []bool{false, true} {
			var buf bytes.Buffer
			zw := NewNPZWriter(&buf, compress)
			if err := zw.WriteDenseLP("w", d); err != nil {
				t.Fatal(err)
			}
			if err := zw.Close(); err != nil {
				t.Fatal(err)
			}
			z, err := OpenNPZ(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
			if err != nil {
				t.Fatal(err)
			}
			got, _, err := z.DenseLP("w")
			if err != nil {
				t.Fatal(err)
			}
			if got.DType != dt || got.Rows != 4 || got.Cols != 6 {
				t.Fatalf("%v: read %+v", dt, got)
			}
			for i := 0; i < 4*6; i++ {
				switch dt {
				case formats.I8:
					if got.I8[i] != d.I8[i] {
						t.Fatalf("%v: element %d: %d, wrote %d", dt, i, got.I8[i], d.I8[i])
					}
				default:
					if got.Bits[i] != d.Bits[i] {
						t.Fatalf("%v: element %d: %#04x, wrote %#04x", dt, i, got.Bits[i], d.Bits[i])
					}
				}
			}
			for i, s := range d.Scale {
				if math.Float32bits(got.Scale[i]) != math.Float32bits(s) {
					t.Fatalf("scale %d: %v, wrote %v", i, got.Scale[i], s)
				}
			}
		}
	}
	// int8 without scales.
	var buf bytes.Buffer
	zw := NewNPZWriter(&buf, false)
	d, _ := formats.DenseLPFromDense(w, formats.I8)
	raw := make([]byte, 24)
	for i, q := range d.I8 {
		raw[i] = byte(q)
	}
	if err := zw.add("w", dtI1, []int{4, 6}, raw); err != nil {
		t.Fatal(err)
	}
	zw.Close()
	z, err := OpenNPZ(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := z.DenseLP("w"); err == nil {
		t.Fatal("int8 without scales read")
	}
}
