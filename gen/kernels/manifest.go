package kernels

import (
	"fmt"
	"strings"
)

// The manifest: every kernel that asm registers (an asm.Family) is described here, once,
// by the family description that generates its code. asmgen writes the descriptors, as Go
// values of type asm.Desc, beside each family's assembly (<file><ISA>Manifest in
// asm/<file>_<isa>_<goarch>.go); asm registers its families from them, and dispatch reads
// their typed fields, never the name. KernelName is the one function that spells a name,
// so a name appears literally in the generated files and `grep -rn <name>` finds its
// descriptor, its assembly (the .s header lists it) and its family description.

// Kind is the kind of a registered kernel: it selects the name grammar.
type Kind int

const (
	KindGEMM   Kind = iota + 1 // dense GEMM micro-kernel tile: gemm_<MR>x<NR>_<isa>
	KindGEMV                   // dense row-oriented GEMV: gemv_dense_<isa>, gemv_dense_<dtype>_<isa> (bf16, f16, i8 weights)
	KindCSR                    // CSR SpMM tile: spmm_csr_t<T>[_<dtype>]_<isa> (bf16, f16, i8 values)
	KindSpMV                   // CSR SpMV: spmv_csr_i<bits>[_bcast][_<dtype>]_<isa> (bf16, f16, i8 values)
	KindBSR                    // BSR row blocks: bsr<R>x<C>_t<T>_<isa>, bsr_any_<isa>
	KindNMSpMM                 // N:M SpMM: nm<Keep>of<Group>_r<UH>_t<T>[_<dtype>]_<isa>, nm_any_r<UH>_t<T>[_<dtype>]_<isa>
	KindNMGemv                 // N:M GEMV (N = 1): nm<Keep>of<Group>_gemv[_<dtype>]_<isa>
	KindBaked                  // CSR SpMM baked for one pattern (user packages): csr_baked_<stem>_t<T>_<isa>
)

// KindSpMVBitmap is a CSR SpMV over per-chunk bitmaps and packed values: spmv_bitmap_<isa>.
const KindSpMVBitmap = KindBaked + 1

// KindBSRGemv is a BSR GEMV (N = 1, and small N in passes), a block whole in vectors: bsr<R>x<C>_gemv[_<dtype>]_<isa>.
const KindBSRGemv = KindSpMVBitmap + 1

// KindSpMVDelta is a CSR SpMV over 8-bit column deltas: spmv_csr_d8[_<dtype>]_<isa>.
const KindSpMVDelta = KindBSRGemv + 1

// Kernel describes one registered kernel (asm.Family) of a family on one ISA. Zero means
// "any" for BlockR/BlockC and Keep/Group, and "depends on the matrix" for Tile and Rows.
type Kernel struct {
	Kind Kind
	// Func is the function of the family description that emits the kernel's code (in
	// gen/kernels/<File>.go), Symbols the generated functions the kernel calls.
	Func    string
	Symbols []string
	Format  string // the canonical format it packs: "dense", "csr", "bsr", "nm"
	DType   string // value type of the packed weights ("float32" when empty)
	Lanes   int    // float32 lanes per vector
	Tile    int    // columns of X per tile (NR for GEMM); 0: row-oriented or matrix-dependent
	Rows    int    // rows per unit: GEMM MR, CSR row group R, BSR height H, N:M UH, GEMV rows
	// BlockR×BlockC is the BSR block shape the kernel takes (0×0: any).
	BlockR, BlockC int
	// Keep:Group is the N:M pattern the kernel takes (0:0: any).
	Keep, Group int
	IndexBits   int  // SpMV column-index width (16 or 32)
	Bcast       bool // SpMV without gathers
	MinN, MaxN  int  // the N range dispatch uses it for (MaxN 0: unbounded)
	ExactN      bool // computes exactly N columns (no vector rounding of N in the cost model)
	// Bitmap: a SpMV over a bitmap per chunk of Lanes columns (KindSpMVBitmap).
	Bitmap bool
	// Delta: a SpMV over 8-bit column deltas, padded over long gaps (KindSpMVDelta).
	Delta bool
	// Baked, Pattern, PatternRows×PatternCols and CodeBytes (baked kernels only, bake.go):
	// the name part of the pattern, its formats.PatternHash, its shape and the generator's
	// estimate of the code per tile.
	Baked, Pattern           string
	PatternRows, PatternCols int
	CodeBytes                int64
	// Prefix (user packages only, user.go) namespaces the name: "<Prefix>.<name>", so a
	// kernel generated into another module never takes the name of one of sparsegen's.
	Prefix string
}

