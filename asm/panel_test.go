package asm

import (
	"errors"
	"math"
	"math/rand"
	"testing"

	"github.com/sparsegen/sparsegen/ref"
)

// TestPanelKernelBitwise: packing the panel once (parts in any order, channel-major or
// token-major X) and running units on it gives bitwise Run's result, for every CSR family
// this CPU runs, every tile tail, and split unit ranges.
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
						for _, tok := range []bool{false, true} {
							panel := make([]float32, pk.PanelLen(n))
							for i := range panel {
								panel[i] = float32(math.NaN()) // every read float must be packed
							}
							parts := r.Perm(pk.PanelParts(n))
							for _, part := range parts {
								var err error
								if tok {
									err = pk.PackPanel(panel, part, xt, k+2, n, true)
								} else {
									err = pk.PackPanel(panel, part, x, ldx, n, false)
								}
								if err != nil {
									t.Fatal(err)
								}
							}
							got := append([]float32(nil), y0...)
							cut := kern.Units() / 3
							for _, u := range [][2]int{{0, cut}, {cut, kern.Units()}} {
								if err := pk.RunPanel(u[0], u[1], panel, n, got, ldy, epi); err != nil {
									t.Fatal(err)
								}
							}
							for i := range want {
								if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
									t.Fatalf("%s %dx%d kc=%d n=%d token-major=%v epi=%+v: Y[%d] = %v, Run gives %v",
										s.Name, m, k, kc, n, tok, epi, i, got[i], want[i])
								}
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
		panel := make([]float32, pk.PanelLen(n))
		x := make([]float32, 40*n)
		y := make([]float32, 6*n)
		for _, c := range []struct {
			what string
			err  error
		}{
			{"short panel (pack)", pk.PackPanel(panel[:len(panel)-1], 0, x, n, n, false)},
			{"short panel (run)", pk.RunPanel(0, kern.Units(), panel[:len(panel)-1], n, y, n, nil)},
			{"part out of range", pk.PackPanel(panel, pk.PanelParts(n), x, n, n, false)},
			{"negative part", pk.PackPanel(panel, -1, x, n, n, false)},
			{"short X", pk.PackPanel(panel, 0, x[:len(x)-1], n, n, false)},
			{"short token-major X", pk.PackPanel(panel, 0, x[:40*n-1], 40, n, true)},
			{"token-major stride < K", pk.PackPanel(panel, 0, x, 39, n, true)},
			{"short Y", pk.RunPanel(0, kern.Units(), panel, n, y[:len(y)-1], n, nil)},
			{"units past M", pk.RunPanel(0, kern.Units()+1, panel, n, y, n, nil)},
			{"short bias", pk.RunPanel(0, kern.Units(), panel, n, y, n, &ref.Epilogue{Bias: make([]float32, 5)})},
			{"negative N", pk.RunPanel(0, kern.Units(), panel, -1, y, n, nil)},
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
