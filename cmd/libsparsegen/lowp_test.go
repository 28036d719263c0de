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
		lpBad
		ld int
	}{
		{lpBad{"short scale", codeArgument, "scale_len = 1, want M = 2", formats.I8, nil, q, []float32{1}}, 2},
		{lpBad{"NaN scale", codeMatrix, "scale[1] = NaN", formats.I8, nil, q, []float32{1, float32(math.NaN())}}, 2},
		{lpBad{"Inf scale", codeMatrix, "must be finite", formats.I8, nil, q, []float32{float32(math.Inf(1)), 1}}, 2},
		{lpBad{"scale for bf16", codeArgument, "only SG_DTYPE_I8", formats.BF16, make([]uint16, 4), nil, []float32{1, 1}}, 2},
		{lpBad{"bad dtype", codeArgument, "not an sg_dtype", 7, make([]uint16, 4), nil, nil}, 2},
		{lpBad{"ldw < K", codeArgument, "ldw = 1 < K = 2", formats.F16, make([]uint16, 4), nil, nil}, 1},
	} {
		_, _, err := readDenseLP(c.t, 2, 2, c.ld, c.bits, c.q, c.scale)
		if codeOf(t, err) != c.code || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: %v (code %d), want code %d and %q", c.name, err, classify(err), c.code, c.msg)
		}
	}
}

