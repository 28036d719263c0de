package asm

import (
	"errors"
	"math"
	"math/rand"
	"testing"

	"github.com/sparsegen/sparsegen/ref"
)

// TestPanelKernelBitwise: RunTokens on token-major X gives bitwise Run's result on the same
// X channel-major, for every CSR family this CPU runs, every tile tail, and split unit ranges.
func TestPanelKernelBitwise(t *testing.T) {
	r := rand.New(rand.NewSource(11))
	specs := csrAsmSpecs(t)
	for _, sh := range [][2]int{{23, 700}, {8, 5}, {65, 130}} {
		w := randCSR(r, sh[0], sh[1], 0.15, 3, 6)
		m, k := sh[0], sh[1]
		for _, s := range specs {
			for _, kc := range []int{0, 7} {
				kern, err := NewCSRKernel(s.Name, w, kc)
				if err != nil {
					t.Fatal(err)
				}
				pk, ok := kern.(PanelKernel)
				if !ok {
					t.Fatalf("%s is not a PanelKernel", s.Name)
				}
				for _, n := range []int{1, 5, s.Tile - 1, s.Tile, s.Tile + 3, 2*s.Tile + 1} {
					for _, epi := range csrEpilogues(r, m)[:6] {
						ldx, ldy := n+3, n+1
						x := make([]float32, (k-1)*ldx+n)
						for i := range x {
							x[i] = float32(r.NormFloat64())
						}
						// Token-major copy of X: n×K, stride K+2.
						xt := make([]float32, (n-1)*(k+2)+k)
						for i := 0; i < k; i++ {
							for j := 0; j < n; j++ {
								xt[j*(k+2)+i] = x[i*ldx+j]
							}
						}
						y0 := make([]float32, (m-1)*ldy+n)
						for i := range y0 {
							y0[i] = float32(r.NormFloat64())
						}
						want := append([]float32(nil), y0...)
						if err := kern.Run(0, kern.Units(), x, ldx, want, ldy, n, epi); err != nil {
							t.Fatal(err)
						}
						// RunTokens on the token-major copy, in two unit ranges.
						gotT := append([]float32(nil), y0...)
						cutT := kern.Units() / 2
						for _, u := range [][2]int{{0, cutT}, {cutT, kern.Units()}} {
							if err := pk.RunTokens(u[0], u[1], xt, k+2, gotT, ldy, n, epi); err != nil {
								t.Fatal(err)
							}
						}
						for i := range want {
							if math.Float32bits(gotT[i]) != math.Float32bits(want[i]) {
								t.Fatalf("%s %dx%d kc=%d n=%d RunTokens epi=%+v: Y[%d] = %v, Run gives %v", s.Name, m, k, kc, n, epi, i, gotT[i], want[i])
							}
						}
					}
				}
			}
		}
	}
}

func TestPanelKernelChecks(t *testing.T) {
	r := rand.New(rand.NewSource(12))
	w := randCSR(r, 6, 40, 0.3, -1, -1)
	for _, s := range csrRunnable(t) {
		kern, err := NewCSRKernel(s.Name, w, 0)
		if err != nil {
			t.Fatal(err)
		}
		pk := kern.(PanelKernel)
		n := 9
		x := make([]float32, 40*n)
		y := make([]float32, 6*n)
		for _, c := range []struct {
			what string
			err  error
		}{
			{"short bias", pk.RunTokens(0, kern.Units(), x, 40, y, n, n, &ref.Epilogue{Bias: make([]float32, 5)})},
			{"negative N", pk.RunTokens(0, kern.Units(), x, 40, y, n, -1, nil)},
			{"RunTokens short X", pk.RunTokens(0, kern.Units(), x[:40*n-1], 40, y, n, n, nil)},
			{"RunTokens stride < K", pk.RunTokens(0, kern.Units(), x, 39, y, n, n, nil)},
			{"RunTokens short Y", pk.RunTokens(0, kern.Units(), x, 40, y[:len(y)-1], n, n, nil)},
			{"RunTokens units past M", pk.RunTokens(0, kern.Units()+1, x, 40, y, n, n, nil)},
		} {
			if c.err == nil {
				t.Errorf("%s: %s accepted", s.Name, c.what)
			} else if !errors.Is(c.err, ref.ErrShape) && c.what != "short bias" {
				t.Errorf("%s: %s: %v does not wrap ref.ErrShape", s.Name, c.what, c.err)
			}
		}
	}
}
