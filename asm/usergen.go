package asm

import (
	"fmt"
	"regexp"
	"runtime"

	"github.com/sparsegen/sparsegen/formats"
)

// Kernels generated into a user's own package (DESIGN §5.11): `asmgen -pkg NAME` writes
// the assembly, stubs, manifests (typed Desc values) and a table of the generated
// functions; the package's init hands each descriptor with its functions to
// RegisterGenerated, which validates both and registers a Family that runs them through
// asm's own drivers and packers (N:M: nm_simd.go; CSR: csr.go; BSR: bsr_simd.go). The user package holds no
// driver code, and nothing it passes is trusted: the descriptor must describe a kernel
// kind asm has a driver for, on this GOARCH, with features and geometry asm checks, and
// every matrix is validated and packed in Go before a kernel runs.

// NMFunc is a generated N:M SpMM kernel (gen/kernels/nm.go genNMSpMM).
type NMFunc func(ival *float32, ipos *uint8, spr, gfull, keep, group, lastSlots, units, lastRows int, x *float32, y *float32, ldy, n, flags int, bias *float32, lo, hi float32)

// NMGemvFunc is a generated N:M GEMV kernel, N = 1 (gen/kernels/nm.go genNMGemv).
type NMGemvFunc func(vals *float32, bits *uint32, chunks, units int, x *float32, out *float32, consts *uint32, gap int)

// CSRTileFunc is a generated CSR tile kernel (gen/kernels/csr.go genCSRTile).
type CSRTileFunc func(vals *float32, offs *uint16, cnt *uint32, ngroups int, x *float32, y *float32, ldy int, flags int, bias *float32, lo, hi float32, tail int)

// BSRFunc is a generated BSR row-block kernel (gen/kernels/bsr.go genBSR).
type BSRFunc func(hdr *int32, kidx *int32, val *float32, units, urows, lastRows int, x *float32, ldx int, y *float32, ldy, n, flags int, bias *float32, lo, hi float32)

// NMGemvGeometry is what an N:M GEMV kernel was generated for: bits per position, 32-bit
// words per 16-slot chunk, passes per chunk and X-vector pairs per pass window. asm
// checks it against the layout it packs.
type NMGemvGeometry struct{ PB, Words, Passes, Tables int }

// GeneratedFuncs are the generated functions of one descriptor; which fields are set
// depends on the kernel kind the descriptor names:
//
//   - N:M SpMM (Format "nm", MaxN ≠ 1): NM;
//   - N:M GEMV (Format "nm", MaxN = 1): NMGemv and Gemv;
//   - CSR SpMM tiles (Format "csr"): CSR and CSRMasked, indexed by vectors per row u =
//     1 … Tile/Lanes (index 0 unused), full and with the last vector masked;
//   - a CSR kernel baked for one pattern (Format "csr", Desc.Pattern set): Baked;
//   - BSR row blocks of one block shape (Format "bsr"): BSR.
type GeneratedFuncs struct {
	NM             NMFunc
	NMGemv         NMGemvFunc
	Gemv           NMGemvGeometry
	CSR, CSRMasked []CSRTileFunc
	Baked          *BakedCSR
	BSR            BSRFunc
}

