package kernels

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/sparsegen/sparsegen/gen/vm"
)

// Kernels generated into a user's own package (asmgen -pkg, DESIGN §5.11). The families
// here lower the same descriptions as sparsegen's own (genNMSpMM, genNMGemv, genCSRTile,
// genBSR) for the patterns, tiles and block shapes a user asks for; what differs is the Go around them: the
// manifest qualifies asm's names (asm.Desc, asm.AVX512), and the table pairs each
// descriptor with its generated functions as an asm.GeneratedFuncs, which the user
// package hands to asm.RegisterGenerated. asm's drivers run them; the package holds no
// driver code.

// UserSelection is what a user package asks for (asmgen -families): N:M patterns, CSR
// tile widths (nil: the tiles sparsegen registers on each ISA) and BSR block shapes.
type UserSelection struct {
	NM       []NMPattern
	CSR      bool
	CSRTiles []int
	BSR      []BSRBlock
}

// BSRBlock is a BSR block shape, R rows × C columns.
type BSRBlock struct{ R, C int }

// UserBSRMaxDim bounds a user's block rows and columns: sparsegen's formats.MaxBlockDim
// (the registers bound R well below it; see BSRFits).
const UserBSRMaxDim = 64

// UserISAs are the ISAs a user package may ask for.
var UserISAs = []string{"avx512", "avx2", "neon"}

// ParseUserFamilies reads -families for a user package: a comma-separated list of
// nm:<keep>:<group> (1 ≤ keep < group ≤ 16), csr or csr:<T>[:<T>…] (tile widths in
// floats) and bsr:<R>x<C> (a block shape, 1 ≤ R, C ≤ UserBSRMaxDim; whether it fits the
// registers of each ISA asked for is UserFamilies' to say). Every error is one line that
// names the entry.
func ParseUserFamilies(s string) (UserSelection, error) {
	var sel UserSelection
	seen := map[string]bool{}
	for _, e := range strings.Split(s, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		if seen[e] {
			return sel, fmt.Errorf("-families: %q is listed twice", e)
		}
		seen[e] = true
		parts := strings.Split(e, ":")
		switch parts[0] {
		case "nm":
			if len(parts) != 3 {
				return sel, fmt.Errorf("-families: %q: an N:M family is nm:<keep>:<group>, e.g. nm:3:8", e)
			}
			k, err1 := strconv.Atoi(parts[1])
			g, err2 := strconv.Atoi(parts[2])
			if err1 != nil || err2 != nil {
				return sel, fmt.Errorf("-families: %q: keep and group must be integers", e)
			}
			if g < 2 || g > 16 || k < 1 || k >= g {
				return sel, fmt.Errorf("-families: %q: pattern out of range (need 1 ≤ keep < group ≤ 16)", e)
			}
			sel.NM = append(sel.NM, NMPattern{k, g})
		case "csr":
			if sel.CSR {
				return sel, fmt.Errorf("-families: %q: csr is listed twice", e)
			}
			sel.CSR = true
			for _, t := range parts[1:] {
				v, err := strconv.Atoi(strings.TrimPrefix(t, "t"))
				if err != nil || v < 4 || v > 128 || v%4 != 0 {
					return sel, fmt.Errorf("-families: %q: tile %q is not a width in floats, a multiple of 4 in [4, 128]", e, t)
				}
				sel.CSRTiles = append(sel.CSRTiles, v)
			}
		case "bsr":
			if len(parts) != 2 {
				return sel, fmt.Errorf("-families: %q: a BSR family is bsr:<R>x<C>, e.g. bsr:3x4", e)
			}
			rs, cs, ok := strings.Cut(parts[1], "x")
			r, err1 := strconv.Atoi(rs)
			c, err2 := strconv.Atoi(cs)
			if !ok || err1 != nil || err2 != nil {
				return sel, fmt.Errorf("-families: %q: a BSR family is bsr:<R>x<C>, e.g. bsr:3x4", e)
			}
			if r < 1 || c < 1 || r > UserBSRMaxDim || c > UserBSRMaxDim {
				return sel, fmt.Errorf("-families: %q: block %d×%d out of range (need 1 ≤ R, C ≤ %d)", e, r, c, UserBSRMaxDim)
			}
			if slices.Contains(sel.BSR, BSRBlock{r, c}) {
				return sel, fmt.Errorf("-families: %q: block %d×%d is listed twice", e, r, c)
			}
			sel.BSR = append(sel.BSR, BSRBlock{r, c})
		default:
			return sel, fmt.Errorf("-families: unknown family %q (want nm:<keep>:<group>, csr[:<tile>…] or bsr:<R>x<C>)", e)
		}
	}
	if len(sel.NM) == 0 && !sel.CSR && len(sel.BSR) == 0 {
		return sel, fmt.Errorf("-families: nothing to generate (e.g. -families nm:3:8,csr)")
	}
	return sel, nil
}

