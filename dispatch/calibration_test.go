package dispatch

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sparsegen/sparsegen/asm"
	"github.com/sparsegen/sparsegen/formats"
)

// testCalibration is a calibration for this machine whose table is tab.
func testCalibration(tab []policyEntry) *Calibration {
	return &Calibration{Machine: HostMachine(), Created: time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC), Set: "test", Seconds: 1.5, Measured: len(tab), entries: tab}
}

// withoutTestPolicy runs the test with no table forced by usePolicyTable, so that
// Options.Calibration decides.
func withoutTestPolicy(t *testing.T) {
	saved := testPolicy
	testPolicy = nil
	t.Cleanup(func() { testPolicy = saved })
}

// TestCalibrationRoundTrip: a calibration reads back as written, every entry and field.
func TestCalibrationRoundTrip(t *testing.T) {
	c := testCalibration(policyTable)
	got, err := ParseCalibration(c.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if got.Machine.KernelSet != c.Machine.KernelSet || !got.Created.Equal(c.Created) || got.Set != c.Set || got.Seconds != c.Seconds || got.Measured != c.Measured || got.Len() != c.Len() {
		t.Fatalf("header differs: %+v, wrote %+v", got, c)
	}
	want := newPolicy("", c.entries).table // written in the policy's order
	for i, e := range got.entries {
		w := want[i]
		if e.key() != w.key() || !close6(e.PerMAC, w.PerMAC) || !close6(e.PerOut, w.PerOut) || !close6(e.PerIn, w.PerIn) {
			t.Fatalf("entry %d: %+v, wrote %+v", i, e, w)
		}
	}
}

func close6(a, b float64) bool { return a == b || (a-b)/b < 1e-5 && (b-a)/b < 1e-5 }

// TestCalibrationDefects: a truncated, altered, foreign or old file is refused with an
// error wrapping ErrCalibrationIgnored, whatever byte it ends at.
func TestCalibrationDefects(t *testing.T) {
	good := testCalibration(policyTable[:40]).Marshal()
	for cut := 0; cut < len(good); cut++ {
		if _, err := ParseCalibration(good[:cut]); !errors.Is(err, ErrCalibrationIgnored) {
			t.Fatalf("truncated at %d of %d: %v", cut, len(good), err)
		}
	}
	flip := bytes.Clone(good)
	flip[len(flip)/2] ^= 1
	if _, err := ParseCalibration(flip); !errors.Is(err, ErrCalibrationIgnored) {
		t.Fatalf("altered byte: %v", err)
	}
	old := bytes.Replace(good, []byte(calibrationMagic+" 1\n"), []byte(calibrationMagic+" 0\n"), 1)
	if _, err := ParseCalibration(old); !errors.Is(err, ErrCalibrationIgnored) || !strings.Contains(err.Error(), "version") {
		t.Fatalf("old version: %v", err)
	}
	// A foreign machine parses, but LoadCalibration refuses it.
	c := testCalibration(policyTable[:40])
	c.Machine.Model = "another CPU"
	path := filepath.Join(t.TempDir(), "foreign.txt")
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCalibration(path); !errors.Is(err, ErrCalibrationIgnored) || !strings.Contains(err.Error(), "another machine") {
		t.Fatalf("foreign machine: %v", err)
	}
	c.Machine.Model, c.Machine.KernelSet = HostMachine().Model, "0000"
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCalibration(path); !errors.Is(err, ErrCalibrationIgnored) || !strings.Contains(err.Error(), "kernel set") {
		t.Fatalf("other kernel set: %v", err)
	}
	if _, err := LoadCalibration(t.TempDir()); err == nil {
		t.Fatal("a directory loaded as a calibration")
	}
}

// TestCalibrationSelects: Options.Calibration and $SPARSEGEN_CALIBRATION pick the table a
// plan is chosen with, Describe names it, and a file that cannot be used gives the shipped
// table and one warning, however many plans are compiled.
func TestCalibrationSelects(t *testing.T) {
	withoutTestPolicy(t)
	rng := rand.New(rand.NewPCG(71, 72))
	w, err := formats.CSRFromDense(randDense(rng, 300, 400, 0.05))
	if err != nil {
		t.Fatal(err)
	}
	// A calibration in which one candidate the shipped table does not choose at N = 8
	// costs a thousandth of every other.
	p0, err := Compile(w, Options{Calibration: "off"})
	if err != nil {
		t.Fatal(err)
	}
	defFam, defFmt := p0.KernelFor(8)
	cands, _, err := candidatesFor(w, runnableFamilies(), nRange{8, 8})
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(cands, func(c cand) bool { return c.fam.Name != defFam || c.tgt.String() != defFmt })
	if i < 0 {
		t.Fatalf("one candidate only at N = 8")
	}
	fav := cands[i].fam.Name + "@" + cands[i].tgt.String()
	var tab []policyEntry
	for _, pn := range policyPoints {
		cs, _, err := candidatesFor(w, runnableFamilies(), nRange{pn, pn})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			cost := 1.0
			if c.fam.Name+"@"+c.tgt.String() == fav {
				cost = 1e-3
			}
			tab = append(tab, policyEntry{Family: c.fam.Name, Target: c.tgt.String(), N: pn, PerMAC: cost})
		}
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "cal.txt")
	if err := testCalibration(tab).Save(path); err != nil {
		t.Fatal(err)
	}
	chose := func(opts Options) (string, string) {
		t.Helper()
		p, err := Compile(w, opts)
		if err != nil {
			t.Fatal(err)
		}
		f, tg := p.KernelFor(8)
		return f + "@" + tg, p.Describe()
	}
	got, desc := chose(Options{Calibration: path})
	if got != fav || !strings.Contains(desc, "policy: calibration "+path) {
		t.Fatalf("with the calibration: chose %s at N = 8, want %s; plan:\n%s", got, fav, desc)
	}
	if got, desc = chose(Options{Calibration: "off"}); got != defFam+"@"+defFmt || !strings.Contains(desc, "policy: "+shippedSource) {
		t.Fatalf("off: chose %s; plan says\n%s", got, desc)
	}
	t.Setenv(CalibrationEnv, path)
	if got, _ = chose(Options{}); got != fav {
		t.Fatalf("through $%s: chose %s, want %s", CalibrationEnv, got, fav)
	}
	t.Setenv(CalibrationEnv, "off")
	if _, desc = chose(Options{}); !strings.Contains(desc, "policy: "+shippedSource) {
		t.Fatalf("$%s=off: plan says\n%s", CalibrationEnv, desc)
	}

	// Unusable files: one warning each, the shipped table, never a failure.
	corrupt := filepath.Join(dir, "corrupt.txt")
	b := testCalibration(policyTable[:10]).Marshal()
	os.WriteFile(corrupt, b[:len(b)/2], 0o644)
	for _, bad := range []string{corrupt, filepath.Join(dir, "missing.txt")} {
		var warns []string
		for range 3 {
			_, desc := chose(Options{Calibration: bad, Warn: func(s string) { warns = append(warns, s) }})
			if !strings.Contains(desc, "policy: "+shippedSource) {
				t.Fatalf("%s: plan says\n%s", bad, desc)
			}
		}
		if len(warns) != 1 || !strings.Contains(warns[0], ErrCalibrationIgnored.Error()) {
			t.Fatalf("%s: warnings %q, want one", bad, warns)
		}
	}
}

