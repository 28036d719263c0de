package autotune

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sparsegen/sparsegen/dispatch"
	"github.com/sparsegen/sparsegen/formats"
	"github.com/sparsegen/sparsegen/formats/prune"
)

func randDense(t testing.TB, seed uint64, m, k int) *formats.Dense {
	rng := rand.New(rand.NewPCG(seed, 1))
	d := make([]float32, m*k)
	for i := range d {
		d[i] = float32(rng.NormFloat64())
	}
	w, err := formats.NewDense(m, k, d)
	require.NoError(t, err)
	return w
}

// smallModel is a synthetic model: unstructured, 2:4 and block-pruned layers.
func smallModel(t testing.TB) []Layer {
	d := randDense(t, 1, 64, 96)
	csr, err := prune.Magnitude(d, 0.9)
	require.NoError(t, err)
	c, err := formats.CSRFromDense(csr)
	require.NoError(t, err)
	nm, err := prune.NM(randDense(t, 2, 48, 64), 2, 4)
	require.NoError(t, err)
	b, err := prune.BlockMagnitudeBSR(randDense(t, 3, 64, 64), 4, 4, prune.L1, 0.8)
	require.NoError(t, err)
	return []Layer{{"unstructured", c}, {"nm", nm}, {"block", b}, {"dense", randDense(t, 4, 32, 40)}}
}

var quick = Options{Ns: []int{1, 8, 64}, Budget: 60 * time.Millisecond, Threads: []int{1}}

func TestTuneWritesARecordDispatchFollows(t *testing.T) {
	layers := smallModel(t)
	rec := dispatch.NewRecord()
	var progress bytes.Buffer
	opts := quick
	opts.Progress = &progress
	rs, err := Tune(layers, opts, rec)
	require.NoError(t, err)
	require.Len(t, rs, len(layers)*len(opts.Ns))
	require.Contains(t, progress.String(), fmt.Sprintf("tuning %d of %d", len(rs), len(rs)))
	for _, r := range rs {
		require.NotEmpty(t, r.Entry.Winner.Kernel)
		require.Greater(t, r.Entry.Winner.MedianNs, 0.0)
		require.True(t, r.Entry.Default.Same(r.Default), "the entry names the default it was timed against")
		require.Contains(t, r.Entry.TimedN, r.N)
		require.Contains(t, r.Entry.TimedN, r.Entry.NLo)
		require.Contains(t, r.Entry.TimedN, r.Entry.NHi)
		require.LessOrEqual(t, r.Entry.NLo, r.N)
		if lo, hi, err := dispatch.RangeFor(r.N, dispatch.Options{}); assert.NoError(t, err) {
			require.Equal(t, lo, r.Entry.NLo)
			require.Equal(t, min(hi, r.N), r.Entry.NHi, "the plan's range holding N, an unbounded one cut at N")
		}
		require.Len(t, r.Entry.Winner.MediansNs, len(r.Entry.TimedN))
		require.NotEmpty(t, r.Entry.Winner.SamplesNs)
		if !r.Entry.Winner.Same(r.Default) { // the policy's choice is kept unless significantly beaten
			require.Less(t, r.Entry.Winner.MedianNs, r.Default.MedianNs)
		}
	}

	loaded := saveAndLoad(t, rec)

	// Dispatch follows the record: the kernel it picks is the recorded winner.
	for _, r := range rs {
		p, err := dispatch.Compile(layerW(layers, r.Layer), dispatch.Options{Threads: 1, Record: loaded})
		require.NoError(t, err)
		fam, format := p.KernelFor(r.N)
		require.Equal(t, r.Entry.Winner.Kernel, fam, "%s N=%d", r.Layer, r.N)
		require.Equal(t, r.Entry.Winner.Format, format, "%s N=%d", r.Layer, r.N)
		p.Close()
	}

	// Check re-times the winners; Compare runs both choices.
	ds, err := Check(layers[:1], []int{8}, loaded, quick, 10)
	require.NoError(t, err)
	require.Len(t, ds, 1)
	require.Greater(t, ds[0].NowNs, 0.0)
	cs, err := Compare(layers[:2], []int{8}, loaded, quick, 5)
	require.NoError(t, err)
	require.Len(t, cs, 2)
	for _, c := range cs {
		require.Len(t, c.DefaultRuns, 5)
		require.Len(t, c.TunedRuns, 5)
	}
}

