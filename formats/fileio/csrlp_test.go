package fileio

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sparsegen/sparsegen/formats"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// lpCSR makes a CSRLP of dtype t from a random rows×cols CSR (empty rows included) whose
// values span several binades, so that f16 rounding and int8 scales differ per row.
func lpCSR(t *testing.T, rng *rand.Rand, rows, cols int, dt formats.DType) *formats.CSRLP {
	t.Helper()
	d := randDense(rng, rows, cols, 0.3)
	for i := range d.Data {
		d.Data[i] *= float32(math.Ldexp(1, rng.IntN(12)-6))
	}
	for j := 0; j < cols; j++ {
		d.Data[cols+j] = 0 // row 1 empty
	}
	c, err := formats.CSRFromDense(d)
	require.NoError(t, err)
	lp, err := formats.CSRLPFromCSR(c, dt)
	require.NoError(t, err)
	return lp
}

func requireSameCSRLP(t *testing.T, want *formats.CSRLP, got formats.Matrix) {
	t.Helper()
	g, ok := got.(*formats.CSRLP)
	require.True(t, ok, "read a %T, want *formats.CSRLP", got)
	require.Equal(t, want.DType, g.DType)
	require.Equal(t, want.Rows, g.Rows)
	require.Equal(t, want.Cols, g.Cols)
	require.Equal(t, want.RowPtr, g.RowPtr)
	require.Equal(t, want.ColIdx, g.ColIdx)
	require.Equal(t, want.Bits, g.Bits)
	require.Equal(t, want.I8, g.I8)
	require.Equal(t, len(want.Scale), len(g.Scale))
	for i, s := range want.Scale {
		require.Equal(t, math.Float32bits(s), math.Float32bits(g.Scale[i]), "scale %d", i)
	}
}

var lpDescr = map[formats.DType]string{formats.BF16: "<u2", formats.F16: "<f2", formats.I8: "|i1"}

// TestNPZCSRLPRoundTrip: each dtype writes (stored and deflated, through WriteCSRLP and
// SaveMatrix) and reads back through NPZ.Matrix and LoadMatrix as the same CSRLP, bit for
// bit, with Info naming the stored dtype; the float32 CSR of the same pattern still reads
// as a CSR.
func TestNPZCSRLPRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	dir := t.TempDir()
	for _, dt := range []formats.DType{formats.BF16, formats.F16, formats.I8} {
		c := lpCSR(t, rng, 7, 13, dt)
		for _, compress := range []bool{false, true} {
			var buf bytes.Buffer
			require.NoError(t, WriteCSRLP(&buf, c, compress))
			z := openNPZBytes(t, buf.Bytes())
			wantNames := []string{"indices", "indptr", "format", "shape", "data"}
			if dt == formats.I8 {
				wantNames = append(wantNames, "data"+LPScaleSuffix)
			}
			assert.Equal(t, wantNames, z.Names())
			m, info, err := z.Matrix("")
			require.NoError(t, err, "%v", dt)
			requireSameCSRLP(t, c, m)
			assert.Equal(t, "csr", info.Layout)
			assert.Equal(t, lpDescr[dt], info.DType)
			assert.Equal(t, "<i4", info.IndexDType)
			assert.Empty(t, info.Notes)
		}
		p := filepath.Join(dir, dt.String()+".npz")
		require.NoError(t, SaveMatrix(p, c))
		m, info, err := LoadMatrix(p, "")
		require.NoError(t, err)
		requireSameCSRLP(t, c, m)
		assert.Equal(t, lpDescr[dt], info.DType)

		f32 := filepath.Join(dir, dt.String()+".f32.npz")
		require.NoError(t, SaveMatrix(f32, c.ToCSR()))
		m, info, err = LoadMatrix(f32, "")
		require.NoError(t, err)
		require.IsType(t, &formats.CSR{}, m)
		assert.Equal(t, "<f4", info.DType)
		requireSameDense(t, c.ToDense(), m.ToDense())
	}
	// An empty matrix (no entries, no rows) round-trips too.
	for _, dt := range []formats.DType{formats.BF16, formats.I8} {
		e := &formats.CSRLP{Rows: 0, Cols: 5, RowPtr: []int64{0}, DType: dt}
		var buf bytes.Buffer
		require.NoError(t, WriteCSRLP(&buf, e, false))
		m, _, err := openNPZBytes(t, buf.Bytes()).Matrix("")
		require.NoError(t, err)
		g := m.(*formats.CSRLP)
		assert.Equal(t, dt, g.DType)
		assert.Equal(t, 0, g.Rows)
	}
}

