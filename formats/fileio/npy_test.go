package fileio

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/sparsegen/sparsegen/formats"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNPYRoundTripDTypes(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, descr := range NPYDTypes {
		for _, sh := range [][2]int{{1, 1}, {3, 5}, {7, 1}, {1, 9}, {0, 4}, {4, 0}, {16, 33}} {
			d := randDense(rng, sh[0], sh[1], 0.7)
			b := npyBytes(t, d, descr)
			require.Zero(t, (len(b)-d.Rows*d.Cols*int(descr[2]-'0'))%64, "header padded to 64")
			got, info, err := readNPYBytes(b)
			require.NoError(t, err, descr)
			require.NoError(t, got.Validate())
			assert.Equal(t, descr, info.DType)
			assert.Equal(t, "dense", info.Layout)
			if descr[2] == '2' {
				// float16: compare with the rounded values.
				want := &formats.Dense{Rows: d.Rows, Cols: d.Cols, Stride: d.Cols, Data: append([]float32(nil), rowMajor(d)...)}
				for i := range want.Data {
					want.Data[i] = f16ToF32(f32ToF16(want.Data[i]))
				}
				requireSameDense(t, want, got)
				requireClose(t, d, got, 1e-3)
			} else {
				requireSameDense(t, d, got)
			}
		}
	}
}

func TestNPYWriteIsF4V1(t *testing.T) {
	d, _ := formats.NewDense(2, 3, []float32{1, 2, 3, 4, 5, 6})
	var b bytes.Buffer
	require.NoError(t, WriteNPY(&b, d))
	out := b.Bytes()
	require.Equal(t, npyMagic, string(out[:6]))
	require.Equal(t, []byte{1, 0}, out[6:8])
	hl := int(binary.LittleEndian.Uint16(out[8:10]))
	hdr := string(out[10 : 10+hl])
	assert.Contains(t, hdr, "'descr': '<f4'")
	assert.Contains(t, hdr, "'fortran_order': False")
	assert.Contains(t, hdr, "'shape': (2, 3)")
	assert.Equal(t, byte('\n'), hdr[len(hdr)-1])
	assert.Equal(t, 10+hl+24, len(out))
	assert.Equal(t, float32(6), math.Float32frombits(binary.LittleEndian.Uint32(out[len(out)-4:])))
}

func TestNPYStridedWrite(t *testing.T) {
	d, err := formats.NewDenseStride(2, 2, 3, []float32{1, 2, 99, 3, 4})
	require.NoError(t, err)
	got, _, err := readNPYBytes(npyBytes(t, d, "<f4"))
	require.NoError(t, err)
	assert.Equal(t, []float32{1, 2, 3, 4}, got.Data)
}