func TestBadRecordsAreIgnoredWithAWarning(t *testing.T) {
	layers := smallModel(t)
	rec := dispatch.NewRecord()
	_, err := Tune(layers[:1], Options{Ns: []int{8}, Budget: 30 * time.Millisecond, Threads: []int{1}}, rec)
	require.NoError(t, err)
	good, err := json.Marshal(rec)
	require.NoError(t, err)
	dir := t.TempDir()

	foreign := *rec
	foreign.Machine.Model = "Imaginary CPU 9000"
	fb, _ := json.Marshal(&foreign)
	future := strings.Replace(string(good), `"version":2`, `"version":99`, 1)
	require.NotEqual(t, string(good), future)

	for name, content := range map[string][]byte{
		"corrupt":   []byte("{not json"),
		"truncated": good[:len(good)/2],
		"future":    []byte(future),
		"empty":     nil,
	} {
		p := filepath.Join(dir, name+".json")
		require.NoError(t, os.WriteFile(p, content, 0o644))
		r, why := LoadForHost(p)
		require.Nil(t, r, name)
		require.NotEmpty(t, why, name)
		// The CLI goes on without a record: dispatch still works.
		pl, err := dispatch.Compile(layers[0].W, dispatch.Options{Threads: 1, Record: r})
		require.NoError(t, err, name)
		pl.Close()
	}
	// A foreign record parses, but Compile ignores it and warns.
	fr, err := dispatch.ParseRecord(fb)
	require.NoError(t, err)
	var warned []string
	pl, err := dispatch.Compile(layers[0].W, dispatch.Options{Threads: 1, Record: fr, Warn: func(s string) { warned = append(warned, s) }})
	require.NoError(t, err)
	pl.Close()
	require.NotEmpty(t, warned, "a foreign record warns")
	require.Contains(t, warned[0], "another machine")
	p := filepath.Join(dir, "foreign.json")
	require.NoError(t, os.WriteFile(p, fb, 0o644))
	r, why := LoadForHost(p)
	require.Nil(t, r)
	require.Contains(t, why, "another machine")
}

func entry(m int, kernel string, ns float64) dispatch.Entry {
	return dispatch.Entry{Key: dispatch.Key{M: m, K: 64, NLo: 20, NHi: 27, Pattern: "unstructured", DensityPct: 10}, N: 24, TimedN: []int{20, 24, 27},
		Winner:  dispatch.Candidate{Kernel: kernel, Format: "csr", Threads: 1, MedianNs: ns},
		Default: dispatch.Candidate{Kernel: "default", Format: "csr", Threads: 1, MedianNs: 2 * ns}}
}

func TestMergeKeepsTheFasterEntry(t *testing.T) {
	a, b := dispatch.NewRecord(), dispatch.NewRecord()
	a.Add(entry(1, "slow", 200))
	a.Add(entry(2, "fast", 100))
	b.Add(entry(1, "faster", 150))
	b.Add(entry(2, "slower", 300))
	b.Add(entry(3, "new", 50))
	require.NoError(t, Merge(a, b))
	got := map[int]string{}
	for _, e := range a.Entries {
		got[e.M] = e.Winner.Kernel
	}
	require.Equal(t, map[int]string{1: "faster", 2: "fast", 3: "new"}, got)
	c := dispatch.NewRecord()
	c.Machine.Cores++
	require.Error(t, Merge(a, c), "records of different machines do not merge")
}

func TestConcurrentSavesKeepEveryEntry(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rec.json")
	var wg sync.WaitGroup
	const writers = 8
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := dispatch.NewRecord()
			r.Add(entry(100+i, fmt.Sprint("k", i), float64(10+i)))
			_, err := SaveMerged(path, r)
			require.NoError(t, err)
		}()
	}
	wg.Wait()
	r, why := LoadForHost(path)
	require.Empty(t, why)
	require.Len(t, r.Entries, writers)
}

