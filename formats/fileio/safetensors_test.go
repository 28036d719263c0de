package fileio

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sparsegen/sparsegen/formats"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func stBytes(t *testing.T, ts []Tensor, md map[string]string) []byte {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, WriteSafetensors(&b, ts, md))
	return b.Bytes()
}

func openSt(b []byte) (*Safetensors, error) {
	return OpenSafetensors(bytes.NewReader(b), int64(len(b)))
}

func TestSafetensorsRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	w := randDense(rng, 6, 10, 0.5)
	bias := randDense(rng, 1, 6, 1)
	empty := randDense(rng, 0, 3, 1)
	for _, dt := range []string{"F32", "F16", "BF16"} {
		b := stBytes(t, []Tensor{
			{Name: "layer.weight", DType: dt, Data: w},
			{Name: "layer.bias", DType: dt, Data: bias, Shape: []int{6}},
			{Name: "empty", DType: dt, Data: empty},
		}, map[string]string{"format": "pt"})
		require.Zero(t, binary.LittleEndian.Uint64(b)%8)
		s, err := openSt(b)
		require.NoError(t, err, dt)
		assert.Equal(t, map[string]string{"format": "pt"}, s.Metadata)
		assert.Equal(t, []ArrayInfo{
			{Name: "layer.weight", DType: dt, Shape: []int{6, 10}},
			{Name: "layer.bias", DType: dt, Shape: []int{6}},
			{Name: "empty", DType: dt, Shape: []int{0, 3}},
		}, s.List())
		round := func(x float32) float32 {
			switch dt {
			case "F16":
				return f16ToF32(f32ToF16(x))
			case "BF16":
				return bf16ToF32(f32ToBF16(x))
			}
			return x
		}
		for _, c := range []struct {
			name string
			d    *formats.Dense
		}{{"layer.weight", w}, {"layer.bias", bias}, {"empty", empty}} {
			got, info, err := s.Dense(c.name)
			require.NoError(t, err)
			assert.Equal(t, dt, info.DType)
			want := &formats.Dense{Rows: c.d.Rows, Cols: c.d.Cols, Stride: c.d.Cols, Data: make([]float32, len(rowMajor(c.d)))}
			for i, v := range rowMajor(c.d) {
				want.Data[i] = round(v)
			}
			requireSameDense(t, want, got)
			tol := map[string]float64{"F32": 0, "F16": 1e-3, "BF16": 8e-3}[dt]
			requireClose(t, c.d, got, tol)
		}
		_, _, err = s.Dense("missing")
		assert.ErrorIs(t, err, ErrFormat)
	}
}

// stRaw builds a safetensors file from a header text and a data buffer.
func stRaw(hdr string, data []byte) []byte {
	b := make([]byte, 8, 8+len(hdr)+len(data))
	binary.LittleEndian.PutUint64(b, uint64(len(hdr)))
	return append(append(b, hdr...), data...)
}

func TestSafetensorsF64AndKinds(t *testing.T) {
	data := make([]byte, 16+4)
	binary.LittleEndian.PutUint64(data, math.Float64bits(2.5))
	binary.LittleEndian.PutUint64(data[8:], math.Float64bits(-1))
	b := stRaw(`{"w":{"dtype":"F64","shape":[2,1],"data_offsets":[0,16]},"i":{"dtype":"I32","shape":[],"data_offsets":[16,20]}}  `, data)
	s, err := openSt(b)
	require.NoError(t, err)
	d, _, err := s.Dense("w")
	require.NoError(t, err)
	assert.Equal(t, []float32{2.5, -1}, d.Data)
	_, _, err = s.Dense("i")
	assert.ErrorContains(t, err, "dtype I32")
	m, info, err := ReadMatrix(bytes.NewReader(b), int64(len(b)), "w")
	require.NoError(t, err)
	assert.Equal(t, "safetensors", info.Container)
	assert.Equal(t, d, m)
	_, _, err = ReadMatrix(bytes.NewReader(b), int64(len(b)), "")
	assert.ErrorContains(t, err, "name the one")
}

