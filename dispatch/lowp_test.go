package dispatch

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/sparsegen/sparsegen/asm"
	"github.com/sparsegen/sparsegen/formats"
	"github.com/sparsegen/sparsegen/ref"
)

// lpDType is the dtype of an asm.LPFormat format string ("dense_bf16" …).
func lpDType(format string) (formats.DType, bool) {
	s, ok := strings.CutPrefix(format, "dense_")
	if !ok {
		return 0, false
	}
	t, err := formats.ParseDType(s)
	return t, err == nil
}

// TestCompileLP: a DenseLP W compiles to its dtype's GEMV on the widest ISA under the cap
// (every ISA this CPU runs, generic included), for every N, and gives ref.Dense's result on
// W widened first, channel-major, token-major and on 1 and 3 threads; W is never converted.
func TestCompileLP(t *testing.T) {
	rng := rand.New(rand.NewPCG(51, 52))
	for _, dt := range []formats.DType{formats.BF16, formats.F16, formats.I8} {
		d := randDense(rng, 45, 67, 1)
		lp, err := formats.DenseLPFromDense(d, dt)
		if err != nil {
			t.Fatal(err)
		}
		wd := lp.ToDense()
		for _, isa := range runnableISAs() {
			for _, threads := range []int{1, 3} {
				p, err := Compile(lp, Options{ISA: isa, Threads: threads, Act: ref.ActReLU, Bias: randX(rng, 45)})
				if err != nil {
					t.Fatalf("%v %s: %v", dt, isa, err)
				}
				for _, n := range []int{1, 2, 3, 4, 5, 9, 40} {
					fam, format := p.KernelFor(n)
					f, ok := asm.Lookup(fam)
					if !ok || format != asm.LPFormat(dt) || f.Format != format {
						t.Fatalf("%v %s: N = %d runs %s on %s", dt, isa, n, fam, format)
					}
					if want := widestLP(format, mustISA(t, isa)); f.ISA != want {
						t.Fatalf("%v %s: runs %s (%s), the widest %s family here is %s", dt, isa, fam, f.ISA, format, want)
					}
					name := fmt.Sprintf("%v/%s/t%d/n%d", dt, isa, threads, n)
					epi := &ref.Epilogue{Bias: p.epi.Bias, Act: ref.ActReLU}
					checkChannelMajor(t, name, p, wd, rng, n, epi)
					checkTokenMajor(t, name, p, wd, rng, n, epi)
				}
				if !strings.Contains(p.Describe(), asm.LPFormat(dt)) {
					t.Fatalf("Describe does not name the format:\n%s", p.Describe())
				}
			}
		}
		// Never converted: a forced other format is an error, and so is a float32 family.
		if _, err := Compile(lp, Options{Format: "dense"}); err == nil {
			t.Fatalf("%v: Format dense accepted", dt)
		}
		if _, err := Compile(lp, Options{Kernel: "gemv_dense_generic"}); err == nil {
			t.Fatalf("%v: a float32 family accepted", dt)
		}
		// A float32 W never runs a low-precision family.
		pf, err := Compile(d, Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{1, 4, 16} {
			if _, format := pf.KernelFor(n); strings.HasPrefix(format, "dense_") {
				t.Fatalf("float32 W runs %s at N = %d", format, n)
			}
		}
	}
	// Invalid W is refused before any kernel sees it.
	bad := &formats.DenseLP{Rows: 3, Cols: 4, Stride: 4, DType: formats.I8, I8: make([]int8, 12), Scale: []float32{1}}
	if _, err := Compile(bad, Options{}); err == nil {
		t.Fatal("a DenseLP with too few scales compiled")
	}
	var nilLP *formats.DenseLP
	if _, err := Compile(nilLP, Options{}); err == nil {
		t.Fatal("a nil DenseLP compiled")
	}
}

func mustISA(t *testing.T, s string) asm.ISA {
	t.Helper()
	if s == "" {
		return Host().BestISA()
	}
	i, err := asm.ParseISA(s)
	if err != nil {
		t.Fatal(err)
	}
	return i
}

// widestLP is the widest ISA of the families of format that run here under cap.
func widestLP(format string, cap asm.ISA) asm.ISA {
	best := asm.Generic
	for _, f := range asm.Families() {
		if f.Format == format && Host().CanRun(f, cap) && isaRank(f.ISA, Host().GOARCH) > isaRank(best, Host().GOARCH) {
			best = f.ISA
		}
	}
	return best
}
