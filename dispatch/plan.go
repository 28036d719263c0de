// Package dispatch is sparsegen's API: it reads the CPU's features, measures a weight
// matrix, chooses a kernel family per range of N (by a tuning record or the default
// policy), packs W once per layout those kernels need (on the first call in a range, or
// all at once with Prepare), and runs Y = act(W·X + b) on a persistent worker pool.
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
	"cmp"
	"errors"
	"fmt"
	"log"
	"math"
	"runtime"
	"slices"
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

	// Threads is the number of threads a call uses, at most MaxThreads; 0 means
	// GOMAXPROCS at Compile time (capped at MaxThreads).
	Threads int
	// ISA caps the kernels' ISA: "" means the best available, unless $SPARSEGEN_ISA is
	// set; "avx512", "avx2", "neon" or "generic" allow that ISA and narrower ones (and
	// generic). Naming an ISA the CPU lacks is an error.
	ISA string
	// Record is a tuning record; nil means the default policy. An entry's winner replaces
	// the default policy's choice only over the N range it was timed in, against that very
	// choice (see Record); every other N keeps the default's.
	Record *Record
	// Kernel forces one kernel family by name for every N (tests, benchmarks, autotune).
	Kernel string
	// Format forces the format W is packed in: "dense", "csr", "bsrRxC" or "nmK:G".
	Format string
	// Calibration picks the default policy's cost coefficients: "" uses this machine's
	// calibration (written by `sparsegen calibrate` to the user's cache directory) when
	// its signature matches this CPU and kernel set, else the shipped table; a file path
	// uses that calibration file; "off" uses the shipped table. $SPARSEGEN_CALIBRATION,
	// when set, stands in for "". A file that cannot be used is ignored with a warning.
	Calibration string
	// Warn receives warnings (an ignored tuning record or calibration); nil logs them
	// with package log.
	Warn func(msg string)
}

// shareSlack: a kernel already packed for another N range is reused when its estimate is
// within this factor of the range's best. At 1.25 a BERT layer packed 5 layouts instead of 6
// (Compile with every range packed: ~40 instead of ~52 ns/nnz) but the held-out validation
// fell from 128/128 to 116/128 within 20%.
const shareSlack = 1.15

// ErrClosed is returned by calls on a closed plan.
var ErrClosed = errors.New("dispatch: plan is closed")

// ErrNilPlan is returned by calls on a nil *Plan (its other methods return zero values).
var ErrNilPlan = errors.New("dispatch: nil plan")

// choice is the kernel a plan runs for one N range. It is packed on first use (see
// Plan.kernel); fam, tgt and why may change then (a family that turns out not to take W
// falls back to the next candidate), so they are read under Plan.packMu or after once.
type choice struct {
	fam  asm.Family
	tgt  target
	est  float64 // estimated ns at the range's representative N
	why  string
	alts []cand // the other candidates, best first, for fallback

	once sync.Once
	kern asm.Kernel
	err  error
}

func (c *choice) id() string { return c.fam.Name + "@" + c.tgt.String() }

// Plan is a compiled weight matrix: packed kernels per N bucket and the epilogue.
type Plan struct {
	m, k    int
	epi     ref.Epilogue
	epiP    *ref.Epilogue // nil when the epilogue does nothing
	threads atomic.Int32  // SetThreads may change it while calls run
	isa     asm.ISA
	isaWhy  string
	pol     *policy // the default policy's coefficients this plan was chosen with
	lowp    bool    // W is bf16, fp16 or int8 (compileLP): no cost model prices its kernels
	ms      *Measure
	ranges  []nRange  // N ranges with one kernel each, ascending
	sel     []*choice // sel[i] serves ranges[i]

	// Packing is lazy: each choice is packed on the first call in its N range (or by
	// Prepare), once, under packMu; converted holds conversions of w until all are packed.
	w         formats.Matrix
	packMu    sync.Mutex
	converted map[string]formats.Matrix
	sparse    *formats.CSR // a Dense w's nonzeros as CSR, the source of sparse conversions (nil: w)
	kernels   map[string]asm.Kernel
	layouts   map[string]asm.Kernel    // target|layout → the kernel packed in it (asm.Family.Layout)
	derived   map[string]derivation    // kernel id → the packing it shares
	packing   map[string]chan struct{} // layout (or kernel id) → closed when its packing ends
	unpacked  int
	packed    atomic.Int64

	notes    []string
	closed   atomic.Bool
	tokBufs  sync.Pool // *[]float32 panels and token-major buffers
	panelCap int       // tokens per MulTokens panel
}

