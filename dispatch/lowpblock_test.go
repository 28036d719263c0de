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

// TestCompileDenseLPBlocks: a dense bf16 or fp16 W runs regrouped in 8×1 blocks of its own
// dtype (bsr8x1_bf16, bsr8x1_f16) on the AVX-512 8×1 BSR family from N = denseLPBlockMinN
// on, and its GEMV below; int8, and every cap below AVX-512, keep the GEMV at every N. Each
// choice gives ref.Dense's result on W widened first (ragged last block row, zero blocks
// dropped), channel-major and token-major. Forcing the block family or Format
// "bsr8x1_<dtype>" runs the regrouping at every N; a mismatched pair, another block shape or
// a float32 BSR family is refused.
func TestCompileDenseLPBlocks(t *testing.T) {
	rng := rand.New(rand.NewPCG(61, 62))
	d := randDense(rng, 45, 67, 1)
	for i := 8; i < 16; i++ { // one all-zero 8×1 block row (dropped by the regrouping)
		for j := range d.Row(i) {
			d.Row(i)[j] = 0
		}
	}
	ns := []int{1, 16, denseLPBlockMinN - 1, denseLPBlockMinN, 128, 200}
	for _, dt := range []formats.DType{formats.BF16, formats.F16, formats.I8} {
		lp := lpMatrix(t, d, dt, false)
		wd := lp.ToDense()
		own, blocks := asm.LPFormat(dt), "bsr8x1_"+dt.String()
		for _, isa := range runnableISAs() {
			capISA := mustISA(t, isa)
			p, err := Compile(lp, Options{ISA: isa, Act: ref.ActReLU, Bias: randX(rng, 45)})
			if err != nil {
				t.Fatalf("%v %s: %v", dt, isa, err)
			}
			for _, n := range ns {
				fam, format := p.KernelFor(n)
				want := "bsr8x1_t32_" + dt.String() + "_avx512"
				wf, built := asm.Lookup(want) // absent under -tags purego
				if dt != formats.I8 && built && Host().CanRun(wf, capISA) && n >= denseLPBlockMinN {
					if fam != want || format != blocks {
						t.Fatalf("%v %s N = %d: runs %s@%s, want %s@%s\n%s", dt, isa, n, fam, format, want, blocks, p.Describe())
					}
				} else if f, _ := asm.Lookup(fam); format != own || f.Format != own {
					t.Fatalf("%v %s N = %d: runs %s@%s, want its GEMV on %s", dt, isa, n, fam, format, own)
				}
				name := fmt.Sprintf("%s/%s/n%d", own, isa, n)
				epi := &ref.Epilogue{Bias: p.epi.Bias, Act: ref.ActReLU}
				checkChannelMajor(t, name, p, wd, rng, n, epi)
				checkTokenMajor(t, name, p, wd, rng, n, epi)
			}
			if f, built := asm.Lookup("bsr8x1_t32_avx512"); built && Host().CanRun(f, capISA) && dt != formats.I8 && !strings.Contains(p.Describe(), "converted from") {
				t.Fatalf("%v: Describe does not say W was regrouped:\n%s", dt, p.Describe())
			}
			// Forced: the regrouping at every N, by family or by format.
			var blockFams []string
			for _, f := range asm.Families() {
				if f.Format == asm.BSRLPFormat(dt) && f.BlockR == 8 && f.BlockC == 1 && Host().CanRun(f, capISA) {
					blockFams = append(blockFams, f.Name)
				}
			}
			for _, bf := range blockFams {
				for _, opts := range []Options{{ISA: isa, Kernel: bf}, {ISA: isa, Kernel: bf, Format: blocks}} {
					pf, err := Compile(lp, opts)
					if err != nil {
						t.Fatalf("%v %s %+v: %v", dt, isa, opts, err)
					}
					for _, n := range []int{1, 7, 100} {
						if fam, format := pf.KernelFor(n); fam != bf || format != blocks {
							t.Fatalf("%v %s forced %s: N = %d runs %s@%s", dt, isa, bf, n, fam, format)
						}
						checkChannelMajor(t, fmt.Sprintf("%s/forced %s/n%d", own, bf, n), pf, wd, rng, n, nil)
					}
				}
				if _, err := Compile(lp, Options{ISA: isa, Kernel: bf, Format: own}); err == nil {
					t.Fatalf("%v %s: %s accepted with Format %s", dt, isa, bf, own)
				}
			}
			if len(blockFams) > 0 {
				pf, err := Compile(lp, Options{ISA: isa, Format: blocks})
				if err != nil {
					t.Fatalf("%v %s Format %s: %v", dt, isa, blocks, err)
				}
				for _, n := range []int{1, 100} {
					if _, format := pf.KernelFor(n); format != blocks {
						t.Fatalf("%v %s Format %s: N = %d runs on %s", dt, isa, blocks, n, format)
					}
				}
			}
		}
		// Refused: the GEMV on the regrouping, another block shape, a float32 BSR family.
		for _, opts := range []Options{
			{Kernel: "gemv_dense_" + dt.String() + "_generic", Format: blocks},
			{Format: "bsr4x4_" + dt.String()},
			{Format: "bsr8x1"},
			{Kernel: "bsr_any_generic"},
		} {
			if _, err := Compile(lp, opts); err == nil {
				t.Fatalf("%v: %+v accepted", dt, opts)
			}
		}
		for _, f := range asm.Families() {
			if f.Format == asm.BSRLPFormat(dt) && f.BlockR != 0 && (f.BlockR != 8 || f.BlockC != 1) {
				if _, err := Compile(lp, Options{Kernel: f.Name}); err == nil {
					t.Fatalf("%v: %s (%d×%d blocks) accepted on the 8×1 regrouping", dt, f.Name, f.BlockR, f.BlockC)
				}
			}
		}
	}
}
