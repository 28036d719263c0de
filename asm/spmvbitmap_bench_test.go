package asm

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/sparsegen/sparsegen/formats"
)

// benchRandCSR is an m×k CSR with each entry kept with probability d (standard normal
// values), drawn directly (no dense matrix).
func benchRandCSR(r *rand.Rand, m, k int, d float64) *formats.CSR {
	c := &formats.CSR{Rows: m, Cols: k, RowPtr: make([]int64, m+1)}
	est := int(float64(m)*float64(k)*d) + k
	c.ColIdx, c.Val = make([]int32, 0, est), make([]float32, 0, est)
	thr := uint64(d * (1 << 53))
	for i := 0; i < m; i++ {
		for j := 0; j < k; j++ {
			if r.Uint64()>>11 < thr {
				c.ColIdx = append(c.ColIdx, int32(j))
				c.Val = append(c.Val, float32(r.NormFloat64()))
			}
		}
		c.RowPtr[i+1] = int64(len(c.Val))
	}
	return c
}

// BenchmarkSpMVBitmap times, at N = 1 on one thread, the bitmap SpMV families against the
// CSR SpMV (16- and 32-bit indices, gathers) and, on a 2:4 matrix, the N:M GEMV, on
// 11008×4096 and 4096×11008 weights at 50–95% sparsity (uniform random) and 2:4. MB/s is
// the packed W's bytes (values, indices or masks, row arrays) per second; B/nnz its bytes
// per stored weight.
//
//	flock /tmp/sparsegen-cpu.lock go test ./asm -run '^$' -bench SpMVBitmap -benchtime 20x -count 6
func BenchmarkSpMVBitmap(b *testing.B) {
	shapes := [][2]int{{11008, 4096}, {4096, 11008}}
	sparsities := []int{50, 70, 80, 90, 95, 24} // 24: the 2:4 pattern
	for _, sh := range shapes {
		for _, sp := range sparsities {
			r := rand.New(rand.NewPCG(uint64(sh[0]), uint64(sp)))
			var w *formats.CSR
			var nm *formats.NM
			name := fmt.Sprintf("%dx%d/s%d", sh[0], sh[1], sp)
			if sp == 24 {
				nm = benchNM(r, sh[0], sh[1], 2, 4)
				var err error
				if w, err = formats.CSRFromDense(nm.ToDense()); err != nil {
					b.Fatal(err)
				}
				name = fmt.Sprintf("%dx%d/2of4", sh[0], sh[1])
			} else {
				w = benchRandCSR(r, sh[0], sh[1], 1-float64(sp)/100)
			}
			x := make([]float32, sh[1])
			for i := range x {
				x[i] = float32(r.NormFloat64())
			}
			y := make([]float32, sh[0])
			for _, f := range Families() {
				if f.Features&^hostFeatures() != 0 || f.ISA == Generic {
					continue
				}
				var mat formats.Matrix
				switch {
				case f.DType == "float32" && (f.Bitmap || (f.Format == "csr" && f.MaxN == 1 && f.IndexBits != 0)):
					mat = w
				case nm != nil && f.Format == "nm" && f.MaxN == 1 && f.Keep == 2 && f.Group == 4 && strings.Contains(f.Name, "gemv"):
					mat = nm
				default:
					continue
				}
				k, err := f.Pack(mat)
				if err != nil {
					b.Fatal(err)
				}
				b.Run(name+"/"+f.Name, func(b *testing.B) {
					b.SetBytes(k.PackedBytes())
					for b.Loop() {
						if err := k.Run(0, k.Units(), x, 1, y, 1, 1, nil); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(float64(k.PackedBytes())/float64(len(w.Val)), "B/nnz")
				})
			}
		}
	}
}

// BenchmarkSpMVBitmapLP times the low-precision bitmap kernels (bf16, fp16, int8;
// unregistered) against the CSR SpMV families of the same dtype (16-bit indices), as
// BenchmarkSpMVBitmap does the float32 ones. Levels: dtype, shape and sparsity (W is built
// and packed only for the levels a -bench pattern selects), kernel:
//
//	flock /tmp/sparsegen-cpu.lock go test ./asm -run '^$' -bench 'SpMVBitmapLP/f16/11008x4096/s50/' -benchtime 20x -count 6
func BenchmarkSpMVBitmapLP(b *testing.B) {
	shapes := [][2]int{{11008, 4096}, {4096, 11008}}
	for _, dt := range []formats.DType{formats.BF16, formats.F16, formats.I8} {
		b.Run(dt.String(), func(b *testing.B) {
			for _, sh := range shapes {
				for _, sp := range []int{50, 70, 80, 90, 95} {
					b.Run(fmt.Sprintf("%dx%d/s%d", sh[0], sh[1], sp), func(b *testing.B) {
						benchBitmapLP(b, dt, sh[0], sh[1], sp)
					})
				}
			}
		})
	}
}

// benchBitmapLP runs one level of BenchmarkSpMVBitmapLP: an m×k W of dtype dt at sp% sparsity.
func benchBitmapLP(b *testing.B, dt formats.DType, m, kk, sp int) {
	r := rand.New(rand.NewPCG(uint64(m), uint64(sp)))
	w, err := formats.CSRLPFromCSR(benchRandCSR(r, m, kk, 1-float64(sp)/100), dt)
	if err != nil {
		b.Fatal(err)
	}
	x := make([]float32, kk)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	y := make([]float32, m)
	var ks []Kernel
	for _, s := range spmvBitmapSpecs {
		if s.lp == dt && s.Features&^hostFeatures() == 0 {
			k, err := packSpMVBitmapLP(s, w, bitmapKB)
			if err != nil {
				b.Fatal(err)
			}
			ks = append(ks, k)
		}
	}
	for _, f := range Families() {
		if f.Format == CSRLPFormat(dt) && f.MaxN == 1 && f.IndexBits == 16 && !f.Bcast && !f.Bitmap && f.ISA != Generic && f.Features&^hostFeatures() == 0 {
			k, err := f.Pack(w)
			if err != nil {
				b.Fatal(err)
			}
			ks = append(ks, k)
		}
	}
	for _, k := range ks {
		b.Run(k.Name(), func(b *testing.B) {
			b.SetBytes(k.PackedBytes())
			for b.Loop() {
				if err := k.Run(0, k.Units(), x, 1, y, 1, 1, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(k.PackedBytes())/float64(len(w.ColIdx)), "B/nnz")
		})
	}
}
