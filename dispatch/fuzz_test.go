package dispatch

import (
	"math"
	"testing"

	"github.com/sparsegen/sparsegen/formats"
	"github.com/sparsegen/sparsegen/internal/fuzzbytes"
	"github.com/sparsegen/sparsegen/ref"
)

// FuzzCompileMul: small weights from arbitrary bytes (density, N:M-conforming or not),
// compiled under any forced format, ISA cap and thread count, then multiplied in both
// layouts at an N from the bytes, with an epilogue from the bytes: the result must match
// the reference, and a format W cannot take must be a clear error, never a panic.
func FuzzCompileMul(f *testing.F) {
	var isas []string // the caps this CPU honours
	for _, s := range []string{"", "generic", "avx2", "avx512", "neon"} {
		if _, _, err := Host().resolveISA(s); err == nil {
			isas = append(isas, s)
		}
	}
	f.Add([]byte{17, 33, 90, 0, 0, 1, 5, 0, 1, 2, 3, 4, 5, 6, 7, 8})
	f.Add([]byte{64, 80, 200, 2, 1, 2, 40, 1, 9, 9})
	f.Add([]byte{3, 4, 10, 4, 2, 3, 1, 2, 0})
	f.Add([]byte{40, 64, 128, 5, 0, 1, 70, 3, 200, 100, 50})
	f.Fuzz(func(t *testing.T, data []byte) {
		next := (&fuzzbytes.Reader{B: data}).Next
		m, k := 1+next()%64, 1+next()%96
		density := float64(next()) / 255
		format := []string{"", "dense", "csr", "bsr4x1", "bsr2x2", "nm2:4", "nm1:4"}[next()%7]
		isa := isas[next()%len(isas)]
		threads := 1 + next()%3
		n := next() % 72
		epi := ref.Epilogue{Act: ref.Activation(next() % 5), Accumulate: next()%2 == 1}
		if epi.Act == ref.ActClamp {
			epi.Lo, epi.Hi = -1, 1.5
		}
		d := &formats.Dense{Rows: m, Cols: k, Stride: k, Data: make([]float32, m*k)}
		conform := next()%2 == 0 // keep at most 2 of every 4 along K
		for i := 0; i < m; i++ {
			kept := 0
			for j := 0; j < k; j++ {
				if j%4 == 0 {
					kept = 0
				}
				v := next()
				if float64(v%101)/100 < density && (!conform || kept < 2) {
					d.Data[i*k+j] = float32(v%9) - 4
					kept++
				}
			}
		}
		if next()%2 == 0 {
			epi.Bias = make([]float32, m)
			for i := range epi.Bias {
				epi.Bias[i] = float32(i%7) - 3
			}
		}
		p, err := Compile(d, Options{Format: format, ISA: isa, Threads: threads, Bias: epi.Bias, Act: epi.Act, Lo: epi.Lo, Hi: epi.Hi, Accumulate: epi.Accumulate, Warn: func(string) {}})
		if err != nil {
			if format != "" && format != "dense" && format != "csr" {
				return // a format W does not take: refused
			}
			t.Fatalf("%dx%d format %q isa %q: %v", m, k, format, isa, err)
		}
		// Two values of N, so that two ranges' kernels are packed (the second may derive
		// from the first's packing); each in both layouts.
		for _, n := range []int{n, next() % 140} {
			x := make([]float32, k*n)
			for i := range x {
				x[i] = float32(i%11)/4 - 1
			}
			y0 := make([]float32, m*n)
			for i := range y0 {
				y0[i] = float32(i%3) - 1
			}
			want := append([]float32(nil), y0...)
			if err := ref.Matrix(d, x, n, want, n, n, &epi); err != nil {
				t.Fatal(err)
			}
			check := func(layout string, got []float32) {
				for i := range want {
					if math.Abs(float64(got[i]-want[i])) > 1e-3*(1+math.Abs(float64(want[i]))) {
						t.Fatalf("%dx%d N=%d format %q isa %q threads %d %s: Y[%d] = %v, want %v", m, k, n, format, isa, threads, layout, i, got[i], want[i])
					}
				}
			}
			got := append([]float32(nil), y0...)
			if err := p.Mul(got, n, x, n, n); err != nil {
				t.Fatal(err)
			}
			check("channel-major", got)
			// Token-major: X N×K, Y N×M.
			xt, yt := make([]float32, n*k), make([]float32, n*m)
			for i := 0; i < k; i++ {
				for j := 0; j < n; j++ {
					xt[j*k+i] = x[i*n+j]
				}
			}
			for i := 0; i < m; i++ {
				for j := 0; j < n; j++ {
					yt[j*m+i] = y0[i*n+j]
				}
			}
			if err := p.MulTokens(yt, m, xt, k, n); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < m; i++ {
				for j := 0; j < n; j++ {
					got[i*n+j] = yt[j*m+i]
				}
			}
			check("token-major", got)
		}
	})
}
