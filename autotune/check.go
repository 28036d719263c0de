package autotune

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/sparsegen/sparsegen/dispatch"
	"github.com/sparsegen/sparsegen/internal/timing"
)

// Drift is a recorded winner re-timed.
type Drift struct {
	Layer    string
	N        int // the N the entry was tuned for, where it is re-timed
	Winner   dispatch.Candidate
	NowNs    float64 // the median now
	Relative float64 // NowNs / recorded median − 1
	P        float64 // two-sided Mann-Whitney p-value of the recorded samples against the new
	Samples  int     // samples taken now
	Status   string  // DriftOK, Drifted or DriftInconclusive
	Why      string  // for Drifted and DriftInconclusive: what the samples say
	Drifted  bool    // Status == Drifted
}

// Drift statuses.
const (
	DriftOK           = "ok"           // the median is within the threshold of the recorded one
	Drifted           = "drifted"      // moved past the threshold, significantly, and not with the machine
	DriftInconclusive = "inconclusive" // moved past the threshold, but noise or machine load can explain it
)

// Check's sampling: at least checkMinSamples samples before a verdict, more (in rounds,
// within Options.Budget per entry) until one is reached or checkMaxSamples are taken.
// With the 3 to 15 samples a record keeps, a shift is significant at p < driftP from
// about 13 new samples.
const (
	driftP          = 0.01
	checkMinSamples = 10
	checkMaxSamples = 60
	checkRound      = 10
)

// sampleFn takes samples interleaved samples of each plan at N (swapped by tests).
var sampleFn = func(ps []*dispatch.Plan, l Layer, n int, opts Options, minSample time.Duration, samples int) ([][]float64, error) {
	return samplePlansProto(l, n, opts, ps, timing.Protocol{Samples: samples, MinSample: minSample})
}

// Check re-times the recorded winner of every entry that holds one of ns for each layer,
// at the N it was tuned for, and judges whether its median moved by more than threshold
// (e.g. 0.2 for 20%): Drifted only when the new samples differ from the recorded ones
// (Mann-Whitney, p < 0.01) and a control kernel, sampled interleaved with the winner (the
// entry's default, or its first runner-up when the default won), did not move alike;
// otherwise DriftInconclusive. It samples until it can tell, within opts.Budget (0: 2 s)
// per entry.
func Check(layers []Layer, ns []int, rec *dispatch.Record, opts Options, threshold float64) ([]Drift, error) {
	if err := checkRun(layers, ns, opts.Threads); err != nil {
		return nil, err
	}
	budget := opts.Budget
	if budget <= 0 {
		budget = 2 * time.Second
	}
	var out []Drift
	for _, l := range layers {
		seen := map[*dispatch.Entry]bool{}
		for _, n := range ns {
			key, err := dispatch.KeyOf(l.W, n)
			if err != nil {
				return out, err
			}
			e := rec.Lookup(key)
			if e == nil || seen[e] {
				continue
			}
			seen[e] = true
			d, err := checkEntry(l, e, opts, threshold, budget)
			if err != nil {
				return out, err
			}
			out = append(out, d)
		}
	}
	return out, nil
}

func checkEntry(l Layer, e *dispatch.Entry, opts Options, threshold float64, budget time.Duration) (Drift, error) {
	compile := func(c dispatch.Candidate) (*dispatch.Plan, error) {
		return dispatch.Compile(l.W, dispatch.Options{ISA: opts.ISA, Threads: max(c.Threads, 0), Kernel: c.Kernel, Format: c.Format, Warn: func(string) {}})
	}
	p, err := compile(e.Winner)
	if err != nil {
		return Drift{}, fmt.Errorf("%s: recorded winner %s@%s: %w", l.Name, e.Winner.Kernel, e.Winner.Format, err)
	}
	defer p.Close()
	plans := []*dispatch.Plan{p}
	ctl := e.Default
	if ctl.Same(e.Winner) {
		ctl = dispatch.Candidate{}
		if len(e.RunnersUp) > 0 {
			ctl = e.RunnersUp[0]
		}
	}
	if len(ctl.SamplesNs) > 0 {
		if cp, err := compile(ctl); err == nil {
			defer cp.Close()
			plans = append(plans, cp)
		}
	}
	if len(plans) == 1 {
		ctl = dispatch.Candidate{}
	}
	minSample := time.Duration(e.MinSampleNs)
	if minSample <= 0 {
		minSample = 2 * time.Millisecond
	}
	now := make([][]float64, len(plans))
	var v verdict
	for start := time.Now(); ; {
		runs, err := sampleFn(plans, l, e.N, opts, minSample, checkRound)
		if err != nil {
			return Drift{}, err
		}
		for i := range now {
			now[i] = append(now[i], runs[i]...)
		}
		var nowCtl []float64
		if len(now) > 1 {
			nowCtl = now[1]
		}
		v = judge(e.Winner.SamplesNs, now[0], ctl.SamplesNs, nowCtl, threshold)
		taken := len(now[0])
		if taken >= checkMaxSamples || time.Since(start) >= budget || (taken >= checkMinSamples && v.status != DriftInconclusive) {
			break
		}
	}
	d := Drift{Layer: l.Name, N: e.N, Winner: e.Winner, NowNs: timing.Summarize(now[0]).MedianNs, P: v.p, Samples: len(now[0]),
		Status: v.status, Why: v.why, Drifted: v.status == Drifted}
	if e.Winner.MedianNs > 0 {
		d.Relative = d.NowNs/e.Winner.MedianNs - 1
	}
	return d, nil
}