// Compile measures w, chooses a kernel per N range and returns a Plan that packs w for
// each range on first use. The steps, in order: resolve the ISA and measure w; set up the
// plan from the options (epilogue, threads, policy, a forced family); list the N ranges and
// the targets w may be packed as; choose a kernel per range by the cost model; share
// packings between ranges; merge equal neighbours; apply a tuning record.
func Compile(w formats.Matrix, opts Options) (*Plan, error) {
	if formats.IsNil(w) {
		return nil, errors.New("dispatch: nil weight matrix")
	}
	host := Host()
	isa, isaWhy, err := host.resolveISA(opts.ISA)
	if err != nil {
		return nil, err
	}
	switch w.(type) {
	case *formats.DenseLP, *formats.CSRLP, *formats.BSRLP, *formats.NMLP: // bf16, fp16, int8: dispatch/lowp.go
		return compileLP(w, opts, host, isa, isaWhy)
	}
	fams, ms, sparse, err := measureFor(w, host, isa, opts.Format, true)
	if err != nil {
		return nil, err
	}
	p, warn, err := newPlan(ms, isa, isaWhy, opts)
	if err != nil {
		return nil, err
	}
	forced, err := forcedFamily(opts.Kernel, host, isa)
	if err != nil {
		return nil, err
	}
	p.ranges = planRanges(fams)
	if forced != nil && !slices.ContainsFunc(p.ranges, func(r nRange) bool { return coversRange(*forced, r) }) {
		return nil, fmt.Errorf("dispatch: kernel family %q covers no N (MinN %d, MaxN %d)", forced.Name, forced.MinN, forced.MaxN)
	}
	targets, err := targetsFor(w, ms, fams, opts.Format)
	if err != nil {
		return nil, err
	}
	rec := p.usableRecord(opts.Record, warn)
	if err := p.chooseRanges(fams, targets, forced); err != nil {
		return nil, err
	}
	if forced == nil {
		p.sharePackings()
	}
	p.mergeRanges()
	// The tuning record replaces the default's choice only over the N ranges it timed its
	// winner against that very choice: every other N keeps the plan made above.
	if rec != nil {
		if forced != nil {
			p.notes = append(p.notes, "tuning record not used: a kernel family is forced")
		} else {
			p.applyRecord(rec, host, isa, targets)
		}
	}
	p.panelCap = tokenPanel(ms.Cols)
	p.w, p.converted, p.kernels, p.unpacked = w, map[string]formats.Matrix{}, map[string]asm.Kernel{}, len(p.sel)
	p.sparse = sparse
	p.layouts, p.derived, p.packing = map[string]asm.Kernel{}, map[string]derivation{}, map[string]chan struct{}{}
	return p, nil
}

// newPlan starts a plan for a measured W from the options: the epilogue, the thread count
// and the policy (a calibration, or the shipped table). It returns the warning sink too.
func newPlan(ms *Measure, isa asm.ISA, isaWhy string, opts Options) (*Plan, func(string), error) {
	p := &Plan{m: ms.Rows, k: ms.Cols, isa: isa, isaWhy: isaWhy, ms: ms}
	p.epi = ref.Epilogue{Act: opts.Act, Lo: opts.Lo, Hi: opts.Hi, Accumulate: opts.Accumulate}
	if opts.Bias != nil {
		p.epi.Bias = append([]float32(nil), opts.Bias...)
	}
	if err := p.epi.Check(ms.Rows); err != nil {
		return nil, nil, fmt.Errorf("dispatch: %w", err)
	}
	if p.epi.Bias != nil || p.epi.Act != ref.ActNone || p.epi.Accumulate {
		p.epiP = &p.epi
	}
	switch {
	case opts.Threads < 0 || opts.Threads > MaxThreads:
		return nil, nil, fmt.Errorf("dispatch: Threads = %d outside 0…%d", opts.Threads, MaxThreads)
	case opts.Threads == 0:
		p.threads.Store(int32(defaultThreads()))
	default:
		p.threads.Store(int32(opts.Threads))
	}
	warn := opts.Warn
	if warn == nil {
		warn = func(s string) { log.Print("sparsegen: ", s) }
	}
	p.pol = resolvePolicy(opts.Calibration, warn)
	return p, warn, nil
}

