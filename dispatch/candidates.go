package dispatch

import (
	"fmt"
	"math"
	"sort"

	"github.com/sparsegen/sparsegen/asm"
	"github.com/sparsegen/sparsegen/formats"
)

// Candidates lists every (kernel family, format) pair that Compile could run for W at this
// N under opts' ISA cap (opts.ISA and $SPARSEGEN_ISA; opts.Kernel and opts.Format are
// ignored), with Threads from opts, by the policy opts.Calibration selects, ordered by the default policy's estimate (best first;
// MedianNs holds the estimate in model units, not a time). autotune times them; each can be
// compiled with Options{Kernel: c.Kernel, Format: c.Format}.
//
// For a W stored in bf16, fp16 or int8 (formats.DenseLP, formats.CSRLP, formats.BSRLP),
// which Compile never widens, the candidates are the low-precision families of W's own
// format and dtype that run under the cap and take W (16-bit column indices need
// K ≤ 65536; BSR: W's block shape or any), each over the N range compileLP keeps one
// kernel for around n (RangeOf), with Format that format ("dense_bf16", "csr_i8",
// "bsr_f16" …), and for a dense W from N = 17 on the SIMD BSR families of its dtype on W
// regrouped in 8×1 blocks of that dtype (Format "bsr8x1_bf16" …: the same stored values); they are
// ordered as compileLP ranks them, its choice first, and MedianNs is 0: no cost model
// prices them.
func Candidates(w formats.Matrix, n int, opts Options) ([]Candidate, error) {
	if formats.IsNil(w) {
		return nil, fmt.Errorf("dispatch: nil weight matrix: %w", formats.ErrInvalid)
	}
	host := Host()
	isa, _, err := host.resolveISA(opts.ISA)
	if err != nil {
		return nil, err
	}
	n = max(n, 1)
	if l, ok := lowPrecision(w, host, isa); ok {
		if err := w.Validate(); err != nil {
			return nil, err
		}
		var cs []Candidate
		r := rangeOf(l.cands, n)
		for i, c := range l.ranked(r, target{format: l.format, asIs: true}, host.GOARCH) {
			if i > 0 && !c.tgt.asIs && r.lo < denseLPBlockTuneMinN {
				continue // a regrouping the tuner would pack and time only to lose (lowp.go)
			}
			cs = append(cs, Candidate{Kernel: c.fam.Name, Format: c.tgt.String(), Threads: opts.Threads})
		}
		return cs, nil
	}
	fams, ms, _, err := measureFor(w, host, isa, "", false)
	if err != nil {
		return nil, err
	}
	targets, err := targetsFor(w, ms, fams, "")
	if err != nil {
		return nil, err
	}
	pol := resolvePolicy(opts.Calibration, opts.Warn)
	// The plan range holding n: a family is a candidate when it runs for every N of it,
	// as Compile requires.
	rng := rangeOf(fams, n)
	type est struct {
		c Candidate
		e float64
	}
	var out []est
	for _, f := range fams {
		if !coversRange(f, rng) {
			continue
		}
		for _, t := range targets {
			if !familyTakes(f, t) {
				continue
			}
			e, _ := pol.estimateNs(f, t, ms.Rows, ms.Cols, n)
			out = append(out, est{Candidate{Kernel: f.Name, Format: t.String(), Threads: opts.Threads, MedianNs: e}, e})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].e < out[j].e })
	cs := make([]Candidate, len(out))
	for i, o := range out {
		cs[i] = o.c
	}
	return cs, nil
}

// RangeFor returns the N range holding n over which Compile keeps one kernel choice for a
// float32 W under opts' ISA cap (before adjacent ranges that run the same kernel merge):
// each of the Candidates for n runs for all of it. hi is math.MaxInt for an unbounded
// range. A tuning record entry covers (part of) such a range. A W stored in bf16, fp16 or
// int8 has ranges of its own: RangeOf.
func RangeFor(n int, opts Options) (lo, hi int, err error) {
	host := Host()
	isa, _, err := host.resolveISA(opts.ISA)
	if err != nil {
		return 0, 0, err
	}
	var fams []asm.Family
	for _, f := range asm.Families() {
		if host.CanRun(f, isa) {
			fams = append(fams, f)
		}
	}
	r := rangeOf(fams, max(n, 1))
	return r.lo, r.hi, nil
}

// RangeOf is RangeFor for a given W: the N range holding n over which Compile keeps one
// kernel choice for W under opts' ISA cap (before equal neighbours merge). For a float32 W
// it is RangeFor's; a W stored in bf16, fp16 or int8 runs only the low-precision families
// of its format, and the range is cut where theirs start and end, as compileLP cuts it.
// autotune's entries cover such a range.
func RangeOf(w formats.Matrix, n int, opts Options) (lo, hi int, err error) {
	if formats.IsNil(w) {
		return 0, 0, fmt.Errorf("dispatch: nil weight matrix: %w", formats.ErrInvalid)
	}
	host := Host()
	isa, _, err := host.resolveISA(opts.ISA)
	if err != nil {
		return 0, 0, err
	}
	if l, ok := lowPrecision(w, host, isa); ok {
		r := rangeOf(l.cands, max(n, 1))
		return r.lo, r.hi, nil
	}
	return RangeFor(n, opts)
}

// rangeOf is the plan range holding n ≥ 1.
func rangeOf(fams []asm.Family, n int) nRange {
	for _, r := range planRanges(fams) {
		if r.lo <= n && n <= r.hi {
			return r
		}
	}
	return nRange{n, math.MaxInt} // not reached: the ranges cover N ≥ 1
}