func f4bytes(v ...float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

func TestNPYFortranTransposed(t *testing.T) {
	// Column-major 2×3 [[1 2 3] [4 5 6]] is stored 1 4 2 5 3 6.
	b := rawNPY(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", f4bytes(1, 4, 2, 5, 3, 6))
	d, info, err := readNPYBytes(b)
	require.NoError(t, err)
	assert.Equal(t, []float32{1, 2, 3, 4, 5, 6}, d.Data)
	require.Len(t, info.Notes, 1)
	assert.Contains(t, info.Notes[0], "Fortran")
}

func TestNPYVersionsAndVectors(t *testing.T) {
	for _, v := range []byte{1, 2, 3} {
		b := rawNPY(v, `{"descr": "<f4", "shape": (3,), "fortran_order": False}`, f4bytes(1, 2, 3))
		d, _, err := readNPYBytes(b)
		require.NoError(t, err, "v%d", v)
		assert.Equal(t, 1, d.Rows)
		assert.Equal(t, []float32{1, 2, 3}, d.Data)
	}
	// Python 2 "L" suffixes.
	d, _, err := readNPYBytes(rawNPY(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1L, 2L), }", f4bytes(7, 8)))
	require.NoError(t, err)
	assert.Equal(t, []float32{7, 8}, d.Data)
	// Big-endian float64 written by hand.
	be := make([]byte, 16)
	binary.BigEndian.PutUint64(be, math.Float64bits(1.5))
	binary.BigEndian.PutUint64(be[8:], math.Float64bits(1e300))
	d, info, err := readNPYBytes(rawNPY(1, "{'descr': '>f8', 'fortran_order': False, 'shape': (2, 1), }", be))
	require.NoError(t, err)
	assert.Equal(t, float32(1.5), d.Data[0])
	assert.True(t, math.IsInf(float64(d.Data[1]), 1))
	assert.Contains(t, info.Notes[0], "overflowed")
}

func TestNPYRejects(t *testing.T) {
	good := "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2), }"
	cases := map[string][]byte{
		"bad magic":        append([]byte("\x93NUMPX"), rawNPY(1, good, f4bytes(1, 2))[6:]...),
		"version 4":        rawNPY(4, good, f4bytes(1, 2)),
		"int dtype":        rawNPY(1, "{'descr': '<i4', 'fortran_order': False, 'shape': (1, 2), }", f4bytes(1, 2)),
		"complex":          rawNPY(1, "{'descr': '<c8', 'fortran_order': False, 'shape': (1, 1), }", f4bytes(1, 2)),
		"object":           rawNPY(1, "{'descr': '|O', 'fortran_order': False, 'shape': (1, 1), }", f4bytes(1, 2)),
		"native order":     rawNPY(1, "{'descr': '=f4', 'fortran_order': False, 'shape': (1, 2), }", f4bytes(1, 2)),
		"f3":               rawNPY(1, "{'descr': '<f3', 'fortran_order': False, 'shape': (1, 2), }", f4bytes(1, 2)),
		"structured":       rawNPY(1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1, 2), }", f4bytes(1, 2)),
		"3-D":              rawNPY(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 2), }", f4bytes(1, 2)),
		"0-D":              rawNPY(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }", f4bytes(1)),
		"missing key":      rawNPY(1, "{'descr': '<f4', 'shape': (1, 2), }", f4bytes(1, 2)),
		"extra key":        rawNPY(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2), 'x': 1}", f4bytes(1, 2)),
		"dup key":          rawNPY(1, "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1, 2)}", f4bytes(1, 2)),
		"negative dim":     rawNPY(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (-1, 2), }", f4bytes(1, 2)),
		"int not tuple":    rawNPY(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2), }", f4bytes(1, 2)),
		"fortran 1":        rawNPY(1, "{'descr': '<f4', 'fortran_order': 1, 'shape': (1, 2), }", f4bytes(1, 2)),
		"trailing text":    rawNPY(1, good+" x", f4bytes(1, 2)),
		"truncated data":   rawNPY(1, good, f4bytes(1)),
		"trailing data":    rawNPY(1, good, f4bytes(1, 2, 3)),
		"huge shape":       rawNPY(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (100000000000, 100000000000), }", f4bytes(1, 2)),
		"overflowing":      rawNPY(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", f4bytes(1, 2)),
		"giant dim":        rawNPY(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999, 1), }", f4bytes(1, 2)),
		"unterminated":     rawNPY(1, "{'descr': '<f4", nil),
		"header too long":  append(append([]byte(npyMagic), 2, 0), 0xff, 0xff, 0xff, 0x7f),
		"header past file": append(append([]byte(npyMagic), 1, 0), 0x00, 0x10, '{'),
		"empty":            {},
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			d, _, err := readNPYBytes(b)
			require.Error(t, err)
			assert.Nil(t, d)
			assert.ErrorIs(t, err, ErrFormat)
		})
	}
}

// TestNPYTruncatedEveryOffset cuts a small valid file at every byte: each prefix must fail
// cleanly, and the whole file must read.
func TestNPYTruncatedEveryOffset(t *testing.T) {
	d, _ := formats.NewDense(2, 3, []float32{1, 2, 3, 4, 5, 6})
	for _, descr := range []string{"<f2", "<f4", ">f8"} {
		b := npyBytes(t, d, descr)
		for n := 0; n < len(b); n++ {
			got, _, err := readNPYBytes(b[:n])
			require.Error(t, err, "%s cut at %d", descr, n)
			require.Nil(t, got)
		}
		_, _, err := readNPYBytes(b)
		require.NoError(t, err)
	}
}

