//go:build !purego && (amd64 || arm64)

package asm

// generatedNM registers an N:M family on a generated kernel through the N:M drivers
// (nmAsmRun, nmGemv): the same packing and runs as sparsegen's own N:M families.
func generatedNM(d *Desc, f GeneratedFuncs) (Family, error) {
	if d.MaxN == 1 {
		return nmGemvFamily(d, nmGemvKernel{keep: d.Keep, group: d.Group, uh: d.Rows, lanes: d.Lanes,
			pb: f.Gemv.PB, words: f.Gemv.Words, passes: f.Gemv.Passes, tables: f.Gemv.Tables, fn: nmGemvFunc(f.NMGemv)}), nil
	}
	return nmSpMMFamily(d, nmGenKernel{keep: d.Keep, group: d.Group, uh: d.Rows, tile: d.Tile, fn: nmFunc(f.NM)}), nil
}

// generatedBSR registers a BSR family of one block shape on a generated kernel through the
// BSR driver (bsrAsmRun, PackBSR in block mode): as sparsegen's own block families.
func generatedBSR(d *Desc, f GeneratedFuncs) (Family, error) {
	return bsrBlockFamily(d, bsrGenKernel{h: d.Rows, cw: d.BlockC, tile: d.Tile, fn: bsrFunc(f.BSR)}), nil
}
