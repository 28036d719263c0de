package main

import (
	"math"
	"strings"
	"testing"

	"github.com/sparsegen/sparsegen/formats"
)

// TestReadDenseLP: bf16, f16 and int8 weights with a padded stride are copied compactly,
// keep their dtype, and a plan of them matches the float32 product of the widened weights;
// wrong scales and dtypes are clear statuses.
func TestReadDenseLP(t *testing.T) {
	const m, k, ld = 5, 7, 9
	ref := make([]float32, m*k) // the weights as float32, exactly representable in every dtype
	for i := range ref {
		ref[i] = float32(int(i*37%23)-11) / 8
	}
	x := make([]float32, k*2)
	for i := range x {
		x[i] = float32(i%5) - 2
	}
	want := make([]float32, m*2)
	for i := 0; i < m; i++ {
		for n := 0; n < 2; n++ {
			for j := 0; j < k; j++ {
				want[i*2+n] += ref[i*k+j] * x[j*2+n]
			}
		}
	}
	for _, dt := range []formats.DType{formats.BF16, formats.F16, formats.I8} {
		bits := make([]uint16, m*ld)
		q := make([]int8, m*ld)
		scale := make([]float32, m)
		for i := 0; i < m; i++ {
			scale[i] = 1.0 / 8
			for j := 0; j < k; j++ {
				v := ref[i*k+j]
				switch dt {
				case formats.BF16:
					bits[i*ld+j] = formats.Float32ToBF16(v)
				case formats.F16:
					bits[i*ld+j] = formats.Float32ToF16(v)
				case formats.I8:
					q[i*ld+j] = int8(v * 8)
				}
			}
			bits[i*ld+k], q[i*ld+k] = 0xffff, -1 // padding: never read
		}
		var d *formats.DenseLP
		var note string
		var err error
		if dt == formats.I8 {
			d, note, err = readDenseLP(dt, m, k, ld, nil, q, scale)
		} else {
			d, note, err = readDenseLP(dt, m, k, ld, bits, nil, nil)
		}
		if err != nil {
			t.Fatalf("%s: %v", dt, err)
		}
		if d.DType != dt || d.Stride != k || !strings.Contains(note, "dense "+dt.String()) {
			t.Errorf("%s: got dtype %s stride %d, note %q", dt, d.DType, d.Stride, note)
		}
		h, err := compile(d, defaultOptions(), note)
		if err != nil {
			t.Fatalf("%s: compile: %v", dt, err)
		}
		e, _ := lookup(h)
		y := make([]float32, m*2)
		if err := e.plan.Mul(y, 2, x, 2, 2); err != nil {
			t.Fatal(err)
		}
		for i := range y {
			if math.Abs(float64(y[i]-want[i])) > 1e-5 {
				t.Errorf("%s: y[%d] = %v, want %v", dt, i, y[i], want[i])
			}
		}
		o := defaultOptions()
		o.format = "dense"
		if h2, err := compile(d, o, ""); err != nil {
			t.Errorf("%s: format dense: %v", dt, err)
		} else {
			release(h2)
		}
		o.format = "csr"
		if _, err := compile(d, o, ""); codeOf(t, err) != codeArgument {
			t.Errorf("%s: format csr: %v", dt, err)
		}
		release(h)
	}

	q := make([]int8, 4)
	for _, c := range []struct {
		name  string
		code  status
		msg   string
		t     formats.DType
		bits  []uint16
		q     []int8
		scale []float32
		ld    int
	}{
		{"short scale", codeArgument, "scale_len = 1, want M = 2", formats.I8, nil, q, []float32{1}, 2},
		{"NaN scale", codeMatrix, "scale[1] = NaN", formats.I8, nil, q, []float32{1, float32(math.NaN())}, 2},
		{"Inf scale", codeMatrix, "must be finite", formats.I8, nil, q, []float32{float32(math.Inf(1)), 1}, 2},
		{"scale for bf16", codeArgument, "only SG_DTYPE_I8", formats.BF16, make([]uint16, 4), nil, []float32{1, 1}, 2},
		{"bad dtype", codeArgument, "not an sg_dtype", 7, make([]uint16, 4), nil, nil, 2},
		{"ldw < K", codeArgument, "ldw = 1 < K = 2", formats.F16, make([]uint16, 4), nil, nil, 1},
	} {
		_, _, err := readDenseLP(c.t, 2, 2, c.ld, c.bits, c.q, c.scale)
		if codeOf(t, err) != c.code || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: %v (code %d), want code %d and %q", c.name, err, classify(err), c.code, c.msg)
		}
	}
}

// TestReadEmptyK: M > 0 rows of K = 0 weights (the caller may pass NULL: no value to read)
// make an M×0 plan, in float32 and in every low-precision dtype, not an internal error.
func TestReadEmptyK(t *testing.T) {
	if d, _, err := readDense(3, 0, 1, nil); err != nil || d.Rows != 3 {
		t.Errorf("float32 3×0: %v", err)
	}
	for _, dt := range []formats.DType{formats.BF16, formats.F16, formats.I8} {
		var sc []float32
		if dt == formats.I8 {
			sc = []float32{1, 1, 1}
		}
		d, _, err := readDenseLP(dt, 3, 0, 1, nil, nil, sc)
		if err != nil || d.Rows != 3 {
			t.Fatalf("%s 3×0: %v", dt, err)
		}
		h, err := compile(d, defaultOptions(), "")
		if err != nil {
			t.Fatalf("%s 3×0: compile: %v", dt, err)
		}
		e, _ := lookup(h)
		y := []float32{1, 2, 3, 4, 5, 6}
		if err := e.plan.Mul(y, 2, nil, 2, 2); err != nil || y[0] != 0 || y[5] != 0 {
			t.Errorf("%s 3×0: Mul: %v, y = %v (want zeros)", dt, err, y)
		}
		release(h)
	}
}
