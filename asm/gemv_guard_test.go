//go:build unix

package asm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sparsegen/sparsegen/formats"
	"github.com/sparsegen/sparsegen/ref"
)

// TestGemvGuard places W, X, Y and the bias each against an unmapped page, after and then
// before it, with W's stride ldw > K (and = K), M not a multiple of the row group, K of
// several residues (K < one vector too), N = 1 with X read in place and N > 1 through
// panels, ldy > N: any read or write outside the operands faults. Kernel.Run on a kernel whose
// W is the guarded slice itself.
func TestGemvGuard(t *testing.T) {
	for _, s := range gemvRunnable(t) {
		r := rand.New(rand.NewPCG(23, 0))
		L := max(s.Lanes, 4)
		cases := 0
		for _, side := range []guardSide{guardAfter, guardBefore} {
			for _, sh := range [][3]int{{5, 1, 1}, {5, L - 1, L + 2}, {6, 4*L + L + 3, 4*L + L + 5}, {1, 7, 7}, {3, 2 * L, 2*L + 1}, {9, 8*L + 1, 8*L + 1}} {
				m, k, ldw := sh[0], sh[1], sh[2]
				data := guardSlice[float32](t, (m-1)*ldw+k, side)
				for i := range data {
					data[i] = float32(r.NormFloat64())
				}
				w := &formats.Dense{Rows: m, Cols: k, Stride: ldw, Data: data}
				g := &gemvKernel{spec: s, m: m, k: k, ldw: ldw, w: data, cost: uniformCost((m+gemvUnitRows-1)/gemvUnitRows, int64(gemvUnitRows*k))}
				bias := guardSlice[float32](t, m, side)
				for i := range bias {
					bias[i] = float32(r.NormFloat64())
				}
				for _, n := range []int{1, 2, 3, 4, 5} {
					ldx, ldy := n, n+1
					if n == 2 {
						ldx = 3
					}
					x := guardSlice[float32](t, (k-1)*ldx+n, side)
					for i := range x {
						x[i] = float32(r.NormFloat64())
					}
					for _, epi := range []*ref.Epilogue{nil, {Bias: bias, Accumulate: true, Act: ref.ActClamp, Lo: -1, Hi: 1}} {
						y := guardSlice[float32](t, (m-1)*ldy+n, side)
						for i := range y {
							y[i] = float32(r.NormFloat64())
						}
						y0 := append([]float32(nil), y...)
						if err := g.Run(0, g.Units(), x, ldx, y, ldy, n, epi); err != nil {
							t.Fatal(err)
						}
						gemmCheck(t, fmt.Sprintf("%s guard %v M=%d K=%d ldw=%d N=%d", s.Name, side, m, k, ldw, n), w, x, ldx, y0, y, ldy, n, epi)
						cases++
					}
				}
			}
		}
		t.Logf("%s: %d guarded cases", s.Name, cases)
	}
}

// TestGemvKernelGuard calls every generated kernel directly with exact-size guarded operands:
// W rows at a stride ldw > K that is no multiple of the vector, the X panel of whole vectors
// (C > 1) or the bare K floats (C = 1), Y at ldy > C, every flag.
func TestGemvKernelGuard(t *testing.T) {
	for _, s := range gemvRunnable(t) {
		if s.kern[0].fn == nil {
			continue
		}
		r := rand.New(rand.NewPCG(24, 0))
		L := s.Lanes
		cases := 0
		for _, side := range []guardSide{guardAfter, guardBefore} {
			for c := 1; c <= s.cols(); c++ {
				kn := s.kern[c-1]
				if kn.cols != c {
					t.Fatalf("%s: kernel %d has %d columns", s.Name, c-1, kn.cols)
				}
				// {rows, K, ldw, gap}: gap > 1 takes rows = R·gap (groups of rows i + j·gap).
				for _, sh := range [][4]int{{kn.rows + 1, 1, 3, 1}, {2*kn.rows - 1, L + 5, L + 7, 1}, {kn.rows, 9*L - 1, 9*L + 1, 1}, {1, 3 * L, 3*L + 2, 1},
					{3 * kn.rows, 2*L + 3, 2*L + 5, 3}, {2 * kn.rows, 4*L + 1, 4*L + 1, 2}} {
					rows, k, ldw, gap := sh[0], sh[1], sh[2], sh[3]
					if gap > 1 && kn.rows == 1 {
						continue
					}
					w := guardSlice[float32](t, (rows-1)*ldw+k, side)
					for i := range w {
						w[i] = float32(r.NormFloat64())
					}
					nv := (k + L - 1) / L
					xlen := k
					if c > 1 {
						xlen = nv * L * c
					}
					x := guardSlice[float32](t, xlen, side)
					col := func(kk, cc int) float32 { return x[kk] }
					if c > 1 {
						col = func(kk, cc int) float32 { return x[(kk/L*c+cc)*L+kk%L] }
					}
					for i := range x {
						x[i] = float32(r.NormFloat64())
					}
					if c > 1 { // the panel's padding lanes are zero
						for v := 0; v < nv; v++ {
							for cc := 0; cc < c; cc++ {
								for l := 0; l < L; l++ {
									if v*L+l >= k {
										x[(v*c+cc)*L+l] = 0
									}
								}
							}
						}
					}
					bias := guardSlice[float32](t, rows, side)
					for i := range bias {
						bias[i] = float32(r.NormFloat64())
					}
					ldy := c + 2
					y := guardSlice[float32](t, (rows-1)*ldy+c, side)
					for i := range y {
						y[i] = float32(r.NormFloat64())
					}
					y0 := append([]float32(nil), y...)
					const lo, hi = -2, 1.5
					kn.fn(&w[0], ldw, rows, k, &x[0], &y[0], ldy, epiLoadY|epiBias|epiClamp, &bias[0], lo, hi, gap)
					for i := 0; i < rows; i++ {
						for cc := 0; cc < c; cc++ {
							var sum, mag float64
							for kk := 0; kk < k; kk++ {
								p := float64(w[i*ldw+kk]) * float64(col(kk, cc))
								sum += p
								mag += math.Abs(p)
							}
							sum += float64(bias[i]) + float64(y0[i*ldy+cc])
							mag += math.Abs(float64(bias[i])) + math.Abs(float64(y0[i*ldy+cc]))
							want := math.Min(math.Max(sum, lo), hi)
							if d := math.Abs(float64(y[i*ldy+cc]) - want); !(d <= 2*float64(k+3)*mag/(1<<23)+1e-30) {
								t.Fatalf("%s C=%d %v rows=%d K=%d ldw=%d gap=%d: Y[%d,%d] = %v, want %v", s.Name, c, side, rows, k, ldw, gap, i, cc, y[i*ldy+cc], want)
							}
						}
						for j := c; j < ldy && i*ldy+j < len(y); j++ {
							if math.Float32bits(y[i*ldy+j]) != math.Float32bits(y0[i*ldy+j]) {
								t.Fatalf("%s C=%d: Y[%d,%d] outside the columns changed", s.Name, c, i, j)
							}
						}
					}
					cases++
				}
			}
		}
		t.Logf("%s: %d direct guarded calls", s.Name, cases)
	}
}
