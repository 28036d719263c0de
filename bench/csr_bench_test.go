package bench

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sparsegen/sparsegen/asm"
	"github.com/sparsegen/sparsegen/formats"
)

// CSR benchmarks (issue 3): DESIGN §9's shapes × unstructured sparsities, one thread, every
// CSR family this CPU runs, our best dense GEMM family, and OpenBLAS (-tags openblas) in the
// same run. Run, e.g.:
//
//	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE flock /tmp/sparsegen-cpu.lock \
//	  go test -tags openblas -run '^$' -bench 'CSR' -benchtime 0.2s -count 5 ./bench
//
// Sub-benchmarks: BenchmarkCSR/<shape>/s<sparsity>/<kernel>; kernel "openblas" is sgemm (or
// sgemv at N = 1) on the dense matrix, "dense" is our fastest GEMM family. Metrics:
// useful-GFLOP/s (2·nnz·N/t) and dense-GFLOP/s (2·M·K·N/t); ns/op is the median to compare.
// BenchmarkCSRCold (N ≤ 16) rotates layers whose weights exceed 2× L3, so W streams from
// memory as in a decode step (OpenBLAS rotates too).
//
// Filters (comma lists): SPARSEGEN_CSR_SHAPES (names), SPARSEGEN_CSR_SPARSITY (percent),
// SPARSEGEN_CSR_FAMILIES (family names, "openblas", "dense"); SPARSEGEN_CSR_KC forces the K
// block.

var csrSparsities = []int{0, 50, 60, 70, 80, 85, 90, 95, 98}

func envList(name string) map[string]bool {
	s := os.Getenv(name)
	if s == "" {
		return nil
	}
	out := map[string]bool{}
	for _, v := range strings.Split(s, ",") {
		out[strings.TrimSpace(v)] = true
	}
	return out
}

// RandomCSR draws an M×K matrix where each weight survives with probability 1 − sparsity
// (sparsity 0 keeps every weight), seeded for reproducibility.
func RandomCSR(m, k int, sparsity float64, seed uint64) *formats.CSR {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	keep := 1 - sparsity
	est := int(float64(m)*float64(k)*keep*1.01) + 16
	c := &formats.CSR{Rows: m, Cols: k, RowPtr: make([]int64, m+1),
		ColIdx: make([]int32, 0, est), Val: make([]float32, 0, est)}
	for i := 0; i < m; i++ {
		for j := 0; j < k; j++ {
			if keep >= 1 || r.Float64() < keep {
				c.ColIdx = append(c.ColIdx, int32(j))
				c.Val = append(c.Val, float32(r.NormFloat64()))
			}
		}
		c.RowPtr[i+1] = int64(len(c.Val))
	}
	return c
}

type csrCase struct {
	w     *formats.CSR
	dense *formats.Dense
}

var (
	csrCasesMu sync.Mutex
	csrCases   = map[string]*csrCase{}
)

func csrCaseFor(s Shape, sp int, layer int) *csrCase {
	key := fmt.Sprintf("%dx%d/%d/%d", s.M, s.K, sp, layer)
	csrCasesMu.Lock()
	defer csrCasesMu.Unlock()
	if c, ok := csrCases[key]; ok {
		return c
	}
	w := RandomCSR(s.M, s.K, float64(sp)/100, uint64(s.M*31+s.K*7+sp*1000+layer))
	c := &csrCase{w: w}
	csrCases[key] = c
	return c
}

// csrDropCases frees the cached matrices (the large shapes need GBs across sparsities).
func csrDropCases() {
	csrCasesMu.Lock()
	clear(csrCases)
	csrCasesMu.Unlock()
}

func (c *csrCase) denseW() *formats.Dense {
	if c.dense == nil {
		c.dense = c.w.ToDense()
	}
	return c.dense
}

// csrFamilies lists the CSR families to time (CPU-supported, filtered).
func csrFamilies(n int) []asm.Family {
	only := envList("SPARSEGEN_CSR_FAMILIES")
	var out []asm.Family
	for _, f := range asm.Families() {
		if f.Format != "csr" || f.ISA == asm.Generic || !cpuHas(f.Features) {
			continue
		}
		if only != nil && !only[f.Name] {
			continue
		}
		if f.MaxN > 0 && n > f.MaxN || n < f.MinN {
			continue
		}
		out = append(out, f)
	}
	return out
}

func csrKernel(b *testing.B, f asm.Family, w *formats.CSR) asm.Kernel {
	if kc := os.Getenv("SPARSEGEN_CSR_KC"); kc != "" && f.Format == "csr" && f.Tile != 0 {
		v, _ := strconv.Atoi(kc)
		k, err := asm.NewCSRKernel(f.Name, w, v)
		if err != nil {
			b.Fatal(err)
		}
		return k
	}
	k, err := f.Pack(w)
	if err != nil {
		b.Fatal(err)
	}
	return k
}

// bestDense returns our fastest dense family for the host (AVX-512 first), if any.
func bestDense() (asm.Family, bool) {
	var best asm.Family
	found := false
	for _, f := range asm.Families() {
		if f.Format != "dense" || f.ISA == asm.Generic || !cpuHas(f.Features) {
			continue
		}
		if !found || f.ISA > best.ISA {
			best, found = f, true
		}
	}
	return best, found
}

