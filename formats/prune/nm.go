package prune

import (
	"fmt"
	"math"

	"github.com/sparsegen/sparsegen/formats"
)

// NM prunes w to keep:group along K: in every group of group consecutive columns of a row
// (aligned at multiples of group) it keeps the keep largest magnitudes, ties to the lower
// position, NaN first; a last partial group of r columns keeps min(keep, r). The kept
// positions of a group with fewer nonzeros than slots include zeros (stored zero values,
// as formats.NM requires a full set of slots).
func NM(w *formats.Dense, keep, group int) (*formats.NM, error) {
	return NMShared(w, keep, group, 1)
}

// NMShared is NM with the positions shared by bands of rows consecutive rows (the last band
// may be shorter): in each group the band keeps the keep columns of the largest summed
// magnitude over its rows, so every row stays keep:group and a band's kept weights form
// rows×1 blocks (dispatch runs them as BSR rows×1, one X load serving the band). It keeps
// less of |w| than NM (KeptMass measures how much); rows = 1 is NM.
func NMShared(w *formats.Dense, keep, group, rows int) (*formats.NM, error) {
	if group < 1 || group > formats.MaxGroup || keep < 1 || keep > group {
		return nil, fmt.Errorf("%w: N:M pattern %d:%d needs 1 ≤ N ≤ M ≤ %d", ErrPattern, keep, group, formats.MaxGroup)
	}
	if rows < 1 {
		return nil, fmt.Errorf("%w: rows sharing positions %d, want ≥ 1", ErrPattern, rows)
	}
	if err := w.Validate(); err != nil {
		return nil, err
	}
	shape := &formats.NM{Rows: w.Rows, Cols: w.Cols, Keep: keep, Group: group}
	spr := shape.SlotsPerRow()
	val := make([]float32, w.Rows*spr)
	pos := make([]uint8, w.Rows*spr)
	var keys [formats.MaxGroup]uint32
	var sums [formats.MaxGroup]float64
	for b0 := 0; b0 < w.Rows; b0 += rows {
		b1 := min(b0+rows, w.Rows)
		s := b0 * spr // the band's rows are consecutive: row i's slots follow row i−1's
		for g0 := 0; g0 < w.Cols; g0 += group {
			n := min(group, w.Cols-g0)
			slots := min(keep, n)
			clear(sums[:n])
			for i := b0; i < b1; i++ {
				for p, v := range w.Row(i)[g0 : g0+n] {
					sums[p] += math.Abs(float64(v))
				}
			}
			for p := range n {
				keys[p] = magKey(float32(sums[p]))
			}
			chosen := chooseTop(keys[:n], slots)
			for i := b0; i < b1; i++ {
				q := s + (i-b0)*spr
				for p, v := range w.Row(i)[g0 : g0+n] {
					if chosen&(1<<p) != 0 {
						val[q], pos[q] = v, uint8(p)
						q++
					}
				}
			}
			s += slots
		}
	}
	return formats.NewNM(w.Rows, w.Cols, keep, group, val, pos)
}

// KeptMass is the fraction of w's Σ|w| that pruned keeps: what a pruning pattern costs in
// magnitudes alone (1 when nothing was dropped; NaN entries count as 0).
func KeptMass(w *formats.Dense, pruned formats.Matrix) (float64, error) {
	var all, kept float64
	for i := 0; i < w.Rows; i++ {
		for _, v := range w.Row(i) {
			if a := math.Abs(float64(v)); a == a {
				all += a
			}
		}
	}
	if all == 0 {
		return 1, nil
	}
	d := pruned.ToDense()
	if d.Rows != w.Rows || d.Cols != w.Cols {
		return 0, fmt.Errorf("%w: pruned %d×%d, weights %d×%d", ErrPattern, d.Rows, d.Cols, w.Rows, w.Cols)
	}
	for i := 0; i < d.Rows; i++ {
		for _, v := range d.Row(i) {
			if a := math.Abs(float64(v)); a == a {
				kept += a
			}
		}
	}
	return kept / all, nil
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