// forcedFamily resolves Options.Kernel: nil when none is forced, an error when the family
// does not exist or cannot run here. A forced family serves the N ranges its N range
// covers; the policy picks the others.
func forcedFamily(name string, host CPU, isa asm.ISA) (*asm.Family, error) {
	if name == "" {
		return nil, nil
	}
	f, ok := asm.Lookup(name)
	if !ok {
		return nil, fmt.Errorf("dispatch: no kernel family %q (have %s)", name, familyNames())
	}
	if !host.CanRun(f, isa) {
		return nil, fmt.Errorf("dispatch: kernel family %q (%s, needs %v) cannot run here under ISA cap %s (CPU features %v)",
			f.Name, f.ISA, f.Features|isaFeatures(f.ISA), isa, host.Features)
	}
	return &f, nil
}

// usableRecord returns rec, or nil with a warning and a note when it was made on another
// machine or kernel set or in another version.
func (p *Plan) usableRecord(rec *Record, warn func(string)) *Record {
	if rec == nil {
		return nil
	}
	msg := ""
	if why := rec.Machine.mismatch(HostMachine()); why != "" {
		msg = fmt.Sprintf("%v: made on another machine or kernel set (%s)", ErrRecordIgnored, why)
	} else if rec.Version != RecordVersion {
		msg = fmt.Sprintf("%v: version %d", ErrRecordIgnored, rec.Version)
	}
	if msg == "" {
		return rec
	}
	warn(msg)
	p.notes = append(p.notes, msg)
	return nil
}

// chooseRanges chooses a kernel and target for every N range by the cost model (choose);
// in the ranges a forced family covers, only that family is a candidate.
func (p *Plan) chooseRanges(fams []asm.Family, targets []target, forced *asm.Family) error {
	p.sel = make([]*choice, len(p.ranges))
	all := newScorer(fams, targets, p.pol)
	for b, r := range p.ranges {
		sc, isForced := all, forced != nil && coversRange(*forced, r)
		if isForced {
			sc = newScorer([]asm.Family{*forced}, targets, p.pol)
		}
		c, err := choose(r, sc, p.ms, isForced)
		if err != nil {
			return err
		}
		p.sel[b] = c
	}
	return nil
}

// sharePackings: a range whose candidates include a kernel already chosen for another
// range (largest N first) within shareSlack of its best estimate runs that one, so a plan
// does not hold several packings of W that differ by a few percent; unless the two are BSR
// GEMVs of one block shape and dtype on the same target (sameBlockGemv): one packing serves
// both, so each range keeps its best.
func (p *Plan) sharePackings() {
	var chosen []*choice
	for b := len(p.sel) - 1; b >= 0; b-- {
		c := p.sel[b]
		for _, o := range chosen {
			if o.id() == c.id() || c.tgt.String() == o.tgt.String() && sameBlockGemv(c.fam, o.fam) {
				break
			}
			if i := slices.IndexFunc(c.alts, func(a cand) bool { return a.fam.Name == o.fam.Name && a.tgt.String() == o.tgt.String() }); i >= 0 && c.alts[i].est <= shareSlack*c.est {
				a := c.alts[i]
				c.why = fmt.Sprintf("shares the packing of %s (est %s, within %.0f%% of the best here, %s %s)",
					o.id(), fmtNs(a.est), 100*(shareSlack-1), c.id(), fmtNs(c.est))
				c.alts = append(without(c.alts, a), cand{fam: c.fam, tgt: c.tgt, est: c.est})
				c.fam, c.tgt, c.est = a.fam, a.tgt, a.est
				break
			}
		}
		chosen = append(chosen, c)
	}
}

