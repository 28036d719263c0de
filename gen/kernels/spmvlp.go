package kernels

import (
	"fmt"
	"strings"

	"github.com/sparsegen/sparsegen/gen/vm"
)

// CSR SpMV over low-precision values (SpMVLP): the SpMV of spmv.go with the values stored as
// bf16, fp16 or int8 and each value vector widened to float32 as it is loaded
// (vm.WidenMachine): on x86 (vm.BlendMachine) the gather-free body (genSpMVDiagBody: one FMA
// of x[idx] broadcast per entry against the chunk's widened weights, X in blocks of 4096
// columns), elsewhere the gather body (genSpMVBody); the reduction and the epilogue are the
// float32 kernels'. At N = 1 a CSR product is bound by its bytes per nonzero: 16-bit
// indices and 2-byte values make 4 (int8: 3) instead of 6. Differences from the float32
// kernels:
//
//   - vals is a byte pointer; the value stream, like the index stream, is padded by one
//     vector of zeros, so every widening load may read a whole vector (AVX2 has no masked
//     8- or 16-bit loads). The masked last chunk of a row clears the value lanes past the
//     row (vm.WidenMachine.LoadWidenMask): they belong to the next row and may be ±Inf.
//   - int8 (symmetric, weight-only quantisation, one scale per row): y = scale[row]·Σ q·x,
//     the product one rounding, before bias, old Y and clamp. bf16 and fp16 kernels take
//     scale and ignore it.
//
// Only 16-bit column indices (K ≤ 65536, or any K in blocks on x86): low precision is for
// the decode shapes; the driver runs other matrices on the pure-Go kernel.

// SpMVLPParams is the signature of every low-precision SpMV kernel.
var SpMVLPParams = []vm.Param{
	{Name: "vals", Kind: vm.PtrU8}, {Name: "idx", Kind: vm.PtrU16}, {Name: "cnt", Kind: vm.PtrU32},
	{Name: "nrows", Kind: vm.Int}, {Name: "x", Kind: vm.PtrF32}, {Name: "y", Kind: vm.PtrF32},
	{Name: "ldy", Kind: vm.Int}, {Name: "flags", Kind: vm.Int}, {Name: "bias", Kind: vm.PtrF32},
	{Name: "scale", Kind: vm.PtrF32}, {Name: "lo", Kind: vm.F32}, {Name: "hi", Kind: vm.F32},
}

// SpMVLPElems are the stored types with a family each (file spmv<elem>).
var SpMVLPElems = []vm.Elem{vm.ElemBF16, vm.ElemF16, vm.ElemI8}

// SpMVLPFuncName names the kernel on isa for values stored as e (16-bit indices).
func SpMVLPFuncName(isa string, e vm.Elem) string {
	return fmt.Sprintf("spmv%s%sI16", strings.ToUpper(e.String()), ident(isa))
}

// spmvLPFamily is the family of values stored as e: one gather kernel per ISA with gathers
// (vm.GatherMachine) and widening loads.
func spmvLPFamily(e vm.Elem) Family {
	return Family{
		File: "spmv" + e.String(),
		Desc: "spmvlp",
		Gen: func(m vm.Machine) {
			g, ok := m.(vm.GatherMachine)
			if !ok {
				return
			}
			if _, ok := m.(vm.WidenMachine); !ok {
				return
			}
			name := SpMVLPFuncName(m.ISA(), e)
			m.Func(name, fmt.Sprintf("%s computes y = epi(W·x) for nrows packed CSR rows of %s values with 16-bit column indices.", name, e), SpMVLPParams)
			if b, ok := m.(vm.BlendMachine); ok {
				genSpMVDiagBody(b, e, indexCols(b, 2))
				return
			}
			genSpMVBody(g, 2, e)
		},
		Table: func(isa, features string) string {
			id := strings.ToUpper(e.String()) + ident(isa)
			var b strings.Builder
			fmt.Fprintf(&b, "// spmv%sFeatures are the CPU features the spmv%[1]s kernel uses.\nconst spmv%[1]sFeatures = %[2]s\n\n", id, features)
			fmt.Fprintf(&b, "// spmv%sKernel is the generated %s SpMV kernel (16-bit indices).\nvar spmv%[1]sKernel spmvLPFunc = %[3]s\n\n", id, e, SpMVLPFuncName(isa, e))
			fmt.Fprintf(&b, "// spmv%sGatherFree: the kernel is the gather-free one, which reads X in column blocks.\nconst spmv%[1]sGatherFree = %[2]v\n", id, isa != "neon")
			return b.String()
		},
		// One kernel per ISA and dtype, for N = 1; the CSRLP tiles (csrlp.go) take N ≥ 2.
		Kernels: func(isa string) []Kernel {
			return []Kernel{{Kind: KindSpMV, Func: "spmvLPFamily", Symbols: []string{SpMVLPFuncName(isa, e)}, Format: "csr_" + e.String(),
				DType: e.String(), Lanes: lanesOf(isa), Rows: 1, IndexBits: 16, MinN: 1, MaxN: 1}}
		},
		Driver:    "asm/spmv.go, asm/spmvlp.go (spmvlp_amd64.go, spmvlp_arm64.go register)",
		Reference: "ref.CSR on W widened (formats.CSRLP.ToCSR)",
		Test:      "asm/spmvlp_test.go, dispatch/lowp_test.go",
	}
}

func init() {
	for _, e := range SpMVLPElems {
		Register(spmvLPFamily(e))
	}
}
