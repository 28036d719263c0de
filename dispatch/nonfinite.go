package dispatch

import (
	"github.com/sparsegen/sparsegen/ref"
)

// One NaN/Inf rule for every kernel, N, layout and thread count: scipy.sparse's. Stored
// entries of W multiply by IEEE rules (a stored zero times Inf is NaN; a stored NaN spreads
// to its row), absent entries contribute nothing, and zeros that packing adds (block
// padding, N:M slots, the zeros of a sparse W converted to dense) never turn a finite result
// into NaN. The kernels already follow it for finite X, where an added zero contributes an
// exact 0. For X holding NaN or ±Inf they would not (a padding zero times Inf is NaN, and a
// CSR kernel skips the columns a row does not store while a dense one multiplies them), so
// a call first scans X (one compare per value, cheap beside the product) and runs a call
// with a non-finite X on the reference kernels over W as given to Compile: its stored
// entries, nothing added. Such calls are slower (one thread, no SIMD), not different.

// finite reports whether the rows×n operand at x (row stride ld) holds no NaN or ±Inf.
func finite(x []float32, ld, rows, n int) bool {
	for r := 0; r < rows; r++ {
		row := x[r*ld : r*ld+n]
		var acc float32
		for _, v := range row {
			acc += v - v // 0 for a finite v, NaN for NaN or ±Inf; NaN stays
		}
		if acc != 0 {
			return false
		}
	}
	return true
}

// refMul computes channel-major Y for one item on W as given (see above).
func (p *Plan) refMul(y []float32, ldy int, x []float32, ldx, n int) error {
	return ref.Matrix(p.w, x, ldx, y, ldy, n, p.epiP)
}

// refTokens computes token-major Y (n×M) from X (n×K) one token at a time on W as given.
func (p *Plan) refTokens(y []float32, ldy int, x []float32, ldx, n int) error {
	for t := 0; t < n; t++ {
		if err := ref.Matrix(p.w, x[t*ldx:t*ldx+p.k], 1, y[t*ldy:t*ldy+p.m], 1, 1, p.epiP); err != nil {
			return err
		}
	}
	return nil
}
