package dispatch

import (
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRecordRoundTripAndLookup(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	d := randDense(rng, 96, 80, 0.1)
	key, err := KeyOf(d, 128)
	if err != nil {
		t.Fatal(err)
	}
	if key.NBucket != "17+" || key.Pattern != "unstructured" || key.DensityPct != 10 {
		t.Fatalf("key %+v", key)
	}
	// A record that says the dense reference wins for this layer at large N, even though
	// the policy would pick a sparse kernel at 10% density.
	rec := NewRecord()
	rec.Add(Entry{Key: key, Winner: Candidate{Kernel: "ref_dense_generic", Format: "dense", MedianNs: 1000},
		RunnersUp: []Candidate{{Kernel: "ref_csr_generic", Format: "csr", MedianNs: 2000}}})
	path := filepath.Join(t.TempDir(), "tune.json")
	if err := rec.Save(path); err != nil {
		t.Fatal(err)
	}
	got, err := LoadRecord(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Entries) != 1 || got.Entries[0].Winner.Kernel != "ref_dense_generic" || got.Machine.KernelSet != KernelSetHash() {
		t.Fatalf("loaded %+v", got)
	}
	// Nearby density buckets match, far ones do not.
	k2 := key
	k2.DensityPct = 11
	if got.Lookup(k2) == nil {
		t.Fatal("density 11% did not find the 10% entry")
	}
	k2.DensityPct = 20
	if got.Lookup(k2) != nil {
		t.Fatal("density 20% found the 10% entry")
	}
	p, err := Compile(d, Options{Record: got})
	if err != nil {
		t.Fatal(err)
	}
	if fam, f := p.KernelFor(128); fam != "ref_dense_generic" || f != "dense" {
		t.Fatalf("record not honoured: %s %s\n%s", fam, f, p.Describe())
	}
	if !strings.Contains(p.Describe(), "tuning record") {
		t.Fatalf("Describe does not cite the record:\n%s", p.Describe())
	}
	// A winner that does not exist falls to the runner-up.
	got.Entries[0].Winner.Kernel = "no_such_kernel"
	p, _ = Compile(d, Options{Record: got})
	if fam, _ := p.KernelFor(128); fam != "ref_csr_generic" {
		t.Fatalf("runner-up not used: %s", fam)
	}
	// No temporary files left behind.
	ents, _ := os.ReadDir(filepath.Dir(path))
	if len(ents) != 1 {
		t.Fatalf("directory holds %d files", len(ents))
	}
}

func TestRecordIgnored(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"corrupt":   `{"version": 1, "entries": [`,
		"old":       `{"version": 0, "entries": []}`,
		"future":    `{"version": 99, "entries": []}`,
		"malformed": `{"version": 1, "entries": [{"m": 1, "k": 1, "winner": {"kernel": ""}}]}`,
	} {
		path := filepath.Join(dir, name+".json")
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
	rec := NewRecord()
	rec.Machine.Model = "Imaginary CPU 9000"
	key, _ := KeyOf(d, 1)
	rec.Add(Entry{Key: key, Winner: Candidate{Kernel: "ref_dense_generic", Format: "dense", MedianNs: 1}})
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
