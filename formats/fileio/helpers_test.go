package fileio

import (
	"bytes"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sparsegen/sparsegen/formats"
	"github.com/stretchr/testify/require"
)

// randDense makes a rows×cols matrix with about density of its entries nonzero.
func randDense(rng *rand.Rand, rows, cols int, density float64) *formats.Dense {
	d := &formats.Dense{Rows: rows, Cols: cols, Stride: cols, Data: make([]float32, rows*cols)} // not ZeroDense: its stride 1 for cols = 0 breaks Row
	for i := range d.Data {
		if rng.Float64() < density {
			d.Data[i] = float32(rng.NormFloat64())
		}
	}
	return d
}

// blockDense makes a matrix whose nonzeros come in whole r×c blocks (some zero inside).
func blockDense(rng *rand.Rand, rows, cols, r, c int, density float64) *formats.Dense {
	d := &formats.Dense{Rows: rows, Cols: cols, Stride: cols, Data: make([]float32, rows*cols)} // not ZeroDense: its stride 1 for cols = 0 breaks Row
	for i := 0; i < rows; i += r {
		for j := 0; j < cols; j += c {
			if rng.Float64() >= density {
				continue
			}
			for a := i; a < min(i+r, rows); a++ {
				for b := j; b < min(j+c, cols); b++ {
					if rng.IntN(5) > 0 {
						d.Data[a*cols+b] = float32(rng.NormFloat64())
					}
				}
			}
		}
	}
	return d
}

func requireSameDense(t *testing.T, want, got *formats.Dense) {
	t.Helper()
	require.Equal(t, want.Rows, got.Rows, "rows")
	require.Equal(t, want.Cols, got.Cols, "cols")
	require.Equal(t, rowMajor(want), rowMajor(got))
}

func requireClose(t *testing.T, want, got *formats.Dense, tol float64) {
	t.Helper()
	require.Equal(t, want.Rows, got.Rows, "rows")
	require.Equal(t, want.Cols, got.Cols, "cols")
	for i := 0; i < want.Rows; i++ {
		for j := 0; j < want.Cols; j++ {
			a, b := float64(want.At(i, j)), float64(got.At(i, j))
			require.InDelta(t, a, b, tol*(1+abs(a)), "(%d, %d)", i, j)
		}
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

func npyBytes(t *testing.T, d *formats.Dense, descr string) []byte {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, WriteNPYAs(&b, d, descr))
	return b.Bytes()
}

// rawNPY builds a .npy from a header dict text and data bytes, with the given version.
func rawNPY(major byte, dict string, data []byte) []byte {
	var b bytes.Buffer
	b.WriteString(npyMagic)
	b.WriteByte(major)
	b.WriteByte(0)
	h := dict + "\n"
	if major == 1 {
		b.WriteByte(byte(len(h)))
		b.WriteByte(byte(len(h) >> 8))
	} else {
		b.Write([]byte{byte(len(h)), byte(len(h) >> 8), byte(len(h) >> 16), byte(len(h) >> 24)})
	}
	b.WriteString(h)
	b.Write(data)
	return b.Bytes()
}

func readNPYBytes(b []byte) (*formats.Dense, Info, error) {
	return ReadNPY(bytes.NewReader(b), int64(len(b)))
}

func mathFloat64bits(x float64) uint64 { return math.Float64bits(x) }
