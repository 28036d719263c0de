//go:build !purego

package asm

import (
	"fmt"
	"sync"
	"unsafe"

	"github.com/sparsegen/sparsegen/formats"
	"github.com/sparsegen/sparsegen/ref"
)

// nmFunc is a generated N:M SpMM kernel (gen/kernels/nm.go documents it). ipos points at
// the byte positions.
type nmFunc func(ival *float32, ipos *uint32, spr, gfull, keep, group, lastSlots, units, lastRows int, x *float32, ldx int, y *float32, ldy, n, flags int, bias *float32, lo, hi float32)

// nmGemvFunc is a generated N:M GEMV kernel.
type nmGemvFunc func(vals *float32, bits *uint32, chunks, units int, x *float32, out *float32, consts *uint32)

type nmGenKernel struct {
	keep, group, uh, tile int
	fn                    nmFunc
}

type nmGemvKernel struct {
	keep, group, uh, lanes int
	fn                     nmGemvFunc
}

func nmAsmRun(g nmGenKernel) func(l *NMLayout, u0, u1 int, x []float32, ldx int, y []float32, ldy, n int, epi *ref.Epilogue) {
	return func(l *NMLayout, u0, u1 int, x []float32, ldx int, y []float32, ldy, n int, epi *ref.Epilogue) {
		flags, lo, hi, slow := structFlags(epi)
		var bias []float32
		if epi != nil {
			bias = epi.Bias
		}
		gfull := l.K / l.Group
		lastSlots := 0
		if r := l.K % l.Group; r > 0 {
			lastSlots = min(l.Keep, r)
		}
		per := int64(l.UH) * int64(l.SPR) * int64(n)
		step := max(1, int(bsrCallWork/max(per, 1)))
		for a := u0; a < u1; a += step {
			b := min(a+step, u1)
			r0, _ := l.UnitRows(a)
			lr0, r1 := l.UnitRows(b - 1)
			off := int64(a) * int64(l.SPR) * int64(l.UH)
			var pos *uint32
			if off < int64(len(l.Pos)) {
				pos = (*uint32)(unsafe.Pointer(&l.Pos[off]))
			} else {
				pos = (*uint32)(unsafe.Pointer(&dummyI32[0]))
			}
			g.fn(f32At(l.Val, off), pos, l.SPR, gfull, l.Keep, l.Group, lastSlots, b-a, r1-lr0,
				f32At(x, 0), ldx, &y[r0*ldy], ldy, n, flags, f32At(bias, int64(r0)), lo, hi)
			if slow != ref.ActNone {
				slowAct(slow, y, ldy, r0, r1, n)
			}
		}
	}
}

// nmGemv holds the per-kernel constants and scratch pools of a GEMV kernel.
type nmGemv struct {
	g      nmGemvKernel
	consts []uint32
	xlen   int // padded X copy
	pool   sync.Pool
}

func newNMGemv(g nmGemvKernel, l *NMLayout) *nmGemv {
	L := g.lanes
	passes := 16 / L
	lpw := 32 / l.PB
	v := &nmGemv{g: g, consts: make([]uint32, passes*4*L)}
	for ps := 0; ps < passes; ps++ {
		lane0 := ps * L
		for i := 0; i < L; i++ {
			lane := lane0 + i
			c := v.consts[ps*4*L:]
			c[i] = uint32(lane % lpw * l.PB)
			c[L+i] = uint32((lane/l.Keep - lane0/l.Keep) * l.Group)
			c[2*L+i] = 1<<l.PB - 1
			if lane/lpw != lane0/lpw {
				c[3*L+i] = 1
			}
		}
	}
	win := (L + l.Keep - 1) / l.Keep * l.Group
	tables := (win + 2*L - 1) / (2 * L)
	v.xlen = l.Chunks*16/l.Keep*l.Group + 2*tables*L
	return v
}

type nmGemvScratch struct{ x, out []float32 }

