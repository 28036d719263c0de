package formats

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestValidateRejects is a table of hand-made broken matrices: each must fail Validate with
// an *InvalidError of the right format whose message names the broken rule, and nothing
// may panic (Validate, nor the constructor that wraps it).

// Sizes that compile on 32-bit targets too (go vet runs for linux/386): the largest int,
// and 2³¹ as a run-time value (only 64-bit platforms hold it in an int).
const maxInt = int(^uint(0) >> 1)

var huge31 = int64(1) << 31

func TestValidateRejects(t *testing.T) {
	f := func(n int) []float32 { return make([]float32, n) }
	cases := []struct {
		name   string
		m      Matrix
		format string
		want   string // a fragment of the message
	}{
		{"dense negative", &Dense{Rows: -1, Cols: 2, Stride: 2}, "dense", "negative"},
		{"dense stride", &Dense{Rows: 2, Cols: 3, Stride: 2, Data: f(6)}, "dense", "stride"},
		{"dense short", &Dense{Rows: 2, Cols: 3, Stride: 4, Data: f(6)}, "dense", "needs 7"},
		{"dense overflow", &Dense{Rows: maxInt / 2, Cols: maxInt / 2, Stride: maxInt / 2}, "dense", "overflows"},

		{"csr rowptr length", &CSR{Rows: 2, Cols: 2, RowPtr: []int64{0, 1}, ColIdx: []int32{0}, Val: f(1)}, "csr", "len(RowPtr)"},
		{"csr rowptr nil", &CSR{Rows: 0, Cols: 2}, "csr", "len(RowPtr)"},
		{"csr rowptr start", &CSR{Rows: 1, Cols: 2, RowPtr: []int64{1, 1}, ColIdx: []int32{0}, Val: f(1)}, "csr", "RowPtr[0]"},
		{"csr non-monotone", &CSR{Rows: 3, Cols: 3, RowPtr: []int64{0, 2, 1, 2}, ColIdx: []int32{0, 1}, Val: f(2)}, "csr", "monotone"},
		{"csr negative rowptr", &CSR{Rows: 2, Cols: 3, RowPtr: []int64{0, -1, 1}, ColIdx: []int32{0}, Val: f(1)}, "csr", "monotone"},
		{"csr nnz vs colidx", &CSR{Rows: 1, Cols: 3, RowPtr: []int64{0, 2}, ColIdx: []int32{0}, Val: f(2)}, "csr", "len(ColIdx)"},
		{"csr nnz vs val", &CSR{Rows: 1, Cols: 3, RowPtr: []int64{0, 2}, ColIdx: []int32{0, 1}, Val: f(1)}, "csr", "len(Val)"},
		{"csr column high", &CSR{Rows: 1, Cols: 3, RowPtr: []int64{0, 1}, ColIdx: []int32{3}, Val: f(1)}, "csr", "outside [0, 3)"},
		{"csr column negative", &CSR{Rows: 1, Cols: 3, RowPtr: []int64{0, 1}, ColIdx: []int32{-1}, Val: f(1)}, "csr", "outside"},
		{"csr duplicate", &CSR{Rows: 2, Cols: 3, RowPtr: []int64{0, 0, 2}, ColIdx: []int32{1, 1}, Val: f(2)}, "csr", "duplicate"},
		{"csr unsorted", &CSR{Rows: 1, Cols: 3, RowPtr: []int64{0, 2}, ColIdx: []int32{2, 0}, Val: f(2)}, "csr", "not strictly after"},
		{"csr too many in row", &CSR{Rows: 1, Cols: 1, RowPtr: []int64{0, 2}, ColIdx: []int32{0, 0}, Val: f(2)}, "csr", "entries in a row"},
		{"csr huge K", &CSR{Rows: 0, Cols: int(huge31), RowPtr: []int64{0}}, "csr", "int32"},
		{"csr negative shape", &CSR{Rows: -1, Cols: 1}, "csr", "negative"},

		{"bsr block size", &BSR{Rows: 2, Cols: 2, R: 0, C: 1, BlockRowPtr: []int64{0}}, "bsr", "block 0×1"},
		{"bsr block too big", &BSR{Rows: 2, Cols: 2, R: 65, C: 1, BlockRowPtr: []int64{0, 0}}, "bsr", "outside 1…64"},
		{"bsr rowptr length", &BSR{Rows: 5, Cols: 4, R: 2, C: 2, BlockRowPtr: []int64{0, 0, 0}}, "bsr", "⌈M/R⌉+1 = 4"},
		{"bsr rowptr start", &BSR{Rows: 2, Cols: 4, R: 2, C: 2, BlockRowPtr: []int64{1, 1}, BlockCol: []int32{0}, Val: f(4)}, "bsr", "BlockRowPtr[0]"},
		{"bsr blocks vs blockcol", &BSR{Rows: 2, Cols: 4, R: 2, C: 2, BlockRowPtr: []int64{0, 2}, BlockCol: []int32{0}, Val: f(4)}, "bsr", "len(BlockCol)"},
		{"bsr non-monotone", &BSR{Rows: 6, Cols: 4, R: 2, C: 2, BlockRowPtr: []int64{0, 2, 1, 2}, BlockCol: []int32{0, 1}, Val: f(8)}, "bsr", "monotone"},
		{"bsr block column out of range", &BSR{Rows: 2, Cols: 5, R: 2, C: 2, BlockRowPtr: []int64{0, 1}, BlockCol: []int32{3}, Val: f(4)}, "bsr", "outside [0, 3)"},
		{"bsr block column negative", &BSR{Rows: 2, Cols: 5, R: 2, C: 2, BlockRowPtr: []int64{0, 1}, BlockCol: []int32{-2}, Val: f(4)}, "bsr", "outside"},
		{"bsr duplicate block", &BSR{Rows: 2, Cols: 4, R: 2, C: 2, BlockRowPtr: []int64{0, 2}, BlockCol: []int32{1, 1}, Val: f(8)}, "bsr", "not strictly after"},
		{"bsr too many blocks", &BSR{Rows: 2, Cols: 2, R: 2, C: 2, BlockRowPtr: []int64{0, 2}, BlockCol: []int32{0, 0}, Val: f(8)}, "bsr", "blocks in a row"},
		// 3×5 with 2×2 blocks: block (1, 2) is 1×1, so one stored block there needs 1 value.
		{"bsr ragged val length", &BSR{Rows: 3, Cols: 5, R: 2, C: 2, BlockRowPtr: []int64{0, 0, 1}, BlockCol: []int32{2}, Val: f(4)}, "bsr", "need 1"},
		{"bsr val length", &BSR{Rows: 2, Cols: 4, R: 2, C: 2, BlockRowPtr: []int64{0, 1}, BlockCol: []int32{0}, Val: f(3)}, "bsr", "need 4"},

		{"nm keep 0", &NM{Rows: 1, Cols: 4, Keep: 0, Group: 4}, "nm", "pattern 0:4"},
		{"nm keep > group", &NM{Rows: 1, Cols: 4, Keep: 5, Group: 4}, "nm", "pattern 5:4"},
		{"nm group too big", &NM{Rows: 1, Cols: 4, Keep: 1, Group: 17}, "nm", "pattern 1:17"},
		{"nm group 0", &NM{Rows: 1, Cols: 4, Keep: 0, Group: 0}, "nm", "pattern"},
		{"nm lengths", &NM{Rows: 2, Cols: 4, Keep: 2, Group: 4, Val: f(4), Pos: []uint8{0, 1, 0}}, "nm", "len(Val) = 4, len(Pos) = 3"},
		{"nm val short", &NM{Rows: 2, Cols: 4, Keep: 2, Group: 4, Val: f(3), Pos: []uint8{0, 1, 0, 1}}, "nm", "want M·slots = 4"},
		{"nm position ≥ width", &NM{Rows: 1, Cols: 4, Keep: 2, Group: 4, Val: f(2), Pos: []uint8{0, 4}}, "nm", "outside group width 4"},
		// K = 6, 2:4: the partial group is 2 wide, so position 2 is out of it.
		{"nm position ≥ partial width", &NM{Rows: 1, Cols: 6, Keep: 2, Group: 4, Val: f(4), Pos: []uint8{0, 1, 0, 2}}, "nm", "group 1, slot 1"},
		{"nm positions equal", &NM{Rows: 1, Cols: 4, Keep: 2, Group: 4, Val: f(2), Pos: []uint8{1, 1}}, "nm", "not strictly after"},
		{"nm positions decreasing", &NM{Rows: 2, Cols: 8, Keep: 2, Group: 4, Val: f(8), Pos: []uint8{0, 1, 0, 1, 0, 1, 3, 2}}, "nm", "row 1, group 1, slot 1"},
		{"nm negative shape", &NM{Rows: 1, Cols: -4, Keep: 2, Group: 4}, "nm", "negative"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			mustNoPanic(t, "Validate", func() { err = tc.m.Validate() })
			var ie *InvalidError
			require.ErrorAs(t, err, &ie)
			require.True(t, errors.Is(err, ErrInvalid))
			require.Equal(t, tc.format, ie.Format)
			require.Contains(t, err.Error(), tc.want)
			// The constructors refuse the same arrays.
			mustNoPanic(t, "constructor", func() {
				switch m := tc.m.(type) {
				case *CSR:
					_, err = NewCSR(m.Rows, m.Cols, m.RowPtr, m.ColIdx, m.Val)
				case *BSR:
					_, err = NewBSR(m.Rows, m.Cols, m.R, m.C, m.BlockRowPtr, m.BlockCol, m.Val)
				case *NM:
					_, err = NewNM(m.Rows, m.Cols, m.Keep, m.Group, m.Val, m.Pos)
				case *Dense:
					_, err = NewDenseStride(m.Rows, m.Cols, m.Stride, m.Data)
				}
			})
			require.ErrorAs(t, err, &ie)
			// Measure refuses it too.
			mustNoPanic(t, "Measure", func() { _, err = Measure(tc.m) })
			require.ErrorAs(t, err, &ie)
		})
	}
}