func TestNPYFiles(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "w.npy")
	d := randDense(rand.New(rand.NewPCG(3, 4)), 5, 6, 0.5)
	require.NoError(t, SaveNPY(p, d))
	got, info, err := LoadNPY(p)
	require.NoError(t, err)
	requireSameDense(t, d, got)
	assert.Equal(t, p, info.Path)
	_, _, err = LoadNPY(filepath.Join(dir, "missing.npy"))
	assert.Error(t, err)
}

func TestHalfConversions(t *testing.T) {
	// Every finite and infinite half survives a round trip through float32.
	for h := 0; h < 1<<16; h++ {
		f := f16ToF32(uint16(h))
		if f != f {
			assert.True(t, f32ToF16(f)&0x7c00 == 0x7c00 && f32ToF16(f)&0x3ff != 0, "NaN %#x", h)
			continue
		}
		require.Equal(t, uint16(h), f32ToF16(f), "half %#x", h)
	}
	cases := []struct {
		f float32
		h uint16
	}{
		{65504, 0x7bff}, {65519, 0x7bff}, {65520, 0x7c00}, {1e6, 0x7c00}, {-1e6, 0xfc00},
		{float32(math.Ldexp(1, -24)), 0x0001}, {float32(math.Ldexp(1, -25)), 0x0000},
		{float32(math.Ldexp(3, -26)), 0x0001}, {float32(math.Ldexp(3, -25)), 0x0002},
		{float32(math.Ldexp(1, -14)), 0x0400}, {1 + float32(math.Ldexp(1, -11)), 0x3c00},
		{1 + float32(math.Ldexp(3, -11)), 0x3c02}, {float32(math.Copysign(0, -1)), 0x8000},
	}
	for _, c := range cases {
		assert.Equal(t, c.h, f32ToF16(c.f), "%g", c.f)
	}
	// bfloat16: exact for values with 8 significant bits, ties to even otherwise.
	assert.Equal(t, uint16(0x3f80), f32ToBF16(1))
	assert.Equal(t, uint16(0x3f80), f32ToBF16(math.Float32frombits(0x3f808000)))
	assert.Equal(t, uint16(0x3f82), f32ToBF16(math.Float32frombits(0x3f818000)))
	assert.Equal(t, uint16(0x3f81), f32ToBF16(math.Float32frombits(0x3f808001)))
	assert.Equal(t, float32(1), bf16ToF32(0x3f80))
	nan := f32ToBF16(float32(math.NaN()))
	assert.True(t, math.IsNaN(float64(bf16ToF32(nan))))
	assert.Equal(t, uint16(0x7f80), f32ToBF16(float32(math.Inf(1))))
}

func TestStreamingReaders(t *testing.T) {
	// readExactly beyond its 16 MiB chunk, and a source that ends early.
	n := int64(40 << 20)
	src := make([]byte, n)
	for i := range src {
		src[i] = byte(i * 7)
	}
	got, err := readExactly(bytes.NewReader(src), n)
	require.NoError(t, err)
	require.True(t, bytes.Equal(src, got))
	_, err = readExactly(bytes.NewReader(src[:n-1]), n)
	require.Error(t, err)
	// readFloats past its initial untrusted capacity (4 Mi elements), exactly and short.
	m := int64(5<<20 + 3)
	fb := encodeFloats(dtF32, func() []float32 {
		v := make([]float32, m)
		for i := range v {
			v[i] = float32(i)
		}
		return v
	}())
	for _, trusted := range []bool{false, true} {
		f, over, err := readFloats(bytes.NewReader(fb), dtF32, m, trusted)
		require.NoError(t, err)
		require.False(t, over)
		require.Len(t, f, int(m))
		require.Equal(t, float32(m-1), f[m-1])
		require.Equal(t, float32(4<<20), f[4<<20])
		_, _, err = readFloats(bytes.NewReader(fb[:len(fb)-1]), dtF32, m, trusted)
		require.Error(t, err)
	}
}