// TestCalibrationConcurrentSaves: calibrations saved at once to one path leave one whole
// file (and no temporary files).
func TestCalibrationConcurrentSaves(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "cal.txt")
	var wg sync.WaitGroup
	for i := range 8 {
		c := testCalibration(policyTable[:100+i*50])
		wg.Go(func() {
			for range 10 {
				if err := c.Save(path); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if _, err := LoadCalibration(path); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("left %d files in the directory", len(ents))
	}
}

// TestCalibrateSmall runs the calibration itself on a small set: every runnable family
// measured gets entries, the shipped entries of the rest are kept (rescaled), and the
// file it makes is one Compile follows.
func TestCalibrateSmall(t *testing.T) {
	withoutTestPolicy(t)
	rng := rand.New(rand.NewPCG(81, 82))
	calibrationSet = func() []trainMatrix {
		return []trainMatrix{
			{name: "64x96 10%", d: randDense(rng, 64, 96, 0.1), maxN: 4},
			{name: "64x96 2:4", d: randNM(rng, 64, 96, 2, 4), maxN: 4, only: []string{"csr", "nm*"}},
		}
	}
	defer func() { calibrationSet = quickTrainingSet }()
	var progress []string
	cal, err := Calibrate(CalibrateOptions{Budget: 2 * time.Second, Progress: func(done, total int, name string, _ time.Duration) {
		progress = append(progress, fmt.Sprintf("%d/%d %s", done, total, name))
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(progress) != 2 || progress[1] != "2/2 64x96 2:4" {
		t.Fatalf("progress %q", progress)
	}
	if cal.Measured == 0 || cal.Len() < cal.Measured {
		t.Fatalf("measured %d of %d entries", cal.Measured, cal.Len())
	}
	// Every shipped entry of a family it timed is kept (measured or rescaled); a family it
	// did not time is priced by the shipped table, as without a calibration. (On arm64 the
	// shipped table has no entries, and the calibration holds what it measured only.)
	have := indexTable(cal.entries)
	pol := cal.policyFor("test")
	for _, e := range policyTable {
		f, ok := asm.Lookup(e.Family)
		if !ok || !Host().CanRun(f, Host().BestISA()) {
			continue
		}
		if _, ok := have[e.key()]; !ok && pol.families[e.Family] {
			t.Fatalf("shipped entry %+v of a family it timed is missing", e.key())
		}
		if !pol.families[e.Family] {
			tg, err := parseTarget(e.Target)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := pol.coefAt(f, tg, e.N), shippedPolicy.coefAt(f, tg, e.N); got != want {
				t.Fatalf("%s %s N=%d: %+v, the shipped table says %+v", e.Family, e.Target, e.N, got, want)
			}
		}
	}
	seen := map[entryKey]bool{}
	for _, e := range cal.entries {
		if seen[e.key()] {
			t.Fatalf("entry %+v twice", e.key())
		}
		seen[e.key()] = true
		if _, ok := asm.Lookup(e.Family); !ok || !(e.PerMAC > 0) || e.PerOut < 0 || e.PerIn < 0 {
			t.Fatalf("bad entry %+v", e)
		}
	}
	path := filepath.Join(t.TempDir(), "cal.txt")
	if err := cal.Save(path); err != nil {
		t.Fatal(err)
	}
	p, err := Compile(randDense(rng, 50, 70, 0.2), Options{Calibration: path})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(p.Describe(), "policy: calibration "+path+" (quick set") {
		t.Fatalf("plan says\n%s", p.Describe())
	}
}

// BenchmarkLoadCalibration: what reading this machine's calibration adds to the first
// Compile (a file of the size the quick calibration writes).
func BenchmarkLoadCalibration(b *testing.B) {
	// The shipped table's entries of the families a quick calibration times here, as
	// the file it writes holds.
	timed := map[string]bool{}
	for _, f := range withoutScalar(runnableFamilies()) {
		timed[f.Name] = true
	}
	var tab []policyEntry
	for _, e := range policyTable {
		if timed[e.Family] {
			tab = append(tab, e)
		}
	}
	b.Logf("%d entries", len(tab))
	path := filepath.Join(b.TempDir(), "cal.txt")
	if err := testCalibration(tab).Save(path); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		c, err := LoadCalibration(path)
		if err != nil {
			b.Fatal(err)
		}
		c.policyFor(path)
	}
}

// FuzzParseCalibration: arbitrary bytes never crash the reader; what it accepts holds only
// valid entries and reads back the same after writing.
func FuzzParseCalibration(f *testing.F) {
	f.Add(testCalibration(policyTable[:3]).Marshal())
	f.Add([]byte(calibrationMagic + " 1\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCalibration(b)
		if err != nil {
			if !errors.Is(err, ErrCalibrationIgnored) {
				t.Fatalf("error %v does not wrap ErrCalibrationIgnored", err)
			}
			return
		}
		for _, e := range c.entries {
			if !(e.PerMAC > 0) || e.PerOut < 0 || e.PerIn < 0 {
				t.Fatalf("accepted %+v", e)
			}
		}
		again, err := ParseCalibration(c.Marshal())
		if err != nil || again.Len() != c.Len() {
			t.Fatalf("re-read: %v", err)
		}
	})
}
