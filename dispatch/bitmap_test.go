package dispatch

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/sparsegen/sparsegen/asm"
	"github.com/sparsegen/sparsegen/formats"
	"github.com/sparsegen/sparsegen/ref"
)

// bitmapFamilies returns the float32 bitmap SpMV families this CPU runs under cap.
func bitmapFamilies(cap asm.ISA) []asm.Family {
	var out []asm.Family
	for _, f := range asm.Families() {
		if f.Bitmap && f.Format == "csr" && Host().CanRun(f, cap) {
			out = append(out, f)
		}
	}
	return out
}

func TestBitmapRatio(t *testing.T) {
	f := asm.Family{Desc: &asm.Desc{ISA: asm.AVX512, Bitmap: true}}
	for i, d := range bitmapDensity {
		r, got := bitmapRatio(f, int64(d*1000*1000), 1000, 1000)
		if r != bitmapRatios[asm.AVX512][i] || got != d {
			t.Errorf("density %v: ratio %v (density %v), want %v", d, r, got, bitmapRatios[asm.AVX512][i])
		}
	}
	if r, _ := bitmapRatio(f, 0, 1000, 1000); r != bitmapRatios[asm.AVX512][0] {
		t.Errorf("empty W: ratio %v", r)
	}
	if r, _ := bitmapRatio(f, 1000*1000, 1000, 1000); r != bitmapRatios[asm.AVX512][len(bitmapDensity)-1] {
		t.Errorf("full W: ratio %v", r)
	}
	a, _ := bitmapRatio(f, 250*1000, 1000, 1000) // between the 20% and 30% points
	lo, hi := bitmapRatios[asm.AVX512][2], bitmapRatios[asm.AVX512][3]
	if !(a <= max(lo, hi) && a >= min(lo, hi)) {
		t.Errorf("density 25%%: ratio %v outside [%v, %v]", a, min(lo, hi), max(lo, hi))
	}
	if r, _ := bitmapRatio(asm.Family{Desc: &asm.Desc{ISA: asm.NEON, Bitmap: true}}, 10, 10, 10); r <= 1 {
		t.Errorf("an ISA without measurements: ratio %v, want > 1", r)
	}
	// Each dtype has its points on AVX2 (measured on a Zen 3): float32's bitmap pays over
	// the gather-free SpMV from about 43% density, bf16's and fp16's from about 39%,
	// int8's from about 41%.
	for _, c := range []struct {
		dtype   string
		density float64
		pays    bool
	}{{"float32", 0.40, false}, {"float32", 0.46, true}, {"bf16", 0.36, false}, {"bf16", 0.42, true}, {"f16", 0.36, false}, {"f16", 0.42, true}, {"i8", 0.38, false}, {"i8", 0.44, true}} {
		g := asm.Family{Desc: &asm.Desc{ISA: asm.AVX2, Bitmap: true, DType: c.dtype}}
		if r, _ := bitmapRatio(g, int64(c.density*1000*1000), 1000, 1000); (r < 1) != c.pays {
			t.Errorf("AVX2 %s at %v: ratio %v, pays %v, want %v", c.dtype, c.density, r, r < 1, c.pays)
		}
	}
}

// TestBitmapDispatch: on a large CSR W (streamed: the large-W coefficients) at 30% density,
// Compile runs the AVX-512 bitmap family at N = 1 (only there) and not the AVX2 one (on the
// Zen 3 its ratio there is 1.21: it pays only from about 43%, where the shipped table
// prices the dense GEMV lower); on a sparse W it keeps the CSR SpMV; a forced bitmap
// family runs N = 1 and the policy the other N; every plan computes W·X. (On an in-cache W
// the dense GEMV undercuts both SpMVs wherever the bitmap would beat CSR's.)
func TestBitmapDispatch(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	caps := []asm.ISA{Host().BestISA()}
	if caps[0] == asm.AVX512 {
		caps = append(caps, asm.AVX2)
	}
	dense, sparse := randDense(rng, 2048, 2048, 0.3), randDense(rng, 2048, 2048, 0.03)
	wDense, err := formats.CSRFromDense(dense)
	if err != nil {
		t.Fatal(err)
	}
	wSparse, err := formats.CSRFromDense(sparse)
	if err != nil {
		t.Fatal(err)
	}
	ran := 0
	for _, cap := range caps {
		fams := bitmapFamilies(cap)
		if len(fams) == 0 {
			t.Logf("ISA cap %v: no bitmap SpMV family runs here", cap)
			continue
		}
		ran++
		p, err := Compile(wDense, Options{ISA: cap.String(), Threads: 1})
		if err != nil {
			t.Fatal(err)
		}
		fam, format := p.KernelFor(1)
		f, _ := asm.Lookup(fam)
		if want := cap == asm.AVX512; f.Bitmap != want || want && (format != "csr" || f.ISA != cap) {
			t.Errorf("cap %v, density 0.3: N = 1 runs %s@%s, want the bitmap SpMV of %v: %v\n%s", cap, fam, format, cap, want, p.Describe())
		}
		if g, _ := p.KernelFor(2); f.Bitmap && g == fam {
			t.Errorf("cap %v: N = 2 runs %s too", cap, g)
		}
		epi := &ref.Epilogue{Bias: randX(rng, 2048), Act: ref.ActReLU}
		pe, err := Compile(wDense, Options{ISA: cap.String(), Threads: 2, Bias: epi.Bias, Act: epi.Act})
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{1, 3} {
			checkChannelMajor(t, fmt.Sprintf("cap %v n%d", cap, n), pe, wDense, rng, n, epi)
			checkTokenMajor(t, fmt.Sprintf("cap %v n%d", cap, n), pe, wDense, rng, n, epi)
		}

		ps, err := Compile(wSparse, Options{ISA: cap.String(), Threads: 1})
		if err != nil {
			t.Fatal(err)
		}
		if fam, _ := ps.KernelFor(1); bitmapOf(fam) {
			t.Errorf("cap %v, density 0.03: N = 1 runs %s\n%s", cap, fam, ps.Describe())
		}

		for _, f := range fams {
			pf, err := Compile(wSparse, Options{ISA: cap.String(), Kernel: f.Name, Threads: 2, Bias: epi.Bias, Act: epi.Act})
			if err != nil {
				t.Fatal(err)
			}
			if fam, _ := pf.KernelFor(1); fam != f.Name {
				t.Errorf("forced %s: N = 1 runs %s", f.Name, fam)
			}
			if fam, _ := pf.KernelFor(4); fam == f.Name {
				t.Errorf("forced %s runs N = 4 too", f.Name)
			}
			for _, n := range []int{1, 4} {
				checkChannelMajor(t, fmt.Sprintf("forced %s n%d", f.Name, n), pf, wSparse, rng, n, epi)
			}
		}
	}
	if ran == 0 {
		t.Skip("no bitmap SpMV family runs on this CPU or build")
	}
}

func bitmapOf(name string) bool {
	f, ok := asm.Lookup(name)
	return ok && f.Bitmap
}
