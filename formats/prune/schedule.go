package prune

import (
	"fmt"
	"math"

	"github.com/sparsegen/sparsegen/formats"
)

// Schedule is Zhu & Gupta's gradual pruning schedule ("To prune, or not to prune", 2017):
// starting at step t0 = Start and pruning every Δt = Every steps for n = Steps steps, the
// sparsity goes from s_i = Initial to s_f = Final as
//
//	s_t = s_f + (s_i − s_f)·(1 − (t − t0)/(n·Δt))³,  t0 ≤ t ≤ t0 + n·Δt,
//
// and stays at s_i before t0 and at s_f after t0 + n·Δt. It prunes fast at first, while
// redundant weights are plenty, and slowly near the end.
type Schedule struct {
	Initial, Final float64 // s_i, s_f in [0, 1]
	Start          int     // t0
	Every          int     // Δt ≥ 1
	Steps          int     // n ≥ 1
}

// Validate checks the sparsities and the step counts.
func (s Schedule) Validate() error {
	if math.IsNaN(s.Initial) || s.Initial < 0 || s.Initial > 1 || math.IsNaN(s.Final) || s.Final < 0 || s.Final > 1 {
		return fmt.Errorf("%w: schedule sparsities s_i = %v, s_f = %v must lie in [0, 1]", ErrTarget, s.Initial, s.Final)
	}
	if s.Every < 1 || s.Steps < 1 {
		return fmt.Errorf("%w: schedule needs Every ≥ 1 and Steps ≥ 1 (got %d, %d)", ErrTarget, s.Every, s.Steps)
	}
	if int64(s.Every)*int64(s.Steps) > math.MaxInt32 || int64(s.Start)+int64(s.Every)*int64(s.Steps) > math.MaxInt64/2 {
		return fmt.Errorf("%w: schedule span %d×%d too long", ErrTarget, s.Steps, s.Every)
	}
	return nil
}

// End is t0 + n·Δt, the step at which the final sparsity is reached.
func (s Schedule) End() int { return s.Start + s.Every*s.Steps }

// At returns s_t (clamped outside [t0, t0 + n·Δt]).
func (s Schedule) At(t int) float64 {
	switch {
	case t <= s.Start:
		return s.Initial
	case t >= s.End():
		return s.Final
	}
	f := 1 - float64(t-s.Start)/float64(s.Every*s.Steps)
	return s.Final + (s.Initial-s.Final)*f*f*f
}

// PruneSteps lists the steps at which pruning happens: t0, t0+Δt, …, t0+n·Δt.
func (s Schedule) PruneSteps() []int {
	out := make([]int, s.Steps+1)
	for i := range out {
		out[i] = s.Start + i*s.Every
	}
	return out
}

// Apply runs the schedule on w: at every pruning step t (PruneSteps) it first calls update
// (when not nil; it stands for the training between pruning steps and may return new
// weights of the same shape), then prunes the current weights to At(t) with prune (when
// nil, Magnitude). Weights pruned earlier are zero, so magnitude pruning keeps them pruned
// unless update revives them. w is not modified; the result is the final pruned matrix.
func (s Schedule) Apply(w *formats.Dense,
	prune func(w *formats.Dense, sparsity float64) (*formats.Dense, error),
	update func(step int, w *formats.Dense) (*formats.Dense, error)) (*formats.Dense, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if prune == nil {
		prune = Magnitude
	}
	if err := w.Validate(); err != nil {
		return nil, err
	}
	cur := w
	for _, t := range s.PruneSteps() {
		if update != nil {
			next, err := update(t, cur)
			if err != nil {
				return nil, fmt.Errorf("step %d: update: %w", t, err)
			}
			if next == nil || next.Rows != w.Rows || next.Cols != w.Cols {
				return nil, fmt.Errorf("step %d: update changed the shape", t)
			}
			cur = next
		}
		next, err := prune(cur, s.At(t))
		if err != nil {
			return nil, fmt.Errorf("step %d: %w", t, err)
		}
		cur = next
	}
	return cur, nil
}
