package dispatch

import (
	"math"
	"unsafe"

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
		if !finiteRow(x[r*ld : r*ld+n]) {
			return false
		}
	}
	return true
}

// finiteRow reports whether row holds no NaN or ±Inf. It runs on every call, so it reads
// the bits rather than the floats: a value is NaN or ±Inf exactly when its exponent field is
// all ones, and adding one to that field then carries into the sign bit. Two values per
// uint64 and four independent ORs (a float sum had every add wait for the previous: 51 µs
// for a 768×128 X, a fifth of what a 98%-sparse layer's kernel takes).
func finiteRow(row []float32) bool {
	const exp32, one32 = 0x7f800000, 0x00800000
	var a0, a1, a2, a3 uint64
	i := 0
	if len(row) > 0 && uintptr(unsafe.Pointer(&row[0]))%8 != 0 { // align for the uint64 view
		a0 = uint64(math.Float32bits(row[0])&exp32 + one32)
		i = 1
	}
	if words := (len(row) - i) / 2; words > 0 {
		const exp, one = exp32<<32 | exp32, one32<<32 | one32
		w := unsafe.Slice((*uint64)(unsafe.Pointer(&row[i])), words)
		for ; len(w) >= 4; w = w[4:] {
			a0 |= w[0]&exp + one
			a1 |= w[1]&exp + one
			a2 |= w[2]&exp + one
			a3 |= w[3]&exp + one
		}
		for _, v := range w {
			a0 |= v&exp + one
		}
		i += 2 * words
	}
	for ; i < len(row); i++ {
		a0 |= uint64(math.Float32bits(row[i])&exp32 + one32)
	}
	const sign = 1<<63 | 1<<31
	return (a0|a1|a2|a3)&sign == 0
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
