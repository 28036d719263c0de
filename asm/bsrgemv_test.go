package asm

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/sparsegen/sparsegen/formats"
)

// bsrGemvFamilies lists the BSR GEMV families this build and CPU run (the generated ones),
// and a pure-Go kernel on the same layout (BSRGemvLayout.runGo) for each test block.
func bsrGemvFamilies(t *testing.T) []Family {
	var out []Family
	for _, f := range Families() {
		if (f.Format == "bsr" || strings.HasPrefix(f.Format, "bsr_")) && f.ExactN && f.BlockR != 0 && f.Features&^hostFeatures() == 0 {
			out = append(out, f)
		}
	}
	for _, b := range [][2]int{{4, 4}, {8, 4}, {3, 2}} {
		out = append(out, bsrGemvFamily(&Desc{Name: fmt.Sprintf("bsr%dx%d_gemv_go", b[0], b[1]), Format: "bsr", ISA: Generic, BlockR: b[0], BlockC: b[1], MinN: 1, MaxN: 1}, bsrGemvGoCol, nil, nil))
		for _, dt := range []string{"bf16", "f16", "i8"} {
			out = append(out, bsrGemvFamily(&Desc{Name: fmt.Sprintf("bsr%dx%d_gemv_%s_go", b[0], b[1], dt), Format: "bsr_" + dt, DType: dt, ISA: Generic, BlockR: b[0], BlockC: b[1], MinN: 1, MaxN: 1}, bsrGemvGoCol, nil, nil))
		}
	}
	return out
}

// bsrGemvCase packs a random M×K weight for f (float32, or f's dtype: randBSRLP) and
// returns the kernel and the float32 matrix it computes (the low-precision one widened).
func bsrGemvCase(t *testing.T, f Family, r *rand.Rand, m, k int, dens float64) (Kernel, formats.Matrix) {
	t.Helper()
	if f.DType == "" || f.DType == "float32" {
		w := randBSR(r, m, k, f.BlockR, f.BlockC, dens)
		kern := packFamily(t, f, w)
		if kern == nil {
			t.Fatalf("%s refused a %d×%d BSR", f.Name, f.BlockR, f.BlockC)
		}
		return kern, w
	}
	dt, err := formats.ParseDType(f.DType)
	if err != nil {
		t.Fatal(err)
	}
	lp := randBSRLP(t, r, m, k, f.BlockR, f.BlockC, dens, dt)
	kern := packFamily(t, f, lp)
	if kern == nil {
		t.Fatalf("%s refused a %d×%d %s BSR", f.Name, f.BlockR, f.BlockC, dt)
	}
	return kern, lp.ToBSR()
}

// TestBSRGemv runs every BSR GEMV family (float32 against ref's oracle, bf16, fp16 and
// int8 against it on W widened) at N = 1 on every tail: M and K below, at and past
// the block and not multiples of it, empty block rows (randBSR leaves block row 1 empty;
// density 0 leaves them all), strided X and Y columns, against the float64 oracle.
func TestBSRGemv(t *testing.T) {
	ran := 0
	for _, f := range bsrGemvFamilies(t) {
		br, bc := f.BlockR, f.BlockC
		r := rand.New(rand.NewPCG(uint64(br), uint64(bc)))
		t.Run(f.Name, func(t *testing.T) {
			for _, m := range []int{1, br - 1, br, br + 1, 3*br + 2, 37} {
				for _, k := range []int{1, bc - 1, bc, bc + 1, 3*bc + 2, 37, 64} {
					if m < 1 || k < 1 {
						continue
					}
					for _, dens := range []float64{0, 0.4, 1} {
						kern, w := bsrGemvCase(t, f, r, m, k, dens)
						for _, ld := range [][2]int{{1, 1}, {3, 2}, {1, 5}} {
							runStruct(t, kern, r, structCase{w: w, n: 1, ldx: ld[0], ldy: ld[1], u1: -1}, false)
							ran++
						}
					}
				}
			}
		})
	}
	if ran == 0 {
		t.Fatal("no BSR GEMV case ran")
	}
}