// UserFamilies returns the families of a user selection: "nm" (every N:M pattern), "csr"
// and "bsr" (every block shape). prefix namespaces their names (Kernel.Prefix). It checks that every kernel fits
// the registers of every ISA in isas and returns an error naming the first that does not.
func UserFamilies(sel UserSelection, prefix string, isas []string) ([]Family, error) {
	var out []Family
	if len(sel.NM) > 0 {
		out = append(out, userNM(sel.NM, prefix))
	}
	if sel.CSR {
		for _, isa := range isas {
			if _, err := userCSRKernels(isa, sel.CSRTiles); err != nil {
				return nil, err
			}
		}
		out = append(out, userCSR(sel.CSRTiles, prefix))
	}
	if len(sel.BSR) > 0 {
		for _, isa := range isas {
			for _, b := range sel.BSR {
				if _, err := userBSRShape(isa, b); err != nil {
					return nil, err
				}
			}
		}
		out = append(out, userBSR(sel.BSR, prefix))
	}
	return out, nil
}

const (
	userDriver = "asm.RegisterGenerated (sparsegen asm/usergen.go) on asm's drivers"
	userTest   = "the generated sparsegen_test.go of this package"
)

// userGemvRows is the GEMV row count per unit, as sparsegen's own GEMV kernels use.
var userGemvRows = map[string]int{"avx512": 4, "avx2": 2, "neon": 2}

// userGemv returns the N = 1 kernel of pattern p on isa, if it has one: ChunkAligned
// patterns whose window tables fit the registers (sparsegen's own list on NEON, whose
// backend reserves registers for the constants).
func userGemv(isa string, p NMPattern) (NMGemv, bool) {
	if !(p.Keep >= 1 && 16%p.Keep == 0 && p.Group > p.Keep && p.Group <= 16 && p.Group&(p.Group-1) == 0) {
		return NMGemv{}, false
	}
	g := NMGemv{p.Keep, p.Group, userGemvRows[isa]}
	if isa == "neon" {
		for _, b := range NMGemvPatterns[isa] {
			if b.Keep == p.Keep && b.Group == p.Group {
				return b, true
			}
		}
		return NMGemv{}, false
	}
	_, _, _, tables := nmGemvGeometry(g, lanesOf(isa))
	if 3*tables+6+g.UH > vecRegsOf(isa)-2 {
		return NMGemv{}, false
	}
	return g, true
}

