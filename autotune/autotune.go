// Package autotune times every candidate kernel for each layer of a model on the target
// machine and records the winners in a dispatch.Record, which dispatch.Compile then
// follows (DESIGN §8).
//
// For each layer and N: the candidates are the (kernel family, format) pairs dispatch could
// run over the plan's N range holding N (dispatch.Candidates, dispatch.RangeOf), for each
// thread count asked for; for a W stored in bf16, fp16 or int8 (formats.DenseLP,
// formats.CSRLP), the low-precision families of its format and dtype, never a widened
// copy, and its entries carry the dtype in their key. Each candidate is compiled, checked to run the family it names,
// warmed up and timed with the candidates interleaved (A B C A B C …) under a time budget
// per layer, at N and at both ends of the range (an unbounded range ends at N). A candidate
// replaces the default policy's choice only where it beats it significantly at N and is
// not significantly slower at either end; the entry keeps the winner, the default and up
// to three runners-up with their medians.
package autotune

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"slices"
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
	Ns      []int  // the N values to tune for (each entry covers the plan range holding one: dispatch.RangeOf)
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
	// Dense is the fastest dense candidate in the same run (zero if none ran: a
	// low-precision W runs its own format only).
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
		if formats.IsNil(l.W) {
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
	// The entry covers the plan's N range holding n (every candidate runs for all of it),
	// timed at both ends and at n. An unbounded range is cut at n: N beyond the largest N
	// tuned for were never timed, and keep the default policy's choice.
	lo, hi, err := dispatch.RangeOf(l.W, n, dispatch.Options{ISA: opts.ISA})
	if err != nil {
		return res, err
	}
	hi = min(hi, n)
	ns := slices.Compact([]int{lo, n, hi})
	at := slices.Index(ns, n)
	key.NLo, key.NHi = lo, hi
	res.Entry.Key, res.Entry.N, res.Entry.TimedN = key, n, ns

	// The default policy's choice, to compare against: one kernel over the whole range.
	defThreads := threads[len(threads)-1]
	def, err := dispatch.Compile(l.W, dispatch.Options{ISA: opts.ISA, Threads: defThreads, Warn: func(string) {}})
	if err != nil {
		return res, err
	}
	defFam, defFmt := def.KernelFor(n)
	for _, tn := range ns {
		if f, t := def.KernelFor(tn); f != defFam || t != defFmt {
			def.Close()
			return res, fmt.Errorf("the default policy runs %s@%s at N = %d but %s@%s at N = %d, in one plan range", defFam, defFmt, n, f, t, tn)
		}
	}
	def.Close()
	res.Default = dispatch.Candidate{Kernel: defFam, Format: defFmt, Threads: defThreads}

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
	next:
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
			for _, tn := range ns {
				if fam, f := p.KernelFor(tn); fam != c.Kernel || f != c.Format {
					p.Close() // Compile fell back to another kernel: not this candidate
					continue next
				}
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

	// Every candidate at every N of the range, interleaved: runs[c·len(ns) + i] are the
	// samples of candidate c at N = ns[i].
	rng := rand.New(rand.NewPCG(opts.Seed, uint64(m*31+k)))
	x := make([]float32, k*hi)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	y := make([]float32, m*hi)
	fs := make([]func() error, 0, len(cands)*len(ns))
	for _, c := range cands {
		p := c.plan
		for _, tn := range ns {
			fs = append(fs, func() error { return p.Mul(y, tn, x, tn, tn) })
		}
	}
	per := budget / time.Duration(len(fs))
	proto := timing.Protocol{Samples: tuneSamples, MinSample: min(max(per/20, 200*time.Microsecond), 5*time.Millisecond), Budget: budget / 2}
	runs, err := timing.SampleInterleaved(proto, fs...)
	if err != nil {
		return res, err
	}
	res.Entry.MinSampleNs = float64(proto.MinSample.Nanoseconds())
	samples := func(c, i int) []float64 { return runs[c*len(ns)+i] }
	med := func(c, i int) float64 { return timing.Summarize(samples(c, i)).MedianNs }
	for c := range cands {
		cands[c].c.MedianNs = med(c, at)
		for i := range ns {
			cands[c].c.MediansNs = append(cands[c].c.MediansNs, med(c, i))
		}
	}

	defIdx := -1
	for i, c := range cands {
		if c.c.Kernel == defFam && c.c.Format == defFmt && c.c.Threads == defThreads {
			defIdx = i
		}
	}
	// The default policy's choice stays unless a candidate beats it with statistical
	// significance (Mann-Whitney, p < 0.05) at the N tuned for and is not significantly
	// slower at either end of the range: noise never overrides the policy, and no N of the
	// range is left to a kernel slower than the policy's there.
	win := defIdx
	if defIdx >= 0 {
		for c := range cands {
			if c == defIdx || !(med(c, at) < med(defIdx, at) && MannWhitneyP(samples(c, at), samples(defIdx, at)) < 0.05) {
				continue
			}
			ok := true
			for i := range ns {
				if med(c, i) > med(defIdx, i) && MannWhitneyP(samples(c, i), samples(defIdx, i)) < 0.05 {
					ok = false
				}
			}
			if ok && (win == defIdx || med(c, at) < med(win, at)) {
				win = c
			}
		}
		res.Default = cands[defIdx].c
		res.Default.SamplesNs = samples(defIdx, at)
	}
	order := make([]int, len(cands))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(i, j int) bool { return cands[order[i]].c.MedianNs < cands[order[j]].c.MedianNs })
	for _, c := range order {
		if cands[c].c.Format == "dense" && res.Dense.MedianNs == 0 {
			res.Dense = cands[c].c
		}
	}
	if win < 0 {
		// The default's choice did not compile as a candidate: nothing was timed against
		// it, so it stays (the entry then changes no N).
		res.Entry.Winner = res.Default
	} else {
		res.Entry.Winner = cands[win].c
		res.Entry.Winner.SamplesNs = samples(win, at)
	}
	res.Entry.Default = res.Default
	for _, c := range order {
		if c == win {
			continue
		}
		if len(res.Entry.RunnersUp) == 3 {
			break
		}
		ru := cands[c].c
		if len(res.Entry.RunnersUp) == 0 {
			ru.SamplesNs = samples(c, at) // tune -check's control when the default won
		}
		res.Entry.RunnersUp = append(res.Entry.RunnersUp, ru)
	}
	return res, nil
}

// tuneSamples is the samples per candidate and N that tuning aims at within its budget:
// tune -check compares its own samples with them (Mann-Whitney).
const tuneSamples = 15

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
