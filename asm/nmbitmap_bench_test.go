package asm

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/sparsegen/sparsegen/formats"
)

// BenchmarkNMN1 times, at N = 1 on one thread, every N:M GEMV family and the bitmap SpMV
// of each dtype on the same N:M W (issue 17's shapes, 2:4 and 1:4, every slot nonzero):
// float32 (the bitmap on NMToCSR(W)), bf16, fp16 and int8 (nm_bitmap_<dtype>_<isa> on the
// NMLP). Levels: shape, pattern, dtype (W is built and packed only for the levels a -bench
// pattern selects), kernel. MB/s is the packed W's stream; B/w its bytes per stored weight.
//
//	flock /tmp/sparsegen-cpu.lock go test ./asm -run '^$' -bench 'NMN1/11008x4096/2of4/bf16/' -benchtime 20x -count 6
func BenchmarkNMN1(b *testing.B) {
	for _, sh := range [][2]int{{11008, 4096}, {4096, 11008}} {
		for _, p := range [][2]int{{2, 4}, {1, 4}} {
			for _, dt := range []formats.DType{0, formats.BF16, formats.F16, formats.I8} {
				ds := "f32"
				if dt != 0 {
					ds = dt.String()
				}
				b.Run(fmt.Sprintf("%dx%d/%dof%d/%s", sh[0], sh[1], p[0], p[1], ds), func(b *testing.B) {
					benchNMN1(b, dt, sh[0], sh[1], p[0], p[1])
				})
			}
		}
	}
}

// benchNMN1 runs one level of BenchmarkNMN1.
func benchNMN1(b *testing.B, dt formats.DType, m, k, keep, group int) {
	r := rand.New(rand.NewPCG(uint64(m), uint64(keep)))
	w := benchNM(r, m, k, keep, group)
	var mat formats.Matrix = w
	format := "nm"
	if dt != 0 {
		lp, err := formats.NMLPFromNM(w, dt)
		if err != nil {
			b.Fatal(err)
		}
		mat, format = lp, NMLPFormat(dt)
	}
	x := make([]float32, k)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	y := make([]float32, m)
	for _, f := range Families() {
		if f.ISA == Generic || f.MaxN != 1 || f.Features&^hostFeatures() != 0 {
			continue
		}
		var in formats.Matrix
		switch {
		case f.Format == format:
			in = mat
		case dt == 0 && f.Format == "csr" && f.Bitmap:
			c, err := NMToCSR(w)
			if err != nil {
				b.Fatal(err)
			}
			in = c
		default:
			continue
		}
		kern, err := f.Pack(in)
		if errors.Is(err, ErrNotApplicable) {
			continue // another pattern's GEMV
		}
		if err != nil {
			b.Fatal(err)
		}
		b.Run(f.Name, func(b *testing.B) {
			b.SetBytes(kern.PackedBytes())
			for b.Loop() {
				if err := kern.Run(0, kern.Units(), x, 1, y, 1, 1, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(kern.PackedBytes())/float64(len(w.Val)), "B/w")
		})
	}
}
