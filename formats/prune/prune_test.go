package prune

import (
	"errors"
	"math"
	"math/rand"
	"reflect"
	"slices"
	"testing"
	"testing/quick"

	"github.com/sparsegen/sparsegen/formats"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pcase is a random pruning case for testing/quick: shape, stride padding, value kind (many
// ties when Levels > 0), some zeros, and a target.
type pcase struct {
	M, K, Pad int
	Levels    int // > 0: values drawn from ±{1..Levels}, so magnitudes tie often
	Zeros     float64
	Sparsity  float64
	Seed      int64
}

var dims = []int{0, 1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 31}

func (pcase) Generate(r *rand.Rand, _ int) reflect.Value {
	c := pcase{M: dims[r.Intn(len(dims))], K: dims[r.Intn(len(dims))], Pad: r.Intn(3),
		Levels: []int{0, 0, 1, 3}[r.Intn(4)], Zeros: []float64{0, 0.3, 0.9, 1}[r.Intn(4)],
		Sparsity: []float64{0, 1, 0.5, 0.9, r.Float64()}[r.Intn(5)], Seed: r.Int63()}
	return reflect.ValueOf(c)
}

func (c pcase) build() *formats.Dense {
	return randDense(rand.New(rand.NewSource(c.Seed)), c.M, c.K, c.Pad, c.Levels, c.Zeros)
}

func randDense(r *rand.Rand, m, k, pad, levels int, zeros float64) *formats.Dense {
	stride := k + pad
	n := 0
	if m > 0 {
		n = (m-1)*stride + k
	}
	d := &formats.Dense{Rows: m, Cols: k, Stride: stride, Data: make([]float32, n)}
	for i := range d.Data {
		d.Data[i] = 777 // poison in the padding: must never appear in a result
	}
	for i := 0; i < m; i++ {
		row := d.Row(i)
		for j := range row {
			switch {
			case r.Float64() < zeros:
				row[j] = 0
			case levels > 0:
				row[j] = float32(1+r.Intn(levels)) * float32(1-2*r.Intn(2))
			default:
				row[j] = float32(r.NormFloat64())
			}
		}
	}
	return d
}

func cfg(n int) *quick.Config {
	return &quick.Config{MaxCount: n, Rand: rand.New(rand.NewSource(77))}
}

func snapshot(d *formats.Dense) []float32 { return append([]float32(nil), d.Data...) }

func sameBits(t *testing.T, want, got *formats.Dense, msg string) {
	t.Helper()
	require.Equal(t, want.Rows, got.Rows, msg)
	require.Equal(t, want.Cols, got.Cols, msg)
	for i := 0; i < want.Rows; i++ {
		for j, v := range want.Row(i) {
			g := got.Row(i)[j]
			if v == 0 && g == 0 {
				continue
			}
			require.Equal(t, math.Float32bits(v), math.Float32bits(g), "%s: (%d, %d) want %v got %v", msg, i, j, v, g)
		}
	}
}

type entry struct {
	layer, i, j int
	key         uint32
}

// oracleGlobal sorts every entry by (magnitude desc, layer, index) and keeps the first
// n − round(s·n): the definition, in O(n log n).
func oracleGlobal(ws []*formats.Dense, s float64) []*formats.Dense {
	var all []entry
	out := make([]*formats.Dense, len(ws))
	for l, w := range ws {
		out[l] = &formats.Dense{Rows: w.Rows, Cols: w.Cols, Stride: w.Cols, Data: make([]float32, w.Rows*w.Cols)}
		for i := 0; i < w.Rows; i++ {
			for j, v := range w.Row(i) {
				all = append(all, entry{l, i, j, math.Float32bits(v) &^ (1 << 31)})
			}
		}
	}
	slices.SortStableFunc(all, func(a, b entry) int {
		if a.key != b.key {
			if a.key > b.key {
				return -1
			}
			return 1
		}
		return 0 // stable: layer then row-major order
	})
	keep := len(all) - int(math.Round(s*float64(len(all))))
	for _, e := range all[:keep] {
		out[e.layer].Data[e.i*ws[e.layer].Cols+e.j] = ws[e.layer].At(e.i, e.j)
	}
	return out
}

func countZeros(d *formats.Dense) int {
	z := 0
	for i := 0; i < d.Rows; i++ {
		for _, v := range d.Row(i) {
			if v == 0 {
				z++
			}
		}
	}
	return z
}

func TestMagnitudeProperties(t *testing.T) {
	f := func(c pcase) bool {
		w := c.build()
		before := snapshot(w)
		got, err := Magnitude(w, c.Sparsity)
		require.NoError(t, err)
		require.Equal(t, before, snapshot(w), "input modified")
		sameBits(t, oracleGlobal([]*formats.Dense{w}, c.Sparsity)[0], got, "oracle")
		n := c.M * c.K
		want := int(math.Round(c.Sparsity * float64(n)))
		// Exactly the asked zeros, or the input's own zeros when it already had more.
		require.Equal(t, max(want, countZeros(w)), countZeros(got), "zeros")
		// Every kept magnitude ≥ every pruned one.
		var minKept, maxPruned float32 = float32(math.Inf(1)), 0
		for i := 0; i < w.Rows; i++ {
			for j, v := range w.Row(i) {
				if got.At(i, j) != 0 {
					minKept = min(minKept, float32(math.Abs(float64(v))))
				} else {
					maxPruned = max(maxPruned, float32(math.Abs(float64(v))))
				}
			}
		}
		require.LessOrEqual(t, maxPruned, minKept)
		return !t.Failed()
	}
	require.NoError(t, quick.Check(f, cfg(300)))
}

func TestGlobalProperties(t *testing.T) {
	f := func(a, b, c pcase) bool {
		ws := []*formats.Dense{a.build(), b.build(), c.build()}
		got, err := Global(ws, a.Sparsity)
		require.NoError(t, err)
		want := oracleGlobal(ws, a.Sparsity)
		for l := range ws {
			sameBits(t, want[l], got[l], "layer")
		}
		return !t.Failed()
	}
	require.NoError(t, quick.Check(f, cfg(150)))
}

func TestGlobalOneThreshold(t *testing.T) {
	small, _ := formats.NewDense(2, 2, []float32{0.1, -0.2, 0.3, 0.05})
	big, _ := formats.NewDense(1, 4, []float32{5, -6, 7, 8})
	got, err := Global([]*formats.Dense{small, big}, 0.5)
	require.NoError(t, err)
	assert.Equal(t, []float32{0, 0, 0, 0}, got[0].Data, "the small layer loses everything")
	assert.Equal(t, []float32{5, -6, 7, 8}, got[1].Data)
	// Per layer, each keeps half.
	m, err := Magnitude(small, 0.5)
	require.NoError(t, err)
	assert.Equal(t, []float32{0, -0.2, 0.3, 0}, m.Data)
}

func TestMagnitudeTiesAndSpecials(t *testing.T) {
	ties, _ := formats.NewDense(2, 3, []float32{1, -1, 1, -1, 1, 1})
	got, err := Magnitude(ties, 0.5)
	require.NoError(t, err)
	assert.Equal(t, []float32{1, -1, 1, 0, 0, 0}, got.Data, "equal magnitudes: lower index kept")

	nan, inf := float32(math.NaN()), float32(math.Inf(-1))
	w, _ := formats.NewDense(1, 5, []float32{1, nan, 3, inf, 2})
	got, err = Magnitude(w, 0.6)
	require.NoError(t, err)
	assert.True(t, math.IsNaN(float64(got.Data[1])), "NaN ranks above everything: kept")
	assert.Equal(t, inf, got.Data[3])
	assert.Equal(t, []float32{0, 0, 0}, []float32{got.Data[0], got.Data[2], got.Data[4]})
	got, err = Magnitude(w, 1)
	require.NoError(t, err)
	assert.Equal(t, make([]float32, 5), got.Data, "sparsity 1 zeroes even NaN")

	// Rounding: 10 entries at 0.25 → round(2.5) = 3 zeros.
	d := randDense(rand.New(rand.NewSource(3)), 2, 5, 0, 0, 0)
	got, err = Magnitude(d, 0.25)
	require.NoError(t, err)
	assert.Equal(t, 3, countZeros(got))
}

func TestErrors(t *testing.T) {
	w := randDense(rand.New(rand.NewSource(1)), 4, 8, 0, 0, 0)
	for _, s := range []float64{-0.01, 1.0001, math.NaN(), math.Inf(1)} {
		_, err := Magnitude(w, s)
		assert.ErrorIs(t, err, ErrTarget, "%v", s)
		_, err = Global([]*formats.Dense{w}, s)
		assert.ErrorIs(t, err, ErrTarget)
		_, err = BlockMagnitude(w, 2, 2, L1, s)
		assert.ErrorIs(t, err, ErrTarget)
		_, err = BlockMagnitudeBSR(w, 1, 1, L1, s)
		assert.ErrorIs(t, err, ErrTarget)
	}
	for _, b := range [][2]int{{0, 1}, {1, 0}, {65, 1}, {1, 65}, {-2, 2}} {
		_, err := BlockMagnitude(w, b[0], b[1], L2, 0.5)
		assert.ErrorIs(t, err, ErrPattern, "%v", b)
		_, err = BlockMagnitudeBSR(w, b[0], b[1], L2, 0.5)
		assert.ErrorIs(t, err, ErrPattern, "%v", b)
	}
	_, err := BlockMagnitude(w, 2, 2, Norm(3), 0.5)
	assert.ErrorIs(t, err, ErrPattern)
	_, err = ParseNorm("l3")
	assert.ErrorIs(t, err, ErrPattern)
	for _, p := range [][2]int{{0, 4}, {5, 4}, {1, 17}, {0, 0}, {-1, 4}, {2, -4}} {
		_, err := NM(w, p[0], p[1])
		assert.ErrorIs(t, err, ErrPattern, "%v", p)
	}
	bad := &formats.Dense{Rows: 2, Cols: 3, Stride: 3, Data: make([]float32, 5)}
	var ie *formats.InvalidError
	_, err = Magnitude(bad, 0.5)
	assert.ErrorAs(t, err, &ie)
	_, err = Global([]*formats.Dense{w, bad}, 0.5)
	assert.ErrorAs(t, err, &ie)
	_, err = BlockMagnitude(bad, 2, 2, L1, 0.5)
	assert.ErrorAs(t, err, &ie)
	_, err = NM(bad, 2, 4)
	assert.ErrorAs(t, err, &ie)
	_, err = NM(nil, 2, 4)
	assert.ErrorAs(t, err, &ie)
	_, err = Magnitude(nil, 0.5)
	assert.ErrorAs(t, err, &ie)
}

// oracleBlocks scores every block exactly as BlockMagnitude documents (float64 sums of the
// block's rows, each row left to right), sorts, and keeps the prefix closest to the target.
func oracleBlocks(w *formats.Dense, r, c int, norm Norm, s float64) *formats.Dense {
	br, bc := (w.Rows+r-1)/r, (w.Cols+c-1)/c
	type blk struct {
		b     int
		score float64
		size  int
	}
	var bl []blk
	for bi := 0; bi < br; bi++ {
		for bj := 0; bj < bc; bj++ {
			var score float64
			size := 0
			for i := bi * r; i < min(bi*r+r, w.Rows); i++ {
				var rs float64
				for j := bj * c; j < min(bj*c+c, w.Cols); j++ {
					v := float64(w.At(i, j))
					if norm == L1 {
						rs += math.Abs(v)
					} else {
						rs += v * v
					}
					size++
				}
				score += rs
			}
			bl = append(bl, blk{bi*bc + bj, math.Abs(score), size})
		}
	}
	key := func(f float64) uint64 { return math.Float64bits(f) &^ (1 << 63) }
	slices.SortStableFunc(bl, func(a, b blk) int {
		ka, kb := key(a.score), key(b.score)
		switch {
		case ka > kb:
			return -1
		case ka < kb:
			return 1
		}
		return 0
	})
	n := w.Rows * w.Cols
	target := n - int(math.Round(s*float64(n)))
	out := &formats.Dense{Rows: w.Rows, Cols: w.Cols, Stride: w.Cols, Data: make([]float32, n)}
	acc := 0
	for _, b := range bl {
		if key(b.score) == 0 || acc >= target {
			break
		}
		if acc+b.size > target && acc+b.size-target > target-acc {
			break
		}
		acc += b.size
		bi, bj := b.b/bc, b.b%bc
		for i := bi * r; i < min(bi*r+r, w.Rows); i++ {
			for j := bj * c; j < min(bj*c+c, w.Cols); j++ {
				out.Data[i*w.Cols+j] = w.At(i, j)
			}
		}
	}
	return out
}

var blockSizes = [][2]int{{1, 1}, {2, 1}, {4, 1}, {1, 4}, {2, 2}, {3, 2}, {4, 4}, {8, 1}, {5, 3}}

func TestBlockMagnitudeProperties(t *testing.T) {
	f := func(c pcase, bsel uint8, l2 bool) bool {
		w := c.build()
		before := snapshot(w)
		bs := blockSizes[int(bsel)%len(blockSizes)]
		norm := L1
		if l2 {
			norm = L2
		}
		got, err := BlockMagnitude(w, bs[0], bs[1], norm, c.Sparsity)
		require.NoError(t, err)
		require.Equal(t, before, snapshot(w), "input modified")
		want := oracleBlocks(w, bs[0], bs[1], norm, c.Sparsity)
		sameBits(t, want, got, "oracle")
		b, err := BlockMagnitudeBSR(w, bs[0], bs[1], norm, c.Sparsity)
		require.NoError(t, err)
		require.NoError(t, b.Validate())
		sameBits(t, got, b.ToDense(), "bsr")
		ref, err := formats.BSRFromDense(got, bs[0], bs[1])
		require.NoError(t, err)
		require.Equal(t, ref.NumBlocks(), b.NumBlocks(), "every kept block holds a nonzero")
		return !t.Failed()
	}
	require.NoError(t, quick.Check(f, cfg(400)))
}

// TestBlockMagnitudeCloseness: with no zero blocks, the stored fraction is within half a
// block of the target.
func TestBlockMagnitudeCloseness(t *testing.T) {
	r := rand.New(rand.NewSource(9))
	for _, bs := range blockSizes {
		for _, s := range []float64{0, 0.1, 0.33, 0.5, 0.8, 0.97, 1} {
			w := randDense(r, 13, 22, 0, 0, 0)
			b, err := BlockMagnitudeBSR(w, bs[0], bs[1], L2, s)
			require.NoError(t, err)
			n := float64(w.Rows * w.Cols)
			maxBlock := float64(bs[0] * bs[1])
			assert.InDelta(t, (1-s)*n, float64(b.Stored()), maxBlock/2+0.5, "%v s=%v", bs, s)
		}
	}
}

func TestBlockMagnitudeHand(t *testing.T) {
	// 3×5 with 2×2 blocks: block (0,0) L1 = 10, (0,1) = 4, (0,2) ragged 2×1 = 100,
	// (1,0) ragged 1×2 = 1, (1,1) = 0, (1,2) 1×1 = 3.
	w, _ := formats.NewDense(3, 5, []float32{
		1, 2, 1, 1, 50,
		3, 4, 1, 1, -50,
		1, 0, 0, 0, 3,
	})
	got, err := BlockMagnitudeBSR(w, 2, 2, L1, 1-6.0/15)
	require.NoError(t, err)
	// Target: keep 6 of 15. Ranking: (0,2) size 2, (0,0) size 4 → 6 exactly.
	assert.Equal(t, []int64{0, 2, 2}, got.BlockRowPtr)
	assert.Equal(t, []int32{0, 2}, got.BlockCol)
	assert.Equal(t, []float32{1, 2, 3, 4, 50, -50}, got.Val)
	// With target 7, L1 ranks (0,1) (4, size 4) next: it would overshoot to 10 (3 away)
	// while stopping at 6 is 1 away. L2 ranks (1,2) (9, size 1) above (0,1) (4): 7 exactly.
	got, err = BlockMagnitudeBSR(w, 2, 2, L1, 1-7.0/15)
	require.NoError(t, err)
	assert.Equal(t, int64(6), got.Stored())
	got, err = BlockMagnitudeBSR(w, 2, 2, L2, 1-7.0/15)
	require.NoError(t, err)
	assert.Equal(t, int64(7), got.Stored())
	assert.Equal(t, []int32{0, 2, 2}, got.BlockCol)
	// A NaN block ranks first.
	w.Data[10] = float32(math.NaN())
	got, err = BlockMagnitudeBSR(w, 2, 2, L1, 1-1.0/15)
	require.NoError(t, err)
	assert.Equal(t, []int64{0, 0, 1}, got.BlockRowPtr)
	assert.Equal(t, []int32{0}, got.BlockCol)
}

// oracleNM keeps, per group, the keep largest magnitudes by a stable sort.
func oracleNM(w *formats.Dense, keep, group int) *formats.Dense {
	out := &formats.Dense{Rows: w.Rows, Cols: w.Cols, Stride: w.Cols, Data: make([]float32, w.Rows*w.Cols)}
	for i := 0; i < w.Rows; i++ {
		row := w.Row(i)
		for g := 0; g < w.Cols; g += group {
			idx := []int{}
			for j := g; j < min(g+group, w.Cols); j++ {
				idx = append(idx, j)
			}
			slices.SortStableFunc(idx, func(a, b int) int {
				ka, kb := math.Float32bits(row[a])&^(1<<31), math.Float32bits(row[b])&^(1<<31)
				switch {
				case ka > kb:
					return -1
				case ka < kb:
					return 1
				}
				return 0
			})
			for _, j := range idx[:min(keep, len(idx))] {
				out.Data[i*w.Cols+j] = row[j]
			}
		}
	}
	return out
}

var nmPatterns = [][2]int{{1, 4}, {2, 4}, {2, 8}, {4, 8}, {1, 8}, {3, 16}, {1, 1}, {7, 8}, {16, 16}, {5, 7}}

func TestNMProperties(t *testing.T) {
	f := func(c pcase, psel uint8) bool {
		w := c.build()
		before := snapshot(w)
		p := nmPatterns[int(psel)%len(nmPatterns)]
		nm, err := NM(w, p[0], p[1])
		require.NoError(t, err)
		require.Equal(t, before, snapshot(w), "input modified")
		require.NoError(t, nm.Validate())
		sameBits(t, oracleNM(w, p[0], p[1]), nm.ToDense(), "oracle")
		// The result conforms: NMFromDense accepts it and round-trips.
		back, err := formats.NMFromDense(nm.ToDense(), p[0], p[1])
		require.NoError(t, err)
		sameBits(t, nm.ToDense(), back.ToDense(), "round trip")
		return !t.Failed()
	}
	require.NoError(t, quick.Check(f, cfg(400)))
}

func TestNMHand(t *testing.T) {
	nan := float32(math.NaN())
	// K = 6 with 2:4: the partial last group of 2 keeps both; ties go to the lower position.
	w, _ := formats.NewDense(2, 6, []float32{
		1, -3, 3, 2, 0, 0,
		nan, 0, 0, 0, 0, 5,
	})
	nm, err := NM(w, 2, 4)
	require.NoError(t, err)
	assert.Equal(t, []uint8{1, 2, 0, 1, 0, 1, 0, 1}, nm.Pos)
	assert.Equal(t, float32(-3), nm.Val[0])
	assert.Equal(t, float32(3), nm.Val[1])
	assert.True(t, math.IsNaN(float64(nm.Val[4])))
	assert.Equal(t, []float32{0, 0, 5}, nm.Val[5:])
}

func TestSchedule(t *testing.T) {
	s := Schedule{Initial: 0, Final: 0.8, Start: 1000, Every: 100, Steps: 10}
	require.NoError(t, s.Validate())
	assert.Equal(t, 0.0, s.At(0))
	assert.Equal(t, 0.0, s.At(1000))
	assert.InDelta(t, 0.7, s.At(1500), 1e-12) // 0.8 − 0.8·0.5³
	assert.InDelta(t, 0.8-0.8*0.9*0.9*0.9, s.At(1100), 1e-12)
	assert.Equal(t, 0.8, s.At(2000))
	assert.Equal(t, 0.8, s.At(1e9))
	prev := -1.0
	for t0 := 900; t0 <= 2100; t0 += 7 {
		v := s.At(t0)
		assert.GreaterOrEqual(t, v, prev)
		prev = v
	}
	// Decreasing steps: it prunes fastest first.
	assert.Greater(t, s.At(1100)-s.At(1000), s.At(2000)-s.At(1900))
	assert.Equal(t, []int{1000, 1100, 1200, 1300, 1400, 1500, 1600, 1700, 1800, 1900, 2000}, s.PruneSteps())

	s2 := Schedule{Initial: 0.2, Final: 0.9, Start: 5, Every: 3, Steps: 4}
	assert.InDelta(t, 0.9+(0.2-0.9)*math.Pow(1-4.0/12, 3), s2.At(9), 1e-12)

	for _, bad := range []Schedule{
		{Initial: -0.1, Final: 0.5, Every: 1, Steps: 1}, {Initial: 0, Final: 1.5, Every: 1, Steps: 1},
		{Initial: math.NaN(), Final: 0.5, Every: 1, Steps: 1}, {Final: 0.5, Every: 0, Steps: 1},
		{Final: 0.5, Every: 1, Steps: 0}, {Final: 0.5, Every: 1 << 20, Steps: 1 << 20},
	} {
		assert.ErrorIs(t, bad.Validate(), ErrTarget, "%+v", bad)
		_, err := bad.Apply(randDense(rand.New(rand.NewSource(1)), 2, 2, 0, 0, 0), nil, nil)
		assert.ErrorIs(t, err, ErrTarget)
	}
}

func TestScheduleApply(t *testing.T) {
	w := randDense(rand.New(rand.NewSource(5)), 20, 30, 0, 0, 0)
	before := snapshot(w)
	s := Schedule{Initial: 0.1, Final: 0.75, Start: 0, Every: 10, Steps: 5}
	var seen []float64
	var steps []int
	rec := func(d *formats.Dense, sp float64) (*formats.Dense, error) {
		seen = append(seen, sp)
		return Magnitude(d, sp)
	}
	upd := func(step int, d *formats.Dense) (*formats.Dense, error) {
		steps = append(steps, step)
		return d, nil
	}
	got, err := s.Apply(w, rec, upd)
	require.NoError(t, err)
	require.Equal(t, before, snapshot(w))
	assert.Equal(t, []int{0, 10, 20, 30, 40, 50}, steps)
	require.Len(t, seen, 6)
	for i, st := range steps {
		assert.Equal(t, s.At(st), seen[i])
	}
	assert.Equal(t, 450, countZeros(got)) // round(0.75·600)
	// Gradual magnitude pruning without updates ends where one-shot pruning does.
	one, _ := Magnitude(w, 0.75)
	sameBits(t, one, got, "one-shot")
	// Errors from the callbacks surface with the step.
	_, err = s.Apply(w, nil, func(int, *formats.Dense) (*formats.Dense, error) { return nil, errors.New("boom") })
	assert.ErrorContains(t, err, "boom")
	_, err = s.Apply(w, nil, func(int, *formats.Dense) (*formats.Dense, error) {
		return randDense(rand.New(rand.NewSource(1)), 2, 2, 0, 0, 0), nil
	})
	assert.Error(t, err)
}

func bigDense() *formats.Dense {
	return randDense(rand.New(rand.NewSource(1)), 11008, 4096, 0, 0, 0)
}

func BenchmarkMagnitude(b *testing.B) {
	w := bigDense()
	for b.Loop() {
		if _, err := Magnitude(w, 0.9); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBlockMagnitude4x4(b *testing.B) {
	w := bigDense()
	for b.Loop() {
		if _, err := BlockMagnitudeBSR(w, 4, 4, L2, 0.9); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBlockMagnitude2x1(b *testing.B) {
	w := bigDense()
	for b.Loop() {
		if _, err := BlockMagnitude(w, 2, 1, L1, 0.9); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNM2of4(b *testing.B) {
	w := bigDense()
	for b.Loop() {
		if _, err := NM(w, 2, 4); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNM3of16(b *testing.B) {
	w := bigDense()
	for b.Loop() {
		if _, err := NM(w, 3, 16); err != nil {
			b.Fatal(err)
		}
	}
}

// TestNMShared: every row keeps keep:group, a band's rows keep the same positions (the
// columns of the largest summed magnitude), rows = 1 is NM, and sharing keeps less mass.
func TestNMShared(t *testing.T) {
	rng := rand.New(rand.NewSource(81))
	m, k := 11, 37 // a short last band (11 = 2·4 + 3), a partial last group (37 = 4·8 + 5)
	d := make([]float32, m*k)
	for i := range d {
		d[i] = float32(rng.NormFloat64())
	}
	w, err := formats.NewDense(m, k, d)
	if err != nil {
		t.Fatal(err)
	}
	one, err := NM(w, 2, 8)
	if err != nil {
		t.Fatal(err)
	}
	same, err := NMShared(w, 2, 8, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(one.Pos, same.Pos) || !slices.Equal(one.Val, same.Val) {
		t.Error("NMShared with rows = 1 differs from NM")
	}
	sh, err := NMShared(w, 2, 8, 4)
	if err != nil {
		t.Fatal(err)
	}
	spr := sh.SlotsPerRow()
	for i := 0; i < m; i++ {
		b0 := i / 4 * 4
		if !slices.Equal(sh.Pos[i*spr:(i+1)*spr], sh.Pos[b0*spr:(b0+1)*spr]) {
			t.Fatalf("row %d keeps other positions than row %d", i, b0)
		}
	}
	// Group 0 of band 0: the two columns of the largest Σ|w| over rows 0..3.
	var sums [8]float64
	for i := 0; i < 4; i++ {
		for p := 0; p < 8; p++ {
			sums[p] += math.Abs(float64(w.At(i, p)))
		}
	}
	for _, p := range sh.Pos[:2] {
		for q := 0; q < 8; q++ {
			if q != int(sh.Pos[0]) && q != int(sh.Pos[1]) && sums[q] > sums[p] {
				t.Errorf("kept column %d (Σ %g) over %d (Σ %g)", p, sums[p], q, sums[q])
			}
		}
	}
	for i := 0; i < m; i++ {
		for s := 0; s < spr; s++ {
			if got, want := sh.Val[i*spr+s], w.At(i, s/2*8+int(sh.Pos[i*spr+s])); got != want {
				t.Fatalf("row %d slot %d holds %g, W has %g there", i, s, got, want)
			}
		}
	}
	mOne, err1 := KeptMass(w, one)
	mSh, err2 := KeptMass(w, sh)
	if err1 != nil || err2 != nil || !(mSh < mOne && mOne < 1 && mSh > 0.25) {
		t.Errorf("kept mass per row %g (%v), shared by 4 %g (%v)", mOne, err1, mSh, err2)
	}
	if _, err := NMShared(w, 2, 8, 0); err == nil {
		t.Error("rows = 0 accepted")
	}
}
