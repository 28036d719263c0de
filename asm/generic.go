package asm

import (
	"fmt"

	"github.com/sparsegen/sparsegen/formats"
	"github.com/sparsegen/sparsegen/ref"
)

// The generic families run the reference kernels on row ranges: correct on any CPU, and
// the fallback dispatch always has. They keep the canonical matrix as their "packed" form.

func init() {
	for _, d := range []Desc{
		{Name: "ref_dense_generic", Source: "asm/generic.go, ref.Dense", Format: "dense"},
		{Name: "ref_csr_generic", Source: "asm/generic.go, ref.CSR", Format: "csr"},
		{Name: "ref_bsr_generic", Source: "asm/generic.go, ref.BSR", Format: "bsr"},
		{Name: "ref_nm_generic", Source: "asm/generic.go, ref.NM", Format: "nm"},
	} {
		d.ISA, d.DType = Generic, "float32"
		Register(Family{
			Desc: &d,
			Pack: func(w formats.Matrix) (Kernel, error) { return newRefKernel(d.Name, d.Format, w) },
		})
	}
}

type refKernel struct {
	name   string
	format string
	w      formats.Matrix
	unitH  int     // rows per unit (R for BSR, 1 otherwise)
	cost   []int64 // prefix sums of stored values per unit
	bytes  int64
}

func newRefKernel(name, format string, w formats.Matrix) (Kernel, error) {
	if err := w.Validate(); err != nil {
		return nil, err
	}
	m, k := w.Shape()
	rk := &refKernel{name: name, format: format, w: w, unitH: 1}
	switch w := w.(type) {
	case *formats.Dense:
		if format != "dense" {
			return nil, ErrNotApplicable
		}
		rk.cost = uniformCost(m, int64(k))
		rk.bytes = int64(m) * int64(k) * 4
	case *formats.CSR:
		if format != "csr" {
			return nil, ErrNotApplicable
		}
		rk.cost = append([]int64(nil), w.RowPtr...)
		for i := range rk.cost {
			rk.cost[i] += int64(i) // a row costs its entries plus one for the store
		}
		rk.bytes = int64(len(w.Val))*8 + int64(len(w.RowPtr))*8
	case *formats.BSR:
		if format != "bsr" {
			return nil, ErrNotApplicable
		}
		rk.unitH = w.R
		rk.cost = make([]int64, w.BlockRows()+1)
		for i := 0; i < w.BlockRows(); i++ {
			rk.cost[i+1] = rk.cost[i] + w.BlockOffset(int(w.BlockRowPtr[i+1])) - w.BlockOffset(int(w.BlockRowPtr[i])) + 1
		}
		rk.bytes = int64(len(w.Val))*4 + int64(len(w.BlockCol))*4 + int64(len(w.BlockRowPtr))*8
	case *formats.NM:
		if format != "nm" {
			return nil, ErrNotApplicable
		}
		rk.cost = uniformCost(m, int64(w.SlotsPerRow()))
		rk.bytes = int64(len(w.Val)) * 5
	default:
		return nil, ErrNotApplicable
	}
	return rk, nil
}

func uniformCost(units int, per int64) []int64 {
	c := make([]int64, units+1)
	for i := range units {
		c[i+1] = c[i] + per + 1
	}
	return c
}

func (r *refKernel) Name() string       { return r.name }
func (r *refKernel) ISA() ISA           { return Generic }
func (r *refKernel) Shape() (int, int)  { return r.w.Shape() }
func (r *refKernel) Units() int         { return len(r.cost) - 1 }
func (r *refKernel) UnitCost() []int64  { return r.cost }
func (r *refKernel) PackedBytes() int64 { return r.bytes }
func (r *refKernel) UnitRows(u int) (int, int) {
	m, _ := r.w.Shape()
	return u * r.unitH, min((u+1)*r.unitH, m)
}

func (r *refKernel) Run(u0, u1 int, x []float32, ldx int, y []float32, ldy, n int, epi *ref.Epilogue) error {
	if err := CheckRun(r, u0, u1, x, ldx, y, ldy, n, epi); err != nil {
		return err
	}
	if n == 0 || u0 == u1 {
		return nil
	}
	r0, _ := r.UnitRows(u0)
	_, r1 := r.UnitRows(u1 - 1)
	sub, err := rowSlice(r.w, r0, r1, r.unitH)
	if err != nil {
		return err
	}
	var sepi *ref.Epilogue
	if epi != nil {
		e := *epi
		if e.Bias != nil {
			e.Bias = e.Bias[r0:r1]
		}
		sepi = &e
	}
	return ref.Matrix(sub, x, ldx, y[r0*ldy:], ldy, n, sepi)
}

// rowSlice returns rows [r0, r1) of w as a matrix of the same format sharing w's storage.
func rowSlice(w formats.Matrix, r0, r1, unitH int) (formats.Matrix, error) {
	switch w := w.(type) {
	case *formats.Dense:
		if w.Cols == 0 { // ZeroDense(m, 0) has Stride 1 and no data
			return &formats.Dense{Rows: r1 - r0, Stride: w.Stride}, nil
		}
		return &formats.Dense{Rows: r1 - r0, Cols: w.Cols, Stride: w.Stride, Data: w.Data[r0*w.Stride:]}, nil
	case *formats.CSR:
		lo, hi := w.RowPtr[r0], w.RowPtr[r1]
		rp := make([]int64, r1-r0+1)
		for i := range rp {
			rp[i] = w.RowPtr[r0+i] - lo
		}
		return &formats.CSR{Rows: r1 - r0, Cols: w.Cols, RowPtr: rp, ColIdx: w.ColIdx[lo:hi], Val: w.Val[lo:hi]}, nil
	case *formats.BSR:
		b0, b1 := r0/unitH, (r1+unitH-1)/unitH
		lo, hi := w.BlockRowPtr[b0], w.BlockRowPtr[b1]
		rp := make([]int64, b1-b0+1)
		for i := range rp {
			rp[i] = w.BlockRowPtr[b0+i] - lo
		}
		return formats.NewBSR(r1-r0, w.Cols, w.R, w.C, rp, w.BlockCol[lo:hi], w.Val[w.BlockOffset(int(lo)):w.BlockOffset(int(hi))])
	case *formats.NM:
		s := w.SlotsPerRow()
		return &formats.NM{Rows: r1 - r0, Cols: w.Cols, Keep: w.Keep, Group: w.Group, Val: w.Val[r0*s : r1*s], Pos: w.Pos[r0*s : r1*s]}, nil
	}
	return nil, fmt.Errorf("%w: %T", ErrNotApplicable, w)
}