type verdict struct {
	status, why string
	p           float64
}

// judge compares the recorded samples of the winner with new ones, and those of a control
// kernel (nil: none) sampled interleaved with it, against a relative threshold.
func judge(rec, now, recCtl, nowCtl []float64, threshold float64) verdict {
	mr, mn := timing.Summarize(rec).MedianNs, timing.Summarize(now).MedianNs
	rel := 0.0
	if mr > 0 {
		rel = mn/mr - 1
	}
	v := verdict{p: MannWhitneyP(rec, now)}
	switch {
	case math.Abs(rel) <= threshold:
		v.status = DriftOK
		return v
	case len(rec) < 3:
		v.status, v.why = DriftInconclusive, fmt.Sprintf("the record keeps %d samples: too few to test", len(rec))
		return v
	case v.p >= driftP:
		v.status, v.why = DriftInconclusive, fmt.Sprintf("moved %+.0f%%, but p = %.2g ≥ %g over %d samples: noise can explain it", 100*rel, v.p, driftP, len(now))
		return v
	}
	if len(recCtl) > 0 && len(nowCtl) > 0 {
		// Samples taken in the same round of interleaving share the machine's load: the
		// winner's time over the control's, per round, then and now.
		ratios := func(a, b []float64) []float64 {
			out := make([]float64, 0, min(len(a), len(b)))
			for i := range min(len(a), len(b)) {
				if b[i] > 0 {
					out = append(out, a[i]/b[i])
				}
			}
			return out
		}
		rr, rn := ratios(rec, recCtl), ratios(now, nowCtl)
		mrr, mrn := timing.Summarize(rr).MedianNs, timing.Summarize(rn).MedianNs
		relR := 0.0
		if mrr > 0 {
			relR = mrn/mrr - 1
		}
		if pr := MannWhitneyP(rr, rn); math.Abs(relR) <= threshold || pr >= driftP {
			relC := timing.Summarize(nowCtl).MedianNs/timing.Summarize(recCtl).MedianNs - 1
			v.status, v.why = DriftInconclusive, fmt.Sprintf("moved %+.0f%% (p = %.2g), and the control kernel %+.0f%%: relative to it %+.0f%% (p = %.2g), so the machine's load or clock can explain it",
				100*rel, v.p, 100*relC, 100*relR, pr)
			return v
		}
	}
	v.status, v.why = Drifted, fmt.Sprintf("moved %+.0f%%, p = %.2g over %d samples", 100*rel, v.p, len(now))
	return v
}

// Comparison is the default policy's choice against the tuned choice, re-timed interleaved.
type Comparison struct {
	Layer                  string
	N                      int
	Default, Tuned         string // kernel@format
	DefaultNs, TunedNs     float64
	DefaultMin, TunedMin   float64
	P                      float64 // two-sided Mann-Whitney U p-value; 1 when the choices are the same
	Same                   bool
	Gain                   float64 // DefaultNs / TunedNs; 1 when the choices are the same
	DefaultRuns, TunedRuns []float64
}

