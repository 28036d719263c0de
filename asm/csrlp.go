package asm

import (
	"fmt"
	"math"

	"github.com/sparsegen/sparsegen/formats"
)

// CSR SpMM over weights stored in bf16, fp16 or int8 (formats.CSRLP; generated tiles from
// gen/kernels/csrlp.go): the float32 CSR tiles (csr.go: the same packed layout, K blocks,
// panels, row groups, chunks and epilogue) with each step's weight widened as it is
// broadcast; an int8 weight is multiplied by its row's scale first, so every output is the
// float32 tile's FMA chain over the widened weights (CSRLP.ToCSR's values). The plan keeps
// the weights in their dtype, e.Bytes() per entry, in the float32 layout's order.
//
// Families spmm_csr_t<T>_<dtype>_<isa> have the float32 families' tiles and N ranges; the
// SpMV (spmvlp.go) serves N = 1 on each ISA. No packing is shared between tile widths.

// csrLPTileFunc is a generated low-precision CSR tile function (gen/kernels/csrlp.go).
type csrLPTileFunc func(vals *uint8, offs *uint16, cnt *uint32, ngroups int, x *float32, y *float32, ldy int, flags int, bias, scale *float32, lo, hi float32, tail int)

// csrLPSpecs lists the registered low-precision CSR SpMM families (tests run each).
var csrLPSpecs []*csrSpec

// registerCSRLPGen registers the low-precision CSR families of a generated manifest on
// their tile table.
func registerCSRLPGen(m []Desc, tiles *[csrGroups][2][csrMaxU + 1]csrLPTileFunc) {
	for _, d := range m {
		t, err := formats.ParseDType(d.DType)
		if err != nil {
			panic(fmt.Sprintf("asm: %s: %v", d.Name, err))
		}
		s := &csrSpec{Desc: d, dtype: t, lpTiles: tiles}
		csrLPSpecs = append(csrLPSpecs, s)
		Register(Family{Desc: &s.Desc, Pack: func(w formats.Matrix) (Kernel, error) { return packCSRLP(s, w, 0) }})
	}
}

// packCSRLP packs a CSRLP of s's dtype for s's tiles with K block kc (0: by density):
// PackCSR on the pattern with each stored value as an exact float32 (bf16 and fp16
// widened, int8 as the integer q), which checks every column index as it places it, then
// the packed values narrowed back, exactly, to the dtype.
func packCSRLP(s *csrSpec, w formats.Matrix, kc int) (*csrKernel, error) {
	c, ok := w.(*formats.CSRLP)
	if !ok || c == nil || c.DType != s.dtype {
		return nil, fmt.Errorf("%w: %s takes CSR with %s weights, not %T", ErrNotApplicable, s.Name, s.dtype, w)
	}
	if err := c.ValidateStructure(); err != nil {
		return nil, err
	}
	cf := &formats.CSR{Rows: c.Rows, Cols: c.Cols, RowPtr: c.RowPtr, ColIdx: c.ColIdx, Val: make([]float32, len(c.ColIdx))}
	switch c.DType {
	case formats.BF16:
		for p, b := range c.Bits {
			cf.Val[p] = formats.BF16ToFloat32(b)
		}
	case formats.F16:
		for p, b := range c.Bits {
			cf.Val[p] = formats.F16ToFloat32(b)
		}
	case formats.I8:
		for p, q := range c.I8 {
			cf.Val[p] = float32(q)
		}
	}
	p, err := PackCSR(cf, s.Tile, s.Rows, kc)
	if err != nil {
		return nil, err
	}
	k := &csrKernel{spec: s, p: p, lp: make([]byte, len(p.Vals)*s.dtype.Bytes())}
	for i, v := range p.Vals {
		switch c.DType {
		case formats.BF16: // widened by a shift: the high half is the pattern, NaN payloads included
			b := uint16(math.Float32bits(v) >> 16)
			k.lp[2*i], k.lp[2*i+1] = byte(b), byte(b>>8)
		case formats.F16:
			b := formats.Float32ToF16(v) // exact: v is an fp16 value (a NaN stays a NaN)
			k.lp[2*i], k.lp[2*i+1] = byte(b), byte(b>>8)
		case formats.I8:
			k.lp[i] = byte(int8(v))
		}
	}
	p.Vals = nil
	if c.DType == formats.I8 {
		k.scale = append([]float32(nil), c.Scale...)
	}
	return k, nil
}
