// Package autotune times every candidate kernel for each layer of a model on the target
// machine and records the winners in a dispatch.Record, which dispatch.Compile then
// follows (DESIGN §8).
//
// For each layer and N: the candidates are the (kernel family, format) pairs dispatch could
// run (dispatch.Candidates), for each thread count asked for. Each candidate is compiled,
// checked to run the family it names, warmed up and timed with the candidates interleaved
// (A B C A B C …) under a time budget per layer; the fastest median wins and up to three
// runners-up are kept with their medians.
package autotune

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"sort"
	"time"

	"github.com/sparsegen/sparsegen/asm"
	"github.com/sparsegen/sparsegen/dispatch"
	"github.com/sparsegen/sparsegen/formats"
	"github.com/sparsegen/sparsegen/internal/sysmem"
	"github.com/sparsegen/sparsegen/internal/timing"
)

// Layer is one weight matrix to tune.
type Layer struct {
	Name string
	W    formats.Matrix
}

// Options configure Tune.
type Options struct {
	Ns      []int  // the N values to tune for (each maps to dispatch's N bucket)
	Threads []int  // thread counts to try; empty means {GOMAXPROCS}
	ISA     string // ISA cap, as dispatch.Options.ISA
	// Budget bounds the timing of one layer and N (all candidates); 0 means 2 s.
	Budget time.Duration
	// Generic keeps the pure-Go families among the candidates even when an assembly
	// family can run (they never win there; leaving them out saves time).
	Generic bool
	// Progress, when set, receives a status line per step ("layer i of n, elapsed, ETA").
	Progress io.Writer
	Seed     uint64
}

// Result is the outcome for one layer and N.
type Result struct {
	Layer   string
	M, K, N int
	Entry   dispatch.Entry // key, winner and runners-up
	// Default is what Compile picks without a record, timed in the same interleaved run.
	Default dispatch.Candidate
	// Dense is the fastest dense candidate in the same run (zero if none ran).
	Dense dispatch.Candidate
}

// Speedup is the dense time over the winner's time (0 when no dense candidate ran).
func (r Result) Speedup() float64 {
	if r.Dense.MedianNs == 0 || r.Entry.Winner.MedianNs == 0 {
		return 0
	}
	return r.Dense.MedianNs / r.Entry.Winner.MedianNs
}

// Tune times the candidates of every layer × N and adds the winners to rec (which may
// hold entries of earlier runs; an entry for the same key is replaced). It returns one
// Result per layer and N, in order.
func Tune(layers []Layer, opts Options, rec *dispatch.Record) ([]Result, error) {
	if rec == nil {
		return nil, errors.New("autotune: nil record")
	}
	if len(opts.Ns) == 0 {
		return nil, errors.New("autotune: no N to tune for")
	}
	if err := checkRun(layers, opts.Ns, opts.Threads); err != nil {
		return nil, err
	}
	threads := opts.Threads
	if len(threads) == 0 {
		threads = []int{min(runtime.GOMAXPROCS(0), dispatch.MaxThreads)}
	}
	budget := opts.Budget
	if budget <= 0 {
		budget = 2 * time.Second
	}
	steps := len(layers) * len(opts.Ns)
	start := time.Now()
	var out []Result
	for li, l := range layers {
		for ni, n := range opts.Ns {
			step := li*len(opts.Ns) + ni
			if opts.Progress != nil {
				progress(opts.Progress, step, steps, fmt.Sprintf("%s N=%d", l.Name, n), start)
			}
			r, err := tuneOne(l, n, threads, budget, opts)
			if err != nil {
				return out, fmt.Errorf("autotune: %s, N = %d: %w", l.Name, n, err)
			}
			rec.Add(r.Entry)
			out = append(out, r)
		}
	}
	if opts.Progress != nil {
		fmt.Fprintf(opts.Progress, "\r%d layer×N steps tuned in %s\033[K\n", steps, time.Since(start).Round(100*time.Millisecond))
	}
	return out, nil
}

// checkRun refuses, before any timing, an N < 1, a thread count outside 1…MaxThreads, and a
// layer × N whose operands cannot fit in memory (the runtime would stop the process mid-run).
func checkRun(layers []Layer, ns, threads []int) error {
	for _, n := range ns {
		if n < 1 {
			return fmt.Errorf("autotune: N = %d < 1", n)
		}
	}
	for _, t := range threads {
		if t < 1 || t > dispatch.MaxThreads {
			return fmt.Errorf("autotune: thread count %d outside 1…%d", t, dispatch.MaxThreads)
		}
	}
	for _, l := range layers {
		if l.W == nil {
			return fmt.Errorf("autotune: layer %s has no weights", l.Name)
		}
		m, k := l.W.Shape()
		for _, n := range ns {
			if err := sysmem.CheckOperands(m, k, n); err != nil {
				return fmt.Errorf("autotune: layer %s: %w", l.Name, err)
			}
		}
	}
	return nil
}

func progress(w io.Writer, step, steps int, what string, start time.Time) {
	el := time.Since(start)
	eta := "?"
	if step > 0 {
		eta = (el / time.Duration(step) * time.Duration(steps-step)).Round(time.Second).String()
	}
	fmt.Fprintf(w, "\rtuning %d of %d: %s (elapsed %s, about %s left)\033[K", step+1, steps, what, el.Round(time.Second), eta)
}

