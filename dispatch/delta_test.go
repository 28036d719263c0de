package dispatch

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sparsegen/sparsegen/asm"
	"github.com/sparsegen/sparsegen/formats"
	"github.com/sparsegen/sparsegen/ref"
)

// TestDeltaDispatch: the 8-bit-delta SpMV families (asm/spmvdelta.go) measured slower than
// the gather-free CSR SpMV at every sparsity on Zen 5 (gen/kernels/spmvdelta.go), so
// Compile never runs one by itself, float32 or low precision, under each ISA cap; forced
// (Options.Kernel) one runs N = 1 only and computes W·X (float32 and bf16 W).
func TestDeltaDispatch(t *testing.T) {
	rng := rand.New(rand.NewPCG(51, 52))
	caps := []asm.ISA{Host().BestISA()}
	if caps[0] == asm.AVX512 {
		caps = append(caps, asm.AVX2)
	}
	var ws []formats.Matrix
	for _, d := range []float64{0.2, 0.1, 0.03} {
		c, err := formats.CSRFromDense(randDense(rng, 2048, 2048, d))
		if err != nil {
			t.Fatal(err)
		}
		lp, err := formats.CSRLPFromCSR(c, formats.BF16)
		if err != nil {
			t.Fatal(err)
		}
		ws = append(ws, c, lp)
	}
	ran := 0
	for _, cap := range caps {
		for _, w := range ws {
			p, err := Compile(w, Options{ISA: cap.String(), Threads: 1})
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range []int{1, 2} {
				if fam, _ := p.KernelFor(n); deltaOf(fam) {
					t.Errorf("cap %v, %s: N = %d runs %s\n%s", cap, describeW(w), n, fam, p.Describe())
				}
			}
		}
		epi := &ref.Epilogue{Bias: randX(rng, 2048), Act: ref.ActReLU}
		for _, f := range asm.Families() {
			if !f.Delta || !Host().CanRun(f, cap) || (f.Format != "csr" && f.DType != "bf16") {
				continue
			}
			ran++
			w := ws[2]
			if f.DType == "bf16" {
				w = ws[3]
			}
			pf, err := Compile(w, Options{ISA: cap.String(), Kernel: f.Name, Threads: 2, Bias: epi.Bias, Act: epi.Act})
			if err != nil {
				t.Fatal(err)
			}
			if fam, _ := pf.KernelFor(1); fam != f.Name {
				t.Errorf("forced %s: N = 1 runs %s", f.Name, fam)
			}
			if fam, _ := pf.KernelFor(4); fam == f.Name {
				t.Errorf("forced %s runs N = 4 too", f.Name)
			}
			ow := w // the oracle's W: a bf16 W widened
			if lp, ok := w.(*formats.CSRLP); ok {
				ow = lp.ToCSR()
			}
			for _, n := range []int{1, 4} {
				checkChannelMajor(t, fmt.Sprintf("forced %s n%d", f.Name, n), pf, ow, rng, n, epi)
			}
		}
	}
	if ran == 0 {
		t.Skip("no delta SpMV family runs on this CPU or build")
	}
}

func deltaOf(name string) bool {
	f, ok := asm.Lookup(name)
	return ok && f.Delta
}

func describeW(w formats.Matrix) string {
	if lp, ok := w.(*formats.CSRLP); ok {
		return fmt.Sprintf("CSR %v", lp.DType)
	}
	return "CSR float32"
}

// TestDeltaRatio: a delta family is priced as its CSR base (the gather-free SpMV of its
// ISA) times the measured ratio at W's density, interpolated between the measured
// densities and clamped outside; a family or dtype without measurements prices at 2×.
func TestDeltaRatio(t *testing.T) {
	ran := 0
	for _, f := range asm.Families() {
		if !f.Delta {
			continue
		}
		ran++
		rs := deltaRatios[f.DType][f.ISA]
		if rs == nil {
			t.Errorf("%s: no measured ratios", f.Name)
			continue
		}
		const m, k = 1000, 1000
		at := func(d float64) float64 {
			r, got := deltaRatio(f, int64(d*m*k), m, k)
			if got != d {
				t.Errorf("%s: density %v, want %v", f.Name, got, d)
			}
			return r
		}
		if r := at(0.10); r != rs[2] {
			t.Errorf("%s at 10%%: %v, want %v", f.Name, r, rs[2])
		}
		if r, want := at(0.15), (rs[2]+rs[3])/2; math.Abs(r-want) > 1e-12 {
			t.Errorf("%s at 15%%: %v, want %v", f.Name, r, want)
		}
		if r := at(0.001); r != rs[0] {
			t.Errorf("%s at 0.1%%: %v, want %v", f.Name, r, rs[0])
		}
		if r := at(0.9); r != rs[len(rs)-1] {
			t.Errorf("%s at 90%%: %v, want %v", f.Name, r, rs[len(rs)-1])
		}
		if f.Format == "csr" {
			b, ok := bitmapBase(f)
			if !ok || !b.Bcast || b.IndexBits != 16 || b.ISA != f.ISA || b.Delta {
				t.Errorf("%s: priced from %s, want the gather-free i16 SpMV of %v", f.Name, b.Name, f.ISA)
			}
		}
		g := f
		d := *f.Desc
		d.DType = "f64"
		g.Desc = &d
		if r, _ := deltaRatio(g, 1000, 100, 100); r != 2 {
			t.Errorf("%s as f64: ratio %v, want 2 (unmeasured)", f.Name, r)
		}
	}
	if ran == 0 {
		t.Skip("no delta SpMV family in this build")
	}
}