func userNM(pats []NMPattern, prefix string) Family {
	return Family{
		File: "nm",
		Gen: func(m vm.Machine) {
			nm := m.(vm.NMMachine)
			for _, p := range pats {
				for _, s := range NMShapes[m.ISA()] {
					genNMSpMM(nm, p, s, vm.ElemF32)
				}
			}
			for _, p := range pats {
				if g, ok := userGemv(m.ISA(), p); ok {
					genNMGemv(nm, g, vm.ElemF32)
				}
			}
		},
		Table: func(isa, features string) string {
			id := ident(isa)
			var b strings.Builder
			fmt.Fprintf(&b, "// nm%sFuncs holds, entry by entry, the generated functions of nm%[1]sManifest.\nvar nm%[1]sFuncs = []asm.GeneratedFuncs{\n", id)
			for _, p := range pats {
				for _, s := range NMShapes[isa] {
					fmt.Fprintf(&b, "\t{NM: %s},\n", NMFuncName(isa, p, s))
				}
			}
			for _, p := range pats {
				if g, ok := userGemv(isa, p); ok {
					pb, words, passes, tables := nmGemvGeometry(g, lanesOf(isa))
					fmt.Fprintf(&b, "\t{NMGemv: %s, Gemv: asm.NMGemvGeometry{PB: %d, Words: %d, Passes: %d, Tables: %d}},\n", NMGemvFuncName(isa, g), pb, words, passes, tables)
				}
			}
			b.WriteString("}\n")
			return b.String()
		},
		Kernels: func(isa string) []Kernel {
			var gemvs []NMGemv
			for _, p := range pats {
				if g, ok := userGemv(isa, p); ok {
					gemvs = append(gemvs, g)
				}
			}
			return nmKernels(isa, pats, gemvs, prefix, vm.ElemF32)
		},
		Driver:    userDriver,
		Reference: "ref.NM (sparsegen ref/ref.go)",
		Test:      userTest,
	}
}

// userCSRKernels lists the CSR kernels of a user package on isa: sparsegen's own tiles
// (tiles nil), or the given widths with the smallest row group R whose R·U chains cover
// the FMA latency (≥ 8) and fit the registers, else the largest that fits.
func userCSRKernels(isa string, tiles []int) ([]CSRKernel, error) {
	if tiles == nil {
		return CSRKernels[isa], nil
	}
	L := lanesOf(isa)
	var out []CSRKernel
	for _, t := range tiles {
		if t%L != 0 || t/L > CSRMaxU {
			return nil, fmt.Errorf("-families: csr tile %d is not 1 to %d vectors of %d floats on %s", t, CSRMaxU, L, isa)
		}
		r := csrRowGroup(CSRGroups, t/L, isa)
		if r == 0 {
			return nil, fmt.Errorf("-families: csr tile %d does not fit the %s registers", t, isa)
		}
		out = append(out, CSRKernel{T: t, R: r, MinN: 2})
	}
	return out, nil
}

func userCSR(tiles []int, prefix string) Family {
	// The (R, u) tile functions the kernels of isa call.
	need := func(isa string) [][2]int {
		ks, _ := userCSRKernels(isa, tiles)
		seen := map[[2]int]bool{}
		var out [][2]int
		for _, r := range CSRGroups {
			for u := 1; u <= CSRMaxU; u++ {
				for _, k := range ks {
					if k.R == r && u <= k.T/lanesOf(isa) && !seen[[2]int{r, u}] {
						seen[[2]int{r, u}] = true
						out = append(out, [2]int{r, u})
					}
				}
			}
		}
		return out
	}
	return Family{
		File: "csr",
		Gen: func(m vm.Machine) {
			for _, ru := range need(m.ISA()) {
				genCSRTile(m, ru[0], ru[1], false)
				genCSRTile(m, ru[0], ru[1], true)
			}
		},
		Table: func(isa, features string) string {
			id := ident(isa)
			ks, _ := userCSRKernels(isa, tiles)
			var b strings.Builder
			fmt.Fprintf(&b, "// csr%sFuncs holds, entry by entry, the generated tile functions of csr%[1]sManifest\n// (index: vectors per row).\nvar csr%[1]sFuncs = []asm.GeneratedFuncs{\n", id)
			for _, k := range ks {
				full, masked := []string{""}, []string{""}
				for u := 1; u <= k.T/lanesOf(isa); u++ {
					full = append(full, CSRFuncName(isa, k.R, u, false))
					masked = append(masked, CSRFuncName(isa, k.R, u, true))
				}
				fmt.Fprintf(&b, "\t{CSR: []asm.CSRTileFunc{%s},\n\t\tCSRMasked: []asm.CSRTileFunc{%s}},\n", goFuncList(full), goFuncList(masked))
			}
			b.WriteString("}\n")
			return b.String()
		},
		Kernels: func(isa string) []Kernel {
			L := lanesOf(isa)
			ks, _ := userCSRKernels(isa, tiles)
			var out []Kernel
			for _, c := range ks {
				var syms []string
				for u := 1; u <= c.T/L; u++ {
					syms = append(syms, CSRFuncName(isa, c.R, u, false), CSRFuncName(isa, c.R, u, true))
				}
				out = append(out, Kernel{Kind: KindCSR, Func: "genCSRTile", Symbols: syms, Format: "csr", Lanes: L,
					Tile: c.T, Rows: c.R, MinN: c.MinN, MaxN: c.MaxN, Prefix: prefix})
			}
			return out
		},
		Driver:    userDriver,
		Reference: "ref.CSR (sparsegen ref/ref.go)",
		Test:      userTest,
	}
}

