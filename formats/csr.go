package formats

import (
	"fmt"
	"math/bits"
)

// CSR is compressed sparse row storage of an M×K matrix: row i holds the entries
// ColIdx[RowPtr[i]:RowPtr[i+1]] with values Val[...].
//
// Invariants (Validate): len(RowPtr) = M+1, RowPtr[0] = 0, RowPtr monotone, RowPtr[M] =
// len(ColIdx) = len(Val); 0 ≤ ColIdx < K and strictly increasing within a row. RowPtr is
// int64 because nnz may exceed 2³¹; column indices fit int32 since K ≤ MaxInt32 is required.
// Explicitly stored zeros are allowed (they are multiplied like any weight).
type CSR struct {
	Rows, Cols int
	RowPtr     []int64
	ColIdx     []int32
	Val        []float32
}

// NewCSR validates and wraps the arrays (no copy).
func NewCSR(rows, cols int, rowPtr []int64, colIdx []int32, val []float32) (*CSR, error) {
	c := &CSR{Rows: rows, Cols: cols, RowPtr: rowPtr, ColIdx: colIdx, Val: val}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// ValidateStructure checks the invariants that do not depend on the column indices: shape,
// lengths, and row pointers monotone within [0, nnz] with at most K entries per row. It is
// O(M); a packer that checks each index as it reads it (in range, strictly increasing in its
// row) needs only this, instead of a second pass over every entry.
func (c *CSR) ValidateStructure() error {
	if c == nil {
		return invalid("csr", "", "nil matrix")
	}
	return csrStructure("csr", c.Rows, c.Cols, c.RowPtr, c.ColIdx, "len(Val)", len(c.Val))
}

// Validate checks every invariant (see CSR): the structure, then every column index.
func (c *CSR) Validate() error {
	if err := c.ValidateStructure(); err != nil {
		return err
	}
	return csrColumns("csr", c.Rows, c.Cols, c.RowPtr, c.ColIdx)
}

// csrStructure is ValidateStructure for a CSR pattern of format f whose values, nval of
// them, are called val in messages (CSR and CSRLP share it).
func csrStructure(f string, rows, cols int, rowPtr []int64, colIdx []int32, val string, nval int) error {
	if err := checkShape(f, rows, cols); err != nil {
		return err
	}
	if cols > MaxInt32 {
		return invalid(f, "", "K = %d exceeds the int32 column index range", cols)
	}
	if len(rowPtr) != rows+1 {
		return invalid(f, "", "len(RowPtr) = %d, want M+1 = %d", len(rowPtr), rows+1)
	}
	if rowPtr[0] != 0 {
		return invalid(f, "row 0", "RowPtr[0] = %d, want 0", rowPtr[0])
	}
	nnz := rowPtr[rows]
	if nnz != int64(len(colIdx)) || nnz != int64(nval) {
		return invalid(f, "", "RowPtr[M] = %d but len(ColIdx) = %d, %s = %d", nnz, len(colIdx), val, nval)
	}
	for i := 0; i < rows; i++ {
		lo, hi := rowPtr[i], rowPtr[i+1]
		if hi < lo || hi > nnz {
			return invalid(f, fmt.Sprintf("row %d", i), "RowPtr not monotone within [0, nnz]: %d then %d", lo, hi)
		}
		if hi-lo > int64(cols) {
			return invalid(f, fmt.Sprintf("row %d", i), "%d entries in a row of %d columns", hi-lo, cols)
		}
	}
	return nil
}

// csrColumns checks every column index of a CSR pattern whose structure csrStructure
// accepted: in [0, K), strictly increasing within its row.
func csrColumns(f string, rows, cols int, rowPtr []int64, colIdx []int32) error {
	for i := 0; i < rows; i++ {
		lo, hi := rowPtr[i], rowPtr[i+1]
		prev := int32(-1)
		for p := lo; p < hi; p++ {
			j := colIdx[p]
			if j < 0 || int(j) >= cols {
				return invalid(f, fmt.Sprintf("row %d, index %d", i, p), "column %d outside [0, %d)", j, cols)
			}
			if j <= prev {
				return invalid(f, fmt.Sprintf("row %d, index %d", i, p), "column %d not strictly after %d (unsorted or duplicate)", j, prev)
			}
			prev = j
		}
	}
	return nil
}

// Shape returns (M, K).
func (c *CSR) Shape() (int, int) { return c.Rows, c.Cols }

// Stored is the number of stored entries, explicit zeros included.
func (c *CSR) Stored() int64 { return int64(len(c.Val)) }

// NNZ counts stored values that are not zero.
func (c *CSR) NNZ() int64 { return countNonzero(c.Val) }

// RowNNZ returns the number of stored entries of row i.
func (c *CSR) RowNNZ(i int) int { return int(c.RowPtr[i+1] - c.RowPtr[i]) }

// CSRFromDense keeps the nonzero entries of d.
func CSRFromDense(d *Dense) (*CSR, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	if err := checkCSRCols(d); err != nil {
		return nil, err
	}
	return csrFromBits(d, denseBits(d)), nil
}

func checkCSRCols(d *Dense) error {
	if d.Cols > MaxInt32 {
		return invalid("csr", "", "K = %d exceeds the int32 column index range", d.Cols)
	}
	return nil
}

// rowBits is the nonzero bitmap of a Dense (1/32 of its size) with each row's count: the
// one pass over the values that CSRFromDense and Measure share (see MeasureDense).
type rowBits struct {
	nw     int      // words per row
	mask   []uint64 // row i: mask[i*nw : (i+1)*nw]
	rowPtr []int64  // prefix sums of the rows' counts
}

func (b *rowBits) row(i int) []uint64 { return b.mask[i*b.nw : (i+1)*b.nw] }

func denseBits(d *Dense) *rowBits {
	b := &rowBits{nw: (d.Cols + 63) / 64, rowPtr: make([]int64, d.Rows+1)}
	b.mask = make([]uint64, d.Rows*b.nw)
	var q int64
	for i := 0; i < d.Rows; i++ {
		q += nonzeroBits(d.Row(i), b.row(i))
		b.rowPtr[i+1] = q
	}
	return b
}

// csrFromBits gathers the set bits of b (made from d): pass 2 visits only the nonzeros. A
// branch-free compaction instead stored every entry, zero or not, and needed a counting
// pass of its own before it.
func csrFromBits(d *Dense, b *rowBits) *CSR {
	q := b.rowPtr[d.Rows]
	c := &CSR{Rows: d.Rows, Cols: d.Cols, RowPtr: b.rowPtr, ColIdx: make([]int32, q), Val: make([]float32, q)}
	for i := 0; i < d.Rows; i++ {
		lo, hi := c.RowPtr[i], c.RowPtr[i+1]
		gatherBits(d.Row(i), b.row(i), c.ColIdx[lo:hi], c.Val[lo:hi])
	}
	return c
}

// nonzeroBits sets bit j%64 of word j/64 of bm where row[j] is nonzero (NaN counts, −0
// does not) and returns how many are.
func nonzeroBits(row []float32, bm []uint64) int64 {
	var n int64
	full := len(row) / 64
	for w := 0; w < full; w++ {
		seg := row[w*64 : w*64+64]
		var x0, x1, x2, x3 uint64 // four independent chains
		for b := 0; b < 64; b += 4 {
			x0 |= uint64(isNonzero(seg[b])) << uint(b)
			x1 |= uint64(isNonzero(seg[b+1])) << uint(b+1)
			x2 |= uint64(isNonzero(seg[b+2])) << uint(b+2)
			x3 |= uint64(isNonzero(seg[b+3])) << uint(b+3)
		}
		x := x0 | x1 | x2 | x3
		bm[w] = x
		n += int64(bits.OnesCount64(x))
	}
	if full < len(bm) {
		var x uint64
		for b, v := range row[full*64:] {
			x |= uint64(isNonzero(v)) << uint(b)
		}
		bm[full] = x
		n += int64(bits.OnesCount64(x))
	}
	return n
}

// gatherBits writes the column and value of each set bit of bm, in order, to cols and vals
// (as long as the bitmap's count).
func gatherBits(row []float32, bm []uint64, cols []int32, vals []float32) {
	p := 0
	for w, x := range bm {
		for x != 0 {
			j := w*64 + bits.TrailingZeros64(x)
			cols[p], vals[p] = int32(j), row[j]
			p++
			x &= x - 1
		}
	}
}

// ToDense expands c.
func (c *CSR) ToDense() *Dense {
	d := &Dense{Rows: c.Rows, Cols: c.Cols, Stride: c.Cols, Data: make([]float32, c.Rows*c.Cols)}
	for i := 0; i < c.Rows; i++ {
		row := d.Data[i*c.Cols:]
		for p := c.RowPtr[i]; p < c.RowPtr[i+1]; p++ {
			row[c.ColIdx[p]] = c.Val[p]
		}
	}
	return d
}