// Compare compiles each layer with and without the record and times both plans
// interleaved, samples times each (≥ 10 recommended).
func Compare(layers []Layer, ns []int, rec *dispatch.Record, opts Options, samples int) ([]Comparison, error) {
	if err := checkRun(layers, ns, opts.Threads); err != nil {
		return nil, err
	}
	threads := 0
	if len(opts.Threads) > 0 {
		threads = opts.Threads[len(opts.Threads)-1]
	}
	var out []Comparison
	for _, l := range layers {
		for _, n := range ns {
			def, err := dispatch.Compile(l.W, dispatch.Options{ISA: opts.ISA, Threads: threads, Warn: func(string) {}})
			if err != nil {
				return out, err
			}
			tun, err := dispatch.Compile(l.W, dispatch.Options{ISA: opts.ISA, Threads: threads, Record: rec, Warn: func(string) {}})
			if err != nil {
				def.Close()
				return out, err
			}
			df, dfm := def.KernelFor(n)
			tf, tfm := tun.KernelFor(n)
			c := Comparison{Layer: l.Name, N: n, Default: df + "@" + dfm, Tuned: tf + "@" + tfm, P: 1}
			c.Same = c.Default == c.Tuned
			runs, err := samplePlans(l, n, opts, []*dispatch.Plan{def, tun}, samples)
			def.Close()
			tun.Close()
			if err != nil {
				return out, err
			}
			c.DefaultRuns, c.TunedRuns = runs[0], runs[1]
			sd, st := timing.Summarize(runs[0]), timing.Summarize(runs[1])
			c.DefaultNs, c.TunedNs, c.DefaultMin, c.TunedMin = sd.MedianNs, st.MedianNs, sd.MinNs, st.MinNs
			// The same kernel both ways gains nothing: what its two timings differ by is noise.
			c.Gain = 1
			if !c.Same {
				c.Gain = c.DefaultNs / c.TunedNs
				c.P = MannWhitneyP(runs[0], runs[1])
			}
			out = append(out, c)
		}
	}
	return out, nil
}

// samplePlans returns, per plan, samples per-call times (ns) taken interleaved.
func samplePlans(l Layer, n int, opts Options, ps []*dispatch.Plan, samples int) ([][]float64, error) {
	return samplePlansProto(l, n, opts, ps, timing.Protocol{Samples: samples, MinSample: 2 * time.Millisecond})
}

// samplePlansProto is samplePlans under a given protocol.
func samplePlansProto(l Layer, n int, opts Options, ps []*dispatch.Plan, proto timing.Protocol) ([][]float64, error) {
	m, k := l.W.Shape()
	rng := rand.New(rand.NewPCG(opts.Seed, uint64(m*31+k)))
	x := make([]float32, k*n)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	y := make([]float32, m*n)
	fs := make([]func() error, len(ps))
	for i, p := range ps {
		fs[i] = func() error { return p.Mul(y, n, x, n, n) }
	}
	return timing.SampleInterleaved(proto, fs...)
}

// MannWhitneyP is the two-sided p-value of the Mann-Whitney U test that a and b come from
// the same distribution (normal approximation with tie correction, as benchstat uses for
// its default test at these sample sizes).
func MannWhitneyP(a, b []float64) float64 {
	n1, n2 := float64(len(a)), float64(len(b))
	if n1 == 0 || n2 == 0 {
		return 1
	}
	type obs struct {
		v float64
		g int
	}
	all := make([]obs, 0, len(a)+len(b))
	for _, v := range a {
		all = append(all, obs{v, 0})
	}
	for _, v := range b {
		all = append(all, obs{v, 1})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].v < all[j].v })
	ranks := make([]float64, len(all))
	tieSum := 0.0
	for i := 0; i < len(all); {
		j := i
		for j < len(all) && all[j].v == all[i].v {
			j++
		}
		r := float64(i+j+1) / 2 // mean of ranks i+1 … j
		for t := i; t < j; t++ {
			ranks[t] = r
		}
		t := float64(j - i)
		tieSum += t*t*t - t
		i = j
	}
	r1 := 0.0
	for i, o := range all {
		if o.g == 0 {
			r1 += ranks[i]
		}
	}
	u := r1 - n1*(n1+1)/2
	mu := n1 * n2 / 2
	n := n1 + n2
	sigma := math.Sqrt(n1 * n2 / 12 * ((n + 1) - tieSum/(n*(n-1))))
	if sigma == 0 {
		return 1
	}
	z := (math.Abs(u-mu) - 0.5) / sigma // continuity correction
	if z < 0 {
		z = 0
	}
	return math.Erfc(z / math.Sqrt2)
}
