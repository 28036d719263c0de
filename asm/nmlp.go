package asm

import (
	"fmt"
	"math"

	"github.com/sparsegen/sparsegen/formats"
)

// N:M kernels over weights stored in bf16, fp16 or int8 (formats.NMLP; generated kernels
// from gen/kernels/nm.go nmLPFamily): the float32 N:M kernels (nm.go: the same packed
// layouts, K blocks, panels, chunks and epilogue) with each weight widened as it is
// loaded; an int8 weight is multiplied by its row's scale first, so every output is the
// float32 kernel's FMA chain over the widened weights (NMLP.ToNM's values). The plan keeps
// the weights in their dtype, DType.Bytes() per slot, in the float32 layouts' orders.
//
// Families nm<Keep>of<Group>_r<UH>_t<T>_<dtype>_<isa> (SpMM, N ≥ 2), nm_any_…_<dtype>_<isa>
// and nm<Keep>of<Group>_gemv_<dtype>_<isa> (N = 1, ChunkAligned patterns) have the
// float32 families' tiles and N ranges; nm_packed_<dtype>_generic and
// nm_gemv_<dtype>_generic are their pure-Go twins.

// NMLPFormat is the asm.Family.Format of the families that take a formats.NMLP of dtype t:
// "nm_bf16", "nm_f16", "nm_i8".
func NMLPFormat(t formats.DType) string { return "nm_" + t.String() }

// PackNMLP is PackNMBlocked for an NMLP: the same layouts (the SpMM stream in K blocks of
// kc columns, or with bits the compact N = 1 chunks) holding the stored values, exactly,
// in w's dtype, and for int8 the row scales.
func PackNMLP(w *formats.NMLP, uh, kc int, bits bool) (*NMLayout, error) {
	if err := w.Validate(); err != nil {
		return nil, err
	}
	// The pattern with each stored value as an exact float32 (bf16 and fp16 widened, int8
	// as the integer q), packed, then narrowed back, exactly, to the dtype.
	f := &formats.NM{Rows: w.Rows, Cols: w.Cols, Keep: w.Keep, Group: w.Group, Pos: w.Pos, Val: make([]float32, len(w.Pos))}
	switch w.DType {
	case formats.BF16:
		for p, b := range w.Bits {
			f.Val[p] = formats.BF16ToFloat32(b)
		}
	case formats.F16:
		for p, b := range w.Bits {
			f.Val[p] = formats.F16ToFloat32(b)
		}
	case formats.I8:
		for p, q := range w.I8 {
			f.Val[p] = float32(q)
		}
	}
	l, err := PackNMBlocked(f, uh, kc, bits)
	if err != nil {
		return nil, err
	}
	l.DType = w.DType
	if bits {
		l.LPChunks, l.ValChunks = narrowLP(w.DType, l.ValChunks), nil
	} else {
		l.LP, l.Val = narrowLP(w.DType, l.Val), nil
	}
	if w.DType == formats.I8 {
		l.Scale = make([]float32, l.Units()*l.UH)
		copy(l.Scale, w.Scale)
	}
	return l, nil
}

// narrowLP stores vals, each an exact value of dtype t, as t's little-endian bytes.
func narrowLP(t formats.DType, vals []float32) []byte {
	out := make([]byte, len(vals)*t.Bytes())
	for i, v := range vals {
		switch t {
		case formats.BF16: // widened by a shift: the high half is the pattern, NaN payloads included
			b := uint16(math.Float32bits(v) >> 16)
			out[2*i], out[2*i+1] = byte(b), byte(b>>8)
		case formats.F16:
			b := formats.Float32ToF16(v) // exact: v is an fp16 value (a NaN stays a NaN)
			out[2*i], out[2*i+1] = byte(b), byte(b>>8)
		case formats.I8:
			out[i] = byte(int8(v))
		}
	}
	return out
}

// nmLPOf returns w as an NMLP of dtype t, or ErrNotApplicable naming the family.
func nmLPOf(name string, t formats.DType, w formats.Matrix) (*formats.NMLP, error) {
	m, ok := w.(*formats.NMLP)
	if !ok || m == nil || m.DType != t {
		return nil, fmt.Errorf("%w: %s takes N:M with %s weights, not %s", ErrNotApplicable, name, t, describeLP(w))
	}
	return m, nil
}

// The pure-Go families of each dtype: any Keep:Group (SpMM), and aligned patterns on
// compact chunks (N = 1), as nm.go's float32 ones.
func init() {
	for _, t := range []formats.DType{formats.BF16, formats.F16, formats.I8} {
		spmm := "nm_packed_" + t.String() + "_generic"
		Register(Family{
			Desc: &Desc{Name: spmm, Source: "asm/nm.go runGo", Format: NMLPFormat(t), ISA: Generic, DType: t.String()},
			Pack: func(m formats.Matrix) (Kernel, error) {
				w, err := nmLPOf(spmm, t, m)
				if err != nil {
					return nil, err
				}
				l, err := PackNMLP(w, 1, 0, false)
				if err != nil {
					return nil, err
				}
				return &nmKernel{name: spmm, isa: Generic, l: l, run: nmGoRun}, nil
			},
		})
		gemv := "nm_gemv_" + t.String() + "_generic"
		Register(Family{
			Desc: &Desc{Name: gemv, Source: "asm/nm.go runGoBits", Format: NMLPFormat(t), ISA: Generic, DType: t.String(), MinN: 1, MaxN: 1},
			Pack: func(m formats.Matrix) (Kernel, error) {
				w, err := nmLPOf(gemv, t, m)
				if err != nil {
					return nil, err
				}
				if !ChunkAligned(w.Keep, w.Group) {
					return nil, fmt.Errorf("%w: %d:%d has no aligned 16-slot chunks", ErrNotApplicable, w.Keep, w.Group)
				}
				l, err := PackNMLP(w, 1, 0, true)
				if err != nil {
					return nil, err
				}
				return &nmKernel{name: gemv, isa: Generic, gemv: true, l: l, run: nmGoRunBits}, nil
			},
		})
	}
}
