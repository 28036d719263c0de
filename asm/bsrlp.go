package asm

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/sparsegen/sparsegen/formats"
)

// BSR SpMM over weights stored in bf16, fp16 or int8 (formats.BSRLP; generated kernels
// from gen/kernels/bsrlp.go): the float32 BSR kernels (bsr.go: the same packed layout,
// units, column tiles and epilogue) with each weight widened as it is broadcast; an int8
// weight is multiplied by its row's scale first, so every output is the float32 kernel's
// FMA chain over the widened weights (BSRLP.ToBSR's values). The layout keeps the weights
// in their dtype, e.Bytes() per slot, in BSRLayout's slot order (BSRLayout.LP).
//
// Families bsr<R>x<C>_t<T>_<dtype>_<isa> and bsr_any_<dtype>_<isa> mirror the float32
// ones at every N; bsr_packed_generic_<dtype> is the pure-Go fallback per dtype.

// BSRLPFormat is the asm.Family.Format of the families that take a formats.BSRLP of dtype
// t: "bsr_bf16", "bsr_f16", "bsr_i8".
func BSRLPFormat(t formats.DType) string { return "bsr_" + t.String() }

// PackBSRLP packs a BSRLP for kernels of height h (≥ b.R), as PackBSR packs a BSR (the same
// slots, KIdx, Hdr and costs), with the weights kept in b's dtype in LP (no Val).
func PackBSRLP(b *formats.BSRLP, h int, blockMode bool) (*BSRLayout, error) {
	if err := b.Validate(); err != nil {
		return nil, err
	}
	var bits []uint16
	var q []int8
	l, err := packBSR(b.Pattern(), h, blockMode, func(l *BSRLayout, nv int64) {
		if b.DType == formats.I8 {
			q = make([]int8, nv)
		} else {
			bits = make([]uint16, nv)
		}
	}, func(dst, src int64) {
		if q != nil {
			q[dst] = b.I8[src]
		} else {
			bits[dst] = b.Bits[src]
		}
	})
	if err != nil {
		return nil, err
	}
	l.DType = b.DType
	eb := int64(b.DType.Bytes())
	hdr := int64(0)
	if b.DType == formats.I8 {
		hdr = 4 * int64(h)
	}
	l.LPOff = make([]int64, l.Units+1)
	for u := 0; u < l.Units; u++ {
		l.LPOff[u+1] = l.LPOff[u] + hdr + (l.VOff[u+1]-l.VOff[u])*eb
	}
	l.LP = make([]byte, l.LPOff[l.Units])
	for u := 0; u < l.Units; u++ {
		o := l.LPOff[u]
		if b.DType == formats.I8 {
			r0, r1 := l.UnitRows(u)
			for r := r0; r < r1; r++ {
				binary.LittleEndian.PutUint32(l.LP[o+4*int64(r-r0):], math.Float32bits(b.Scale[r]))
			}
			o += hdr
			for i, v := range q[l.VOff[u]:l.VOff[u+1]] {
				l.LP[o+int64(i)] = byte(v)
			}
			continue
		}
		for i, v := range bits[l.VOff[u]:l.VOff[u+1]] {
			binary.LittleEndian.PutUint16(l.LP[o+2*int64(i):], v)
		}
	}
	return l, nil
}

// widenStep widens the len(dst) weights of the step at slot vp of unit u into dst, as
// BSRLP.ToBSR widens them: bf16 and fp16 exactly, int8 as scale·q with the row's scale.
func (l *BSRLayout) widenStep(u int, vp int64, dst []float32) []float32 {
	o := l.LPOff[u]
	if l.DType == formats.I8 {
		o += 4 * int64(l.H)
	}
	o += (vp - l.VOff[u]) * int64(l.DType.Bytes())
	for r := range dst {
		switch l.DType {
		case formats.BF16:
			dst[r] = formats.BF16ToFloat32(binary.LittleEndian.Uint16(l.LP[o+2*int64(r):]))
		case formats.F16:
			dst[r] = formats.F16ToFloat32(binary.LittleEndian.Uint16(l.LP[o+2*int64(r):]))
		case formats.I8:
			s := math.Float32frombits(binary.LittleEndian.Uint32(l.LP[l.LPOff[u]+4*int64(r):]))
			dst[r] = s * float32(int8(l.LP[o+int64(r)]))
		}
	}
	return dst
}

// bsrLPOf returns the BSRLP in w when it is of dtype t (the family name for messages),
// else ErrNotApplicable.
func bsrLPOf(name string, t formats.DType, w formats.Matrix) (*formats.BSRLP, error) {
	b, ok := w.(*formats.BSRLP)
	if !ok || b == nil || b.DType != t {
		return nil, fmt.Errorf("%w: %s takes BSR with %s weights, not %s", ErrNotApplicable, name, t, describeLP(w))
	}
	return b, nil
}

// describeLP names w's type and, for a low-precision matrix, its dtype.
func describeLP(w formats.Matrix) string {
	switch w := w.(type) {
	case *formats.BSRLP:
		if w != nil {
			return fmt.Sprintf("BSR %s", w.DType)
		}
	case *formats.CSRLP:
		if w != nil {
			return fmt.Sprintf("CSR %s", w.DType)
		}
	case *formats.DenseLP:
		if w != nil {
			return fmt.Sprintf("dense %s", w.DType)
		}
	case *formats.NMLP:
		if w != nil {
			return fmt.Sprintf("N:M %s", w.DType)
		}
	}
	return fmt.Sprintf("%T", w)
}

// The pure-Go families, one per dtype: any R×C, packed as bsr_packed_generic packs.
func init() {
	for _, t := range []formats.DType{formats.BF16, formats.F16, formats.I8} {
		name := "bsr_packed_generic_" + t.String()
		Register(Family{
			Desc: &Desc{Name: name, Source: "asm/bsr.go runGo, asm/bsrlp.go widenStep", Format: BSRLPFormat(t), ISA: Generic, DType: t.String()},
			Pack: func(w formats.Matrix) (Kernel, error) {
				b, err := bsrLPOf(name, t, w)
				if err != nil {
					return nil, err
				}
				l, err := PackBSRLP(b, b.R, b.C > 1)
				if err != nil {
					return nil, err
				}
				return &bsrKernel{name: name, isa: Generic, l: l, run: bsrGoRun}, nil
			},
		})
	}
}
