package asm

import "fmt"

// The manifest (DESIGN §5.8): one descriptor per generated kernel family, generated with
// its assembly from the family descriptions in gen/kernels. The ISA files register the
// families from their manifests (<file><ISA>Manifest), so a family's name, symbols, tile
// and parameters are written once, by gen/kernels/manifest.go, and Kernel.Name(), the
// registry key and every record use that one string.

// Manifest returns the descriptors of every generated kernel family of this build
// (GOARCH, purego), in generation order: what the registry holds besides the pure-Go
// families.
func Manifest() []Desc {
	var out []Desc
	for _, m := range generatedManifests {
		out = append(out, m...)
	}
	return out
}

// generated returns the entry of a generated table that descriptor d runs; it panics when
// there is none (the manifest and the table come from the same description, so that is a
// generator bug, and every test run shows it at init).
func generated[T any](d Desc, table []T, fits func(T) bool) T {
	for _, t := range table {
		if fits(t) {
			return t
		}
	}
	panic(fmt.Sprintf("asm: manifest entry %s has no generated kernel in its table", d.Name))
}