// KernelName spells the name of kernel k on isa: the family name asm registers, the key of
// the policy table, calibration files and tuning records, and what Kernel.Name() returns.
// DESIGN §5.8 gives the grammar.
func KernelName(isa string, k Kernel) string {
	if k.Prefix != "" {
		k0 := k
		k0.Prefix = ""
		return k.Prefix + "." + KernelName(isa, k0)
	}
	switch k.Kind {
	case KindGEMM:
		return fmt.Sprintf("gemm_%dx%d_%s", k.Rows, k.Tile, isa)
	case KindGEMV:
		if k.DType != "" && k.DType != "float32" {
			return "gemv_dense_" + k.DType + "_" + isa
		}
		return "gemv_dense_" + isa
	case KindCSR:
		if k.DType != "" && k.DType != "float32" {
			return fmt.Sprintf("spmm_csr_t%d_%s_%s", k.Tile, k.DType, isa)
		}
		return fmt.Sprintf("spmm_csr_t%d_%s", k.Tile, isa)
	case KindSpMV:
		b := ""
		if k.Bcast {
			b = "_bcast"
		}
		if k.DType != "" && k.DType != "float32" {
			b += "_" + k.DType
		}
		return fmt.Sprintf("spmv_csr_i%d%s_%s", k.IndexBits, b, isa)
	case KindBSR:
		dt := ""
		if k.DType != "" && k.DType != "float32" {
			dt = k.DType + "_"
		}
		if k.BlockR == 0 {
			return "bsr_any_" + dt + isa
		}
		return fmt.Sprintf("bsr%dx%d_t%d_%s%s", k.BlockR, k.BlockC, k.Tile, dt, isa)
	case KindNMSpMM:
		dt := ""
		if k.DType != "" && k.DType != "float32" {
			dt = "_" + k.DType
		}
		if k.Keep == 0 {
			return fmt.Sprintf("nm_any_r%d_t%d%s_%s", k.Rows, k.Tile, dt, isa)
		}
		return fmt.Sprintf("nm%dof%d_r%d_t%d%s_%s", k.Keep, k.Group, k.Rows, k.Tile, dt, isa)
	case KindNMGemv:
		if k.DType != "" && k.DType != "float32" {
			return fmt.Sprintf("nm%dof%d_gemv_%s_%s", k.Keep, k.Group, k.DType, isa)
		}
		return fmt.Sprintf("nm%dof%d_gemv_%s", k.Keep, k.Group, isa)
	case KindBaked:
		return fmt.Sprintf("csr_baked_%s_t%d_%s", k.Baked, k.Tile, isa)
	case KindSpMVBitmap:
		if strings.HasPrefix(k.Format, "nm") {
			return "nm_bitmap_" + k.DType + "_" + isa // the same kernel on an N:M W (nmBitmapKernel)
		}
		if k.DType != "" && k.DType != "float32" {
			return "spmv_bitmap_" + k.DType + "_" + isa
		}
		return "spmv_bitmap_" + isa
	case KindBSRGemv:
		if k.DType != "" && k.DType != "float32" {
			return fmt.Sprintf("bsr%dx%d_gemv_%s_%s", k.BlockR, k.BlockC, k.DType, isa)
		}
		return fmt.Sprintf("bsr%dx%d_gemv_%s", k.BlockR, k.BlockC, isa)
	case KindSpMVDelta:
		if k.DType != "" && k.DType != "float32" {
			return "spmv_csr_d8_" + k.DType + "_" + isa
		}
		return "spmv_csr_d8_" + isa
	}
	panic(fmt.Sprintf("kernels: no name grammar for kind %d", k.Kind))
}

// Source is the description file of family f, relative to the repository root.
func (f Family) Source() string {
	if f.Desc != "" {
		return "gen/kernels/" + f.Desc + ".go"
	}
	return "gen/kernels/" + f.File + ".go"
}

