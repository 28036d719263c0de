// Package ref holds sparsegen's pure-Go reference kernels: Y = act(W·X + b [+ Y]) for every
// canonical format. They are the oracle every generated kernel is tested against and the
// fallback on any CPU. They favour clarity over speed, but are not naive about memory:
// loops run row by row over X so that they finish in reasonable time on benchmark shapes.
package ref

import (
	"errors"
	"fmt"
	"math"

	"github.com/sparsegen/sparsegen/internal/extent"
)

// Activation selects the function applied in the epilogue.
type Activation uint8

const (
	ActNone  Activation = iota
	ActReLU             // max(x, 0); NaN stays NaN
	ActClamp            // min(max(x, Lo), Hi); NaN stays NaN
	ActGELU             // x·Φ(x), the exact (erf) form
	ActSiLU             // x·σ(x)
)

var actNames = [...]string{"none", "relu", "clamp", "gelu", "silu"}

func (a Activation) String() string {
	if int(a) < len(actNames) {
		return actNames[a]
	}
	return fmt.Sprintf("Activation(%d)", a)
}

// ParseActivation reads "none", "relu", "clamp", "gelu" or "silu".
func ParseActivation(s string) (Activation, error) {
	for i, n := range actNames {
		if n == s {
			return Activation(i), nil
		}
	}
	return 0, fmt.Errorf("unknown activation %q (want none, relu, clamp, gelu or silu)", s)
}

// Epilogue is fused into the store of every kernel:
//
//	Y[m, n] = act(Σ_k W[m,k]·X[k,n] + Bias[m] + (Accumulate ? Y[m, n] : 0))
//
// Bias is optional (nil or length M). Lo and Hi bound ActClamp.
type Epilogue struct {
	Bias       []float32
	Act        Activation
	Lo, Hi     float32
	Accumulate bool
}

// Check validates the epilogue for an M-row output.
func (e *Epilogue) Check(m int) error {
	if e == nil {
		return nil
	}
	if e.Bias != nil && len(e.Bias) != m {
		return fmt.Errorf("bias has length %d, want M = %d", len(e.Bias), m)
	}
	if e.Act > ActSiLU {
		return fmt.Errorf("unknown activation %d", e.Act)
	}
	if e.Act == ActClamp && !(e.Lo <= e.Hi) {
		return fmt.Errorf("clamp bounds lo = %v > hi = %v (or NaN)", e.Lo, e.Hi)
	}
	return nil
}

// Apply maps one accumulated value of row m through the epilogue; old is Y's previous value.
func (e *Epilogue) Apply(acc float32, m int, old float32) float32 {
	if e == nil {
		return acc
	}
	if e.Bias != nil {
		acc += e.Bias[m]
	}
	if e.Accumulate {
		acc += old
	}
	return Activate(e.Act, acc, e.Lo, e.Hi)
}

// Activate applies one activation to x; NaN propagates through all of them.
func Activate(a Activation, x, lo, hi float32) float32 {
	switch a {
	case ActReLU:
		if x < 0 {
			return 0
		}
		return x // NaN and +0/-0 pass through
	case ActClamp:
		if x < lo {
			return lo
		}
		if x > hi {
			return hi
		}
		return x
	case ActGELU:
		return float32(0.5 * float64(x) * (1 + math.Erf(float64(x)/math.Sqrt2)))
	case ActSiLU:
		xf := float64(x)
		return float32(xf / (1 + math.Exp(-xf)))
	}
	return x
}

// Activate64 is Activate in float64, for oracles.
func Activate64(a Activation, x float64, lo, hi float32) float64 {
	switch a {
	case ActReLU:
		if x < 0 {
			return 0
		}
		return x
	case ActClamp:
		if x < float64(lo) {
			return float64(lo)
		}
		if x > float64(hi) {
			return float64(hi)
		}
		return x
	case ActGELU:
		return 0.5 * x * (1 + math.Erf(x/math.Sqrt2))
	case ActSiLU:
		return x / (1 + math.Exp(-x))
	}
	return x
}

// ErrShape is wrapped by every shape or stride error of the kernels' entry points.
var ErrShape = errors.New("shape mismatch")

// CheckOperands validates X (K×N, stride ldx) and Y (M×N, stride ldy) for an M×K weight.
func CheckOperands(m, k, n int, x []float32, ldx int, y []float32, ldy int) error {
	if n < 0 {
		return fmt.Errorf("%w: negative N = %d", ErrShape, n)
	}
	if ldx < n || ldy < n {
		return fmt.Errorf("%w: ldx = %d, ldy = %d must be ≥ N = %d", ErrShape, ldx, ldy, n)
	}
	if n == 0 || m == 0 {
		return nil
	}
	if need, ok := extent.Span(int64(k), int64(n), int64(ldx)); !ok || int64(len(x)) < need {
		return fmt.Errorf("%w: X has %d values, K×N = %d×%d with ldx %d needs %s", ErrShape, len(x), k, n, ldx, extent.Need(need, ok))
	}
	if need, ok := extent.Span(int64(m), int64(n), int64(ldy)); !ok || int64(len(y)) < need {
		return fmt.Errorf("%w: Y has %d values, M×N = %d×%d with ldy %d needs %s", ErrShape, len(y), m, n, ldy, extent.Need(need, ok))
	}
	return nil
}
