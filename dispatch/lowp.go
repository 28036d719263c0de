package dispatch

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/sparsegen/sparsegen/asm"
	"github.com/sparsegen/sparsegen/formats"
)

// lpWeights is what compileLP, Candidates and RangeOf know of a low-precision W before
// choosing: its dtype and packing format, and the families that may run it.
type lpWeights struct {
	dt     formats.DType
	format string // asm.LPFormat, asm.CSRLPFormat, asm.BSRLPFormat or asm.NMLPFormat of dt
	kind   string // "dense", "CSR", "BSR" or "N:M", for messages
	kern   string // the kernels' kind, for Describe
	widen  string // how a caller widens W, for messages
	m, k   int
	br, bc int   // a BSR W's block shape (0×0 otherwise)
	stored int64 // values W stores
	// keep:group is an N:M W's pattern (formats.NMLP; 0:0 otherwise): a family of another
	// pattern, or a GEMV where the pattern has no aligned chunks, does not take W.
	keep, group int
	// cands are the families of W's format this CPU runs under the ISA cap that take W
	// (16-bit SpMV indices need K ≤ 65536; a BSR block family W's block shape, bsr_any
	// R ≤ asm.BSRMaxStepRows), in registry order: nothing else may run W but blockCands.
	cands []asm.Family
	// block is, for a dense W, W regrouped in 8×1 blocks of its own dtype
	// (formats.BSRLPFromDenseLP: every stored value as it is, nothing widened), and
	// blockCands the SIMD BSR families of that dtype that run under the cap and take it
	// (bsr8x1_t<T>_<dtype>_<isa>, bsr_any_<dtype>_<isa>); nil otherwise.
	block      *target
	blockCands []asm.Family
}

// A dense bf16 or fp16 W runs from N = denseLPBlockMinN on, on AVX-512, as 8×1 blocks of
// its dtype on the BSR kernel (each weight widened as it is broadcast against whole rows
// of X, no X packing): the GEMV's passes of 4 columns re-read W once per pass. Zen 5,
// one thread, bert shapes (768×768, 3072×768, 768×3072), GEMV → bsr8x1_t32: bf16 at
// N = 64 0.49 → 0.40, 1.93 → 1.67, 2.40 → 1.96 ms; N = 128 1.04 → 0.73, 3.59 → 2.92,
// 4.70 → 3.49 ms (float32's bsr_any 0.87, 3.22, 3.64); fp16 at N = 64 0.57 → 0.53,
// 1.90 → 1.75, 2.42 → 1.89 ms. At N = 49 (2048×512) the GEMV still won (bf16 0.66
// against 0.73, fp16 0.67 against 1.03 ms), and on AVX2 (Zen 5, AVX-512 off) bsr8x1_t8
// lost at every bert N from 32 to 512 (fp16 up to 1.7×), so neither AVX2 nor int8 (whose
// per-weight scale made it 1.3–1.8× slower at N = 128) takes it by default; the tuner
// times it everywhere (Candidates). 56 is planRanges' edge of the range holding 64.
const (
	denseLPBlockR, denseLPBlockC = 8, 1
	denseLPBlockMinN             = 56
	// denseLPBlockTuneMinN: below it Candidates leaves the regrouping out (a copy of W the
	// tuner would pack for nothing: at N ≤ 16 the GEMV's passes measured 1.3–1.7× faster,
	// bf16 11008×4096 at N = 8 and 16, and at N = 1 a 32-column tile runs one column).
	denseLPBlockTuneMinN = 17
)

// lpCand is a family and the packing it runs: W as given, or W regrouped (lpWeights.block).
type lpCand struct {
	fam asm.Family
	tgt target
}

// lpOf returns what W's type says of a low-precision W (dtype, packing format, messages,
// stored values), without its candidates; ok is false when W is not a formats.DenseLP,
// formats.CSRLP, formats.BSRLP or formats.NMLP.
func lpOf(w formats.Matrix) (l *lpWeights, ok bool) {
	l = &lpWeights{}
	switch w := w.(type) {
	case *formats.DenseLP:
		l.dt, l.format, l.kind, l.kern, l.widen = w.DType, asm.LPFormat(w.DType), "dense", "GEMV", "DenseLP.ToDense"
		l.stored = int64(w.Rows) * int64(w.Cols)
	case *formats.CSRLP:
		l.dt, l.format, l.kind, l.kern, l.widen = w.DType, asm.CSRLPFormat(w.DType), "CSR", "SpMV or SpMM", "CSRLP.ToCSR"
		l.stored = w.Stored()
	case *formats.BSRLP:
		l.dt, l.format, l.kind, l.kern, l.widen = w.DType, asm.BSRLPFormat(w.DType), "BSR", "BSR", "BSRLP.ToBSR"
		l.stored, l.br, l.bc = w.Stored(), w.R, w.C
	case *formats.NMLP:
		l.dt, l.format, l.kind, l.kern, l.widen = w.DType, asm.NMLPFormat(w.DType), "N:M", "GEMV or SpMM", "NMLP.ToNM"
		l.stored, l.keep, l.group = w.Stored(), w.Keep, w.Group
	default:
		return nil, false
	}
	l.m, l.k = w.Shape()
	return l, true
}

