package dispatch

import (
	"math"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/sparsegen/sparsegen/asm"
	"github.com/sparsegen/sparsegen/formats"
)

// The dense GEMV families (asm/gemv.go): dispatch runs them on a dense W at small N where
// the coefficients in use say they are cheapest, and never beyond their MaxN.

// isGemv: name is a registered dense row-oriented (GEMV) family, by its descriptor.
func isGemv(name string) bool {
	f, ok := asm.Lookup(name)
	return ok && f.Format == "dense" && f.ExactN
}

// gemvTestWeights are a W that stays in cache and one of the large-W regime (≥ largeStored).
func gemvTestWeights() []*formats.Dense {
	rng := rand.New(rand.NewPCG(41, 42))
	return []*formats.Dense{randDense(rng, 200, 300, 1), randDense(rng, 1024, 1030, 1)}
}

// checkCheapestAtN1 compiles w under the policy in use and checks the N = 1 choice
// against that policy's own estimates (Candidates): the chosen kernel's estimate is the
// lowest, within shareSlack (a plan may reuse a kernel packed for another N range that
// close), and a GEMV family cheaper than every other candidate by more than that is the
// one chosen. It returns the chosen family.
func checkCheapestAtN1(t *testing.T, w *formats.Dense) string {
	t.Helper()
	p, err := Compile(w, Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	fam, format := p.KernelFor(1)
	cs, err := Candidates(w, 1, Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	est := map[string]float64{}
	for _, c := range cs {
		est[c.Kernel+"@"+c.Format] = c.MedianNs
	}
	best := cs[0]
	got, ok := est[fam+"@"+format]
	if !ok {
		t.Fatalf("%dx%d: N = 1 runs %s@%s, not a candidate", w.Rows, w.Cols, fam, format)
	}
	if got > shareSlack*best.MedianNs {
		t.Errorf("%dx%d: N = 1 runs %s@%s (est %.0f), the policy's cheapest is %s@%s (est %.0f)", w.Rows, w.Cols, fam, format, got, best.Kernel, best.Format, best.MedianNs)
	}
	if isGemv(best.Kernel) {
		strict := true
		for _, c := range cs[1:] {
			strict = strict && (isGemv(c.Kernel) || c.MedianNs > shareSlack*best.MedianNs)
		}
		if strict && !isGemv(fam) {
			t.Errorf("%dx%d: the policy's cheapest at N = 1 is %s (est %.0f), but %s runs", w.Rows, w.Cols, best.Kernel, best.MedianNs, fam)
		}
	}
	t.Logf("%dx%d dense, N = 1: runs %s@%s (est %.0f); cheapest %s@%s (est %.0f) of %d candidates", w.Rows, w.Cols, fam, format, got, best.Kernel, best.Format, best.MedianNs, len(cs))
	return fam
}

// gemvCheapTable is the shipped table with every GEMV family made cheapest: per policy
// point (all of them, beyond MaxN too), half the lowest dense PerMAC of the table. A dense
// family the table has no entry of at a point (all of them on arm64, whose shipped table
// is empty) gets that lowest PerMAC, so that it is priced, not borrowed from the GEMV's.
func gemvCheapTable() []policyEntry {
	tab := slices.DeleteFunc(slices.Clone(policyTable), func(e policyEntry) bool { return isGemv(e.Family) })
	for _, pn := range policyPoints {
		low := math.Inf(1)
		for _, e := range tab {
			if e.N == pn && formatOfTarget(e.Target) == "dense" {
				low = min(low, e.PerMAC)
			}
		}
		if math.IsInf(low, 1) {
			low = 0.01
		}
		for _, f := range asm.Families() {
			if f.Format == "dense" && !isGemv(f.Name) && !slices.ContainsFunc(tab, func(e policyEntry) bool {
				return e.Family == f.Name && e.N == pn && e.Target == "dense"
			}) {
				tab = append(tab, policyEntry{Family: f.Name, Target: "dense", N: pn, PerMAC: low})
			}
			if isGemv(f.Name) {
				tab = append(tab, policyEntry{Family: f.Name, Target: "dense", N: pn, PerMAC: low / 2})
				if pn <= largeMaxN {
					tab = append(tab, policyEntry{Family: f.Name, Target: "dense", N: pn, PerMAC: low / 2, Large: true})
				}
			}
		}
	}
	return tab
}

// TestGemvChosenWhereCheapest: at N = 1 a dense W runs the kernel the coefficients in use
// estimate cheapest, under the shipped table (or this machine's calibration) and under a
// table where a GEMV family is: then a GEMV family of this CPU runs.
func TestGemvChosenWhereCheapest(t *testing.T) {
	if !slices.ContainsFunc(asm.Families(), func(f asm.Family) bool { return isGemv(f.Name) }) {
		t.Fatal("no GEMV family registered")
	}
	for _, w := range gemvTestWeights() {
		checkCheapestAtN1(t, w)
	}
	defer usePolicyTable(gemvCheapTable())()
	for _, w := range gemvTestWeights() {
		if fam := checkCheapestAtN1(t, w); !isGemv(fam) {
			t.Errorf("%dx%d: a table with GEMV cheapest runs %s at N = 1", w.Rows, w.Cols, fam)
		}
	}
}

// TestGemvNotBeyondMaxN: however cheap the table says a GEMV family is, at every N, it runs
// only for N up to its MaxN (and is no candidate beyond).
func TestGemvNotBeyondMaxN(t *testing.T) {
	defer usePolicyTable(gemvCheapTable())()
	w := gemvTestWeights()[0]
	p, err := Compile(w, Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(43, 44))
	gemvMax := 0 // the widest N range of a GEMV family this CPU runs
	for _, f := range runnableFamilies() {
		if isGemv(f.Name) {
			gemvMax = max(gemvMax, f.MaxN)
		}
	}
	for n := 1; n <= 40; n++ {
		fam, _ := p.KernelFor(n)
		f, ok := asm.Lookup(fam)
		if !ok {
			t.Fatalf("N = %d runs %s, not registered", n, fam)
		}
		gemv := isGemv(fam)
		if gemv && n > f.MaxN {
			t.Errorf("N = %d runs %s (MaxN %d)", n, fam, f.MaxN)
		}
		if !gemv && n <= gemvMax {

			t.Errorf("N = %d runs %s where the table makes GEMV cheapest", n, fam)
		}
		cs, err := Candidates(w, n, Options{Threads: 1})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			if g, _ := asm.Lookup(c.Kernel); isGemv(c.Kernel) && n > g.MaxN {
				t.Errorf("N = %d: %s (MaxN %d) is a candidate", n, c.Kernel, g.MaxN)
			}
		}
		if n == 4 || n == 5 || n == 16 || n == 17 {
			// And the plan computes what the reference does on both sides of the edge.
			x := randX(rng, w.Cols*n)
			got := make([]float32, w.Rows*n)
			if err := p.Mul(got, n, x, n, n); err != nil {
				t.Fatal(err)
			}
			checkDenseProduct(t, w, x, got, n)
		}
	}
}

// checkDenseProduct compares y (M×n) with W·X in float64, within a float32 dot product's
// error.
func checkDenseProduct(t *testing.T, w *formats.Dense, x, y []float32, n int) {
	t.Helper()
	for i := 0; i < w.Rows; i++ {
		for j := 0; j < n; j++ {
			var s, a float64
			for k := 0; k < w.Cols; k++ {
				v := float64(w.Data[i*w.Stride+k]) * float64(x[k*n+j])
				s += v
				a += math.Abs(v)
			}
			if d := math.Abs(float64(y[i*n+j]) - s); d > 1e-5*a+1e-6 {
				t.Fatalf("N = %d: y[%d,%d] = %g, want %g", n, i, j, y[i*n+j], s)
			}
		}
	}
}

// TestTableMerge: -update-families keeps the other families' entries and the header's
// paragraphs (rewrapped), replacing the matching family's entries.
func TestTableMerge(t *testing.T) {
	header := []string{"Measured somewhere " + strings.Repeat("long words ", 30) + "end.", "Re-timed later."}
	src := renderTable(header, policyTable)
	got, err := tableHeader(src)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, header) {
		t.Fatalf("header read back as %q, want %q", got, header)
	}
	for _, line := range strings.Split(string(src), "\n") {
		if strings.HasPrefix(line, "// ") && !strings.HasPrefix(line, "//\t") && len(line) > 103 && strings.Contains(line, "long words") {
			t.Fatalf("header line not wrapped: %q", line)
		}
	}
	re := regexp.MustCompile(`^gemv_`)
	measured := []policyEntry{{Family: "gemv_dense_x", Target: "dense", N: 1, PerMAC: 0.01}, {Family: "gemv_dense_x", Target: "dense", N: 1, PerMAC: 0.02, Large: true}}
	old := append(slices.Clone(policyTable), policyEntry{Family: "gemv_dense_y", Target: "dense", N: 2, PerMAC: 1})
	merged := mergeEntries(old, measured, re)
	if len(merged) != len(old)-1-countMatching(policyTable, re)+len(measured) {
		t.Fatalf("merged %d entries from %d old and %d measured", len(merged), len(old), len(measured))
	}
	for _, e := range merged {
		if re.MatchString(e.Family) && e.Family != "gemv_dense_x" {
			t.Fatalf("old entry kept: %+v", e)
		}
	}
	if !slices.IsSortedFunc(merged, func(a, b policyEntry) int {
		if a.key().less(b.key()) {
			return -1
		}
		if b.key().less(a.key()) {
			return 1
		}
		return 0
	}) {
		t.Fatal("merged table not sorted")
	}
}

func countMatching(tab []policyEntry, re *regexp.Regexp) int {
	n := 0
	for _, e := range tab {
		if re.MatchString(e.Family) {
			n++
		}
	}
	return n
}
