//go:build unix

package asm

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/sparsegen/sparsegen/ref"
)

// TestGemmGuard places X, Y, bias and the packed W each against an unmapped page, after and
// then before it, with edge tiles in both M and N, ldx > N and ldy > N: any read or write
// outside the operands faults.
func TestGemmGuard(t *testing.T) {
	forGemm(t, func(t *testing.T, s *gemmSpec) {
		r := rand.New(rand.NewPCG(5, 0))
		for _, side := range []guardSide{guardAfter, guardBefore} {
			for _, sh := range [][3]int{{s.Rows + 1, s.kc + 3, s.Tile + 1}, {2*s.Rows - 1, 7, 2*s.Tile - 1}, {1, 1, 1}, {s.Rows, 2, s.Tile}} {
				m, k, n := sh[0], sh[1], sh[2]
				ldx, ldy := n+1, n+2
				w := randDense(r, m, k, k)
				kern, err := packGemm(s, w)
				if err != nil {
					t.Fatal(err)
				}
				g := kern.(*gemmKernel)
				g.wp = guardCopy(t, g.wp, side)
				x := guardSlice[float32](t, (k-1)*ldx+n, side)
				for i := range x {
					x[i] = float32(r.NormFloat64())
				}
				bias := guardCopy(t, randDense(r, 1, m, m).Data, side)
				for _, epi := range []*ref.Epilogue{nil, {Bias: bias, Accumulate: true, Act: ref.ActClamp, Lo: -1, Hi: 1}} {
					y := guardSlice[float32](t, (m-1)*ldy+n, side)
					for i := range y {
						y[i] = float32(r.NormFloat64())
					}
					y0 := append([]float32(nil), y...)
					if err := kern.Run(0, kern.Units(), x, ldx, y, ldy, n, epi); err != nil {
						t.Fatal(err)
					}
					gemmCheck(t, fmt.Sprintf("%s guard %v M=%d K=%d N=%d", s.Name, side, m, k, n), w, x, ldx, y0, y, ldy, n, epi)
				}
			}
		}
	})
}
