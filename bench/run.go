package bench

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/sparsegen/sparsegen/asm"
	"github.com/sparsegen/sparsegen/dispatch"
	"github.com/sparsegen/sparsegen/formats"
	"github.com/sparsegen/sparsegen/formats/prune"
	"github.com/sparsegen/sparsegen/internal/sysmem"
)

// Config is one benchmark run: every shape × every pattern (or the given model weights).
type Config struct {
	Shapes   []Shape
	Patterns []Pattern
	// Weights, when set, replaces the synthetic weights: one matrix per shape name, used
	// as given (Patterns is ignored for it). The N of each Shape still applies.
	Weights  map[string]formats.Matrix
	Threads  int    // 0 = GOMAXPROCS
	ISA      string // "" = best; else a cap as dispatch.Options.ISA
	Cold     bool   // rotate copies of W so it streams from memory (applies where N ≤ 16)
	Protocol Protocol
	Seed     uint64
	BLAS     bool      // compare with OpenBLAS when the binary has it
	XSMM     bool      // compare with LIBXSMM's dense JIT when the binary has it
	Progress io.Writer // nil: no progress
	PeakGF   float64   // measured single-core FMA peak in GFLOP/s; 0 = unknown
	ReadGBps float64   // measured single-core read bandwidth from memory (asm.ReadBandwidth); 0 = unknown
	// Extras are patterns run only on the shapes whose N matches (the default suite's bf16
	// dense at N = 1 and 16, DefaultExtras), after Patterns.
	Extras []Extra
	Record *dispatch.Record // a tuning record dispatch follows; nil = default policy

	cache *weightCache // tests: the cache to use (nil: a new one)
}

// ColdN is the largest N that is run cold when Config.Cold is set.
const ColdN = 16

// Run times each configuration: the kernel dispatch chooses, our dense kernel on the same
// weights, OpenBLAS (sgemm, sgemv for N = 1) and LIBXSMM when enabled, interleaved.
func Run(cfg Config) ([]Result, error) {
	if cfg.Protocol.Samples == 0 {
		cfg.Protocol = DefaultProtocol
	}
	if cfg.Threads < 0 || cfg.Threads > dispatch.MaxThreads {
		return nil, fmt.Errorf("bench: threads = %d outside 0…%d", cfg.Threads, dispatch.MaxThreads)
	}
	// Every configuration must fit before the first runs (the runtime stops a process whose
	// allocation fails, hours into a run).
	for _, sh := range cfg.Shapes {
		if sh.N < 1 {
			return nil, fmt.Errorf("bench: %s: N = %d < 1", sh.Name, sh.N)
		}
		if err := sysmem.CheckOperands(sh.M, sh.K, sh.N); err != nil {
			return nil, fmt.Errorf("bench: %s: %w", sh.Name, err)
		}
	}
	type job struct {
		sh  Shape
		p   Pattern
		out int // index of its result: shape × pattern order
	}
	var jobs []job
	for _, sh := range cfg.Shapes {
		if w, ok := cfg.Weights[sh.Name]; ok && w != nil {
			p := Pattern{Kind: Model}
			if key, err := dispatch.KeyOf(w, sh.N); err == nil {
				p.Structure = key.Pattern
				if key.DType != "" {
					p.Structure += ":" + key.DType // stored in bf16, fp16 or int8
				}
			}
			jobs = append(jobs, job{sh, p, len(jobs)})
			continue
		}
		for _, p := range cfg.Patterns {
			jobs = append(jobs, job{sh, p, len(jobs)})
		}
		for _, e := range cfg.Extras {
			if e.N == sh.N {
				jobs = append(jobs, job{sh, e.Pattern, len(jobs)})
			}
		}
	}
	// Run the jobs on one W (M, K and pattern) together, whatever their N, so that the
	// weight cache holds one pruned matrix at a time (it kept all 16 pruned variants of the
	// corpus's 11008×4096 for its second N: 4.8 GB); results keep the order above.
	first := map[string]int{}
	for _, j := range jobs {
		if _, ok := first[weightKey(j.sh, j.p)]; !ok {
			first[weightKey(j.sh, j.p)] = j.out
		}
	}
	sort.SliceStable(jobs, func(a, b int) bool {
		return first[weightKey(jobs[a].sh, jobs[a].p)] < first[weightKey(jobs[b].sh, jobs[b].p)]
	})
	cache := cfg.cache
	if cache == nil {
		cache = newWeightCache(cfg.Seed)
	}
	out := make([]Result, len(jobs))
	done := make([]bool, len(jobs))
	partial := func() []Result { // the results so far, in order
		var rs []Result
		for i, r := range out {
			if done[i] {
				rs = append(rs, r)
			}
		}
		return rs
	}
	start := time.Now()
	for i, j := range jobs {
		if cfg.Progress != nil {
			el := time.Since(start)
			eta := ""
			if i > 0 {
				eta = fmt.Sprintf(", ~%s left", (el / time.Duration(i) * time.Duration(len(jobs)-i)).Round(time.Second))
			}
			fmt.Fprintf(cfg.Progress, "\r[%d/%d] %s %s (%s elapsed%s)\033[K", i+1, len(jobs), j.sh.Name, j.p, el.Round(time.Second), eta)
		}
		var w formats.Matrix
		var err error
		if j.p.Kind == Model {
			w = cfg.Weights[j.sh.Name]
		} else {
			w, err = cache.get(j.sh.M, j.sh.K, j.p)
		}
		if err != nil {
			return partial(), fmt.Errorf("%s %s: %w", j.sh.Name, j.p, err)
		}
		r, err := runOne(cfg, j.sh, j.p, w)
		if err != nil {
			return partial(), fmt.Errorf("%s %s: %w", j.sh.Name, j.p, err)
		}
		out[j.out], done[j.out] = r, true
	}
	if cfg.Progress != nil {
		fmt.Fprintf(cfg.Progress, "\r%d configurations in %s\033[K\n", len(jobs), time.Since(start).Round(time.Second))
	}
	if PeakExceeded(out, cfg.PeakGF) {
		for i := range out {
			out[i].PeakPct = 0 // the peak measured is wrong here: no percentage of it means anything
		}
	}
	return out, nil
}