func (v *nmGemv) run(l *NMLayout, u0, u1 int, x []float32, ldx int, y []float32, ldy, n int, epi *ref.Epilogue) {
	L := v.g.lanes
	sc, _ := v.pool.Get().(*nmGemvScratch)
	if sc == nil {
		sc = &nmGemvScratch{x: make([]float32, v.xlen)}
	}
	defer v.pool.Put(sc)
	xs := sc.x
	for k := 0; k < l.K; k++ {
		xs[k] = x[k*ldx]
	}
	const callSlots = 1 << 21
	step := max(1, callSlots/max(l.Chunks*16*l.UH, 1))
	if need := min(step, u1-u0) * l.UH * L; len(sc.out) < need {
		sc.out = make([]float32, need)
	}
	for a := u0; a < u1; a += step {
		b := min(a+step, u1)
		if l.Chunks > 0 {
			v.g.fn(&l.ValChunks[a*l.Chunks*l.UH*16], &l.Bits[a*l.Chunks*l.UH*l.Words], l.Chunks, b-a, &xs[0], &sc.out[0], &v.consts[0])
		} else {
			clear(sc.out)
		}
		r0, _ := l.UnitRows(a)
		_, r1 := l.UnitRows(b - 1)
		for m := r0; m < r1; m++ {
			s := sumLanes(sc.out[(m-a*l.UH)*L:][:L])
			y[m*ldy] = epi.Apply(s, m, y[m*ldy])
		}
	}
}

func registerNMGen(isa ISA, feats Feature, kernels []nmGenKernel, gemv []nmGemvKernel) {
	for _, g := range kernels {
		g := g
		run := nmAsmRun(g)
		if g.keep == 0 {
			name := fmt.Sprintf("nm_any_r%d_t%d_%s", g.uh, g.tile, isa)
			Register(Family{
				Name: name, Format: "nm", ISA: isa, Features: feats, MinN: 2,
				Pack: func(w formats.Matrix) (Kernel, error) {
					m, ok := w.(*formats.NM)
					if !ok {
						return nil, ErrNotApplicable
					}
					l, err := PackNM(m, g.uh, false)
					if err != nil {
						return nil, err
					}
					return &nmKernel{name: nmName("spmm", m, fmt.Sprintf("_r%d_t%d_%s", g.uh, g.tile, isa)), isa: isa, l: l, run: run}, nil
				},
			})
			continue
		}
		name := fmt.Sprintf("nm%dof%d_r%d_t%d_%s", g.keep, g.group, g.uh, g.tile, isa)
		Register(Family{
			Name: name, Format: "nm", ISA: isa, Features: feats, MinN: 2,
			Pack: func(w formats.Matrix) (Kernel, error) {
				m, ok := w.(*formats.NM)
				if !ok || m.Keep != g.keep || m.Group != g.group {
					return nil, ErrNotApplicable
				}
				l, err := PackNM(m, g.uh, false)
				if err != nil {
					return nil, err
				}
				return &nmKernel{name: "spmm_" + name, isa: isa, l: l, run: run}, nil
			},
		})
	}
	for _, g := range gemv {
		g := g
		name := fmt.Sprintf("nm%dof%d_gemv_%s", g.keep, g.group, isa)
		Register(Family{
			Name: name, Format: "nm", ISA: isa, Features: feats, MinN: 1, MaxN: 1,
			Pack: func(w formats.Matrix) (Kernel, error) {
				m, ok := w.(*formats.NM)
				if !ok || m.Keep != g.keep || m.Group != g.group {
					return nil, ErrNotApplicable
				}
				l, err := PackNM(m, g.uh, true)
				if err != nil {
					return nil, err
				}
				v := newNMGemv(g, l)
				return &nmKernel{name: fmt.Sprintf("spmv_nm%dof%d_%s", g.keep, g.group, isa), isa: isa, gemv: true, l: l, run: v.run}, nil
			},
		})
	}
}

func init() {
	registerNMGen(AVX512, nmAVX512Features, nmAVX512Kernels, nmAVX512GemvKernels)
	registerNMGen(AVX2, nmAVX2Features, nmAVX2Kernels, nmAVX2GemvKernels)
}
