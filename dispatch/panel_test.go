package dispatch

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/sparsegen/sparsegen/asm"
	"github.com/sparsegen/sparsegen/ref"
)

// TestPanelThreadsBitwise: channel-major and token-major calls of a CSR plan (a kernel that
// packs its own X panel, one per thread) on 2, 3 and 5 threads give bitwise the one-thread
// result, also for batches and with an epilogue that reads Y.
func TestPanelThreadsBitwise(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	d := randDense(rng, 301, 517, 0.12)
	w := inFormat(t, d, "csr")
	m, k := w.Shape()
	bias := randX(rng, m)
	panels := 0 // calls on a kernel with its own X panel
	for _, n := range []int{1, 5, 16, 40, 129, 300} {
		x := randX(rng, k*n)
		y0 := randX(rng, m*n)
		opts := Options{Threads: 1, Bias: bias, Act: ref.ActReLU, Accumulate: true}
		p1, err := Compile(w, opts)
		if err != nil {
			t.Fatal(err)
		}
		want := append([]float32(nil), y0...)
		if err := p1.Mul(want, n, x, n, n); err != nil {
			t.Fatal(err)
		}
		for _, threads := range []int{2, 3, 5} {
			opts.Threads = threads
			p, err := Compile(w, opts)
			if err != nil {
				t.Fatal(err)
			}
			kern, err := p.kernel(p.choiceFor(n))
			if err != nil {
				t.Fatal(err)
			}
			if _, isPanel := kern.(asm.PanelKernel); isPanel {
				panels++
			}
			got := append([]float32(nil), y0...)
			if err := p.Mul(got, n, x, n, n); err != nil {
				t.Fatal(err)
			}
			if i := bitwiseEqual(want, got); i >= 0 {
				t.Fatalf("n=%d threads=%d %s: Y[%d] = %v, one thread gives %v", n, threads, kern.Name(), i, got[i], want[i])
			}
			// Token-major, split across threads by rows or tokens, against one thread's path.
			xt := make([]float32, n*k)
			transpose(xt, k, x, n, k, n)
			yt0 := make([]float32, n*m)
			transpose(yt0, m, y0, n, m, n)
			wantT := append([]float32(nil), yt0...)
			if err := p1.MulTokens(wantT, m, xt, k, n); err != nil {
				t.Fatal(err)
			}
			gotT := append([]float32(nil), yt0...)
			if err := p.MulTokens(gotT, m, xt, k, n); err != nil {
				t.Fatal(err)
			}
			if i := bitwiseEqual(wantT, gotT); i >= 0 {
				t.Fatalf("n=%d threads=%d: token-major Y[%d] = %v, one thread gives %v", n, threads, i, gotT[i], wantT[i])
			}
			// Batch of two, X items shared (strideX = 0), Y items apart.
			yb := append(append([]float32(nil), y0...), y0...)
			if err := p.MulBatch(yb, n, m*n, x, n, 0, n, 2); err != nil {
				t.Fatal(err)
			}
			if bitwiseEqual(want, yb[:m*n]) >= 0 || bitwiseEqual(want, yb[m*n:]) >= 0 {
				t.Fatalf("n=%d threads=%d: batch differs", n, threads)
			}
		}
	}
	// Where CSR tile kernels run (every SIMD build), some call must have run one.
	simdCSR := slices.ContainsFunc(asm.Families(), func(f asm.Family) bool {
		return f.Format == "csr" && f.ISA != asm.Generic && Host().CanRun(f, Host().BestISA())
	})
	if simdCSR && panels == 0 {
		t.Fatal("no call ran a kernel that packs its own X panel: the test tested none")
	}
}
