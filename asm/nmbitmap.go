package asm

import (
	"fmt"

	"github.com/sparsegen/sparsegen/formats"
)

// The bitmap SpMV on N:M weights (issue 17): an N:M matrix is a bitmap matrix with a fixed
// count per group, so the low-precision bitmap SpMV families (asm/spmvbitmap.go) are
// registered a second time, as nm_bitmap_<dtype>_<isa> of format nm_<dtype> (N = 1, any
// pattern; gen/kernels/spmvbitmap.go nmBitmapKernel). Their Pack converts the NMLP's slots,
// exactly, to a CSRLP (NMLPToCSRLP: every slot an entry, stored zeros included, the values
// and int8 row scales as stored) and packs its bitmap layout. At 2:4 the layout holds
// 2.25 bytes per bf16 or fp16 weight and 1.25 per int8 one, the compact-position GEMV's
// (asm/nm.go); the kernel expands each chunk's values under its mask instead of decoding
// positions and permuting X. The sum's order is the bitmap kernel's, so results agree
// with the N:M kernels within the SpMV tolerance, not bitwise. dispatch/nmbitmap.go says
// where it runs instead of the N:M GEMV.

// nmSlotsCSR returns the row pointers and column indices of every slot of a valid N:M
// pattern (keep:group, rows×cols, positions pos), row after row in slot order, which is
// column order (positions rise within a group).
func nmSlotsCSR(g *formats.NM, pos []uint8) ([]int64, []int32) {
	spr := g.SlotsPerRow()
	rowPtr := make([]int64, g.Rows+1)
	colIdx := make([]int32, len(pos))
	groups := g.Groups()
	for i := 0; i < g.Rows; i++ {
		s := i * spr
		for gi := 0; gi < groups; gi++ {
			slots, _ := g.GroupSlots(gi)
			for k := 0; k < slots; k++ {
				colIdx[s] = int32(gi*g.Group + int(pos[s]))
				s++
			}
		}
		rowPtr[i+1] = int64(s)
	}
	return rowPtr, colIdx
}

// NMToCSR returns a valid N:M matrix (validated first) as a CSR holding every slot, stored
// zeros included, with its value.
func NMToCSR(w *formats.NM) (*formats.CSR, error) {
	if w == nil {
		return nil, fmt.Errorf("asm: nil N:M matrix: %w", formats.ErrInvalid)
	}
	if err := w.Validate(); err != nil {
		return nil, err
	}
	rp, ci := nmSlotsCSR(w, w.Pos)
	return &formats.CSR{Rows: w.Rows, Cols: w.Cols, RowPtr: rp, ColIdx: ci, Val: append([]float32(nil), w.Val...)}, nil
}

// NMLPToCSRLP returns a valid low-precision N:M matrix (validated first) as a CSRLP of its
// dtype holding every slot, stored zeros included, with its value as stored (and an int8
// matrix's row scales): the same weights, exactly.
func NMLPToCSRLP(w *formats.NMLP) (*formats.CSRLP, error) {
	if w == nil {
		return nil, fmt.Errorf("asm: nil N:M matrix: %w", formats.ErrInvalid)
	}
	if err := w.Validate(); err != nil {
		return nil, err
	}
	g := &formats.NM{Rows: w.Rows, Cols: w.Cols, Keep: w.Keep, Group: w.Group}
	rp, ci := nmSlotsCSR(g, w.Pos)
	c := &formats.CSRLP{Rows: w.Rows, Cols: w.Cols, RowPtr: rp, ColIdx: ci, DType: w.DType}
	switch w.DType {
	case formats.BF16, formats.F16:
		c.Bits = append([]uint16(nil), w.Bits...)
	case formats.I8:
		c.I8 = append([]int8(nil), w.I8...)
		c.Scale = append([]float32(nil), w.Scale...)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// registerNMBitmap registers the N:M twin s (format nm_<dtype>) of a low-precision bitmap
// family: its kernels are s's, named s.Name.
func registerNMBitmap(s *spmvBitmapSpec) {
	if s.lp == 0 || s.Format != NMLPFormat(s.lp) {
		panic(fmt.Sprintf("asm: %s: an N:M bitmap family of format %s on %s values", s.Name, s.Format, s.lp))
	}
	Register(Family{
		Desc: &s.Desc,
		Pack: func(w formats.Matrix) (Kernel, error) {
			m, err := nmLPOf(s.Name, s.lp, w)
			if err != nil {
				return nil, err
			}
			c, err := NMLPToCSRLP(m)
			if err != nil {
				return nil, err
			}
			return packSpMVBitmapLP(s, c, bitmapKB)
		},
	})
}
