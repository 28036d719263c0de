package formats

import (
	"fmt"
	"slices"
)

// BSRLP is a BSR matrix (see BSR: the same R×C block grid, BlockRowPtr and BlockCol, the
// same invariants, values block after block, each block row-major h×w) whose values are
// stored in low precision: bf16 or f16 bit patterns in Bits, or int8 values in I8 with one
// float32 scale per matrix row in Scale (symmetric, weight-only quantisation: a value of
// row i is Scale[i]·q; the scale belongs to the row, not to the block row). Exactly the
// slices of its DType are set, as in DenseLP. Kernels accumulate in float32; nothing
// converts a BSR to a BSRLP unless asked (BSRLPFromBSR), and ToBSR widens.
type BSRLP struct {
	Rows, Cols  int
	R, C        int
	BlockRowPtr []int64
	BlockCol    []int32
	DType       DType
	Bits        []uint16  // BF16, F16: one per stored value
	I8          []int8    // I8: one per stored value
	Scale       []float32 // I8: one per row
}

var _ Matrix = (*BSRLP)(nil)

func (b *BSRLP) format() string {
	if b == nil {
		return "bsr"
	}
	return "bsr " + b.DType.String()
}

// Validate checks BSR's invariants on the pattern, the dtype, that exactly its slices
// are set, that they hold one value per stored block entry and, for I8, one scale per row.
func (b *BSRLP) Validate() error {
	if b == nil {
		return invalid("bsr", "", "nil matrix")
	}
	f := b.format()
	if b.DType < BF16 || b.DType > I8 {
		return invalid(f, "", "unknown dtype %d", b.DType)
	}
	vals, err := bsrStructure(f, b.Rows, b.Cols, b.R, b.C, b.BlockRowPtr, b.BlockCol)
	if err != nil {
		return err
	}
	have, err := lpSlices(f, b.DType, b.Rows, b.Bits, b.I8, b.Scale)
	if err != nil {
		return err
	}
	if int64(have) != vals {
		name := "len(Bits)"
		if b.DType == I8 {
			name = "len(I8)"
		}
		return invalid(f, "", "%s = %d, the stored blocks need %d", name, have, vals)
	}
	return nil
}

// Shape returns (M, K).
func (b *BSRLP) Shape() (int, int) { return b.Rows, b.Cols }

// BlockRows is ⌈M/R⌉.
func (b *BSRLP) BlockRows() int { return ceilDiv(b.Rows, b.R) }

// BlockDims returns the height and width of block (i, j): R×C except on ragged edges.
func (b *BSRLP) BlockDims(i, j int) (h, w int) {
	return min(b.R, b.Rows-i*b.R), min(b.C, b.Cols-j*b.C)
}

// Stored is the number of stored values, zeros inside blocks included.
func (b *BSRLP) Stored() int64 { return int64(len(b.Bits) + len(b.I8)) }

// NNZ counts the stored values that are not ±0 (NaN counts; an int8 row with scale 0
// still counts its nonzero q), as DenseLP.NNZ does.
func (b *BSRLP) NNZ() int64 { return countLPNonzero(b.Bits, b.I8) }

// Pattern returns b's pattern as a BSR with no values (nil Val): the shape, the block
// grid and the stored blocks, shared with b (not copied).
func (b *BSRLP) Pattern() *BSR {
	return &BSR{Rows: b.Rows, Cols: b.Cols, R: b.R, C: b.C, BlockRowPtr: b.BlockRowPtr, BlockCol: b.BlockCol}
}

// ToBSR widens the values into a new float32 BSR (the pattern copied): bf16 and f16
// exactly, int8 as Scale[row]·q (one float32 rounding), as DenseLP.RowFloat32.
func (b *BSRLP) ToBSR() *BSR {
	out := &BSR{Rows: b.Rows, Cols: b.Cols, R: b.R, C: b.C,
		BlockRowPtr: append([]int64(nil), b.BlockRowPtr...), BlockCol: append([]int32(nil), b.BlockCol...),
		Val: make([]float32, b.Stored())}
	if b.DType != I8 {
		widenLP(b.DType, b.Bits, nil, 0, out.Val)
	} else {
		var o int
		for i := 0; i < b.BlockRows(); i++ {
			for p := b.BlockRowPtr[i]; p < b.BlockRowPtr[i+1]; p++ {
				h, w := b.BlockDims(i, int(b.BlockCol[p]))
				for r := 0; r < h; r++ {
					widenLP(I8, nil, b.I8[o:o+w], b.Scale[i*b.R+r], out.Val[o:o+w])
					o += w
				}
			}
		}
	}
	out.computeOffsets()
	return out
}

