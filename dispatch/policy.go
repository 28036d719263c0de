package dispatch

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"sync"

	"github.com/sparsegen/sparsegen/asm"
)

// N buckets: one plan keeps a kernel choice per bucket (decode, small batch, prompt/conv).
const (
	bucketOne   = iota // N = 1
	bucketSmall        // 2 ≤ N ≤ 16
	bucketLarge        // N ≥ 17
	numBuckets
)

var (
	bucketNames = [numBuckets]string{"N = 1", "2 ≤ N ≤ 16", "N ≥ 17"}
	bucketKeys  = [numBuckets]string{"1", "2-16", "17+"}
	bucketLo    = [numBuckets]int{1, 2, 17}
	bucketHi    = [numBuckets]int{1, 16, math.MaxInt}
	// bucketRepN is the N at which the policy compares estimates.
	bucketRepN = [numBuckets]int{1, 8, 128}
)

func bucketOf(n int) int {
	switch {
	case n <= 1:
		return bucketOne
	case n <= 16:
		return bucketSmall
	}
	return bucketLarge
}

// BucketKey names the N bucket of n as tuning records key it: "1", "2-16" or "17+".
func BucketKey(n int) string { return bucketKeys[bucketOf(n)] }

// The default policy is a cost model: a kernel family f packed as target t costs about
//
//	t(N) = PerMAC·stored·N + PerOut·M·N   nanoseconds
//
// where stored counts the values t stores (M·K for dense, nnz for CSR, nnz/fill for BSR,
// M·slots for N:M). The coefficients per (family, target, N bucket) are measured by
// TestPolicyTable -update, which writes policy_table.go; the thresholds that follow from
// them (density above which dense wins, block fill above which BSR wins, …) are listed
// there per ISA. Families not in the table fall back on the best entry of the same format
// and ISA, then on priors (below) scaled by vector width and bytes per stored value.
type policyEntry struct {
	Family string  // asm family name
	Target string  // "dense", "csr", "bsr4x1", "nm2:4"
	N      int     // the policy point (policyPoints) it was measured at
	PerMAC float64 // ns per stored value per column
	PerOut float64 // ns per output value
}

type coef struct {
	perMAC, perOut float64
	source         string // "table", "table (format/ISA)", "prior"
}

var tableIndex = indexTable(policyTable)

func indexTable(t []policyEntry) map[string]policyEntry {
	ix := map[string]policyEntry{}
	for _, e := range t {
		ix[e.Family+"|"+e.Target+"|"+strconv.Itoa(e.N)] = e
	}
	return ix
}

func formatOfTarget(t string) string {
	if tt, err := parseTarget(t); err == nil {
		return tt.format
	}
	return t
}

// policyPoints are the N at which the table is measured; an estimate for N uses the
// nearest point (in log N), and plans cut their N ranges between points.
var policyPoints = []int{1, 2, 4, 8, 16, 32, 64, 128}

// nearestPoint returns the policy point nearest to n in log scale.
func nearestPoint(n int) int {
	best := policyPoints[0]
	for _, p := range policyPoints {
		if math.Abs(math.Log(float64(p))-math.Log(float64(max(n, 1)))) < math.Abs(math.Log(float64(best))-math.Log(float64(max(n, 1)))) {
			best = p
		}
	}
	return best
}

// lookupCoef finds the cost coefficients of family f on target t for standard bucket b.
func lookupCoef(f asm.Family, t target, b int) coef { return lookupCoefN(f, t, bucketRepN[b]) }

// lookupCoefN finds the cost coefficients of family f on target t for N columns.
func lookupCoefN(f asm.Family, t target, n int) coef {
	pn := nearestPoint(n)
	if e, ok := tableIndex[f.Name+"|"+t.String()+"|"+strconv.Itoa(pn)]; ok {
		return coef{e.PerMAC, e.PerOut, "table"}
	}
	// Same family on another target of the same format, then the best of the same format
	// and ISA (a new tile of a known kernel kind).
	var best *policyEntry
	for i := range policyTable {
		e := &policyTable[i]
		if e.N == pn && e.Family == f.Name && formatOfTarget(e.Target) == t.format {
			if best == nil || e.PerMAC < best.PerMAC {
				best = e
			}
		}
	}
	if best != nil {
		return coef{best.PerMAC, best.PerOut, "table (" + best.Target + ")"}
	}
	for i := range policyTable {
		e := &policyTable[i]
		if fam, ok := asm.Lookup(e.Family); ok && e.N == pn && fam.ISA == f.ISA && fam.Format == t.format {
			if best == nil || e.PerMAC < best.PerMAC {
				best = e
			}
		}
	}
	if best != nil {
		return coef{best.PerMAC, best.PerOut, "table (like " + best.Family + ")"}
	}
	return priorCoef(f, t, bucketOf(n))
}

// priorCoef is the guess for a family the table has not measured: ns per stored value per
// column by ISA, scaled by format (dense kernels reuse registers best; at N = 1 the bytes per
// stored value decide).
func priorCoef(f asm.Family, t target, b int) coef {
	base := map[asm.ISA]float64{asm.Generic: 1.0, asm.AVX2: 0.08, asm.AVX512: 0.05, asm.NEON: 0.1}[f.ISA]
	out := 1.0
	if f.ISA != asm.Generic {
		out = 0.1
	}
	var fac float64
	switch t.format {
	case "dense":
		fac = 0.5
	case "csr":
		fac = 1
	case "bsr":
		if b == bucketOne {
			fac = (4 + 4/float64(t.r*t.c)) / 8
		} else {
			fac = 0.5 + 0.5/float64(t.r)
		}
	case "nm":
		fac = 0.8
		if b == bucketOne {
			fac = (4 + float64(t.group)/8) / 8
		}
	}
	return coef{base * fac, out, "prior"}
}

