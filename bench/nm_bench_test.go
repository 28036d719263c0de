package bench

import (
	"fmt"
	"testing"

	"github.com/sparsegen/sparsegen/formats"
	"github.com/sparsegen/sparsegen/formats/prune"
)

// N:M benchmarks (issue 4): 2:4, 1:4, 2:8 magnitude-pruned, every N:M family this CPU runs
// (the GEMV kernels at N = 1), CSR on the same matrix and OpenBLAS; see bsr_bench_test.go.

func nmPatterns() []stPattern {
	var out []stPattern
	for _, p := range [][2]int{{2, 4}, {1, 4}, {2, 8}} {
		keep, group := p[0], p[1]
		out = append(out, stPattern{
			name: fmt.Sprintf("%d:%d", keep, group),
			prune: func(d *formats.Dense) (formats.Matrix, error) {
				return prune.NM(d, keep, group)
			},
			bytes: func(m, k int) float64 { return float64(m) * float64(k) * float64(keep) / float64(group) * 4.5 },
		})
	}
	return out
}

func BenchmarkNM(b *testing.B) { stBench(b, "nm", nmPatterns(), false) }

// BenchmarkNMCold rotates layers so W streams from DRAM (N ≤ 16 shapes only).
func BenchmarkNMCold(b *testing.B) { stBench(b, "nm", nmPatterns(), true) }
