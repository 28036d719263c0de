// Package dispatch is sparsegen's API: it reads the CPU's features, measures a weight
// matrix, chooses a kernel family per range of N (by a tuning record or the default
// policy), packs W once, and runs Y = act(W·X + b) on a persistent worker pool.
//
//	p, err := dispatch.Compile(w, dispatch.Options{Act: ref.ActReLU})
//	err = p.Mul(y, n, x, n, n)        // channel-major: X K×N, Y M×N
//	err = p.MulTokens(y, m, x, k, n)  // token-major:   X N×K, Y N×M (Y = X·Wᵀ)
//
// Kernel families plug in through the asm registry: dispatch needs no edit when one is
// added. Results are bitwise identical for any thread count and any split of N (the
// summation order of Y[m, n] is fixed by the plan, DESIGN §6). A Plan is safe for
// concurrent use; W must not be modified after Compile (packing may share its storage).
package dispatch

import (
	"errors"
	"fmt"
	"log"
	"math"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/sparsegen/sparsegen/asm"
	"github.com/sparsegen/sparsegen/formats"
	"github.com/sparsegen/sparsegen/ref"
)

// Options configure Compile.
type Options struct {
	// Epilogue fused into the store: Y = act(W·X + Bias [+ Y]).
	Bias       []float32 // nil or length M (copied)
	Act        ref.Activation
	Lo, Hi     float32 // ActClamp bounds
	Accumulate bool

	// Threads is the number of threads a call uses; 0 means GOMAXPROCS at Compile time.
	Threads int
	// ISA caps the kernels' ISA: "" means the best available, unless $SPARSEGEN_ISA is
	// set; "avx512", "avx2", "neon" or "generic" allow that ISA and narrower ones (and
	// generic). Naming an ISA the CPU lacks is an error.
	ISA string
	// Record is a tuning record; nil means the default policy.
	Record *Record
	// Kernel forces one kernel family by name for every N (tests, benchmarks, autotune).
	Kernel string
	// Format forces the format W is packed in: "dense", "csr", "bsrRxC" or "nmK:G".
	Format string
	// Warn receives warnings (an ignored tuning record); nil logs them with package log.
	Warn func(msg string)
}

// ErrClosed is returned by calls on a closed plan.
var ErrClosed = errors.New("dispatch: plan is closed")

// choice is the kernel a plan runs for one N bucket.
type choice struct {
	fam  asm.Family
	tgt  target
	est  float64 // estimated ns at the bucket's representative N
	why  string
	kern asm.Kernel
}

func (c *choice) id() string { return c.fam.Name + "@" + c.tgt.String() }

// Plan is a compiled weight matrix: packed kernels per N bucket and the epilogue.
type Plan struct {
	m, k     int
	epi      ref.Epilogue
	epiP     *ref.Epilogue // nil when the epilogue does nothing
	threads  int
	isa      asm.ISA
	isaWhy   string
	ms       *Measure
	ranges   []nRange  // N ranges with one kernel each, ascending
	sel      []*choice // sel[i] serves ranges[i]
	packed   int64
	notes    []string
	closed   atomic.Bool
	tokBufs  sync.Pool // *[]float32 panels for MulTokens
	panelCap int       // tokens per MulTokens panel
}