// TestSaveLeavesNoFiles: saving leaves only the record (no RECORD.lock), and clears the
// temporary file a writer killed mid-save left beside it.
func TestSaveLeavesNoFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rec.json")
	stale := filepath.Join(dir, ".rec.json.tmp123456")
	require.NoError(t, os.WriteFile(stale, []byte("{partial"), 0o644))
	other := filepath.Join(dir, ".other.json.tmp1")
	require.NoError(t, os.WriteFile(other, nil, 0o644))
	r := dispatch.NewRecord()
	r.Add(entry(100, "k", 10))
	_, err := SaveMerged(path, r)
	require.NoError(t, err)
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	require.ElementsMatch(t, []string{"rec.json", ".other.json.tmp1"}, names, "another record's files are left alone")
}

// TestCheckWritable: a record that could not be saved is found before a run.
func TestCheckWritable(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, CheckWritable(filepath.Join(dir, "rec.json")))
	ents, _ := os.ReadDir(dir)
	require.Empty(t, ents, "the check leaves nothing")
	require.Error(t, CheckWritable(filepath.Join(dir, "missing", "rec.json")))
	file := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	require.Error(t, CheckWritable(filepath.Join(file, "rec.json")), "a parent that is a file")
	require.Error(t, CheckWritable(dir), "a directory as the record")
}

func TestMannWhitney(t *testing.T) {
	a := []float64{10, 11, 12, 10.5, 11.5, 10.2, 11.1, 10.9, 11.3, 10.7}
	b := []float64{20, 21, 22, 20.5, 21.5, 20.2, 21.1, 20.9, 21.3, 20.7}
	require.Less(t, MannWhitneyP(a, b), 0.001)
	require.Greater(t, MannWhitneyP(a, a), 0.9)
	mixed := []float64{10.1, 11.2, 12.1, 10.4, 11.6, 10.3, 11.0, 10.8, 11.4, 10.6}
	require.Greater(t, MannWhitneyP(a, mixed), 0.3)
	require.Equal(t, 1.0, MannWhitneyP(nil, a))
}

func TestTuneRejectsBadOptions(t *testing.T) {
	layers := smallModel(t)
	_, err := Tune(layers, Options{}, dispatch.NewRecord())
	require.Error(t, err)
	_, err = Tune(layers, Options{Ns: []int{0}}, dispatch.NewRecord())
	require.Error(t, err)
	_, err = Tune(layers, Options{Ns: []int{1}, Threads: []int{-1}}, dispatch.NewRecord())
	require.Error(t, err)
	_, err = Tune(layers, Options{Ns: []int{1}}, nil)
	require.Error(t, err)
	// Too many threads, or operands no machine holds, are refused before any timing.
	_, err = Tune(layers, Options{Ns: []int{1}, Threads: []int{1, 100000}}, dispatch.NewRecord())
	require.ErrorContains(t, err, "100000")
	huge := math.MaxInt / 2 // 2⁶² (2³⁰ on 32-bit builds): operands beyond any memory
	_, err = Tune(layers, Options{Ns: []int{1, huge}}, dispatch.NewRecord())
	require.ErrorContains(t, err, "GiB")
	_, err = Check(layers, []int{huge}, dispatch.NewRecord(), Options{}, 0.2)
	require.ErrorContains(t, err, "GiB")
}

