package asm

import (
	"errors"
	"math"
	"testing"

	"github.com/sparsegen/sparsegen/formats"
	"github.com/sparsegen/sparsegen/internal/fuzzbytes"
	"github.com/sparsegen/sparsegen/ref"
)

// FuzzPackCSR: CSR matrices built from arbitrary bytes, well formed or not (row pointers
// out of order or out of range, columns negative, too large, repeated or unsorted), packed
// for every CSR family and K block. A malformed matrix gives an error wrapping
// formats.ErrInvalid and no kernel; a valid one packs, derives, and runs (where the CPU
// can) to the reference result. Nothing may panic.
func FuzzPackCSR(f *testing.F) {
	f.Add([]byte{3, 40, 2, 0, 2, 4, 6, 1, 5, 9, 2, 30, 31, 1, 2, 3, 4, 5, 6})
	f.Add([]byte{2, 200, 5, 0, 3, 3, 10, 20, 199, 7})
	f.Add([]byte{4, 9, 1, 0, 1, 2, 2, 3, 8, 255, 128, 4})
	f.Add([]byte{1, 1, 0, 0, 1, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		next := (&fuzzbytes.Reader{B: data}).Next
		m, k, kc := next()%9, next(), next()%48
		w := &formats.CSR{Rows: m, Cols: k, RowPtr: make([]int64, m+1)}
		for i := 1; i <= m; i++ {
			// Mostly increasing; a byte ≥ 250 steps back, which Validate refuses.
			if d := next(); d >= 250 {
				w.RowPtr[i] = w.RowPtr[i-1] - int64(d-249)
			} else {
				w.RowPtr[i] = w.RowPtr[i-1] + int64(d%6)
			}
		}
		nnz := max(0, min(int(w.RowPtr[m]), 64))
		if next()%7 == 0 {
			nnz++ // one entry too many for RowPtr[M]
		}
		w.ColIdx, w.Val = make([]int32, nnz), make([]float32, nnz)
		for q := range w.ColIdx {
			w.ColIdx[q] = int32(int8(next())) * int32(1+k/100) // negative, repeated or ≥ K
			w.Val[q] = float32(next()%7) - 3
		}
		valid := w.Validate() == nil
		for _, s := range csrSpecs {
			p, err := PackCSR(w, s.Tile, s.Rows, kc)
			if err != nil {
				if valid || !errors.Is(err, formats.ErrInvalid) {
					t.Fatalf("%s kc=%d: valid=%v, error %v", s.Name, kc, valid, err)
				}
				continue
			}
			if !valid {
				t.Fatalf("%s kc=%d packed a malformed CSR: %+v", s.Name, kc, w)
			}
			kern := &csrKernel{spec: s, p: p}
			for _, to := range csrSpecs {
				if to.Rows != s.Rows || kc != 0 || p.Kc != CSRBlock(k, to.Tile, csrDensity(w)) {
					continue
				}
				f, _ := Lookup(to.Name)
				if _, _, err := f.Derive(kern); err != nil {
					t.Fatalf("%s from %s: %v", to.Name, s.Name, err)
				}
			}
			if s.Features&^hostFeatures() != 0 || m == 0 {
				continue
			}
			n := 1 + next()%20
			x := make([]float32, k*n)
			for i := range x {
				x[i] = float32(i%5) - 2
			}
			got, want := make([]float32, m*n), make([]float32, m*n)
			if err := kern.Run(0, kern.Units(), x, n, got, n, n, nil); err != nil {
				t.Fatal(err)
			}
			if err := ref.Matrix(w, x, n, want, n, n, nil); err != nil {
				t.Fatal(err)
			}
			for i := range got {
				if math.Abs(float64(got[i]-want[i])) > 1e-3*(1+math.Abs(float64(want[i]))) {
					t.Fatalf("%s kc=%d n=%d: Y[%d] = %v, want %v", s.Name, kc, n, i, got[i], want[i])
				}
			}
		}
	})
}