// ManifestVar is the Go name of the manifest asmgen writes for family f on isa.
func ManifestVar(f Family, isa string) string { return f.File + ident(isa) + "Manifest" }

// Manifest returns the Go source of family f's manifest on isa (package asm): a comment
// that traces each kernel from its name to its description, assembly, driver, reference
// and tests, and a []Desc with one descriptor per kernel. features is the Go expression of
// the CPU features the backend computed for the family's code on isa. It returns "" when f
// registers no kernels on isa.
func Manifest(f Family, isa, features string) string {
	return manifest(f, isa, features, "")
}

// manifest is Manifest with the package qualifier of asm's names (qual: "" inside asm,
// "asm." in a user package).
func manifest(f Family, isa, features, qual string) string {
	if f.Kernels == nil {
		return ""
	}
	ks := f.Kernels(isa)
	if len(ks) == 0 {
		return ""
	}
	v := ManifestVar(f, isa)
	goarch := "amd64"
	if isa == "neon" {
		goarch = "arm64"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "// %s describes the kernels asm registers from %s_%s_%s.s (DESIGN §5.8):\n", v, f.File, isa, goarch)
	fmt.Fprintf(&b, "//\n//   - description: %s\n", f.Source())
	fmt.Fprintf(&b, "//   - driver:      %s\n", f.Driver)
	fmt.Fprintf(&b, "//   - reference:   %s\n", f.Reference)
	fmt.Fprintf(&b, "//   - tests:       %s\n", f.Test)
	fmt.Fprintf(&b, "var %s = []%sDesc{\n", v, qual)
	for _, k := range ks {
		b.WriteString("\t{" + descFields(f, isa, features, k, qual) + "},\n")
	}
	b.WriteString("}\n")
	return b.String()
}

// AsmHeader is the comment asmgen puts under the "Code generated" line of f's assembly
// on isa: the description that produced it and, per registered kernel, its name and the
// functions it calls.
func AsmHeader(f Family, isa string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "// Description: %s, lowered for %s.\n", f.Source(), isa)
	if f.Kernels != nil {
		for _, k := range f.Kernels(isa) {
			fmt.Fprintf(&b, "// Kernel %s: %s\n", KernelName(isa, k), strings.Join(k.Symbols, " "))
		}
	}
	return b.String()
}

func descFields(f Family, isa, features string, k Kernel, qual string) string {
	dt := k.DType
	if dt == "" {
		dt = "float32"
	}
	var p []string
	add := func(format string, a ...any) { p = append(p, fmt.Sprintf(format, a...)) }
	add("Name: %q", KernelName(isa, k))
	syms := make([]string, len(k.Symbols))
	for i, s := range k.Symbols {
		syms[i] = fmt.Sprintf("%q", s)
	}
	add("Symbols: []string{%s}", strings.Join(syms, ", "))
	add("Source: %q", f.Source()+" "+k.Func)
	add("Format: %q", k.Format)
	add("ISA: %s%s", qual, ident(isa))
	add("Features: %s", features)
	add("DType: %q", dt)
	add("Lanes: %d", k.Lanes)
	nz := func(name string, v int) {
		if v != 0 {
			add("%s: %d", name, v)
		}
	}
	nz("Tile", k.Tile)
	nz("Rows", k.Rows)
	nz("BlockR", k.BlockR)
	nz("BlockC", k.BlockC)
	nz("Keep", k.Keep)
	nz("Group", k.Group)
	nz("IndexBits", k.IndexBits)
	if k.Bcast {
		add("Bcast: true")
	}
	if k.Bitmap {
		add("Bitmap: true")
	}
	if k.Delta {
		add("Delta: true")
	}
	nz("MinN", k.MinN)
	nz("MaxN", k.MaxN)
	if k.ExactN {
		add("ExactN: true")
	}
	if k.Pattern != "" {
		add("Pattern: %q", k.Pattern)
		add("PatternRows: %d, PatternCols: %d", k.PatternRows, k.PatternCols)
	}
	if k.CodeBytes != 0 {
		add("CodeBytes: %d", k.CodeBytes)
	}
	return strings.Join(p, ", ")
}
