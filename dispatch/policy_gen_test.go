package dispatch

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"go/format"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sparsegen/sparsegen/asm"
	"github.com/sparsegen/sparsegen/formats"
	"github.com/sparsegen/sparsegen/internal/timing"
)

var (
	updatePolicy   = flag.Bool("update", false, "TestPolicyTable: time every kernel family here and rewrite policy_table.go")
	validatePolicy = flag.Bool("validate", false, "TestPolicyValidation: time every candidate on the held-out set and report the policy's choices")
)

// kernelCall is one bare call of kern on all units at n columns (X a fixed pattern).
func kernelCall(kern asm.Kernel, n int) func() error {
	m, k := kern.Shape()
	x := make([]float32, max(k*n, 1))
	for i := range x {
		x[i] = float32(i%7) - 3
	}
	y := make([]float32, max(m*n, 1))
	return func() error { return kern.Run(0, kern.Units(), x, n, y, n, n, nil) }
}

// timeKernel returns the fastest of several bare kernel calls on all units at n columns
// (the minimum: this machine is shared, and interference only ever adds time).
func timeKernel(kern asm.Kernel, n int) float64 {
	call := kernelCall(kern, n)
	run := func() time.Duration {
		t0 := time.Now()
		if err := call(); err != nil {
			panic(err)
		}
		return time.Since(t0)
	}
	first := run()
	reps := int(min(15, max(5, 20*time.Millisecond/max(first, 1))))
	ts := make([]float64, reps)
	for i := range ts {
		ts[i] = float64(run())
	}
	return slices.Min(ts)
}

type sample struct {
	stored  int64
	m, k    int
	ne      int // effective columns (effN)
	ns      float64
	matrix  string
	density float64
}

// fitCoef fits t ≈ (a·stored + b·m + c·k)·ne minimising the relative error, with a > 0 and
// b, c ≥ 0: least squares on every subset of {b, c} (a always in), keeping the best
// feasible fit. With fewer than 4 samples only a is fitted.
func fitCoef(ss []sample) (a, b, c float64) {
	feats := func(s sample) [3]float64 {
		ne := float64(s.ne) / s.ns
		return [3]float64{float64(s.stored) * ne, float64(s.m) * ne, float64(s.k) * ne}
	}
	bestErr := math.Inf(1)
	for mask := 0; mask < 4; mask++ {
		if len(ss) < 4 && mask != 0 {
			continue
		}
		idx := []int{0}
		for j := 1; j <= 2; j++ {
			if mask&(1<<(j-1)) != 0 {
				idx = append(idx, j)
			}
		}
		// Normal equations G·x = r for the chosen features (target 1 per sample).
		d := len(idx)
		g := make([][]float64, d)
		r := make([]float64, d)
		for i := range g {
			g[i] = make([]float64, d)
		}
		for _, s := range ss {
			f := feats(s)
			for i, fi := range idx {
				r[i] += f[fi]
				for j, fj := range idx {
					g[i][j] += f[fi] * f[fj]
				}
			}
		}
		x, ok := solve(g, r)
		if !ok {
			continue
		}
		var co [3]float64
		feasible := x[0] > 0
		for i, fi := range idx {
			co[fi] = x[i]
			feasible = feasible && x[i] >= 0
		}
		if !feasible {
			continue
		}
		var e float64
		for _, s := range ss {
			f := feats(s)
			p := co[0]*f[0] + co[1]*f[1] + co[2]*f[2] - 1
			e += p * p
		}
		if e < bestErr {
			bestErr, a, b, c = e, co[0], co[1], co[2]
		}
	}
	return a, b, c
}

// solve solves the small symmetric system g·x = r by Gaussian elimination; ok is false
// when g is (nearly) singular.
func solve(g [][]float64, r []float64) ([]float64, bool) {
	d := len(r)
	m := make([][]float64, d)
	for i := range m {
		m[i] = append(append([]float64(nil), g[i]...), r[i])
	}
	for col := 0; col < d; col++ {
		piv := col
		for i := col + 1; i < d; i++ {
			if math.Abs(m[i][col]) > math.Abs(m[piv][col]) {
				piv = i
			}
		}
		if math.Abs(m[piv][col]) <= 1e-12*math.Abs(g[col][col]) || m[piv][col] == 0 {
			return nil, false
		}
		m[col], m[piv] = m[piv], m[col]
		for i := 0; i < d; i++ {
			if i != col {
				f := m[i][col] / m[col][col]
				for j := col; j <= d; j++ {
					m[i][j] -= f * m[col][j]
				}
			}
		}
	}
	x := make([]float64, d)
	for i := range x {
		x[i] = m[i][d] / m[i][i]
	}
	return x, true
}

