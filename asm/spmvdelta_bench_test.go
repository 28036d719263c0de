package asm

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/sparsegen/sparsegen/formats"
)

// BenchmarkSpMVDelta times, at N = 1 on one thread, the 8-bit-delta SpMV families against
// the CSR SpMV with 16-bit indices of the same dtype (float32: the gather-free
// spmv_csr_i16_bcast_*, which dispatch runs at N = 1; low precision: spmv_csr_i16_<dtype>_*)
// on 11008×4096 and 4096×11008 weights (and 512×4096, W in L2: the loop's own speed) at 70–98% sparsity (uniform random). MB/s is the
// packed W's bytes per second; B/nnz its bytes per stored weight (padding and row arrays
// included). Levels: dtype, shape and sparsity (W is built and packed only for the levels
// a -bench pattern selects), kernel:
//
//	flock /tmp/sparsegen-cpu.lock go test ./asm -run '^$' -bench 'SpMVDelta/float32/' -benchtime 20x -count 6
func BenchmarkSpMVDelta(b *testing.B) {
	shapes := [][2]int{{11008, 4096}, {4096, 11008}, {512, 4096}} // 512×4096: W in L2
	for _, dt := range deltaDTypes {
		b.Run(dtName(dt), func(b *testing.B) {
			for _, sh := range shapes {
				for _, sp := range []int{70, 80, 90, 95, 98} {
					b.Run(fmt.Sprintf("%dx%d/s%d", sh[0], sh[1], sp), func(b *testing.B) {
						benchDelta(b, dt, sh[0], sh[1], sp)
					})
				}
			}
		})
	}
}

// benchDelta runs one level of BenchmarkSpMVDelta: an m×k W of dtype dt at sp% sparsity.
func benchDelta(b *testing.B, dt formats.DType, m, kk, sp int) {
	r := rand.New(rand.NewPCG(uint64(m), uint64(sp)))
	c := benchRandCSR(r, m, kk, 1-float64(sp)/100)
	var w formats.Matrix = c
	format := "csr"
	if dt != 0 {
		lp, err := formats.CSRLPFromCSR(c, dt)
		if err != nil {
			b.Fatal(err)
		}
		w, format = lp, CSRLPFormat(dt)
	}
	x := make([]float32, kk)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	y := make([]float32, m)
	for _, f := range Families() {
		if f.Format != format || f.MaxN != 1 || f.ISA == Generic || f.Bitmap || f.Features&^hostFeatures() != 0 {
			continue
		}
		if !f.Delta && (f.IndexBits != 16 || (dt == 0 && !f.Bcast)) {
			continue
		}
		k, err := f.Pack(w)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(f.Name, func(b *testing.B) {
			b.SetBytes(k.PackedBytes())
			for b.Loop() {
				if err := k.Run(0, k.Units(), x, 1, y, 1, 1, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(k.PackedBytes())/float64(len(c.Val)), "B/nnz")
		})
	}
}