// PeakExceeded reports whether a result ran faster than a single-core FMA peak of peakGF
// GFLOP/s allows: the chosen kernel's useful rate or our dense kernel's rate above
// peakGF × threads. No kernel can; when one does, the peak measurement was disturbed or
// emulated (qemu), and Run reports no % of peak.
func PeakExceeded(rs []Result, peakGF float64) bool {
	if peakGF <= 0 {
		return false
	}
	for _, r := range rs {
		limit := peakGF * float64(max(r.Threads, 1))
		denseRate := 0.0
		if r.SpeedupDense > 0 {
			denseRate = r.GflopsDense / r.SpeedupDense // 2·M·K·N over our dense kernel's time
		}
		if r.GflopsUseful > limit || denseRate > limit {
			return true
		}
	}
	return false
}

// weightKey names the weights a job runs on: model weights by shape name, synthetic ones
// by M, K and pattern (as the weight cache keys them).
func weightKey(sh Shape, p Pattern) string {
	if p.Kind == Model {
		return "model/" + sh.Name
	}
	return fmt.Sprintf("%dx%d/%s", sh.M, sh.K, p)
}

// runOne times one configuration.
func runOne(cfg Config, sh Shape, p Pattern, w formats.Matrix) (Result, error) {
	m, k := w.Shape()
	if m != sh.M || k != sh.K {
		return Result{}, fmt.Errorf("weights are %d×%d, shape wants %d×%d", m, k, sh.M, sh.K)
	}
	n := sh.N
	opts := dispatch.Options{Threads: cfg.Threads, ISA: cfg.ISA, Record: cfg.Record}
	cold := cfg.Cold && n <= ColdN
	dense := w.ToDense()

	// copies: 1 when hot; when cold, enough that the rotation exceeds 2× the L3.
	copies := 1
	if cold {
		copies = coldCopies(int64(m) * int64(k) * 4)
	}
	plans, err := compileN(w, opts, copies)
	if err != nil {
		return Result{}, err
	}
	defer closeAll(plans)
	dopts := opts
	dopts.Format = "dense"
	dplans, err := compileN(dense, dopts, copies)
	if err != nil {
		return Result{}, fmt.Errorf("dense baseline: %w", err)
	}
	defer closeAll(dplans)

	rng := rand.New(rand.NewPCG(cfg.Seed^0x9e37, uint64(n)))
	x := make([]float32, k*n)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	y := make([]float32, m*n)
	rot := func(ps []*dispatch.Plan) func() error {
		i := 0
		return func() error {
			pl := ps[i]
			i = (i + 1) % len(ps)
			return pl.Mul(y, n, x, n, n)
		}
	}
	fs := []func() error{rot(plans), rot(dplans)}
	// The external dense baselines rotate copies of the dense W as our kernels do (one
	// set, shared by OpenBLAS and LIBXSMM).
	var as [][]float32
	denseCopies := func() func() []float32 {
		if as == nil {
			as = [][]float32{dense.Data}
			for len(as) < copies {
				as = append(as, append([]float32(nil), dense.Data...))
			}
		}
		bi := 0
		return func() []float32 {
			a := as[bi]
			bi = (bi + 1) % len(as)
			return a
		}
	}
	withBLAS := cfg.BLAS && HaveOpenBLAS
	if withBLAS {
		OpenBLASSetThreads(max(plans[0].Threads(), 1))
		next := denseCopies()
		fs = append(fs, func() error {
			a := next()
			if n == 1 {
				OpenBLASSgemv(m, k, a, k, x, y)
			} else {
				OpenBLASSgemm(m, n, k, a, k, x, n, y, n)
			}
			return nil
		})
	}
	// LIBXSMM comes after OpenBLAS in fs. A shape it makes no kernel for is left out (no
	// LIBXSMM value) rather than failing the run.
	xi := -1
	if cfg.XSMM && HaveLIBXSMM {
		th := max(plans[0].Threads(), 1)
		if LIBXSMMSgemm(th, m, n, k, dense.Data, k, x, n, y, n) == nil {
			next := denseCopies()
			xi = len(fs)
			fs = append(fs, func() error { return LIBXSMMSgemm(th, m, n, k, next(), k, x, n, y, n) })
		}
	}
	st, err := TimeInterleaved(cfg.Protocol, fs...)
	if err != nil {
		return Result{}, err
	}
	family, _ := plans[0].KernelFor(n)
	nnz := w.NNZ()
	total := float64(m) * float64(k)
	r := Result{Shape: sh, Pattern: p, NNZ: nnz, Kernel: family, Threads: plans[0].Threads(), Cold: cold,
		MedianNs: st[0].MedianNs, MinNs: st[0].MinNs}
	if total > 0 {
		r.Sparsity = 1 - float64(nnz)/total
	}
	if f, ok := asm.Lookup(family); ok {
		r.ISA = f.ISA.String()
	}
	r.GflopsDense = 2 * total * float64(n) / r.MedianNs
	r.GflopsUseful = 2 * float64(nnz) * float64(n) / r.MedianNs
	if cfg.PeakGF > 0 {
		r.PeakPct = 100 * r.GflopsUseful / (cfg.PeakGF * float64(r.Threads))
	}
	r.SpeedupDense = st[1].MedianNs / r.MedianNs
	if n == 1 {
		// What one call reads: the packed W its kernel streams (only the N = 1 kernel has
		// been packed: packing is lazy), X, and Y (written).
		r.PackedBytes = plans[0].PackedBytes()
		r.BytesPerCall = r.PackedBytes + 4*int64(k) + 4*int64(m)
		r.GBps = float64(r.BytesPerCall) / r.MedianNs
		if cfg.ReadGBps > 0 && r.Threads == 1 {
			r.ReadPct = 100 * r.GBps / cfg.ReadGBps
		}
	}
	if withBLAS {
		r.BLASNs = st[2].MedianNs
		r.SpeedupBLAS = st[2].MedianNs / r.MedianNs
	}
	if xi >= 0 {
		r.XSMMNs = st[xi].MedianNs
		r.SpeedupXSMM = st[xi].MedianNs / r.MedianNs
	}
	return r, nil
}