// timed is one compiled candidate.
type timed struct {
	c    dispatch.Candidate
	plan *dispatch.Plan
}

func tuneOne(l Layer, n int, threads []int, budget time.Duration, opts Options) (Result, error) {
	m, k := l.W.Shape()
	res := Result{Layer: l.Name, M: m, K: k, N: n}
	key, err := dispatch.KeyOf(l.W, n)
	if err != nil {
		return res, err
	}
	res.Entry.Key = key

	// The default policy's choice, to compare against.
	def, err := dispatch.Compile(l.W, dispatch.Options{ISA: opts.ISA, Threads: threads[len(threads)-1], Warn: func(string) {}})
	if err != nil {
		return res, err
	}
	defFam, defFmt := def.KernelFor(n)
	def.Close()

	var cands []timed
	defer func() {
		for _, c := range cands {
			c.plan.Close()
		}
	}()
	seen := map[string]bool{}
	for _, t := range threads {
		cs, err := dispatch.Candidates(l.W, n, dispatch.Options{ISA: opts.ISA, Threads: t})
		if err != nil {
			return res, err
		}
		cs = filterGeneric(cs, opts.Generic)
		for _, c := range cs {
			id := fmt.Sprintf("%s@%s/%d", c.Kernel, c.Format, t)
			if seen[id] {
				continue
			}
			seen[id] = true
			p, err := dispatch.Compile(l.W, dispatch.Options{ISA: opts.ISA, Threads: t, Kernel: c.Kernel, Format: c.Format, Warn: func(string) {}})
			if err != nil {
				continue // the family refused this matrix at pack time
			}
			if fam, f := p.KernelFor(n); fam != c.Kernel || f != c.Format {
				p.Close() // Compile fell back to another kernel: not this candidate
				continue
			}
			if err := warmUp(p, n); err != nil {
				p.Close() // packing is lazy: the family refused W on first use
				continue
			}
			c.Threads = t
			c.MedianNs = 0
			cands = append(cands, timed{c, p})
		}
	}
	if len(cands) == 0 {
		return res, errors.New("no candidate kernel compiled")
	}

	rng := rand.New(rand.NewPCG(opts.Seed, uint64(m*31+k)))
	x := make([]float32, k*n)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	y := make([]float32, m*n)
	fs := make([]func() error, len(cands))
	for i, c := range cands {
		p := c.plan
		fs[i] = func() error { return p.Mul(y, n, x, n, n) }
	}
	per := budget / time.Duration(len(cands))
	proto := timing.Protocol{Samples: 9, MinSample: min(max(per/20, 200*time.Microsecond), 5*time.Millisecond), Budget: budget / 2}
	runs, err := timing.SampleInterleaved(proto, fs...)
	if err != nil {
		return res, err
	}
	samples := map[*dispatch.Plan][]float64{}
	for i := range cands {
		cands[i].c.MedianNs = timing.Summarize(runs[i]).MedianNs
		samples[cands[i].plan] = runs[i]
	}
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].c.MedianNs < cands[j].c.MedianNs })
	defThreads := threads[len(threads)-1]
	defIdx := -1
	for i, c := range cands {
		if c.c.Format == "dense" && res.Dense.MedianNs == 0 {
			res.Dense = c.c
		}
		if c.c.Kernel == defFam && c.c.Format == defFmt && c.c.Threads == defThreads && defIdx < 0 {
			defIdx = i
			res.Default = c.c
		}
	}
	// The default policy's choice stays unless the fastest candidate beats it with
	// statistical significance (Mann-Whitney, p < 0.05): noise never overrides the policy.
	if defIdx > 0 && MannWhitneyP(samples[cands[0].plan], samples[cands[defIdx].plan]) >= 0.05 {
		d := cands[defIdx]
		copy(cands[1:defIdx+1], cands[:defIdx])
		cands[0] = d
	}
	res.Entry.Winner = cands[0].c
	for _, c := range cands[1:min(len(cands), 4)] {
		res.Entry.RunnersUp = append(res.Entry.RunnersUp, c.c)
	}
	if res.Default.Kernel == "" {
		res.Default = dispatch.Candidate{Kernel: defFam, Format: defFmt, Threads: threads[len(threads)-1]}
	}
	return res, nil
}

// filterGeneric drops the pure-Go families when any assembly family is a candidate.
func filterGeneric(cs []dispatch.Candidate, keep bool) []dispatch.Candidate {
	if keep {
		return cs
	}
	var out []dispatch.Candidate
	for _, c := range cs {
		if f, ok := asm.Lookup(c.Kernel); ok && f.ISA != asm.Generic {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return cs
	}
	return out
}

// warmUp runs one call, which packs W for N (dispatch packs lazily), so a family that
// refuses W drops out here and packing never counts in a timing.
func warmUp(p *dispatch.Plan, n int) error {
	m, k := p.Shape()
	return p.Mul(make([]float32, m*n), n, make([]float32, k*n), n, n)
}