// lowPrecision returns W's lpWeights with the candidates under the ISA cap; ok is false
// when W is not a formats.DenseLP, formats.CSRLP, formats.BSRLP or formats.NMLP.
func lowPrecision(w formats.Matrix, host CPU, isa asm.ISA) (l *lpWeights, ok bool) {
	if l, ok = lpOf(w); !ok {
		return nil, false
	}
	for _, f := range asm.Families() {
		if f.Format == l.format && host.CanRun(f, isa) && l.takes(f) {
			l.cands = append(l.cands, f)
		}
	}
	if l.kind == "dense" {
		t := target{format: asm.BSRLPFormat(l.dt), r: denseLPBlockR, c: denseLPBlockC, stored: l.stored}
		for _, f := range asm.Families() {
			if f.ISA != asm.Generic && host.CanRun(f, isa) && familyTakes(f, t) {
				l.blockCands = append(l.blockCands, f)
			}
		}
		if len(l.blockCands) > 0 {
			l.block = &t
		}
	}
	return l, true
}

// ranked lists the (family, packing) pairs that run all of range r, the default's choice
// first: covering's order on W as given (asIs), and the block families on W regrouped
// (widest ISA first, then the 8×1 family before bsr_any) after them, or first where
// blockPays.
func (l *lpWeights) ranked(r nRange, asIs target, goarch string) []lpCand {
	var out, blocks []lpCand
	for _, f := range l.covering(r, goarch) {
		out = append(out, lpCand{f, asIs})
	}
	for _, f := range l.blockCands {
		if coversRange(f, r) {
			blocks = append(blocks, lpCand{f, *l.block})
		}
	}
	slices.SortStableFunc(blocks, func(a, b lpCand) int {
		if isaRank(a.fam.ISA, goarch) != isaRank(b.fam.ISA, goarch) {
			return isaRank(b.fam.ISA, goarch) - isaRank(a.fam.ISA, goarch)
		}
		return min(b.fam.BlockR, 1) - min(a.fam.BlockR, 1)
	})
	if len(blocks) > 0 && l.blockPays(r, blocks[0].fam, out, goarch) {
		return append(append(blocks[:1:1], out...), blocks[1:]...)
	}
	return append(out, blocks...)
}

// blockPays: the default runs a dense bf16 or fp16 W regrouped in 8×1 blocks from
// N = denseLPBlockMinN on, on the AVX-512 8×1 family, where no wider ISA's family runs
// W as given (the measurements at denseLPBlockMinN).
func (l *lpWeights) blockPays(r nRange, f asm.Family, asIs []lpCand, goarch string) bool {
	if l.dt == formats.I8 || f.ISA != asm.AVX512 || f.BlockR != denseLPBlockR || r.lo < denseLPBlockMinN {
		return false
	}
	return len(asIs) == 0 || isaRank(asIs[0].fam.ISA, goarch) <= isaRank(f.ISA, goarch)
}

// takes: a family whose 16-bit column indices cannot reach K does not take W, nor a BSR
// family of another block shape, nor bsr_any (steps of at most asm.BSRMaxStepRows rows)
// a W of taller blocks, nor an N:M family of another pattern (patternTakes). (A bitmap
// SpMV takes any CSRLP of its dtype; the default runs it only where bitmapPays.)
func (l *lpWeights) takes(f asm.Family) bool {
	if f.BlockR != 0 && (f.BlockR != l.br || f.BlockC != l.bc) {
		return false
	}
	if l.br > asm.BSRMaxStepRows && f.BlockR == 0 && f.ISA != asm.Generic {
		return false
	}
	return (f.IndexBits != 16 || l.k <= 1<<16) && l.patternTakes(f)
}

