package dispatch

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime/debug"
	"slices"
	"time"

	"github.com/sparsegen/sparsegen/asm"
	"github.com/sparsegen/sparsegen/formats"
	"github.com/sparsegen/sparsegen/internal/sysmem"
	"github.com/sparsegen/sparsegen/internal/timing"
)

// Policy validation: on weights outside the training set, every candidate kernel is timed
// (the screen: fastest of a few bare calls each), and each policy's choice is compared with
// the fastest; where they differ, the two are re-timed interleaved (medians), since the
// screen runs candidates one after the other on a possibly shared machine.

// ValidateOptions controls ValidatePolicies.
type ValidateOptions struct {
	// Large adds the held-out cases of weights streamed from memory (11008×4096 and
	// 4096×11008 at N = 1, 4, 16; dense W at N = 1): about a minute more.
	Large bool
	// Small limits the set to one small case (a smoke test of the harness).
	Small bool
	// Progress, if set, is called after each held-out matrix.
	Progress func(done, total int, matrix string, elapsed time.Duration)
}

// ValidationCase is one held-out matrix at one N.
type ValidationCase struct {
	Matrix string
	N      int
	Best   string    // the fastest candidate, "family@format"
	BestNs float64   // its time (screen)
	Chosen []string  // per policy: its choice
	Ratio  []float64 // per policy: chosen time over the fastest (1 when it is the fastest)
}

// Validation is the result of ValidatePolicies: per policy, its choices against the fastest.
type Validation struct {
	Policies []string // the sources of the policies compared
	Cases    []ValidationCase
}

// Within is how many cases of policy i ran within ratio of the fastest, and its worst ratio.
func (v *Validation) Within(i int, ratio float64) (within int, worst float64) {
	for _, c := range v.Cases {
		if c.Ratio[i] <= ratio {
			within++
		}
		worst = max(worst, c.Ratio[i])
	}
	return within, worst
}

type heldOut struct {
	name string
	d    *formats.Dense
	ns   []int
}

// heldOutSet is the validation set: shapes, sparsities and seeds the training sets do not
// use, at N on the policy grid (6, 24, 96) and off it.
func heldOutSet(opts ValidateOptions) []heldOut {
	rng := rand.New(rand.NewPCG(201, 202))
	if opts.Small {
		return []heldOut{{"40x48 10%", randDense(rng, 40, 48, 0.1), []int{1, 6, 24, 96}}}
	}
	ns := []int{1, 5, 6, 20, 24, 40, 80, 96}
	var set []heldOut
	for _, sh := range [][2]int{{384, 320}, {200, 600}} {
		for _, den := range []float64{0.05, 0.2, 0.4, 0.8} {
			set = append(set, heldOut{fmt.Sprintf("%dx%d %.0f%%", sh[0], sh[1], 100*den), randDense(rng, sh[0], sh[1], den), ns})
		}
		set = append(set, heldOut{fmt.Sprintf("%dx%d blocks 4x1 40%%", sh[0], sh[1]), randBlocky(rng, sh[0], sh[1], 4, 1, 0.4), ns})
		set = append(set, heldOut{fmt.Sprintf("%dx%d blocks 8x1 10%%", sh[0], sh[1]), randBlocky(rng, sh[0], sh[1], 8, 1, 0.1), ns})
		set = append(set, heldOut{fmt.Sprintf("%dx%d 2:8", sh[0], sh[1]), randNM(rng, sh[0], sh[1], 2, 8), ns})
		set = append(set, heldOut{fmt.Sprintf("%dx%d 2:4", sh[0], sh[1]), randNM(rng, sh[0], sh[1], 2, 4), ns})
	}
	if opts.Large {
		// LLM MLP layers, far larger than any cache: at small N they stream W from memory.
		for _, sh := range [][2]int{{11008, 4096}, {4096, 11008}} {
			large := []int{1, 4, 16}
			set = append(set, heldOut{fmt.Sprintf("%dx%d 10%%", sh[0], sh[1]), randDense(rng, sh[0], sh[1], 0.1), large})
			set = append(set, heldOut{fmt.Sprintf("%dx%d 2:4", sh[0], sh[1]), randNM(rng, sh[0], sh[1], 2, 4), large})
			set = append(set, heldOut{fmt.Sprintf("%dx%d blocks 4x4 10%%", sh[0], sh[1]), randBlocky(rng, sh[0], sh[1], 4, 4, 0.1), large})
			set = append(set, heldOut{fmt.Sprintf("%dx%d dense", sh[0], sh[1]), randDense(rng, sh[0], sh[1], 1), []int{1}})
		}
	}
	return set
}