// userBSRShape is the kernel of a user's R×C block on isa: H = R accumulator rows, block
// mode (CW = C), and the tile of sparsegen's own kernel of that shape where it ships one;
// else the fewest vectors U whose H·U chains cover the FMA latency (≥ 8) within
// sparsegen's widest BSR tile on isa, or the most that fit the registers (BSRFits).
func userBSRShape(isa string, b BSRBlock) (BSRShape, error) {
	maxU := 0
	for _, s := range BSRShapes[isa] {
		if s.H == b.R && s.CW == b.C {
			return s, nil
		}
		maxU = max(maxU, s.U)
	}
	s := BSRShape{H: b.R, CW: b.C}
	for u := 1; u <= maxU && BSRFits(isa, BSRShape{H: b.R, CW: b.C, U: u}); u++ {
		s.U = u
		if b.R*u >= 8 {
			break
		}
	}
	if s.U == 0 {
		return s, fmt.Errorf("-families: bsr:%dx%d does not fit the %s registers (%d accumulator rows; see BSRFits)", b.R, b.C, isa, b.R)
	}
	return s, nil
}

func userBSR(blocks []BSRBlock, prefix string) Family {
	shapes := func(isa string) []BSRShape {
		var out []BSRShape
		for _, b := range blocks {
			s, _ := userBSRShape(isa, b)
			out = append(out, s)
		}
		return out
	}
	return Family{
		File: "bsr",
		Gen: func(m vm.Machine) {
			for _, s := range shapes(m.ISA()) {
				genBSR(m.(vm.NMMachine), s)
			}
		},
		Table: func(isa, features string) string {
			id := ident(isa)
			var b strings.Builder
			fmt.Fprintf(&b, "// bsr%sFuncs holds, entry by entry, the generated functions of bsr%[1]sManifest.\nvar bsr%[1]sFuncs = []asm.GeneratedFuncs{\n", id)
			for _, s := range shapes(isa) {
				fmt.Fprintf(&b, "\t{BSR: %s},\n", BSRFuncName(isa, s))
			}
			b.WriteString("}\n")
			return b.String()
		},
		Kernels: func(isa string) []Kernel {
			L := lanesOf(isa)
			var ks []Kernel
			for i, s := range shapes(isa) {
				ks = append(ks, Kernel{Kind: KindBSR, Func: "genBSR", Symbols: []string{BSRFuncName(isa, s)}, Format: "bsr",
					Lanes: L, Tile: s.U * L, Rows: s.H, BlockR: blocks[i].R, BlockC: blocks[i].C, Prefix: prefix})
			}
			return ks
		},
		Driver:    userDriver,
		Reference: "ref.BSR (sparsegen ref/ref.go)",
		Test:      userTest,
	}
}

// UserManifest is Manifest for a user package: asm's names qualified by "asm.".
func UserManifest(f Family, isa, features string) string { return manifest(f, isa, features, "asm.") }
