package asm

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/sparsegen/sparsegen/formats"
)

// BenchmarkBSRGemv times every BSR family this CPU runs that takes 4×4 blocks (the GEMV
// and the SpMM tiles dispatch picked at N = 1 before it) at N = 1, one thread, on random
// 4×4-block weights at 80, 90 and 95% block sparsity: float32 (and the float32 CSR SpMV
// on the same W, stored zeros kept), bf16, fp16 and int8 (formats.BSRLPFromBSR). Layers are rotated so that the packed
// weights of all of them pass 96 MiB (W streams from DRAM, as sparsegen bench -cold):
// ns/op is one pass over every layer, ns/layer and GB/s (packed bytes per second) one
// layer's.
//
//	flock /tmp/sparsegen-cpu.lock go test ./asm -run '^$' -bench BSRGemv -benchtime 0.2s -count 6
func BenchmarkBSRGemv(b *testing.B) {
	for _, sh := range [][2]int{{11008, 4096}, {4096, 11008}} {
		for _, sp := range []int{80, 90, 95} {
			m, k := sh[0], sh[1]
			// layersFor: enough layers that their packed weights (≈ e bytes per stored
			// weight) pass 96 MiB, well past the L3.
			stored := float64(m) * float64(k) * float64(100-sp) / 100
			layersFor := func(e int) int { return max(2, int(96<<20/(stored*float64(e)))+1) }
			ws := make([]*formats.BSR, layersFor(1))
			for l := range ws {
				ws[l] = benchBSRBlocks(rand.New(rand.NewPCG(uint64(m), uint64(l))), m, k, 4, 4, float64(100-sp)/100)
			}
			x := make([]float32, k)
			for i := range x {
				x[i] = float32(i%7)*0.25 - 0.5
			}
			y := make([]float32, m)
			for _, dt := range []string{"f32", "bf16", "f16", "i8"} {
				layers := layersFor(map[string]int{"f32": 4, "bf16": 2, "f16": 2, "i8": 1}[dt])
				mats := make([]formats.Matrix, layers)
				var csrs []formats.Matrix
				for l, w := range ws[:layers] {
					mats[l] = w
					if dt == "f32" {
						csrs = append(csrs, w.ToCSR())
						continue
					}
					t, err := formats.ParseDType(dt)
					if err != nil {
						b.Fatal(err)
					}
					if mats[l], err = formats.BSRLPFromBSR(w, t); err != nil {
						b.Fatal(err)
					}
				}
				for _, f := range Families() {
					if f.ISA == Generic || f.Features&^hostFeatures() != 0 {
						continue
					}
					in := mats
					switch {
					case dt == "f32" && f.Format == "bsr":
					case dt == "f32" && f.Format == "csr" && f.MaxN == 1 && !f.Bitmap:
						in = csrs
					case dt != "f32" && f.Format == "bsr_"+dt:
					default:
						continue
					}
					ks := make([]Kernel, layers)
					for l, w := range in {
						if ks[l] = packFamily(&testing.T{}, f, w); ks[l] == nil {
							break
						}
					}
					if ks[layers-1] == nil {
						continue
					}
					b.Run(fmt.Sprintf("%dx%d/4x4@%d/%s/%s", m, k, sp, dt, f.Name), func(b *testing.B) {
						var bytes int64
						for _, kern := range ks {
							bytes += kern.PackedBytes()
						}
						for b.Loop() {
							for _, kern := range ks {
								if err := kern.Run(0, kern.Units(), x, 1, y, 1, 1, nil); err != nil {
									b.Fatal(err)
								}
							}
						}
						el := b.Elapsed().Seconds() / float64(b.N)
						b.ReportMetric(el/float64(layers)*1e9, "ns/layer")
						b.ReportMetric(float64(bytes)/el/1e9, "GB/s")
					})
				}
			}
		}
	}
}

// benchBSRBlocks is an M×K BSR of R×C blocks, each kept with probability dens, Gaussian.
func benchBSRBlocks(r *rand.Rand, m, k, br, bc int, dens float64) *formats.BSR {
	ptr := []int64{0}
	var cols []int32
	var val []float32
	for i := 0; i*br < m; i++ {
		h := min(br, m-i*br)
		for j := 0; j*bc < k; j++ {
			if r.Float64() >= dens {
				continue
			}
			cols = append(cols, int32(j))
			for range h * min(bc, k-j*bc) {
				val = append(val, float32(r.NormFloat64()))
			}
		}
		ptr = append(ptr, int64(len(cols)))
	}
	w, err := formats.NewBSR(m, k, br, bc, ptr, cols, val)
	if err != nil {
		panic(err)
	}
	return w
}