// Compile measures w, chooses a kernel per N bucket, packs w for each and returns a Plan.
func Compile(w formats.Matrix, opts Options) (*Plan, error) {
	if w == nil || isNilMatrix(w) {
		return nil, errors.New("dispatch: nil weight matrix")
	}
	if err := w.Validate(); err != nil {
		return nil, err
	}
	host := Host()
	isa, isaWhy, err := host.resolveISA(opts.ISA)
	if err != nil {
		return nil, err
	}
	m, k := w.Shape()
	p := &Plan{m: m, k: k, isa: isa, isaWhy: isaWhy}
	p.epi = ref.Epilogue{Act: opts.Act, Lo: opts.Lo, Hi: opts.Hi, Accumulate: opts.Accumulate}
	if opts.Bias != nil {
		p.epi.Bias = append([]float32(nil), opts.Bias...)
	}
	if err := p.epi.Check(m); err != nil {
		return nil, fmt.Errorf("dispatch: %w", err)
	}
	if p.epi.Bias != nil || p.epi.Act != ref.ActNone || p.epi.Accumulate {
		p.epiP = &p.epi
	}
	switch {
	case opts.Threads < 0:
		return nil, fmt.Errorf("dispatch: Threads = %d < 0", opts.Threads)
	case opts.Threads == 0:
		p.threads = runtime.GOMAXPROCS(0)
	default:
		p.threads = opts.Threads
	}
	warn := opts.Warn
	if warn == nil {
		warn = func(s string) { log.Print("sparsegen: ", s) }
	}

	// Families this CPU may run under the ISA cap; a forced family serves the N buckets
	// its N range covers (the policy picks the others).
	var fams []asm.Family
	for _, f := range asm.Families() {
		if host.CanRun(f, isa) {
			fams = append(fams, f)
		}
	}
	var forced *asm.Family
	if opts.Kernel != "" {
		f, ok := asm.Lookup(opts.Kernel)
		if !ok {
			return nil, fmt.Errorf("dispatch: no kernel family %q (have %s)", opts.Kernel, familyNames())
		}
		if !host.CanRun(f, isa) {
			return nil, fmt.Errorf("dispatch: kernel family %q (%s, needs %v) cannot run here under ISA cap %s (CPU features %v)",
				f.Name, f.ISA, f.Features|isaFeatures(f.ISA), isa, host.Features)
		}
		forced = &f
	}
	p.ranges = planRanges(fams)
	p.sel = make([]*choice, len(p.ranges))
	if forced != nil {
		covers := false
		for _, r := range p.ranges {
			covers = covers || coversRange(*forced, r)
		}
		if !covers {
			return nil, fmt.Errorf("dispatch: kernel family %q covers no N (MinN %d, MaxN %d)", forced.Name, forced.MinN, forced.MaxN)
		}
	}

	// Measure W, for the block shapes and patterns some family could use.
	blocks := [][2]int(nil)
	for _, f := range fams {
		if f.Format == "bsr" {
			blocks = candidateBlocks()
			break
		}
	}
	if bw, ok := w.(*formats.BSR); ok {
		blocks = addBlock(blocks, bw.R, bw.C)
	}
	if t, err := parseTarget(opts.Format); opts.Format != "" && err == nil && t.format == "bsr" {
		blocks = addBlock(blocks, t.r, t.c)
	}
	ms, err := measure(w, blocks)
	if err != nil {
		return nil, err
	}
	p.ms = ms

	// Targets: W as is, and the conversions the measurement allows.
	targets, err := targetsFor(w, ms, fams, opts.Format)
	if err != nil {
		return nil, err
	}

	// Tuning record.
	rec := opts.Record
	if rec != nil {
		if why := rec.Machine.mismatch(HostMachine()); why != "" {
			msg := fmt.Sprintf("%v: made on another machine or kernel set (%s)", ErrRecordIgnored, why)
			warn(msg)
			p.notes = append(p.notes, msg)
			rec = nil
		} else if rec.Version != RecordVersion {
			msg := fmt.Sprintf("%v: version %d", ErrRecordIgnored, rec.Version)
			warn(msg)
			p.notes = append(p.notes, msg)
			rec = nil
		}
	}

	excluded := map[string]bool{} // family@target that failed to pack
	converted := map[string]formats.Matrix{}
	kernels := map[string]asm.Kernel{}
	for {
		for b, r := range p.ranges {
			bf, isForced := fams, false
			if forced != nil && coversRange(*forced, r) {
				bf, isForced = []asm.Family{*forced}, true
			}
			c, err := choose(r, bf, targets, ms, rec, isForced, excluded)
			if err != nil {
				return nil, err
			}
			p.sel[b] = c
		}
		retry := false
		for _, c := range p.sel {
			if kern, ok := kernels[c.id()]; ok {
				c.kern = kern
				continue
			}
			cw, ok := converted[c.tgt.String()]
			if !ok {
				if cw, err = convert(w, c.tgt); err != nil {
					return nil, err
				}
				converted[c.tgt.String()] = cw
			}
			kern, err := c.fam.Pack(cw)
			if errors.Is(err, asm.ErrNotApplicable) {
				excluded[c.id()] = true
				retry = true
				break
			}
			if err != nil {
				return nil, fmt.Errorf("dispatch: packing %s for %s: %w", c.tgt, c.fam.Name, err)
			}
			if km, kk := kern.Shape(); km != m || kk != k {
				return nil, fmt.Errorf("dispatch: family %s packed a %d×%d kernel from a %d×%d matrix", c.fam.Name, km, kk, m, k)
			}
			kernels[c.id()] = kern
			c.kern = kern
			p.packed += kern.PackedBytes()
		}
		if !retry {
			break
		}
	}
	// Adjacent ranges that run the same packed kernel become one.
	rs, sel := p.ranges[:1], p.sel[:1]
	for i := 1; i < len(p.ranges); i++ {
		if p.sel[i].kern == sel[len(sel)-1].kern {
			rs[len(rs)-1].hi = p.ranges[i].hi
			continue
		}
		rs, sel = append(rs, p.ranges[i]), append(sel, p.sel[i])
	}
	p.ranges, p.sel = rs, sel
	p.panelCap = tokenPanel(k)
	return p, nil
}