func TestValidateNil(t *testing.T) {
	var ie *InvalidError
	for _, m := range []Matrix{(*Dense)(nil), (*CSR)(nil), (*BSR)(nil), (*NM)(nil)} {
		var err error
		mustNoPanic(t, "nil", func() { err = m.Validate() })
		require.ErrorAs(t, err, &ie)
	}
}

// TestValidateAccepts: the edge cases that are valid stay valid.
func TestValidateAccepts(t *testing.T) {
	f := func(n int) []float32 { return make([]float32, n) }
	for name, m := range map[string]Matrix{
		"csr empty":            &CSR{Rows: 0, Cols: 0, RowPtr: []int64{0}},
		"csr explicit zeros":   &CSR{Rows: 2, Cols: 3, RowPtr: []int64{0, 3, 3}, ColIdx: []int32{0, 1, 2}, Val: f(3)},
		"bsr ragged corner":    &BSR{Rows: 3, Cols: 5, R: 2, C: 2, BlockRowPtr: []int64{0, 0, 1}, BlockCol: []int32{2}, Val: f(1)},
		"bsr empty":            &BSR{Rows: 0, Cols: 3, R: 4, C: 4, BlockRowPtr: []int64{0}},
		"nm partial":           &NM{Rows: 1, Cols: 6, Keep: 2, Group: 4, Val: f(4), Pos: []uint8{0, 3, 0, 1}},
		"nm K=0":               &NM{Rows: 3, Cols: 0, Keep: 2, Group: 4},
		"nm 1:1":               &NM{Rows: 1, Cols: 2, Keep: 1, Group: 1, Val: f(2), Pos: []uint8{0, 0}},
		"dense zero cols":      &Dense{Rows: 3, Cols: 0, Stride: 0},
		"dense strided":        &Dense{Rows: 2, Cols: 2, Stride: 3, Data: f(5)},
		"dense max group nm16": &NM{Rows: 1, Cols: 16, Keep: 16, Group: 16, Val: f(16), Pos: []uint8{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}},
	} {
		require.NoError(t, m.Validate(), name)
	}
}

// TestIsNil: a nil interface and a typed nil pointer of every format are no matrix; a
// zero-sized matrix is one.
func TestIsNil(t *testing.T) {
	for _, w := range []Matrix{nil, (*Dense)(nil), (*CSR)(nil), (*BSR)(nil), (*NM)(nil), (*DenseLP)(nil), (*CSRLP)(nil)} {
		if !IsNil(w) {
			t.Errorf("IsNil(%T) = false", w)
		}
	}
	if IsNil(&Dense{}) || IsNil(&CSR{RowPtr: []int64{0}}) {
		t.Error("IsNil of a zero-sized matrix = true")
	}
}
