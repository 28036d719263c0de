package formats

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

var (
	_ Matrix = (*Dense)(nil)
	_ Matrix = (*CSR)(nil)
	_ Matrix = (*BSR)(nil)
	_ Matrix = (*NM)(nil)
)

func countNonzero(v []float32) int64 {
	var n int64
	for _, x := range v {
		if x != 0 {
			n++
		}
	}
	return n
}
