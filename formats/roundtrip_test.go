package formats

import (
	"errors"
	"math"
	"math/rand"
	"testing"
	"testing/quick"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	rtRs       = []int{1, 2, 3, 4, 8}
	rtCs       = []int{1, 2, 3, 4, 8}
	rtPatterns = [][2]int{{1, 4}, {2, 4}, {2, 8}, {4, 8}, {1, 8}, {3, 16}, {1, 1}, {16, 16}, {2, 3}}
)

func TestRoundTripCSR(t *testing.T) {
	f := func(c denseCase) bool {
		d := c.build()
		csr, err := CSRFromDense(d)
		require.NoError(t, err)
		require.NoError(t, csr.Validate())
		require.Equal(t, d.NNZ(), csr.NNZ())
		require.Equal(t, csr.NNZ(), csr.Stored(), "CSRFromDense stores no zeros")
		back := csr.ToDense()
		require.True(t, sameDense(d, back), "%+v", c)
		require.Equal(t, back.Cols, back.Stride)
		again, err := CSRFromDense(back)
		require.NoError(t, err)
		require.Equal(t, csr, again)
		return !t.Failed()
	}
	require.NoError(t, quick.Check(f, quickConfig(300)))
}

func TestRoundTripBSR(t *testing.T) {
	f := func(c denseCase) bool {
		d := c.build()
		csr, err := CSRFromDense(d)
		require.NoError(t, err)
		for _, r := range rtRs {
			for _, cc := range rtCs {
				b, err := BSRFromDense(d, r, cc)
				require.NoError(t, err)
				require.NoError(t, b.Validate())
				require.True(t, sameDense(d, b.ToDense()), "%+v %dx%d", c, r, cc)
				require.Equal(t, d.NNZ(), b.NNZ())
				// Every stored block holds a nonzero, ragged edges are stored narrower, and
				// the offsets add up.
				var stored int64
				for i := 0; i < b.BlockRows(); i++ {
					for p := b.BlockRowPtr[i]; p < b.BlockRowPtr[i+1]; p++ {
						h, w := b.BlockDims(i, int(b.BlockCol[p]))
						require.Equal(t, stored, b.BlockOffset(int(p)))
						require.True(t, h >= 1 && w >= 1 && h <= r && w <= cc)
						require.LessOrEqual(t, i*r+h, d.Rows)
						require.LessOrEqual(t, int(b.BlockCol[p])*cc+w, d.Cols)
						nz := false
						for _, v := range b.Val[stored : stored+int64(h*w)] {
							nz = nz || v != 0
						}
						require.True(t, nz, "stored block without a nonzero")
						stored += int64(h * w)
					}
				}
				require.Equal(t, b.Stored(), stored)
				require.Equal(t, csr, b.ToCSR())
			}
		}
		return !t.Failed()
	}
	require.NoError(t, quick.Check(f, quickConfig(120)))
}

func TestRoundTripNM(t *testing.T) {
	f := func(c denseCase) bool {
		d := c.build()
		for _, p := range rtPatterns {
			keep, group := p[0], p[1]
			conform := pruneNMFirst(d, keep, group)
			nm, err := NMFromDense(conform, keep, group)
			require.NoError(t, err, "%+v %d:%d", c, keep, group)
			require.NoError(t, nm.Validate())
			require.True(t, sameDense(conform, nm.ToDense()), "%+v %d:%d", c, keep, group)
			require.Equal(t, conform.NNZ(), nm.NNZ())
			require.Equal(t, int64(d.Rows*nm.SlotsPerRow()), nm.Stored())
			wantCSR, _ := CSRFromDense(conform)
			require.Equal(t, wantCSR, nm.ToCSR())
			// A group with more nonzeros than the pattern allows is refused, with its place.
			if conform.NNZ() != d.NNZ() {
				_, err := NMFromDense(d, keep, group)
				var ie *InvalidError
				require.ErrorAs(t, err, &ie)
				require.Contains(t, ie.Where, "group")
			} else {
				_, err := NMFromDense(d, keep, group)
				require.NoError(t, err)
			}
		}
		return !t.Failed()
	}
	require.NoError(t, quick.Check(f, quickConfig(200)))
}

// TestNMSlotsPartialGroup pins the partial-last-group rule: min(Keep, r) slots.
func TestNMSlotsPartialGroup(t *testing.T) {
	for _, tc := range []struct{ k, keep, group, slots int }{
		{0, 2, 4, 0}, {1, 2, 4, 1}, {3, 2, 4, 2}, {5, 2, 4, 3}, {6, 2, 4, 4}, {7, 3, 4, 6},
		{13, 3, 16, 3}, {17, 3, 16, 4}, {18, 3, 16, 5}, {19, 3, 16, 6}, {8, 8, 8, 8},
	} {
		m := &NM{Rows: 1, Cols: tc.k, Keep: tc.keep, Group: tc.group}
		assert.Equal(t, tc.slots, m.SlotsPerRow(), "%+v", tc)
	}
}

