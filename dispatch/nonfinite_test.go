package dispatch

import (
	"math"
	"testing"
)

// TestFiniteRow: finiteRow agrees with the definition (NaN or ±Inf anywhere) for every
// length and alignment of the row, with each special value at every position, and takes
// the largest finite values, zeros and subnormals as finite.
func TestFiniteRow(t *testing.T) {
	buf := make([]float32, 64)
	ok := []float32{0, float32(math.Copysign(0, -1)), math.MaxFloat32, -math.MaxFloat32, math.SmallestNonzeroFloat32, 1, -3.5}
	bad := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), math.Float32frombits(0xffc00001), math.Float32frombits(0x7f800001)}
	for off := 0; off < 4; off++ {
		for n := 0; n+off <= len(buf); n++ {
			row := buf[off : off+n]
			for i := range row {
				row[i] = ok[i%len(ok)]
			}
			if !finiteRow(row) {
				t.Fatalf("offset %d, length %d: finite values called non-finite", off, n)
			}
			for pos := range row {
				for _, v := range bad {
					saved := row[pos]
					row[pos] = v
					if finiteRow(row) {
						t.Fatalf("offset %d, length %d: %v at %d not found", off, n, v, pos)
					}
					row[pos] = saved
				}
			}
		}
	}
}

// BenchmarkFinite: the scan every call makes of X (768×128, a BERT layer at N = 128).
func BenchmarkFinite(b *testing.B) {
	x := make([]float32, 768*128)
	for i := range x {
		x[i] = float32(i%13) - 6
	}
	for b.Loop() {
		if !finite(x, 128, 768, 128) {
			b.Fatal()
		}
	}
}
