//go:build !purego && (amd64 || arm64)

package asm

// The driver of the generated N:M kernels, shared by every ISA that has them (amd64:
// nm_amd64.go, arm64: nm_arm64.go register their tables).

import (
	"fmt"
	"sync"

	"github.com/sparsegen/sparsegen/formats"
	"github.com/sparsegen/sparsegen/ref"
)

// dummyU8 stands in for an empty position stream (a kernel given no slots reads none).
var dummyU8 uint8

// nmFunc is a generated N:M SpMM kernel (gen/kernels/nm.go documents it). ipos points at
// the byte positions.
type nmFunc func(ival *float32, ipos *uint8, spr, gfull, keep, group, lastSlots, units, lastRows int, x *float32, y *float32, ldy, n, flags int, bias *float32, lo, hi float32)

// nmGemvFunc is a generated N:M GEMV kernel.
type nmGemvFunc func(vals *float32, bits *uint32, chunks, units int, x *float32, out *float32, consts *uint32, gap int)

type nmGenKernel struct {
	keep, group, uh, tile int
	fn                    nmFunc
}

// nmGemvKernel is one generated GEMV kernel with its geometry (gen/kernels/nm.go
// nmGemvGeometry): bits per position, words per chunk, passes per chunk, X-vector pairs per
// pass window.
type nmGemvKernel struct {
	keep, group, uh, lanes    int
	pb, words, passes, tables int
	fn                        nmGemvFunc
}

// nmPanelBytes bounds the X panel a K block of the SpMM kernels reads (Kc·T·4), so it
// stays in L1 while every unit of the block sweeps it.
const nmPanelBytes = 32 << 10

// nmKC is the K block of a SpMM kernel: the most columns, a multiple of Group, whose
// panel of T floats per row fits nmPanelBytes. The plan stores W block after block.
func nmKC(g nmGenKernel, group int) int { return max(1, nmPanelBytes/(g.tile*4)/group) * group }

// nmAsmRun runs a SpMM kernel the way the CSR driver does: per column tile of T, per K
// block of Kc rows (a multiple of Group, fixed by the plan), pack X[block, tile] into a
// zero-padded Kc×T panel and run every unit over it. The first block starts from zero
// (or from Y with Accumulate), later blocks add Y's partial sum, the last adds the bias and
// clamps; GELU and SiLU run in Go after it. The K blocking depends on the plan only, so the
// summation order of every Y element does too.
func nmAsmRun(g nmGenKernel) func(l *NMLayout, u0, u1 int, x []float32, ldx int, y []float32, ldy, n int, epi *ref.Epilogue) {
	return nmTileRun(g.tile, func(c *nmTileCall) {
		g.fn(f32At(c.l.Val, c.off), c.pos, c.bs, c.gfull, c.l.Keep, c.l.Group, c.lastSlots, c.units, c.lastRows,
			c.x, c.y, c.ldy, c.n, c.flags, f32At(c.bias, int64(c.r0)), c.lo, c.hi)
	})
}

// nmTileCall is one call of a generated SpMM kernel: units [a, a+units) of l (first row
// r0, lastRows in the last) over K block's slots from off (bs per row, gfull full groups,
// lastSlots in the partial one), the panel x, Y from y.
type nmTileCall struct {
	l                                     *NMLayout
	off                                   int64
	pos                                   *uint8
	bs, gfull, lastSlots, units, lastRows int
	x, y                                  *float32
	ldy, n, flags, r0                     int
	bias                                  []float32
	lo, hi                                float32
}

