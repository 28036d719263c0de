//go:build !purego && (amd64 || arm64)

package asm

import (
	"fmt"

	"github.com/sparsegen/sparsegen/formats"
)

// The driver of the generated low-precision N:M kernels (nmlp.go), shared by every ISA
// that has them (nmlp_amd64.go, nmlp_arm64.go register their tables): nm_simd.go's
// drivers with the values' bytes and the row scales passed.

// nmLPFunc is a generated low-precision N:M SpMM kernel (gen/kernels/nm.go NMLPParams).
type nmLPFunc func(ival *uint8, ipos *uint8, spr, gfull, keep, group, lastSlots, units, lastRows int, x *float32, y *float32, ldy, n, flags int, bias, scale *float32, lo, hi float32)

// nmLPGemvFunc is a generated low-precision N:M GEMV kernel (NMGemvLPParams).
type nmLPGemvFunc func(vals *uint8, bits *uint32, chunks, units int, x *float32, out *float32, consts *uint32, scale *float32, gap int)

type nmLPGenKernel struct {
	keep, group, uh, tile int
	fn                    nmLPFunc
}

// nmLPGemvKernel is one generated low-precision GEMV kernel with its geometry (as nmGemvKernel).
type nmLPGemvKernel struct {
	keep, group, uh, lanes    int
	pb, words, passes, tables int
	fn                        nmLPGemvFunc
}

// registerNMLPGen registers the low-precision N:M families of a generated manifest on
// their kernels, as registerNMGen does for float32.
func registerNMLPGen(m []Desc, kernels []nmLPGenKernel, gemv []nmLPGemvKernel) {
	for _, d := range m {
		t, err := formats.ParseDType(d.DType)
		if err != nil {
			panic(fmt.Sprintf("asm: %s: %v", d.Name, err))
		}
		if d.MaxN == 1 {
			g := generated(d, gemv, func(g nmLPGemvKernel) bool { return g.keep == d.Keep && g.group == d.Group && g.uh == d.Rows })
			Register(nmLPGemvFamily(&d, t, g))
			continue
		}
		g := generated(d, kernels, func(g nmLPGenKernel) bool {
			return g.keep == d.Keep && g.group == d.Group && g.uh == d.Rows && g.tile == d.Tile
		})
		Register(nmLPSpMMFamily(&d, t, g))
	}
}

// nmLPSpMMFamily is the low-precision N:M SpMM family d on generated tile g, packed in K
// blocks for nmTileRun.
func nmLPSpMMFamily(d *Desc, t formats.DType, g nmLPGenKernel) Family {
	eb := int64(t.Bytes())
	run := nmTileRun(g.tile, func(c *nmTileCall) {
		g.fn(u8At(c.l.LP, c.off*eb), c.pos, c.bs, c.gfull, c.l.Keep, c.l.Group, c.lastSlots, c.units, c.lastRows,
			c.x, c.y, c.ldy, c.n, c.flags, f32At(c.bias, int64(c.r0)), f32At(c.l.Scale, int64(c.r0)), c.lo, c.hi)
	})
	return Family{
		Desc: d,
		Pack: func(w formats.Matrix) (Kernel, error) {
			m, err := nmLPOf(d.Name, t, w)
			if err != nil {
				return nil, err
			}
			if g.keep != 0 && (m.Keep != g.keep || m.Group != g.group) {
				return nil, fmt.Errorf("%w: %s takes %d:%d, not %d:%d", ErrNotApplicable, d.Name, g.keep, g.group, m.Keep, m.Group)
			}
			l, err := PackNMLP(m, g.uh, nmKC(nmGenKernel{tile: g.tile}, m.Group), false)
			if err != nil {
				return nil, err
			}
			return &nmKernel{name: d.Name, isa: d.ISA, tile: g.tile, l: l, run: run}, nil
		},
	}
}

// nmLPGemvFamily is the low-precision N:M GEMV (N = 1) family d on generated kernel g.
func nmLPGemvFamily(d *Desc, t formats.DType, g nmLPGemvKernel) Family {
	eb := t.Bytes()
	geo := nmGemvKernel{keep: g.keep, group: g.group, uh: g.uh, lanes: g.lanes, pb: g.pb, words: g.words, passes: g.passes, tables: g.tables}
	return Family{
		Desc: d,
		Pack: func(w formats.Matrix) (Kernel, error) {
			m, err := nmLPOf(d.Name, t, w)
			if err != nil {
				return nil, err
			}
			if m.Keep != g.keep || m.Group != g.group {
				return nil, fmt.Errorf("%w: %s takes %d:%d, not %d:%d", ErrNotApplicable, d.Name, g.keep, g.group, m.Keep, m.Group)
			}
			l, err := PackNMLP(m, g.uh, 0, true)
			if err != nil {
				return nil, err
			}
			v, err := newNMGemv(geo, l)
			if err != nil {
				return nil, err
			}
			v.call = func(l *NMLayout, ci, chunks, a, units, gap int, x, out *float32, consts *uint32) {
				g.fn(&l.LPChunks[ci*16*eb], &l.Bits[ci*l.Words], chunks, units, x, out, consts, f32At(l.Scale, int64(a*l.UH)), gap)
			}
			return &nmKernel{name: d.Name, isa: d.ISA, gemv: true, l: l, run: v.run}, nil
		},
	}
}
