package asm

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/sparsegen/sparsegen/formats"
)

// BenchmarkNMvsCSR times every N:M and CSR SpMM family this CPU runs on the same N:M
// matrix (one thread, whole kernel): the comparison issue 18 asks the N:M kernels to win.
// -bench 'NMvsCSR/<shape>/<keep>of<group>/n<N>/<family>'.
func BenchmarkNMvsCSR(b *testing.B) {
	shapes := [][2]int{{3072, 768}, {768, 768}, {768, 3072}, {256, 64}, {2048, 512}}
	pats := [][2]int{{2, 4}, {1, 4}}
	ns := []int{128, 64, 16}
	for _, sh := range shapes {
		for _, p := range pats {
			r := rand.New(rand.NewPCG(1, 2))
			w := benchNM(r, sh[0], sh[1], p[0], p[1])
			c, err := formats.CSRFromDense(w.ToDense())
			if err != nil {
				b.Fatal(err)
			}
			for _, n := range ns {
				x := make([]float32, sh[1]*n)
				for i := range x {
					x[i] = float32(r.NormFloat64())
				}
				y := make([]float32, sh[0]*n)
				for _, f := range Families() {
					if (f.Format != "nm" && f.Format != "csr") || strings.HasPrefix(f.Name, "ref_") || f.MaxN == 1 || !structHasFeatures(f.Features) {
						continue
					}
					var mat formats.Matrix = w
					if f.Format == "csr" {
						mat = c
					}
					b.Run(fmt.Sprintf("%dx%d/%dof%d/n%d/%s", sh[0], sh[1], p[0], p[1], n, f.Name), func(b *testing.B) {
						k, err := f.Pack(mat)
						if errors.Is(err, ErrNotApplicable) {
							b.Skipf("%s does not take %d:%d weights", f.Name, p[0], p[1]) // another pattern's kernel
						}
						if err != nil {
							b.Fatal(err)
						}
						units := k.Units()
						for b.Loop() {
							if err := k.Run(0, units, x, n, y, n, n, nil); err != nil {
								b.Fatal(err)
							}
						}
						useful := 2 * float64(w.NNZ()) * float64(n)
						b.ReportMetric(useful*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
					})
				}
			}
		}
	}
}

// benchNM is a Gaussian keep:group matrix with every slot nonzero.
func benchNM(r *rand.Rand, m, k, keep, group int) *formats.NM {
	d := &formats.Dense{Rows: m, Cols: k, Stride: k, Data: make([]float32, m*k)}
	for i := 0; i < m; i++ {
		for g := 0; g*group < k; g++ {
			width := min(group, k-g*group)
			for _, p := range r.Perm(width)[:min(keep, width)] {
				d.Data[i*k+g*group+p] = float32(r.NormFloat64())
			}
		}
	}
	w, err := formats.NMFromDense(d, keep, group)
	if err != nil {
		panic(err)
	}
	return w
}

// BenchmarkNMLPGemv times the N = 1 N:M kernels at 11008×4096 (2:4 and 1:4, every slot
// nonzero) in float32 and each low-precision dtype, every ISA this CPU runs (one thread,
// whole kernel): -bench 'NMLPGemv/<keep>of<group>/<family>'. SetBytes is the packed W, so
// MB/s is W's stream.
func BenchmarkNMLPGemv(b *testing.B) {
	const m, k = 11008, 4096
	for _, p := range [][2]int{{2, 4}, {1, 4}} {
		r := rand.New(rand.NewPCG(3, 4))
		w := benchNM(r, m, k, p[0], p[1])
		x := make([]float32, k)
		for i := range x {
			x[i] = float32(r.NormFloat64())
		}
		y := make([]float32, m)
		for _, f := range Families() {
			if f.MaxN != 1 || !strings.HasPrefix(f.Format, "nm") || f.ISA == Generic || !structHasFeatures(f.Features) {
				continue
			}
			var mat formats.Matrix = w
			if f.Format != "nm" {
				dt, err := formats.ParseDType(f.DType)
				if err != nil {
					b.Fatal(err)
				}
				if mat, err = formats.NMLPFromNM(w, dt); err != nil {
					b.Fatal(err)
				}
			}
			kern, err := f.Pack(mat)
			if errors.Is(err, ErrNotApplicable) {
				continue // another pattern's kernel
			}
			if err != nil {
				b.Fatal(err)
			}
			b.Run(fmt.Sprintf("%dof%d/%s", p[0], p[1], f.Name), func(b *testing.B) {
				b.SetBytes(kern.PackedBytes())
				for b.Loop() {
					if err := kern.Run(0, kern.Units(), x, 1, y, 1, 1, nil); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