// nmTileRun is nmAsmRun's driver on tile T, calling the kernel through call (float32 or
// low-precision weights).
func nmTileRun(T int, call func(c *nmTileCall)) func(l *NMLayout, u0, u1 int, x []float32, ldx int, y []float32, ldy, n int, epi *ref.Epilogue) {
	var pool sync.Pool
	return func(l *NMLayout, u0, u1 int, x []float32, ldx int, y []float32, ldy, n int, epi *ref.Epilogue) {
		flags, lo, hi, slow := structFlags(epi)
		var bias []float32
		if epi != nil {
			bias = epi.Bias
		}
		kc := l.KC
		bp, _ := pool.Get().(*[]float32)
		if bp == nil || len(*bp) < kc*T {
			s := make([]float32, kc*T)
			bp = &s
		}
		defer pool.Put(bp)
		panel := *bp
		r0, _ := l.UnitRows(u0)
		_, r1 := l.UnitRows(u1 - 1)
		for j0 := 0; j0 < n; j0 += T {
			nt := min(T, n-j0)
			for kb := 0; kb < l.K || kb == 0; kb += kc {
				kcur := min(kc, l.K-kb)
				for r := 0; r < kcur; r++ {
					row := panel[r*T : r*T+T]
					copy(row, x[(kb+r)*ldx+j0:][:nt])
					clear(row[nt:])
				}
				gfull, lastSlots := kcur/l.Group, 0
				if rem := kcur % l.Group; rem > 0 {
					lastSlots = min(l.Keep, rem)
				}
				blk := kb / kc
				bs := l.BlockSlots[blk]
				f := epiLoadY
				if kb == 0 {
					f = flags & epiLoadY
				}
				if kb+kc >= l.K {
					f |= flags &^ epiLoadY
				}
				per := int64(l.UH) * int64(bs+1) * int64(nt)
				step := max(1, int(bsrCallWork/max(per, 1)))
				for a := u0; a < u1; a += step {
					b := min(a+step, u1)
					ar0, _ := l.UnitRows(a)
					lr0, ar1 := l.UnitRows(b - 1)
					off := l.at(blk, a, 0, 0)
					pos := &dummyU8
					if off < int64(len(l.Pos)) {
						pos = &l.Pos[off]
					}
					call(&nmTileCall{l: l, off: off, pos: pos, bs: bs, gfull: gfull, lastSlots: lastSlots, units: b - a, lastRows: ar1 - lr0,
						x: &panel[0], y: &y[ar0*ldy+j0], ldy: ldy, n: nt, flags: f, r0: ar0, bias: bias, lo: lo, hi: hi})
				}
			}
			activateTile(slow, y, ldy, r0, r1, j0, j0+nt)
		}
	}
}

// nmGemv holds the per-kernel constants and scratch pools of a GEMV kernel.
type nmGemv struct {
	g      nmGemvKernel
	consts []uint32
	xlen   int // padded X copy
	pool   sync.Pool
	// call runs the kernel on chunks of units a+i and a+i+gap for i < units from chunk index
	// ci (chunkIdx: chunks per unit, a K block's) (default: g.fn on float32 chunks).
	call func(l *NMLayout, ci, chunks, a, units, gap int, x, out *float32, consts *uint32)
}

