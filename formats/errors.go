package formats

import (
	"errors"
	"fmt"
	"math"
)

// ErrInvalid is wrapped by every validation failure; test with errors.Is.
var ErrInvalid = errors.New("invalid matrix")

// InvalidError says which invariant of which format failed, and where.
type InvalidError struct {
	Format string // "dense", "csr", "bsr", "nm"
	Where  string // e.g. "row 3", "block row 2, block 5", "index 17"; empty for the whole matrix
	Rule   string // the broken rule, in words
}

func (e *InvalidError) Error() string {
	if e.Where == "" {
		return fmt.Sprintf("%s: %s", e.Format, e.Rule)
	}
	return fmt.Sprintf("%s: %s: %s", e.Format, e.Where, e.Rule)
}

func (e *InvalidError) Unwrap() error { return ErrInvalid }

func invalid(format, where, rule string, args ...any) error {
	return &InvalidError{Format: format, Where: where, Rule: fmt.Sprintf(rule, args...)}
}

// MaxInt32 bounds every index that a kernel narrows to 32 bits.
const MaxInt32 = math.MaxInt32

// MulChecked returns a·b and true, or false when either is negative or the product
// overflows int64. Readers use it on sizes from untrusted headers.
func MulChecked(a, b int64) (int64, bool) {
	if a < 0 || b < 0 {
		return 0, false
	}
	if a == 0 || b == 0 {
		return 0, true
	}
	if a > math.MaxInt64/b {
		return 0, false
	}
	return a * b, true
}

// checkShape validates a rows×cols shape: non-negative, and rows·cols representable in int64
// and in an int on this platform.
func checkShape(format string, rows, cols int) error {
	if rows < 0 || cols < 0 {
		return invalid(format, "", "negative shape %d×%d", rows, cols)
	}
	n, ok := MulChecked(int64(rows), int64(cols))
	if !ok || n > int64(math.MaxInt) {
		return invalid(format, "", "shape %d×%d overflows", rows, cols)
	}
	return nil
}
