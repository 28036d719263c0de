package kernels

import (
	"fmt"
	"strings"
)

// The contract between the generated kernels and their Go drivers in asm/: every constant
// both sides need is defined here, once, and asmgen writes it into asm/contract.go
// (ContractFile), so a change here reaches the drivers by regenerating and never only at
// run time on hardware with that ISA.

// The epilogue flags: one vocabulary for every generated kernel that fuses the epilogue
// (GEMM, GEMV, CSR tiles, SpMV, BSR, N:M SpMM). The store of a row applies, in ref's order,
// sum, bias, old Y, activation:
const (
	EpiLoadY = 1 // start from, or add, Y's current value (a later K block, or Accumulate)
	EpiBias  = 2 // add bias[row]
	EpiClamp = 4 // clamp to [lo, hi] (ReLU is lo = 0, hi = +Inf); MAX/MIN order keeps NaN
	EpiReLU  = 8 // max(v, 0) with NaN kept (the GEMM kernel only; others clamp)
)

// NMChunkSlots is the number of slots in one chunk of the N:M GEMV layout (asm/nm.go
// NMLayout.Bits/ValChunks), NMWordBits the width of a word of packed positions, and
// NMGemvConstVecs the vectors of the consts table per pass (shift, base, mask, select).
const (
	NMChunkSlots    = 16
	NMWordBits      = 32
	NMGemvConstVecs = 4
)

// NMPosBits is the width of a packed position in the N:M GEMV layout for group.
func NMPosBits(group int) int {
	if group > 4 {
		return 4
	}
	return 2
}

// GemvMaxCols is the widest GEMV kernel of any ISA, in columns of X (each ISA has one kernel
// per C = 1..its widest, GemvShapes).
const GemvMaxCols = 6

// GemvMaxN is the widest N range a float32 GEMV family declares to dispatch
// (GemvMaxNOf: AVX-512's): N above its widest kernel runs as passes of it over each
// L2-resident chunk of W (asm/gemv.go), W read from memory once; at N = 16 the GEMM's
// register tiles already win on 11008×4096.
const GemvMaxN = 16

// GemvUnitRows is the GEMV driver's work unit in rows: a multiple of every kernel's row group.
const GemvUnitRows = 4

// ContractFile is the name of the generated contract file in asm/.
const ContractFile = "contract.go"

// Contract returns the body (package asm, after the header) of asm/contract.go.
func Contract() string {
	var b strings.Builder
	b.WriteString(`// The constants the generated kernels and their Go drivers share, written from
// gen/kernels/contract.go (and the family descriptions it names) so that neither side
// copies them by hand.

// Epilogue flags of every generated kernel's store (gen/kernels.EpiLoadY …).
const (
`)
	fmt.Fprintf(&b, "\tepiLoadY = %d // start from, or add, Y's current value\n", EpiLoadY)
	fmt.Fprintf(&b, "\tepiBias  = %d // add bias[row]\n", EpiBias)
	fmt.Fprintf(&b, "\tepiClamp = %d // clamp to [lo, hi]\n", EpiClamp)
	fmt.Fprintf(&b, "\tepiReLU  = %d // max(v, 0), NaN kept (GEMM only)\n", EpiReLU)
	b.WriteString(")\n\n")
	fmt.Fprintf(&b, "// csrOffScale is the unit of the CSR tiles' 16-bit panel offsets in bytes (gen/kernels.CSROffScale).\nconst csrOffScale = %d\n\n", CSROffScale)
	fmt.Fprintf(&b, "// csrMaxU is the widest CSR tile in vectors (gen/kernels.CSRMaxU); tile tables are indexed 0..csrMaxU.\nconst csrMaxU = %d\n\n", CSRMaxU)
	fmt.Fprintf(&b, "// csrGroups is the number of CSR row-group heights generated (gen/kernels.CSRGroups: %v).\nconst csrGroups = %d\n\n", CSRGroups, len(CSRGroups))
	fmt.Fprintf(&b, "// bakedLayout is the version of the baked CSR kernels' value order and panel (gen/kernels.BakedLayout).\nconst bakedLayout = %d\n\n", BakedLayout)
	fmt.Fprintf(&b, "// gemvMaxCols is the widest GEMV kernel in columns (gen/kernels.GemvMaxCols): a call runs\n// N in passes of up to gemvMaxCols.\nconst gemvMaxCols = %d\n\n", GemvMaxCols)
	fmt.Fprintf(&b, "// gemvMaxN is the N range the float32 GEMV families declare to dispatch\n// (gen/kernels.GemvMaxN; they run any N).\nconst gemvMaxN = %d\n\n", GemvMaxN)
	fmt.Fprintf(&b, "// gemvUnitRows is the GEMV work unit in rows (gen/kernels.GemvUnitRows).\nconst gemvUnitRows = %d\n\n", GemvUnitRows)
	b.WriteString("// The N:M GEMV layout (gen/kernels.NMChunkSlots, NMWordBits, NMGemvConstVecs, NMPosBits).\nconst (\n")
	fmt.Fprintf(&b, "\tnmChunkSlots    = %d // slots per chunk\n", NMChunkSlots)
	fmt.Fprintf(&b, "\tnmWordBits      = %d // bits per word of packed positions\n", NMWordBits)
	fmt.Fprintf(&b, "\tnmGemvConstVecs = %d // consts vectors per pass: shift, base, mask, select\n", NMGemvConstVecs)
	fmt.Fprintf(&b, "\tnmGemvSegments  = %d // units a GEMV step runs side by side, gap units apart\n", NMGemvSegments)
	b.WriteString(")\n\n")
	b.WriteString("// nmPosBits is the width of a packed position for group ≤ 16 (gen/kernels.NMPosBits).\nfunc nmPosBits(group int) int {\n\treturn [...]int{")
	for g := 0; g <= 16; g++ {
		if g > 0 {
			b.WriteString(", ")
		}
		fmt.Fprint(&b, NMPosBits(g))
	}
	b.WriteString("}[group]\n}\n")
	return b.String()
}
