package formats

// Dense is a row-major rows×cols float32 matrix with a row stride ≥ cols.
type Dense struct {
	Rows, Cols int
	Stride     int
	Data       []float32
}

// NewDense wraps data (row-major, stride = cols) as a Dense after validating its length.
// It does not copy data.
func NewDense(rows, cols int, data []float32) (*Dense, error) {
	return NewDenseStride(rows, cols, cols, data)
}

// NewDenseStride wraps data with an explicit row stride.
func NewDenseStride(rows, cols, stride int, data []float32) (*Dense, error) {
	d := &Dense{Rows: rows, Cols: cols, Stride: stride, Data: data}
	if err := d.Validate(); err != nil {
		return nil, err
	}
	return d, nil
}

// ZeroDense allocates a zero rows×cols matrix.
func ZeroDense(rows, cols int) (*Dense, error) {
	if err := checkShape("dense", rows, cols); err != nil {
		return nil, err
	}
	return &Dense{Rows: rows, Cols: cols, Stride: max(cols, 1), Data: make([]float32, rows*cols)}, nil
}

// Validate checks the shape, the stride and that Data holds every row.
func (d *Dense) Validate() error {
	if d == nil {
		return invalid("dense", "", "nil matrix")
	}
	if err := checkShape("dense", d.Rows, d.Cols); err != nil {
		return err
	}
	if d.Stride < d.Cols || d.Stride < 0 {
		return invalid("dense", "", "stride %d < cols %d", d.Stride, d.Cols)
	}
	if d.Rows == 0 || d.Cols == 0 {
		return nil
	}
	need, ok := MulChecked(int64(d.Rows-1), int64(d.Stride))
	if !ok {
		return invalid("dense", "", "rows·stride overflows")
	}
	need += int64(d.Cols)
	if int64(len(d.Data)) < need {
		return invalid("dense", "", "data has %d values, %d×%d with stride %d needs %d", len(d.Data), d.Rows, d.Cols, d.Stride, need)
	}
	return nil
}

// At returns element (i, j); it panics on out-of-range indices like a slice does.
func (d *Dense) At(i, j int) float32 { return d.Data[i*d.Stride+j] }

// Row returns row i as a slice of length Cols. With Cols = 0 every row is empty (Data may
// then be shorter than Rows·Stride, as ZeroDense(m, 0) makes it).
func (d *Dense) Row(i int) []float32 {
	if d.Cols == 0 {
		return nil
	}
	return d.Data[i*d.Stride : i*d.Stride+d.Cols]
}

// Compact returns d with Stride = Cols, copying only when needed.
func (d *Dense) Compact() *Dense {
	if d.Stride == d.Cols || d.Rows <= 1 {
		return d
	}
	out := &Dense{Rows: d.Rows, Cols: d.Cols, Stride: d.Cols, Data: make([]float32, d.Rows*d.Cols)}
	for i := 0; i < d.Rows; i++ {
		copy(out.Data[i*d.Cols:], d.Row(i))
	}
	return out
}

// NNZ counts the nonzero entries.
func (d *Dense) NNZ() int64 {
	var n int64
	for i := 0; i < d.Rows; i++ {
		n += countNonzero(d.Row(i))
	}
	return n
}

// ToDense returns d itself; it lets Dense satisfy Matrix.
func (d *Dense) ToDense() *Dense { return d }

// Shape returns (rows, cols).
func (d *Dense) Shape() (int, int) { return d.Rows, d.Cols }
