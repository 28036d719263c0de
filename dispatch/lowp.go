package dispatch

import (
	"fmt"
	"math"

	"github.com/sparsegen/sparsegen/asm"
	"github.com/sparsegen/sparsegen/formats"
)

// compileLP is Compile for W stored in bf16, fp16 or int8: a dense W (formats.DenseLP) or
// a CSR one (formats.CSRLP). Each has one kind of kernel, the low-precision GEMV
// (asm/gemvlp.go) or SpMV (asm/spmvlp.go), so the plan has one N range, every N, and runs
// the widest ISA's family under the cap that takes W (the SpMV's 16-bit indices need
// K ≤ 65536; the pure-Go family takes any K). The GEMV runs N ≤ 4 in one pass over W,
// larger N in passes of 4 columns over each L2-resident chunk of W; the SpMV runs N > 1
// column by column (correct at any N, but a GEMM or SpMM over float32 weights is faster
// there; no kernel is ever chosen on a widened copy, which would double the bytes the
// caller asked to save: widen explicitly with DenseLP.ToDense or CSRLP.ToCSR for that).
// No tuning record or cost model applies.
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
		dt, format, kind, kern, widen, stored = w.DType, asm.CSRLPFormat(w.DType), "CSR", "SpMV", "CSRLP.ToCSR", w.Stored()
	default:
		return nil, fmt.Errorf("dispatch: %T is not a low-precision matrix", w)
	}
	if opts.Format != "" && opts.Format != format {
		return nil, fmt.Errorf("dispatch: W is %s %s and is never converted: Format %q cannot apply (convert it yourself: %s)", kind, dt, opts.Format, widen)
	}
	// takes: a family whose 16-bit column indices cannot reach K does not take W.
	takes := func(f asm.Family) bool { return f.IndexBits != 16 || k <= 1<<16 }
	nnz := w.NNZ()
	ms := &Measure{Stats: formats.Stats{Rows: m, Cols: k, NNZ: nnz}, Format: format, Stored: stored}
	if m > 0 && k > 0 {
		ms.Density = float64(nnz) / (float64(m) * float64(k))
	}
	p, _, err := newPlan(ms, isa, isaWhy, opts)
	if err != nil {
		return nil, err
	}

	var best *asm.Family
	why := fmt.Sprintf("the widest ISA's low-precision %s under the cap (the only kernel for %s %s weights)", kern, kind, dt)
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
		best, why = &f, "forced (Options.Kernel)"
	} else {
		for _, f := range asm.Families() {
			if f.Format == format && host.CanRun(f, isa) && takes(f) && (best == nil || isaRank(f.ISA, host.GOARCH) > isaRank(best.ISA, host.GOARCH)) {
				best = &f
			}
		}
		if best == nil {
			return nil, fmt.Errorf("dispatch: no kernel family takes %s %s weights here (ISA cap %s)", kind, dt, isa)
		}
	}
	if opts.Record != nil {
		p.notes = append(p.notes, "tuning record not used: records cover float32 weights only")
	}
	tgt := target{format: format, asIs: true, stored: ms.Stored}
	p.ranges = []nRange{{lo: 1, hi: math.MaxInt}}
	p.sel = []*choice{{fam: *best, tgt: tgt, why: why}}
	p.panelCap = tokenPanel(k)
	p.w, p.kernels, p.unpacked = w, map[string]asm.Kernel{}, 1
	p.converted = map[string]formats.Matrix{tgt.String(): w}
	p.layouts, p.derived, p.packing = map[string]asm.Kernel{}, map[string]derivation{}, map[string]chan struct{}{}
	return p, nil
}