func FuzzParseRecord(f *testing.F) {
	r := dispatch.NewRecord()
	r.Add(entry(5, "k", 10))
	b, _ := json.Marshal(r)
	f.Add(b)
	f.Add([]byte(`{"version":2,"entries":[{"m":-1}]}`))
	f.Add([]byte(`{"version":2,"entries":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		rec, err := dispatch.ParseRecord(data)
		if err != nil {
			return
		}
		// A parsed record answers lookups and survives a save round trip.
		for _, e := range rec.Entries {
			rec.Lookup(e.Key)
		}
		p := filepath.Join(t.TempDir(), "r.json")
		if err := rec.Save(p); err != nil {
			t.Fatal(err)
		}
		if _, err := dispatch.LoadRecord(p); err != nil {
			t.Fatalf("a saved record does not load: %v", err)
		}
	})
}

// The default policy's choice is always among the candidates, for every N: tuning can then
// only match or beat it.
func TestCandidatesHoldTheDefaultChoice(t *testing.T) {
	for _, l := range smallModel(t) {
		for _, n := range []int{1, 3, 8, 16, 17, 40, 64, 128, 300} {
			p, err := dispatch.Compile(l.W, dispatch.Options{Threads: 1})
			require.NoError(t, err)
			fam, format := p.KernelFor(n)
			p.Close()
			cs, err := dispatch.Candidates(l.W, n, dispatch.Options{Threads: 1})
			require.NoError(t, err)
			found := false
			for _, c := range cs {
				found = found || (c.Kernel == fam && c.Format == format)
			}
			require.True(t, found, "%s N=%d: default %s@%s is not a candidate", l.Name, n, fam, format)
		}
	}
}

// Issue 16, item 1, end to end: with a record tuned at N = 1 and 128, every N from 1 to
// 160 runs the default policy's kernel or the entry's winner, which was timed against that
// very default at both ends of a range holding N and beat it at the N tuned for. By
// construction, not by timing: the record never leaves an N to a kernel slower than the
// default by more than noise.
func TestRecordTunedAt1And128KeepsTheDefaultElsewhere(t *testing.T) {
	d := randDense(t, 5, 256, 192)
	pd, err := prune.Magnitude(d, 0.9)
	require.NoError(t, err)
	w, err := formats.CSRFromDense(pd)
	require.NoError(t, err)
	rec := dispatch.NewRecord()
	_, err = Tune([]Layer{{"l", w}}, Options{Ns: []int{1, 128}, Budget: 150 * time.Millisecond, Threads: []int{1}}, rec)
	require.NoError(t, err)
	require.Len(t, rec.Entries, 2)
	def, err := dispatch.Compile(w, dispatch.Options{Threads: 1})
	require.NoError(t, err)
	tun, err := dispatch.Compile(w, dispatch.Options{Threads: 1, Record: rec})
	require.NoError(t, err)
	desc := tun.Describe()
	for n := 1; n <= 160; n++ {
		tf, tfm := tun.KernelFor(n)
		df, dfm := def.KernelFor(n)
		if tf == df && tfm == dfm {
			continue
		}
		key, err := dispatch.KeyOf(w, n)
		require.NoError(t, err)
		e := rec.Lookup(key)
		require.NotNil(t, e, "N = %d runs %s@%s, not the default %s@%s, with no entry holding N\n%s", n, tf, tfm, df, dfm, desc)
		require.True(t, e.Winner.Same(dispatch.Candidate{Kernel: tf, Format: tfm}), "N = %d: not the entry's winner", n)
		require.True(t, e.Default.Same(dispatch.Candidate{Kernel: df, Format: dfm}), "N = %d: the winner was timed against another default", n)
		require.Contains(t, e.TimedN, e.NLo)
		require.Contains(t, e.TimedN, e.NHi)
		require.Less(t, e.Winner.MedianNs, e.Default.MedianNs)
		require.Contains(t, desc, "tuning record: beat the default policy's "+df+"@"+dfm)
	}
	for _, n := range []int{17, 24, 31, 129, 160} { // between and beyond the N tuned for
		tf, _ := tun.KernelFor(n)
		df, _ := def.KernelFor(n)
		require.Equal(t, df, tf, "N = %d", n)
	}
}

// around returns n samples spread evenly within ±2% of m.
func around(m float64, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = m * (0.98 + 0.04*float64(i%5)/4)
	}
	return out
}

// Issue 16, item 2: tune -check calls drift only on a significant shift (Mann-Whitney,
// p < 0.01) that a control kernel timed alongside does not share; noise and machine load
// read "inconclusive". The samples are made up (sampleFn), so nothing here is timed.
func TestCheckCallsDriftOnlyWhenTheSamplesShowIt(t *testing.T) {
	l := smallModel(t)[0]
	const n = 8
	cs, err := dispatch.Candidates(l.W, n, dispatch.Options{Threads: 1})
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(cs), 2)
	key, err := dispatch.KeyOf(l.W, n)
	require.NoError(t, err)
	lo, hi, err := dispatch.RangeFor(n, dispatch.Options{})
	require.NoError(t, err)
	key.NLo, key.NHi = lo, min(hi, n)
	rec := dispatch.NewRecord()
	winner, def := cs[0], cs[1]
	winner.Threads, def.Threads = 1, 1
	winner.MedianNs, winner.SamplesNs = 100, around(100, 9)
	def.MedianNs, def.SamplesNs = 200, around(200, 9)
	rec.Add(dispatch.Entry{Key: key, N: n, TimedN: []int{n}, MinSampleNs: 1e5, Winner: winner, Default: def})

	for _, tc := range []struct {
		name           string
		winner, ctl    func(i int) float64 // the i-th new sample
		status         string
		samples        int
		oldCheckCalled bool // what the median-only check said: Drifted
	}{
		{"steady", func(i int) float64 { return 105 + float64(i%3) }, func(i int) float64 { return 200 }, DriftOK, checkMinSamples, false},
		{"slower", func(i int) float64 { return 150 + float64(i%3) }, func(i int) float64 { return 200 + float64(i%4) }, Drifted, checkMinSamples, true},
		// Half the samples far below the recorded ones, half far above: the median moved 30%,
		// the distributions cannot be told apart.
		{"noisy", func(i int) float64 { return []float64{70, 190}[i%2] }, func(i int) float64 { return 200 }, DriftInconclusive, checkMaxSamples, true},
		// The control slowed as much: another process took the core, the record still holds.
		{"busy machine", func(i int) float64 { return 150 + float64(i%3) }, func(i int) float64 { return 300 + float64(i%4) }, DriftInconclusive, checkMaxSamples, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			taken := 0
			saved := sampleFn
			defer func() { sampleFn = saved }()
			sampleFn = func(ps []*dispatch.Plan, _ Layer, gotN int, _ Options, minSample time.Duration, samples int) ([][]float64, error) {
				require.Equal(t, n, gotN)
				require.Equal(t, 100*time.Microsecond, minSample, "the record's sample length")
				require.Len(t, ps, 2, "the winner and the control")
				out := make([][]float64, 2)
				for range samples {
					out[0] = append(out[0], tc.winner(taken))
					out[1] = append(out[1], tc.ctl(taken))
					taken++
				}
				return out, nil
			}
			ds, err := Check([]Layer{l}, []int{n, n}, rec, Options{Threads: []int{1}}, 0.2)
			require.NoError(t, err)
			require.Len(t, ds, 1, "one entry, checked once")
			d := ds[0]
			require.Equal(t, tc.status, d.Status, "%+v", d)
			require.Equal(t, tc.status == Drifted, d.Drifted)
			require.Equal(t, tc.samples, d.Samples)
			require.Equal(t, tc.oldCheckCalled, math.Abs(d.Relative) > 0.2, "the median moved past the threshold")
			if d.Status != DriftOK {
				require.NotEmpty(t, d.Why)
			}
		})
	}
}

func TestJudgeNeedsSamples(t *testing.T) {
	v := judge([]float64{100}, around(150, 20), nil, nil, 0.2)
	require.Equal(t, DriftInconclusive, v.status, "one recorded sample cannot be tested")
	v = judge(around(100, 9), around(150, 3), nil, nil, 0.2)
	require.Equal(t, DriftInconclusive, v.status, "3 new samples cannot reach p < 0.01: %+v", v)
	v = judge(around(100, 9), around(150, 20), nil, nil, 0.2)
	require.Equal(t, Drifted, v.status, "no control: the shift alone")
	require.Less(t, v.p, driftP)
}

// Issue 16, item 5: where the record leaves the default's kernel, Compare reports no gain
// (the two timings of one kernel differ by noise only).
func TestCompareSameKernelGainsNothing(t *testing.T) {
	layers := smallModel(t)[:2]
	cs, err := Compare(layers, []int{1, 8}, dispatch.NewRecord(), quick, 5)
	require.NoError(t, err)
	require.Len(t, cs, 4)
	for _, c := range cs {
		require.True(t, c.Same, "an empty record changes nothing: %+v", c)
		require.Equal(t, 1.0, c.Gain, "%s N=%d: medians %.0f and %.0f", c.Layer, c.N, c.DefaultNs, c.TunedNs)
		require.Equal(t, 1.0, c.P)
		require.Len(t, c.TunedRuns, 5)
	}
}

// saveAndLoad writes rec as a file and loads it back for this host, as sparsegen tune and
// Compile do.
func saveAndLoad(t *testing.T, rec *dispatch.Record) *dispatch.Record {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tune.json")
	_, err := SaveMerged(path, rec)
	require.NoError(t, err)
	loaded, why := LoadForHost(path)
	require.Empty(t, why)
	return loaded
}

// layerW is the weight of the layer named name.
func layerW(layers []Layer, name string) formats.Matrix {
	for _, l := range layers {
		if l.Name == name {
			return l.W
		}
	}
	return nil
}