// TestBSRGemvColumns: N > 1 (passes of the multi-column kernels where the family has them,
// each column on its own otherwise) at every N up to past the widest kernel (every mix of
// pass widths), on tails of M and K, strided X and Y, every epilogue on unit sub-ranges,
// and a W of many chunks (bsrGemvChunkBytes), against the float64 oracle.
func TestBSRGemvColumns(t *testing.T) {
	for _, f := range bsrGemvFamilies(t) {
		br, bc := f.BlockR, f.BlockC
		r := rand.New(rand.NewPCG(11, uint64(br*bc)))
		t.Run(f.Name, func(t *testing.T) {
			for _, mk := range [][2]int{{br + 1, 3*bc + 2}, {3*br + 2, 37}, {br, bc}, {1, 1}} {
				kern, w := bsrGemvCase(t, f, r, mk[0], mk[1], 0.6)
				for n := 2; n <= 19; n++ {
					ld := [][2]int{{n, n}, {n + 3, n + 1}}[n%2]
					runStruct(t, kern, r, structCase{w: w, n: n, ldx: ld[0], ldy: ld[1], u1: -1}, false)
				}
			}
			m, k := 5*br+1, 9*bc+bc/2+1
			kern, w := bsrGemvCase(t, f, r, m, k, 0.7)
			u := kern.Units()
			for ei, epi := range structEpilogues(r, m) {
				for _, n := range []int{3, 16} {
					runStruct(t, kern, r, structCase{w: w, n: n, ldx: n + ei%2, ldy: n + 1, epi: epi, u1: -1}, false)
					for _, rg := range [][2]int{{0, 1}, {1, u}, {u - 1, u}, {2, 2}} {
						runStruct(t, kern, r, structCase{w: w, n: n, ldx: n, ldy: n, epi: epi, u0: rg[0], u1: rg[1]}, false)
					}
				}
			}
			kern, w = bsrGemvCase(t, f, r, 64*br+3, 600, 0.9) // several chunks of block rows
			for _, n := range []int{5, 16} {
				runStruct(t, kern, r, structCase{w: w, n: n, ldx: n, ldy: n, u1: -1}, false)
			}
		})
	}
}

// TestBSRGemvEpilogues: bias, accumulate, clamp, ReLU, GELU and SiLU, unit sub-ranges.
func TestBSRGemvEpilogues(t *testing.T) {
	for _, f := range bsrGemvFamilies(t) {
		br, bc := f.BlockR, f.BlockC
		r := rand.New(rand.NewPCG(7, uint64(br*bc)))
		t.Run(f.Name, func(t *testing.T) {
			m, k := 5*br+1, 9*bc+bc/2+1
			kern, w := bsrGemvCase(t, f, r, m, k, 0.7)
			u := kern.Units()
			for _, epi := range structEpilogues(r, m) {
				for _, ld := range [][2]int{{1, 1}, {2, 3}} {
					runStruct(t, kern, r, structCase{w: w, n: 1, ldx: ld[0], ldy: ld[1], epi: epi, u1: -1}, false)
					for _, rg := range [][2]int{{0, 1}, {1, u}, {u - 1, u}, {2, 2}} {
						runStruct(t, kern, r, structCase{w: w, n: 1, ldx: ld[0], ldy: ld[1], epi: epi, u0: rg[0], u1: rg[1]}, false)
					}
				}
			}
		})
	}
}

// TestBSRGemvGuard places X and Y against an unmapped page, after and then before: K a
// multiple of C (the kernel reads the caller's X) and not (a padded copy), and N > 1.
func TestBSRGemvGuard(t *testing.T) {
	for _, f := range bsrGemvFamilies(t) {
		br, bc := f.BlockR, f.BlockC
		r := rand.New(rand.NewPCG(9, uint64(br*bc)))
		t.Run(f.Name, func(t *testing.T) {
			for _, k := range []int{4 * bc, 4*bc + 1, bc} {
				for _, m := range []int{2*br + 1, br} {
					kern, w := bsrGemvCase(t, f, r, m, k, 0.8)
					for _, guard := range []int{1, 2} {
						runStruct(t, kern, r, structCase{w: w, n: 1, ldx: 1, ldy: 1, guard: guard, u1: -1}, false)
						runStruct(t, kern, r, structCase{w: w, n: 1, ldx: 2, ldy: 3, guard: guard, u1: -1}, false)
						for _, n := range []int{3, 16} { // the passes' panels, Y's last column
							runStruct(t, kern, r, structCase{w: w, n: n, ldx: n, ldy: n, guard: guard, u1: -1}, false)
						}
					}
				}
			}
		})
	}
}

