package dispatch

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/sparsegen/sparsegen/asm"
	"github.com/sparsegen/sparsegen/formats"
)

// Calibration measures the default policy's coefficients on this machine: every kernel
// family this CPU runs, timed (one thread, bare kernel calls) on a training set of
// synthetic weights at every policy point, and fitted to the cost model of policy.go.
// TestPolicyTable -update runs it on the full set and writes the shipped table;
// `sparsegen calibrate` runs it on a smaller set within a time budget and writes a
// calibration file (calibration.go) that Compile then follows on this machine.

// CalibrateOptions controls Calibrate.
type CalibrateOptions struct {
	// Budget bounds the timing (0: DefaultCalibrateBudget): each kernel call is timed
	// fewer times as the budget runs down, never fewer than 3.
	Budget time.Duration
	// Full uses the full training set of the shipped table (minutes, not seconds).
	Full bool
	// Progress, if set, is called after each training matrix.
	Progress func(done, total int, matrix string, elapsed time.Duration)
	// Families, if set, limits the timing to the families whose names it matches. A Full
	// calibration then holds their entries only (TestPolicyTable -update-families merges
	// them into the shipped table); a quick one keeps the shipped coefficients of the
	// other families as they are.
	Families *regexp.Regexp
}

// DefaultCalibrateBudget is sized for the quick set on a 2-core machine, with room for
// packing and fitting inside a minute.
const DefaultCalibrateBudget = 40 * time.Second

// Calibrate measures this machine's policy coefficients (see CalibrateOptions). Families
// the training set gives no sample for keep the shipped coefficients, scaled by how this
// machine's measurements of the same family compare with the shipped ones.
func Calibrate(opts CalibrateOptions) (*Calibration, error) {
	start := time.Now()
	budget := opts.Budget
	if budget <= 0 {
		budget = DefaultCalibrateBudget
	}
	set, setName := calibrationSet(), "quick"
	if opts.Full {
		set, setName = trainingSet(), "full"
	}
	fams := runnableFamilies()
	if !opts.Full {
		// The quick set keeps the shipped coefficients of the scalar kernels (see withoutScalar).
		fams = withoutScalar(fams)
	}
	if opts.Families != nil {
		fams = slices.DeleteFunc(slices.Clone(fams), func(f asm.Family) bool { return !opts.Families.MatchString(f.Name) })
		if len(fams) == 0 {
			return nil, fmt.Errorf("calibrate: no family this CPU runs matches %q", opts.Families)
		}
	}
	// The jobs first, so that the budget can be shared out: one per (matrix, point,
	// candidate).
	type job struct {
		c  cand
		n  int
		ms *Measure
	}
	jobs := make([][]job, len(set))
	total := 0
	for i, tm := range set {
		for _, n := range policyPoints {
			if tm.maxN > 0 && n > tm.maxN {
				continue
			}
			cands, ms, err := candidatesFor(tm.d, fams, nRange{n, n})
			if err != nil {
				return nil, fmt.Errorf("calibrate: %s: %w", tm.name, err)
			}
			for _, c := range cands {
				if tm.takes(c.tgt) {
					jobs[i] = append(jobs[i], job{c, n, ms})
				}
			}
		}
		total += len(jobs[i])
	}
	groups := map[string][]sample{}
	var keys []string
	done := 0
	for i, tm := range set {
		conv, err := newConversions(tm.d)
		if err != nil {
			return nil, fmt.Errorf("calibrate: %s: %w", tm.name, err)
		}
		packed := map[string]asm.Kernel{}
		for _, jb := range jobs[i] {
			c, n := jb.c, jb.n
			pk := c.fam.Name + "|" + c.tgt.String()
			kern, ok := packed[pk]
			if !ok {
				cw, err := conv.as(c.tgt)
				if err != nil {
					return nil, fmt.Errorf("calibrate: %s as %s: %w", tm.name, c.tgt, err)
				}
				kern, err = c.fam.Pack(cw)
				if errors.Is(err, asm.ErrNotApplicable) {
					packed[pk] = nil
					continue
				}
				if err != nil {
					return nil, fmt.Errorf("calibrate: %s: packing %s for %s: %w", tm.name, c.tgt, c.fam.Name, err)
				}
				packed[pk] = kern
			}
			done++
			if kern == nil {
				continue
			}
			// What is left of the budget, shared by the calls left to time.
			share := (budget - time.Since(start)) / time.Duration(max(total-done+1, 1))
			ns, err := timeKernel(kern, n, share)
			if err != nil {
				return nil, fmt.Errorf("calibrate: %s: %s at N=%d: %w", tm.name, c.fam.Name, n, err)
			}
			id := c.fam.Name + "|" + c.tgt.String() + "|" + fmt.Sprint(n)
			if tm.large {
				id += "|large"
			}
			if _, seen := groups[id]; !seen {
				keys = append(keys, id)
			}
			groups[id] = append(groups[id], sample{c.tgt.stored, jb.ms.Rows, jb.ms.Cols, effN(c.fam, n), ns, tm.name, jb.ms.Density})
		}
		if opts.Progress != nil {
			opts.Progress(i+1, len(set), tm.name, time.Since(start))
		}
	}
	sort.Strings(keys)
	var measured []policyEntry
	for _, id := range keys {
		parts := strings.Split(id, "|")
		var b int
		fmt.Sscan(parts[2], &b)
		a, o, in := fitCoef(groups[id])
		measured = append(measured, policyEntry{Family: parts[0], Target: parts[1], N: b, PerMAC: a, PerOut: o, PerIn: in, Large: len(parts) > 3})
	}
	cal := &Calibration{
		Machine: HostMachine(), Created: time.Now().UTC().Truncate(time.Second), Set: setName,
		Measured: len(measured),
	}
	if opts.Full {
		cal.entries = measured
	} else {
		// Families not timed (the scalar kernels, a Families filter) keep the shipped
		// table whole: a calibrated policy falls back on it for them.
		cal.entries = completeTable(measured, policyTable)
	}
	cal.Seconds = time.Since(start).Seconds()
	return cal, nil
}

