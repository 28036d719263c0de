package asm

import (
	"testing"
	"time"
)

func TestPeakGFLOPS(t *testing.T) {
	for _, isa := range []ISA{AVX512, AVX2} {
		p, ok := peakLoops[isa]
		if !ok || p.features&^hostFeatures() != 0 {
			if _, err := PeakGFLOPS(isa, time.Millisecond); err == nil {
				t.Errorf("%v: PeakGFLOPS succeeded without a usable loop", isa)
			}
			continue
		}
		g, err := PeakGFLOPS(isa, 20*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		// A sanity range, not a speed assertion: any FMA core does > 1 and < 10⁴ GFLOP/s.
		if !(g > 1 && g < 1e4) {
			t.Errorf("%v: %v GFLOP/s is not plausible", isa, g)
		}
		t.Logf("%v peak: %.1f GFLOP/s", isa, g)
	}
	if _, err := PeakGFLOPS(Generic, time.Millisecond); err == nil {
		t.Error("generic has no peak loop, want an error")
	}
}
