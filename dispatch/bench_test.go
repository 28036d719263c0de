package dispatch

import (
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sparsegen/sparsegen/asm"
	"github.com/sparsegen/sparsegen/formats"
	"github.com/sparsegen/sparsegen/internal/timing"
)

// Benchmarks (run one at a time: flock /tmp/sparsegen-cpu.lock go test ./dispatch -run '^$' -bench …).
//
// For a scaling run on another machine, build a static test binary and pass thread counts
// by environment:
//
//	CGO_ENABLED=0 go test -c -o dispatch.test ./dispatch
//	SPARSEGEN_BENCH_THREADS=1,2,4,8,16 ./dispatch.test -test.run '^$' -test.bench 'ScalingInterleaved' -test.benchtime 1x -test.count 3

var benchCache sync.Map // name → *formats.CSR

func benchCSR(b *testing.B, m, k int, density float64, keep, group int) *formats.CSR {
	name := fmt.Sprintf("%dx%d/%g/%d:%d", m, k, density, keep, group)
	if c, ok := benchCache.Load(name); ok {
		return c.(*formats.CSR)
	}
	rng := rand.New(rand.NewPCG(uint64(m), uint64(k)))
	var d *formats.Dense
	if group > 0 {
		d = randNM(rng, m, k, keep, group)
	} else {
		d = randDense(rng, m, k, density)
	}
	c, err := formats.CSRFromDense(d)
	if err != nil {
		b.Fatal(err)
	}
	benchCache.Store(name, c)
	return c
}

// benchOperands returns X (K×N, a repeating pattern of small integers) and Y (M×N).
func benchOperands(m, k, n int) (x, y []float32) {
	x = make([]float32, k*n)
	for i := range x {
		x[i] = float32(i%5) - 2
	}
	return x, make([]float32, m*n)
}

func benchThreads() []int {
	s := os.Getenv("SPARSEGEN_BENCH_THREADS")
	if s == "" {
		return []int{1, 2}
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		if t, err := strconv.Atoi(strings.TrimSpace(f)); err == nil && t > 0 {
			out = append(out, t)
		}
	}
	return out
}