func isNilMatrix(w formats.Matrix) bool {
	switch w := w.(type) {
	case *formats.Dense:
		return w == nil
	case *formats.CSR:
		return w == nil
	case *formats.BSR:
		return w == nil
	case *formats.NM:
		return w == nil
	}
	return false
}

func familyNames() string {
	var s []string
	for _, f := range asm.Families() {
		s = append(s, f.Name)
	}
	return strings.Join(s, ", ")
}

// candidateBlocks is the default block shapes plus those of registered BSR families.
func candidateBlocks() [][2]int {
	bl := append([][2]int(nil), defaultBlocks...)
	for _, f := range asm.Families() {
		if r, c := familyBlock(f); r != 0 {
			bl = addBlock(bl, r, c)
		}
	}
	return bl
}

// targetsFor lists the formats W may be packed in: as is, dense, CSR, BSR for measured
// blocks with families to run them, N:M for conforming patterns.
func targetsFor(w formats.Matrix, ms *Measure, fams []asm.Family, force string) ([]target, error) {
	var asIs target
	switch w := w.(type) {
	case *formats.Dense:
		asIs = target{format: "dense"}
	case *formats.CSR:
		asIs = target{format: "csr"}
	case *formats.BSR:
		asIs = target{format: "bsr", r: w.R, c: w.C}
	case *formats.NM:
		asIs = target{format: "nm", keep: w.Keep, group: w.Group}
	}
	asIs.asIs = true
	asIs.stored = ms.Stored
	if asIs.format == "dense" {
		asIs.stored = int64(ms.M) * int64(ms.K)
	}
	list := []target{asIs}
	add := func(t target) {
		if t.String() == asIs.String() {
			return
		}
		if s, ok := storedFor(t, ms); ok {
			t.stored = s
			list = append(list, t)
		}
	}
	add(target{format: "dense"})
	add(target{format: "csr"})
	hasFmt := map[string]bool{}
	for _, f := range fams {
		hasFmt[f.Format] = true
	}
	if hasFmt["bsr"] {
		for _, b := range ms.Blocks {
			if b.Blocks > 0 && b.R*b.C > 1 {
				add(target{format: "bsr", r: b.R, c: b.C})
			}
		}
	}
	if hasFmt["nm"] {
		for _, f := range ms.NMFits {
			// Every fitting Keep' ≥ Keep of this group works; try the fit and the patterns
			// specialised families take. A pattern keeping more than 3/4 is left out: it
			// stores almost every weight plus positions.
			if 4*f.Keep > 3*f.Group {
				continue
			}
			add(target{format: "nm", keep: f.Keep, group: f.Group})
			for _, fam := range fams {
				if kk, g := familyNM(fam); g == f.Group && kk >= f.Keep && kk != f.Keep && 4*kk <= 3*g {
					add(target{format: "nm", keep: kk, group: g})
				}
			}
		}
	}
	if force != "" {
		t, err := parseTarget(force)
		if err != nil {
			return nil, err
		}
		if t.String() == asIs.String() {
			return []target{asIs}, nil
		}
		s, ok := storedFor(t, ms)
		if !ok {
			return nil, fmt.Errorf("dispatch: W cannot be stored as %s (%v)", t, ms)
		}
		t.stored = s
		return []target{t}, nil
	}
	return list, nil
}

