package formats

import (
	"errors"
	"fmt"
	"math"
	"math/rand"
	"reflect"
	"testing"
	"testing/quick"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var measureShapes = []BlockShape{{1, 1}, {2, 1}, {4, 1}, {3, 1}, {1, 3}, {2, 2}, {4, 4}, {3, 5}, {8, 8}, {1, 64}, {64, 1}, {5, 7}}

// oracleStats computes what Measure must report with the straightforward tools: counts
// from the dense values, block counts from BSRFromDense and the tightest N:M by trying
// NMFromDense with every Keep.
func oracleStats(t *testing.T, d *Dense, shapes []BlockShape) *Stats {
	t.Helper()
	s := &Stats{Rows: d.Rows, Cols: d.Cols, CSR16Applicable: d.Cols <= 65536}
	var counts []int
	for i := 0; i < d.Rows; i++ {
		n := 0
		for _, v := range d.Row(i) {
			if v != 0 {
				n++
			}
		}
		counts = append(counts, n)
		s.NNZ += int64(n)
	}
	if len(counts) > 0 {
		s.RowMin, s.RowMax = counts[0], counts[0]
		sum := 0.0
		for _, n := range counts {
			s.RowMin, s.RowMax = min(s.RowMin, n), max(s.RowMax, n)
			sum += float64(n)
			if n == 0 {
				s.EmptyRows++
			}
		}
		s.RowMean = sum / float64(len(counts))
		v := 0.0
		for _, n := range counts {
			v += (float64(n) - s.RowMean) * (float64(n) - s.RowMean)
		}
		s.RowStd = math.Sqrt(v / float64(len(counts)))
	}
	if d.Rows*d.Cols > 0 {
		s.Density = float64(s.NNZ) / float64(d.Rows*d.Cols)
	}
	s.DenseBytes = int64(d.Rows * d.Cols * 4)
	s.CSRBytes = s.NNZ*8 + int64(d.Rows+1)*4
	s.CSR16Bytes = s.NNZ*6 + int64(d.Rows+1)*4
	for _, sh := range shapes {
		b, err := BSRFromDense(d, sh.R, sh.C)
		require.NoError(t, err)
		bs := BlockStats{R: sh.R, C: sh.C, Blocks: int64(b.NumBlocks()), Slots: b.Stored(), Fill: 1}
		if bs.Slots > 0 {
			bs.Fill = float64(s.NNZ) / float64(bs.Slots)
		}
		bs.Bytes = bs.Slots*4 + bs.Blocks*4 + int64(b.BlockRows()+1)*4
		s.Blocks = append(s.Blocks, bs)
	}
	for _, g := range []int{4, 8, 16} {
		keep := 0
		for k := 1; k <= g; k++ {
			if _, err := NMFromDense(d, k, g); err == nil {
				keep = k
				break
			}
		}
		require.NotZero(t, keep, "every matrix satisfies %d:%d", g, g)
		if keep > 1 {
			_, err := NMFromDense(d, keep-1, g)
			require.Error(t, err)
		}
		maxNZ := keep
		if s.NNZ == 0 {
			maxNZ = 0
		}
		nm := &NM{Rows: d.Rows, Cols: d.Cols, Keep: keep, Group: g}
		slots := int64(d.Rows * nm.SlotsPerRow())
		bytes := slots*4 + (slots*int64(nm.PosBits())+7)/8
		s.NM = append(s.NM, NMStats{Group: g, MaxGroupNNZ: maxNZ, Keep: keep, Sparse: keep < g, Bytes: bytes})
	}
	return s
}

func requireStatsEqual(t *testing.T, want, got *Stats, msg string) {
	t.Helper()
	require.Equal(t, want.Rows, got.Rows, msg)
	require.Equal(t, want.NNZ, got.NNZ, msg)
	require.InDelta(t, want.Density, got.Density, 1e-12, msg)
	require.Equal(t, want.RowMin, got.RowMin, msg)
	require.Equal(t, want.RowMax, got.RowMax, msg)
	require.Equal(t, want.EmptyRows, got.EmptyRows, msg)
	require.InDelta(t, want.RowMean, got.RowMean, 1e-9, msg)
	require.InDelta(t, want.RowStd, got.RowStd, 1e-6, msg)
	require.Equal(t, want.DenseBytes, got.DenseBytes, msg)
	require.Equal(t, want.CSRBytes, got.CSRBytes, msg)
	require.Equal(t, want.CSR16Bytes, got.CSR16Bytes, msg)
	require.Equal(t, want.NM, got.NM, msg)
	require.Len(t, got.Blocks, len(want.Blocks), msg)
	for i := range want.Blocks {
		w, g := want.Blocks[i], got.Blocks[i]
		require.Equal(t, w.Blocks, g.Blocks, "%s block %dx%d", msg, w.R, w.C)
		require.Equal(t, w.Slots, g.Slots, "%s block %dx%d", msg, w.R, w.C)
		require.Equal(t, w.Bytes, g.Bytes, "%s block %dx%d", msg, w.R, w.C)
		require.InDelta(t, w.Fill, g.Fill, 1e-12, "%s block %dx%d", msg, w.R, w.C)
	}
}

// TestMeasureMatchesOracle checks Measure on every format and through both algorithms (row
// bitmaps and column lists) against oracleStats, for random shapes and fills.
func TestMeasureMatchesOracle(t *testing.T) {
	defer func() { forceMeasurePath = pathAuto }()
	f := func(c denseCase) bool {
		d := c.build()
		want := oracleStats(t, d, measureShapes)
		csr, err := CSRFromDense(d)
		require.NoError(t, err)
		bsr, err := BSRFromDense(d, 3, 2)
		require.NoError(t, err)
		inputs := map[string]Matrix{"dense": d, "csr": csr, "bsr3x2": bsr}
		if keep := want.NM[0].Keep; true {
			nm, err := NMFromDense(d, keep, 4)
			require.NoError(t, err)
			inputs["nm"] = nm
		}
		for _, path := range []int{pathAuto, pathBits, pathIdx} {
			forceMeasurePath = path
			for name, m := range inputs {
				got, err := Measure(m, measureShapes...)
				require.NoError(t, err)
				requireStatsEqual(t, want, got, name)
			}
		}
		forceMeasurePath = pathAuto
		return !t.Failed()
	}
	require.NoError(t, quick.Check(f, quickConfig(150)))
}

// TestMeasureDense: MeasureDense gives Measure's stats and, up to the density asked for,
// exactly CSRFromDense's matrix (same arrays), from one pass; above it no CSR. Checked at
// the density itself (inclusive), just below it, and never (negative).
func TestMeasureDense(t *testing.T) {
	f := func(c denseCase) bool {
		d := c.build()
		want := oracleStats(t, d, measureShapes)
		csr, err := CSRFromDense(d)
		require.NoError(t, err)
		for _, maxCSR := range []float64{-1, want.Density - 1e-9, want.Density, 1} {
			st, got, err := MeasureDense(d, maxCSR, measureShapes...)
			require.NoError(t, err)
			requireStatsEqual(t, want, st, fmt.Sprintf("max %g", maxCSR))
			if want.Density <= maxCSR {
				require.NotNil(t, got, "max %g, density %g", maxCSR, want.Density)
				require.Equal(t, csr, got, "max %g", maxCSR)
				require.NoError(t, got.Validate())
			} else {
				require.Nil(t, got, "max %g, density %g", maxCSR, want.Density)
			}
		}
		return !t.Failed()
	}
	require.NoError(t, quick.Check(f, quickConfig(150)))

	// Bad input is an error, as for Measure.
	_, _, err := MeasureDense(nil, 1)
	require.ErrorIs(t, err, ErrInvalid)
	_, _, err = MeasureDense(&Dense{Rows: 2, Cols: 3, Stride: 2, Data: make([]float32, 6)}, 1)
	require.ErrorIs(t, err, ErrInvalid)
	_, _, err = MeasureDense(&Dense{Rows: 1, Cols: 1, Stride: 1, Data: []float32{1}}, 1, BlockShape{0, 1})
	require.ErrorIs(t, err, ErrInvalid)
}

// TestMeasureStoredZeros: zeros a format stores (explicit CSR zeros, zeros inside BSR blocks,
// spare N:M slots) are not nonzeros.
func TestMeasureStoredZeros(t *testing.T) {
	c, err := NewCSR(2, 5, []int64{0, 3, 4}, []int32{0, 2, 4, 1}, []float32{1, 0, 2, 0})
	require.NoError(t, err)
	s, err := Measure(c)
	require.NoError(t, err)
	assert.Equal(t, int64(2), s.NNZ)
	assert.Equal(t, 0, s.RowMin)
	assert.Equal(t, 2, s.RowMax)
	assert.Equal(t, 1, s.EmptyRows)
	assert.Equal(t, 1, s.NM[0].MaxGroupNNZ) // columns 0 and 4 are in different groups of 4
	b, ok := s.Block(4, 4)
	require.True(t, ok)
	assert.Equal(t, int64(2), b.Blocks) // 2×4 and 2×1 (ragged)
	assert.Equal(t, int64(10), b.Slots)
	assert.InDelta(t, 0.2, b.Fill, 1e-12)
}

func TestMeasureHandExamples(t *testing.T) {
	// 3×6 with a 2:4-violating first group in row 0 and a partial last group of 2 columns.
	d, err := NewDense(3, 6, []float32{
		1, 2, 3, 0, 0, 5,
		0, 0, 0, 0, 1, 1,
		0, 0, 0, 0, 0, 0,
	})
	require.NoError(t, err)
	s, err := Measure(d, BlockShape{2, 4}, BlockShape{1, 1})
	require.NoError(t, err)
	assert.Equal(t, int64(6), s.NNZ)
	assert.InDelta(t, 6.0/18, s.Density, 1e-12)
	assert.Equal(t, 0, s.RowMin)
	assert.Equal(t, 4, s.RowMax)
	assert.InDelta(t, 2.0, s.RowMean, 1e-12)
	assert.InDelta(t, math.Sqrt((4+0+4)/3.0), s.RowStd, 1e-12)
	assert.Equal(t, NMStats{Group: 4, MaxGroupNNZ: 3, Keep: 3, Sparse: true, Bytes: 15*4 + 4}, s.NM[0])
	assert.Equal(t, 4, s.NM[1].Keep) // group of 8 = whole (partial) row
	assert.Equal(t, 4, s.NM[2].Keep)
	// 2×4 blocks: block row 0 has (0,0) full 2×4 and (0,1) ragged 2×2; block row 1 (1 row) none.
	assert.Equal(t, BlockStats{R: 2, C: 4, Blocks: 2, Slots: 12, Fill: 0.5, Bytes: 12*4 + 2*4 + 3*4}, s.Blocks[0])
	assert.Equal(t, int64(6), s.Blocks[1].Slots)
	assert.Equal(t, int64(18*4), s.DenseBytes)
	assert.Equal(t, int64(6*8+4*4), s.CSRBytes)
	assert.Equal(t, int64(6*6+4*4), s.CSR16Bytes)
	best, ok := s.BestBlock()
	require.True(t, ok)
	assert.Equal(t, 1, best.R) // 1×1 stores only the nonzeros
}

func TestMeasureSpecialValues(t *testing.T) {
	nan := float32(math.NaN())
	negZero := float32(math.Copysign(0, -1))
	d, err := NewDense(1, 4, []float32{nan, negZero, float32(math.Inf(-1)), 0})
	require.NoError(t, err)
	for _, path := range []int{pathBits, pathIdx} {
		forceMeasurePath = path
		for _, m := range []Matrix{d, must(CSRFromDense(d))} {
			s, err := Measure(m)
			require.NoError(t, err)
			assert.Equal(t, int64(2), s.NNZ, "NaN and −Inf are nonzeros, −0 is not")
			assert.Equal(t, 2, s.NM[0].Keep)
		}
	}
	forceMeasurePath = pathAuto
}

func TestMeasureErrors(t *testing.T) {
	_, err := Measure(nil)
	require.Error(t, err)
	_, err = Measure(&CSR{Rows: 2, Cols: 2, RowPtr: []int64{0, 1}})
	var ie *InvalidError
	require.True(t, errors.As(err, &ie))
	d, _ := ZeroDense(2, 2)
	for _, sh := range []BlockShape{{0, 1}, {1, 0}, {65, 1}, {-1, -1}} {
		_, err = Measure(d, sh)
		require.ErrorAs(t, err, &ie, "%v", sh)
	}
	_, err = BlockFill(d, 0, 0)
	require.Error(t, err)
	assert.Equal(t, int64(0), NMBytes(2, 2, 3, 2))
}

func TestMeasureLargeKNoCSR16(t *testing.T) {
	c, err := NewCSR(1, 70000, []int64{0, 1}, []int32{69999}, []float32{1})
	require.NoError(t, err)
	s, err := Measure(c)
	require.NoError(t, err)
	assert.False(t, s.CSR16Applicable)
	assert.Zero(t, s.CSR16Bytes)
	b, _ := s.Block(8, 8)
	assert.Equal(t, int64(8), b.Slots) // last block column is 70000 − 8749·8 = 8 wide, 1 row
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// BenchmarkMeasureDense measures an 11008×4096 dense matrix at 50% density (the decoder MLP
// shape); BenchmarkMeasureCSR the same at 10% as CSR.
func BenchmarkMeasureDense(b *testing.B) {
	d := bigRandom(11008, 4096, 0.5)
	b.ResetTimer()
	for b.Loop() {
		if _, err := Measure(d); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMeasureCSR(b *testing.B) {
	c := must(CSRFromDense(bigRandom(11008, 4096, 0.1)))
	b.ResetTimer()
	for b.Loop() {
		if _, err := Measure(c); err != nil {
			b.Fatal(err)
		}
	}
}

func bigRandom(m, k int, density float64) *Dense {
	r := rand.New(rand.NewSource(1))
	d := &Dense{Rows: m, Cols: k, Stride: k, Data: make([]float32, m*k)}
	for i := range d.Data {
		if r.Float64() < density {
			d.Data[i] = float32(r.NormFloat64())
		}
	}
	return d
}

// TestMeasureLowPrecision: a CSRLP or DenseLP measures as its widened float32 matrix does
// (row counts, blocks, N:M), read from the stored values without widening them.
func TestMeasureLowPrecision(t *testing.T) {
	d, err := ZeroDense(37, 45)
	if err != nil {
		t.Fatal(err)
	}
	for i := range d.Data {
		if i%5 == 0 || i%7 == 3 {
			d.Data[i] = float32(i%11) - 5 // some kept entries are 0: stored zeros
		}
	}
	forEachLP(t, d, func(dt DType, lp *CSRLP, dlp *DenseLP) {
		for _, pair := range [][2]Matrix{{lp, lp.ToCSR()}, {dlp, dlp.ToDense()}} {
			got, err1 := Measure(pair[0])
			want, err2 := Measure(pair[1])
			if err1 != nil || err2 != nil {
				t.Fatal(err1, err2)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s %T: measured %+v, widened %+v", dt, pair[0], got, want)
			}
			if got.RowMax == 0 || got.NNZ != pair[0].NNZ() {
				t.Errorf("%s %T: row max %d, nnz %d of %d", dt, pair[0], got.RowMax, got.NNZ, pair[0].NNZ())
			}
		}
	})
}