func coldCopies(bytes int64) int {
	if bytes <= 0 {
		return 2
	}
	c := int(math.Ceil(float64(2*L3Bytes())/float64(bytes))) + 1
	return min(max(c, 2), 64)
}

func compileN(w formats.Matrix, opts dispatch.Options, n int) ([]*dispatch.Plan, error) {
	ps := make([]*dispatch.Plan, 0, n)
	for range n {
		p, err := dispatch.Compile(w, opts)
		if err != nil {
			closeAll(ps)
			return nil, err
		}
		ps = append(ps, p)
	}
	return ps, nil
}

func closeAll(ps []*dispatch.Plan) {
	for _, p := range ps {
		p.Close()
	}
}

// weightCache makes synthetic weights: one Gaussian matrix per (M, K), pruned per pattern
// by our own pruning code, reused across the N of a shape.
type weightCache struct {
	seed   uint64
	base   map[[2]int]*formats.Dense
	pruned map[string]formats.Matrix
	made   int // pruned matrices synthesized (tests)
	peak   int // the most pruned matrices held at once (tests)
}

func newWeightCache(seed uint64) *weightCache {
	return &weightCache{seed: seed, base: map[[2]int]*formats.Dense{}, pruned: map[string]formats.Matrix{}}
}

func (c *weightCache) get(m, k int, p Pattern) (formats.Matrix, error) {
	key := weightKey(Shape{M: m, K: k}, p)
	if w, ok := c.pruned[key]; ok {
		return w, nil
	}
	d, ok := c.base[[2]int{m, k}]
	if !ok {
		// Keep one base matrix: big shapes are reused, small ones are cheap to remake.
		clear(c.base)
		clear(c.pruned)
		d = RandomDense(c.seed^(uint64(m)<<32|uint64(k)), m, k)
		c.base[[2]int{m, k}] = d
	}
	clear(c.pruned) // one pruned matrix at a time (Run orders its jobs for this)
	w, err := Synthesize(d, p)
	if err != nil {
		return nil, err
	}
	c.pruned[key] = w
	c.made++
	c.peak = max(c.peak, len(c.pruned))
	return w, nil
}

