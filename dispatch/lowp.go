package dispatch

import (
	"fmt"
	"math"

	"github.com/sparsegen/sparsegen/asm"
	"github.com/sparsegen/sparsegen/formats"
)

// compileLP is Compile for a dense W stored in bf16, fp16 or int8 (formats.DenseLP). There
// is one kind of kernel for such weights, the low-precision GEMV (asm/gemvlp.go), so the
// plan has one N range, every N, and runs the widest ISA's family under the cap: N ≤ 4 in
// one pass over W, larger N in passes of 4 columns over each L2-resident chunk of W
// (correct at any N, but a GEMM over float32 weights is faster there; no kernel is ever
// chosen on a widened copy, which would double the bytes the caller asked to save: widen
// explicitly with DenseLP.ToDense for that). No tuning record or cost model applies.
func compileLP(w *formats.DenseLP, opts Options, host CPU, isa asm.ISA, isaWhy string) (*Plan, error) {
	if err := w.Validate(); err != nil {
		return nil, err
	}
	format := asm.LPFormat(w.DType)
	if opts.Format != "" && opts.Format != format {
		return nil, fmt.Errorf("dispatch: W is dense %s and is never converted: Format %q cannot apply (convert it yourself: DenseLP.ToDense)", w.DType, opts.Format)
	}
	m, k := w.Shape()
	nnz := w.NNZ()
	ms := &Measure{Stats: formats.Stats{Rows: m, Cols: k, NNZ: nnz}, Format: format, Stored: int64(m) * int64(k)}
	if m > 0 && k > 0 {
		ms.Density = float64(nnz) / (float64(m) * float64(k))
	}
	p, _, err := newPlan(ms, isa, isaWhy, opts)
	if err != nil {
		return nil, err
	}

	var best *asm.Family
	why := "the widest ISA's low-precision GEMV under the cap (the only kernel for dense " + w.DType.String() + " weights)"
	if opts.Kernel != "" {
		f, ok := asm.Lookup(opts.Kernel)
		if !ok {
			return nil, fmt.Errorf("dispatch: no kernel family %q (have %s)", opts.Kernel, familyNames())
		}
		if f.Format != format {
			return nil, fmt.Errorf("dispatch: kernel family %q takes %s, not dense %s weights", f.Name, f.Format, w.DType)
		}
		if !host.CanRun(f, isa) {
			return nil, fmt.Errorf("dispatch: kernel family %q (%s, needs %v) cannot run here under ISA cap %s (CPU features %v)",
				f.Name, f.ISA, f.Features|isaFeatures(f.ISA), isa, host.Features)
		}
		best, why = &f, "forced (Options.Kernel)"
	} else {
		for _, f := range asm.Families() {
			if f.Format == format && host.CanRun(f, isa) && (best == nil || isaRank(f.ISA, host.GOARCH) > isaRank(best.ISA, host.GOARCH)) {
				best = &f
			}
		}
		if best == nil {
			return nil, fmt.Errorf("dispatch: no kernel family takes dense %s weights here (ISA cap %s)", w.DType, isa)
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