// BenchmarkDispatchOverhead: Plan.Mul at one thread against a bare call of the same kernel
// on 256×64×3136 at 98% sparsity (ResNet-50 1×1 conv). Goal: plan ≤ 1.02 × bare.
func BenchmarkDispatchOverhead(b *testing.B) {
	w := benchCSR(b, 256, 64, 0.02, 0, 0)
	const n = 3136
	p, err := Compile(w, Options{Threads: 1})
	if err != nil {
		b.Fatal(err)
	}
	kern, err := p.kernel(p.choiceFor(n))
	if err != nil {
		b.Fatal(err)
	}
	x := make([]float32, 64*n)
	for i := range x {
		x[i] = float32(i%5) - 2
	}
	y := make([]float32, 256*n)
	b.Logf("kernel %s", kern.Name())
	b.Run("bare", func(b *testing.B) {
		for b.Loop() {
			if err := kern.Run(0, kern.Units(), x, n, y, n, n, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("plan", func(b *testing.B) {
		for b.Loop() {
			if err := p.Mul(y, n, x, n, n); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkForkJoin: the pool's cost of one call handing empty chunks to T threads and
// waiting for them.
func BenchmarkForkJoin(b *testing.B) {
	for _, t := range append([]int{2}, runtime.GOMAXPROCS(0)) {
		b.Run(fmt.Sprintf("threads=%d", t), func(b *testing.B) {
			var sink [64]int64
			for b.Loop() {
				parallel(t, t, func(c int) error { sink[c%64]++; return nil })
			}
		})
	}
}

// BenchmarkScaling: 3072×768×128 at 90% (BERT FFN-up) channel-major, threads from
// $SPARSEGEN_BENCH_THREADS (default 1,2).
func BenchmarkScaling(b *testing.B) {
	benchScaling(b, 3072, 768, 128, 0.1, 0, 0)
}

// BenchmarkScalingInterleaved: the BERT-base shapes at 90% and 2:4, every thread count of
// $SPARSEGEN_BENCH_THREADS (default 1,2) timed interleaved in one process (this machine is
// shared: sequential runs drifted by ±15%), reporting each count's speedup over the first.
// One iteration is a whole comparison: run with -benchtime 1x.
func BenchmarkScalingInterleaved(b *testing.B) {
	ts := benchThreads()
	for _, sh := range [][3]int{{768, 768, 128}, {3072, 768, 128}, {768, 3072, 128}} {
		for _, pat := range []struct {
			name        string
			density     float64
			keep, group int
		}{{"90%", 0.1, 0, 0}, {"2:4", 0.5, 2, 4}} {
			m, k, n := sh[0], sh[1], sh[2]
			w := benchCSR(b, m, k, pat.density, pat.keep, pat.group)
			x, y := benchOperands(m, k, n)
			var fs []func() error
			for _, t := range ts {
				p, err := Compile(w, Options{Threads: t})
				if err != nil {
					b.Fatal(err)
				}
				fs = append(fs, func() error { return p.Mul(y, n, x, n, n) })
			}
			b.Run(fmt.Sprintf("%dx%dx%d/%s", m, k, n, pat.name), func(b *testing.B) {
				var st []timing.Stats
				var err error
				for b.Loop() {
					if st, err = timing.TimeInterleaved(timing.Protocol{Samples: 15, MinSample: 5 * time.Millisecond, Budget: 3 * time.Second}, fs...); err != nil {
						b.Fatal(err)
					}
				}
				for i, t := range ts {
					b.ReportMetric(st[i].MedianNs/1e3, fmt.Sprintf("µs@%d", t))
					if i > 0 {
						b.ReportMetric(st[0].MedianNs/st[i].MedianNs, fmt.Sprintf("speedup@%d", t))
					}
				}
			})
		}
	}
}

func benchScaling(b *testing.B, m, k, n int, density float64, keep, group int) {
	w := benchCSR(b, m, k, density, keep, group)
	x, y := benchOperands(m, k, n)
	for _, t := range benchThreads() {
		p, err := Compile(w, Options{Threads: t})
		if err != nil {
			b.Fatal(err)
		}
		fam, f := p.KernelFor(n)
		b.Run(fmt.Sprintf("threads=%d", t), func(b *testing.B) {
			for b.Loop() {
				if err := p.Mul(y, n, x, n, n); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(2*float64(w.NNZ())*float64(n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "useful-GFLOP/s")
		})
		b.Logf("threads=%d: %s on %s", t, fam, f)
	}
}

// BenchmarkPeakScaling: the FMA peak with 1 and 2 (or $SPARSEGEN_BENCH_THREADS) cores busy
// at once, the denominator of the scaling goal.
func BenchmarkPeakScaling(b *testing.B) {
	isa := Host().BestISA()
	if _, err := asm.PeakGFLOPS(isa, 10*time.Millisecond); err != nil {
		b.Skipf("no peak loop here: %v", err)
	}
	for _, t := range benchThreads() {
		b.Run(fmt.Sprintf("threads=%d", t), func(b *testing.B) {
			var total float64
			for b.Loop() {
				res := make([]float64, t)
				var wg sync.WaitGroup
				for i := range t {
					wg.Add(1)
					go func() {
						defer wg.Done()
						runtime.LockOSThread()
						defer runtime.UnlockOSThread()
						res[i], _ = asm.PeakGFLOPS(isa, 50*time.Millisecond)
					}()
				}
				wg.Wait()
				total = 0
				for _, r := range res {
					total += r
				}
			}
			b.ReportMetric(total, "GFLOP/s")
		})
	}
}

// BenchmarkTokenMajor: token-major (with its packing and transposes) against channel-major
// on the same plan, the BERT-base shapes at 90%, threads from $SPARSEGEN_BENCH_THREADS
// (default 1,2). The two layouts are timed interleaved (internal/timing), so one iteration
// is a whole comparison: run with -benchtime 1x. Goal: tm/cm ≤ 1.10.
func BenchmarkTokenMajor(b *testing.B) {
	const n = 128
	for _, sh := range [][2]int{{3072, 768}, {768, 768}, {768, 3072}} {
		m, k := sh[0], sh[1]
		w := benchCSR(b, m, k, 0.1, 0, 0)
		x, y := benchOperands(m, k, n)
		for _, threads := range benchThreads() {
			p, err := Compile(w, Options{Threads: threads})
			if err != nil {
				b.Fatal(err)
			}
			b.Run(fmt.Sprintf("%dx%dx%d/threads=%d", m, k, n, threads), func(b *testing.B) {
				var st []timing.Stats
				for b.Loop() {
					st, err = timing.TimeInterleaved(timing.Protocol{Samples: 15, MinSample: 5 * time.Millisecond, Budget: 2 * time.Second},
						func() error { return p.Mul(y, n, x, n, n) },
						func() error { return p.MulTokens(y, m, x, k, n) })
					if err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(st[0].MedianNs/1e3, "cm-µs")
				b.ReportMetric(st[1].MedianNs/1e3, "tm-µs")
				b.ReportMetric(st[1].MedianNs/st[0].MedianNs, "tm/cm")
			})
		}
	}
}

// BenchmarkCompile: Compile + Prepare (packing every N range)'s time per nonzero and its
// allocations against the packed size (an upper bound on the peak extra memory: every byte
// it allocated), at one thread and at GOMAXPROCS (Prepare packs the ranges in parallel).
func BenchmarkCompile(b *testing.B) {
	for _, c := range []struct {
		name  string
		dense bool
	}{{"csr", false}, {"dense", true}} {
		for _, threads := range []int{1, runtime.GOMAXPROCS(0)} {
			b.Run(fmt.Sprintf("%s/3072x768/90%%/threads=%d", c.name, threads), func(b *testing.B) {
				var w formats.Matrix = benchCSR(b, 3072, 768, 0.1, 0, 0)
				if c.dense {
					w = w.ToDense()
				}
				var packed int64
				var ms0, ms1 runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&ms0)
				for b.Loop() {
					p, err := Compile(w, Options{Threads: threads})
					if err == nil {
						err = p.Prepare() // pack every N range: the whole cost
					}
					if err != nil {
						b.Fatal(err)
					}
					packed = p.PackedBytes()
				}
				runtime.ReadMemStats(&ms1)
				nnz := float64(w.NNZ())
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/nnz, "ns/nnz")
				b.ReportMetric(float64(ms1.TotalAlloc-ms0.TotalAlloc)/float64(b.N)/float64(packed), "alloc/packed")
			})
			if runtime.GOMAXPROCS(0) == 1 {
				break
			}
		}
	}
}