func TestSpecialValuesRoundTrip(t *testing.T) {
	nan := float32(math.NaN())
	d, err := NewDense(2, 4, []float32{nan, 0, float32(math.Inf(1)), float32(math.Copysign(0, -1)), 1e-45, 0, 0, -3})
	require.NoError(t, err)
	csr, err := CSRFromDense(d)
	require.NoError(t, err)
	assert.Equal(t, int64(4), csr.NNZ(), "NaN, +Inf, the subnormal and −3 are nonzeros; −0 is not")
	assert.True(t, sameDense(d, csr.ToDense()))
	b, err := BSRFromDense(d, 2, 2)
	require.NoError(t, err)
	assert.True(t, sameDense(d, b.ToDense()))
	nm, err := NMFromDense(d, 2, 4)
	require.NoError(t, err)
	assert.True(t, sameDense(d, nm.ToDense()))
}

func TestZeroSizedAndDegenerate(t *testing.T) {
	for _, shape := range [][2]int{{0, 0}, {0, 5}, {5, 0}, {1, 1}} {
		z, err := ZeroDense(shape[0], shape[1])
		require.NoError(t, err)
		mustNoPanic(t, "conversions", func() {
			c, err := CSRFromDense(z)
			require.NoError(t, err)
			require.True(t, sameDense(z, c.ToDense()))
			b, err := BSRFromDense(z, 3, 2)
			require.NoError(t, err)
			require.True(t, sameDense(z, b.ToDense()))
			require.Equal(t, 0, b.NumBlocks())
			nm, err := NMFromDense(z, 2, 4)
			require.NoError(t, err)
			require.True(t, sameDense(z, nm.ToDense()))
			require.True(t, sameDense(z, z.Compact()))
			_, err = Measure(z)
			require.NoError(t, err)
		})
	}
	_, err := ZeroDense(-1, 2)
	require.Error(t, err)
	// A strided Dense compacts to the same values.
	d := &Dense{Rows: 2, Cols: 2, Stride: 5, Data: []float32{1, 2, 9, 9, 9, 3, 4}}
	require.NoError(t, d.Validate())
	c := d.Compact()
	assert.Equal(t, []float32{1, 2, 3, 4}, c.Data)
}

// TestBadPatternArguments: the constructors refuse bad block sizes and patterns with an
// *InvalidError.
func TestBadPatternArguments(t *testing.T) {
	d, _ := ZeroDense(4, 4)
	var ie *InvalidError
	for _, rc := range [][2]int{{0, 1}, {1, 0}, {65, 1}, {1, 65}, {-1, 2}} {
		_, err := BSRFromDense(d, rc[0], rc[1])
		require.ErrorAs(t, err, &ie, "%v", rc)
	}
	for _, p := range [][2]int{{0, 4}, {5, 4}, {1, 17}, {0, 0}, {-1, 4}} {
		_, err := NMFromDense(d, p[0], p[1])
		require.ErrorAs(t, err, &ie, "%v", p)
	}
	bad := &Dense{Rows: 2, Cols: 2, Stride: 2, Data: make([]float32, 3)}
	for _, f := range []func() error{
		func() error { _, err := CSRFromDense(bad); return err },
		func() error { _, err := BSRFromDense(bad, 2, 2); return err },
		func() error { _, err := NMFromDense(bad, 2, 4); return err },
		func() error { _, err := CSRFromDense(nil); return err },
	} {
		err := f()
		require.ErrorAs(t, err, &ie)
		require.True(t, errors.Is(err, ErrInvalid))
	}
}

// TestCSRFromDenseOracle: every row length around the 64-bit words of the bitmap pass,
// strided rows, and the special values (NaN and ±Inf and denormals kept, ±0 dropped),
// against a plain loop.
func TestCSRFromDenseOracle(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	specials := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)),
		float32(math.Copysign(0, -1)), 0, math.SmallestNonzeroFloat32, -1.5}
	for _, k := range []int{0, 1, 3, 63, 64, 65, 127, 128, 130, 200} {
		for _, m := range []int{0, 1, 5} {
			stride := k + rng.Intn(3)
			d := &Dense{Rows: m, Cols: k, Stride: stride, Data: make([]float32, m*stride)}
			for i := range d.Data {
				if rng.Intn(3) == 0 {
					d.Data[i] = specials[rng.Intn(len(specials))]
				} else if rng.Intn(2) == 0 {
					d.Data[i] = float32(rng.NormFloat64())
				}
			}
			c, err := CSRFromDense(d)
			require.NoError(t, err)
			require.NoError(t, c.Validate())
			q := 0
			for i := 0; i < m; i++ {
				require.Equal(t, int64(q), c.RowPtr[i], "k=%d m=%d row %d start", k, m, i)
				for j, v := range d.Row(i) {
					if v == 0 { // +0 and −0; NaN compares unequal, so it is kept
						continue
					}
					require.Equal(t, int32(j), c.ColIdx[q], "k=%d m=%d row %d", k, m, i)
					require.Equal(t, math.Float32bits(v), math.Float32bits(c.Val[q]), "k=%d m=%d row %d col %d", k, m, i, j)
					q++
				}
			}
			require.Equal(t, int64(q), c.RowPtr[m])
			require.Len(t, c.Val, q)
		}
	}
}
