package formats

import (
	"math"
	"reflect"
)

// Matrix is what every format offers: its shape, its counts, a dense copy and validation.
type Matrix interface {
	// Shape returns (M, K): rows and columns of the weight matrix.
	Shape() (rows, cols int)
	// NNZ counts the stored values that are not zero (true nonzeros).
	NNZ() int64
	// ToDense expands the matrix into a new Dense (stride = cols).
	ToDense() *Dense
	// Validate proves every invariant of the format.
	Validate() error
}

// IsNil reports whether w is no matrix: a nil interface, or a nil pointer of any format
// (a typed nil *CSR, say), whose methods would panic. Callers refuse it before use.
func IsNil(w Matrix) bool {
	if w == nil {
		return true
	}
	v := reflect.ValueOf(w)
	return v.Kind() == reflect.Pointer && v.IsNil()
}

var (
	_ Matrix = (*Dense)(nil)
	_ Matrix = (*CSR)(nil)
	_ Matrix = (*BSR)(nil)
	_ Matrix = (*NM)(nil)
)

// countNonzero counts entries that are not ±0 (NaN counts), without a branch per entry:
// sparse weights make `if x != 0` mispredict about once per nonzero.
func countNonzero(v []float32) int64 {
	var n0, n1, n2, n3 int64 // four independent chains
	for ; len(v) >= 4; v = v[4:] {
		n0 += int64(isNonzero(v[0]))
		n1 += int64(isNonzero(v[1]))
		n2 += int64(isNonzero(v[2]))
		n3 += int64(isNonzero(v[3]))
	}
	n := n0 + n1 + n2 + n3
	for _, x := range v {
		n += int64(isNonzero(x))
	}
	return n
}

// isNonzero is 1 when x is not ±0 (NaN included), else 0: (u + 0x7fffffff) >> 31 with
// u = |bits| is 1 exactly when u ≠ 0.
func isNonzero(x float32) uint32 {
	return (math.Float32bits(x)&0x7fffffff + 0x7fffffff) >> 31
}