// ToDense widens the matrix into a new float32 Dense (stride = cols); see ToBSR.
func (b *BSRLP) ToDense() *Dense { return b.ToBSR().ToDense() }

// BSRLPFromBSR converts b's values to dtype t, on request only, with DenseLPFromDense's
// rules: bf16 and f16 round to nearest even (f16 overflows to ±Inf, NaN stays NaN); int8
// takes Scale[i] = max|v|/127 over matrix row i's stored values (across its blocks: the
// scale of the dense row, stored zeros changing nothing) and q = v/Scale rounded to
// nearest even, and a NaN or ±Inf value is an error, never a silent change. The pattern is
// copied; stored zeros stay stored.
func BSRLPFromBSR(b *BSR, t DType) (*BSRLP, error) {
	if err := b.Validate(); err != nil {
		return nil, err
	}
	d := &BSRLP{Rows: b.Rows, Cols: b.Cols, R: b.R, C: b.C,
		BlockRowPtr: append([]int64(nil), b.BlockRowPtr...), BlockCol: append([]int32(nil), b.BlockCol...), DType: t}
	switch t {
	case BF16, F16:
		d.Bits = make([]uint16, len(b.Val))
		round16(t, b.Val, d.Bits)
	case I8:
		d.I8, d.Scale = make([]int8, len(b.Val)), make([]float32, b.Rows)
		// Per block row: gather each row's stored values, quantise, scatter back.
		var row []float32
		var q []int8
		for i := 0; i < b.BlockRows(); i++ {
			h, _ := b.BlockDims(i, 0)
			for r := 0; r < h; r++ {
				row, q = row[:0], q[:0]
				var cols []int
				for p := b.BlockRowPtr[i]; p < b.BlockRowPtr[i+1]; p++ {
					j := int(b.BlockCol[p])
					_, w := b.BlockDims(i, j)
					o := b.BlockOffset(int(p)) + int64(r*w)
					row = append(row, b.Val[o:o+int64(w)]...)
					for c := 0; c < w; c++ {
						cols = append(cols, j*b.C+c)
					}
				}
				q = append(q, make([]int8, len(row))...)
				s, bad := quantizeI8(row, q)
				if bad >= 0 {
					return nil, invalid("bsr i8", fmt.Sprintf("row %d, column %d", i*b.R+r, cols[bad]), "%v cannot be quantised to int8", row[bad])
				}
				d.Scale[i*b.R+r] = s
				var k int
				for p := b.BlockRowPtr[i]; p < b.BlockRowPtr[i+1]; p++ {
					_, w := b.BlockDims(i, int(b.BlockCol[p]))
					o := b.BlockOffset(int(p)) + int64(r*w)
					copy(d.I8[o:o+int64(w)], q[k:k+w])
					k += w
				}
			}
		}
	default:
		return nil, fmt.Errorf("formats: cannot convert to %v", t)
	}
	return d, d.Validate()
}

// BSRLPFromDenseLP regroups d into r×c blocks without changing a stored value: the bits
// (bf16, fp16) or int8 values are copied as they are and an int8 matrix keeps its row
// scales, so ToBSR's values equal d.ToDense()'s. A block whose values are all ±0 is not
// stored (as BSRFromDense drops zero blocks); a NaN is a nonzero.
func BSRLPFromDenseLP(d *DenseLP, r, c int) (*BSRLP, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	if r < 1 || c < 1 || r > MaxBlockDim || c > MaxBlockDim {
		return nil, invalid("bsr "+d.DType.String(), "", "block %d×%d outside 1…%d", r, c, MaxBlockDim)
	}
	b := &BSRLP{Rows: d.Rows, Cols: d.Cols, R: r, C: c, DType: d.DType}
	if d.DType == I8 {
		b.Scale = append([]float32(nil), d.Scale[:d.Rows]...)
		b.I8 = []int8{}
	} else {
		b.Bits = []uint16{}
	}
	nonzero := func(i, j0, w int) bool {
		o := i*d.Stride + j0
		if d.DType == I8 {
			return slices.ContainsFunc(d.I8[o:o+w], func(q int8) bool { return q != 0 })
		}
		return slices.ContainsFunc(d.Bits[o:o+w], func(v uint16) bool { return v&0x7fff != 0 }) // ±0 in bf16 and fp16 alike
	}
	b.BlockRowPtr, b.BlockCol = keptBlocks(d.Rows, d.Cols, r, c, nonzero, func(i, j0, w int) {
		o := i*d.Stride + j0
		if d.DType == I8 {
			b.I8 = append(b.I8, d.I8[o:o+w]...)
		} else {
			b.Bits = append(b.Bits, d.Bits[o:o+w]...)
		}
	})
	return b, b.Validate()
}