type cand struct {
	fam asm.Family
	tgt target
	est float64
	src string
}

// choose picks the kernel for N range r: the tuning record's winner (or first runnable
// runner-up) if the record has this layer, else the lowest estimate of the default policy.
func choose(r nRange, fams []asm.Family, targets []target, ms *Measure, rec *Record, forced bool, excluded map[string]bool) (*choice, error) {
	n := r.repN()
	var cands []cand
	for _, f := range fams {
		if !coversRange(f, r) {
			continue
		}
		for _, t := range targets {
			if !familyTakes(f, t) || excluded[f.Name+"@"+t.String()] {
				continue
			}
			co := lookupCoefN(f, t, n)
			cands = append(cands, cand{f, t, co.estimate(t.stored, ms.M, n), co.source})
		}
	}
	if len(cands) == 0 {
		return nil, fmt.Errorf("dispatch: no kernel family can run %v for %s (families: %s)", targets, r, familyNames())
	}
	// Lowest estimate first; ties prefer no conversion, then the wider ISA, then the name.
	sort.SliceStable(cands, func(i, j int) bool {
		a, c := cands[i], cands[j]
		if a.est != c.est {
			return a.est < c.est
		}
		if a.tgt.asIs != c.tgt.asIs {
			return a.tgt.asIs
		}
		if a.fam.ISA != c.fam.ISA {
			return a.fam.ISA > c.fam.ISA
		}
		return a.fam.Name < c.fam.Name
	})
	if rec != nil && !forced {
		if e := rec.Lookup(keyOf(ms, n)); e != nil {
			for i, rc := range append([]Candidate{e.Winner}, e.RunnersUp...) {
				for _, c := range cands {
					if c.fam.Name == rc.Kernel && c.tgt.String() == rc.Format {
						why := fmt.Sprintf("tuning record (%s, %s: median %s", e.Pattern, rc.Format, fmtNs(rc.MedianNs))
						if i > 0 {
							why += fmt.Sprintf("; runner-up %d, the winner %s does not run here", i, e.Winner.Kernel)
						} else if len(e.RunnersUp) > 0 {
							why += fmt.Sprintf("; next %s %s %s", e.RunnersUp[0].Kernel, e.RunnersUp[0].Format, fmtNs(e.RunnersUp[0].MedianNs))
						}
						return &choice{fam: c.fam, tgt: c.tgt, est: c.est, why: why + ")"}, nil
					}
				}
			}
		}
	}
	best := cands[0]
	why := "default policy (" + best.src + "): est " + fmtNs(best.est) + fmt.Sprintf(" at N = %d", n)
	if forced {
		why = "forced: est " + fmtNs(best.est) + fmt.Sprintf(" at N = %d", n)
	}
	var alts []string
	seen := map[string]bool{best.tgt.String(): true}
	for _, c := range cands[1:] {
		if len(alts) == 3 {
			break
		}
		if !seen[c.tgt.String()] {
			seen[c.tgt.String()] = true
			alts = append(alts, fmt.Sprintf("%s/%s %s", c.tgt, c.fam.Name, fmtNs(c.est)))
		}
	}
	if len(alts) > 0 {
		why += "; vs " + strings.Join(alts, ", ")
	}
	return &choice{fam: best.fam, tgt: best.tgt, est: best.est, why: why}, nil
}

