package dispatch

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/sparsegen/sparsegen/asm"
	"github.com/sparsegen/sparsegen/formats"
)

// target is a canonical format Compile may pack W into: the input as is, or a conversion.
type target struct {
	format      string // "dense", "csr", "bsr", "nm"
	r, c        int    // BSR block
	keep, group int    // N:M pattern
	asIs        bool   // the input matrix itself, no conversion
	stored      int64  // values the format stores (the work per output column)
	full        bool   // a conversion that stores every weight of W (every block nonzero)
	pattern     string // csr: formats.PatternHash of W's pattern, where a baked family may take it
}

func (t target) String() string {
	switch t.format {
	case "bsr":
		return "bsr" + strconv.Itoa(t.r) + "x" + strconv.Itoa(t.c) // not Sprintf: Compile asks often
	case "nm":
		return "nm" + strconv.Itoa(t.keep) + ":" + strconv.Itoa(t.group)
	}
	if t.r > 0 && strings.HasPrefix(t.format, "bsr_") { // a DenseLP regrouped: "bsr8x1_bf16"
		return "bsr" + strconv.Itoa(t.r) + "x" + strconv.Itoa(t.c) + t.format[3:]
	}
	return t.format
}

// parseTarget reads "dense", "csr", "bsrRxC" or "nmK:G" (Options.Format and records).
func parseTarget(s string) (target, error) {
	var t target
	switch {
	case s == "dense" || s == "csr":
		t.format = s
	case len(s) > 3 && s[:3] == "bsr":
		if _, err := fmt.Sscanf(s, "bsr%dx%d", &t.r, &t.c); err != nil || t.r < 1 || t.c < 1 || t.r > formats.MaxBlockDim || t.c > formats.MaxBlockDim {
			return t, fmt.Errorf("dispatch: bad block format %q (want e.g. bsr4x1)", s)
		}
		t.format = "bsr"
	case len(s) > 2 && s[:2] == "nm":
		if _, err := fmt.Sscanf(s, "nm%d:%d", &t.keep, &t.group); err != nil || t.keep < 1 || t.keep > t.group || t.group > formats.MaxGroup {
			return t, fmt.Errorf("dispatch: bad N:M format %q (want e.g. nm2:4)", s)
		}
		t.format = "nm"
	default:
		return t, fmt.Errorf("dispatch: unknown format %q (want dense, csr, bsrRxC or nmK:G)", s)
	}
	return t, nil
}

// sameAs reports whether w already is in format t.
func (t target) sameAs(w formats.Matrix) bool {
	switch w := w.(type) {
	case *formats.Dense:
		return t.format == "dense"
	case *formats.CSR:
		return t.format == "csr"
	case *formats.BSR:
		return t.format == "bsr" && t.r == w.R && t.c == w.C
	case *formats.NM:
		return t.format == "nm" && t.keep == w.Keep && t.group == w.Group
	}
	return false
}

// convert builds w in format t. Conversions keep W's true nonzeros only (stored zeros of
// the input are dropped; formats with padding store their own zeros). They run in
// O(nnz + M) from sparse inputs and never build a dense copy, except to make a Dense.
func convert(w formats.Matrix, t target) (formats.Matrix, error) {
	if t.sameAs(w) {
		return w, nil
	}
	if d, ok := w.(*formats.DenseLP); ok && t.r > 0 && t.format == asm.BSRLPFormat(d.DType) {
		return formats.BSRLPFromDenseLP(d, t.r, t.c) // the same stored values, in blocks
	}
	m, k := w.Shape()
	switch t.format {
	case "dense":
		d := w.ToDense()
		if d == w {
			return d, nil
		}
		return d, d.Validate()
	case "csr":
		if d, ok := w.(*formats.Dense); ok {
			return formats.CSRFromDense(d)
		}
		return toCSR(w, m, k)
	case "bsr":
		return toBSR(w, m, k, t.r, t.c)
	case "nm":
		return toNM(w, m, k, t.keep, t.group)
	}
	return nil, fmt.Errorf("dispatch: cannot convert to %s", t)
}

// valRows yields the sorted columns and values of each row's true nonzeros.
func valRows(w formats.Matrix) (func(i int, cols []int32, vals []float32) ([]int32, []float32), error) {
	cols, _, _, err := rowsOf(w)
	if err != nil {
		return nil, err
	}
	switch w := w.(type) {
	case *formats.CSR:
		return func(i int, cs []int32, vs []float32) ([]int32, []float32) {
			cs, vs = cs[:0], vs[:0]
			for p := w.RowPtr[i]; p < w.RowPtr[i+1]; p++ {
				if w.Val[p] != 0 {
					cs, vs = append(cs, w.ColIdx[p]), append(vs, w.Val[p])
				}
			}
			return cs, vs
		}, nil
	default:
		at := denseAt(w)
		return func(i int, cs []int32, vs []float32) ([]int32, []float32) {
			cs = cols(i, cs)
			vs = vs[:0]
			for _, c := range cs {
				vs = append(vs, at(i, int(c)))
			}
			return cs, vs
		}, nil
	}
}

