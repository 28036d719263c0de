package dispatch

import (
	"testing"

	"github.com/sparsegen/sparsegen/asm"
)

// Issue 16, item 5: the ISA reported is that of the kernels a build has, not just the
// CPU's: a purego build (generic kernels only) on an AVX2 CPU uses generic code.
func TestKernelISAIsTheWidestWithKernels(t *testing.T) {
	avx2CPU := CPU{Features: asm.FeatAVX2 | asm.FeatFMA, GOARCH: "amd64"}
	avx512CPU := CPU{Features: asm.FeatAVX2 | asm.FeatFMA | asm.FeatAVX512F, GOARCH: "amd64"}
	generic := asm.Family{Desc: &asm.Desc{Name: "g", ISA: asm.Generic}}
	avx2 := asm.Family{Desc: &asm.Desc{Name: "a", ISA: asm.AVX2, Features: asm.FeatAVX2 | asm.FeatFMA}}
	avx512 := asm.Family{Desc: &asm.Desc{Name: "b", ISA: asm.AVX512, Features: asm.FeatAVX512F}}
	neon := asm.Family{Desc: &asm.Desc{Name: "n", ISA: asm.NEON, Features: asm.FeatASIMD}}
	for _, tc := range []struct {
		cpu  CPU
		cap  asm.ISA
		fams []asm.Family
		want asm.ISA
	}{
		{avx2CPU, asm.AVX2, []asm.Family{generic}, asm.Generic}, // -tags purego
		{avx2CPU, asm.AVX2, []asm.Family{generic, avx2, avx512}, asm.AVX2},
		{avx512CPU, asm.AVX512, []asm.Family{generic, avx2, avx512}, asm.AVX512},
		{avx512CPU, asm.AVX2, []asm.Family{generic, avx2, avx512}, asm.AVX2},
		{avx512CPU, asm.AVX512, []asm.Family{generic, avx2}, asm.AVX2},
		{avx512CPU, asm.AVX512, []asm.Family{generic, neon}, asm.Generic},
	} {
		if got := tc.cpu.kernelISA(tc.cap, tc.fams); got != tc.want {
			t.Errorf("CPU %v, cap %s, families %v: %s, want %s", tc.cpu.Features, tc.cap, tc.fams, got, tc.want)
		}
	}
	// This build: some registered family of the reported ISA runs here.
	h := Host()
	k := h.KernelISA(h.BestISA())
	found := false
	for _, f := range asm.Families() {
		found = found || (f.ISA == k && h.CanRun(f, k))
	}
	if !found {
		t.Fatalf("KernelISA %s, but no family of that ISA runs here", k)
	}
}
