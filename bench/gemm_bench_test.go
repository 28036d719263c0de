package bench

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sparsegen/sparsegen/asm"
	"github.com/sparsegen/sparsegen/formats"
)

// Dense GEMM benchmarks on DESIGN §9's shapes (density 1, one thread): every dense GEMM
// family this CPU runs, and OpenBLAS cblas_sgemm in the same run when built with
// -tags openblas. Run, e.g.:
//
//	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE flock /tmp/sparsegen-cpu.lock \
//	  go test -tags openblas -run '^$' -bench 'Gemm' -count 5 ./bench
//
// Reported per op: GFLOP/s (2·M·K·N/t) and, for our families, %peak: that over the
// measured FMA peak of the family's ISA (asm.PeakGFLOPS, measured once per run).
// SPARSEGEN_GEMM_FAMILIES (comma-separated names, "openblas") restricts what is timed;
// SPARSEGEN_GEMM_SHAPES (MxKxN list) the shapes.

// gemmShapes is the corpus without N = 1 (a GEMV, not a GEMM).
var gemmShapes = func() []Shape {
	var out []Shape
	for _, s := range Corpus {
		if s.N > 1 {
			out = append(out, s)
		}
	}
	return out
}()

var gemmCoreOnce sync.Once

var (
	gemmPeakMu sync.Mutex
	gemmPeaks  = map[asm.ISA]float64{}
)

// gemmPeak is the measured FMA peak of isa in GFLOP/s (0 if unavailable).
func gemmPeak(isa asm.ISA) float64 {
	gemmPeakMu.Lock()
	defer gemmPeakMu.Unlock()
	if p, ok := gemmPeaks[isa]; ok {
		return p
	}
	p, err := asm.PeakGFLOPS(isa, 500*time.Millisecond)
	if err != nil {
		p = 0
	}
	gemmPeaks[isa] = p
	return p
}

// gemmEnvList reads a comma-separated list from the environment (nil when unset).
func gemmEnvList(name string) map[string]bool {
	v := os.Getenv(name)
	if v == "" {
		return nil
	}
	out := map[string]bool{}
	for _, e := range strings.Split(v, ",") {
		out[strings.TrimSpace(e)] = true
	}
	return out
}

func gemmBenchFamilies() []asm.Family {
	only := gemmEnvList("SPARSEGEN_GEMM_FAMILIES")
	var out []asm.Family
	for _, f := range asm.Families() {
		if f.Format != "dense" || f.ExactN || f.Tile == 0 || f.ISA == asm.Generic || !cpuHas(f.Features) {
			continue
		}
		if only != nil && !only[f.Name] {
			continue
		}
		out = append(out, f)
	}
	return out
}

type gemmOperands struct {
	w    *formats.Dense
	x, y []float32
}

var (
	gemmOpsMu sync.Mutex
	gemmOps   = map[Shape]*gemmOperands{}
)

func gemmOperandsFor(s Shape) *gemmOperands {
	gemmOpsMu.Lock()
	defer gemmOpsMu.Unlock()
	if o := gemmOps[s]; o != nil {
		return o
	}
	r := rand.New(rand.NewPCG(uint64(s.M), uint64(s.K*s.N)))
	o := &gemmOperands{
		w: &formats.Dense{Rows: s.M, Cols: s.K, Stride: s.K, Data: make([]float32, s.M*s.K)},
		x: make([]float32, s.K*s.N), y: make([]float32, s.M*s.N),
	}
	for i := range o.w.Data {
		o.w.Data[i] = r.Float32() - 0.5
	}
	for i := range o.x {
		o.x[i] = r.Float32() - 0.5
	}
	gemmOps = map[Shape]*gemmOperands{s: o} // keep one shape's operands alive at a time
	return o
}

func BenchmarkGemm(b *testing.B) {
	if HaveOpenBLAS {
		OpenBLASSetThreads(1)
		gemmCoreOnce.Do(func() {
			fmt.Fprintf(os.Stderr, "OpenBLAS core: %s (OPENBLAS_CORETYPE=%q OPENBLAS_L2_SIZE=%q), one thread\n",
				OpenBLASCoreName(), os.Getenv("OPENBLAS_CORETYPE"), os.Getenv("OPENBLAS_L2_SIZE"))
		})
	}
	shapes := gemmEnvList("SPARSEGEN_GEMM_SHAPES")
	for _, s := range gemmShapes {
		if shapes != nil && !shapes[s.String()] {
			continue
		}
		flop := 2 * float64(s.M) * float64(s.K) * float64(s.N)
		report := func(b *testing.B) {
			b.ReportMetric(flop*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		}
		for _, f := range gemmBenchFamilies() {
			peak := gemmPeak(f.ISA)
			b.Run(fmt.Sprintf("%s/%s", s, f.Name), func(b *testing.B) {
				o := gemmOperandsFor(s)
				k, err := f.Pack(o.w)
				if err != nil {
					b.Fatal(err)
				}
				units := k.Units()
				b.ResetTimer()
				for range b.N {
					if err := k.Run(0, units, o.x, s.N, o.y, s.N, s.N, nil); err != nil {
						b.Fatal(err)
					}
				}
				report(b)
				if peak > 0 {
					b.ReportMetric(100*flop*float64(b.N)/b.Elapsed().Seconds()/1e9/peak, "%peak")
				}
			})
		}
		if fams := gemmEnvList("SPARSEGEN_GEMM_FAMILIES"); HaveOpenBLAS && (fams == nil || fams["openblas"]) {
			b.Run(fmt.Sprintf("%s/openblas", s), func(b *testing.B) {
				o := gemmOperandsFor(s)
				b.ResetTimer()
				for range b.N {
					OpenBLASSgemm(s.M, s.N, s.K, o.w.Data, s.K, o.x, s.N, o.y, s.N)
				}
				report(b)
			})
		}
	}
}
