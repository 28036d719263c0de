// Package extent computes how many elements strided operands span, without overflow. Every
// bound that the Go API (dispatch), the kernels' own checks (asm, ref) and the C ABI
// (cmd/libsparsegen) compare a slice length with comes from here, so that a huge stride,
// count or batch is refused instead of wrapping to a small (or negative) number that passes.
//
// Sizes are int64 and limited to MaxInt, the largest slice length on this platform.
package extent

import "fmt"

// MaxInt is the largest slice length (math.MaxInt as an int64).
const MaxInt = int64(^uint(0) >> 1)

// Mul returns a·b; ok is false when a or b is negative or the product exceeds MaxInt.
func Mul(a, b int64) (int64, bool) {
	if a < 0 || b < 0 {
		return 0, false
	}
	if a == 0 || b == 0 {
		return 0, true
	}
	if a > MaxInt/b {
		return 0, false
	}
	return a * b, true
}

// Add returns a+b; ok is false when a or b is negative or the sum exceeds MaxInt.
func Add(a, b int64) (int64, bool) {
	if a < 0 || b < 0 || a > MaxInt-b {
		return 0, false
	}
	return a + b, true
}

// Span is the number of elements a rows×cols matrix with row stride ld occupies:
// (rows−1)·ld + cols, or 0 when rows or cols is 0. ok is false when an argument is negative,
// ld < cols (rows would overlap) while rows > 1, or the span exceeds MaxInt.
func Span(rows, cols, ld int64) (int64, bool) {
	if rows < 0 || cols < 0 || ld < 0 {
		return 0, false
	}
	if rows == 0 || cols == 0 {
		return 0, true
	}
	if rows > 1 && ld < cols {
		return 0, false
	}
	s, ok := Mul(rows-1, ld)
	if !ok {
		return 0, false
	}
	return Add(s, cols)
}

// Items is the number of elements batch items span when each spans one and they start
// stride apart: (batch−1)·stride + one, or 0 when batch or one is 0. ok is false when an
// argument is negative or the span exceeds MaxInt.
func Items(one, stride, batch int64) (int64, bool) {
	if one < 0 || stride < 0 || batch < 0 {
		return 0, false
	}
	if one == 0 || batch == 0 {
		return 0, true
	}
	off, ok := Mul(batch-1, stride)
	if !ok {
		return 0, false
	}
	return Add(off, one)
}

// Fits reports whether l elements hold a rows×cols matrix with row stride ld (the span of
// Span, computed without overflow).
func Fits(l, rows, cols, ld int) bool {
	s, ok := Span(int64(rows), int64(cols), int64(ld))
	return ok && int64(l) >= s
}

// Need formats a span for a message: the number, or "more than <MaxInt>" when ok is false.
func Need(n int64, ok bool) string {
	if !ok {
		return fmt.Sprintf("more than %d", MaxInt)
	}
	return fmt.Sprint(n)
}

// MulSat returns a·b for a, b ≥ 0, saturated at MaxInt (work estimates, not bounds).
func MulSat(a, b int64) int64 {
	if p, ok := Mul(a, b); ok {
		return p
	}
	return MaxInt
}