func newNMGemv(g nmGemvKernel, l *NMLayout) (*nmGemv, error) {
	if l.PB != g.pb || l.Words != g.words {
		return nil, fmt.Errorf("asm: N:M GEMV layout has %d-bit positions in %d words per chunk, the kernel reads %d in %d", l.PB, l.Words, g.pb, g.words)
	}
	L := g.lanes
	passes := g.passes
	lpw := nmWordBits / l.PB
	v := &nmGemv{g: g, consts: make([]uint32, passes*nmGemvConstVecs*L)}
	for ps := 0; ps < passes; ps++ {
		lane0 := ps * L
		for i := 0; i < L; i++ {
			lane := lane0 + i
			c := v.consts[ps*nmGemvConstVecs*L:]
			c[i] = uint32(lane % lpw * l.PB)
			c[L+i] = uint32((lane/l.Keep - lane0/l.Keep) * l.Group)
			c[2*L+i] = 1<<l.PB - 1
			if lane/lpw != lane0/lpw {
				c[3*L+i] = 1
			}
		}
	}
	v.xlen = l.Chunks*nmChunkSlots/l.Keep*l.Group + 2*g.tables*L
	v.call = func(l *NMLayout, ci, chunks, a, units, gap int, x, out *float32, consts *uint32) {
		g.fn(&l.ValChunks[ci*16], &l.Bits[ci*l.Words], chunks, units, x, out, consts, gap)
	}
	return v, nil
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
	win := nmChunkSlots / l.Keep * l.Group // X columns per chunk
	for a := u0; a < u1; a += step {
		b := min(a+step, u1)
		// K block by K block (X[block] stays in L1); the kernel adds to the lane sums. It
		// runs nmGemvSegments units side by side: [a, b)'s first part beside the next (gap =
		// part), and each unit left over alone (gap = 0: every segment on that unit).
		clear(sc.out)
		part := (b - a) / nmGemvSegments
		for c0 := 0; c0 < l.Chunks; c0 += l.CB {
			cb := min(l.CB, l.Chunks-c0)
			if part > 0 {
				v.call(l, l.chunkIdx(a, c0, 0), cb, a, part, part, &xs[c0*win], &sc.out[0], &v.consts[0])
			}
			for u := a + nmGemvSegments*part; u < b; u++ {
				v.call(l, l.chunkIdx(u, c0, 0), cb, u, 1, 0, &xs[c0*win], &sc.out[(u-a)*l.UH*L], &v.consts[0])
			}
		}
		r0, _ := l.UnitRows(a)
		_, r1 := l.UnitRows(b - 1)
		for m := r0; m < r1; m++ {
			s := sumLanes(sc.out[(m-a*l.UH)*L:][:L])
			y[m*ldy] = epi.Apply(s, m, y[m*ldy])
		}
	}
}

// nmGemvFamily is the N:M GEMV (N = 1) family d on generated kernel g: W as formats.NM of
// g's pattern, packed for the GEMV (sparsegen's own families and users' alike).
func nmGemvFamily(d *Desc, g nmGemvKernel) Family {
	return Family{
		Desc: d,
		Pack: func(w formats.Matrix) (Kernel, error) {
			m, ok := w.(*formats.NM)
			if !ok || m.Keep != g.keep || m.Group != g.group {
				return nil, ErrNotApplicable
			}
			l, err := PackNM(m, g.uh, true)
			if err != nil {
				return nil, err
			}
			v, err := newNMGemv(g, l)
			if err != nil {
				return nil, err
			}
			return &nmKernel{name: d.Name, isa: d.ISA, gemv: true, l: l, run: v.run}, nil
		},
	}
}

// nmSpMMFamily is the N:M SpMM family d on generated tile g (of one pattern, or any when
// g.keep is 0), packed in K blocks for nmAsmRun.
func nmSpMMFamily(d *Desc, g nmGenKernel) Family {
	run := nmAsmRun(g)
	return Family{
		Desc: d,
		Pack: func(w formats.Matrix) (Kernel, error) {
			m, ok := w.(*formats.NM)
			if !ok || g.keep != 0 && (m.Keep != g.keep || m.Group != g.group) {
				return nil, ErrNotApplicable
			}
			l, err := PackNMBlocked(m, g.uh, nmKC(g, m.Group), false)
			if err != nil {
				return nil, err
			}
			return &nmKernel{name: d.Name, isa: d.ISA, tile: g.tile, l: l, run: run}, nil
		},
	}
}

// registerNMGen registers the N:M families of a generated manifest on their kernels: SpMM
// families of one pattern (Keep:Group) or of any (0:0), and the GEMV (N = 1) families.
func registerNMGen(m []Desc, kernels []nmGenKernel, gemv []nmGemvKernel) {
	for _, d := range m {
		if d.MaxN == 1 {
			g := generated(d, gemv, func(g nmGemvKernel) bool { return g.keep == d.Keep && g.group == d.Group && g.uh == d.Rows })
			Register(nmGemvFamily(&d, g))
			continue
		}
		g := generated(d, kernels, func(g nmGenKernel) bool {
			return g.keep == d.Keep && g.group == d.Group && g.uh == d.Rows && g.tile == d.Tile
		})
		Register(nmSpMMFamily(&d, g))
	}
}
