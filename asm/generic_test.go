package asm

import (
	"math"
	"math/rand"
	"sort"
	"sync"
	"testing"

	"github.com/sparsegen/sparsegen/formats"
	"github.com/sparsegen/sparsegen/formats/prune"
	"github.com/sparsegen/sparsegen/ref"
	"github.com/stretchr/testify/require"
)

// genericWeights makes an m×k matrix of the given density in the format a generic family
// takes.
func genericWeights(t *testing.T, r *rand.Rand, format string, m, k int, density float64) formats.Matrix {
	d, err := formats.ZeroDense(m, k)
	require.NoError(t, err)
	for i := range d.Data {
		if r.Float64() < density {
			d.Data[i] = float32(r.NormFloat64())
		}
	}
	var w formats.Matrix
	switch format {
	case "dense":
		w = d
	case "csr":
		w, err = formats.CSRFromDense(d)
	case "bsr":
		w, err = formats.BSRFromDense(d, 1+r.Intn(5), 1+r.Intn(4))
	case "nm":
		g := []int{4, 8, 16, 5}[r.Intn(4)]
		w, err = prune.NM(d, 1+r.Intn(g), g)
	}
	require.NoError(t, err)
	return w
}

// genericCuts returns sorted cut points 0 = c0 ≤ c1 ≤ … ≤ cj = units (empty pieces allowed).
func genericCuts(r *rand.Rand, units int) []int {
	cuts := []int{0, units}
	for i := r.Intn(6); i > 0; i-- {
		cuts = append(cuts, r.Intn(units+1))
	}
	sort.Ints(cuts)
	return cuts
}

// TestGenericSplitsBitwise: the generic families give bitwise the same Y for any split of
// their row units (run concurrently, in any order) and any split of N, equal to the
// reference kernel on the whole matrix (DESIGN §6: the summation order depends on the
// plan only).
func TestGenericSplitsBitwise(t *testing.T) {
	r := rand.New(rand.NewSource(11))
	epis := []*ref.Epilogue{nil, {Act: ref.ActReLU}, {Act: ref.ActGELU, Accumulate: true},
		{Act: ref.ActClamp, Lo: -0.3, Hi: 0.4, Bias: []float32{}}, {Act: ref.ActSiLU, Bias: []float32{}, Accumulate: true}}
	for _, format := range []string{"dense", "csr", "bsr", "nm"} {
		fam, ok := Lookup("ref_" + format + "_generic")
		require.True(t, ok, format)
		require.Equal(t, Generic, fam.ISA)
		for trial := 0; trial < 25; trial++ {
			m, k := []int{0, 1, 5, 13, 40}[r.Intn(5)], []int{0, 1, 7, 33}[r.Intn(4)]
			n := []int{0, 1, 4, 19}[r.Intn(4)]
			ldx, ldy := n+r.Intn(3), n+r.Intn(3)
			w := genericWeights(t, r, format, m, k, []float64{0, 0.2, 0.7, 1}[r.Intn(4)])
			kern, err := fam.Pack(w)
			require.NoError(t, err)
			units := kern.Units()
			// Units tile the rows in order, and the cost is a prefix sum.
			next := 0
			for u := 0; u < units; u++ {
				r0, r1 := kern.UnitRows(u)
				require.Equal(t, next, r0)
				require.Greater(t, r1, r0)
				next = r1
			}
			require.Equal(t, m, next)
			cost := kern.UnitCost()
			require.Len(t, cost, units+1)
			require.True(t, sort.SliceIsSorted(cost, func(i, j int) bool { return cost[i] < cost[j] }))

			x := make([]float32, max(0, (k-1)*ldx+n))
			for i := range x {
				x[i] = float32(r.NormFloat64())
			}
			ylen := max(0, (m-1)*ldy+n)
			y0 := make([]float32, ylen)
			for i := range y0 {
				y0[i] = float32(r.NormFloat64())
			}
			epi := epis[r.Intn(len(epis))]
			if epi != nil && epi.Bias != nil {
				e := *epi
				e.Bias = make([]float32, m)
				for i := range e.Bias {
					e.Bias[i] = float32(r.NormFloat64())
				}
				epi = &e
			}

			want := append([]float32(nil), y0...)
			require.NoError(t, ref.Matrix(w, x, ldx, want, ldy, n, epi))
			full := append([]float32(nil), y0...)
			require.NoError(t, kern.Run(0, units, x, ldx, full, ldy, n, epi))
			genericSameBits(t, want, full, "whole run vs ref")

			for split := 0; split < 4; split++ {
				cuts := genericCuts(r, units)
				got := append([]float32(nil), y0...)
				var wg sync.WaitGroup
				errs := make([]error, len(cuts)-1)
				for p := len(cuts) - 2; p >= 0; p-- { // reverse order, concurrently
					wg.Add(1)
					go func(p int) {
						defer wg.Done()
						errs[p] = kern.Run(cuts[p], cuts[p+1], x, ldx, got, ldy, n, epi)
					}(p)
				}
				wg.Wait()
				for _, err := range errs {
					require.NoError(t, err)
				}
				genericSameBits(t, want, got, "unit split")

				// Split N: columns [0, n0) and [n0, n) run as two narrower problems.
				if n > 1 {
					n0 := 1 + r.Intn(n-1)
					got := append([]float32(nil), y0...)
					require.NoError(t, kern.Run(0, units, x, ldx, got, ldy, n0, epi))
					xs, ys := []float32(nil), []float32(nil)
					if len(x) > 0 {
						xs = x[n0:]
					}
					if ylen > 0 {
						ys = got[n0:]
					}
					require.NoError(t, kern.Run(0, units, xs, ldx, ys, ldy, n-n0, epi))
					genericSameBits(t, want, got, "N split")
				}
			}
		}
	}
}

func genericSameBits(t *testing.T, want, got []float32, msg string) {
	t.Helper()
	require.Equal(t, len(want), len(got), msg)
	for i := range want {
		if math.Float32bits(want[i]) != math.Float32bits(got[i]) {
			t.Fatalf("%s: Y[%d] = %v, want %v (bitwise)", msg, i, got[i], want[i])
		}
	}
}

// TestGenericRunErrors: bad unit ranges and operands are errors, never panics.
func TestGenericRunErrors(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	for _, format := range []string{"dense", "csr", "bsr", "nm"} {
		fam, _ := Lookup("ref_" + format + "_generic")
		w := genericWeights(t, r, format, 6, 8, 0.5)
		kern, err := fam.Pack(w)
		require.NoError(t, err)
		x, y := make([]float32, 8*3), make([]float32, 6*3)
		u := kern.Units()
		for _, bad := range [][2]int{{-1, 1}, {2, 1}, {0, u + 1}} {
			require.ErrorIs(t, kern.Run(bad[0], bad[1], x, 3, y, 3, 3, nil), ref.ErrShape, "%s %v", format, bad)
		}
		require.ErrorIs(t, kern.Run(0, u, x[:5], 3, y, 3, 3, nil), ref.ErrShape)
		require.ErrorIs(t, kern.Run(0, u, x, 3, y[:5], 3, 3, nil), ref.ErrShape)
		require.Error(t, kern.Run(0, u, x, 3, y, 3, 3, &ref.Epilogue{Bias: make([]float32, 2)}))
		// A family refuses another format.
		other := map[string]string{"dense": "csr", "csr": "bsr", "bsr": "nm", "nm": "dense"}[format]
		_, err = fam.Pack(genericWeights(t, r, other, 3, 3, 0.5))
		require.ErrorIs(t, err, ErrNotApplicable)
	}
}
