package bench

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"testing"

	"github.com/sparsegen/sparsegen/asm"
	"github.com/sparsegen/sparsegen/formats"
	"github.com/sparsegen/sparsegen/formats/prune"
)

// Structured-sparsity benchmarks (issue 4): BSR here, N:M in nm_bench_test.go. One thread;
// every structured family of the format this CPU runs, our CSR families on the same matrix
// (true nonzeros), and OpenBLAS (-tags openblas) on the same matrix as dense, in one run:
//
//	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE flock /tmp/sparsegen-cpu.lock \
//	  go test -tags openblas -run '^$' -bench 'BSR|NM' -benchtime 0.2s -count 5 ./bench
//
// Sub-benchmarks: Benchmark{BSR,NM}[Cold]/<shape>/<pattern>/<kernel>; ns/op is the time of
// one layer product (all layers rotated for Cold). Weights are pruned by formats/prune from
// a seeded normal matrix. Filters (comma lists): SPARSEGEN_ST_SHAPES (shape names),
// SPARSEGEN_ST_PATTERNS ("2:4", "4x4@90", …), SPARSEGEN_ST_KERNELS (family names, "csr" for
// every CSR family, "openblas").

func stEnv(name string) map[string]bool {
	s := os.Getenv(name)
	if s == "" {
		return nil
	}
	out := map[string]bool{}
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			out[s[start:i]] = true
			start = i + 1
		}
	}
	return out
}

// stFamilies lists the non-generic families of format that run here for this n.
func stFamilies(format string, n int) []asm.Family {
	only := stEnv("SPARSEGEN_ST_KERNELS")
	var out []asm.Family
	for _, f := range asm.Families() {
		if f.Format != format || f.ISA == asm.Generic || !cpuHas(f.Features) {
			continue
		}
		if f.MaxN > 0 && n > f.MaxN || n < f.MinN {
			continue
		}
		if only != nil && !only[f.Name] && !(format == "csr" && only["csr"]) {
			continue
		}
		out = append(out, f)
	}
	return out
}

var stOpenBLASOnce sync.Once

func stOpenBLASInit() {
	stOpenBLASOnce.Do(func() {
		OpenBLASSetThreads(1)
		fmt.Fprintf(os.Stderr, "openblas core: %s (OPENBLAS_CORETYPE=%q OPENBLAS_L2_SIZE=%q)\n",
			OpenBLASCoreName(), os.Getenv("OPENBLAS_CORETYPE"), os.Getenv("OPENBLAS_L2_SIZE"))
	})
}

// stCase is one pruned layer in every form the benchmarks time.
type stCase struct {
	w     formats.Matrix
	csr   *formats.CSR
	dense *formats.Dense
	nnz   int64
}

var (
	stMu    sync.Mutex
	stCache = map[string]*stCase{}
)

// stLayer returns layer l of an M×K weight pruned by prune (memoized).
func stLayer(m, k int, pat string, l int, prn func(*formats.Dense) (formats.Matrix, error)) *stCase {
	key := fmt.Sprintf("%dx%d/%s/%d", m, k, pat, l)
	stMu.Lock()
	defer stMu.Unlock()
	if c, ok := stCache[key]; ok {
		return c
	}
	r := rand.New(rand.NewPCG(uint64(m*131+k), uint64(l)+7))
	d := &formats.Dense{Rows: m, Cols: k, Stride: k, Data: make([]float32, m*k)}
	for i := range d.Data {
		d.Data[i] = float32(r.NormFloat64())
	}
	w, err := prn(d)
	if err != nil {
		panic(err)
	}
	dd := w.ToDense()
	c := &stCase{w: w, dense: dd, nnz: w.NNZ()}
	c.csr, err = formats.CSRFromDense(dd)
	if err != nil {
		panic(err)
	}
	stCache[key] = c
	return c
}

// stBytes estimates the bytes a layer's weights occupy in each form (for cold rotation).
func stLayers(bytesPerLayer float64, cold bool) int {
	if !cold {
		return 1
	}
	return max(2, int(2.2*float64(L3Bytes())/max(bytesPerLayer, 1))+1)
}

