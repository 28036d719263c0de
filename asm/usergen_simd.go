//go:build !purego && (amd64 || arm64)

package asm

import "github.com/sparsegen/sparsegen/formats"

// generatedNM registers an N:M family on a generated kernel through the N:M drivers
// (nmAsmRun, nmGemv): the same packing and runs as sparsegen's own N:M families.
func generatedNM(d *Desc, f GeneratedFuncs) (Family, error) {
	if d.MaxN == 1 {
		g := nmGemvKernel{keep: d.Keep, group: d.Group, uh: d.Rows, lanes: d.Lanes,
			pb: f.Gemv.PB, words: f.Gemv.Words, passes: f.Gemv.Passes, tables: f.Gemv.Tables, fn: nmGemvFunc(f.NMGemv)}
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
		}, nil
	}
	g := nmGenKernel{keep: d.Keep, group: d.Group, uh: d.Rows, tile: d.Tile, fn: nmFunc(f.NM)}
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
	}, nil
}