// mergeRanges joins adjacent ranges that run the same kernel on the same format.
func (p *Plan) mergeRanges() {
	rs, sel := p.ranges[:1], p.sel[:1]
	for i := 1; i < len(p.ranges); i++ {
		if p.sel[i].id() == sel[len(sel)-1].id() {
			rs[len(rs)-1].hi = p.ranges[i].hi
			continue
		}
		rs, sel = append(rs, p.ranges[i]), append(sel, p.sel[i])
	}
	p.ranges, p.sel = rs, sel
}

// kernel returns c's packed kernel, packing it on first use.
func (p *Plan) kernel(c *choice) (asm.Kernel, error) {
	c.once.Do(func() {
		c.kern, c.err = p.pack(c)
		p.packMu.Lock()
		defer p.packMu.Unlock()
		if p.unpacked--; p.unpacked == 0 {
			p.converted, p.sparse = nil, nil // every range is packed: conversions are no longer needed
		}
	})
	return c.kern, c.err
}

// pack packs c: the same family and format packed for another range is shared; a family
// that does not take W (asm.ErrNotApplicable) gives way to the next candidate. The maps
// and c's fields change under packMu; the packing itself runs outside it, so that Prepare
// packs several ranges at once (conversions, rare and shared, stay under the lock).
func (p *Plan) pack(c *choice) (asm.Kernel, error) {
	p.packMu.Lock()
	defer p.packMu.Unlock()
	for {
		id := c.id()
		if kern, ok := p.kernels[id]; ok {
			return kern, nil
		}
		cw, ok := p.converted[c.tgt.String()]
		if !ok {
			from := p.w
			if p.sparse != nil && c.tgt.format != "dense" {
				from = p.sparse
			}
			var err error
			if cw, err = convert(from, c.tgt); err != nil {
				return nil, err
			}
			p.converted[c.tgt.String()] = cw
		}
		fam := c.fam
		// A family whose layout another family already packed from this matrix derives
		// its kernel from that packing (sharing its values) instead of packing W again.
		layout := layoutKey(fam, c.tgt, cw)
		src := p.layouts[layout]
		// One packing per layout (or per kernel) at a time: a range that finds its layout
		// being packed by another waits for it and then derives, rather than packing W a
		// second time, so what a plan holds does not depend on which range came first.
		claim := ""
		if src == nil {
			claim = "id|" + id
			if layout != "" {
				claim = layout
			}
			if busy, ok := p.packing[claim]; ok {
				p.packMu.Unlock()
				<-busy
				p.packMu.Lock()
				continue
			}
			p.packing[claim] = make(chan struct{})
		}
		p.packMu.Unlock()
		var kern asm.Kernel
		var added int64
		err := asm.ErrNotApplicable
		if src != nil {
			kern, added, err = fam.Derive(src)
		}
		if err != nil {
			src = nil
			if kern, err = fam.Pack(cw); err == nil {
				added = kern.PackedBytes()
			}
		}
		p.packMu.Lock()
		if claim != "" {
			close(p.packing[claim])
			delete(p.packing, claim)
		}
		if errors.Is(err, asm.ErrNotApplicable) {
			if len(c.alts) == 0 {
				return nil, fmt.Errorf("dispatch: %s: %w, and no other candidate", id, err)
			}
			c.why = fmt.Sprintf("%s did not take W, next candidate: est %s", id, fmtNs(c.alts[0].est))
			c.fam, c.tgt, c.est, c.alts = c.alts[0].fam, c.alts[0].tgt, c.alts[0].est, c.alts[1:]
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("dispatch: packing %s for %s: %w", c.tgt, fam.Name, err)
		}
		if km, kk := kern.Shape(); km != p.m || kk != p.k {
			return nil, fmt.Errorf("dispatch: family %s packed a %d×%d kernel from a %d×%d matrix", fam.Name, km, kk, p.m, p.k)
		}
		if prior, ok := p.kernels[id]; ok {
			return prior, nil // another range packed the same kernel meanwhile
		}
		p.kernels[id] = kern
		p.packed.Add(added)
		if src != nil {
			p.derived[id] = derivation{from: src.Name(), added: added}
		} else if _, ok := p.layouts[layout]; layout != "" && !ok {
			p.layouts[layout] = kern
		}
		return kern, nil
	}
}