func stReport(b *testing.B, s Shape, nnz int64, layers int) {
	el := b.Elapsed().Seconds() / float64(b.N) / float64(layers)
	if el <= 0 {
		return
	}
	b.ReportMetric(el*1e9, "ns/layer")
	reportFlops(b, s, nnz, layers)
}

// stPattern is one pruning pattern of the structured benchmarks.
type stPattern struct {
	name  string
	prune func(*formats.Dense) (formats.Matrix, error)
	bytes func(m, k int) float64 // packed bytes, for cold rotation
}

// stBench times every structured family of format, CSR on the same matrices and OpenBLAS.
func stBench(b *testing.B, format string, pats []stPattern, cold bool) {
	shapes, pf := stEnv("SPARSEGEN_ST_SHAPES"), stEnv("SPARSEGEN_ST_PATTERNS")
	only := stEnv("SPARSEGEN_ST_KERNELS")
	for _, s := range Corpus {
		if shapes != nil && !shapes[s.Name] || cold && s.N > 16 {
			continue
		}
		for _, p := range pats {
			if pf != nil && !pf[p.name] {
				continue
			}
			b.Run(fmt.Sprintf("%s/%s", s.Name, p.name), func(b *testing.B) {
				layers := stLayers(p.bytes(s.M, s.K), cold)
				cases := make([]*stCase, layers)
				for l := range cases {
					cases[l] = stLayer(s.M, s.K, p.name, l, p.prune)
				}
				nnz := cases[0].nnz
				x := make([]float32, s.K*s.N)
				for i := range x {
					x[i] = float32(i%7)*0.25 - 0.5
				}
				y := make([]float32, s.M*s.N)
				// A family specialised to another block shape (asm.ErrNotApplicable, seen on
				// the first layer) gets no sub-benchmark, rather than one that skips.
				run := func(f asm.Family, w func(c *stCase) formats.Matrix) {
					k0, err := f.Pack(w(cases[0]))
					if errors.Is(err, asm.ErrNotApplicable) {
						return
					}
					if err != nil {
						b.Fatal(err)
					}
					b.Run(f.Name, func(b *testing.B) {
						ks := []asm.Kernel{k0}
						for _, c := range cases[1:] {
							k, err := f.Pack(w(c))
							if err != nil {
								b.Fatal(err)
							}
							ks = append(ks, k)
						}
						timeKernels(b, ks, x, y, s.N)
						stReport(b, s, nnz, layers)
					})
				}
				for _, f := range stFamilies(format, s.N) {
					run(f, func(c *stCase) formats.Matrix { return c.w })
				}
				for _, f := range stFamilies("csr", s.N) {
					run(f, func(c *stCase) formats.Matrix { return c.csr })
				}
				if HaveOpenBLAS && (only == nil || only["openblas"]) {
					b.Run("openblas", func(b *testing.B) {
						stOpenBLASInit()
						dl := stLayers(float64(s.M)*float64(s.K)*4, cold)
						ws := make([][]float32, dl)
						for l := range ws {
							ws[l] = stLayer(s.M, s.K, p.name, l%layers, p.prune).dense.Data
						}
						openblasLayers(b, s, ws, x, y)
						stReport(b, s, nnz, dl)
					})
				}
			})
		}
	}
}

func bsrPatterns() []stPattern {
	var out []stPattern
	for _, bl := range [][2]int{{4, 1}, {4, 4}} {
		for _, sp := range []int{80, 90} {
			r, c, sp := bl[0], bl[1], sp
			out = append(out, stPattern{
				name: fmt.Sprintf("%dx%d@%d", r, c, sp),
				prune: func(d *formats.Dense) (formats.Matrix, error) {
					return prune.BlockMagnitudeBSR(d, r, c, prune.L1, float64(sp)/100)
				},
				bytes: func(m, k int) float64 { return float64(m) * float64(k) * (1 - float64(sp)/100) * (4 + 4/float64(r*c)) },
			})
		}
	}
	return out
}

func BenchmarkBSR(b *testing.B) { stBench(b, "bsr", bsrPatterns(), false) }

// BenchmarkBSRCold rotates layers so W streams from DRAM (N ≤ 16 shapes only).
func BenchmarkBSRCold(b *testing.B) { stBench(b, "bsr", bsrPatterns(), true) }