// completeTable returns measured plus, for each entry of shipped that measured lacks and
// whose family it holds, the shipped entry scaled by the median ratio of measured to
// shipped PerMAC over the family's measured entries (1 when none can be compared). The
// families measured holds no entry of keep the shipped table whole (policy.fallback).
func completeTable(measured, shipped []policyEntry) []policyEntry {
	have := indexTable(measured)
	ship := indexTable(shipped)
	ratios := map[string][]float64{}
	timed := map[string]bool{}
	for _, e := range measured {
		timed[e.Family] = true
		if s, ok := ship[e.key()]; ok && s.PerMAC > 0 {
			ratios[e.Family] = append(ratios[e.Family], e.PerMAC/s.PerMAC)
		}
	}
	scale := map[string]float64{}
	for f, rs := range ratios {
		slices.Sort(rs)
		scale[f] = rs[len(rs)/2]
	}
	out := slices.Clone(measured)
	for _, e := range shipped {
		if _, ok := have[e.key()]; ok || !timed[e.Family] {
			continue
		}
		s := scale[e.Family]
		if s == 0 {
			s = 1
		}
		e.PerMAC, e.PerOut, e.PerIn = e.PerMAC*s, e.PerOut*s, e.PerIn*s
		out = append(out, e)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].key().less(out[j].key()) })
	return out
}

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
// (the minimum: the machine may be shared, and interference only ever adds time): 5 to 15
// calls filling about 20 ms, or as many as fit in share (at least 3).
func timeKernel(kern asm.Kernel, n int, share time.Duration) (float64, error) {
	call := kernelCall(kern, n)
	run := func() (time.Duration, error) {
		t0 := time.Now()
		err := call()
		return time.Since(t0), err
	}
	first, err := run()
	if err != nil {
		return 0, err
	}
	first = max(first, 1)
	reps := int(min(15, max(5, 20*time.Millisecond/first)))
	if share > 0 {
		reps = min(reps, max(3, int(share/first)))
	}
	best := time.Duration(math.MaxInt64)
	for range reps {
		d, err := run()
		if err != nil {
			return 0, err
		}
		best = min(best, d)
	}
	return float64(best), nil
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

// conversions converts one Dense to the targets asked for, each once: sparse targets from
// one CSR of it, as Compile does from a sparse enough Dense (calibration and validation
// time many kernels on one matrix).
type conversions struct {
	dense  *formats.Dense
	sparse *formats.CSR
	done   map[string]formats.Matrix
}

func newConversions(d *formats.Dense) (*conversions, error) {
	sparse, err := formats.CSRFromDense(d)
	if err != nil {
		return nil, err
	}
	return &conversions{dense: d, sparse: sparse, done: map[string]formats.Matrix{}}, nil
}

func (cv *conversions) as(t target) (formats.Matrix, error) {
	if w, ok := cv.done[t.String()]; ok {
		return w, nil
	}
	var from formats.Matrix = cv.sparse
	if t.format == "dense" {
		from = cv.dense
	}
	w, err := convert(from, t)
	if err == nil {
		cv.done[t.String()] = w
	}
	return w, err
}

// withoutScalar drops the generic (scalar) families when SIMD ones run here: those are
// chosen only under an explicit generic ISA cap, and on a large W one call of theirs takes
// seconds to time.
func withoutScalar(fams []asm.Family) []asm.Family {
	if !slices.ContainsFunc(fams, func(f asm.Family) bool { return f.ISA != asm.Generic }) {
		return fams // a purego build, or a CPU with no SIMD kernels
	}
	return slices.DeleteFunc(fams, func(f asm.Family) bool { return f.ISA == asm.Generic })
}

// runnableFamilies lists the families this CPU runs at its best ISA (and narrower ones).
func runnableFamilies() []asm.Family {
	var fams []asm.Family
	for _, f := range asm.Families() {
		if Host().CanRun(f, Host().BestISA()) {
			fams = append(fams, f)
		}
	}
	return fams
}

type trainMatrix struct {
	name  string
	d     *formats.Dense
	maxN  int  // time only policy points up to this (0: all)
	large bool // fits the large-W regime's coefficients (policyEntry.Large)
	// only, if set, limits the targets timed to those named here or whose name starts
	// with an entry ending in "*" (the matrix's own structure, for big matrices whose
	// conversions to every other format would take most of a quick calibration).
	only []string
}

func (tm trainMatrix) takes(t target) bool {
	if tm.only == nil {
		return true
	}
	s := t.String()
	return slices.ContainsFunc(tm.only, func(o string) bool {
		p, wild := strings.CutSuffix(o, "*")
		return s == o || wild && strings.HasPrefix(s, p)
	})
}

// trainingSet is the full set the shipped table is measured on.
func trainingSet() []trainMatrix {
	rng := rand.New(rand.NewPCG(101, 102))
	var out []trainMatrix
	// Three shapes so that M and K vary apart (the per-row and per-input terms).
	for _, sh := range [][2]int{{256, 256}, {512, 128}, {96, 1024}} {
		for _, den := range []float64{0.03, 0.08, 0.15, 0.3, 0.5, 1} {
			out = append(out, trainMatrix{fmt.Sprintf("%dx%d unstructured %.0f%%", sh[0], sh[1], 100*den), randDense(rng, sh[0], sh[1], den), 0, false, nil})
		}
		for _, b := range candidateBlocks() {
			out = append(out, trainMatrix{fmt.Sprintf("%dx%d blocks %dx%d 25%%", sh[0], sh[1], b[0], b[1]), randBlocky(rng, sh[0], sh[1], b[0], b[1], 0.25), 0, false, nil})
		}
		for _, p := range [][2]int{{2, 4}, {1, 4}} {
			out = append(out, trainMatrix{fmt.Sprintf("%dx%d %d:%d", sh[0], sh[1], p[0], p[1]), randNM(rng, sh[0], sh[1], p[0], p[1]), 0, false, nil})
		}
	}
	// A layer too big for L2, at small N only: there a kernel streams W and its bytes per
	// stored value decide (DESIGN §5.1); the small shapes above are compute-bound.
	const bm, bk, bn = 2048, 1024, 4
	for _, den := range []float64{0.05, 0.1, 0.3, 0.5} {
		out = append(out, trainMatrix{fmt.Sprintf("%dx%d unstructured %.0f%%", bm, bk, 100*den), randDense(rng, bm, bk, den), bn, false, nil})
	}
	for _, b := range candidateBlocks() {
		out = append(out, trainMatrix{fmt.Sprintf("%dx%d blocks %dx%d 25%%", bm, bk, b[0], b[1]), randBlocky(rng, bm, bk, b[0], b[1], 0.25), bn, false, nil})
	}
	for _, p := range [][2]int{{2, 4}, {1, 4}, {2, 8}} {
		out = append(out, trainMatrix{fmt.Sprintf("%dx%d %d:%d", bm, bk, p[0], p[1]), randNM(rng, bm, bk, p[0], p[1]), bn, false, nil})
	}
	// The large-W regime (policyEntry.Large): a 4096×4096 layer, 8× this CPU's L3 share
	// when dense, at N ≤ largeMaxN.
	const lm, lk = 4096, 4096
	for _, den := range []float64{0.05, 0.1, 0.3, 0.6} {
		out = append(out, trainMatrix{fmt.Sprintf("%dx%d unstructured %.0f%%", lm, lk, 100*den), randDense(rng, lm, lk, den), largeMaxN, true, nil})
	}
	for _, b := range [][2]int{{4, 1}, {4, 4}} {
		out = append(out, trainMatrix{fmt.Sprintf("%dx%d blocks %dx%d 25%%", lm, lk, b[0], b[1]), randBlocky(rng, lm, lk, b[0], b[1], 0.25), largeMaxN, true, nil})
	}
	for _, p := range [][2]int{{2, 4}, {1, 4}, {2, 8}} {
		out = append(out, trainMatrix{fmt.Sprintf("%dx%d %d:%d", lm, lk, p[0], p[1]), randNM(rng, lm, lk, p[0], p[1]), largeMaxN, true, nil})
	}
	return out
}

// calibrationSet makes the quick set (a test replaces it with a smaller one).
var calibrationSet = quickTrainingSet

// quickTrainingSet is the calibration's set: the full set's kinds of matrix on two small
// shapes (M and K still vary apart), fewer densities, and the large-W regime on fewer
// matrices. Its shapes and seeds differ from the held-out validation set's.
func quickTrainingSet() []trainMatrix {
	rng := rand.New(rand.NewPCG(103, 104))
	var out []trainMatrix
	for _, sh := range [][2]int{{256, 256}, {96, 1024}} {
		for _, den := range []float64{0.05, 0.15, 0.4, 1} {
			out = append(out, trainMatrix{fmt.Sprintf("%dx%d unstructured %.0f%%", sh[0], sh[1], 100*den), randDense(rng, sh[0], sh[1], den), 0, false, nil})
		}
		for _, b := range candidateBlocks() {
			out = append(out, trainMatrix{fmt.Sprintf("%dx%d blocks %dx%d 25%%", sh[0], sh[1], b[0], b[1]), randBlocky(rng, sh[0], sh[1], b[0], b[1], 0.25), 0, false, nil})
		}
		for _, p := range [][2]int{{2, 4}, {1, 4}} {
			out = append(out, trainMatrix{fmt.Sprintf("%dx%d %d:%d", sh[0], sh[1], p[0], p[1]), randNM(rng, sh[0], sh[1], p[0], p[1]), 0, false, nil})
		}
	}
	// The N:M patterns of kernels generated into a user's package (names with a namespace,
	// DESIGN §5.11) that the set does not hold, so that calibration measures those kernels
	// on their own patterns; only groups Measure reports for a dense W (4, 8, 16).
	for _, p := range userNMPatterns() {
		for _, sh := range [][2]int{{256, 256}, {96, 1024}} {
			tgt := fmt.Sprintf("nm%d:%d", p[0], p[1])
			out = append(out, trainMatrix{fmt.Sprintf("%dx%d %d:%d", sh[0], sh[1], p[0], p[1]), randNM(rng, sh[0], sh[1], p[0], p[1]), 0, false, []string{"csr", tgt}})
		}
	}
	const bm, bk, bn = 2048, 1024, 4
	for _, den := range []float64{0.1, 0.5} {
		out = append(out, trainMatrix{fmt.Sprintf("%dx%d unstructured %.0f%%", bm, bk, 100*den), randDense(rng, bm, bk, den), bn, false, []string{"csr", "dense"}})
	}
	// The large-W regime on its own structures only, and on the N:M patterns of the same
	// density (1:4 also conforms to 2:8, and 2:4 to 4:8). Every pattern a matrix conforms
	// to would double the time of the quick set; the others keep the shipped coefficients,
	// scaled (completeTable).
	const lm, lk = 4096, 4096
	out = append(out, trainMatrix{fmt.Sprintf("%dx%d unstructured 10%%", lm, lk), randDense(rng, lm, lk, 0.1), largeMaxN, true, []string{"csr", "dense"}})
	out = append(out, trainMatrix{fmt.Sprintf("%dx%d blocks 4x4 25%%", lm, lk), randBlocky(rng, lm, lk, 4, 4, 0.25), largeMaxN, true, []string{"csr", "bsr4x4"}})
	out = append(out, trainMatrix{fmt.Sprintf("%dx%d 2:4", lm, lk), randNM(rng, lm, lk, 2, 4), largeMaxN, true, []string{"csr", "dense", "nm2:4", "nm4:8"}})
	out = append(out, trainMatrix{fmt.Sprintf("%dx%d 1:4", lm, lk), randNM(rng, lm, lk, 1, 4), largeMaxN, true, []string{"csr", "nm1:4", "nm2:8"}})
	return out
}

// randDense makes an m×k matrix with about density·m·k nonzeros.
func randDense(rng *rand.Rand, m, k int, density float64) *formats.Dense {
	d := &formats.Dense{Rows: m, Cols: k, Stride: k, Data: make([]float32, m*k)}
	for i := range d.Data {
		if rng.Float64() < density {
			d.Data[i] = float32(rng.NormFloat64())
		}
	}
	return d
}

// randBlocky makes a matrix whose nonzeros fill R×C blocks (each kept with probability p).
func randBlocky(rng *rand.Rand, m, k, r, c int, p float64) *formats.Dense {
	d := &formats.Dense{Rows: m, Cols: k, Stride: k, Data: make([]float32, m*k)}
	for i0 := 0; i0 < m; i0 += r {
		for j0 := 0; j0 < k; j0 += c {
			if rng.Float64() >= p {
				continue
			}
			for i := i0; i < min(i0+r, m); i++ {
				for j := j0; j < min(j0+c, k); j++ {
					d.Data[i*k+j] = float32(rng.NormFloat64())
				}
			}
		}
	}
	return d
}

// userNMPatterns lists the Keep:Group of registered user N:M families (a namespaced name)
// with a group Measure reports, other than 2:4 and 1:4, sorted.
func userNMPatterns() [][2]int {
	seen := map[[2]int]bool{{2, 4}: true, {1, 4}: true}
	var out [][2]int
	for _, f := range asm.Families() {
		p := [2]int{f.Keep, f.Group}
		if f.Format == "nm" && f.Keep > 0 && strings.Contains(f.Name, ".") && !seen[p] && (p[1] == 4 || p[1] == 8 || p[1] == 16) {
			seen[p] = true
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i][1] < out[j][1] || out[i][1] == out[j][1] && out[i][0] < out[j][0] })
	return out
}

// randNM makes a matrix where each group of `group` along K keeps `keep` random weights.
func randNM(rng *rand.Rand, m, k, keep, group int) *formats.Dense {
	d := &formats.Dense{Rows: m, Cols: k, Stride: k, Data: make([]float32, m*k)}
	for i := 0; i < m; i++ {
		for g := 0; g < k; g += group {
			w := min(group, k-g)
			for _, j := range rng.Perm(w)[:min(keep, w)] {
				d.Data[i*k+g+j] = float32(rng.NormFloat64())
			}
		}
	}
	return d
}
