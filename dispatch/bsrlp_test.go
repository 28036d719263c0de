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

// randBSRLPFor is an m×k W with br×bc blocks kept with probability 0.3 (block row 1 empty),
// converted to dt.
func randBSRLPFor(t *testing.T, rng *rand.Rand, m, k, br, bc int, dt formats.DType) *formats.BSRLP {
	t.Helper()
	d := &formats.Dense{Rows: m, Cols: k, Stride: k, Data: make([]float32, m*k)}
	for bi := 0; bi*br < m; bi++ {
		for bj := 0; bj*bc < k; bj++ {
			if bi == 1 || rng.Float64() >= 0.3 {
				continue
			}
			for i := bi * br; i < min(m, bi*br+br); i++ {
				for j := bj * bc; j < min(k, bj*bc+bc); j++ {
					d.Data[i*k+j] = float32(rng.NormFloat64())
				}
			}
		}
	}
	b, err := formats.BSRFromDense(d, br, bc)
	if err != nil {
		t.Fatal(err)
	}
	lp, err := formats.BSRLPFromBSR(b, dt)
	if err != nil {
		t.Fatal(err)
	}
	return lp
}

// TestCompileBSRLP: a BSRLP W compiles to its dtype's BSR kernels on the widest ISA under
// the cap that takes its block shape (the family of that shape where the ISA has one, else
// bsr_any, else pure Go: 16-row blocks), at every N (1 included), and gives ref's result
// on W widened first, channel-major, token-major and on 1 and 3 threads; W is never
// converted; Candidates and RangeOf list its own families; a forced family of its dtype
// runs, one of another dtype, format or block shape is refused with a message that says
// why.
func TestCompileBSRLP(t *testing.T) {
	rng := rand.New(rand.NewPCG(55, 56))
	for _, blk := range [][2]int{{4, 4}, {2, 1}, {1, 4}, {3, 2}, {16, 1}} {
		br, bc := blk[0], blk[1]
		for _, dt := range []formats.DType{formats.BF16, formats.F16, formats.I8} {
			lp := randBSRLPFor(t, rng, 45, 67, br, bc, dt)
			wd := lp.ToDense()
			format := asm.BSRLPFormat(dt)
			for _, isa := range runnableISAs() {
				cap := mustISA(t, isa)
				for _, threads := range []int{1, 3} {
					p, err := Compile(lp, Options{ISA: isa, Threads: threads, Act: ref.ActReLU, Bias: randX(rng, 45)})
					if err != nil {
						t.Fatalf("%v %dx%d %s: %v", dt, br, bc, isa, err)
					}
					for _, n := range []int{1, 2, 3, 16, 17, 33, 40} {
						fam, got := p.KernelFor(n)
						f, ok := asm.Lookup(fam)
						if !ok || got != format || f.Format != format {
							t.Fatalf("%v %dx%d %s: N = %d runs %s on %s", dt, br, bc, isa, n, fam, got)
						}
						want := widestLP(format, cap)
						if br > asm.BSRMaxStepRows {
							want = asm.Generic
						}
						if f.ISA != want {
							t.Fatalf("%v %dx%d %s: runs %s (%s), want %s", dt, br, bc, isa, fam, f.ISA, want)
						}
						if shaped := shapedBSRLP(format, f.ISA, br, bc, n); shaped != "" && fam != shaped {
							t.Fatalf("%v %dx%d %s: runs %s, not %s of W's block shape", dt, br, bc, isa, fam, shaped)
						}
						name := fmt.Sprintf("%s/%dx%d/%s/t%d/n%d", format, br, bc, isa, threads, n)
						epi := &ref.Epilogue{Bias: p.epi.Bias, Act: ref.ActReLU}
						checkChannelMajor(t, name, p, wd, rng, n, epi)
						checkTokenMajor(t, name, p, wd, rng, n, epi)
					}
					if !strings.Contains(p.Describe(), format) {
						t.Fatalf("Describe does not name the format:\n%s", p.Describe())
					}
				}
				// Candidates: W's own families only, Compile's choice first, over all N.
				p, err := Compile(lp, Options{ISA: isa})
				if err != nil {
					t.Fatal(err)
				}
				for _, n := range []int{1, 16} {
					cs, err := Candidates(lp, n, Options{ISA: isa})
					if err != nil || len(cs) == 0 {
						t.Fatalf("candidates: %v %v", cs, err)
					}
					if fam, _ := p.KernelFor(n); cs[0].Kernel != fam {
						t.Fatalf("%v %dx%d %s: first candidate %s, Compile runs %s", dt, br, bc, isa, cs[0].Kernel, fam)
					}
					for _, c := range cs {
						f, _ := asm.Lookup(c.Kernel)
						if c.Format != format || f.Format != format || f.BlockR != 0 && (f.BlockR != br || f.BlockC != bc) {
							t.Fatalf("%v %dx%d: candidate %+v (%+v)", dt, br, bc, c, f)
						}
						// Each candidate compiles, forced, and runs right.
						pf, err := Compile(lp, Options{ISA: isa, Kernel: c.Kernel, Format: c.Format})
						if err != nil {
							t.Fatalf("forced %s: %v", c.Kernel, err)
						}
						if got, _ := pf.KernelFor(n); got != c.Kernel {
							t.Fatalf("forced %s runs %s", c.Kernel, got)
						}
						checkChannelMajor(t, "forced "+c.Kernel, pf, wd, rng, n, nil)
					}
					lo, hi, err := RangeOf(lp, n, Options{ISA: isa})
					if err != nil || lo > n || hi < n {
						t.Fatalf("RangeOf(%d) = %d, %d, %v", n, lo, hi, err)
					}
					for _, c := range cs {
						if f, _ := asm.Lookup(c.Kernel); !coversRange(f, nRange{lo, hi}) {
							t.Fatalf("candidate %s does not cover RangeOf(%d) = [%d, %d]", c.Kernel, n, lo, hi)
						}
					}
				}
			}
			// Never converted, never run by another dtype's, format's or shape's family.
			for _, other := range []string{"bsr4x4", "csr", "dense"} {
				if _, err := Compile(lp, Options{Format: other}); err == nil {
					t.Fatalf("%s: Format %s accepted", format, other)
				}
			}
			otherDT := formats.I8
			if dt == formats.I8 {
				otherDT = formats.BF16
			}
			for _, other := range []string{"bsr_packed_generic", "bsr_packed_generic_" + otherDT.String(), "spmv_csr_i32_" + dt.String() + "_generic"} {
				_, err := Compile(lp, Options{Kernel: other})
				if err == nil || !strings.Contains(err.Error(), "takes") {
					t.Fatalf("%s: family %s: %v", format, other, err)
				}
			}
			for _, f := range asm.Families() {
				if f.Format == format && f.BlockR != 0 && (f.BlockR != br || f.BlockC != bc) && Host().CanRun(f, Host().BestISA()) {
					_, err := Compile(lp, Options{Kernel: f.Name})
					if err == nil || !strings.Contains(err.Error(), "blocks") {
						t.Fatalf("%s forced on %dx%d blocks: %v", f.Name, br, bc, err)
					}
				}
			}
		}
	}
	// A float32 BSR never runs a low-precision family.
	b, err := formats.BSRFromDense(randDense(rng, 20, 30, 0.5), 4, 4)
	if err != nil {
		t.Fatal(err)
	}
	pf, err := Compile(b, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{1, 4, 16} {
		if fam, got := pf.KernelFor(n); strings.HasPrefix(got, "bsr_") {
			t.Fatalf("float32 BSR runs %s on %s at N = %d", fam, got, n)
		}
	}
	// Invalid W is refused before any kernel sees it.
	bad := randBSRLPFor(t, rng, 9, 9, 2, 2, formats.I8)
	bad.Scale = bad.Scale[:4]
	if _, err := Compile(bad, Options{}); err == nil {
		t.Fatal("a BSRLP with too few scales compiled")
	}
	var nilB *formats.BSRLP
	if _, err := Compile(nilB, Options{}); err == nil {
		t.Fatal("a nil BSRLP compiled")
	}
	if _, err := Candidates(nilB, 1, Options{}); err == nil {
		t.Fatal("Candidates of a nil BSRLP")
	}
}

// shapedBSRLP is the family of format on isa for br×bc blocks that runs N = n (the GEMV
// where it runs N: lpRank takes the narrower N range), "" if none.
func shapedBSRLP(format string, isa asm.ISA, br, bc, n int) string {
	name := ""
	for _, f := range asm.Families() {
		if f.Format == format && f.ISA == isa && f.BlockR == br && f.BlockC == bc && n >= f.MinN && (f.MaxN == 0 || n <= f.MaxN) {
			if f.ExactN {
				return f.Name
			}
			name = f.Name
		}
	}
	return name
}
