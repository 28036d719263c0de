package dispatch

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sparsegen/sparsegen/asm"
	"github.com/sparsegen/sparsegen/ref"
)

// TestSharedPanelBitwise: channel-major and token-major calls on a shared X panel (forced
// from 2 threads on), whole and in slabs of one tile, give bitwise the one-thread result, also for batches and with
// an epilogue that reads Y; the panel path is really taken.
func TestSharedPanelBitwise(t *testing.T) {
	defer func(v, b int) { sharedPanelMinThreads, panelSlabBytes = v, b }(sharedPanelMinThreads, panelSlabBytes)
	rng := rand.New(rand.NewPCG(31, 32))
	d := randDense(rng, 301, 517, 0.12)
	w := inFormat(t, d, "csr")
	m, k := w.Shape()
	bias := randX(rng, m)
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
		for i, threads := range []int{2, 3, 5} {
			sharedPanelMinThreads = 2
			panelSlabBytes = 8 << 20
			if i == 1 {
				panelSlabBytes = 1 // one tile per slab
			}
			opts.Threads = threads
			p, err := Compile(w, opts)
			if err != nil {
				t.Fatal(err)
			}
			kern, err := p.kernel(p.choiceFor(n))
			if err != nil {
				t.Fatal(err)
			}
			_, isPanel := kern.(asm.PanelKernel)
			if _, used := usePanel(kern, n, threads); isPanel && n >= 16 && !used {
				t.Fatalf("n=%d threads=%d: %s has a panel but the call does not share it", n, threads, kern.Name())
			}
			got := append([]float32(nil), y0...)
			if err := p.Mul(got, n, x, n, n); err != nil {
				t.Fatal(err)
			}
			if i := bitwiseEqual(want, got); i >= 0 {
				t.Fatalf("n=%d threads=%d %s: Y[%d] = %v, one thread gives %v", n, threads, kern.Name(), i, got[i], want[i])
			}
			// Token-major on the shared panel, and split across threads by rows or tokens
			// (the defaults), against one thread's path.
			xt := make([]float32, n*k)
			transpose(xt, k, x, n, k, n)
			yt0 := make([]float32, n*m)
			transpose(yt0, m, y0, n, m, n)
			wantT := append([]float32(nil), yt0...)
			if err := p1.MulTokens(wantT, m, xt, k, n); err != nil {
				t.Fatal(err)
			}
			for _, shared := range []int{2, math.MaxInt} {
				sharedPanelMinThreads = shared
				gotT := append([]float32(nil), yt0...)
				if err := p.MulTokens(gotT, m, xt, k, n); err != nil {
					t.Fatal(err)
				}
				if i := bitwiseEqual(wantT, gotT); i >= 0 {
					t.Fatalf("n=%d threads=%d shared from %d: token-major Y[%d] = %v, one thread gives %v", n, threads, shared, i, gotT[i], wantT[i])
				}
			}
			sharedPanelMinThreads = 2
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
}

// TestSlabCols: slabs are whole panel tiles within panelSlabBytes, at least one tile.
func TestSlabCols(t *testing.T) {
	rng := rand.New(rand.NewPCG(33, 34))
	w := inFormat(t, randDense(rng, 64, 4000, 0.3), "csr")
	for _, f := range asm.Families() {
		if f.Format != "csr" || !Host().CanRun(f, Host().BestISA()) {
			continue
		}
		kern, err := f.Pack(w)
		if err != nil {
			t.Fatal(err)
		}
		pk, ok := kern.(asm.PanelKernel)
		if !ok {
			continue
		}
		for _, n := range []int{1, 100, 100000} {
			sc := slabCols(pk, n)
			if sc < 1 || sc > n || (sc < n && sc%pk.PanelTile() != 0) {
				t.Errorf("%s n=%d: slab %d (tile %d)", f.Name, n, sc, pk.PanelTile())
			}
			if sc > pk.PanelTile() && int64(pk.PanelLen(sc))*4 > int64(panelSlabBytes) {
				t.Errorf("%s n=%d: slab %d needs %d bytes of panel", f.Name, n, sc, pk.PanelLen(sc)*4)
			}
		}
	}
}