// ValidatePolicies times the held-out set (one thread) and compares the choice of each
// policy, named by its Options.Calibration setting ("off" for the shipped table, or a
// calibration file), with the fastest candidate.
func ValidatePolicies(settings []string, opts ValidateOptions) (*Validation, error) {
	start := time.Now()
	v := &Validation{}
	for _, s := range settings {
		v.Policies = append(v.Policies, resolvePolicy(s, nil).source)
	}
	fams := withoutScalar(runnableFamilies())
	set := heldOutSet(opts)
	// Dropped packings are garbage of hundreds of MB each: a soft memory limit makes the
	// collector return them before the heap doubles (it peaked at 19.5 GB of 24 without).
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(sysmem.Total() / 2))
	for hi, h := range set {
		conv, err := newConversions(h.d)
		if err != nil {
			return nil, err
		}
		plans := make([]*Plan, len(settings))
		for i, s := range settings {
			p, err := Compile(h.d, Options{Threads: 1, Calibration: s})
			if err != nil {
				return nil, err
			}
			plans[i] = p
		}
		// Packed kernels are kept across this matrix's N for reuse, within a memory budget:
		// past it, those no plan chose are dropped after timing and packed again when
		// needed (4096×11008 dense at N = 1 packs ~40 candidates of 180–360 MB each, and
		// keeping them all once ran a 24 GiB machine out of memory).
		keep := map[string]bool{}
		for _, p := range plans {
			for _, n := range h.ns {
				keep[p.choiceFor(n).id()] = true
			}
		}
		packed := map[string]asm.Kernel{}
		var packedBytes int64
		budget := sysmem.Total() / 4
		for _, n := range h.ns {
			cands, _, err := candidatesFor(h.d, fams, nRange{n, n})
			if err != nil {
				return nil, err
			}
			c := ValidationCase{Matrix: h.name, N: n, BestNs: math.Inf(1)}
			times := map[string]float64{}
			for _, cd := range cands {
				id := cd.fam.Name + "@" + cd.tgt.String()
				kern, ok := packed[id]
				if !ok {
					cw, err := conv.as(cd.tgt)
					if err != nil {
						return nil, err
					}
					if kern, err = cd.fam.Pack(cw); err != nil {
						kern = nil // the family does not take W: not a candidate
					}
					packed[id] = kern
					if kern != nil {
						packedBytes += kern.PackedBytes()
					}
				}
				if kern == nil {
					continue
				}
				ns, err := timeKernel(kern, n, 100*time.Millisecond)
				if err != nil {
					return nil, err
				}
				times[id] = ns
				prevBest := c.Best
				if ns < c.BestNs {
					c.BestNs, c.Best = ns, id
				}
				// Over budget: drop what no plan chose and is not the fastest so far.
				for _, drop := range []string{id, prevBest} {
					if k := packed[drop]; k != nil && packedBytes > budget && !keep[drop] && drop != c.Best {
						packedBytes -= k.PackedBytes()
						delete(packed, drop)
					}
				}
			}
			for _, p := range plans {
				chosen := p.choiceFor(n).id()
				ns, ok := times[chosen]
				if !ok {
					return nil, fmt.Errorf("dispatch: validation %s N=%d: chosen %s is not among the candidates", h.name, n, chosen)
				}
				r := ns / c.BestNs
				if chosen != c.Best {
					if r, err = retimeRatio(packed[chosen], packed[c.Best], n); err != nil {
						return nil, err
					}
				}
				c.Chosen, c.Ratio = append(c.Chosen, chosen), append(c.Ratio, r)
			}
			v.Cases = append(v.Cases, c)
		}
		if opts.Progress != nil {
			opts.Progress(hi+1, len(set), h.name, time.Since(start))
		}
	}
	return v, nil
}

// retimeRatio times a against b interleaved (medians) and returns a's time over b's. A
// ratio beyond 1.2, which a burst of other work on a shared machine can fake on calls of
// microseconds, is re-timed twice more and the median of the three kept.
func retimeRatio(a, b asm.Kernel, n int) (float64, error) {
	once := func() (float64, error) {
		st, err := timing.TimeInterleaved(timing.Protocol{Samples: 15, MinSample: 2 * time.Millisecond, Budget: 2 * time.Second},
			kernelCall(a, n), kernelCall(b, n))
		if err != nil {
			return 0, err
		}
		return st[0].MedianNs / st[1].MedianNs, nil
	}
	r, err := once()
	if err != nil || r <= 1.2 {
		return r, err
	}
	rs := []float64{r, 0, 0}
	for i := 1; i < 3; i++ {
		if rs[i], err = once(); err != nil {
			return 0, err
		}
	}
	slices.Sort(rs)
	return rs[1], nil
}
