package asm

import (
	"fmt"
	"sync"
	"time"

	"golang.org/x/sys/cpu"
)

// hostFeatures returns the CPU features present and enabled here (x/sys/cpu honours
// GODEBUG=cpu.avx512f=off and friends), read once. dispatch has the full CPU description;
// the asm package needs this to refuse running code the CPU lacks (PeakGFLOPS, the
// transpose, tests), on the transpose's call path too.
var hostFeatures = sync.OnceValue(func() Feature {
	var f Feature
	set := func(ok bool, bit Feature) {
		if ok {
			f |= bit
		}
	}
	set(cpu.X86.HasAVX2, FeatAVX2)
	set(cpu.X86.HasFMA, FeatFMA)
	set(cpu.X86.HasAVX512F, FeatAVX512F)
	set(cpu.X86.HasAVX512VL, FeatAVX512VL)
	set(cpu.X86.HasAVX512BW, FeatAVX512BW)
	set(cpu.X86.HasAVX512DQ, FeatAVX512DQ)
	set(cpu.X86.HasF16C, FeatF16C)
	set(cpu.X86.HasPOPCNT, FeatPOPCNT)
	set(cpu.ARM64.HasASIMD, FeatASIMD)
	return f
})

// peakLoop is a generated FMA-throughput loop: iters iterations of flopsPerIter flops with
// enough independent accumulators to saturate the FMA pipes.
type peakLoop struct {
	run          func(iters int)
	flopsPerIter int
	features     Feature
}

// peakLoops maps an ISA to its loop; the ISA files fill it in their init functions.
var peakLoops = map[ISA]peakLoop{}

// PeakGFLOPS measures one core's float32 FMA throughput on isa (AVX512: zmm, AVX2: ymm) over
// about d (at least 10 ms), taking the best of several runs. It fails if this binary has no
// peak loop for isa or the CPU lacks a feature it needs. Run it on an otherwise idle core:
// the result is the denominator of every "% of peak" figure.
func PeakGFLOPS(isa ISA, d time.Duration) (float64, error) {
	p, ok := peakLoops[isa]
	if !ok {
		return 0, fmt.Errorf("asm: no peak loop for %v in this build", isa)
	}
	if missing := p.features &^ hostFeatures(); missing != 0 {
		return 0, fmt.Errorf("asm: CPU lacks %v for the %v peak loop", missing, isa)
	}
	d = max(d, 10*time.Millisecond)
	iters := 1 << 12
	for { // calibrate to ~1/8 of d per run
		t0 := time.Now()
		p.run(iters)
		if el := time.Since(t0); el > d/8 || int64(iters) > 1<<40 {
			break
		}
		iters *= 2
	}
	best := 0.0
	for deadline := time.Now().Add(d); ; {
		t0 := time.Now()
		p.run(iters)
		el := time.Since(t0).Seconds()
		best = max(best, float64(iters)*float64(p.flopsPerIter)/el/1e9)
		if time.Now().After(deadline) {
			break
		}
	}
	return best, nil
}
