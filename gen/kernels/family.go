// Package kernels holds the kernel family descriptions. Each family is written once
// against the abstract vector machine (gen/vm) and lowered by every ISA backend. This
// package must not import Avo: the NEON backend lowers the same descriptions.
package kernels

import (
	"sort"
	"strings"

	"github.com/sparsegen/sparsegen/gen/vm"
)

// Family is one kernel family: a set of generated functions plus a Go table that the
// hand-written driver in asm/ uses to reach them.
type Family struct {
	// File is the base name of the output files: asm/<File>_<isa>_<goarch>.s and .go.
	File string
	// Desc, if set, is the base name of the description's file in gen/kernels when it is
	// not File (one description lowered to several families, as gemvlp.go is to gemvbf16,
	// gemvf16 and gemvi8).
	Desc string
	// Gen emits every function of the family for machine m.
	Gen func(m vm.Machine)
	// Table returns Go declarations (package asm) that refer to the generated functions,
	// e.g. a table indexed by tile width. isa is m.ISA(); features is the Go expression of
	// the CPU features the generated code uses, as the backend computed them.
	Table func(isa, features string) string
	// Kernels (optional) lists the kernels asm registers from the family's code on isa:
	// asmgen writes one descriptor per kernel (Manifest) beside the assembly. A family
	// whose functions asm registers as kernels must have it (asm's manifest test fails
	// otherwise); helpers such as peak, read and transpose have none.
	Kernels func(isa string) []Kernel
	// Driver, Reference and Test name the Go side of the family's kernels (files or
	// functions, relative to the repository root) for the manifest's trace comment.
	Driver, Reference, Test string
}

var families []Family

// Register adds a family to the generator; call it from an init function in the family's
// file. File names must be unique.
func Register(f Family) {
	for _, g := range families {
		vm.Check(g.File != f.File, "duplicate family file %q", f.File)
	}
	families = append(families, f)
}

// All lists the registered families, sorted by File.
func All() []Family {
	out := append([]Family(nil), families...)
	sort.Slice(out, func(i, j int) bool { return out[i].File < out[j].File })
	return out
}

func init() {
	Register(Peak)
	Register(CSR)
}

// ident turns an ISA name into the spelling used in Go identifiers: "avx512" → "AVX512".
func ident(isa string) string { return strings.ToUpper(isa) }

func goFuncList(names []string) string {
	var b strings.Builder
	for i, n := range names {
		if i > 0 {
			b.WriteString(", ")
		}
		if n == "" {
			b.WriteString("nil")
		} else {
			b.WriteString(n)
		}
	}
	return b.String()
}