// bitmapPays: the default runs the bitmap SpMV of W's dtype (bf16, fp16, int8) on a CSRLP
// only where its measured ratio to the SpMV of its dtype and ISA (dispatch/bitmap.go,
// bitmapRatio, bitmapRatiosDType) is below 1 at W's density: above about 20% density on
// AVX-512 and 39–41% on AVX2 (ratios measured on an AVX2-only Zen 3; against the gather
// SpMVs these kernels replaced on x86 it was 15% and 22–25% on the Zen 5).
func (l *lpWeights) bitmapPays(f asm.Family) bool {
	if l.group != 0 {
		return nmBitmapPays(f, l.keep, l.group) // an N:M W (nmbitmap.go)
	}
	r, _ := bitmapRatio(f, l.stored, l.m, l.k)
	return r < 1
}

// patternTakes: an N:M family takes an N:M W of its pattern (any, Keep 0), a GEMV only
// one with aligned 16-slot chunks (asm.ChunkAligned); other formats have no pattern.
func (l *lpWeights) patternTakes(f asm.Family) bool {
	if l.group == 0 {
		return true
	}
	if f.Keep != 0 && (f.Keep != l.keep || f.Group != l.group) {
		return false
	}
	return f.MaxN != 1 || asm.ChunkAligned(l.keep, l.group)
}

// ranges are the N ranges compileLP keeps one kernel for (before equal neighbours merge):
// cut where a candidate's N range starts or ends, as planRanges cuts them.
func (l *lpWeights) ranges() []nRange { return planRanges(l.cands) }

// lpRank orders the families covering range r: the widest ISA first; then a BSR family of
// W's block shape before bsr_any (whole blocks, one index per block), the BSR GEMV of W's
// block shape before its SpMM tiles wherever it runs (N ≤ its MaxN: at N = 2 to 8 it
// measured 1.0–2.8× faster than the 4×4 tile, gen/kernels/bsrgemv.go), and a bitmap SpMV
// before the gather SpMV where it pays at W's density (bitmapPays; where it does not, after
// every other family); then, for N ≥ 2 (N = 1
// is the SpMV's even where a tile runs it, as NEON's do), a CSR tile that holds every N of r
// in one tile, the narrowest such (a wider tile runs half empty on
// a panel twice the stride: Zen 5, CSR bf16 11008×4096 at 90%, N = 16, t16 2.85 ms against
// t32 3.35 ms); then the one meant for the largest N (its MinN: a tile over the SpMV, a
// wider tile from its MinN on); then the narrower N range. The first is the default's
// choice.
func (l *lpWeights) lpRank(f asm.Family, r nRange, goarch string) []int {
	hi := f.MaxN
	if hi == 0 {
		hi = math.MaxInt
	}
	holds, narrow := 0, 0
	if f.Tile > 0 && r.lo >= 2 && r.hi <= f.Tile {
		holds, narrow = 1, -f.Tile
	}
	shaped, blockGemv := 0, 0
	if f.BlockR != 0 || f.Bitmap || f.Delta {
		shaped = 1
	}
	if f.BlockR != 0 && f.ExactN {
		blockGemv = 1 // the BSR GEMV over its N range, before the SpMM tiles (asm/bsrgemv.go)
	}
	if f.Bitmap && !l.bitmapPays(f) {
		return []int{math.MinInt}
	}
	if f.Delta && !l.deltaPays(f) {
		return []int{math.MinInt}
	}
	return []int{isaRank(f.ISA, goarch), shaped, blockGemv, holds, narrow, max(f.MinN, 1), -min(hi, math.MaxInt-1)}
}

// covering returns the candidates that run for all of r, the default's choice first
// (lpRank, highest first; registry order among equals).
func (l *lpWeights) covering(r nRange, goarch string) []asm.Family {
	var out []asm.Family
	for _, f := range l.cands {
		if coversRange(f, r) {
			out = append(out, f)
		}
	}
	slices.SortStableFunc(out, func(a, b asm.Family) int { return slices.Compare(l.lpRank(b, r, goarch), l.lpRank(a, r, goarch)) })
	if l.group == 0 || r.lo != 1 || r.hi != 1 {
		return out
	}
	// N:M at N = 1: where no GEMV of the widest ISA takes W (a pattern without aligned
	// chunks), that ISA's SpMM tiles (MinN 2, N = 1 a one-column masked tile) run it
	// rather than the pure-Go kernel; the narrowest tile first, then the pattern's own.
	best := -1
	if len(out) > 0 {
		best = isaRank(out[0].ISA, goarch)
	}
	var tiles []asm.Family
	for _, f := range l.cands {
		if f.Tile > 0 && f.MaxN == 0 && isaRank(f.ISA, goarch) > best {
			tiles = append(tiles, f)
		}
	}
	slices.SortStableFunc(tiles, func(a, b asm.Family) int {
		return slices.Compare([]int{-isaRank(a.ISA, goarch), a.Tile, -a.Keep}, []int{-isaRank(b.ISA, goarch), b.Tile, -b.Keep})
	})
	return append(tiles, out...)
}

