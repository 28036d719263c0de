package kernels

import (
	"fmt"
	"strings"

	"github.com/sparsegen/sparsegen/gen/vm"
)

// CSR tile kernels over low-precision weights (CSRLP): the tile family of csr.go (the same
// packed layout, panels, tiles, row groups and epilogue) with the weights stored as bf16,
// fp16 or int8 and each step's weight widened as it is broadcast (vm.WidenMachine's
// Load1Widen). Differences from the float32 tiles:
//
//   - vals is a byte pointer, e.Bytes() per entry, in the float32 layout's order.
//   - int8: each weight is multiplied by its row's scale (scale[g·R + r]) before its FMAs,
//     one rounding, so an output is the float32 tile's FMA chain over the widened weights
//     (ref's values): K blocks can continue from partial sums in Y. bf16 and fp16 kernels
//     take scale and ignore it.

// CSRLPParams is the signature shared by every low-precision CSR tile function.
var CSRLPParams = []vm.Param{
	{Name: "vals", Kind: vm.PtrU8}, {Name: "offs", Kind: vm.PtrU16}, {Name: "cnt", Kind: vm.PtrU32},
	{Name: "ngroups", Kind: vm.Int}, {Name: "x", Kind: vm.PtrF32}, {Name: "y", Kind: vm.PtrF32},
	{Name: "ldy", Kind: vm.Int}, {Name: "flags", Kind: vm.Int}, {Name: "bias", Kind: vm.PtrF32},
	{Name: "scale", Kind: vm.PtrF32}, {Name: "lo", Kind: vm.F32}, {Name: "hi", Kind: vm.F32}, {Name: "tail", Kind: vm.Int},
}

// CSRLPElems are the stored types with a family each (file csr<elem>).
var CSRLPElems = []vm.Elem{vm.ElemBF16, vm.ElemF16, vm.ElemI8}

// CSRLPFuncName names the tile function of R rows × u vectors on isa for weights stored as e.
func CSRLPFuncName(isa string, e vm.Elem, r, u int, masked bool) string {
	s := fmt.Sprintf("csr%s%sR%dU%d", strings.ToUpper(e.String()), ident(isa), r, u)
	if masked {
		s += "M"
	}
	return s
}

// csrLPFamily is the family of weights stored as e: the tiles of CSRKernels per ISA.
func csrLPFamily(e vm.Elem) Family {
	// tiles lists the (R, u) the registered kernels of isa use.
	tiles := func(isa string) map[[2]int]bool {
		t := map[[2]int]bool{}
		for _, c := range CSRKernels[isa] {
			for u := 1; u <= c.T/lanesOf(isa); u++ {
				t[[2]int{c.R, u}] = true
			}
		}
		return t
	}
	return Family{
		File: "csr" + e.String(),
		Desc: "csrlp",
		Gen: func(m vm.Machine) {
			if _, ok := m.(vm.WidenMachine); !ok {
				return
			}
			ts := tiles(m.ISA())
			for _, r := range CSRGroups {
				for u := 1; u <= CSRMaxU; u++ {
					if !ts[[2]int{r, u}] {
						continue
					}
					for _, masked := range []bool{false, true} {
						name := CSRLPFuncName(m.ISA(), e, r, u, masked)
						doc := fmt.Sprintf("%s runs the CSR tile kernel on groups of %d rows × %d columns (%d vectors) of %s weights", name, r, u*m.Lanes(), u, e)
						if masked {
							doc += "; the last vector is masked to tail lanes"
						}
						m.Func(name, doc+".", CSRLPParams)
						genCSRTileBody(m, r, u, masked, e)
					}
				}
			}
		},
		Table: func(isa, features string) string {
			id := strings.ToUpper(e.String()) + ident(isa)
			ts := tiles(isa)
			var b strings.Builder
			fmt.Fprintf(&b, "// csr%sFeatures are the CPU features the csr%[1]s tile functions use.\nconst csr%[1]sFeatures = %[2]s\n\n", id, features)
			fmt.Fprintf(&b, "// csr%sTiles[log2 R][masked][u] is the %s tile function of R rows × u vectors (nil: not generated).\nvar csr%[1]sTiles = [%[3]d][2][%[4]d]csrLPTileFunc{\n", id, e, len(CSRGroups), CSRMaxU+1)
			writeCSRTileRows(&b, func(r, u int, masked bool) string {
				if !ts[[2]int{r, u}] {
					return ""
				}
				return CSRLPFuncName(isa, e, r, u, masked)
			})
			return b.String()
		},
		Kernels: func(isa string) []Kernel {
			return csrKernelsOf(isa, "csrLPFamily", "csr_"+e.String(), e.String(), func(r, u int, masked bool) string {
				return CSRLPFuncName(isa, e, r, u, masked)
			})
		},
		Driver:    "asm/csr.go, asm/csrlp.go (csrlp_amd64.go, csrlp_arm64.go register)",
		Reference: "ref.CSR on W widened (formats.CSRLP.ToCSR)",
		Test:      "asm/csrlp_test.go, dispatch/lowp_test.go",
	}
}

func init() {
	for _, e := range CSRLPElems {
		Register(csrLPFamily(e))
	}
}
