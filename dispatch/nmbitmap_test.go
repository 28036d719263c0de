package dispatch

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/sparsegen/sparsegen/asm"
	"github.com/sparsegen/sparsegen/formats"
	"github.com/sparsegen/sparsegen/ref"
)

// TestNMBitmapChoice: at N = 1 an N:M W of a dtype and pattern nmBitmapWins lists for the
// ISA runs that ISA's nm_bitmap_<dtype> family (Compile and Candidates' first), and every
// other pattern, dtype and ISA the N:M GEMV, as measured (dispatch/nmbitmap.go); N ≥ 2
// never runs the bitmap; each plan computes ref's result on W widened, with an epilogue,
// on 1 and 3 threads; forcing the bitmap where it does not pay still runs it, correctly.
func TestNMBitmapChoice(t *testing.T) {
	rng := rand.New(rand.NewPCG(81, 82))
	checked := 0
	for _, dt := range []formats.DType{formats.BF16, formats.F16, formats.I8} {
		for _, pat := range [][2]int{{2, 4}, {1, 4}, {2, 8}} {
			keep, group := pat[0], pat[1]
			lp := randNMLPW(t, rng, 29, 4096+16*group/keep+3, keep, group, dt) // two bitmap K blocks
			for _, isa := range runnableISAs() {
				cap := mustISA(t, isa)
				bm := "nm_bitmap_" + dt.String() + "_" + cap.String()
				f, have := asm.Lookup(bm)
				have = have && Host().CanRun(f, cap)
				wantBitmap := have && nmBitmapPays(f, keep, group)
				for _, threads := range []int{1, 3} {
					p, err := Compile(lp, Options{ISA: isa, Threads: threads, Bias: randX(rng, 29), Act: ref.ActReLU})
					if err != nil {
						t.Fatal(err)
					}
					name := fmt.Sprintf("%s %d:%d %s t%d", dt, keep, group, isa, threads)
					fam, _ := p.KernelFor(1)
					if (fam == bm) != wantBitmap {
						t.Fatalf("%s: N = 1 runs %s (bitmap pays: %v)", name, fam, wantBitmap)
					}
					if !wantBitmap && hasNMGemv(cap, dt, keep, group) {
						if g, _ := asm.Lookup(fam); g.MaxN != 1 || g.Keep != keep || g.Bitmap {
							t.Fatalf("%s: N = 1 runs %s, not the N:M GEMV", name, fam)
						}
					}
					if fam2, _ := p.KernelFor(2); fam2 == bm {
						t.Fatalf("%s: N = 2 runs %s", name, fam2)
					}
					cs, err := Candidates(lp, 1, Options{ISA: isa})
					if err != nil || len(cs) == 0 || cs[0].Kernel != fam {
						t.Fatalf("%s: candidates %v (%v), Compile runs %s", name, cs, err, fam)
					}
					checkChannelMajor(t, name, p, lp.ToNM(), rng, 1, &ref.Epilogue{Bias: p.epi.Bias, Act: ref.ActReLU})
					checked++
				}
				if have && !wantBitmap {
					p, err := Compile(lp, Options{ISA: isa, Kernel: bm})
					if err != nil {
						t.Fatal(err)
					}
					if fam, _ := p.KernelFor(1); fam != bm {
						t.Fatalf("forced %s runs %s", bm, fam)
					}
					checkChannelMajor(t, bm+" forced", p, lp.ToNM(), rng, 1, nil)
				}
			}
		}
	}
	// Since the GEMV's two-segment steps the bitmap wins no pattern (nmBitmapWins is
	// empty): a host and build that run AVX-512 must pick the GEMV for bf16 2:4, where
	// the bitmap had won before.
	if f, ok := asm.Lookup("nm2of4_gemv_bf16_avx512"); ok && Host().CanRun(f, asm.AVX512) {
		lp := randNMLPW(t, rng, 64, 256, 2, 4, formats.BF16)
		p, err := Compile(lp, Options{ISA: "avx512"})
		if err != nil {
			t.Fatal(err)
		}
		if fam, _ := p.KernelFor(1); fam != "nm2of4_gemv_bf16_avx512" {
			t.Fatalf("bf16 2:4 on AVX-512 runs %s at N = 1", fam)
		}
	}
	t.Logf("%d plans checked", checked)
}

// hasNMGemv reports whether a generated N:M GEMV of isa for dt weights of keep:group runs
// here (none under purego, where the pure-Go N:M kernels serve every ISA cap).
func hasNMGemv(isa asm.ISA, dt formats.DType, keep, group int) bool {
	for _, g := range asm.Families() {
		if g.ISA == isa && g.MaxN == 1 && !g.Bitmap && g.Keep == keep && g.Group == group &&
			g.Format == "nm_"+dt.String() && Host().CanRun(g, isa) {
			return true
		}
	}
	return false
}
