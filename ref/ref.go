package ref

import (
	"errors"

	"github.com/sparsegen/sparsegen/formats"
)

// The reference kernels compute, for every output row m and column n < N,
//
//	acc = Σ over stored weights w of row m (in storage order) of w·X[k, n]
//
// in float32, then store the epilogue of acc. The order of the sum is the order of the
// stored weights, zeros stored by the format included, as DESIGN §6 asks.

// Dense computes Y = epi(W·X) for a dense W.
func Dense(w *formats.Dense, x []float32, ldx int, y []float32, ldy, n int, epi *Epilogue) error {
	if err := w.Validate(); err != nil {
		return err
	}
	if err := check(w.Rows, w.Cols, n, x, ldx, y, ldy, epi); err != nil {
		return ignoreNothing(err)
	}
	acc := make([]float32, n)
	for m := 0; m < w.Rows; m++ {
		clear(acc)
		for k, v := range w.Row(m) {
			axpy(acc, v, x[k*ldx:k*ldx+n])
		}
		store(y[m*ldy:m*ldy+n], acc, m, epi)
	}
	return nil
}

// CSR computes Y = epi(W·X) for a CSR W.
func CSR(w *formats.CSR, x []float32, ldx int, y []float32, ldy, n int, epi *Epilogue) error {
	if err := w.Validate(); err != nil {
		return err
	}
	if err := check(w.Rows, w.Cols, n, x, ldx, y, ldy, epi); err != nil {
		return ignoreNothing(err)
	}
	acc := make([]float32, n)
	for m := 0; m < w.Rows; m++ {
		clear(acc)
		for p := w.RowPtr[m]; p < w.RowPtr[m+1]; p++ {
			k := int(w.ColIdx[p])
			axpy(acc, w.Val[p], x[k*ldx:k*ldx+n])
		}
		store(y[m*ldy:m*ldy+n], acc, m, epi)
	}
	return nil
}

// BSR computes Y = epi(W·X) for a BSR W. Within a row, blocks are summed in storage order
// and each block's columns left to right.
func BSR(w *formats.BSR, x []float32, ldx int, y []float32, ldy, n int, epi *Epilogue) error {
	if err := w.Validate(); err != nil {
		return err
	}
	if err := check(w.Rows, w.Cols, n, x, ldx, y, ldy, epi); err != nil {
		return ignoreNothing(err)
	}
	acc := make([]float32, n)
	for bi := 0; bi < w.BlockRows(); bi++ {
		h, _ := w.BlockDims(bi, 0)
		for r := 0; r < h; r++ {
			m := bi*w.R + r
			clear(acc)
			for p := w.BlockRowPtr[bi]; p < w.BlockRowPtr[bi+1]; p++ {
				bj := int(w.BlockCol[p])
				_, bw := w.BlockDims(bi, bj)
				vals := w.Val[w.BlockOffset(int(p))+int64(r*bw):]
				for c := 0; c < bw; c++ {
					k := bj*w.C + c
					axpy(acc, vals[c], x[k*ldx:k*ldx+n])
				}
			}
			store(y[m*ldy:m*ldy+n], acc, m, epi)
		}
	}
	return nil
}

// NM computes Y = epi(W·X) for an N:M W, slots in storage order.
func NM(w *formats.NM, x []float32, ldx int, y []float32, ldy, n int, epi *Epilogue) error {
	if err := w.Validate(); err != nil {
		return err
	}
	if err := check(w.Rows, w.Cols, n, x, ldx, y, ldy, epi); err != nil {
		return ignoreNothing(err)
	}
	acc := make([]float32, n)
	spr := w.SlotsPerRow()
	for m := 0; m < w.Rows; m++ {
		clear(acc)
		s := m * spr
		for g := 0; g < w.Groups(); g++ {
			slots, _ := w.GroupSlots(g)
			for j := 0; j < slots; j++ {
				k := g*w.Group + int(w.Pos[s])
				axpy(acc, w.Val[s], x[k*ldx:k*ldx+n])
				s++
			}
		}
		store(y[m*ldy:m*ldy+n], acc, m, epi)
	}
	return nil
}

// Matrix dispatches to the reference kernel of w's format.
func Matrix(w formats.Matrix, x []float32, ldx int, y []float32, ldy, n int, epi *Epilogue) error {
	switch w := w.(type) {
	case *formats.Dense:
		return Dense(w, x, ldx, y, ldy, n, epi)
	case *formats.CSR:
		return CSR(w, x, ldx, y, ldy, n, epi)
	case *formats.BSR:
		return BSR(w, x, ldx, y, ldy, n, epi)
	case *formats.NM:
		return NM(w, x, ldx, y, ldy, n, epi)
	}
	return formats.ErrInvalid
}

// check validates the operands; errNothing (not returned to callers) says N = 0 or M = 0:
// nothing to compute, and X and Y may be shorter than any row stride.
func check(m, k, n int, x []float32, ldx int, y []float32, ldy int, epi *Epilogue) error {
	if err := epi.Check(m); err != nil {
		return err
	}
	if err := CheckOperands(m, k, n, x, ldx, y, ldy); err != nil {
		return err
	}
	if n == 0 || m == 0 {
		return errNothing
	}
	return nil
}

var errNothing = errors.New("nothing to compute")

func ignoreNothing(err error) error {
	if err == errNothing {
		return nil
	}
	return err
}

// axpy adds a·x to acc; a separate multiply and add (no FMA) keeps the reference simple and
// within the error bound of any kernel.
func axpy(acc []float32, a float32, x []float32) {
	x = x[:len(acc)]
	for i := range acc {
		acc[i] += a * x[i]
	}
}

func store(y, acc []float32, m int, epi *Epilogue) {
	for i, v := range acc {
		y[i] = epi.Apply(v, m, y[i])
	}
}
