package formats

import (
	"fmt"
	"slices"
)

// BSR is block sparse row storage with R×C blocks on an aligned grid: block (i, j) covers
// rows i·R … and columns j·C …. A ragged last block row (M % R ≠ 0) or column (K % C ≠ 0)
// is stored narrower, h = min(R, M−i·R) rows by w = min(C, K−j·C) columns, never padded past
// M or K, so no kernel reads X rows ≥ K.
//
// Block row i holds the blocks BlockRowPtr[i] ≤ p < BlockRowPtr[i+1], with block column
// BlockCol[p] (strictly increasing within a block row). Values are stored block after block,
// each block row-major h×w. Zeros inside a stored block are stored (and multiplied).
type BSR struct {
	Rows, Cols  int
	R, C        int
	BlockRowPtr []int64
	BlockCol    []int32
	Val         []float32

	off []int64 // off[p] = offset of block p in Val; filled by Validate
}

// NewBSR validates and wraps the arrays (no copy).
func NewBSR(rows, cols, r, c int, blockRowPtr []int64, blockCol []int32, val []float32) (*BSR, error) {
	b := &BSR{Rows: rows, Cols: cols, R: r, C: c, BlockRowPtr: blockRowPtr, BlockCol: blockCol, Val: val}
	if err := b.Validate(); err != nil {
		return nil, err
	}
	return b, nil
}

// MaxBlockDim bounds R and C.
const MaxBlockDim = 64

// BlockRows is ⌈M/R⌉.
func (b *BSR) BlockRows() int { return ceilDiv(b.Rows, b.R) }

// BlockCols is ⌈K/C⌉.
func (b *BSR) BlockCols() int { return ceilDiv(b.Cols, b.C) }

// NumBlocks is the number of stored blocks.
func (b *BSR) NumBlocks() int { return len(b.BlockCol) }

// BlockDims returns the height and width of block (i, j): R×C except on ragged edges.
func (b *BSR) BlockDims(i, j int) (h, w int) {
	return min(b.R, b.Rows-i*b.R), min(b.C, b.Cols-j*b.C)
}

// BlockOffset returns the offset in Val of stored block p (0 ≤ p ≤ NumBlocks).
func (b *BSR) BlockOffset(p int) int64 {
	if b.off == nil {
		b.computeOffsets()
	}
	return b.off[p]
}

func ceilDiv(a, b int) int {
	if b <= 0 {
		return 0
	}
	return (a + b - 1) / b
}

func (b *BSR) computeOffsets() {
	b.off = make([]int64, len(b.BlockCol)+1)
	var o int64
	for i := 0; i < b.BlockRows(); i++ {
		for p := b.BlockRowPtr[i]; p < b.BlockRowPtr[i+1]; p++ {
			b.off[p] = o
			h, w := b.BlockDims(i, int(b.BlockCol[p]))
			o += int64(h * w)
		}
	}
	b.off[len(b.BlockCol)] = o
}

// Validate proves the BSR invariants.
func (b *BSR) Validate() error {
	if b == nil {
		return invalid("bsr", "", "nil matrix")
	}
	vals, err := bsrStructure("bsr", b.Rows, b.Cols, b.R, b.C, b.BlockRowPtr, b.BlockCol)
	if err != nil {
		return err
	}
	if vals != int64(len(b.Val)) {
		return invalid("bsr", "", "len(Val) = %d, the stored blocks need %d", len(b.Val), vals)
	}
	b.computeOffsets()
	return nil
}

// bsrStructure checks a BSR pattern (shape, block size, BlockRowPtr, BlockCol; messages
// name format f) and returns how many values its stored blocks hold (BSR and BSRLP share
// it).
func bsrStructure(f string, rows, cols, r, c int, blockRowPtr []int64, blockCol []int32) (int64, error) {
	if err := checkShape(f, rows, cols); err != nil {
		return 0, err
	}
	if r < 1 || c < 1 || r > MaxBlockDim || c > MaxBlockDim {
		return 0, invalid(f, "", "block %d×%d outside 1…%d", r, c, MaxBlockDim)
	}
	if cols > MaxInt32 {
		return 0, invalid(f, "", "K = %d exceeds the int32 index range", cols)
	}
	br, bc := ceilDiv(rows, r), ceilDiv(cols, c)
	if len(blockRowPtr) != br+1 {
		return 0, invalid(f, "", "len(BlockRowPtr) = %d, want ⌈M/R⌉+1 = %d", len(blockRowPtr), br+1)
	}
	if blockRowPtr[0] != 0 {
		return 0, invalid(f, "block row 0", "BlockRowPtr[0] = %d, want 0", blockRowPtr[0])
	}
	nb := blockRowPtr[br]
	if nb != int64(len(blockCol)) {
		return 0, invalid(f, "", "BlockRowPtr[last] = %d but len(BlockCol) = %d", nb, len(blockCol))
	}
	var vals int64
	for i := 0; i < br; i++ {
		lo, hi := blockRowPtr[i], blockRowPtr[i+1]
		if hi < lo || hi > nb {
			return 0, invalid(f, fmt.Sprintf("block row %d", i), "BlockRowPtr not monotone within [0, blocks]: %d then %d", lo, hi)
		}
		if hi-lo > int64(bc) {
			return 0, invalid(f, fmt.Sprintf("block row %d", i), "%d blocks in a row of %d block columns", hi-lo, bc)
		}
		prev := int32(-1)
		h := min(r, rows-i*r)
		for p := lo; p < hi; p++ {
			j := blockCol[p]
			if j < 0 || int(j) >= bc {
				return 0, invalid(f, fmt.Sprintf("block row %d, block %d", i, p), "block column %d outside [0, %d)", j, bc)
			}
			if j <= prev {
				return 0, invalid(f, fmt.Sprintf("block row %d, block %d", i, p), "block column %d not strictly after %d", j, prev)
			}
			prev = j
			vals += int64(h * min(c, cols-int(j)*c))
		}
	}
	return vals, nil
}

