// Package prune makes sparse weights from dense ones: magnitude pruning to a target
// sparsity (per layer or global across layers), block magnitude pruning (L1 or L2 norm of
// R×C blocks), N:M magnitude pruning along K, and Zhu & Gupta's gradual schedule.
//
// Conventions shared by every method:
//   - The input is never modified; results are new matrices with stride = cols.
//   - Sparsity s ∈ [0, 1] is the fraction of zeros wanted. Magnitude pruning zeroes
//     round(s·n) entries (half away from zero) of n, so the result has exactly that many
//     zeros, unless the input already had more: then nothing nonzero is removed beyond the
//     smallest and the result is sparser than asked ("exact where reachable").
//   - Ties are broken deterministically: among equal magnitudes (or block scores) the entry
//     with the lower index (row-major; layer order first for Global) is kept.
//   - NaN weights count as larger than any number, +Inf included, so they are always kept:
//     pruning never turns a NaN into a silent zero, and NaN then propagates through every
//     kernel as DESIGN §2 asks. A block containing a NaN has a NaN score and ranks first.
//   - −0 is a zero.
package prune

import (
	"errors"
	"fmt"
	"math"

	"github.com/sparsegen/sparsegen/formats"
)

// ErrTarget is wrapped by every error about a sparsity target or a schedule.
var ErrTarget = errors.New("bad sparsity target")

// ErrPattern is wrapped by every error about a block shape, a norm or an N:M pattern.
var ErrPattern = errors.New("bad pruning pattern")

func checkSparsity(s float64) error {
	if math.IsNaN(s) || s < 0 || s > 1 {
		return fmt.Errorf("%w: sparsity %v outside [0, 1]", ErrTarget, s)
	}
	return nil
}

// zerosFor is the number of zeros a target sparsity asks for among n entries.
func zerosFor(s float64, n int64) int64 {
	z := int64(math.Round(s * float64(n)))
	return min(max(z, 0), n)
}

// magKey orders magnitudes: |v|'s float32 bits, which sort like the values for non-negative
// floats, and put NaN (any payload) above +Inf.
func magKey(v float32) uint32 { return math.Float32bits(v) &^ (1 << 31) }

// Magnitude returns a copy of w keeping its largest-magnitude entries so that a fraction
// sparsity of the entries is zero (see the package conventions for rounding, ties and NaN).
func Magnitude(w *formats.Dense, sparsity float64) (*formats.Dense, error) {
	out, err := Global([]*formats.Dense{w}, sparsity)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// Global prunes several layers with one magnitude threshold over all of them: the
// round(sparsity·Σn) smallest-magnitude entries of all layers together are zeroed, so
// layers with small weights lose more. Ties go to the earlier layer, then the lower index.
func Global(ws []*formats.Dense, sparsity float64) ([]*formats.Dense, error) {
	if err := checkSparsity(sparsity); err != nil {
		return nil, err
	}
	var n int64
	for i, w := range ws {
		if err := w.Validate(); err != nil {
			return nil, fmt.Errorf("layer %d: %w", i, err)
		}
		n += int64(w.Rows) * int64(w.Cols)
	}
	keep := n - zerosFor(sparsity, n)
	t, ties := magnitudeThreshold(ws, keep)
	out := make([]*formats.Dense, len(ws))
	for l, w := range ws {
		o := &formats.Dense{Rows: w.Rows, Cols: w.Cols, Stride: max(w.Cols, 1), Data: make([]float32, w.Rows*w.Cols)}
		if keep > 0 {
			for i := 0; i < w.Rows; i++ {
				dst := o.Data[i*w.Cols : (i+1)*w.Cols]
				for j, v := range w.Row(i) {
					k := magKey(v)
					if k > t || (k == t && ties > 0) {
						if k == t {
							ties--
						}
						dst[j] = v
					}
				}
			}
		}
		out[l] = o
	}
	return out, nil
}

// magnitudeThreshold finds the key t of the keep-th largest magnitude over all layers and
// how many entries equal to t are kept (the first ones in order): every key > t is kept.
// It is a two-level radix selection on 16-bit digits: O(n), no per-entry allocation.
func magnitudeThreshold(ws []*formats.Dense, keep int64) (t uint32, ties int64) {
	if keep <= 0 {
		return math.MaxUint32, 0
	}
	var hist [1 << 16]int64
	for _, w := range ws {
		for i := 0; i < w.Rows; i++ {
			for _, v := range w.Row(i) {
				hist[magKey(v)>>16]++
			}
		}
	}
	hi, above := pickBucket(&hist, keep)
	clear(hist[:])
	for _, w := range ws {
		for i := 0; i < w.Rows; i++ {
			for _, v := range w.Row(i) {
				if k := magKey(v); k>>16 == hi {
					hist[k&0xffff]++
				}
			}
		}
	}
	lo, above2 := pickBucket(&hist, keep-above)
	return hi<<16 | lo, keep - above - above2
}

// pickBucket walks the histogram from the top and returns the bucket holding the need-th
// largest entry and the count above it.
func pickBucket(hist *[1 << 16]int64, need int64) (uint32, int64) {
	var above int64
	for b := len(hist) - 1; b >= 0; b-- {
		if above+hist[b] >= need {
			return uint32(b), above
		}
		above += hist[b]
	}
	return 0, above // unreachable when need ≤ total
}