// lpBad is a low-precision reader call that must fail with code and a message holding msg.
type lpBad struct {
	name  string
	code  status
	msg   string
	t     formats.DType
	bits  []uint16
	q     []int8
	scale []float32
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

// TestReadCSRLP: a CSR in bf16, f16 and int8 (+ row scales) with an unsorted row, a
// duplicate and int64 indices keeps its dtype (no widened copy), is canonicalized like a
// float32 CSR (duplicates summed in the dtype: f16 1 + 2⁻¹¹, a tie, rounds once to even,
// 1; bf16 1 + 1 = 2; int8 100 + 27 = 127 on the row's scale; three f16 duplicates in
// TestReadCSRLPSumOnce), and a plan of it matches the float32 product of the widened
// weights at N = 1 and 3; "csr" and the dtype's own format are accepted, other formats and
// bad scales or a duplicate sum past int8 are clear statuses.
func TestReadCSRLP(t *testing.T) {
	// 3×4: row 0 holds columns 2, 0, 2 (unsorted, a duplicate); row 1 is empty; row 2 column 3.
	indptr, indices := i64(0, 3, 3, 4), i64(2, 0, 2, 3)
	wantDense := func(b, sum, c float32) []float32 { return []float32{b, 0, sum, 0, 0, 0, 0, 0, 0, 0, 0, c} }
	x := []float32{1, -1, 2, 0.5, -3, 4, 0.25, 8} // K×2
	cases := []struct {
		t     formats.DType
		bits  []uint16
		q     []int8
		scale []float32
		want  []float32 // W widened, dense
	}{
		{formats.F16, []uint16{0x3c00, 0x4000, 0x1000, 0xc400}, nil, nil, wantDense(2, 1, -4)}, // 0x1000 = 2⁻¹¹
		{formats.BF16, []uint16{0x3f80, 0x4000, 0x3f80, 0xc080}, nil, nil, wantDense(2, 2, -4)},
		{formats.I8, nil, []int8{100, -3, 27, 5}, []float32{0.5, 2, 0.25}, wantDense(-1.5, 63.5, 1.25)},
	}
	for _, c := range cases {
		m, note, err := readCSRLP(c.t, 3, 4, 4, indptr, indices, c.bits, c.q, c.scale)
		if err != nil {
			t.Fatalf("%s: %v", c.t, err)
		}
		if m.DType != c.t || len(m.ColIdx) != 3 || !strings.Contains(note, "csr "+c.t.String()+" 3×4") ||
			!strings.Contains(note, "kept in "+c.t.String()) || !strings.Contains(note, "1 duplicate entries summed") ||
			!strings.Contains(note, "narrowed to int32") {
			t.Errorf("%s: %+v, note %q", c.t, m, note)
		}
		got := m.ToDense().Data
		for i, v := range c.want {
			if got[i] != v {
				t.Fatalf("%s: W[%d] = %v, want %v (W = %v)", c.t, i, got[i], v, got)
			}
		}
		h, err := compile(m, defaultOptions(), note)
		if err != nil {
			t.Fatalf("%s: compile: %v", c.t, err)
		}
		e, _ := lookup(h)
		for _, n := range []int{1, 2} {
			y := make([]float32, 3*n)
			if err := e.plan.Mul(y, n, x, 2, n); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 3; i++ {
				for col := 0; col < n; col++ {
					var ref float32
					for j := 0; j < 4; j++ {
						ref += c.want[i*4+j] * x[j*2+col]
					}
					if math.Abs(float64(y[i*n+col]-ref)) > 1e-5*(1+math.Abs(float64(ref))) {
						t.Errorf("%s N=%d: y[%d, %d] = %v, want %v", c.t, n, i, col, y[i*n+col], ref)
					}
				}
			}
		}
		if !strings.Contains(e.plan.Describe(), c.t.String()) {
			t.Errorf("%s: the plan's description does not name its dtype:\n%s", c.t, e.plan.Describe())
		}
		release(h)
		for _, f := range []string{"csr", "csr_" + c.t.String()} {
			o := defaultOptions()
			o.format = f
			if h2, err := compile(m, o, ""); err != nil {
				t.Errorf("%s: format %s: %v", c.t, f, err)
			} else {
				release(h2)
			}
		}
		o := defaultOptions()
		o.format = "dense"
		if _, err := compile(m, o, ""); codeOf(t, err) != codeArgument {
			t.Errorf("%s: format dense: %v", c.t, err)
		}
	}

	q4 := []int8{1, 2, 3, 4}
	for _, c := range []struct {
		lpBad
		ix indexArray
	}{
		{lpBad{"short scale", codeArgument, "scale_len = 2, want M = 3", formats.I8, nil, q4, []float32{1, 1}}, indices},
		{lpBad{"NaN scale", codeMatrix, "scale[1] = NaN", formats.I8, nil, q4, []float32{1, float32(math.NaN()), 1}}, indices},
		{lpBad{"scale for f16", codeArgument, "only SG_DTYPE_I8", formats.F16, make([]uint16, 4), nil, []float32{1, 1, 1}}, indices},
		{lpBad{"bad dtype", codeArgument, "not an sg_dtype", 9, make([]uint16, 4), nil, nil}, indices},
		{lpBad{"int8 sum past 127", codeMatrix, "sum to 200, outside int8", formats.I8, nil, []int8{100, 1, 100, 1}, []float32{1, 1, 1}}, indices},
		{lpBad{"column out of range", codeMatrix, "indices[3] = 4 outside [0, K = 4)", formats.BF16, make([]uint16, 4), nil, nil}, i64(2, 0, 2, 4)},
		{lpBad{"negative column", codeMatrix, "indices[1] = -1", formats.I8, nil, q4, []float32{1, 1, 1}}, i64(2, -1, 2, 3)},
	} {
		_, _, err := readCSRLP(c.t, 3, 4, 4, indptr, c.ix, c.bits, c.q, c.scale)
		if codeOf(t, err) != c.code || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: %v (code %d), want code %d and %q", c.name, err, classify(err), c.code, c.msg)
		}
	}
}