func TestSafetensorsRejects(t *testing.T) {
	data := make([]byte, 32)
	entry := func(dt, shape, off string) string {
		return fmt.Sprintf(`{"a":{"dtype":%q,"shape":%s,"data_offsets":%s}}`, dt, shape, off)
	}
	huge := make([]byte, 8)
	binary.LittleEndian.PutUint64(huge, 1<<62)
	cases := map[string][]byte{
		"empty":             {},
		"short length":      {1, 0, 0},
		"huge header":       append(huge, '{', '}'),
		"header past file":  stRaw(`{}`, nil)[:9],
		"not json":          stRaw(`hello`, data),
		"array not object":  stRaw(`[1]`, data),
		"unknown dtype":     stRaw(entry("F128", "[2]", "[0,32]"), data),
		"unknown field":     stRaw(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}}`, data),
		"missing shape":     stRaw(`{"a":{"dtype":"F32","data_offsets":[0,8]}}`, data),
		"missing offsets":   stRaw(`{"a":{"dtype":"F32","shape":[2]}}`, data),
		"negative offset":   stRaw(entry("F32", "[2]", "[-8,0]"), data),
		"reversed offsets":  stRaw(entry("F32", "[0]", "[8,0]"), data),
		"offset past data":  stRaw(entry("F32", "[10]", "[0,40]"), data),
		"overflow offset":   stRaw(entry("F32", "[2]", "[18446744073709551615,18446744073709551623]"), data),
		"size mismatch":     stRaw(entry("F32", "[3]", "[0,8]"), data),
		"huge shape":        stRaw(entry("F32", "[4294967296,4294967296]", "[0,8]"), data),
		"overflow shape":    stRaw(entry("F32", "[9223372036854775807,3]", "[0,8]"), data),
		"float shape":       stRaw(entry("F32", "[2.5]", "[0,8]"), data),
		"duplicate":         stRaw(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}`, data),
		"overlap":           stRaw(`{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}`, data),
		"trailing text":     stRaw(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}} x`, data),
		"two objects":       stRaw(`{}{}`, data),
		"bad metadata":      stRaw(`{"__metadata__":{"a":1}}`, data),
		"unclosed":          stRaw(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}`, data),
		"three offsets":     stRaw(entry("F32", "[2]", "[0,8,9]"), data),
		"too many dims":     stRaw(entry("F32", "[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]", "[0,4]"), data),
		"header lies short": stRaw(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, data)[:40],
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			s, err := openSt(b)
			require.Error(t, err)
			assert.Nil(t, s)
			assert.ErrorIs(t, err, ErrFormat)
		})
	}
	// Valid neighbours of the rejected cases.
	for _, b := range [][]byte{
		stRaw(`{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[0],"data_offsets":[16,16]},"c":{"dtype":"F32","shape":[0],"data_offsets":[16,16]}}`, data),
		stRaw(`{"__metadata__":{"k":"v"},"a":{"dtype":"BF16","shape":[2,2],"data_offsets":[24,32]}}   `, data),
	} {
		_, err := openSt(b)
		require.NoError(t, err)
	}
}

func TestSafetensorsTruncatedEveryOffset(t *testing.T) {
	d, _ := formats.NewDense(2, 3, []float32{1, 2, 3, 4, 5, 6})
	b := stBytes(t, []Tensor{{Name: "w", Data: d}, {Name: "h", DType: "BF16", Data: d}}, nil)
	for n := 0; n < len(b); n++ {
		s, err := openSt(b[:n])
		if err == nil {
			// Only possible if nothing the header names lies past n: never here.
			t.Fatalf("cut at %d opened: %v", n, s.List())
		}
	}
	s, err := openSt(b)
	require.NoError(t, err)
	got, _, err := s.Dense("w")
	require.NoError(t, err)
	requireSameDense(t, d, got)
}

func TestSafetensorsWriterRejects(t *testing.T) {
	d, _ := formats.NewDense(1, 2, []float32{1, 2})
	var b bytes.Buffer
	assert.Error(t, WriteSafetensors(&b, []Tensor{{Name: "a", Data: d}, {Name: "a", Data: d}}, nil))
	assert.Error(t, WriteSafetensors(&b, []Tensor{{Name: "a", Data: d, DType: "I8"}}, nil))
	assert.Error(t, WriteSafetensors(&b, []Tensor{{Name: "a", Data: d, Shape: []int{3}}}, nil))
	assert.Error(t, WriteSafetensors(&b, []Tensor{{Name: "__metadata__", Data: d}}, nil))
}
