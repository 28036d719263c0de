package dispatch

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sparsegen/sparsegen/asm"
	"github.com/sparsegen/sparsegen/formats"
)

// lpTimedEntry is timedEntry over RangeOf(w, n): an entry saying winner beat the plan
// def's choice over the range holding n (capped at n, as autotune caps an unbounded one).
func lpTimedEntry(t *testing.T, w formats.Matrix, def *Plan, n int, winner Candidate) Entry {
	t.Helper()
	key, err := KeyOf(w, n)
	if err != nil {
		t.Fatal(err)
	}
	lo, hi, err := RangeOf(w, n, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return entryOver(key, lo, min(hi, n), n, def, winner)
}

// lpOther returns a candidate for W at n other than def's choice there (the first in
// Candidates' order), or false when only one family runs W here (purego: the pure-Go one).
func lpOther(t *testing.T, w formats.Matrix, def *Plan, n int) (Candidate, bool) {
	t.Helper()
	cs, err := Candidates(w, n, Options{})
	if err != nil {
		t.Fatal(err)
	}
	fam, _ := def.KernelFor(n)
	for _, c := range cs {
		if c.Kernel != fam {
			return Candidate{Kernel: c.Kernel, Format: c.Format}, true
		}
	}
	return Candidate{}, false
}

// TestCandidatesLP: for a W stored in bf16, fp16 or int8, the candidates are exactly the
// low-precision families of its format and dtype that run here under the cap, take W and
// cover the range compileLP keeps one kernel for around N (RangeOf), compileLP's choice
// first; each compiles, forced, to a plan that runs it over that range. Never a float32
// family, never another dtype or format.
func TestCandidatesLP(t *testing.T) {
	rng := rand.New(rand.NewPCG(61, 62))
	d := randDense(rng, 40, 56, 0.2)
	wide := randDense(rng, 6, 1<<16+40, 0.001) // K past the 16-bit SpMV indices
	for _, dt := range []formats.DType{formats.BF16, formats.F16, formats.I8} {
		for _, tc := range []struct {
			w   *formats.Dense
			csr bool
		}{{d, false}, {d, true}, {wide, true}} {
			lp := lpMatrix(t, tc.w, dt, tc.csr)
			format := asm.LPFormat(dt)
			if tc.csr {
				format = asm.CSRLPFormat(dt)
			}
			_, k := lp.Shape()
			for _, isa := range runnableISAs() {
				capISA := mustISA(t, isa)
				def, err := Compile(lp, Options{ISA: isa})
				if err != nil {
					t.Fatal(err)
				}
				for _, n := range []int{1, 2, 5, 16, 40, 100} {
					name := format + "/" + isa
					lo, hi, err := RangeOf(lp, n, Options{ISA: isa})
					if err != nil || lo > n || hi < n {
						t.Fatalf("%s: RangeOf(%d) = %d…%d, %v", name, n, lo, hi, err)
					}
					cs, err := Candidates(lp, n, Options{ISA: isa, Threads: 3})
					if err != nil {
						t.Fatalf("%s N = %d: %v", name, n, err)
					}
					if len(cs) == 0 {
						t.Fatalf("%s N = %d: no candidate", name, n)
					}
					if fam, f := def.KernelFor(n); cs[0].Kernel != fam || cs[0].Format != f {
						t.Fatalf("%s N = %d: first candidate %s@%s, Compile runs %s@%s", name, n, cs[0].Kernel, cs[0].Format, fam, f)
					}
					// A dense W may also run regrouped in 8×1 blocks of its dtype, on the SIMD BSR
					// families of that dtype (the same stored values), offered from N = 17 on.
					blocks := "bsr8x1_" + dt.String()
					var want []string
					for _, f := range asm.Families() {
						if f.Format == format && Host().CanRun(f, capISA) && coversRange(f, nRange{lo, hi}) && (f.IndexBits != 16 || k <= 1<<16) {
							want = append(want, f.Name)
						}
						if !tc.csr && lo >= denseLPBlockTuneMinN && f.Format == asm.BSRLPFormat(dt) && (f.BlockR == 0 || f.BlockR == 8 && f.BlockC == 1) && f.ISA != asm.Generic && Host().CanRun(f, capISA) && coversRange(f, nRange{lo, hi}) {
							want = append(want, f.Name)
						}
					}
					var got []string
					for _, c := range cs {
						f, ok := asm.Lookup(c.Kernel)
						switch {
						case !ok:
							t.Fatalf("%s: unknown candidate %s", name, c.Kernel)
						case !(c.Format == format && f.Format == format || !tc.csr && c.Format == blocks && f.Format == asm.BSRLPFormat(dt)) || f.DType != dt.String():
							t.Fatalf("%s N = %d: candidate %s@%s (family format %s, dtype %s)", name, n, c.Kernel, c.Format, f.Format, f.DType)
						case !Host().CanRun(f, capISA):
							t.Fatalf("%s N = %d: candidate %s cannot run under the cap", name, n, c.Kernel)
						case f.IndexBits == 16 && k > 1<<16:
							t.Fatalf("%s N = %d: candidate %s cannot reach K = %d", name, n, c.Kernel, k)
						case c.Threads != 3 || c.MedianNs != 0:
							t.Fatalf("%s: candidate %+v", name, c)
						}
						got = append(got, c.Kernel)
					}
					slices.Sort(want)
					slices.Sort(got)
					if !slices.Equal(got, want) {
						t.Fatalf("%s N = %d (range %d…%d): candidates %v, want %v", name, n, lo, hi, got, want)
					}
					// Each compiles, forced by name and format, to a plan running it over the range.
					for _, c := range cs {
						p, err := Compile(lp, Options{ISA: isa, Kernel: c.Kernel, Format: c.Format})
						if err != nil {
							t.Fatalf("%s: %s: %v", name, c.Kernel, err)
						}
						for _, m := range []int{lo, n, min(hi, 4096)} {
							if fam, f := p.KernelFor(m); fam != c.Kernel || f != c.Format {
								t.Fatalf("%s: forced %s runs %s@%s at N = %d", name, c.Kernel, fam, f, m)
							}
						}
					}
				}
			}
		}
	}
	// Bad input: a nil or invalid W is an error, not a list.
	var nilLP *formats.CSRLP
	if _, err := Candidates(nilLP, 1, Options{}); err == nil {
		t.Fatal("Candidates of a nil CSRLP")
	}
	if _, _, err := RangeOf(nilLP, 1, Options{}); err == nil {
		t.Fatal("RangeOf a nil CSRLP")
	}
	bad := &formats.CSRLP{Rows: 2, Cols: 4, RowPtr: []int64{0, 1, 2}, ColIdx: []int32{3, 4}, DType: formats.BF16, Bits: []uint16{1, 2}}
	if _, err := Candidates(bad, 1, Options{}); !errors.Is(err, formats.ErrInvalid) {
		t.Fatalf("Candidates of a CSRLP with column 4 of 4: %v", err)
	}
	if _, err := Candidates(lpMatrix(t, d, formats.BF16, false), 1, Options{ISA: "sse9"}); err == nil {
		t.Fatal("Candidates under an unknown ISA")
	}
}

// TestRecordDType: the key carries the dtype, "dtype" in JSON only for low precision (a
// float32 entry reads and writes as before), a float32 and a bf16 entry of the same layer
// and range are two entries, and a dtype that is unknown or disagrees with the formats
// its entry was packed in makes the record ignored.
func TestRecordDType(t *testing.T) {
	rng := rand.New(rand.NewPCG(63, 64))
	d := randDense(rng, 48, 64, 1)
	lp := lpMatrix(t, d, formats.BF16, false)
	k32, err := KeyOf(d, 1)
	if err != nil {
		t.Fatal(err)
	}
	klp, err := KeyOf(lp, 1)
	if err != nil {
		t.Fatal(err)
	}
	if k32.DType != "" || klp.DType != "bf16" || klp.Pattern != "dense" || klp.DensityPct != k32.DensityPct || klp.M != 48 || klp.K != 64 {
		t.Fatalf("keys: float32 %+v, bf16 %+v", k32, klp)
	}
	k8, _ := KeyOf(lpMatrix(t, randDense(rng, 40, 96, 0.1), formats.I8, true), 16)
	if k8.DType != "i8" || k8.Pattern != "unstructured" || k8.DensityPct < 9 || k8.DensityPct > 11 {
		t.Fatalf("CSR int8 key %+v", k8)
	}
	rec := NewRecord()
	e32 := Entry{Key: k32, N: 1, TimedN: []int{1}, Winner: Candidate{Kernel: "gemv_dense_generic", Format: "dense", MedianNs: 5},
		Default: Candidate{Kernel: "gemv_dense_generic", Format: "dense", MedianNs: 5}}
	elp := Entry{Key: klp, N: 1, TimedN: []int{1}, Winner: Candidate{Kernel: "gemv_dense_bf16_generic", Format: "dense_bf16", MedianNs: 3},
		Default: Candidate{Kernel: "gemv_dense_bf16_generic", Format: "dense_bf16", MedianNs: 3}}
	rec.Add(e32)
	rec.Add(elp)
	if len(rec.Entries) != 2 {
		t.Fatalf("a float32 and a bf16 entry of one layer: %d entries", len(rec.Entries))
	}
	if e := rec.Lookup(klp); e == nil || e.Winner.Format != "dense_bf16" {
		t.Fatalf("bf16 key finds %+v", e)
	}
	if e := rec.Lookup(k32); e == nil || e.Winner.Format != "dense" {
		t.Fatalf("float32 key finds %+v", e)
	}
	k16 := klp
	k16.DType = "f16"
	if e := rec.Lookup(k16); e != nil {
		t.Fatalf("an f16 key finds the %s entry", e.DType)
	}
	path := filepath.Join(t.TempDir(), "r.json")
	if err := rec.Save(path); err != nil {
		t.Fatal(err)
	}
	got, err := LoadRecord(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Entries) != 2 || got.Lookup(klp) == nil || got.Lookup(klp).DType != "bf16" || got.Lookup(k32) == nil || got.Lookup(k32).DType != "" {
		t.Fatalf("round trip: %+v", got.Entries)
	}
	var raw struct {
		Entries []map[string]any `json:"entries"`
	}
	b, _ := json.Marshal(got)
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	for _, e := range raw.Entries {
		dt, has := e["dtype"]
		if f := e["winner"].(map[string]any)["format"]; (f == "dense") == has || has && dt != "bf16" {
			t.Fatalf("entry packed as %v has dtype %v (present %v)", f, dt, has)
		}
	}

	// Records written before dtypes (no "dtype") are float32; a bad dtype is refused.
	entry := func(dt, format string) string {
		s := `{"m": 48, "k": 64, "n_lo": 1, "n_hi": 1, "pattern": "dense", "density_pct": 100, `
		if dt != "" {
			s += `"dtype": "` + dt + `", `
		}
		return s + `"winner": {"kernel": "a", "format": "` + format + `"}, "default": {"kernel": "b", "format": "` + format + `"}}`
	}
	old, err := ParseRecord([]byte(`{"version": 2, "entries": [` + entry("", "dense") + `]}`))
	if err != nil || old.Entries[0].DType != "" || old.Lookup(k32) == nil || old.Lookup(klp) != nil {
		t.Fatalf("a record without dtypes: %v %+v", err, old)
	}
	for name, c := range map[string][2]string{
		"unknown dtype":           {"bf17", "dense_bf17"},
		"float32 named":           {"float32", "dense"},
		"bf16 key, float32 packs": {"bf16", "dense"},
		"no key, bf16 packs":      {"", "dense_bf16"},
		"i8 key, f16 packs":       {"i8", "csr_f16"},
	} {
		r, err := ParseRecord([]byte(`{"version": 2, "entries": [` + entry(c[0], c[1]) + `]}`))
		if r != nil || !errors.Is(err, ErrRecordIgnored) || !strings.Contains(err.Error(), "entry 0") {
			t.Errorf("%s: record %v, error %v", name, r, err)
		}
	}
}

// TestRecordDTypeNeverCrosses: an entry applies to W of its own dtype only. The same
// entry (layer, range, winner and default) applied to a bf16 W with its dtype in the key
// and not without it; a float32 W's entry keyed bf16 is not applied to it.
func TestRecordDTypeNeverCrosses(t *testing.T) {
	rng := rand.New(rand.NewPCG(65, 66))
	d := randDense(rng, 48, 64, 1)
	lp := lpMatrix(t, d, formats.BF16, false)
	for _, w := range []formats.Matrix{lp, d} {
		def, err := Compile(w, Options{})
		if err != nil {
			t.Fatal(err)
		}
		var other Candidate
		if _, ok := w.(*formats.DenseLP); ok {
			var found bool
			if other, found = lpOther(t, w, def, 1); !found {
				t.Logf("one family runs bf16 dense W here (%s): no bf16 entry to record", must(def.KernelFor(1)))
				continue
			}
		} else {
			other = otherCandidate(t, d, def, 1)
		}
		e := lpTimedEntry(t, w, def, 1, other)
		right := e.DType
		for _, dt := range []string{right, map[string]string{"": "bf16", "bf16": ""}[right]} {
			e.DType = dt
			rec := NewRecord()
			rec.Add(e)
			p, err := Compile(w, Options{Record: rec})
			if err != nil {
				t.Fatal(err)
			}
			fam, f := p.KernelFor(1)
			applied := fam == other.Kernel && f == other.Format
			if applied != (dt == right) {
				t.Fatalf("%T: entry keyed %q (W is %q) applied %v: runs %s@%s\n%s", w, dt, right, applied, fam, f, p.Describe())
			}
			if dt != right && !strings.Contains(p.Describe(), "tuning record has no entry for this layer") {
				t.Fatalf("%T: Describe does not say no entry applies:\n%s", w, p.Describe())
			}
		}
	}
}

// TestCompileLPFollowsRecord: compileLP follows an entry as the float32 Compile does: its
// winner runs over the entry's N range, and only there (the range's neighbours keep the
// default), Describe says so, and no "float32 only" note remains; a winner timed against
// another default, one that cannot run under the cap or cannot take W, a forced family
// or a foreign record leave the default with a note (and the foreign record a warning).
func TestCompileLPFollowsRecord(t *testing.T) {
	rng := rand.New(rand.NewPCG(67, 68))
	for _, tc := range []struct {
		w *formats.Dense
		n int
	}{{randDense(rng, 80, 96, 0.1), 16}, {randDense(rng, 80, 96, 0.1), 1}} {
		for _, dt := range []formats.DType{formats.I8, formats.BF16} {
			lp := lpMatrix(t, tc.w, dt, true)
			def, err := Compile(lp, Options{})
			if err != nil {
				t.Fatal(err)
			}
			other, ok := lpOther(t, lp, def, tc.n)
			if !ok {
				t.Skipf("one family runs %s CSR at N = %d here: nothing to record", dt, tc.n)
			}
			e := lpTimedEntry(t, lp, def, tc.n, other)
			rec := NewRecord()
			rec.Add(e)
			p, err := Compile(lp, Options{Record: rec})
			if err != nil {
				t.Fatal(err)
			}
			desc := p.Describe()
			for n := 1; n <= 80; n++ {
				fam, f := p.KernelFor(n)
				in := e.NLo <= n && n <= e.NHi
				if in && (fam != other.Kernel || f != other.Format) {
					t.Fatalf("%s N = %d, inside %d…%d: runs %s@%s, not the record's %s\n%s", dt, n, e.NLo, e.NHi, fam, f, other.Kernel, desc)
				}
				if dfam, df := def.KernelFor(n); !in && (fam != dfam || f != df) {
					t.Fatalf("%s N = %d, outside %d…%d: runs %s@%s, not the default's %s\n%s", dt, n, e.NLo, e.NHi, fam, f, dfam, desc)
				}
			}
			if !strings.Contains(desc, "tuning record: beat the default policy's "+e.Default.Kernel) || strings.Contains(desc, "float32 weights only") {
				t.Fatalf("Describe:\n%s", desc)
			}
			// The plan runs the winner and gives the widened W's result.
			checkChannelMajor(t, "record/"+dt.String(), p, lp.ToDense(), rng, tc.n, nil)

			for name, c := range map[string]struct {
				opts Options
				edit func(e *Entry)
				note string
			}{
				"another default": {Options{}, func(e *Entry) { e.Default.Kernel = "spmv_csr_i32_" + dt.String() + "_generic" }, "was timed against"},
				"unknown winner":  {Options{}, func(e *Entry) { e.Winner.Kernel = "no_such_kernel" }, "no such kernel family"},
				"float32 winner":  {Options{}, func(e *Entry) { e.Winner = Candidate{Kernel: "ref_csr_generic", Format: "csr"} }, "cannot be packed as csr"},
				"other dtype":     {Options{}, func(e *Entry) { e.Winner.Kernel = strings.Replace(e.Winner.Kernel, dt.String(), "f16", 1) }, "cannot be packed as"},
				"forced":          {Options{Kernel: e.Default.Kernel}, func(*Entry) {}, "a kernel family is forced"},
			} {
				e2 := e
				c.edit(&e2)
				rec := NewRecord()
				rec.Add(e2)
				o := c.opts
				o.Record = rec
				p, err := Compile(lp, o)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if fam, _ := p.KernelFor(tc.n); fam != must(def.KernelFor(tc.n)) {
					t.Fatalf("%s %s: runs %s, not the default's\n%s", dt, name, fam, p.Describe())
				}
				if !strings.Contains(p.Describe(), "note: tuning record") || !strings.Contains(p.Describe(), c.note) {
					t.Fatalf("%s %s: Describe does not say why:\n%s", dt, name, p.Describe())
				}
			}
			foreign := NewRecord()
			foreign.Machine.Model = "Imaginary CPU 9000"
			foreign.Add(e)
			var warned []string
			p, err = Compile(lp, Options{Record: foreign, Warn: func(s string) { warned = append(warned, s) }})
			if err != nil {
				t.Fatal(err)
			}
			if fam, _ := p.KernelFor(tc.n); fam == other.Kernel || len(warned) != 1 || !strings.Contains(warned[0], "Imaginary") {
				t.Fatalf("foreign record: runs %s, warnings %q", fam, warned)
			}
		}
	}
}