// RandomDense is an M×K matrix of standard normal weights from a seed.
func RandomDense(seed uint64, m, k int) *formats.Dense {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	data := make([]float32, m*k)
	for i := range data {
		data[i] = float32(rng.NormFloat64())
	}
	return &formats.Dense{Rows: m, Cols: k, Stride: k, Data: data}
}

// Synthesize prunes dense weights into the pattern's natural format: Dense, CSR
// (unstructured), BSR (block) or NM; DenseLP, CSRLP or NMLP with a DType.
func Synthesize(d *formats.Dense, p Pattern) (formats.Matrix, error) {
	switch p.Kind {
	case Dense:
		if p.DType != 0 {
			return formats.DenseLPFromDense(d, p.DType)
		}
		return d, nil
	case Unstructured:
		pd, err := prune.Magnitude(d, p.Sparsity)
		if err != nil {
			return nil, err
		}
		c, err := formats.CSRFromDense(pd)
		if err != nil || p.DType == 0 {
			return c, err
		}
		return formats.CSRLPFromCSR(c, p.DType)
	case NM:
		w, err := prune.NM(d, p.Keep, p.Group)
		if err != nil || p.DType == 0 {
			return w, err
		}
		return formats.NMLPFromNM(w, p.DType)
	case Block:
		w, err := prune.BlockMagnitudeBSR(d, p.R, p.C, prune.L1, p.Sparsity)
		if err != nil || p.DType == 0 {
			return w, err
		}
		return formats.BSRLPFromBSR(w, p.DType)
	}
	return nil, fmt.Errorf("unknown pattern %q", p)
}
