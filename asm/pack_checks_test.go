package asm

import (
	"errors"
	"math/rand"
	"testing"

	"github.com/sparsegen/sparsegen/formats"
)

// TestCSRPackersRefuseBadIndices: the CSR packers check the structure up front and each
// column index as they read it (no second pass over the entries): every broken matrix is
// refused with formats.ErrInvalid, by every CSR-taking family, and nothing panics.
func TestCSRPackersRefuseBadIndices(t *testing.T) {
	r := rand.New(rand.NewSource(21))
	good := randCSR(r, 9, 300, 0.2, 2, 5)
	breakers := map[string]func(c *formats.CSR){
		"column = K":        func(c *formats.CSR) { c.ColIdx[c.RowPtr[6]-1] = int32(c.Cols) },
		"column ≫ K":        func(c *formats.CSR) { c.ColIdx[len(c.ColIdx)-1] = 1 << 30 },
		"negative column":   func(c *formats.CSR) { c.ColIdx[c.RowPtr[3]] = -1 },
		"unsorted row":      func(c *formats.CSR) { q := c.RowPtr[6]; c.ColIdx[q], c.ColIdx[q+1] = c.ColIdx[q+1], c.ColIdx[q] },
		"duplicate column":  func(c *formats.CSR) { q := c.RowPtr[7]; c.ColIdx[q+1] = c.ColIdx[q] },
		"RowPtr decreasing": func(c *formats.CSR) { c.RowPtr[4], c.RowPtr[5] = c.RowPtr[5], c.RowPtr[4] },
		"RowPtr past nnz":   func(c *formats.CSR) { c.RowPtr[8] = int64(len(c.Val)) + 3 },
		"short Val":         func(c *formats.CSR) { c.Val = c.Val[:len(c.Val)-1] },
	}
	for what, brk := range breakers {
		c := &formats.CSR{Rows: good.Rows, Cols: good.Cols, RowPtr: append([]int64(nil), good.RowPtr...),
			ColIdx: append([]int32(nil), good.ColIdx...), Val: append([]float32(nil), good.Val...)}
		brk(c)
		if c.Validate() == nil {
			t.Fatalf("%s: the broken matrix validates", what)
		}
		for _, f := range Families() {
			if f.Format != "csr" || f.Features&^hostFeatures() != 0 {
				continue
			}
			if _, err := f.Pack(c); !errors.Is(err, formats.ErrInvalid) {
				t.Errorf("%s: %s packed it (err %v)", what, f.Name, err)
			}
		}
	}
}
