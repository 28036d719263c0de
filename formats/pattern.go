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
	var row func(i int, buf []int32) []int32 // row i's columns, as the hash counts them
	switch w := w.(type) {
	case *CSR:
		if err := w.ValidateStructure(); err != nil {
			return "", err
		}
		row = func(i int, buf []int32) []int32 { return append(buf[:0], w.ColIdx[w.RowPtr[i]:w.RowPtr[i+1]]...) }
	case *Dense:
		if err := w.Validate(); err != nil {
			return "", err
		}
		row = RowNonzeros(w)
	default:
		return "", fmt.Errorf("%w: a pattern hash is defined for CSR and Dense, not %T", ErrInvalid, w)
	}
	h := sha256.New()
	var b []byte
	h.Write([]byte("sparsegen pattern v1\n"))
	rows, cols := w.Shape()
	b = binary.LittleEndian.AppendUint64(b, uint64(rows))
	b = binary.LittleEndian.AppendUint64(b, uint64(cols))
	var buf []int32
	for i := 0; i < rows; i++ {
		buf = row(i, buf)
		b = binary.LittleEndian.AppendUint64(b, uint64(len(buf)))
		for _, c := range buf {
			b = binary.LittleEndian.AppendUint32(b, uint32(c))
		}
		if len(b) >= 4096 {
			h.Write(b)
			b = b[:0]
		}
	}
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil)[:16]), nil
}