// sameBlockGemv reports whether a and b are BSR GEMVs (ExactN, a block shape) of the same
// format, block shape and dtype, on any ISAs: they pack the same BSRGemvLayout, and either
// derives its kernel from the other's packing at no cost (asm/bsrgemv.go's Derive).
func sameBlockGemv(a, b asm.Family) bool {
	return a.ExactN && b.ExactN && a.BlockR != 0 && a.Derive != nil && b.Derive != nil &&
		a.Format == b.Format && a.BlockR == b.BlockR && a.BlockC == b.BlockC && a.DType == b.DType
}

// layoutKey names the layout family f packs from w (the matrix for target t), within the
// plan: "" when f declares none or cannot derive from it (asm.Family.Layout, Derive).
func layoutKey(f asm.Family, t target, w formats.Matrix) string {
	if f.Layout == nil || f.Derive == nil {
		return ""
	}
	if l := f.Layout(w); l != "" {
		return t.String() + "|" + l
	}
	return ""
}

// Prepare packs the kernels of every N range now (Compile leaves packing to the first
// call in each range), so that no later call pays for it. The distinct packings run on up
// to the plan's thread count at once: first one kernel per layout of W, then the kernels
// that derive from those (asm.Family.Derive) and the rest.
func (p *Plan) Prepare() error {
	if p == nil {
		return ErrNilPlan
	}
	p.packMu.Lock()
	var first, then []*choice // one range per distinct kernel: the others then find it packed
	seenID, seenLayout := map[string]bool{}, map[string]bool{}
	for _, c := range p.sel {
		if seenID[c.id()] {
			continue
		}
		seenID[c.id()] = true
		key := c.id()
		if c.tgt.asIs { // W itself: its layout is known before packing
			if l := layoutKey(c.fam, c.tgt, p.w); l != "" {
				key = l
			}
		}
		if seenLayout[key] {
			then = append(then, c)
		} else {
			seenLayout[key] = true
			first = append(first, c)
		}
	}
	p.packMu.Unlock()
	for _, batch := range [][]*choice{first, then} {
		if workers := min(p.Threads(), len(batch)); workers > 1 {
			var next atomic.Int64
			var wg sync.WaitGroup
			for range workers {
				wg.Go(func() {
					for i := int(next.Add(1)) - 1; i < len(batch); i = int(next.Add(1)) - 1 {
						p.kernel(batch[i]) // its error is kept in the choice, returned below
					}
				})
			}
			wg.Wait()
		} else {
			for _, c := range batch {
				p.kernel(c)
			}
		}
	}
	for _, c := range p.sel {
		if _, err := p.kernel(c); err != nil {
			return err
		}
	}
	return nil
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
		if f.BlockR != 0 {
			bl = addBlock(bl, f.BlockR, f.BlockC)
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
		asIs.stored = int64(ms.Rows) * int64(ms.Cols)
	}
	list := []target{asIs}
	add := func(t target) {
		if t.String() == asIs.String() {
			return
		}
		if s, ok := storedFor(t, ms); ok {
			t.stored = s
			t.full = s >= int64(ms.Rows)*int64(ms.Cols)
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
		for _, f := range ms.NM {
			// Every fitting Keep' ≥ Keep of this group works; try the fit and the patterns
			// specialised families take. A pattern keeping more than 3/4 is left out: it
			// stores almost every weight plus positions.
			if 4*f.Keep > 3*f.Group {
				continue
			}
			add(target{format: "nm", keep: f.Keep, group: f.Group})
			for _, fam := range fams {
				if kk, g := fam.Keep, fam.Group; g == f.Group && kk >= f.Keep && kk != f.Keep && 4*kk <= 3*g {
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
			list = []target{asIs}
		} else {
			s, ok := storedFor(t, ms)
			if !ok {
				return nil, fmt.Errorf("dispatch: W cannot be stored as %s (%v)", t, ms)
			}
			t.stored = s
			list = []target{t}
		}
	}
	return withPattern(list, w, fams), nil
}

// withPattern sets the pattern hash of W on its csr target when a baked family (one that
// takes a single pattern) of W's shape is among fams: hashing W costs a pass over its
// entries (a dense W's every column), spent only then.
func withPattern(list []target, w formats.Matrix, fams []asm.Family) []target {
	m, k := w.Shape()
	baked := false
	for _, f := range fams {
		baked = baked || f.Pattern != "" && f.PatternRows == m && f.PatternCols == k
	}
	if !baked {
		return list
	}
	for i := range list {
		if list[i].format == "csr" {
			if h, err := formats.PatternHash(w); err == nil {
				list[i].pattern = h
			}
		}
	}
	return list
}

// scorer is what choose needs per (family, target) over a Compile's N ranges: whether the
// family takes the target, and its cost coefficients by policy point (filled on first use).
type scorer struct {
	pol     *policy
	fams    []asm.Family
	targets []target
	takes   []bool       // [family·len(targets) + target]
	coef    []*coefCache // likewise
}

func newScorer(fams []asm.Family, targets []target, pol *policy) *scorer {
	sc := &scorer{pol: pol, fams: fams, targets: targets, takes: make([]bool, len(fams)*len(targets)), coef: make([]*coefCache, len(fams)*len(targets))}
	for fi, f := range fams {
		for ti, t := range targets {
			sc.takes[fi*len(targets)+ti] = familyTakes(f, t)
		}
	}
	return sc
}

func (sc *scorer) coefs(fi, ti int) *coefCache {
	i := fi*len(sc.targets) + ti
	if sc.coef[i] == nil {
		sc.coef[i] = &coefCache{pol: sc.pol, f: sc.fams[fi], t: sc.targets[ti]}
	}
	return sc.coef[i]
}

type cand struct {
	fam    asm.Family
	tgt    target
	est    float64 // estimated ns at the range's representative N
	src    string
	regret float64 // worst ratio to the best estimate over the range's sample N
}

// choose picks the default policy's kernel for N range r: every (family, target) pair
// that covers r is estimated at sample N of the range (estimateCandidates), scored by its
// worst ratio to the best estimate at each sample (scoreRegret: minimax regret), ranked
// (rankCandidates), and the first one runs; the rest stay as alternatives, for sharing
// packings and for Describe (explainChoice).
func choose(r nRange, sc *scorer, ms *Measure, forced bool) (*choice, error) {
	n, ns := r.repN(), r.sampleNs()
	cands, ests := estimateCandidates(r, sc, ms, n, ns)
	if len(cands) == 0 {
		return nil, fmt.Errorf("dispatch: no kernel family can run %v for %s (families: %s)", sc.targets, r, familyNames())
	}
	scoreRegret(cands, ests, len(ns))
	cands = rankCandidates(cands)
	best := cands[0]
	return &choice{fam: best.fam, tgt: best.tgt, est: best.est, why: explainChoice(cands, n, forced), alts: cands[1:]}, nil
}

// estimateCandidates estimates every (family, target) pair that covers r: at the
// representative n (cand.est) and at each sample N in ns (ests, one slice per candidate).
// An N:M target coarser than another storing the same values is handicapped by
// coarserSlack.
func estimateCandidates(r nRange, sc *scorer, ms *Measure, n int, ns []int) ([]cand, [][]float64) {
	fams, targets := sc.fams, sc.targets
	count := 0 // candidates, to allocate once (a cand is large)
	for fi, f := range fams {
		for ti := range targets {
			if coversRange(f, r) && sc.takes[fi*len(targets)+ti] {
				count++
			}
		}
	}
	cands := make([]cand, 0, count)
	ests := make([][]float64, 0, count)
	estBuf := make([]float64, 0, count*len(ns))
	for fi, f := range fams {
		if !coversRange(f, r) {
			continue
		}
		for ti, t := range targets {
			if !sc.takes[fi*len(targets)+ti] {
				continue
			}
			cc := sc.coefs(fi, ti)
			e, src := estimateWith(f, t, ms.Rows, ms.Cols, n, cc.at)
			estBuf = append(estBuf, make([]float64, len(ns))...)
			es := estBuf[len(estBuf)-len(ns):]
			for i, sn := range ns {
				if sn == n {
					es[i] = e // the representative N is usually a sample too
				} else {
					es[i], _ = estimateWith(f, t, ms.Rows, ms.Cols, sn, cc.at)
				}
			}
			if coarserNM(t, targets) {
				e *= coarserSlack
				for i := range es {
					es[i] *= coarserSlack
				}
			}
			cands = append(cands, cand{fam: f, tgt: t, est: e, src: src})
			ests = append(ests, es)
		}
	}
	return cands, ests
}

// scoreRegret sets each candidate's regret: its worst ratio, over the samples, to the
// best estimate at that sample.
func scoreRegret(cands []cand, ests [][]float64, samples int) {
	for i := range samples {
		best := math.Inf(1)
		for _, es := range ests {
			best = min(best, es[i])
		}
		for c, es := range ests {
			cands[c].regret = max(cands[c].regret, es[i]/best)
		}
	}
}

// rankCandidates orders the candidates: lowest regret first (equal within 1%), then lowest
// estimate at the representative N; ties prefer no conversion, then the wider ISA, then
// the name. (Sorted through an index: a cand is large to move.)
func rankCandidates(cands []cand) []cand {
	order := make([]int, len(cands))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(i, j int) int {
		a, c := &cands[i], &cands[j]
		if math.Abs(a.regret-c.regret) > 0.01*min(a.regret, c.regret) {
			return cmp.Compare(a.regret, c.regret)
		}
		if a.est != c.est {
			return cmp.Compare(a.est, c.est)
		}
		if a.tgt.asIs != c.tgt.asIs {
			if a.tgt.asIs {
				return -1
			}
			return 1
		}
		if a.fam.ISA != c.fam.ISA {
			return -cmp.Compare(a.fam.ISA, c.fam.ISA)
		}
		return strings.Compare(a.fam.Name, c.fam.Name)
	})
	sorted := make([]cand, len(cands))
	for i, o := range order {
		sorted[i] = cands[o]
	}
	return sorted
}

// explainChoice is the Describe text of a choice: the first of the ranked candidates, its
// estimate at N = n and where its coefficients came from, and up to three runners-up on
// other targets.
func explainChoice(cands []cand, n int, forced bool) string {
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
	return why
}

// coarserSlack: an N:M target with a larger group than another storing the same number of
// values (4:8 for a 2:4 W, 4:16 for a 2:8 W) must be estimated this much faster to be
// chosen. It stores the same values with more position bits, and the model's estimates
// between such pairs are within its error: on the held-out set the coarser pattern was
// chosen and ran 1.22–1.42× slower in 4 cases.
const coarserSlack = 1.10

// coarserNM reports whether t is an N:M target with another N:M target in targets that
// stores the same number of values in smaller groups.
func coarserNM(t target, targets []target) bool {
	if t.format != "nm" {
		return false
	}
	for _, o := range targets {
		if o.format == "nm" && o.group < t.group && o.stored == t.stored {
			return true
		}
	}
	return false
}

func without(cands []cand, c cand) []cand {
	var out []cand
	for _, d := range cands {
		if d.fam.Name != c.fam.Name || d.tgt.String() != c.tgt.String() {
			out = append(out, d)
		}
	}
	return out
}

// Shape returns (M, K) of the compiled weight ((0, 0) for a nil plan).
func (p *Plan) Shape() (m, k int) {
	if p == nil {
		return 0, 0
	}
	return p.m, p.k
}

// Threads is the number of threads a call uses (0 for a nil plan).
func (p *Plan) Threads() int {
	if p == nil {
		return 0
	}
	return int(p.threads.Load())
}

// MaxThreads bounds a plan's thread count (Go stops a program that runs more than 10000
// OS threads; each of a call's threads may hold one while it runs a kernel).
const MaxThreads = 1 << 12

// defaultThreads is the count Threads = 0 means: GOMAXPROCS, capped at MaxThreads.
func defaultThreads() int { return min(runtime.GOMAXPROCS(0), MaxThreads) }

// SetThreads changes the number of threads later calls use (0 means GOMAXPROCS now, capped
// at MaxThreads). It is
// safe while other calls run: each call reads the count once when it starts. Results do
// not depend on the thread count.
func (p *Plan) SetThreads(n int) error {
	if p == nil {
		return ErrNilPlan
	}
	if n < 0 || n > MaxThreads {
		return fmt.Errorf("dispatch: threads = %d outside 0…%d", n, MaxThreads)
	}
	if n == 0 {
		n = defaultThreads()
	}
	p.threads.Store(int32(n))
	return nil
}

// PackedBytes is the memory the plan's kernels packed so far hold (see Prepare).
func (p *Plan) PackedBytes() int64 {
	if p == nil {
		return 0
	}
	return p.packed.Load()
}

// derivation is a kernel built from another family's packing (asm.Family.Derive).
type derivation struct {
	from  string // the family whose packing it shares
	added int64  // the bytes it holds on its own
}

// Measure returns what Compile measured of W.
func (p *Plan) Measure() Measure {
	if p == nil {
		return Measure{}
	}
	return *p.ms
}

// choiceFor returns the kernel choice for N ≥ 0 columns (N = 0 uses N = 1's).
func (p *Plan) choiceFor(n int) *choice {
	i := sort.Search(len(p.ranges), func(i int) bool { return p.ranges[i].hi >= n })
	return p.sel[min(i, len(p.sel)-1)]
}

// KernelFor names the kernel family and format the plan runs for N columns.
func (p *Plan) KernelFor(n int) (family, format string) {
	if p == nil {
		return "", ""
	}
	c := p.choiceFor(n)
	p.packMu.Lock()
	defer p.packMu.Unlock()
	return c.fam.Name, c.tgt.String()
}

// Close marks the plan closed: later calls return ErrClosed. The worker pool is shared and
// stays; packed memory is freed by the garbage collector once the plan is unreachable.
func (p *Plan) Close() {
	if p == nil {
		return
	}
	p.closed.Store(true)
}

// Describe says what the plan runs for each N range and why.
func (p *Plan) Describe() string {
	if p == nil {
		return "sparsegen plan: nil\n"
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "sparsegen plan: %v\n", p.ms)
	fmt.Fprintf(&sb, "CPU %s %q, features %v; ISA cap %s (%s); %d thread(s)\n", p.ms2cpu(), Host().Model, Host().Features, p.isa, p.isaWhy, p.Threads())
	fmt.Fprintf(&sb, "policy: %s\n", p.pol.source)
	fmt.Fprintf(&sb, "epilogue: %s\n", describeEpi(&p.epi))
	p.packMu.Lock()
	defer p.packMu.Unlock()
	for b, c := range p.sel {
		shared := ""
		for b2 := 0; b2 < b; b2++ {
			if p.sel[b2].id() == c.id() {
				shared = fmt.Sprintf(" (same packing as %s)", p.ranges[b2])
				break
			}
		}
		conv := "as given"
		if !c.tgt.asIs {
			conv = "converted from " + p.ms.Format
		}
		packed := "packed on first use"
		if kern, ok := p.kernels[c.id()]; ok {
			packed = "packed " + fmtBytes(kern.PackedBytes())
			if d, ok := p.derived[c.id()]; ok {
				packed = fmt.Sprintf("derived from %s's packing: shares its values, adds %s", d.from, fmtBytes(d.added))
			}
		}
		fmt.Fprintf(&sb, "%-11s %s on %s (%s, %s)%s: %s\n", p.ranges[b].String()+":", c.fam.Name, c.tgt, conv, packed, shared, c.why)
	}
	fmt.Fprintf(&sb, "packed so far %s; token-major (MulTokens): kernels with an X panel (CSR) pack it from X in panels of %d tokens, others transpose X in panels of %d tokens; Y goes back through a %s transpose\n", fmtBytes(p.packed.Load()), tokenPanelTokens, p.panelCap, asm.TransposeISAUpTo(p.isa))
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