// denseAt returns an element accessor for nonzero positions (only called where rowsOf
// reported a nonzero, so lookups stay inside the stored structure).
func denseAt(w formats.Matrix) func(i, j int) float32 {
	switch w := w.(type) {
	case *formats.Dense:
		return w.At
	case *formats.BSR:
		return func(i, j int) float32 {
			bi, bj := i/w.R, int32(j/w.C)
			lo, hi := w.BlockRowPtr[bi], w.BlockRowPtr[bi+1]
			for lo < hi { // binary search the block column
				mid := (lo + hi) / 2
				if w.BlockCol[mid] < bj {
					lo = mid + 1
				} else {
					hi = mid
				}
			}
			_, bw := w.BlockDims(bi, int(bj))
			return w.Val[w.BlockOffset(int(lo))+int64((i%w.R)*bw+j%w.C)]
		}
	case *formats.NM:
		spr := w.SlotsPerRow()
		return func(i, j int) float32 {
			g := j / w.Group
			s := i*spr + g*w.Keep
			slots, _ := w.GroupSlots(g)
			for t := 0; t < slots; t++ {
				if int(w.Pos[s+t]) == j%w.Group {
					return w.Val[s+t]
				}
			}
			return 0
		}
	}
	return func(int, int) float32 { return 0 }
}

func toCSR(w formats.Matrix, m, k int) (*formats.CSR, error) {
	rows, err := valRows(w)
	if err != nil {
		return nil, err
	}
	nnz := w.NNZ()
	c := &formats.CSR{Rows: m, Cols: k, RowPtr: make([]int64, m+1), ColIdx: make([]int32, 0, nnz), Val: make([]float32, 0, nnz)}
	var cs []int32
	var vs []float32
	for i := 0; i < m; i++ {
		cs, vs = rows(i, cs, vs)
		c.ColIdx = append(c.ColIdx, cs...)
		c.Val = append(c.Val, vs...)
		c.RowPtr[i+1] = int64(len(c.Val))
	}
	return c, c.Validate()
}

func toBSR(w formats.Matrix, m, k, r, cb int) (*formats.BSR, error) {
	rows, err := valRows(w)
	if err != nil {
		return nil, err
	}
	b := &formats.BSR{Rows: m, Cols: k, R: r, C: cb}
	br, bc := b.BlockRows(), b.BlockCols()
	b.BlockRowPtr = make([]int64, br+1)
	slot := make([]int32, bc) // block column → index in this block row's list, +1
	var cs []int32
	var vs []float32
	type ent struct {
		row      int
		col      int32
		val      float32
		blockCol int32
	}
	var ents []ent
	var bcols []int32
	for bi := 0; bi < br; bi++ {
		ents, bcols = ents[:0], bcols[:0]
		h := min(r, m-bi*r)
		for rr := 0; rr < h; rr++ {
			cs, vs = rows(bi*r+rr, cs, vs)
			for t, c := range cs {
				j := c / int32(cb)
				if slot[j] == 0 {
					slot[j] = 1
					bcols = append(bcols, j)
				}
				ents = append(ents, ent{rr, c, vs[t], j})
			}
		}
		sortInt32(bcols)
		base := int64(len(b.Val))
		offs := make([]int64, len(bcols))
		for t, j := range bcols {
			slot[j] = int32(t + 1)
			_, bw := b.BlockDims(bi, int(j))
			offs[t] = int64(len(b.Val)) - base
			b.Val = append(b.Val, make([]float32, h*bw)...)
		}
		for _, e := range ents {
			t := slot[e.blockCol] - 1
			_, bw := b.BlockDims(bi, int(e.blockCol))
			b.Val[base+offs[t]+int64(e.row*bw)+int64(e.col%int32(cb))] = e.val
		}
		for _, j := range bcols {
			slot[j] = 0
		}
		b.BlockCol = append(b.BlockCol, bcols...)
		b.BlockRowPtr[bi+1] = int64(len(b.BlockCol))
	}
	return b, b.Validate()
}

func sortInt32(a []int32) { slices.Sort(a) }

func toNM(w formats.Matrix, m, k, keep, group int) (*formats.NM, error) {
	rows, err := valRows(w)
	if err != nil {
		return nil, err
	}
	n := &formats.NM{Rows: m, Cols: k, Keep: keep, Group: group}
	if group < 1 || group > formats.MaxGroup || keep < 1 || keep > group {
		return nil, fmt.Errorf("dispatch: bad N:M pattern %d:%d", keep, group)
	}
	spr := n.SlotsPerRow()
	n.Val = make([]float32, m*spr)
	n.Pos = make([]uint8, m*spr)
	var cs []int32
	var vs []float32
	for i := 0; i < m; i++ {
		cs, vs = rows(i, cs, vs)
		s := i * spr
		p := 0
		for g := 0; g < n.Groups(); g++ {
			slots, width := n.GroupSlots(g)
			lo := p
			for p < len(cs) && int(cs[p])/group == g {
				p++
			}
			if p-lo > slots {
				return nil, fmt.Errorf("dispatch: row %d, group %d has %d nonzeros, %d:%d allows %d", i, g, p-lo, keep, group, slots)
			}
			// Merge the kept positions with the lowest unused positions for spare slots,
			// in increasing position order (as formats.NMFromDense does).
			spare := slots - (p - lo)
			q, t := lo, 0
			for pos := 0; pos < width && t < slots; pos++ {
				if q < p && int(cs[q])%group == pos {
					n.Val[s+t], n.Pos[s+t] = vs[q], uint8(pos)
					q++
					t++
				} else if spare > 0 {
					n.Pos[s+t] = uint8(pos)
					spare--
					t++
				}
			}
			s += slots
		}
	}
	return n, n.Validate()
}
