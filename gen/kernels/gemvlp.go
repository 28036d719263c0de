package kernels

import (
	"fmt"
	"strings"

	"github.com/sparsegen/sparsegen/gen/vm"
)

// Dense GEMV over low-precision weights (GemvLP): the GEMV family of gemv.go with W stored
// as bf16, fp16 or int8 and every W vector widened to float32 as it is loaded; the
// accumulation, the sum's order, X's panel and the epilogue are the float32 kernel's. At
// N = 1 the product is bound by W's bytes, so 2 (bf16, fp16) or 1 (int8) bytes per weight
// instead of 4 is the whole point. Differences from the float32 kernels:
//
//   - w is a byte pointer and ldw counts elements; ldw is a multiple of the vector width and
//     every row's padding past k is zero: the tail reads W's last vector whole (only X's is
//     masked), since AVX2 has no masked 8- or 16-bit loads.
//   - int8 (symmetric, weight-only quantisation): y = scale[row]·Σ w8·x, the product one
//     rounding, before bias, old Y and clamp. bf16 and fp16 kernels take scale and ignore it.
//
// Widening: bf16 VPMOVZXWD + VPSLLD 16; fp16 VCVTPH2PS (F16C on AVX2, AVX-512F); int8
// VPMOVSXBD + VCVTDQ2PS; NEON (gen/neon/widen.go) UXTL + SHL #16, FCVTL, SXTL ×2 + SCVTF.

// GemvLPParams is the signature of every low-precision GEMV kernel.
var GemvLPParams = []vm.Param{
	{Name: "w", Kind: vm.PtrU8}, {Name: "ldw", Kind: vm.Int}, {Name: "rows", Kind: vm.Int}, {Name: "k", Kind: vm.Int},
	{Name: "x", Kind: vm.PtrF32}, {Name: "y", Kind: vm.PtrF32}, {Name: "ldy", Kind: vm.Int},
	{Name: "flags", Kind: vm.Int}, {Name: "bias", Kind: vm.PtrF32}, {Name: "scale", Kind: vm.PtrF32},
	{Name: "lo", Kind: vm.F32}, {Name: "hi", Kind: vm.F32}, {Name: "gap", Kind: vm.Int},
}

// GemvLPElems are the stored types with a family each (file gemv<elem>).
var GemvLPElems = []vm.Elem{vm.ElemBF16, vm.ElemF16, vm.ElemI8}

// GemvLPFuncName names the kernel of shape s on isa for weights stored as e.
func GemvLPFuncName(isa string, e vm.Elem, s GemvShape) string {
	return fmt.Sprintf("gemv%s%sR%dC%d", strings.ToUpper(e.String()), ident(isa), s.R, s.C)
}

// GemvLPMaxCols is the widest low-precision GEMV kernel: the GemvShapes of at most this many
// columns. Zen 5, 1 thread, sparsegen bench -dtype bf16, 11008×4096, two alternated runs:
// with AVX-512's C = 5, 6 kernels too, N = 8 (passes of 6 and 2 over unblocked K, X of a
// 6-column pass from L2) ran 8.2-8.5 ms against 6.9-7.5 as passes of 4; N = 5 and 16 moved
// within the noise (5.4-6.5 against 5.9-7.0 ms, 10.1-12.2 against 11.0-13.1 ms).
const GemvLPMaxCols = 4

// GemvLPShapes are isa's low-precision GEMV kernels: GemvShapes up to GemvLPMaxCols columns.
func GemvLPShapes(isa string) []GemvShape {
	var out []GemvShape
	for _, s := range GemvShapes[isa] {
		if s.C <= GemvLPMaxCols {
			out = append(out, s)
		}
	}
	return out
}

// gemvLPFamily is the family of weights stored as e: the shapes of GemvLPShapes.
func gemvLPFamily(e vm.Elem) Family {
	return Family{
		File: "gemv" + e.String(),
		Desc: "gemvlp",
		Gen: func(m vm.Machine) {
			g, ok := m.(gemvMachine)
			if !ok {
				return
			}
			if _, ok := m.(vm.WidenMachine); !ok {
				return
			}
			for _, s := range GemvLPShapes(m.ISA()) {
				name := GemvLPFuncName(m.ISA(), e, s)
				m.Func(name, fmt.Sprintf("%s computes y = epi(W·X) for rows dense rows of %s W (stride ldw elements) and %d column(s) of an X panel, %d rows at a time.", name, e, s.C, s.R), GemvLPParams)
				genGemvBody(g, s, e)
			}
		},
		Table: func(isa, features string) string {
			id := strings.ToUpper(e.String()) + ident(isa)
			var b strings.Builder
			fmt.Fprintf(&b, "// gemv%sFeatures are the CPU features the gemv%[1]s kernels use.\nconst gemv%[1]sFeatures = %[2]s\n\n", id, features)
			fmt.Fprintf(&b, "// gemv%sKernels lists the generated %s GEMV kernels by column count (index C−1): rows per group, function.\nvar gemv%[1]sKernels = [gemvMaxCols]gemvLPGenKernel{\n", id, e)
			writeGemvKernels(&b, GemvLPShapes(isa), gemvSymbols(GemvLPShapes(isa), func(s GemvShape) string { return GemvLPFuncName(isa, e, s) }))
			return b.String()
		},
		// One kernel per ISA and dtype; it runs every N (passes of up to GemvMaxCols columns),
		// being the only kernel for such weights.
		Kernels: func(isa string) []Kernel {
			if len(GemvLPShapes(isa)) == 0 {
				return nil
			}
			syms := gemvSymbols(GemvLPShapes(isa), func(s GemvShape) string { return GemvLPFuncName(isa, e, s) })
			return []Kernel{{Kind: KindGEMV, Func: "gemvLPFamily", Symbols: syms, Format: "dense_" + e.String(), DType: e.String(),
				Lanes: lanesOf(isa), Rows: GemvUnitRows, MinN: 1, ExactN: true}}
		},
		Driver:    "asm/gemvlp.go (gemvlp_amd64.go, gemvlp_arm64.go register)",
		Reference: "ref.Dense on W widened (formats.DenseLP.ToDense)",
		Test:      "asm/gemvlp_test.go, dispatch/lowp_test.go",
	}
}

func init() {
	for _, e := range GemvLPElems {
		Register(gemvLPFamily(e))
	}
}