func u16s(v ...uint16) []byte {
	b := make([]byte, 2*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint16(b[2*i:], x)
	}
	return b
}

func f32s(v ...float32) []byte { return encodeFloats(dtF32, v) }

// lpCSRArrays is a 2×3 CSR with entries (0,0), (0,2), (1,1), data in dtype dt (raw bytes),
// plus scales when scale is not nil.
func lpCSRArrays(dt dtype, data []byte, scale []byte) []rawArr {
	a := csrArrays([]byte("csr"), dtype{kind: 'S', size: 3}, []int64{2, 3}, nil, 3, dtI64, []int64{0, 2, 1}, []int64{0, 2, 3})
	a[4].dt, a[4].raw = dt, data
	if scale != nil {
		a = append(a, rawArr{"data" + LPScaleSuffix, dtF32, []int{len(scale) / 4}, scale})
	}
	return a
}

// TestCSRLPForeignRejects: malformed low-precision CSR files fail with an error wrapping
// ErrFormat that says what is wrong, and no matrix.
func TestCSRLPForeignRejects(t *testing.T) {
	i8 := []byte{1, 0xff, 127}
	okI8 := func() []rawArr { return lpCSRArrays(dtI1, i8, f32s(0.5, 2)) }
	m, _, err := openNPZBytes(t, npzOf(t, false, okI8()...)).Matrix("")
	require.NoError(t, err)
	require.Equal(t, []int8{1, -1, 127}, m.(*formats.CSRLP).I8)
	okBF := func() []rawArr { return lpCSRArrays(dtU2, u16s(0x3f80, 0xc000, 0x4040), nil) }
	m, _, err = openNPZBytes(t, npzOf(t, false, okBF()...)).Matrix("")
	require.NoError(t, err)
	require.Equal(t, []float32{1, 0, -2, 0, 3, 0}, m.ToDense().Data)

	nan, inf := float32(math.NaN()), float32(math.Inf(-1))
	mod := func(base func() []rawArr, f func([]rawArr) []rawArr) []byte { return npzOf(t, false, f(base())...) }
	cases := map[string]struct {
		b    []byte
		want string
	}{
		"int8 without scales": {npzOf(t, false, lpCSRArrays(dtI1, i8, nil)...), `needs its row scales "data_scale"`},
		"scales short":        {mod(okI8, func(a []rawArr) []rawArr { a[5].shape, a[5].raw = []int{1}, f32s(1); return a }), "1 row scales"},
		"scales long":         {mod(okI8, func(a []rawArr) []rawArr { a[5].shape, a[5].raw = []int{3}, f32s(1, 2, 3); return a }), "3 row scales"},
		"scales float64":      {mod(okI8, func(a []rawArr) []rawArr { a[5].dt, a[5].raw = dtype{kind: 'f', size: 8}, f64s(1, 2); return a }), "1-D float32"},
		"scales 2-D":          {mod(okI8, func(a []rawArr) []rawArr { a[5].shape = []int{1, 2}; return a }), "1-D float32"},
		"NaN scale":           {mod(okI8, func(a []rawArr) []rawArr { a[5].raw = f32s(1, nan); return a }), "scale 1 is NaN"},
		"Inf scale":           {mod(okI8, func(a []rawArr) []rawArr { a[5].raw = f32s(inf, 1); return a }), "scale 0 is -Inf"},
		"int16 data":          {mod(okBF, func(a []rawArr) []rawArr { a[4].dt = dtype{kind: 'i', size: 2}; return a }), "<i2"},
		"uint8 data":          {mod(okI8, func(a []rawArr) []rawArr { a[4].dt = dtU8; return a }), "|u1"},
		"2-D data":            {mod(okBF, func(a []rawArr) []rawArr { a[4].shape = []int{3, 1}; return a }), "want 1-D"},
		"data short":          {mod(okBF, func(a []rawArr) []rawArr { a[4].shape, a[4].raw = []int{2}, u16s(1, 2); return a }), "2 values for 3 indices"},
		"index out of range":  {mod(okBF, func(a []rawArr) []rawArr { a[0].raw = i64s(0, 3, 1); return a }), "column 3 outside [0, 3)"},
		"negative index":      {mod(okI8, func(a []rawArr) []rawArr { a[0].raw = i64s(0, -1, 1); return a }), "column -1 outside"},
		"indptr decreasing":   {mod(okI8, func(a []rawArr) []rawArr { a[1].raw = i64s(0, 3, 2); return a }), "indptr decreases"},
		"int8 duplicates overflow": {mod(okI8, func(a []rawArr) []rawArr {
			a[0].raw, a[4].raw = i64s(1, 1, 1), []byte{100, 100, 1}
			return a
		}), "sum to 200, outside int8"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			m, _, err := openNPZBytes(t, c.b).Matrix("")
			require.Error(t, err)
			assert.Nil(t, m)
			assert.ErrorIs(t, err, ErrFormat)
			assert.Contains(t, err.Error(), c.want)
		})
	}
}

