package prune

import (
	"errors"
	"fmt"
	"math"

	"github.com/sparsegen/sparsegen/formats"
)

// Norm scores a block for BlockMagnitude.
type Norm uint8

const (
	L1 Norm = 1 // Σ|w|
	L2 Norm = 2 // √Σw² (ranked by Σw², the same order)
)

func (n Norm) String() string {
	switch n {
	case L1:
		return "l1"
	case L2:
		return "l2"
	}
	return fmt.Sprintf("Norm(%d)", n)
}

// ParseNorm reads "l1" or "l2".
func ParseNorm(s string) (Norm, error) {
	switch s {
	case "l1", "L1":
		return L1, nil
	case "l2", "L2":
		return L2, nil
	}
	return 0, fmt.Errorf("%w: unknown norm %q (want l1 or l2)", ErrPattern, s)
}

// BlockMagnitude returns a copy of w that keeps only its best R×C blocks (aligned grid as
// in formats.BSR; a ragged edge block is scored on its actual elements) and zeroes the
// rest. Blocks are ranked by their norm, higher first, ties to the lower block index
// (row-major over the block grid), NaN first. The kept blocks are the prefix of that
// ranking whose element count is closest to (1−sparsity)·n (ties: the larger prefix), so
// with equal blocks the fraction of elements outside kept blocks is as close to sparsity
// as the block size allows. An all-zero block is never kept, so when fewer nonzero
// blocks exist the result is sparser than asked. Zeros inside kept blocks stay stored
// zeros of the BSR: the true density of the result may be lower than 1−sparsity.
func BlockMagnitude(w *formats.Dense, r, c int, norm Norm, sparsity float64) (*formats.Dense, error) {
	sel, err := selectBlocks(w, r, c, norm, sparsity)
	if err == errUseMagnitude {
		return Magnitude(w, sparsity)
	}
	if err != nil {
		return nil, err
	}
	out := &formats.Dense{Rows: w.Rows, Cols: w.Cols, Stride: max(w.Cols, 1), Data: make([]float32, w.Rows*w.Cols)}
	sel.each(func(bi, bj int) {
		h, bw := sel.dims(bi, bj)
		for rr := 0; rr < h; rr++ {
			i := bi*r + rr
			copy(out.Data[i*w.Cols+bj*c:], w.Row(i)[bj*c:bj*c+bw])
		}
	})
	return out, nil
}

// BlockMagnitudeBSR is BlockMagnitude returning the kept blocks as a BSR R×C (exactly the
// kept blocks are stored).
func BlockMagnitudeBSR(w *formats.Dense, r, c int, norm Norm, sparsity float64) (*formats.BSR, error) {
	sel, err := selectBlocks(w, r, c, norm, sparsity)
	if err == errUseMagnitude {
		d, err := Magnitude(w, sparsity)
		if err != nil {
			return nil, err
		}
		return formats.BSRFromDense(d, 1, 1)
	}
	if err != nil {
		return nil, err
	}
	rowPtr := make([]int64, sel.br+1)
	var cols []int32
	var vals []float32
	for bi := 0; bi < sel.br; bi++ {
		for bj := 0; bj < sel.bc; bj++ {
			if !sel.kept(bi*sel.bc + bj) {
				continue
			}
			cols = append(cols, int32(bj))
			h, bw := sel.dims(bi, bj)
			for rr := 0; rr < h; rr++ {
				vals = append(vals, w.Row(bi*r + rr)[bj*c:bj*c+bw]...)
			}
		}
		rowPtr[bi+1] = int64(len(cols))
	}
	return formats.NewBSR(w.Rows, w.Cols, r, c, rowPtr, cols, vals)
}

// blockSelection is the outcome of ranking the blocks: keys above t are kept, and keys
// equal to t up to and including block index lastTie.
type blockSelection struct {
	rows, cols, r, c int
	br, bc           int
	keys             []uint64
	t                uint64
	lastTie          int // -1: no block with key t is kept
}

func (s *blockSelection) dims(bi, bj int) (h, w int) {
	return min(s.r, s.rows-bi*s.r), min(s.c, s.cols-bj*s.c)
}

func (s *blockSelection) kept(b int) bool {
	k := s.keys[b]
	return k != 0 && (k > s.t || (k == s.t && b <= s.lastTie))
}