// Shape returns (M, K).
func (b *BSR) Shape() (int, int) { return b.Rows, b.Cols }

// Stored is the number of stored values, zeros inside blocks included.
func (b *BSR) Stored() int64 { return int64(len(b.Val)) }

// NNZ counts the stored values that are not zero.
func (b *BSR) NNZ() int64 { return countNonzero(b.Val) }

// ToDense expands b.
func (b *BSR) ToDense() *Dense {
	d := &Dense{Rows: b.Rows, Cols: b.Cols, Stride: b.Cols, Data: make([]float32, b.Rows*b.Cols)}
	for i := 0; i < b.BlockRows(); i++ {
		for p := b.BlockRowPtr[i]; p < b.BlockRowPtr[i+1]; p++ {
			j := int(b.BlockCol[p])
			h, w := b.BlockDims(i, j)
			v := b.Val[b.BlockOffset(int(p)):]
			for r := 0; r < h; r++ {
				copy(d.Data[(i*b.R+r)*b.Cols+j*b.C:], v[r*w:r*w+w])
			}
		}
	}
	return d
}

// BSRFromDense keeps every R×C block of d that has at least one nonzero.
func BSRFromDense(d *Dense, r, c int) (*BSR, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	if r < 1 || c < 1 || r > MaxBlockDim || c > MaxBlockDim {
		return nil, invalid("bsr", "", "block %d×%d outside 1…%d", r, c, MaxBlockDim)
	}
	b := &BSR{Rows: d.Rows, Cols: d.Cols, R: r, C: c}
	b.BlockRowPtr, b.BlockCol = keptBlocks(d.Rows, d.Cols, r, c,
		func(i, j0, w int) bool {
			return slices.ContainsFunc(d.Row(i)[j0:j0+w], func(v float32) bool { return v != 0 })
		},
		func(i, j0, w int) { b.Val = append(b.Val, d.Row(i)[j0:j0+w]...) })
	if err := b.Validate(); err != nil {
		return nil, err
	}
	return b, nil
}

// ToCSR converts b to CSR, keeping the stored zeros inside blocks out (true nonzeros only).
func (b *BSR) ToCSR() *CSR {
	c, _ := CSRFromDense(b.ToDense())
	return c
}

// keptBlocks walks the r×c block grid of a rows×cols matrix, block row by block row, and
// keeps every block where nonzero(i, j0, w) holds for one of its rows i (columns
// [j0, j0+w)); for a kept block, keep(i, j0, w) is called for each of its rows in order.
// It returns the kept blocks' BlockRowPtr and BlockCol (BSRFromDense, BSRLPFromDenseLP).
func keptBlocks(rows, cols, r, c int, nonzero func(i, j0, w int) bool, keep func(i, j0, w int)) ([]int64, []int32) {
	br, bc := ceilDiv(rows, r), ceilDiv(cols, c)
	ptr := make([]int64, br+1)
	var col []int32
	for bi := 0; bi < br; bi++ {
		h := min(r, rows-bi*r)
		for bj := 0; bj < bc; bj++ {
			j0 := bj * c
			w := min(c, cols-j0)
			kept := false
			for i := bi * r; i < bi*r+h && !kept; i++ {
				kept = nonzero(i, j0, w)
			}
			if !kept {
				continue
			}
			col = append(col, int32(bj))
			for i := bi * r; i < bi*r+h; i++ {
				keep(i, j0, w)
			}
		}
		ptr[bi+1] = int64(len(col))
	}
	return ptr, col
}