type trainMatrix struct {
	name  string
	d     *formats.Dense
	maxN  int  // time only policy points up to this (0: all)
	large bool // fits the large-W regime's coefficients (policyEntry.Large)
}

func trainingSet() []trainMatrix {
	rng := rand.New(rand.NewPCG(101, 102))
	var out []trainMatrix
	// Three shapes so that M and K vary apart (the per-row and per-input terms).
	for _, sh := range [][2]int{{256, 256}, {512, 128}, {96, 1024}} {
		for _, den := range []float64{0.03, 0.08, 0.15, 0.3, 0.5, 1} {
			out = append(out, trainMatrix{fmt.Sprintf("%dx%d unstructured %.0f%%", sh[0], sh[1], 100*den), randDense(rng, sh[0], sh[1], den), 0, false})
		}
		for _, b := range candidateBlocks() {
			out = append(out, trainMatrix{fmt.Sprintf("%dx%d blocks %dx%d 25%%", sh[0], sh[1], b[0], b[1]), randBlocky(rng, sh[0], sh[1], b[0], b[1], 0.25), 0, false})
		}
		for _, p := range [][2]int{{2, 4}, {1, 4}} {
			out = append(out, trainMatrix{fmt.Sprintf("%dx%d %d:%d", sh[0], sh[1], p[0], p[1]), randNM(rng, sh[0], sh[1], p[0], p[1]), 0, false})
		}
	}
	// A layer too big for L2, at small N only: there a kernel streams W and its bytes per
	// stored value decide (DESIGN §5); the small shapes above are compute-bound.
	const bm, bk, bn = 2048, 1024, 4
	for _, den := range []float64{0.05, 0.1, 0.3, 0.5} {
		out = append(out, trainMatrix{fmt.Sprintf("%dx%d unstructured %.0f%%", bm, bk, 100*den), randDense(rng, bm, bk, den), bn, false})
	}
	for _, b := range candidateBlocks() {
		out = append(out, trainMatrix{fmt.Sprintf("%dx%d blocks %dx%d 25%%", bm, bk, b[0], b[1]), randBlocky(rng, bm, bk, b[0], b[1], 0.25), bn, false})
	}
	for _, p := range [][2]int{{2, 4}, {1, 4}, {2, 8}} {
		out = append(out, trainMatrix{fmt.Sprintf("%dx%d %d:%d", bm, bk, p[0], p[1]), randNM(rng, bm, bk, p[0], p[1]), bn, false})
	}
	// The large-W regime (policyEntry.Large): a 4096×4096 layer, 8× this CPU's L3 share
	// when dense, at N ≤ largeMaxN.
	const lm, lk = 4096, 4096
	for _, den := range []float64{0.05, 0.1, 0.3, 0.6} {
		out = append(out, trainMatrix{fmt.Sprintf("%dx%d unstructured %.0f%%", lm, lk, 100*den), randDense(rng, lm, lk, den), largeMaxN, true})
	}
	for _, b := range [][2]int{{4, 1}, {4, 4}} {
		out = append(out, trainMatrix{fmt.Sprintf("%dx%d blocks %dx%d 25%%", lm, lk, b[0], b[1]), randBlocky(rng, lm, lk, b[0], b[1], 0.25), largeMaxN, true})
	}
	for _, p := range [][2]int{{2, 4}, {1, 4}, {2, 8}} {
		out = append(out, trainMatrix{fmt.Sprintf("%dx%d %d:%d", lm, lk, p[0], p[1]), randNM(rng, lm, lk, p[0], p[1]), largeMaxN, true})
	}
	return out
}

