package dispatch

import (
	"math/rand/v2"
	"testing"

	"github.com/sparsegen/sparsegen/asm"
	"github.com/sparsegen/sparsegen/formats"
)

// randBlockBSR is an M×K BSR of R×C blocks, each kept with probability dens.
func randBlockBSR(r *rand.Rand, m, k, br, bc int, dens float64) *formats.BSR {
	ptr := []int64{0}
	var cols []int32
	var val []float32
	for i := 0; i*br < m; i++ {
		h := min(br, m-i*br)
		for j := 0; j*bc < k; j++ {
			if r.Float64() >= dens {
				continue
			}
			cols = append(cols, int32(j))
			for range h * min(bc, k-j*bc) {
				val = append(val, float32(r.NormFloat64()))
			}
		}
		ptr = append(ptr, int64(len(cols)))
	}
	w, err := formats.NewBSR(m, k, br, bc, ptr, cols, val)
	if err != nil {
		panic(err)
	}
	return w
}

// TestBSRGemvChosen: a large 4×4-block BSR W (past the L2, 10% of its blocks kept) runs
// the BSR GEMV at N = 1 and 2 where this CPU has it (its multi-column kernels measured
// 1.5–2.2× faster than the tiles at N = 2), and the SpMM tiles beyond its N range.
func TestBSRGemvChosen(t *testing.T) {
	w := randBlockBSR(rand.New(rand.NewPCG(3, 4)), 2048, 4096, 4, 4, 0.1)
	p, err := Compile(w, Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	fam, format := p.KernelFor(1)
	t.Logf("N = 1: %s@%s; N = 8: %v; N = 32: %v", fam, format, func() string { f, _ := p.KernelFor(8); return f }(), func() string { f, _ := p.KernelFor(32); return f }())
	if cs, err := Candidates(w, 1, Options{Threads: 1}); err == nil {
		for _, c := range cs[:min(len(cs), 6)] {
			t.Logf("candidate %s@%s est %.0f ns", c.Kernel, c.Format, c.MedianNs)
		}
	}
	want := ""
	for _, name := range []string{"bsr4x4_gemv_" + p.isa.String()} {
		if f, ok := asm.Lookup(name); ok && Host().CanRun(f, p.isa) {
			want = name
		}
	}
	if want == "" {
		t.Skipf("no BSR GEMV on %v", p.isa)
	}
	if fam != want {
		t.Errorf("N = 1 runs %s@%s, want %s", fam, format, want)
	}
	if f, _ := p.KernelFor(2); f != want {
		t.Errorf("N = 2 runs %s, want %s", f, want)
	}
	wf, _ := asm.Lookup(want)
	if f, _ := p.KernelFor(wf.MaxN + 1); f == want {
		t.Errorf("N = %d runs %s, whose range ends at %d", wf.MaxN+1, f, wf.MaxN)
	}
}

// TestBSRGemvChosenLP: a 4×4-block BSR W in bf16, fp16 or int8 runs its dtype's BSR GEMV
// over its N range (lpRank: W's block shape, then the GEMV) and the SpMM tiles of its
// dtype beyond.
func TestBSRGemvChosenLP(t *testing.T) {
	w := randBlockBSR(rand.New(rand.NewPCG(5, 6)), 1024, 2048, 4, 4, 0.1)
	for _, dt := range []formats.DType{formats.BF16, formats.F16, formats.I8} {
		lp, err := formats.BSRLPFromBSR(w, dt)
		if err != nil {
			t.Fatal(err)
		}
		p, err := Compile(lp, Options{Threads: 1})
		if err != nil {
			t.Fatal(err)
		}
		want := "bsr4x4_gemv_" + dt.String() + "_" + p.isa.String()
		if f, ok := asm.Lookup(want); !ok || !Host().CanRun(f, p.isa) {
			t.Logf("%v: no BSR GEMV on %v", dt, p.isa)
			continue
		}
		if fam, _ := p.KernelFor(1); fam != want {
			t.Errorf("%v: N = 1 runs %s, want %s", dt, fam, want)
		}
		wf, _ := asm.Lookup(want)
		for _, n := range []int{2, wf.MaxN} {
			if fam, _ := p.KernelFor(n); fam != want {
				t.Errorf("%v: N = %d runs %s, want %s", dt, n, fam, want)
			}
		}
		if fam, _ := p.KernelFor(wf.MaxN + 1); fam == want {
			t.Errorf("%v: N = %d runs %s, whose range ends at %d", dt, wf.MaxN+1, fam, wf.MaxN)
		}
	}
}

// TestShareBlockGemvPacking: sharePackings moves a range onto a kernel another range
// already packs when it is within shareSlack, but not from one BSR GEMV to another ISA's of
// the same block shape and dtype: those derive from one packing (asm/bsrgemv.go), so the
// range keeps its faster estimate (AVX-512 at N = 1 on 4096×11008 4×4 blocks had gone to
// AVX2's, 1.19–1.38× slower, when N = 4 chose AVX2's).
func TestShareBlockGemvPacking(t *testing.T) {
	derive := func(asm.Kernel) (asm.Kernel, int64, error) { return nil, 0, nil }
	gemv := func(name string, isa asm.ISA) asm.Family {
		return asm.Family{Desc: &asm.Desc{Name: name, Format: "bsr", ISA: isa, DType: "float32", BlockR: 4, BlockC: 4, ExactN: true, MinN: 1, MaxN: 8}, Derive: derive}
	}
	tile := func(name string, isa asm.ISA) asm.Family {
		return asm.Family{Desc: &asm.Desc{Name: name, Format: "bsr", ISA: isa, DType: "float32", BlockR: 4, BlockC: 4, Tile: 64}}
	}
	tgt := target{format: "bsr", r: 4, c: 4, asIs: true}
	for _, tc := range []struct {
		name       string
		one, other asm.Family // N = 1's best and the kernel N = 4 chose
		wantShared bool
	}{
		{"gemv avx512 / gemv avx2", gemv("g512", asm.AVX512), gemv("g2", asm.AVX2), false},
		{"tile avx512 / tile avx2", tile("t512", asm.AVX512), tile("t2", asm.AVX2), true},
	} {
		p := &Plan{ranges: []nRange{{1, 1}, {4, 4}}}
		p.sel = []*choice{
			{fam: tc.one, tgt: tgt, est: 95, alts: []cand{{fam: tc.other, tgt: tgt, est: 100}}},
			{fam: tc.other, tgt: tgt, est: 90},
		}
		p.sharePackings()
		if shared := p.sel[0].fam.Name == tc.other.Name; shared != tc.wantShared {
			t.Errorf("%s: N = 1 runs %s (shared: %v, want %v)", tc.name, p.sel[0].fam.Name, shared, tc.wantShared)
		}
	}
}