// TestCSRLPCanonicalization: a low-precision CSR with unsorted rows and duplicates is
// sorted and its duplicates summed without leaving its dtype: int8 exactly (one scale per
// row), bf16/f16 rounded once from the exact sum. The f16 row 0 is 1 + 2⁻¹¹ + 2⁻²⁴, just
// above a tie of f16: rounding the sum to float32 first (1 + 2⁻¹¹, the tie) and then to f16
// would give 1; correct rounding gives 1 + 2⁻¹⁰.
func TestCSRLPCanonicalization(t *testing.T) {
	// 2×4: row 0 holds column 2 three times and column 0; row 1 is unsorted.
	indices := []int64{2, 0, 2, 2, 3, 1}
	indptr := []int64{0, 4, 6}
	build := func(dt dtype, data []byte, scale []byte) []byte {
		a := csrArrays([]byte("csr"), dtype{kind: 'S', size: 3}, []int64{2, 4}, nil, 6, dtI32, indices, indptr)
		a[4].dt, a[4].raw = dt, data
		if scale != nil {
			a = append(a, rawArr{"data" + LPScaleSuffix, dtF32, []int{2}, scale})
		}
		return npzOf(t, true, a...)
	}
	check := func(b []byte, dt formats.DType) *formats.CSRLP {
		m, info, err := openNPZBytes(t, b).Matrix("")
		require.NoError(t, err)
		c := m.(*formats.CSRLP)
		require.Equal(t, dt, c.DType)
		assert.Equal(t, []int64{0, 2, 4}, c.RowPtr)
		assert.Equal(t, []int32{0, 2, 1, 3}, c.ColIdx)
		notes := strings.Join(info.Notes, "; ")
		assert.Contains(t, notes, "unsorted in 2 rows")
		assert.Contains(t, notes, "2 duplicate entries summed")
		return c
	}
	f16 := check(build(dtF2, u16s(0x3c00, 0x4000, 0x1000, 0x0001, 0x4200, 0xc400), nil), formats.F16)
	assert.Equal(t, []uint16{0x4000, 0x3c01, 0xc400, 0x4200}, f16.Bits, "f16: 2, 1+2⁻¹⁰, -4, 3")
	// bf16: 1 + 2⁻⁸ + 2⁻³⁰ is just above a bf16 tie (1 + 2⁻⁸), and float32 would round it to
	// the tie.
	bf := check(build(dtU2, u16s(0x3f80, 0x4000, 0x3b80, 0x3080, 0x4040, 0xc080), nil), formats.BF16)
	assert.Equal(t, []uint16{0x4000, 0x3f81, 0xc080, 0x4040}, bf.Bits)
	q := check(build(dtI1, []byte{100, 7, 27, 0xff, 5, 0xfd}, f32s(0.25, 4)), formats.I8)
	assert.Equal(t, []int8{7, 126, -3, 5}, q.I8)
	assert.Equal(t, []float32{0.25, 4}, q.Scale)
}