func (s *blockSelection) each(f func(bi, bj int)) {
	for b := range s.keys {
		if s.kept(b) {
			f(b/s.bc, b%s.bc)
		}
	}
}

var errUseMagnitude = errors.New("1×1 blocks: use Magnitude")

func checkBlock(w *formats.Dense, r, c int, norm Norm, sparsity float64) error {
	if err := checkSparsity(sparsity); err != nil {
		return err
	}
	if r < 1 || c < 1 || r > formats.MaxBlockDim || c > formats.MaxBlockDim {
		return fmt.Errorf("%w: block %d×%d outside 1…%d", ErrPattern, r, c, formats.MaxBlockDim)
	}
	if norm != L1 && norm != L2 {
		return fmt.Errorf("%w: unknown norm %d (want L1 or L2)", ErrPattern, norm)
	}
	return w.Validate()
}

func selectBlocks(w *formats.Dense, r, c int, norm Norm, sparsity float64) (*blockSelection, error) {
	if err := checkBlock(w, r, c, norm, sparsity); err != nil {
		return nil, err
	}
	if r == 1 && c == 1 {
		// 1×1 blocks rank like Magnitude (|w| and w² order alike, NaN first, ties by index);
		// Magnitude's radix selection needs no per-element keys.
		return nil, errUseMagnitude
	}
	s := &blockSelection{rows: w.Rows, cols: w.Cols, r: r, c: c,
		br: (w.Rows + r - 1) / r, bc: (w.Cols + c - 1) / c, lastTie: -1}
	// Scores, summed in float64 row by row: deterministic, and ranked by their bits
	// (non-negative floats order like their bits; the sign is cleared so NaN ranks first).
	s.keys = make([]uint64, s.br*s.bc) // float64 bits of the running sums
	for i := 0; i < w.Rows; i++ {
		row := w.Row(i)
		keys := s.keys[(i/r)*s.bc:]
		for bj, j0 := 0, 0; j0 < w.Cols; bj, j0 = bj+1, j0+c {
			var sum float64
			if norm == L1 {
				for _, v := range row[j0:min(j0+c, w.Cols)] {
					sum += math.Abs(float64(v))
				}
			} else {
				for _, v := range row[j0:min(j0+c, w.Cols)] {
					sum += float64(v) * float64(v)
				}
			}
			keys[bj] = math.Float64bits(math.Float64frombits(keys[bj]) + sum)
		}
	}
	for b, k := range s.keys {
		s.keys[b] = k &^ (1 << 63)
	}
	weight := func(b int) int64 {
		h, bw := s.dims(b/s.bc, b%s.bc)
		return int64(h * bw)
	}

	n := int64(w.Rows) * int64(w.Cols)
	target := n - zerosFor(sparsity, n) // elements to keep
	var avail int64                     // elements in blocks that may be kept
	for b, k := range s.keys {
		if k != 0 {
			avail += weight(b)
		}
	}
	if target <= 0 {
		s.t = math.MaxUint64
		return s, nil
	}
	if avail <= target {
		s.t = 0 // keep every block with a nonzero score
		return s, nil
	}
	// Weighted radix selection, 16 bits a level: find t with W(key > t) < target ≤ W(key ≥ t).
	var hist [1 << 16]int64
	var prefix uint64
	var above int64
	for level := 0; level < 4; level++ {
		shift := uint(48 - 16*level)
		clear(hist[:])
		for b, k := range s.keys {
			if level > 0 && k>>(shift+16) != prefix {
				continue
			}
			hist[(k>>shift)&0xffff] += weight(b)
		}
		d := 0
		for d = len(hist) - 1; d > 0; d-- {
			if above+hist[d] >= target {
				break
			}
			above += hist[d]
		}
		prefix = prefix<<16 | uint64(d)
	}
	s.t = prefix
	// Blocks with key t, in index order, until the prefix crosses the target; keep the
	// crossing block when that lands at least as close.
	acc := above
	for b, k := range s.keys {
		if k != s.t {
			continue
		}
		wb := weight(b)
		if acc+wb >= target {
			if acc+wb-target <= target-acc {
				s.lastTie = b
			}
			break
		}
		acc += wb
		s.lastTie = b
	}
	return s, nil
}
