//go:build libxsmm && cgo

package bench

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sparsegen/sparsegen/formats"
	"github.com/sparsegen/sparsegen/ref"
)

// TestLIBXSMMSgemmMatchesReference: LIBXSMM's column-major kernels, called as Yᵀ = Xᵀ·Wᵀ,
// compute our row-major Y = W·X. The shapes are far from square (a swapped m, n or k, or a
// transposed operand, reads the wrong elements), M is not a multiple of the panel, the
// leading dimensions exceed the widths, and Y's padding must stay untouched.
func TestLIBXSMMSgemmMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 18))
	for _, c := range []struct{ m, k, n, pad, threads int }{
		{1, 1, 1, 0, 1}, {3, 5, 2, 0, 1}, {24, 40, 9, 0, 1}, {200, 70, 16, 3, 1},
		{131, 300, 1, 0, 1}, {77, 33, 128, 5, 2}, {1000, 64, 5, 1, 3},
		{40, 4096, 16, 0, 1}, {21, 4096, 1, 2, 1}, {70, 768, 128, 0, 2},
	} {
		t.Run(fmt.Sprintf("%dx%dx%d/pad%d/t%d", c.m, c.k, c.n, c.pad, c.threads), func(t *testing.T) {
			ldw, ldx, ldy := c.k+c.pad, c.n+c.pad, c.n+2*c.pad
			w := &formats.Dense{Rows: c.m, Cols: c.k, Stride: ldw, Data: make([]float32, c.m*ldw)}
			x := make([]float32, c.k*ldx)
			for i := range w.Data {
				w.Data[i] = float32(rng.NormFloat64())
			}
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
			want := make([]float32, c.m*ldy)
			require.NoError(t, ref.Dense(w, x, ldx, want, ldy, c.n, nil))
			const sentinel = float32(12345)
			got := make([]float32, c.m*ldy)
			for i := range got {
				got[i] = sentinel
			}
			require.NoError(t, LIBXSMMSgemm(c.threads, c.m, c.n, c.k, w.Data, ldw, x, ldx, got, ldy))
			tol := 1e-5 * math.Sqrt(float64(c.k)) * 4 // |w|, |x| ~ N(0, 1): a dot product's rounding
			for i := 0; i < c.m; i++ {
				for j := 0; j < ldy; j++ {
					g, e := got[i*ldy+j], want[i*ldy+j]
					if j >= c.n {
						require.Equal(t, sentinel, g, "Y[%d][%d] is padding, written", i, j)
						continue
					}
					require.InDelta(t, e, g, tol*math.Max(1, math.Abs(float64(e))), "Y[%d][%d]", i, j)
				}
			}
		})
	}
	require.NotEmpty(t, LIBXSMMTarget())
}

// Run times LIBXSMM on the dense weights beside our kernels, hot and cold, and the best
// dense baseline is one that ran.
func TestRunComparesWithLIBXSMM(t *testing.T) {
	for _, cold := range []bool{false, true} {
		rs, err := Run(Config{
			Shapes:   []Shape{{"tiny", 24, 40, 9}, {"tiny-decode", 24, 40, 1}},
			Patterns: []Pattern{{Kind: Dense}, {Kind: Unstructured, Sparsity: 0.9}},
			Protocol: Protocol{Samples: 3, MinSample: 100 * time.Microsecond},
			Cold:     cold,
			XSMM:     true,
		})
		require.NoError(t, err)
		for _, r := range rs {
			require.Greater(t, r.XSMMNs, 0.0, "%s %s", r.Shape.Name, r.Pattern)
			require.InDelta(t, r.XSMMNs/r.MedianNs, r.SpeedupXSMM, 1e-9)
			name, ns := r.BestDense()
			require.Contains(t, []string{"OpenBLAS", "LIBXSMM"}, name)
			require.LessOrEqual(t, ns, r.XSMMNs)
		}
	}
}
