package dispatch

import (
	"fmt"
	"math"
	"slices"

	"github.com/sparsegen/sparsegen/asm"
	"github.com/sparsegen/sparsegen/formats"
)

// compileLP is Compile for W stored in bf16, fp16 or int8: a dense W (formats.DenseLP) or
// a CSR one (formats.CSRLP). Only the low-precision families of W's format take it: the
// GEMV (asm/gemvlp.go, every N: N ≤ 4 in one pass over W, larger N in passes of 4
// columns over each L2-resident chunk of W), or the SpMV (asm/spmvlp.go, N = 1) and the
// CSR tiles (asm/csrlp.go, N ≥ 2) with the pure-Go SpMV for every N. Each N range takes
// the widest ISA's family under the cap that takes W (16-bit SpMV indices need K ≤ 65536)
// and covers it, the one meant for the largest N among those. No kernel is ever chosen on
// a widened copy, which would double the bytes the caller asked to save: widen explicitly
// with DenseLP.ToDense or CSRLP.ToCSR for that. No tuning record or cost model applies.
func compileLP(w formats.Matrix, opts Options, host CPU, isa asm.ISA, isaWhy string) (*Plan, error) {
	if err := w.Validate(); err != nil {
		return nil, err
	}
	m, k := w.Shape()
	var dt formats.DType
	var format, kind, kern, widen string
	var stored int64
	switch w := w.(type) {
	case *formats.DenseLP:
		dt, format, kind, kern, widen, stored = w.DType, asm.LPFormat(w.DType), "dense", "GEMV", "DenseLP.ToDense", int64(m)*int64(k)
	case *formats.CSRLP:
		dt, format, kind, kern, widen, stored = w.DType, asm.CSRLPFormat(w.DType), "CSR", "SpMV or SpMM", "CSRLP.ToCSR", w.Stored()
	default:
		return nil, fmt.Errorf("dispatch: %T is not a low-precision matrix", w)
	}
	if opts.Format != "" && opts.Format != format {
		return nil, fmt.Errorf("dispatch: W is %s %s and is never converted: Format %q cannot apply (convert it yourself: %s)", kind, dt, opts.Format, widen)
	}
	// takes: a family whose 16-bit column indices cannot reach K does not take W.
	takes := func(f asm.Family) bool { return f.IndexBits != 16 || k <= 1<<16 }
	// The statistics Describe prints, read from the stored values (formats.Measure never
	// widens low precision into a copy).
	st, err := formats.Measure(w)
	if err != nil {
		return nil, err
	}
	ms := &Measure{Stats: *st, Format: format, Stored: stored}
	p, _, err := newPlan(ms, isa, isaWhy, opts)
	if err != nil {
		return nil, err
	}

	var cands []asm.Family
	for _, f := range asm.Families() {
		if f.Format == format && host.CanRun(f, isa) && takes(f) {
			cands = append(cands, f)
		}
	}
	var forced *asm.Family
	if opts.Kernel != "" {
		f, ok := asm.Lookup(opts.Kernel)
		if !ok {
			return nil, fmt.Errorf("dispatch: no kernel family %q (have %s)", opts.Kernel, familyNames())
		}
		if f.Format != format {
			return nil, fmt.Errorf("dispatch: kernel family %q takes %s, not %s %s weights", f.Name, f.Format, kind, dt)
		}
		if !host.CanRun(f, isa) {
			return nil, fmt.Errorf("dispatch: kernel family %q (%s, needs %v) cannot run here under ISA cap %s (CPU features %v)",
				f.Name, f.ISA, f.Features|isaFeatures(f.ISA), isa, host.Features)
		}
		if !takes(f) {
			return nil, fmt.Errorf("dispatch: kernel family %q has %d-bit column indices and cannot take K = %d", f.Name, f.IndexBits, k)
		}
		forced = &f
	}
	// N ranges cut where a candidate's range starts or ends; each takes the widest ISA's
	// family that covers it, the one meant for the largest N among those (its MinN: a tile
	// over the SpMV, a wider tile from its MinN on), a forced family wherever it covers.
	tgt := target{format: format, asIs: true, stored: ms.Stored}
	rank := func(f asm.Family) []int {
		hi := f.MaxN
		if hi == 0 {
			hi = math.MaxInt
		}
		return []int{isaRank(f.ISA, host.GOARCH), max(f.MinN, 1), -min(hi, math.MaxInt-1)}
	}
	for _, r := range planRanges(cands) {
		var best *asm.Family
		why := fmt.Sprintf("the widest ISA's low-precision %s kernel for this N under the cap (the only kind for %s %s weights)", kern, kind, dt)
		for i := range cands {
			f := &cands[i]
			if coversRange(*f, r) && (best == nil || slices.Compare(rank(*f), rank(*best)) > 0) {
				best = f
			}
		}
		if forced != nil && coversRange(*forced, r) {
			best, why = forced, "forced (Options.Kernel)"
		}
		if best == nil {
			return nil, fmt.Errorf("dispatch: no kernel family takes %s %s weights at N = %d here (ISA cap %s)", kind, dt, r.lo, isa)
		}
		p.ranges = append(p.ranges, r)
		p.sel = append(p.sel, &choice{fam: *best, tgt: tgt, why: why})
	}
	if forced != nil && !slices.ContainsFunc(p.sel, func(c *choice) bool { return c.fam.Name == forced.Name }) {
		return nil, fmt.Errorf("dispatch: kernel family %q covers no N (MinN %d, MaxN %d)", forced.Name, forced.MinN, forced.MaxN)
	}
	p.mergeRanges()
	if opts.Record != nil {
		p.notes = append(p.notes, "tuning record not used: records cover float32 weights only")
	}
	p.panelCap = tokenPanel(k)
	p.w, p.kernels, p.unpacked = w, map[string]asm.Kernel{}, len(p.sel)
	p.converted = map[string]formats.Matrix{tgt.String(): w}
	p.layouts, p.derived, p.packing = map[string]asm.Kernel{}, map[string]derivation{}, map[string]chan struct{}{}
	return p, nil
}
