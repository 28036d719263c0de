package kernels

import (
	"fmt"
	"strings"

	"github.com/sparsegen/sparsegen/gen/vm"
)

// N:M kernels over low-precision weights (formats.NMLP): the SpMM tiles and the N = 1
// GEMV kernels above with the weights stored as bf16, fp16 or int8. Differences from the
// float32 kernels:
//
//   - ival (SpMM) and vals (GEMV) are byte pointers, e.Bytes() per slot, in the float32
//     layouts' orders (asm/nm.go NMLayout).
//   - SpMM: each slot's weight is a widening broadcast (vm.WidenMachine.Load1Widen), one
//     per entry where the float32 tiles load weights in groups (vm.GroupMachine); the
//     positions are still read in groups.
//   - GEMV: each pass's 16-slot weights are one widening vector load (LoadWiden).
//   - int8: each weight is multiplied by its row's scale (scale[row], the unit's rows
//     consecutive) before its FMAs, one rounding, so every output is the float32 kernel's
//     FMA chain over the widened weights (formats.NMLP.ToNM's values). bf16 and fp16
//     kernels take scale and ignore it.

// NMLPParams is the low-precision SpMM signature.
var NMLPParams = []vm.Param{
	{Name: "ival", Kind: vm.PtrU8}, {Name: "ipos", Kind: vm.PtrU8}, {Name: "spr", Kind: vm.Int},
	{Name: "gfull", Kind: vm.Int}, {Name: "keep", Kind: vm.Int}, {Name: "group", Kind: vm.Int}, {Name: "lastSlots", Kind: vm.Int},
	{Name: "units", Kind: vm.Int}, {Name: "lastRows", Kind: vm.Int},
	{Name: "x", Kind: vm.PtrF32},
	{Name: "y", Kind: vm.PtrF32}, {Name: "ldy", Kind: vm.Int}, {Name: "n", Kind: vm.Int},
	{Name: "flags", Kind: vm.Int}, {Name: "bias", Kind: vm.PtrF32}, {Name: "scale", Kind: vm.PtrF32}, {Name: "lo", Kind: vm.F32}, {Name: "hi", Kind: vm.F32},
}

// NMGemvLPParams is the low-precision GEMV signature.
var NMGemvLPParams = []vm.Param{
	{Name: "vals", Kind: vm.PtrU8}, {Name: "bits", Kind: vm.PtrU32}, {Name: "chunks", Kind: vm.Int},
	{Name: "units", Kind: vm.Int}, {Name: "x", Kind: vm.PtrF32}, {Name: "out", Kind: vm.PtrF32},
	{Name: "consts", Kind: vm.PtrU32}, {Name: "scale", Kind: vm.PtrF32}, {Name: "gap", Kind: vm.Int},
}

// NMLPElems are the stored types with an N:M family each (file nm<elem>).
var NMLPElems = []vm.Elem{vm.ElemBF16, vm.ElemF16, vm.ElemI8}

// NMLPFuncName names a SpMM kernel over weights stored as e (NMFuncName's for float32).
func NMLPFuncName(isa string, e vm.Elem, p NMPattern, s NMShape) string {
	if e == vm.ElemF32 {
		return NMFuncName(isa, p, s)
	}
	return fmt.Sprintf("nm%s%s%sR%dU%d", strings.ToUpper(e.String()), ident(isa), nmPat(p), s.UH, s.U)
}

// NMLPGemvFuncName names a GEMV kernel over weights stored as e (NMGemvFuncName's for float32).
func NMLPGemvFuncName(isa string, e vm.Elem, g NMGemv) string {
	if e == vm.ElemF32 {
		return NMGemvFuncName(isa, g)
	}
	return fmt.Sprintf("nmv%s%s%dof%dR%d", strings.ToUpper(e.String()), ident(isa), g.Keep, g.Group, g.UH)
}

// nmLPFamily is the N:M family of weights stored as e: the float32 family's SpMM tiles and
// GEMV kernels, on every machine with widening loads.
func nmLPFamily(e vm.Elem) Family {
	return Family{
		File: "nm" + e.String(),
		Desc: "nmlp",
		Gen: func(m vm.Machine) {
			if _, ok := m.(vm.WidenMachine); !ok {
				return
			}
			nm := m.(vm.NMMachine)
			for _, p := range NMPatterns {
				for _, s := range NMShapes[m.ISA()] {
					genNMSpMM(nm, p, s, e)
				}
			}
			for _, g := range NMGemvPatterns[m.ISA()] {
				genNMGemv(nm, g, e)
			}
		},
		Table: func(isa, features string) string {
			id := strings.ToUpper(e.String()) + ident(isa)
			var b strings.Builder
			fmt.Fprintf(&b, "// nm%sFeatures are the CPU features the nm%[1]s kernels use.\nconst nm%[1]sFeatures = %[2]s\n\n", id, features)
			fmt.Fprintf(&b, "// nm%sKernels lists the generated %s N:M SpMM kernels (keep = 0: any pattern).\nvar nm%[1]sKernels = []nmLPGenKernel{\n", id, e)
			for _, p := range NMPatterns {
				for _, s := range NMShapes[isa] {
					fmt.Fprintf(&b, "\t{keep: %d, group: %d, uh: %d, tile: %d, fn: %s},\n", p.Keep, p.Group, s.UH, s.U*lanesOf(isa), NMLPFuncName(isa, e, p, s))
				}
			}
			b.WriteString("}\n\n")
			fmt.Fprintf(&b, "// nm%sGemvKernels lists the generated %s N:M GEMV kernels.\nvar nm%[1]sGemvKernels = []nmLPGemvKernel{\n", id, e)
			for _, g := range NMGemvPatterns[isa] {
				pb, words, passes, tables := nmGemvGeometry(g, lanesOf(isa))
				fmt.Fprintf(&b, "\t{keep: %d, group: %d, uh: %d, lanes: %d, pb: %d, words: %d, passes: %d, tables: %d, fn: %s},\n",
					g.Keep, g.Group, g.UH, lanesOf(isa), pb, words, passes, tables, NMLPGemvFuncName(isa, e, g))
			}
			b.WriteString("}\n")
			return b.String()
		},
		Kernels: func(isa string) []Kernel {
			return nmKernels(isa, NMPatterns, NMGemvPatterns[isa], "", e)
		},
		Driver:    "asm/nm.go, asm/nmlp.go, asm/nm_simd.go (nmlp_amd64.go, nmlp_arm64.go register)",
		Reference: "ref.NM on W widened (formats.NMLP.ToNM)",
		Test:      "asm/nmlp_test.go, dispatch/lowp_test.go",
	}
}

func init() {
	for _, e := range NMLPElems {
		Register(nmLPFamily(e))
	}
}
