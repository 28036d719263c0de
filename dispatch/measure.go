package dispatch

import (
	"fmt"
	"slices"

	"github.com/sparsegen/sparsegen/asm"
	"github.com/sparsegen/sparsegen/formats"
)

// Measure is what Compile learns about W before choosing kernels: formats.Stats (counts,
// nonzeros per row, the fill of candidate R×C blocks, the tightest N:M per group size) for
// the candidate block shapes, plus what the input format stores. One type: inspect prints
// the same Stats.
type Measure struct {
	formats.Stats
	Format string // the input format: "dense", "csr", "bsr", "nm"; low precision: "dense_bf16", "csr_i8" …
	Stored int64  // values the input format stores (zeros included)
	DType  string // the stored values' type for a low-precision W ("bf16", "f16", "i8"); "" for float32
}

// Candidate block shapes measured by default. The block shapes of registered BSR families
// (their descriptors' BlockR×BlockC) are added to these. N:M fits are measured for groups 4, 8, 16.
var defaultBlocks = [][2]int{{4, 1}, {8, 1}, {4, 4}}

// fill returns the measured stats of R×C blocks (Fill 0 when W has no nonzero).
func (m *Measure) fill(r, c int) (formats.BlockStats, bool) {
	return m.Block(r, c)
}

// nmKeep returns the smallest Keep with which W conforms to Keep:group, or 0 if unmeasured.
func (m *Measure) nmKeep(group int) int {
	for _, f := range m.NM {
		if f.Group == group {
			return f.Keep
		}
	}
	return 0
}

// rowIter yields the sorted columns of the true nonzeros of each row.
type rowIter func(i int, buf []int32) []int32

func rowsOf(w formats.Matrix) (rowIter, string, int64, error) {
	var format string
	var stored int64
	switch w := w.(type) {
	case *formats.Dense:
		format, stored = "dense", int64(w.Rows)*int64(w.Cols)
	case *formats.CSR:
		format, stored = "csr", int64(len(w.Val))
	case *formats.BSR:
		format, stored = "bsr", int64(len(w.Val))
	case *formats.NM:
		format, stored = "nm", int64(len(w.Val))
	default:
		return nil, "", 0, fmt.Errorf("dispatch: unsupported matrix type %T", w)
	}
	return formats.RowNonzeros(w), format, stored, nil
}

// sparseFromDenseMax is the density up to which Compile converts a Dense W to CSR while
// measuring it (formats.MeasureDense): the CSR then serves every sparse conversion, so W's
// values are read once, not once to measure and again to convert. Above it the CSR would
// cost more than half W's own size to keep for a format the policy seldom picks there.
const sparseFromDenseMax = 0.25

// measureFor returns the families this CPU runs under the ISA cap and the Measure of w
// for the block shapes they could use (with w's own and a forced format's block). With
// keepSparse, a Dense w no denser than sparseFromDenseMax also comes back as a CSR.
func measureFor(w formats.Matrix, host CPU, isa asm.ISA, format string, keepSparse bool) ([]asm.Family, *Measure, *formats.CSR, error) {
	var fams []asm.Family
	var blocks [][2]int
	for _, f := range asm.Families() {
		if host.CanRun(f, isa) {
			fams = append(fams, f)
			if f.Format == "bsr" && blocks == nil {
				blocks = candidateBlocks()
			}
		}
	}
	if bw, ok := w.(*formats.BSR); ok {
		blocks = addBlock(blocks, bw.R, bw.C)
	}
	if t, err := parseTarget(format); format != "" && err == nil && t.format == "bsr" {
		blocks = addBlock(blocks, t.r, t.c)
	}
	maxCSR := -1.0
	if keepSparse {
		maxCSR = sparseFromDenseMax
	}
	ms, sparse, err := measureWith(w, blocks, maxCSR)
	return fams, ms, sparse, err
}

// measure validates w and computes its Measure for the given candidate blocks.
func measure(w formats.Matrix, blocks [][2]int) (*Measure, error) {
	ms, _, err := measureWith(w, blocks, -1)
	return ms, err
}

// measureWith is measure with formats.Measure (which validates first; then one pass over
// the nonzeros, or over the values of a Dense), and for a Dense w no denser than maxCSR
// also its CSR, from the same pass (formats.MeasureDense).
func measureWith(w formats.Matrix, blocks [][2]int, maxCSR float64) (*Measure, *formats.CSR, error) {
	var format, dtype string
	var stored int64
	if l, lp := lpOf(w); lp {
		format, dtype, stored = l.format, l.dt.String(), l.stored
	} else {
		var err error
		if _, format, stored, err = rowsOf(w); err != nil {
			return nil, nil, err
		}
	}
	shapes := make([]formats.BlockShape, len(blocks))
	for i, b := range blocks {
		shapes[i] = formats.BlockShape{R: b[0], C: b[1]}
	}
	if len(shapes) == 0 {
		shapes = []formats.BlockShape{{R: 1, C: 1}} // formats.Measure's default list is longer
	}
	var st *formats.Stats
	var sparse *formats.CSR
	var err error
	if d, ok := w.(*formats.Dense); ok {
		st, sparse, err = formats.MeasureDense(d, maxCSR, shapes...)
	} else {
		st, err = formats.Measure(w, shapes...)
	}
	if err != nil {
		return nil, nil, err
	}
	ms := &Measure{Stats: *st, Format: format, Stored: stored, DType: dtype}
	if len(blocks) == 0 {
		ms.Blocks = nil // the 1×1 stand-in above is not a candidate
	}
	for i := range ms.Blocks {
		if ms.Blocks[i].Blocks == 0 {
			ms.Blocks[i].Fill = 0 // no block holds a nonzero: nothing for BSR to fill
		}
	}
	// Groups wider than W are not candidates (an empty W keeps them: nothing to skip).
	ms.NM = slices.DeleteFunc(slices.Clone(st.NM), func(f formats.NMStats) bool { return f.Group > st.Cols && st.Cols != 0 })
	return ms, sparse, nil
}

func (m *Measure) String() string {
	s := fmt.Sprintf("W %d×%d %s, nnz %d (density %.2f%%), nnz/row min %d mean %.1f max %d",
		m.Rows, m.Cols, m.Format, m.NNZ, 100*m.Density, m.RowMin, m.RowMean, m.RowMax)
	for _, b := range m.Blocks {
		s += fmt.Sprintf(", fill %dx%d %.0f%%", b.R, b.C, 100*b.Fill)
	}
	var fits []string
	for _, f := range m.NM {
		if 2*f.Keep <= f.Group {
			fits = append(fits, fmt.Sprintf("%d:%d", f.Keep, f.Group))
		}
	}
	if len(fits) > 0 {
		s += ", conforms to N:M " + fmt.Sprint(fits)
	}
	return s
}

// addBlock adds an R×C shape to a candidate list unless present.
func addBlock(list [][2]int, r, c int) [][2]int {
	if r < 1 || c < 1 || r > formats.MaxBlockDim || c > formats.MaxBlockDim || slices.Contains(list, [2]int{r, c}) {
		return list
	}
	return append(list, [2]int{r, c})
}