// candidatesFor lists (family, target) pairs the dispatcher could choose for w for N in r.
func candidatesFor(w formats.Matrix, fams []asm.Family, r nRange) ([]cand, *Measure, error) {
	ms, err := measure(w, candidateBlocks())
	if err != nil {
		return nil, nil, err
	}
	targets, err := targetsFor(w, ms, fams, "")
	if err != nil {
		return nil, nil, err
	}
	var out []cand
	for _, f := range fams {
		if !coversRange(f, r) {
			continue
		}
		for _, t := range targets {
			if familyTakes(f, t) {
				out = append(out, cand{fam: f, tgt: t})
			}
		}
	}
	return out, ms, nil
}

func runnableFamilies() []asm.Family {
	var fams []asm.Family
	for _, f := range asm.Families() {
		if Host().CanRun(f, Host().BestISA()) {
			fams = append(fams, f)
		}
	}
	return fams
}

// TestPolicyTable checks the checked-in table; with -update it times every family this
// CPU runs on the training set (one thread, bare kernel calls) and rewrites
// policy_table.go. Run it alone on a quiet machine:
//
//	flock /tmp/sparsegen-cpu.lock go test -run TestPolicyTable -update ./dispatch
func TestPolicyTable(t *testing.T) {
	if !*updatePolicy {
		for _, e := range policyTable {
			if _, err := parseTarget(e.Target); err != nil || !(e.PerMAC > 0) || e.PerOut < 0 || e.PerIn < 0 || !slices.Contains(policyPoints, e.N) {
				t.Errorf("bad table entry %+v", e)
			}
			if _, ok := asm.Lookup(e.Family); !ok {
				t.Logf("table entry for %s: family no longer registered (entry unused)", e.Family)
			}
		}
		return
	}
	fams := runnableFamilies()
	groups := map[string][]sample{}
	var keys []string
	for _, tm := range trainingSet() {
		for _, n := range policyPoints {
			if tm.maxN > 0 && n > tm.maxN {
				continue
			}
			cands, ms, err := candidatesFor(tm.d, fams, nRange{n, n})
			if err != nil {
				t.Fatal(err)
			}
			packed := map[string]asm.Kernel{}
			for _, c := range cands {
				id := c.fam.Name + "|" + c.tgt.String() + "|" + fmt.Sprint(n)
				if tm.large {
					id += "|large"
				}
				kern, ok := packed[c.fam.Name+c.tgt.String()]
				if !ok {
					cw, err := convert(tm.d, c.tgt)
					if err != nil {
						t.Fatal(err)
					}
					kern, err = c.fam.Pack(cw)
					if errors.Is(err, asm.ErrNotApplicable) {
						continue
					}
					if err != nil {
						t.Fatal(err)
					}
					packed[c.fam.Name+c.tgt.String()] = kern
				}
				ns := timeKernel(kern, n)
				if _, seen := groups[id]; !seen {
					keys = append(keys, id)
				}
				groups[id] = append(groups[id], sample{c.tgt.stored, ms.M, ms.K, effN(c.fam, n), ns, tm.name, ms.Density})
			}
		}
		t.Logf("timed %s", tm.name)
	}
	sort.Strings(keys)
	var entries []policyEntry
	for _, id := range keys {
		parts := strings.Split(id, "|")
		var b int
		fmt.Sscan(parts[2], &b)
		a, o, in := fitCoef(groups[id])
		entries = append(entries, policyEntry{Family: parts[0], Target: parts[1], N: b, PerMAC: a, PerOut: o, PerIn: in, Large: len(parts) > 3})
	}
	src := renderTable(entries)
	if err := os.WriteFile("policy_table.go", src, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote policy_table.go with %d entries", len(entries))
}

func renderTable(entries []policyEntry) []byte {
	var buf bytes.Buffer
	h := Host()
	fmt.Fprintf(&buf, "// Code generated by TestPolicyTable -update; DO NOT EDIT.\n\n")
	fmt.Fprintf(&buf, "package dispatch\n\n")
	fmt.Fprintf(&buf, "// The default policy's cost coefficients (see policy.go), measured on %s %q with\n", h.GOARCH, h.Model)
	fmt.Fprintf(&buf, "// features %v, %s, one thread, bare kernel calls, on the training set of\n", h.Features, runtime.Version())
	fmt.Fprintf(&buf, "// policy_gen_test.go. Kernel families then registered: %s.\n//\n", familyNames())
	fmt.Fprintf(&buf, "// Thresholds that follow (PerOut and PerIn ignored), per ISA and policy point N: dense wins over CSR above\n")
	fmt.Fprintf(&buf, "// density D; BSR R×C wins over CSR when its fill (nnz/slots) exceeds F; N:M wins over CSR\n")
	fmt.Fprintf(&buf, "// when nnz/slots exceeds F (a conforming matrix with every slot used has 1).\n//\n")
	for _, line := range thresholds(entries) {
		fmt.Fprintf(&buf, "//\t%s\n", line)
	}
	fmt.Fprintf(&buf, "var policyTable = []policyEntry{\n")
	for _, e := range entries {
		large := ""
		if e.Large {
			large = ", Large: true"
		}
		fmt.Fprintf(&buf, "\t{Family: %q, Target: %q, N: %d, PerMAC: %.4g, PerOut: %.4g, PerIn: %.4g%s},\n", e.Family, e.Target, e.N, e.PerMAC, e.PerOut, e.PerIn, large)
	}
	fmt.Fprintf(&buf, "}\n")
	src, err := format.Source(buf.Bytes())
	if err != nil {
		panic(err)
	}
	return src
}

// thresholds derives the documented thresholds from table entries: per ISA (families of
// that ISA or narrower) and bucket, the best coefficient per target.
func thresholds(entries []policyEntry) []string {
	var lines []string
	for _, isa := range []asm.ISA{asm.Generic, asm.AVX2, asm.AVX512, asm.NEON} {
		for _, pn := range policyPoints {
			best := map[string]float64{}
			for _, e := range entries {
				f, ok := asm.Lookup(e.Family)
				if !ok || e.N != pn || e.Large || isaRank(f.ISA, Host().GOARCH) < 0 || isaRank(f.ISA, Host().GOARCH) > isaRank(isa, Host().GOARCH) {
					continue
				}
				if v, ok := best[e.Target]; !ok || e.PerMAC < v {
					best[e.Target] = e.PerMAC
				}
			}
			csr, ok := best["csr"]
			if !ok || (isa != asm.Generic && isaRank(isa, Host().GOARCH) < 0) {
				continue
			}
			line := fmt.Sprintf("%-7s N = %-4d", isa, pn)
			if d, ok := best["dense"]; ok {
				line += fmt.Sprintf(" dense D = %.0f%%;", 100*min(d/csr, 9.99))
			}
			var ts []string
			for tg := range best {
				if tg != "csr" && tg != "dense" {
					ts = append(ts, tg)
				}
			}
			sort.Strings(ts)
			for _, tg := range ts {
				line += fmt.Sprintf(" %s F = %.2f;", tg, best[tg]/csr)
			}
			lines = append(lines, strings.TrimSuffix(line, ";"))
		}
	}
	return lines
}

// TestPolicyValidation times every candidate on shapes and sparsities not in the training
// set and compares the default policy's choice with the fastest (goal: within 20%). Without
// -validate it runs one small case to keep the harness working; timings are reported,
// never asserted.
func TestPolicyValidation(t *testing.T) {
	rng := rand.New(rand.NewPCG(201, 202))
	type held struct {
		name string
		d    *formats.Dense
	}
	var set []held
	if *validatePolicy {
		for _, sh := range [][2]int{{384, 320}, {200, 600}} {
			for _, den := range []float64{0.05, 0.2, 0.4, 0.8} {
				set = append(set, held{fmt.Sprintf("%dx%d %.0f%%", sh[0], sh[1], 100*den), randDense(rng, sh[0], sh[1], den)})
			}
			set = append(set, held{fmt.Sprintf("%dx%d blocks 4x1 40%%", sh[0], sh[1]), randBlocky(rng, sh[0], sh[1], 4, 1, 0.4)})
			set = append(set, held{fmt.Sprintf("%dx%d blocks 8x1 10%%", sh[0], sh[1]), randBlocky(rng, sh[0], sh[1], 8, 1, 0.1)})
			set = append(set, held{fmt.Sprintf("%dx%d 2:8", sh[0], sh[1]), randNM(rng, sh[0], sh[1], 2, 8)})
			set = append(set, held{fmt.Sprintf("%dx%d 2:4", sh[0], sh[1]), randNM(rng, sh[0], sh[1], 2, 4)})
		}
	} else {
		set = []held{{"40x48 10%", randDense(rng, 40, 48, 0.1)}}
	}
	fams := runnableFamilies()
	worst, within := 0.0, 0
	total := 0
	// N on the policy grid (6, 24, 96 are points) and off it.
	valNs := []int{1, 5, 6, 20, 24, 40, 80, 96}
	if !*validatePolicy {
		valNs = []int{1, 6, 24, 96}
	}
	withinN := map[int]int{}
	for _, h := range set {
		p, err := Compile(h.d, Options{Threads: 1})
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range valNs {
			cands, _, err := candidatesFor(h.d, fams, nRange{n, n})
			if err != nil {
				t.Fatal(err)
			}
			chosen := p.choiceFor(n).id()
			best, bestID, chosenNs := math.Inf(1), "", math.NaN()
			var bestKern, chosenKern asm.Kernel
			for _, c := range cands {
				cw, err := convert(h.d, c.tgt)
				if err != nil {
					t.Fatal(err)
				}
				kern, err := c.fam.Pack(cw)
				if err != nil {
					continue
				}
				ns := timeKernel(kern, n)
				if ns < best {
					best, bestID, bestKern = ns, c.fam.Name+"@"+c.tgt.String(), kern
				}
				if c.fam.Name+"@"+c.tgt.String() == chosen {
					chosenNs, chosenKern = ns, kern
				}
			}
			if math.IsNaN(chosenNs) {
				t.Fatalf("%s n=%d: chosen %s is not among the candidates", h.name, n, chosen)
			}
			r := chosenNs / best
			note := ""
			if bestID != chosen && *validatePolicy {
				// The screen times candidates one after the other (minimum of a few calls, on
				// a shared machine); the verdict re-times chosen and best interleaved (medians).
				st, err := timing.TimeInterleaved(timing.Protocol{Samples: 15, MinSample: 2 * time.Millisecond, Budget: 2 * time.Second},
					kernelCall(chosenKern, n), kernelCall(bestKern, n))
				if err != nil {
					t.Fatal(err)
				}
				note = fmt.Sprintf(" (screen %.2f)", r)
				chosenNs, best = st[0].MedianNs, st[1].MedianNs
				r = chosenNs / best
			}
			total++
			if r <= 1.2 {
				within++
				withinN[n]++
			}
			worst = max(worst, r)
			t.Logf("%-26s N=%-3d chosen %-32s %9s  best %-32s %9s  ratio %.2f%s", h.name, n, chosen, fmtNs(chosenNs), bestID, fmtNs(best), r, note)
		}
	}
	for _, n := range valNs {
		t.Logf("N = %d: %d/%d within 20%%", n, withinN[n], len(set))
	}
	t.Logf("policy validation: %d/%d cases within 20%% of the best; worst ratio %.2f", within, total, worst)
}

// TestFitCoef: samples drawn from known coefficients are fitted back; a negative term is
// dropped rather than fitted below zero.
func TestFitCoef(t *testing.T) {
	var ss []sample
	for _, sh := range [][3]int{{100, 200, 3000}, {400, 50, 9000}, {64, 1000, 5000}, {300, 300, 40000}, {50, 80, 700}} {
		for _, ne := range []int{16, 32} {
			ns := (0.05*float64(sh[2]) + 2*float64(sh[0]) + 0.5*float64(sh[1])) * float64(ne)
			ss = append(ss, sample{stored: int64(sh[2]), m: sh[0], k: sh[1], ne: ne, ns: ns})
		}
	}
	a, b, c := fitCoef(ss)
	if math.Abs(a-0.05) > 1e-6 || math.Abs(b-2) > 1e-4 || math.Abs(c-0.5) > 1e-4 {
		t.Fatalf("fit (%g, %g, %g), want (0.05, 2, 0.5)", a, b, c)
	}
	for i := range ss { // a term that would need a negative coefficient
		ss[i].ns = (0.05*float64(ss[i].stored) - 0.3*float64(ss[i].k) + 100) * float64(ss[i].ne)
	}
	a, b, c = fitCoef(ss)
	if !(a > 0) || b < 0 || c < 0 {
		t.Fatalf("fit (%g, %g, %g) has a negative or zero term", a, b, c)
	}
}
