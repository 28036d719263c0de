package formats

import "fmt"

// CSRLP is a CSR matrix (see CSR: the same RowPtr and ColIdx, the same invariants) whose
// values are stored in low precision: bf16 or f16 bit patterns in Bits, or int8 values in
// I8 with one float32 scale per row in Scale (symmetric, weight-only quantisation:
// W[i, ColIdx[p]] = Scale[i]·I8[p]). Exactly the slices of its DType are set, as in
// DenseLP. Kernels accumulate in float32; nothing converts a CSR to a CSRLP unless asked
// (CSRLPFromCSR), and ToCSR widens.
type CSRLP struct {
	Rows, Cols int
	RowPtr     []int64
	ColIdx     []int32
	DType      DType
	Bits       []uint16  // BF16, F16: one per entry
	I8         []int8    // I8: one per entry
	Scale      []float32 // I8: one per row
}

var _ Matrix = (*CSRLP)(nil)

func (c *CSRLP) format() string {
	if c == nil {
		return "csr"
	}
	return "csr " + c.DType.String()
}

// ValidateStructure is CSR.ValidateStructure for a CSRLP, plus the dtype and its slices
// (DenseLP's rules): O(M), for packers that check each column index as they copy it.
func (c *CSRLP) ValidateStructure() error {
	if c == nil {
		return invalid("csr", "", "nil matrix")
	}
	f := c.format()
	if c.DType < BF16 || c.DType > I8 {
		return invalid(f, "", "unknown dtype %d", c.DType)
	}
	have, err := lpSlices(f, c.DType, c.Rows, c.Bits, c.I8, c.Scale)
	if err != nil {
		return err
	}
	val := "len(Bits)"
	if c.DType == I8 {
		val = "len(I8)"
	}
	return csrStructure(f, c.Rows, c.Cols, c.RowPtr, c.ColIdx, val, have)
}

// Validate checks every invariant: the structure, then every column index.
func (c *CSRLP) Validate() error {
	if err := c.ValidateStructure(); err != nil {
		return err
	}
	return csrColumns(c.format(), c.Rows, c.Cols, c.RowPtr, c.ColIdx)
}

// Shape returns (M, K).
func (c *CSRLP) Shape() (int, int) { return c.Rows, c.Cols }

// Stored is the number of stored entries, explicit zeros included.
func (c *CSRLP) Stored() int64 { return int64(len(c.ColIdx)) }

// NNZ counts the stored values that are not ±0 (NaN counts; an int8 row with scale 0
// still counts its nonzero q), as DenseLP.NNZ does.
func (c *CSRLP) NNZ() int64 { return countLPNonzero(c.Bits, c.I8) }

// ToCSR widens the values into a new float32 CSR (the pattern copied): bf16 and f16
// exactly, int8 as Scale[row]·q (one float32 rounding), as DenseLP.RowFloat32.
func (c *CSRLP) ToCSR() *CSR {
	out := &CSR{Rows: c.Rows, Cols: c.Cols, RowPtr: append([]int64(nil), c.RowPtr...),
		ColIdx: append([]int32(nil), c.ColIdx...), Val: make([]float32, len(c.ColIdx))}
	if c.DType != I8 {
		widenLP(c.DType, c.Bits, nil, 0, out.Val)
		return out
	}
	for i := 0; i < c.Rows; i++ {
		lo, hi := c.RowPtr[i], c.RowPtr[i+1]
		widenLP(I8, nil, c.I8[lo:hi], c.Scale[i], out.Val[lo:hi])
	}
	return out
}

// ToDense widens the matrix into a new float32 Dense (stride = cols); see ToCSR.
func (c *CSRLP) ToDense() *Dense { return c.ToCSR().ToDense() }

// CSRLPFromCSR converts c's values to dtype t, on request only, with DenseLPFromDense's
// rules: bf16 and f16 round to nearest even (f16 overflows to ±Inf, NaN stays NaN); int8
// takes Scale[i] = max|v|/127 over row i's stored values and q = v/Scale rounded to
// nearest even, and a NaN or ±Inf value is an error, never a silent change. The pattern
// is copied; stored zeros stay stored.
func CSRLPFromCSR(c *CSR, t DType) (*CSRLP, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	d := &CSRLP{Rows: c.Rows, Cols: c.Cols, RowPtr: append([]int64(nil), c.RowPtr...),
		ColIdx: append([]int32(nil), c.ColIdx...), DType: t}
	switch t {
	case BF16, F16:
		d.Bits = make([]uint16, len(c.Val))
		round16(t, c.Val, d.Bits)
	case I8:
		d.I8, d.Scale = make([]int8, len(c.Val)), make([]float32, c.Rows)
		for i := 0; i < c.Rows; i++ {
			lo, hi := c.RowPtr[i], c.RowPtr[i+1]
			s, bad := quantizeI8(c.Val[lo:hi], d.I8[lo:hi])
			if bad >= 0 {
				p := lo + int64(bad)
				return nil, invalid("csr i8", fmt.Sprintf("row %d, column %d", i, c.ColIdx[p]), "%v cannot be quantised to int8", c.Val[p])
			}
			d.Scale[i] = s
		}
	default:
		return nil, fmt.Errorf("formats: cannot convert to %v", t)
	}
	return d, d.Validate()
}