// generatedNameRE is the shape of a generated user kernel's name: a namespace, a dot,
// then the name grammar's characters (DESIGN §5.8). The dot keeps it apart from every
// name of sparsegen's own; no spaces, since calibration files separate fields by them.
var generatedNameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*\.[a-z0-9_]+$`)

// isaLanes is the float32 lanes per vector of each SIMD ISA.
var isaLanes = map[ISA]int{AVX2: 8, AVX512: 16, NEON: 4}

// isaBase is the least feature set a kernel of each ISA uses.
var isaBase = map[ISA]Feature{AVX2: FeatAVX2 | FeatFMA, AVX512: FeatAVX512F, NEON: FeatASIMD}

// isaAllowed is every feature a kernel of each ISA may declare.
var isaAllowed = map[ISA]Feature{
	AVX2:   FeatAVX2 | FeatFMA | FeatF16C,
	AVX512: FeatAVX2 | FeatFMA | FeatF16C | FeatAVX512F | FeatAVX512VL | FeatAVX512BW | FeatAVX512DQ,
	NEON:   FeatASIMD,
}

// RegisterGenerated registers a kernel generated into another package (asmgen -pkg): d is
// its descriptor from the generated manifest, f its generated functions, contract the
// ContractHash the package was generated against. It returns an error, and registers
// nothing, when the contract differs (regenerate), the name is taken or malformed, or d
// and f do not describe a kernel asm can drive on this GOARCH. unregister removes it
// again (tests).
func RegisterGenerated(contract string, d Desc, f GeneratedFuncs) (unregister func(), err error) {
	if err := checkGenerated(contract, &d, f); err != nil {
		return nil, fmt.Errorf("asm: kernel %s: %w", d.Name, err)
	}
	var fam Family
	switch d.Format {
	case "nm":
		fam, err = generatedNM(&d, f)
	case "csr":
		if d.Pattern != "" {
			fam = generatedBaked(&d, f)
		} else {
			fam, err = generatedCSR(&d, f)
		}
	case "bsr":
		fam, err = generatedBSR(&d, f)
	}
	if err != nil {
		return nil, fmt.Errorf("asm: kernel %s: %w", d.Name, err)
	}
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := registry[d.Name]; dup {
		return nil, fmt.Errorf("asm: kernel %s is registered already (two packages generated with the same -prefix?)", d.Name)
	}
	registry[d.Name] = fam
	return func() {
		regMu.Lock()
		defer regMu.Unlock()
		delete(registry, d.Name)
	}, nil
}

// checkGenerated validates a generated descriptor and its functions.
func checkGenerated(contract string, d *Desc, f GeneratedFuncs) error {
	if contract != ContractHash {
		return fmt.Errorf("generated against another sparsegen (contract %s, this build %s): run go generate again", contract, ContractHash)
	}
	if !generatedNameRE.MatchString(d.Name) {
		return fmt.Errorf("name %q is not <namespace>.<name>", d.Name)
	}
	if len(d.Symbols) == 0 {
		return fmt.Errorf("no symbols")
	}
	want := map[string]ISA{"amd64": AVX512, "arm64": NEON}[runtime.GOARCH]
	switch {
	case want == AVX512 && d.ISA != AVX512 && d.ISA != AVX2, want == NEON && d.ISA != NEON, want == Generic:
		return fmt.Errorf("ISA %v does not run on %s", d.ISA, runtime.GOARCH)
	}
	if d.Features&isaBase[d.ISA] != isaBase[d.ISA] || d.Features&^isaAllowed[d.ISA] != 0 {
		return fmt.Errorf("features %v do not fit ISA %v", d.Features, d.ISA)
	}
	if d.Lanes != isaLanes[d.ISA] {
		return fmt.Errorf("%d lanes, %v has %d", d.Lanes, d.ISA, isaLanes[d.ISA])
	}
	if d.DType == "" {
		d.DType = "float32"
	}
	if d.DType != "float32" {
		return fmt.Errorf("dtype %q (generated kernels are float32)", d.DType)
	}
	if d.MinN < 0 || d.MaxN != 0 && d.MaxN < max(d.MinN, 1) {
		return fmt.Errorf("N range [%d, %d]", d.MinN, d.MaxN)
	}
	if d.IndexBits != 0 || d.Bcast || d.ExactN || d.Format != "bsr" && (d.BlockR != 0 || d.BlockC != 0) {
		return fmt.Errorf("fields of another kernel kind are set")
	}
	if d.Pattern != "" {
		if d.Format != "csr" {
			return fmt.Errorf("a baked kernel is csr, not %q", d.Format)
		}
		return checkBaked(d, f)
	}
	if f.Baked != nil || d.PatternRows != 0 || d.PatternCols != 0 {
		return fmt.Errorf("Baked or a pattern shape is set on a kernel without a pattern")
	}
	switch d.Format {
	case "nm":
		if d.Keep == 0 && d.Group == 0 {
			if d.MaxN == 1 {
				return fmt.Errorf("an N:M GEMV kernel needs a pattern")
			}
		} else if d.Keep < 1 || d.Keep >= d.Group || d.Group > formats.MaxGroup {
			return fmt.Errorf("N:M pattern %d:%d out of range (need 1 ≤ keep < group ≤ %d)", d.Keep, d.Group, formats.MaxGroup)
		}
		if d.Rows != 1 && d.Rows != 2 && d.Rows != 4 && d.Rows != 8 {
			return fmt.Errorf("%d rows per unit (want 1, 2, 4 or 8)", d.Rows)
		}
		if d.MaxN == 1 {
			if f.NMGemv == nil || f.NM != nil || f.CSR != nil || f.CSRMasked != nil || f.BSR != nil {
				return fmt.Errorf("an N:M GEMV kernel takes NMGemv (and Gemv) only")
			}
			if !ChunkAligned(d.Keep, d.Group) || d.Tile != 0 {
				return fmt.Errorf("N:M GEMV for %d:%d, tile %d: no such layout", d.Keep, d.Group, d.Tile)
			}
			if g, want := f.Gemv, nmGemvGeometryOf(d.Keep, d.Group, d.Lanes); g != want {
				return fmt.Errorf("GEMV geometry %+v, this build packs %+v", g, want)
			}
			return nil
		}
		if f.NM == nil || f.NMGemv != nil || f.CSR != nil || f.CSRMasked != nil || f.BSR != nil {
			return fmt.Errorf("an N:M SpMM kernel takes NM only")
		}
		// The kernel shifts positions by log2(4·Tile): whole vectors, a power of two.
		if u := d.Tile / d.Lanes; d.Tile%d.Lanes != 0 || u < 1 || u > 8 || u&(u-1) != 0 {
			return fmt.Errorf("N:M tile %d is not 1, 2, 4 or 8 vectors of %d", d.Tile, d.Lanes)
		}
	case "csr":
		if d.Keep != 0 || d.Group != 0 {
			return fmt.Errorf("fields of another kernel kind are set")
		}
		if d.Rows != 1 && d.Rows != 2 && d.Rows != 4 {
			return fmt.Errorf("CSR row group %d (want 1, 2 or 4)", d.Rows)
		}
		u := d.Tile / d.Lanes
		if err := checkCSRTile(d.Tile); err != nil || d.Tile%d.Lanes != 0 || u > csrMaxU {
			return fmt.Errorf("CSR tile %d is not 1 to %d vectors of %d", d.Tile, csrMaxU, d.Lanes)
		}
		if f.NM != nil || f.NMGemv != nil || f.BSR != nil || len(f.CSR) != u+1 || len(f.CSRMasked) != u+1 {
			return fmt.Errorf("a CSR kernel of %d vectors takes CSR and CSRMasked of %d entries each", u, u+1)
		}
		for i := 1; i <= u; i++ {
			if f.CSR[i] == nil || f.CSRMasked[i] == nil {
				return fmt.Errorf("no CSR tile function for %d vectors", i)
			}
		}
	case "bsr":
		// One block shape in block mode (bsrBlockFamily): the kernel has Rows = BlockR
		// accumulator rows and takes blocks of BlockC columns; no any-shape kernel (that
		// needs a step kernel per height, as bsr_any has).
		if d.Keep != 0 || d.Group != 0 {
			return fmt.Errorf("fields of another kernel kind are set")
		}
		if d.BlockR < 1 || d.BlockC < 1 || d.BlockR > formats.MaxBlockDim || d.BlockC > formats.MaxBlockDim {
			return fmt.Errorf("BSR block %d×%d out of range (need 1 ≤ R, C ≤ %d; no any-shape kernel)", d.BlockR, d.BlockC, formats.MaxBlockDim)
		}
		if d.Rows != d.BlockR {
			return fmt.Errorf("BSR kernel of %d accumulator rows for %d-row blocks (want rows = block rows)", d.Rows, d.BlockR)
		}
		if u := d.Tile / d.Lanes; d.Tile%d.Lanes != 0 || u < 1 || u > bsrMaxTileVecs {
			return fmt.Errorf("BSR tile %d is not 1 to %d vectors of %d", d.Tile, bsrMaxTileVecs, d.Lanes)
		}
		if f.BSR == nil || f.NM != nil || f.NMGemv != nil || f.CSR != nil || f.CSRMasked != nil {
			return fmt.Errorf("a BSR kernel takes BSR only")
		}
	default:
		return fmt.Errorf("format %q: asm has drivers for generated nm, csr and bsr kernels", d.Format)
	}
	return nil
}

// bsrMaxTileVecs bounds a generated BSR kernel's tile: its vectors of X are registers,
// and no ISA has more than 32.
const bsrMaxTileVecs = 32

// nmGemvGeometryOf is the geometry the N:M GEMV layout of keep:group needs on a vector of
// lanes floats (gen/kernels/nm.go nmGemvGeometry, from the same contract constants).
func nmGemvGeometryOf(keep, group, lanes int) NMGemvGeometry {
	pb := nmPosBits(group)
	win := (lanes + keep - 1) / keep * group
	return NMGemvGeometry{PB: pb, Words: nmChunkSlots * pb / nmWordBits, Passes: nmChunkSlots / lanes, Tables: (win + 2*lanes - 1) / (2 * lanes)}
}

// generatedCSR registers a CSR family on generated tile functions through the CSR driver.
func generatedCSR(d *Desc, f GeneratedFuncs) (Family, error) {
	var tiles [csrGroups][2][csrMaxU + 1]csrTileFunc
	r := log2int(d.Rows)
	for u := 1; u < len(f.CSR); u++ {
		tiles[r][0][u] = csrTileFunc(f.CSR[u])
		tiles[r][1][u] = csrTileFunc(f.CSRMasked[u])
	}
	s := &csrSpec{Desc: *d, tiles: &tiles}
	return csrFamily(s), nil
}
