package prune

import (
	"fmt"

	"github.com/sparsegen/sparsegen/formats"
)

// NM prunes w to keep:group along K: in every group of group consecutive columns of a row
// (aligned at multiples of group) it keeps the keep largest magnitudes, ties to the lower
// position, NaN first; a last partial group of r columns keeps min(keep, r). The kept
// positions of a group with fewer nonzeros than slots include zeros (stored zero values,
// as formats.NM requires a full set of slots).
func NM(w *formats.Dense, keep, group int) (*formats.NM, error) {
	if group < 1 || group > formats.MaxGroup || keep < 1 || keep > group {
		return nil, fmt.Errorf("%w: N:M pattern %d:%d needs 1 ≤ N ≤ M ≤ %d", ErrPattern, keep, group, formats.MaxGroup)
	}
	if err := w.Validate(); err != nil {
		return nil, err
	}
	shape := &formats.NM{Rows: w.Rows, Cols: w.Cols, Keep: keep, Group: group}
	spr := shape.SlotsPerRow()
	val := make([]float32, w.Rows*spr)
	pos := make([]uint8, w.Rows*spr)
	var keys [formats.MaxGroup]uint32
	s := 0
	for i := 0; i < w.Rows; i++ {
		row := w.Row(i)
		for g0 := 0; g0 < w.Cols; g0 += group {
			seg := row[g0:min(g0+group, w.Cols)]
			slots := min(keep, len(seg))
			for p, v := range seg {
				keys[p] = magKey(v)
			}
			chosen := chooseTop(keys[:len(seg)], slots)
			for p := range seg {
				if chosen&(1<<p) != 0 {
					val[s], pos[s] = seg[p], uint8(p)
					s++
				}
			}
		}
	}
	return formats.NewNM(w.Rows, w.Cols, keep, group, val, pos)
}

// chooseTop returns the bit set of the n positions with the largest keys, ties to the lower
// position. It picks the n best, or drops the len−n worst when that is fewer steps.
func chooseTop(keys []uint32, n int) uint32 {
	all := uint32(1)<<len(keys) - 1
	if n >= len(keys) {
		return all
	}
	if n <= len(keys)-n {
		var chosen uint32
		for ; n > 0; n-- {
			best := -1
			for p, k := range keys {
				if chosen&(1<<p) == 0 && (best < 0 || k > keys[best]) {
					best = p
				}
			}
			chosen |= 1 << best
		}
		return chosen
	}
	dropped := uint32(0)
	for d := len(keys) - n; d > 0; d-- {
		worst := -1
		for p, k := range keys {
			// ≤ moves to the later position on ties: the later one is dropped first.
			if dropped&(1<<p) == 0 && (worst < 0 || k <= keys[worst]) {
				worst = p
			}
		}
		dropped |= 1 << worst
	}
	return all &^ dropped
}
