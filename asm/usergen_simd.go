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
