package dispatch

import (
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sparsegen/sparsegen/asm"
	"github.com/sparsegen/sparsegen/formats"
)

// timedEntry is a record entry for w over RangeFor(n), capped at n as autotune caps an
// unbounded range, that says winner beat the default plan's choice there.
func timedEntry(t *testing.T, w *Plan, key Key, n int, winner Candidate) Entry {
	t.Helper()
	lo, hi, err := RangeFor(n, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return entryOver(key, lo, min(hi, n), n, w, winner)
}

// entryOver is the entry for key over lo … hi, timed at lo, n and hi, in which winner (1 µs)
// beat def's choice at n (2 µs).
func entryOver(key Key, lo, hi, n int, def *Plan, winner Candidate) Entry {
	key.NLo, key.NHi = lo, hi
	fam, f := def.KernelFor(n)
	timedN := slices.Compact([]int{lo, n, hi})
	med := func(ns float64) []float64 {
		out := make([]float64, len(timedN))
		for i := range out {
			out[i] = ns
		}
		return out
	}
	winner.MedianNs, winner.MediansNs = 1000, med(1000)
	return Entry{Key: key, N: n, TimedN: timedN, Winner: winner,
		Default: Candidate{Kernel: fam, Format: f, MedianNs: 2000, MediansNs: med(2000)}}
}

// otherCandidate returns a candidate for n that is not the default plan's choice there,
// preferring one that does not run for every N (as spmm_csr_t64_avx2, N ≥ 32, did in
// issue 16): such a winner is what made a version-1 record fall back to a runner-up.
func otherCandidate(t *testing.T, w *formats.Dense, def *Plan, n int) Candidate {
	t.Helper()
	cs, err := Candidates(w, n, Options{})
	if err != nil {
		t.Fatal(err)
	}
	fam, f := def.KernelFor(n)
	var pick *Candidate
	for i, c := range cs {
		if c.Kernel == fam && c.Format == f {
			continue
		}
		if pick == nil {
			pick = &cs[i]
		}
		if fm, ok := asm.Lookup(c.Kernel); ok && fm.MinN > 1 {
			pick = &cs[i]
			break
		}
	}
	if pick == nil { // every build registers several families for any W (purego: the scalar ones)
		t.Fatalf("N = %d: no candidate but the default, so the record has nothing to test", n)
	}
	return Candidate{Kernel: pick.Kernel, Format: pick.Format}
}

func TestRecordRoundTripAndLookup(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	d := randDense(rng, 96, 80, 0.1)
	key, err := KeyOf(d, 128)
	if err != nil {
		t.Fatal(err)
	}
	if key.NLo != 128 || key.NHi != 128 || key.Pattern != "unstructured" || key.DensityPct != 10 {
		t.Fatalf("key %+v", key)
	}
	if k, _ := KeyOf(randDense(rng, 64, 64, 1), 1); k.Pattern != "dense" {
		t.Fatalf("a dense W's pattern is %q (its blocks are all full, too)", k.Pattern)
	}
	def, err := Compile(d, Options{})
	if err != nil {
		t.Fatal(err)
	}
	rec := NewRecord()
	e := timedEntry(t, def, key, 128, Candidate{Kernel: "ref_dense_generic", Format: "dense"})
	e.RunnersUp = []Candidate{{Kernel: "ref_csr_generic", Format: "csr", MedianNs: 3000}}
	rec.Add(e)
	path := filepath.Join(t.TempDir(), "tune.json")
	if err := rec.Save(path); err != nil {
		t.Fatal(err)
	}
	got, err := LoadRecord(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Entries) != 1 || got.Entries[0].Winner.Kernel != "ref_dense_generic" || got.Machine.KernelSet != KernelSetHash() ||
		got.Version != 2 || !slices.Equal(got.Entries[0].TimedN, e.TimedN) {
		t.Fatalf("loaded %+v", got)
	}
	// Lookup finds the entry for an N inside its range, nearby density buckets too.
	k2 := key
	k2.DensityPct = 11
	if got.Lookup(k2) == nil {
		t.Fatal("density 11% did not find the 10% entry")
	}
	k2.DensityPct = 20
	if got.Lookup(k2) != nil {
		t.Fatal("density 20% found the 10% entry")
	}
	k3, _ := KeyOf(d, e.NLo)
	if got.Lookup(k3) == nil {
		t.Fatalf("N = %d (the range's low end) did not find the entry", e.NLo)
	}
	k3, _ = KeyOf(d, e.NHi+1)
	if got.Lookup(k3) != nil {
		t.Fatalf("N = %d, past the range timed, found the entry", e.NHi+1)
	}
	p, err := Compile(d, Options{Record: got})
	if err != nil {
		t.Fatal(err)
	}
	if fam, f := p.KernelFor(128); fam != "ref_dense_generic" || f != "dense" {
		t.Fatalf("record not honoured: %s %s\n%s", fam, f, p.Describe())
	}
	if !strings.Contains(p.Describe(), "tuning record: beat the default policy's") {
		t.Fatalf("Describe does not cite the record:\n%s", p.Describe())
	}
	// No temporary files left behind.
	ents, _ := os.ReadDir(filepath.Dir(path))
	if len(ents) != 1 {
		t.Fatalf("directory holds %d files", len(ents))
	}
}

// Issue 16, item 1: a record tuned at N = 1 and 128 never makes any N slower than the
// default policy. By construction: at every N from 1 to 160 the plan with the record runs
// the default plan's kernel, or the kernel the record timed against that very default at
// both ends of a range holding N; Describe says which.
func TestRecordNeverLeavesTheDefaultUntimed(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	d := randDense(rng, 384, 192, 0.1)
	def, err := Compile(d, Options{})
	if err != nil {
		t.Fatal(err)
	}
	key, _ := KeyOf(d, 1)
	rec := NewRecord()
	for _, n := range []int{1, 128} {
		e := timedEntry(t, def, key, n, otherCandidate(t, d, def, n))
		// Runners-up that do not cover the range, as a version-1 record kept: never used.
		e.RunnersUp = []Candidate{{Kernel: "ref_csr_generic", Format: "csr", MedianNs: 1500}}
		rec.Add(e)
	}
	p, err := Compile(d, Options{Record: rec})
	if err != nil {
		t.Fatal(err)
	}
	desc := p.Describe()
	changed := 0
	for n := 1; n <= 160; n++ {
		fam, f := p.KernelFor(n)
		dfam, df := def.KernelFor(n)
		c := p.choiceFor(n)
		if !strings.Contains(desc, ": "+c.why+"\n") {
			t.Fatalf("N = %d: Describe lacks the choice's reason %q:\n%s", n, c.why, desc)
		}
		if fam == dfam && f == df {
			if strings.HasPrefix(c.why, "tuning record") {
				t.Errorf("N = %d: the default's kernel, described as the record's: %s", n, c.why)
			}
			continue
		}
		changed++
		e := rec.Lookup(Key{M: key.M, K: key.K, NLo: n, NHi: n, Pattern: key.Pattern, DensityPct: key.DensityPct})
		switch {
		case e == nil:
			t.Errorf("N = %d: %s@%s instead of the default %s@%s, and no entry holds N", n, fam, f, dfam, df)
		case e.Winner.Kernel != fam || e.Winner.Format != f:
			t.Errorf("N = %d: %s@%s is not the winner %s@%s of the entry for %d…%d", n, fam, f, e.Winner.Kernel, e.Winner.Format, e.NLo, e.NHi)
		case e.Default.Kernel != dfam || e.Default.Format != df:
			t.Errorf("N = %d: the winner was timed against %s, the default runs %s", n, e.Default.Kernel, dfam)
		case !slices.Contains(e.TimedN, e.NLo) || !slices.Contains(e.TimedN, e.NHi):
			t.Errorf("N = %d: entry %d…%d was not timed at both ends (%v)", n, e.NLo, e.NHi, e.TimedN)
		case !strings.HasPrefix(c.why, "tuning record"):
			t.Errorf("N = %d: the record's kernel, described as %q", n, c.why)
		}
	}
	if changed == 0 {
		t.Fatalf("the record changed no N:\n%s", desc)
	}
	// N = 17…31 (between the two N tuned for) and N > 128 keep the default.
	for _, n := range []int{17, 24, 31, 129, 160} {
		if fam, _ := p.KernelFor(n); fam != must(def.KernelFor(n)) {
			t.Errorf("N = %d: %s, not the default's %s", n, fam, must(def.KernelFor(n)))
		}
	}
}

func must(fam, _ string) string { return fam }

// A winner that cannot run here, or that was timed against another default than the one
// this plan runs, leaves the default's choice (never a runner-up timed elsewhere).
func TestRecordThatDoesNotApplyKeepsTheDefault(t *testing.T) {
	rng := rand.New(rand.NewPCG(43, 44))
	d := randDense(rng, 128, 96, 0.1)
	def, err := Compile(d, Options{})
	if err != nil {
		t.Fatal(err)
	}
	key, _ := KeyOf(d, 1)
	other := otherCandidate(t, d, def, 24)
	for name, tc := range map[string]struct {
		edit func(e *Entry)
		note string
	}{
		"unknown winner":   {func(e *Entry) { e.Winner.Kernel = "no_such_kernel" }, "no such kernel family"},
		"another default":  {func(e *Entry) { e.Default.Kernel = "some_other_default" }, "was timed against some_other_default"},
		"unpackable":       {func(e *Entry) { e.Winner.Format = "nm1:16" }, "cannot be packed as nm1:16"},
		"the default wins": {func(e *Entry) { e.Winner = e.Default }, "the default's choice for"},
	} {
		t.Run(name, func(t *testing.T) {
			rec := NewRecord()
			e := timedEntry(t, def, key, 24, other)
			e.RunnersUp = []Candidate{other, {Kernel: "ref_csr_generic", Format: "csr"}}
			tc.edit(&e)
			rec.Add(e)
			p, err := Compile(d, Options{Record: rec})
			if err != nil {
				t.Fatal(err)
			}
			for n := 1; n <= 160; n++ {
				if fam, f := p.KernelFor(n); fam != must(def.KernelFor(n)) {
					t.Fatalf("N = %d: %s@%s, not the default's:\n%s", n, fam, f, p.Describe())
				}
			}
			if !strings.Contains(p.Describe(), "note: tuning record") || !strings.Contains(p.Describe(), tc.note) {
				t.Fatalf("Describe does not say why the record was not used:\n%s", p.Describe())
			}
		})
	}
}

func TestRecordIgnored(t *testing.T) {
	dir := t.TempDir()
	entry := `{"m": 1, "k": 1, "n_lo": 1, "n_hi": 1, "winner": {"kernel": "a"}, "default": {"kernel": "b"}}`
	if r, err := ParseRecord([]byte(`{"version": 2, "entries": [` + entry + `]}`)); err != nil || len(r.Entries) != 1 {
		t.Fatalf("a well-formed entry: %v", err)
	}
	for name, body := range map[string]string{
		"corrupt":    `{"version": 2, "entries": [`,
		"old":        `{"version": 0, "entries": []}`,
		"version 1":  `{"version": 1, "entries": [{"m": 1, "k": 1, "n_bucket": "17+", "winner": {"kernel": "a"}}]}`,
		"future":     `{"version": 99, "entries": []}`,
		"malformed":  `{"version": 2, "entries": [{"m": 1, "k": 1, "n_lo": 1, "n_hi": 1, "winner": {"kernel": ""}, "default": {"kernel": "b"}}]}`,
		"no default": `{"version": 2, "entries": [{"m": 1, "k": 1, "n_lo": 1, "n_hi": 1, "winner": {"kernel": "a"}}]}`,
		"no range":   `{"version": 2, "entries": [{"m": 1, "k": 1, "winner": {"kernel": "a"}, "default": {"kernel": "b"}}]}`,
		"inverted":   `{"version": 2, "entries": [{"m": 1, "k": 1, "n_lo": 9, "n_hi": 8, "winner": {"kernel": "a"}, "default": {"kernel": "b"}}]}`,
	} {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".json")
		os.WriteFile(path, []byte(body), 0o644)
		r, err := LoadRecord(path)
		if r != nil || !errors.Is(err, ErrRecordIgnored) {
			t.Errorf("%s: record %v, error %v", name, r, err)
		}
	}
	if _, err := LoadRecord(filepath.Join(dir, "missing.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing: %v", err)
	}
	// A foreign machine's record is ignored with a warning.
	rng := rand.New(rand.NewPCG(33, 34))
	d := randDense(rng, 32, 32, 0.1)
	def, _ := Compile(d, Options{})
	rec := NewRecord()
	rec.Machine.Model = "Imaginary CPU 9000"
	key, _ := KeyOf(d, 1)
	rec.Add(timedEntry(t, def, key, 1, Candidate{Kernel: "ref_dense_generic", Format: "dense"}))
	var warned []string
	p, err := Compile(d, Options{Record: rec, Warn: func(s string) { warned = append(warned, s) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(warned) != 1 || !strings.Contains(warned[0], "Imaginary") {
		t.Fatalf("warnings %q", warned)
	}
	if fam, _ := p.KernelFor(1); fam == "ref_dense_generic" {
		t.Fatal("foreign record used")
	}
	if !strings.Contains(p.Describe(), "ignored") {
		t.Fatal("Describe does not note the ignored record")
	}
}