// timeKernels times b.N rounds of every kernel in ks (one layer each) on X (K×n) into Y
// (M×n), after the caller's setup.
func timeKernels(b *testing.B, ks []asm.Kernel, x, y []float32, n int) {
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, k := range ks {
			if err := k.Run(0, k.Units(), x, n, y, n, n, nil); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// reportFlops reports the useful (nonzero) and dense-equivalent rates per layer.
func reportFlops(b *testing.B, s Shape, nnz int64, layers int) {
	el := b.Elapsed().Seconds() / float64(b.N) / float64(layers)
	if el <= 0 {
		return
	}
	b.ReportMetric(2*float64(nnz)*float64(s.N)/el/1e9, "useful-GFLOP/s")
	b.ReportMetric(2*float64(s.M)*float64(s.K)*float64(s.N)/el/1e9, "dense-GFLOP/s")
}

var openblasOnce sync.Once

func openblasInit(b *testing.B) {
	openblasOnce.Do(func() {
		OpenBLASSetThreads(1)
		fmt.Fprintf(os.Stderr, "openblas core: %s (OPENBLAS_CORETYPE=%q OPENBLAS_L2_SIZE=%q)\n",
			OpenBLASCoreName(), os.Getenv("OPENBLAS_CORETYPE"), os.Getenv("OPENBLAS_L2_SIZE"))
	})
}

func BenchmarkCSR(b *testing.B) { benchCSR(b, false) }

// BenchmarkCSRCold rotates layers so W comes from DRAM (N ≤ 16 shapes only).
func BenchmarkCSRCold(b *testing.B) { benchCSR(b, true) }

func benchCSR(b *testing.B, cold bool) {
	shapes, sps := envList("SPARSEGEN_CSR_SHAPES"), envList("SPARSEGEN_CSR_SPARSITY")
	only := envList("SPARSEGEN_CSR_FAMILIES")
	for _, s := range Corpus {
		if shapes != nil && !shapes[s.Name] || cold && s.N > 16 {
			continue
		}
		for _, sp := range csrSparsities {
			if sps != nil && !sps[strconv.Itoa(sp)] {
				continue
			}
			b.Run(fmt.Sprintf("%s/s%02d", s.Name, sp), func(b *testing.B) {
				defer csrDropCases()
				layers := 1
				if cold {
					// Enough layers that the packed weights (~6 B per nonzero, 4 B per dense
					// weight for OpenBLAS) together exceed 2× L3.
					per := float64(s.M) * float64(s.K) * (1 - float64(sp)/100) * 6
					layers = max(2, int(2.2*float64(L3Bytes())/max(per, 1))+1)
				}
				cases := make([]*csrCase, layers)
				for l := range cases {
					cases[l] = csrCaseFor(s, sp, l)
				}
				nnz := cases[0].w.Stored()
				x := make([]float32, s.K*s.N)
				for i := range x {
					x[i] = float32(i%7) * 0.25
				}
				y := make([]float32, s.M*s.N)
				packed := map[string][]asm.Kernel{} // packed once per (shape, sparsity), not per b.N
				for _, f := range csrFamilies(s.N) {
					b.Run(f.Name, func(b *testing.B) {
						ks, ok := packed[f.Name]
						if !ok {
							ks = make([]asm.Kernel, layers)
							for l := range ks {
								ks[l] = csrKernel(b, f, cases[l].w)
							}
							packed[f.Name] = ks
						}
						timeKernels(b, ks, x, y, s.N)
						reportFlops(b, s, nnz, layers)
					})
				}
				dlayers := layers
				if cold {
					dlayers = max(2, int(2.2*float64(L3Bytes())/(float64(s.M)*float64(s.K)*4))+1)
				}
				var dk asm.Kernel
				if df, ok := bestDense(); ok && (only == nil || only["dense"]) && !cold {
					b.Run("dense", func(b *testing.B) {
						if dk == nil {
							k, err := df.Pack(cases[0].denseW())
							if err != nil {
								b.Fatal(err)
							}
							dk = k
						}
						timeKernels(b, []asm.Kernel{dk}, x, y, s.N)
						reportFlops(b, s, nnz, 1)
					})
				}
				if HaveOpenBLAS && (only == nil || only["openblas"]) {
					b.Run("openblas", func(b *testing.B) {
						openblasInit(b)
						ws := make([][]float32, dlayers)
						for l := range ws {
							ws[l] = csrCaseFor(s, sp, l%layers).denseW().Data
						}
						openblasLayers(b, s, ws, x, y)
						reportFlops(b, s, nnz, dlayers)
					})
				}
			})
		}
	}
}

// openblasLayers times OpenBLAS on the dense layers ws in turn, b.N rounds: sgemv at N = 1,
// else sgemm (the peer column of the CSR and structured benchmarks).
func openblasLayers(b *testing.B, s Shape, ws [][]float32, x, y []float32) {
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, w := range ws {
			if s.N == 1 {
				OpenBLASSgemv(s.M, s.K, w, s.K, x, y)
			} else {
				OpenBLASSgemm(s.M, s.N, s.K, w, s.K, x, s.N, y, s.N)
			}
		}
	}
}

// BenchmarkPeak reports one core's FMA peak (asm.PeakGFLOPS): the denominator of "% of peak".
func BenchmarkPeak(b *testing.B) {
	for _, isa := range []asm.ISA{asm.AVX512, asm.AVX2} {
		b.Run(isa.String(), func(b *testing.B) {
			var g float64
			for i := 0; i < b.N; i++ {
				var err error
				if g, err = asm.PeakGFLOPS(isa, 50*time.Millisecond); err != nil {
					b.Skip(err)
				}
			}
			b.ReportMetric(g, "GFLOP/s")
		})
	}
}