func (c coef) estimate(stored int64, m, n int) float64 {
	return c.perMAC*float64(stored)*float64(n) + c.perOut*float64(m)*float64(n)
}

var (
	reBSR = regexp.MustCompile(`bsr(\d+)x(\d+)`)
	reNM  = regexp.MustCompile(`nm(\d+)of(\d+)`)
)

// familyBlock returns the R×C a BSR family is specialised to (parsed from its name,
// "bsr4x1…"), or 0, 0 when it takes any block shape.
func familyBlock(f asm.Family) (r, c int) {
	sp := familySpecOf(f.Name)
	return sp.r, sp.c
}

// familyNM returns the Keep:Group an N:M family is specialised to ("nm2of4…"), or 0, 0.
func familyNM(f asm.Family) (keep, group int) {
	sp := familySpecOf(f.Name)
	return sp.keep, sp.group
}

// familySpec is what a family's name says it is specialised to; parsed once per name
// (Compile asks for every family × target, and the regexps dominated it).
type familySpec struct{ r, c, keep, group int }

var familySpecs sync.Map // family name → familySpec

func familySpecOf(name string) familySpec {
	if sp, ok := familySpecs.Load(name); ok {
		return sp.(familySpec)
	}
	var sp familySpec
	if m := reBSR.FindStringSubmatch(name); m != nil {
		sp.r, _ = strconv.Atoi(m[1])
		sp.c, _ = strconv.Atoi(m[2])
	}
	if m := reNM.FindStringSubmatch(name); m != nil {
		sp.keep, _ = strconv.Atoi(m[1])
		sp.group, _ = strconv.Atoi(m[2])
	}
	familySpecs.Store(name, sp)
	return sp
}

// familyTakes reports whether family f can be packed from target t (format and, for
// specialised families, block shape or pattern).
func familyTakes(f asm.Family, t target) bool {
	if f.Format != t.format {
		return false
	}
	switch t.format {
	case "bsr":
		if r, c := familyBlock(f); r != 0 && (r != t.r || c != t.c) {
			return false
		}
	case "nm":
		if k, g := familyNM(f); k != 0 && (k != t.keep || g != t.group) {
			return false
		}
	}
	return true
}

// familyCovers reports whether f's N range [MinN, MaxN] (MaxN = 0: unbounded) holds the
// whole of standard bucket b.
func familyCovers(f asm.Family, b int) bool {
	return coversRange(f, nRange{bucketLo[b], bucketHi[b]})
}

// nRange is a range of N a plan keeps one kernel for: [lo, hi], hi = MaxInt unbounded.
type nRange struct{ lo, hi int }

func (r nRange) String() string {
	switch {
	case r.lo == r.hi:
		return fmt.Sprintf("N = %d", r.lo)
	case r.hi == math.MaxInt:
		return fmt.Sprintf("N ≥ %d", r.lo)
	}
	return fmt.Sprintf("%d ≤ N ≤ %d", r.lo, r.hi)
}

// repN is the N at which the policy compares estimates for r: the policy point nearest
// to r.lo, clamped into r.
func (r nRange) repN() int { return min(max(nearestPoint(r.lo), r.lo), r.hi) }

// coversRange reports whether f's N range [MinN, MaxN] (MaxN = 0: unbounded) holds all of
// r: a family runs only for the N it declares.
func coversRange(f asm.Family, r nRange) bool {
	hi := f.MaxN
	if hi == 0 {
		hi = math.MaxInt
	}
	return f.MinN <= r.lo && hi >= r.hi
}

// planRanges cuts N ≥ 1 into the ranges a plan keeps one kernel for: the standard buckets
// (1, 2…16, ≥ 17), cut between policy points (at their geometric means) and at every
// family's MinN and MaxN+1, so that each family covers a range wholly or not at all.
func planRanges(fams []asm.Family) []nRange {
	edges := []int{1, 2, 17}
	for i := 1; i < len(policyPoints); i++ {
		edges = append(edges, int(math.Ceil(math.Sqrt(float64(policyPoints[i-1]*policyPoints[i])))))
	}
	for _, f := range fams {
		if f.MinN > 1 {
			edges = append(edges, f.MinN)
		}
		if f.MaxN > 0 && f.MaxN < math.MaxInt-1 {
			edges = append(edges, f.MaxN+1)
		}
	}
	slices.Sort(edges)
	edges = slices.Compact(edges)
	rs := make([]nRange, len(edges))
	for i, e := range edges {
		hi := math.MaxInt
		if i+1 < len(edges) {
			hi = edges[i+1] - 1
		}
		rs[i] = nRange{e, hi}
	}
	return rs
}

// storedFor is the number of values target t stores for W measured as ms.
func storedFor(t target, ms *Measure) (int64, bool) {
	switch t.format {
	case "dense":
		return int64(ms.M) * int64(ms.K), true
	case "csr":
		if t.asIs {
			return ms.Stored, true
		}
		return ms.NNZ, true
	case "bsr":
		if t.asIs {
			return ms.Stored, true
		}
		if f, ok := ms.fill(t.r, t.c); ok {
			return f.Slots, true
		}
	case "nm":
		if t.asIs {
			return ms.Stored, true
		}
		if keep := ms.nmKeep(t.group); keep > 0 && keep <= t.keep {
			g := (ms.K + t.group - 1) / t.group
			last := min(t.keep, ms.K-(g-1)*t.group)
			return int64(ms.M) * int64((g-1)*t.keep+last), true
		}
	}
	return 0, false
}

func fmtNs(ns float64) string {
	switch {
	case ns >= 1e6:
		return fmt.Sprintf("%.2f ms", ns/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.1f µs", ns/1e3)
	}
	return fmt.Sprintf("%.0f ns", ns)
}
