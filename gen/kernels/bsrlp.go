package kernels

import (
	"fmt"
	"strings"

	"github.com/sparsegen/sparsegen/gen/vm"
)

// BSR kernels over low-precision weights (formats.BSRLP): the BSR family of bsr.go (the
// same shapes, packed layout, column tiles, masked remainder tile and epilogue; genBSRBody)
// with the weights stored as bf16, fp16 or int8 and each weight widened as it is broadcast
// (vm.WidenMachine's Load1Widen). Differences from the float32 kernels:
//
//   - val is a byte pointer, e.Bytes() per weight, in BSRLayout's order;
//   - int8: each unit's stream starts with the H float32 scales of its rows (zero past the
//     matrix), and each weight is multiplied by its row's scale before its FMAs, one
//     rounding, so an output is the float32 kernel's FMA chain over the widened weights
//     (formats.BSRLP.ToBSR's values, ref's).
//
// Every shape of BSRShapes that fits the registers with the wider weight path (BSRLPFits)
// is generated; today that is all of them.

// BSRLPParams is the signature of every low-precision BSR kernel (BSRParams with val a
// byte pointer).
var BSRLPParams = func() []vm.Param {
	p := append([]vm.Param(nil), BSRParams...)
	for i := range p {
		if p[i].Name == "val" {
			p[i].Kind = vm.PtrU8
		}
	}
	return p
}()

// BSRLPElems are the stored types with a family each (file bsr<elem>).
var BSRLPElems = []vm.Elem{vm.ElemBF16, vm.ElemF16, vm.ElemI8}

// BSRLPFuncName names the kernel of shape s on isa for weights stored as e.
func BSRLPFuncName(isa string, e vm.Elem, s BSRShape) string {
	return fmt.Sprintf("bsr%s%sH%dC%d", strings.ToUpper(e.String()), ident(isa), s.H, s.CW)
}

// bsrLPShapes are the shapes of BSRShapes[isa] whose e kernel fits (BSRLPFits).
func bsrLPShapes(isa string, e vm.Elem) []BSRShape {
	var out []BSRShape
	for _, s := range BSRShapes[isa] {
		if BSRLPFits(isa, s, e) {
			out = append(out, s)
		}
	}
	return out
}

// bsrLPFamily is the family of weights stored as e.
func bsrLPFamily(e vm.Elem) Family {
	return Family{
		File: "bsr" + e.String(),
		Desc: "bsrlp",
		Gen: func(m vm.Machine) {
			if _, ok := m.(vm.WidenMachine); !ok {
				return
			}
			nm := m.(vm.NMMachine)
			for _, s := range bsrLPShapes(m.ISA(), e) {
				name := BSRLPFuncName(m.ISA(), e, s)
				m.Func(name, fmt.Sprintf("%s runs the BSR kernel on %s weights with %d accumulator rows, %d columns per block, tiles of %d columns.", name, e, s.H, s.CW, s.U*m.Lanes()), BSRLPParams)
				genBSRBody(nm, s, e)
			}
		},
		Table: func(isa, features string) string {
			id := strings.ToUpper(e.String()) + ident(isa)
			var b strings.Builder
			fmt.Fprintf(&b, "// bsr%sFeatures are the CPU features the bsr%[1]s kernels use.\nconst bsr%[1]sFeatures = %[2]s\n\n", id, features)
			fmt.Fprintf(&b, "// bsr%sKernels lists the generated %s BSR kernels: height, block width, tile vectors.\nvar bsr%[1]sKernels = []bsrGenKernel{\n", id, e)
			for _, s := range bsrLPShapes(isa, e) {
				fmt.Fprintf(&b, "\t{h: %d, cw: %d, tile: %d, lp: %s},\n", s.H, s.CW, s.U*lanesOf(isa), BSRLPFuncName(isa, e, s))
			}
			b.WriteString("}\n")
			return b.String()
		},
		Kernels: func(isa string) []Kernel {
			return bsrKernelsOf(isa, "genBSRBody", "bsr_"+e.String(), e.String(), bsrLPShapes(isa, e), func(s BSRShape) string {
				return BSRLPFuncName(isa, e, s)
			})
		},
		Driver:    "asm/bsr.go, asm/bsrlp.go (bsrlp_amd64.go, bsrlp_arm64.go register)",
		Reference: "ref.BSR on W widened (formats.BSRLP.ToBSR)",
		Test:      "asm/bsrlp_test.go, dispatch/lowp_test.go",
	}
}

func init() {
	for _, e := range BSRLPElems {
		Register(bsrLPFamily(e))
	}
}
