package formats

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
)

// PatternHash identifies the sparsity pattern of w: its shape and, row by row, the columns
// it stores (a CSR's entries, a Dense's nonzeros: the CSR that CSRFromDense makes), not the
// values. A kernel baked for one pattern (its column offsets compiled into the code, DESIGN
// §5.12) carries this hash, and runs only a matrix with the same one. It is the first 16
// bytes of a SHA-256, in hex; the other formats (BSR, N:M) have no hash here.
func PatternHash(w Matrix) (string, error) {
	h := sha256.New()
	var buf [8]byte
	put := func(v uint64) {
		binary.LittleEndian.PutUint64(buf[:], v)
		h.Write(buf[:])
	}
	h.Write([]byte("sparsegen pattern v1\n"))
	cols := make([]byte, 0, 4096)
	flush := func() {
		h.Write(cols)
		cols = cols[:0]
	}
	col := func(c int) {
		cols = binary.LittleEndian.AppendUint32(cols, uint32(c))
		if len(cols) >= 4096 {
			flush()
		}
	}
	switch w := w.(type) {
	case *CSR:
		if err := w.ValidateStructure(); err != nil {
			return "", err
		}
		put(uint64(w.Rows))
		put(uint64(w.Cols))
		for i := 0; i < w.Rows; i++ {
			lo, hi := w.RowPtr[i], w.RowPtr[i+1]
			flush()
			put(uint64(hi - lo))
			for _, c := range w.ColIdx[lo:hi] {
				col(int(c))
			}
		}
	case *Dense:
		if err := w.Validate(); err != nil {
			return "", err
		}
		put(uint64(w.Rows))
		put(uint64(w.Cols))
		for i := 0; i < w.Rows; i++ {
			row := w.Row(i)
			n := 0
			for _, v := range row {
				if v != 0 {
					n++
				}
			}
			flush()
			put(uint64(n))
			for c, v := range row {
				if v != 0 {
					col(c)
				}
			}
		}
	default:
		return "", fmt.Errorf("%w: a pattern hash is defined for CSR and Dense, not %T", ErrInvalid, w)
	}
	flush()
	return hex.EncodeToString(h.Sum(nil)[:16]), nil
}
