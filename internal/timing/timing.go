// Package timing is sparsegen's measurement protocol, shared by bench and autotune.
package timing

import (
	"sort"
	"time"
)

// Timing protocol: each candidate is warmed up, calibrated to a batch of calls that takes at
// least MinSample, then sampled in rounds that interleave the candidates (A B A B …), so a
// noisy neighbour slows every candidate alike. Reported: the median and the minimum of the
// per-call times of the samples.

// Stats is the outcome of timing one candidate.
type Stats struct {
	MedianNs, MinNs float64
	Samples         int
}

// Protocol bounds the timing of one configuration.
type Protocol struct {
	Samples   int           // samples per candidate (≥ 5 recommended)
	MinSample time.Duration // each sample runs the call this long at least
	Budget    time.Duration // stop sampling early after this, with ≥ 3 samples
}

// DefaultProtocol fits the default suite in a few minutes on two cores.
var DefaultProtocol = Protocol{Samples: 7, MinSample: 2 * time.Millisecond, Budget: 400 * time.Millisecond}

// TimeInterleaved times each function under the protocol and returns one Stats per function.
func TimeInterleaved(p Protocol, fs ...func() error) ([]Stats, error) {
	samples, err := SampleInterleaved(p, fs...)
	if err != nil {
		return nil, err
	}
	out := make([]Stats, len(fs))
	for i, xs := range samples {
		out[i] = Summarize(xs)
	}
	return out, nil
}

// SampleInterleaved returns, per function, the per-call times (ns) of its samples.
func SampleInterleaved(p Protocol, fs ...func() error) ([][]float64, error) {
	if p.Samples < 1 {
		p.Samples = 1
	}
	batch := make([]int, len(fs))
	for i, f := range fs {
		if err := f(); err != nil { // warm-up, and the first error surfaces here
			return nil, err
		}
		b, err := calibrate(f, p.MinSample)
		if err != nil {
			return nil, err
		}
		batch[i] = b
	}
	samples := make([][]float64, len(fs))
	start := time.Now()
	for s := 0; s < p.Samples; s++ {
		for i, f := range fs {
			t0 := time.Now()
			for range batch[i] {
				if err := f(); err != nil {
					return nil, err
				}
			}
			samples[i] = append(samples[i], float64(time.Since(t0).Nanoseconds())/float64(batch[i]))
		}
		if s >= 2 && p.Budget > 0 && time.Since(start) > p.Budget {
			break
		}
	}
	return samples, nil
}

// calibrate finds a batch size whose run lasts at least min.
func calibrate(f func() error, min time.Duration) (int, error) {
	n := 1
	for {
		t0 := time.Now()
		for range n {
			if err := f(); err != nil {
				return 0, err
			}
		}
		el := time.Since(t0)
		if el >= min || n >= 1<<20 {
			return n, nil
		}
		if el <= 0 {
			n *= 10
			continue
		}
		next := int(float64(n) * 1.2 * float64(min) / float64(el))
		n = max(next, n+1)
	}
}

// Summarize returns the median and minimum of xs.
func Summarize(xs []float64) Stats {
	if len(xs) == 0 {
		return Stats{}
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Stats{MedianNs: med, MinNs: s[0], Samples: len(s)}
}