// TestBSRGemvWide: a large block row (many blocks per chain, the grouped loop and its
// remainder), N > 1 column by column, and a bad call refused.
func TestBSRGemvWide(t *testing.T) {
	for _, f := range bsrGemvFamilies(t) {
		br, bc := f.BlockR, f.BlockC
		r := rand.New(rand.NewPCG(11, uint64(br*bc)))
		t.Run(f.Name, func(t *testing.T) {
			m, k := 3*br, 203*bc
			kern, w := bsrGemvCase(t, f, r, m, k, 0.9)
			runStruct(t, kern, r, structCase{w: w, n: 1, ldx: 1, ldy: 1, u1: -1}, false)
			runStruct(t, kern, r, structCase{w: w, n: 3, ldx: 4, ldy: 3, u1: -1}, false)
			if err := kern.Run(0, kern.Units(), make([]float32, k-1), 1, make([]float32, m), 1, 1, nil); err == nil {
				t.Fatal("short X accepted")
			}
		})
	}
}

// TestBSRGemvDerive: every BSR GEMV family derives its kernel from another ISA's packing of
// the same block shape and dtype (the same BSRGemvLayout, nothing added) and then computes
// bitwise what its own packing computes; a packing of another shape or dtype, or of
// another kind of kernel, is refused.
func TestBSRGemvDerive(t *testing.T) {
	fams := bsrGemvFamilies(t)
	r := rand.New(rand.NewPCG(13, 14))
	pairs := 0
	for _, a := range fams {
		if a.Derive == nil {
			continue
		}
		kernA, w := bsrGemvCase(t, a, r, 3*a.BlockR+1, 9*a.BlockC+1, 0.6)
		var own formats.Matrix // a's own input (w is the widened float32 for LP)
		if a.DType == "" || a.DType == "float32" {
			own = w
		} else {
			dt, _ := formats.ParseDType(a.DType)
			var err error
			if own, err = formats.BSRLPFromBSR(w.(*formats.BSR), dt); err != nil {
				t.Fatal(err)
			}
		}
		for _, b := range fams {
			if b.Derive == nil || b.Name == a.Name {
				continue
			}
			got, added, err := b.Derive(kernA)
			same := b.BlockR == a.BlockR && b.BlockC == a.BlockC && cmp.Or(b.DType, "float32") == cmp.Or(a.DType, "float32")
			if !same {
				if !errors.Is(err, ErrNotApplicable) {
					t.Fatalf("%s from %s: %v, want ErrNotApplicable", b.Name, a.Name, err)
				}
				continue
			}
			if err != nil || added != 0 || got.Name() != b.Name {
				t.Fatalf("%s from %s: %v, added %d, name %s", b.Name, a.Name, err, added, got.Name())
			}
			if b.Layout(own) == "" || b.Layout(own) != a.Layout(own) {
				t.Fatalf("%s and %s: layouts %q and %q", b.Name, a.Name, b.Layout(own), a.Layout(own))
			}
			kernB := packFamily(t, b, own)
			for _, n := range []int{1, 3, 8} {
				m, _ := kernA.Shape()
				var x []float32
				for range (9*a.BlockC + 1) * n {
					x = append(x, float32(r.NormFloat64()))
				}
				y1, y2 := make([]float32, (3*a.BlockR+1)*n), make([]float32, (3*a.BlockR+1)*n)
				if err := got.Run(0, got.Units(), x, n, y1, n, n, nil); err != nil {
					t.Fatal(err)
				}
				if err := kernB.Run(0, kernB.Units(), x, n, y2, n, n, nil); err != nil {
					t.Fatal(err)
				}
				for i := range y1 {
					if math.Float32bits(y1[i]) != math.Float32bits(y2[i]) {
						t.Fatalf("%s derived from %s, N = %d: y[%d] = %v, its own packing %v (m %d)", b.Name, a.Name, n, i, y1[i], y2[i], m)
					}
				}
			}
			pairs++
		}
		if _, _, err := a.Derive(&bsrKernel{name: "bsr4x4_t64"}); !errors.Is(err, ErrNotApplicable) {
			t.Fatalf("%s derived from a BSR tile kernel: %v", a.Name, err)
		}
	}
	t.Logf("%d derived pairs", pairs)
}
