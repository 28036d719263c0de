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
	N        int
	Winner   dispatch.Candidate
	NowNs    float64 // the median now
	Relative float64 // NowNs / recorded median − 1
	Drifted  bool    // |Relative| > threshold
}

// Check re-times the recorded winner of every layer × N that the record holds and flags
// those whose median moved by more than threshold (e.g. 0.2 for 20%).
func Check(layers []Layer, ns []int, rec *dispatch.Record, opts Options, threshold float64) ([]Drift, error) {
	if err := checkRun(layers, ns, opts.Threads); err != nil {
		return nil, err
	}
	var out []Drift
	for _, l := range layers {
		for _, n := range ns {
			key, err := dispatch.KeyOf(l.W, n)
			if err != nil {
				return out, err
			}
			e := rec.Lookup(key)
			if e == nil {
				continue
			}
			p, err := dispatch.Compile(l.W, dispatch.Options{ISA: opts.ISA, Threads: max(e.Winner.Threads, 0), Kernel: e.Winner.Kernel, Format: e.Winner.Format, Warn: func(string) {}})
			if err != nil {
				return out, fmt.Errorf("%s: recorded winner %s@%s: %w", l.Name, e.Winner.Kernel, e.Winner.Format, err)
			}
			st, err := timeplans(l, n, opts, []*dispatch.Plan{p}, 9)
			p.Close()
			if err != nil {
				return out, err
			}
			d := Drift{Layer: l.Name, N: n, Winner: e.Winner, NowNs: st[0].MedianNs}
			if e.Winner.MedianNs > 0 {
				d.Relative = d.NowNs/e.Winner.MedianNs - 1
			}
			d.Drifted = math.Abs(d.Relative) > threshold
			out = append(out, d)
		}
	}
	return out, nil
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
	Gain                   float64 // DefaultNs / TunedNs
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
			c.Gain = c.DefaultNs / c.TunedNs
			if !c.Same {
				c.P = MannWhitneyP(runs[0], runs[1])
			}
			out = append(out, c)
		}
	}
	return out, nil
}

func timeplans(l Layer, n int, opts Options, ps []*dispatch.Plan, samples int) ([]timing.Stats, error) {
	runs, err := samplePlans(l, n, opts, ps, samples)
	if err != nil {
		return nil, err
	}
	st := make([]timing.Stats, len(runs))
	for i, r := range runs {
		st[i] = timing.Summarize(r)
	}
	return st, nil
}

// samplePlans returns, per plan, samples per-call times (ns) taken interleaved.
func samplePlans(l Layer, n int, opts Options, ps []*dispatch.Plan, samples int) ([][]float64, error) {
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
	return timing.SampleInterleaved(timing.Protocol{Samples: samples, MinSample: 2 * time.Millisecond}, fs...)
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