// Shape returns (M, K) of the compiled weight.
func (p *Plan) Shape() (m, k int) { return p.m, p.k }

// Threads is the number of threads a call uses.
func (p *Plan) Threads() int { return p.threads }

// PackedBytes is the memory the plan's packed kernels hold.
func (p *Plan) PackedBytes() int64 { return p.packed }

// Measure returns what Compile measured of W.
func (p *Plan) Measure() Measure { return *p.ms }

// choiceFor returns the kernel choice for N ≥ 0 columns (N = 0 uses N = 1's).
func (p *Plan) choiceFor(n int) *choice {
	i := sort.Search(len(p.ranges), func(i int) bool { return p.ranges[i].hi >= n })
	return p.sel[min(i, len(p.sel)-1)]
}

// KernelFor names the kernel family and format the plan runs for N columns.
func (p *Plan) KernelFor(n int) (family, format string) {
	c := p.choiceFor(n)
	return c.fam.Name, c.tgt.String()
}

// Close marks the plan closed: later calls return ErrClosed. The worker pool is shared and
// stays; packed memory is freed by the garbage collector once the plan is unreachable.
func (p *Plan) Close() {
	p.closed.Store(true)
}

// Describe says what the plan runs for each N range and why.
func (p *Plan) Describe() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "sparsegen plan: %v\n", p.ms)
	fmt.Fprintf(&sb, "CPU %s %q, features %v; ISA cap %s (%s); %d thread(s)\n", p.ms2cpu(), Host().Model, Host().Features, p.isa, p.isaWhy, p.threads)
	fmt.Fprintf(&sb, "epilogue: %s\n", describeEpi(&p.epi))
	for b, c := range p.sel {
		shared := ""
		for b2 := 0; b2 < b; b2++ {
			if p.sel[b2].kern == c.kern {
				shared = fmt.Sprintf(" (same packing as %s)", p.ranges[b2])
				break
			}
		}
		conv := "as given"
		if !c.tgt.asIs {
			conv = "converted from " + p.ms.Format
		}
		fmt.Fprintf(&sb, "%-11s %s on %s (%s, packed %s)%s: %s\n", p.ranges[b].String()+":", c.kern.Name(), c.tgt, conv, fmtBytes(c.kern.PackedBytes()), shared, c.why)
	}
	fmt.Fprintf(&sb, "packed total %s; token-major (MulTokens) transposes X in panels of %d tokens into pooled buffers per call and writes Y back through a transpose\n", fmtBytes(p.packed), p.panelCap)
	for _, n := range p.notes {
		fmt.Fprintf(&sb, "note: %s\n", n)
	}
	return sb.String()
}

func (p *Plan) ms2cpu() string { return Host().GOARCH }

func describeEpi(e *ref.Epilogue) string {
	var parts []string
	if e.Bias != nil {
		parts = append(parts, "bias")
	}
	if e.Act != ref.ActNone {
		s := e.Act.String()
		if e.Act == ref.ActClamp {
			s += fmt.Sprintf("[%g, %g]", e.Lo, e.Hi)
		}
		parts = append(parts, s)
	}
	if e.Accumulate {
		parts = append(parts, "accumulate")
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func fmtBytes(b int64) string {
	switch {
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(b)/(1<<10))
	}
	return fmt.Sprintf("%d B", b)
}

var _ = math.MaxInt