// TestReadCSRLPSumOnce: three f16 duplicates 1, 2⁻¹¹, 2⁻¹¹ sum to 1 + 2⁻¹⁰, which f16 holds:
// rounding after each addition would give 1 (1 + 2⁻¹¹ is a tie, to even), so the sum is
// kept in float64 and rounded once, as the npz reader does.
func TestReadCSRLPSumOnce(t *testing.T) {
	m, _, err := readCSRLP(formats.F16, 1, 2, 4, i64(0, 4), i64(1, 0, 1, 1), []uint16{0x3c00, 0x4000, 0x1000, 0x1000}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := []uint16{0x4000, 0x3c01}; m.Bits[0] != want[0] || m.Bits[1] != want[1] {
		t.Errorf("bits %#04x, want %#04x", m.Bits, want)
	}
}

// lpEncode stores float32 values v (exactly representable in every dtype with scale 1/8 for
// int8) as dtype t: bits for bf16/f16, q for int8.
func lpEncode(t formats.DType, v []float32) (bits []uint16, q []int8) {
	for _, f := range v {
		switch t {
		case formats.BF16:
			bits = append(bits, formats.Float32ToBF16(f))
		case formats.F16:
			bits = append(bits, formats.Float32ToF16(f))
		case formats.I8:
			q = append(q, int8(f*8))
		}
	}
	return bits, q
}

// TestReadBSRLP: a 5×7 W of 2×3 blocks given unsorted, with a duplicate block and ragged
// blocks past M and K, reads into the BSRLP whose widened values are those readBSR makes of
// the same blocks in float32, keeps its dtype, and compiles to a plan of that dtype
// (N = 1 and 3 against the float32 product); the errors are clear statuses.
func TestReadBSRLP(t *testing.T) {
	const m, k, r, c = 5, 7, 2, 3
	// Block rows: 0: columns 2 (ragged in K: columns 7, 8 are past K), 0, 0 again (summed);
	// 1: none; 2: column 1 (ragged in M: row 5 is past M).
	ptr, idx := i64(0, 3, 3, 4), i64(2, 0, 0, 1)
	data := []float32{
		1, 0, 0, 0.5, 0, 0, // block (0, 2): columns 7 and 8 past K
		1.5, 2, -1, 0, 3, 0.25,
		0.5, 1, 1, -0.5, -1, 2, // duplicate of (0, 0)
		-4, 2, 1, 0, 0, 0, // block (2, 1): second row past M
	}
	want, _, err := readBSR(m, k, r, c, 4, ptr, idx, data)
	if err != nil {
		t.Fatal(err)
	}
	wd := want.ToDense().Data
	x := make([]float32, k*3)
	for i := range x {
		x[i] = float32(i%5) - 2
	}
	for _, dt := range []formats.DType{formats.BF16, formats.F16, formats.I8} {
		bits, q := lpEncode(dt, data)
		var scale []float32
		if dt == formats.I8 {
			scale = []float32{0.125, 0.125, 0.125, 0.125, 0.125}
		}
		b, note, err := readBSRLP(dt, m, k, r, c, 4, ptr, idx, bits, q, scale)
		if err != nil {
			t.Fatalf("%s: %v", dt, err)
		}
		if b.DType != dt || !strings.Contains(note, "bsr2x3 "+dt.String()+" 5×7") || !strings.Contains(note, "kept in "+dt.String()) ||
			!strings.Contains(note, "1 duplicate blocks summed") || !strings.Contains(note, "sorted") {
			t.Errorf("%s: note %q", dt, note)
		}
		got := b.ToDense().Data
		for i := range wd {
			if got[i] != wd[i] {
				t.Fatalf("%s: W[%d] = %v, want %v\n got %v\nwant %v", dt, i, got[i], wd[i], got, wd)
			}
		}
		h, err := compile(b, defaultOptions(), note)
		if err != nil {
			t.Fatalf("%s: compile: %v", dt, err)
		}
		e, _ := lookup(h)
		for _, n := range []int{1, 3} {
			y := make([]float32, m*n)
			if err := e.plan.Mul(y, n, x, 3, n); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < m; i++ {
				for col := 0; col < n; col++ {
					var ref float64
					for j := 0; j < k; j++ {
						ref += float64(wd[i*k+j]) * float64(x[j*3+col])
					}
					if math.Abs(float64(y[i*n+col])-ref) > 1e-5*(1+math.Abs(ref)) {
						t.Errorf("%s N=%d: y[%d, %d] = %v, want %v", dt, n, i, col, y[i*n+col], ref)
					}
				}
			}
		}
		if !strings.Contains(e.plan.Describe(), dt.String()) {
			t.Errorf("%s: the plan's description does not name its dtype:\n%s", dt, e.plan.Describe())
		}
		release(h)
	}

	q := make([]int8, len(data))
	one := []float32{1, 1, 1, 1, 1}
	pastK := append([]float32(nil), data...)
	pastK[1] = 1
	pastKBits, _ := lpEncode(formats.F16, pastK)
	big := append([]int8(nil), q...)
	big[6], big[12] = 100, 100 // the duplicate pair's first values
	for _, c := range []struct {
		name  string
		code  status
		msg   string
		t     formats.DType
		bits  []uint16
		q     []int8
		scale []float32
	}{
		{"short scale", codeArgument, "scale_len = 2, want M = 5", formats.I8, nil, q, one[:2]},
		{"scale for bf16", codeArgument, "only SG_DTYPE_I8", formats.BF16, make([]uint16, len(data)), nil, one},
		{"value past K", codeMatrix, "lies past M = 5 or K = 7 and must be zero", formats.F16, pastKBits, nil, nil},
		{"int8 sum past 127", codeMatrix, "sum to 200", formats.I8, nil, big, one},
	} {
		_, _, err := readBSRLP(c.t, m, k, r, 3, 4, ptr, idx, c.bits, c.q, c.scale)
		if codeOf(t, err) != c.code || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: %v (code %d), want code %d and %q", c.name, err, classify(err), c.code, c.msg)
		}
	}
}