// compileLP is Compile for W stored in bf16, fp16 or int8: a dense W (formats.DenseLP), a
// CSR one (formats.CSRLP), a BSR one (formats.BSRLP) or an N:M one (formats.NMLP). Only the
// low-precision families of W's format take it: the GEMV (asm/gemvlp.go, every N: N ≤ 4 in
// one pass over W, larger N in passes of 4 columns over each L2-resident chunk of W; a
// bf16 or fp16 W runs on AVX-512 from N = denseLPBlockMinN on regrouped in 8×1 blocks of
// its dtype, the same stored values, on the BSR kernel of that dtype, blockPays), or the
// SpMV (asm/spmvlp.go, N = 1; the bitmap SpMV of W's dtype, asm/spmvbitmap.go, where it pays
// at W's density, bitmapPays) and the CSR tiles (asm/csrlp.go, N ≥ 2) with the pure-Go SpMV
// for every N, or the BSR kernels (asm/bsrlp.go, every N: the family of W's block shape,
// else bsr_any, else the pure-Go one), or the N:M GEMV (asm/nmlp.go, N = 1, patterns with
// aligned chunks; other patterns run the SpMM tiles at N = 1 too) and the N:M SpMM tiles of
// W's pattern or of any (N ≥ 2), with the pure-Go N:M kernels for every N. Each N range takes
// the widest ISA's family under the cap that takes W (16-bit SpMV indices need K ≤ 65536)
// and covers it, the one meant for the largest N among those. No kernel is ever chosen on
// a widened copy, which would double the bytes the caller asked to save: widen explicitly
// with DenseLP.ToDense, CSRLP.ToCSR or NMLP.ToNM for that. No cost model applies; a tuning record's
// entries for W's dtype replace that choice as they do for float32 W (applyRecord: a
// winner runs over its entry's N range only where this rule runs the entry's default).
func compileLP(w formats.Matrix, opts Options, host CPU, isa asm.ISA, isaWhy string) (*Plan, error) {
	if err := w.Validate(); err != nil {
		return nil, err
	}
	l, ok := lowPrecision(w, host, isa)
	if !ok {
		return nil, fmt.Errorf("dispatch: %T is not a low-precision matrix", w)
	}
	dt, format, kind := l.dt, l.format, l.kind
	// Format may name W's own packing, or (a dense W) its regrouping in blocks of its dtype.
	blockFormat := l.block != nil && opts.Format == l.block.String()
	if opts.Format != "" && opts.Format != format && !blockFormat {
		also := ""
		if l.block != nil {
			also = fmt.Sprintf(" or %q (the same values in %d×%d blocks)", l.block.String(), l.block.r, l.block.c)
		}
		return nil, fmt.Errorf("dispatch: W is %s %s and is never widened: Format %q cannot apply, only %q%s (convert it yourself: %s)", kind, dt, opts.Format, format, also, l.widen)
	}
	// The statistics Describe prints and the record key, read from the stored values
	// (formats.Measure never widens low precision into a copy), for the block shapes
	// KeyOf measures, so that a record tuned for W finds it.
	ms, err := measure(w, candidateBlocks())
	if err != nil {
		return nil, err
	}
	p, warn, err := newPlan(ms, isa, isaWhy, opts)
	if err != nil {
		return nil, err
	}
	p.lowp = true

	forced, err := forcedFamily(opts.Kernel, host, isa)
	if err != nil {
		return nil, err
	}
	// A forced BSR family of W's dtype runs a dense W regrouped in blocks (l.block).
	forcedBlock := forced != nil && l.block != nil && slices.ContainsFunc(l.blockCands, func(f asm.Family) bool { return f.Name == forced.Name })
	if forced != nil && !(forced.Format == format && !blockFormat || forcedBlock && opts.Format != format) {
		return nil, fmt.Errorf("dispatch: kernel family %q takes %s, not %s %s weights as %s", forced.Name, forced.Format, kind, dt, cmp.Or(opts.Format, format))
	}
	if forced != nil && !forcedBlock && !l.patternTakes(*forced) {
		if forced.MaxN == 1 && (forced.Keep == 0 || forced.Keep == l.keep && forced.Group == l.group) {
			return nil, fmt.Errorf("dispatch: kernel family %q runs N:M patterns with aligned 16-slot chunks, not %d:%d", forced.Name, l.keep, l.group)
		}
		return nil, fmt.Errorf("dispatch: kernel family %q takes %d:%d, not %d:%d", forced.Name, forced.Keep, forced.Group, l.keep, l.group)
	}
	if forced != nil && !forcedBlock && !l.takes(*forced) {
		if forced.BlockR != 0 {
			return nil, fmt.Errorf("dispatch: kernel family %q takes %d×%d blocks, not W's %d×%d", forced.Name, forced.BlockR, forced.BlockC, l.br, l.bc)
		}
		if l.br > asm.BSRMaxStepRows {
			return nil, fmt.Errorf("dispatch: kernel family %q takes blocks of at most %d rows, not W's %d", forced.Name, asm.BSRMaxStepRows, l.br)
		}
		return nil, fmt.Errorf("dispatch: kernel family %q has %d-bit column indices and cannot take K = %d", forced.Name, forced.IndexBits, l.k)
	}
	// N ranges cut where a candidate's range starts or ends; each takes the first of
	// lpRank's order among the families that cover it, a forced family wherever it covers.
	tgt := target{format: format, asIs: true, stored: ms.Stored}
	for _, r := range l.ranges() {
		why := fmt.Sprintf("the widest ISA's low-precision %s kernel for this N under the cap (the only kind for %s %s weights)", l.kern, kind, dt)
		ranked := l.ranked(r, tgt, host.GOARCH)
		if blockFormat { // Options.Format: the regrouping only
			ranked = slices.DeleteFunc(ranked, func(c lpCand) bool { return c.tgt.asIs })
			why = fmt.Sprintf("the widest ISA's %s BSR kernel for this N under the cap (Options.Format %s)", dt, opts.Format)
		} else if len(ranked) > 0 && !ranked[0].tgt.asIs {
			why = fmt.Sprintf("W regrouped in %d×%d blocks of %s (values as stored): from N = %d on AVX-512 the BSR kernel beat the GEMV's passes of 4 columns (measured, dispatch/lowp.go)", l.block.r, l.block.c, dt, denseLPBlockMinN)
		}
		var best *lpCand
		var alts []cand
		if len(ranked) > 0 {
			best = &ranked[0]
			if !best.tgt.asIs && len(ranked) > 1 { // should the regrouping refuse W, the next runs
				alts = []cand{{fam: ranked[1].fam, tgt: ranked[1].tgt}}
			}
		}
		// A forced family runs where it covers, and where covering lists it (N:M tiles at N = 1).
		if forced != nil && (coversRange(*forced, r) || slices.ContainsFunc(ranked, func(c lpCand) bool { return c.fam.Name == forced.Name })) {
			best, why, alts = &lpCand{*forced, tgt}, "forced (Options.Kernel)", nil
			if forcedBlock {
				best.tgt = *l.block
			}
		}
		if best == nil {
			return nil, fmt.Errorf("dispatch: no kernel family takes %s %s weights at N = %d here (ISA cap %s)", kind, dt, r.lo, isa)
		}
		p.ranges = append(p.ranges, r)
		p.sel = append(p.sel, &choice{fam: best.fam, tgt: best.tgt, why: why, alts: alts})
	}
	if forced != nil && !slices.ContainsFunc(p.sel, func(c *choice) bool { return c.fam.Name == forced.Name }) {
		return nil, fmt.Errorf("dispatch: kernel family %q covers no N (MinN %d, MaxN %d)", forced.Name, forced.MinN, forced.MaxN)
	}
	p.mergeRanges()
	// A record's entries for this layer and dtype replace choices over the N ranges they
	// timed their winner in, against that very choice (as for float32 W).
	if rec := p.usableRecord(opts.Record, warn); rec != nil {
		if forced != nil {
			p.notes = append(p.notes, "tuning record not used: a kernel family is forced")
		} else {
			tgts := []target{tgt}
			if l.block != nil {
				tgts = append(tgts, *l.block)
			}
			p.applyRecord(rec, host, isa, tgts)
		}
	}
	p.panelCap = tokenPanel(l.k)
	p.w, p.kernels, p.unpacked = w, map[string]asm.Kernel{}, len(p.sel)
	p.converted = map[string]formats.Matrix{tgt.String(): w}
	p.layouts, p.derived, p.packing = map[string]asm.Kernel{}, map[string]derivation{}, map[string]chan struct{}{}
	return p, nil
}