// TestReadNMLP: 2:4 slots of a 3×6 W (a partial last group of 2 columns) read into the NMLP
// whose widened values are readNM's of the same slots, keep their dtype and compile to a
// plan of it; bad positions, scales and counts are clear statuses.
func TestReadNMLP(t *testing.T) {
	const m, k = 3, 6
	val := []float32{1, -2, 0.5, 4, 0, 3, -1, 0.25, 2, -0.5, 1.5, -3}
	// 4 slots per row: 2 in the full group, 2 in the last group of 2 columns.
	pos := []uint8{0, 3, 0, 1, 1, 2, 0, 1, 0, 3, 0, 1}
	want, _, err := readNM(m, k, 2, 4, val, pos)
	if err != nil {
		t.Fatal(err)
	}
	wd := want.ToDense().Data
	for _, dt := range []formats.DType{formats.BF16, formats.F16, formats.I8} {
		bits, q := lpEncode(dt, val)
		var scale []float32
		if dt == formats.I8 {
			scale = []float32{0.125, 0.125, 0.125}
		}
		w, note, err := readNMLP(dt, m, k, 2, 4, bits, q, scale, pos)
		if err != nil {
			t.Fatalf("%s: %v", dt, err)
		}
		if w.DType != dt || !strings.Contains(note, "nm2:4 "+dt.String()+" 3×6") || !strings.Contains(note, "kept in "+dt.String()) {
			t.Errorf("%s: note %q", dt, note)
		}
		got := w.ToDense().Data
		for i := range wd {
			if got[i] != wd[i] {
				t.Fatalf("%s: W[%d] = %v, want %v", dt, i, got[i], wd[i])
			}
		}
		h, err := compile(w, defaultOptions(), note)
		if err != nil {
			t.Fatalf("%s: compile: %v", dt, err)
		}
		e, _ := lookup(h)
		x := []float32{1, -1, 2, 0.5, -3, 4}
		y := make([]float32, m)
		if err := e.plan.Mul(y, 1, x, 1, 1); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < m; i++ {
			var ref float64
			for j := 0; j < k; j++ {
				ref += float64(wd[i*k+j]) * float64(x[j])
			}
			if math.Abs(float64(y[i])-ref) > 1e-5*(1+math.Abs(ref)) {
				t.Errorf("%s: y[%d] = %v, want %v", dt, i, y[i], ref)
			}
		}
		release(h)
	}
	badPos := append([]uint8(nil), pos...)
	badPos[0], badPos[1] = 3, 0 // not increasing in its group
	for _, c := range []struct {
		name  string
		code  status
		msg   string
		t     formats.DType
		scale []float32
		pos   []uint8
	}{
		{"positions", codeMatrix, "", formats.BF16, nil, badPos},
		{"no scale", codeArgument, "scale_len = 0, want M = 3", formats.I8, []float32{}, pos},
		{"NaN scale", codeMatrix, "scale[0] = NaN", formats.I8, []float32{float32(math.NaN()), 1, 1}, pos},
	} {
		bits, q := lpEncode(c.t, val)
		_, _, err := readNMLP(c.t, m, k, 2, 4, bits, q, c.scale, c.pos)
		if codeOf(t, err) != c.code || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: %v (code %d), want code %d and %q", c.name, err, classify(err), c.code, c.msg)
		}
	}
}
