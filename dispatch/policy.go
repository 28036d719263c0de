package dispatch

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/sparsegen/sparsegen/asm"
	"github.com/sparsegen/sparsegen/internal/sysmem"
)

// N buckets (decode, small batch, prompt/conv): the priors differ per bucket, and a plan's
// N ranges never straddle a bucket's edge.
const (
	bucketOne   = iota // N = 1
	bucketSmall        // 2 ≤ N ≤ 16
	bucketLarge        // N ≥ 17
	numBuckets
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

// The default policy is a cost model: a kernel family f packed as target t costs about
//
//	t(N) = (PerMAC·stored + PerOut·M + PerIn·K) · N'   nanoseconds
//
// where stored counts the values t stores (M·K for dense, nnz for CSR, nnz/fill for BSR,
// M·slots for N:M), PerIn prices the copy of X a kernel makes per call (the CSR panel: on a
// small M it outweighs the products), and N' is N rounded up to the family's vector width
// (a kernel that vectorizes along N computes whole vectors: at N = 24 an AVX-512 kernel does
// the work of 32, an AVX2 one of 24). The coefficients per (family, target, policy point N)
// are measured by TestPolicyTable -update, which writes policy_table.go; between two points
// an estimate takes the larger of the two points' estimates. The thresholds that follow from
// the coefficients (density above which dense wins, block fill above which BSR wins, …) are
// listed there per ISA. Families not in the table fall back on the best entry of the same
// format and ISA, then on priors (below) scaled by vector width and bytes per stored value.
type policyEntry struct {
	Family string  // asm family name
	Target string  // "dense", "csr", "bsr4x1", "nm2:4"
	N      int     // the policy point (policyPoints) it was measured at
	PerMAC float64 // ns per stored value per column
	PerOut float64 // ns per output row per column
	PerIn  float64 // ns per input row (K) per column
	// Large marks coefficients measured on weights far beyond L2 (streamed from memory),
	// used at small N for targets storing at least largeStored values.
	Large bool
}

// The large-W regime. At small N a kernel on a W that stays in cache is bound by its
// instructions, one on a W streamed from memory by its bytes per stored value: 2:8 weights
// stored as 2:4 (twice the values, a faster GEMV per value in cache) decode 1.56× slower
// than stored as 2:8 on 11008×4096. The table holds separate coefficients for that regime,
// measured on a 4096×4096 layer at N ≤ largeMaxN. Up to N = 16 a streamed W still costs
// more than its FMAs suggest (X no longer shares L2 with W): priced with in-cache
// coefficients, 2:4 weights of 11008×4096 at N = 16 once went to an 8×1 block kernel
// storing twice the values, at 2.0× the CSR kernel's time.
const (
	largeStored = 1 << 20 // values (4 MiB of float32): four times this CPU's L2
	largeMaxN   = 16
)

type coef struct {
	perMAC, perOut, perIn float64
	source                string // "table", "table (format/ISA)", "prior"
}

// policy is one set of cost coefficients with its index and memo: the shipped table
// (policy_table.go, the prior for a CPU never calibrated) or a calibration measured on
// this machine (calibration.go). A plan keeps the policy it was compiled with.
type policy struct {
	source string        // what Describe and info print: where the coefficients come from
	table  []policyEntry // sorted by entryKey.less: lookups search it
	memo   sync.Map      // coefKey → coef
	// fallback, if set, prices the families table holds no entry of (a calibration
	// falls back on the shipped table for the kernels it did not time).
	fallback *policy
	families map[string]bool // the families table holds entries of (with fallback)
}

// newPolicy makes a policy of tab, sorting a copy if it is not sorted (a calibration file
// is written sorted, so reading one costs no sort).
func newPolicy(source string, tab []policyEntry) *policy {
	less := func(a, b policyEntry) int {
		switch ka, kb := a.key(), b.key(); {
		case ka.less(kb):
			return -1
		case kb.less(ka):
			return 1
		}
		return 0
	}
	if !slices.IsSortedFunc(tab, less) {
		tab = slices.Clone(tab)
		slices.SortStableFunc(tab, less)
	}
	return &policy{source: source, table: tab}
}

// withFallback sets the policy that prices the families pol's table lacks.
func (pol *policy) withFallback(fb *policy) *policy {
	pol.fallback, pol.families = fb, map[string]bool{}
	for _, e := range pol.table {
		pol.families[e.Family] = true
	}
	return pol
}

// lookup finds the entry of key (binary search of the sorted table).
func (pol *policy) lookup(key entryKey) (policyEntry, bool) {
	i := sort.Search(len(pol.table), func(i int) bool { return !pol.table[i].key().less(key) })
	if i < len(pol.table) && pol.table[i].key() == key {
		return pol.table[i], true
	}
	return policyEntry{}, false
}

// shippedPolicy is the table measured by TestPolicyTable -update on the project's machine.
var shippedPolicy = newPolicy(shippedSource, policyTable)

const shippedSource = "shipped table (not calibrated on this machine)"

// testPolicy, when set, is used by every Compile instead of the shipped table or a
// calibration (usePolicyTable).
var testPolicy *policy

// usePolicyTable makes every Compile use tab (tests) and returns a function that restores
// the previous policy.
func usePolicyTable(tab []policyEntry) (restore func()) {
	saved := testPolicy
	testPolicy = newPolicy("test table", tab)
	return func() { testPolicy = saved }
}

func indexTable(t []policyEntry) map[entryKey]policyEntry {
	ix := make(map[entryKey]policyEntry, len(t))
	for _, e := range t {
		ix[e.key()] = e
	}
	return ix
}

// entryKey identifies an entry: family, target, policy point and regime.
type entryKey struct {
	family, target string
	n              int
	large          bool
}

func (e policyEntry) key() entryKey { return entryKey{e.Family, e.Target, e.N, e.Large} }

func (k entryKey) less(o entryKey) bool {
	if k.family != o.family {
		return k.family < o.family
	}
	if k.target != o.target {
		return k.target < o.target
	}
	if k.n != o.n {
		return k.n < o.n
	}
	return !k.large && o.large
}

func formatOfTarget(t string) string {
	if tt, err := parseTarget(t); err == nil {
		return tt.format
	}
	return t
}

// policyPoints are the N at which the table is measured, half an octave apart (at N = 24
// an AVX-512 kernel computes two full vectors' worth and an AVX2 one three: such steps are
// measured, not interpolated); an estimate between two points blends them, and plans cut
// their N ranges between points.
var policyPoints = []int{1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128}

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

// coefAt finds the cost coefficients of family f on target t at policy point pn: those of
// the large-W regime when t stores at least largeStored values and the table has them.
// Compile asks for every family × target × sample N, and the fallbacks scan the table:
// results are memoised per policy.
func (pol *policy) coefAt(f asm.Family, t target, pn int) coef {
	if c, ok := pol.baseCoef(f, t, pn); ok {
		return c
	}
	if pol.fallback != nil && !pol.families[f.Name] {
		return pol.fallback.coefAt(f, t, pn)
	}
	large := t.stored >= largeStored && pn <= largeMaxN
	key := coefKey{f.Name, t.format, t.r, t.c, t.keep, t.group, pn, large}
	if c, ok := pol.memo.Load(key); ok {
		return c.(coef)
	}
	name := entryKey{f.Name, t.String(), pn, true}
	var c coef
	if e, ok := pol.lookup(name); ok && large {
		c = coef{e.PerMAC, e.PerOut, e.PerIn, "table, large W"}
	} else if sc, ok := pol.bsrStepCoef(f, t, pn, true); ok && large {
		c = sc
	} else if e, ok := pol.largeOfFormat(f, t, pn); ok && large {
		c = coef{e.PerMAC, e.PerOut, e.PerIn, "table, large W (" + e.Target + ")"}
	} else {
		name.large = false
		c = pol.findCoef(f, t, pn, name)
	}
	pol.memo.Store(key, c)
	return c
}

// largeOfFormat finds the family's cheapest large-W entry at pn on another target of t's
// format (bsr4x1 for bsr2x1): a streamed W priced with in-cache coefficients looks up to 2×
// cheaper than it runs.
func (pol *policy) largeOfFormat(f asm.Family, t target, pn int) (policyEntry, bool) {
	var best *policyEntry
	for i := range pol.table {
		e := &pol.table[i]
		if e.Large && e.N == pn && e.Family == f.Name && formatOfTarget(e.Target) == t.format {
			if best == nil || e.PerMAC < best.PerMAC {
				best = e
			}
		}
	}
	if best == nil {
		return policyEntry{}, false
	}
	return *best, true
}

type coefKey struct {
	family, format       string
	r, c, keep, group, n int
	large                bool
}

func (pol *policy) findCoef(f asm.Family, t target, pn int, key entryKey) coef {
	if e, ok := pol.lookup(key); ok {
		return coef{e.PerMAC, e.PerOut, e.PerIn, "table"}
	}
	if c, ok := pol.bsrStepCoef(f, t, pn, false); ok {
		return c
	}
	// Same family on another target of the same format, then the best of the same format
	// and ISA (a new tile of a known kernel kind).
	var best *policyEntry
	for i := range pol.table {
		e := &pol.table[i]
		if e.N == pn && e.Family == f.Name && formatOfTarget(e.Target) == t.format {
			if best == nil || e.PerMAC < best.PerMAC {
				best = e
			}
		}
	}
	if best != nil {
		return coef{best.PerMAC, best.PerOut, best.PerIn, "table (" + best.Target + ")"}
	}
	if c, ok := pol.likeCoef(f, t, pn); ok {
		return c
	}
	for i := range pol.table {
		e := &pol.table[i]
		if fam, ok := asm.Lookup(e.Family); ok && e.N == pn && fam.ISA == f.ISA && fam.Format == t.format {
			if best == nil || e.PerMAC < best.PerMAC {
				best = e
			}
		}
	}
	if best != nil {
		// Per call, not per column: the coefficients are per effective column (effN), and a
		// family computing exactly N (ExactN, GEMV) borrowing those of one computing whole
		// vectors would be estimated 8–16× cheaper at N = 1 than what it was measured like.
		like, _ := asm.Lookup(best.Family)
		s := float64(effN(like, pn)) / float64(effN(f, pn))
		return coef{best.PerMAC * s, best.PerOut * s, best.PerIn * s, "table (like " + best.Family + ")"}
	}
	return priorCoef(f, t, bucketOf(pn))
}

// likeCoef prices a family the table has not measured (one generated into a user's
// package, DESIGN §5.11) from the entries at pn of the families whose descriptors match
// its own but for the name and pattern: same format, ISA, lanes, tile, rows, N range and
// specialisation (a fixed Keep:Group or any). Their entry on t itself if there is one,
// else the median over their targets of t's format: a specialised 3:8 kernel is priced
// like the specialised 2:8 and 4:8 kernels of its tile, not like the cheapest kernel of
// its ISA. A BSR kernel of a block shape none of sparsegen's takes is bsrBlockCoef's.
func (pol *policy) likeCoef(f asm.Family, t target, pn int) (coef, bool) {
	if f.Pattern != "" {
		return pol.bakedCoef(f, t, pn)
	}
	same := func(g asm.Family) bool {
		return g.Format == f.Format && g.ISA == f.ISA && g.Lanes == f.Lanes && g.Tile == f.Tile && g.Rows == f.Rows &&
			g.MinN == f.MinN && g.MaxN == f.MaxN && g.BlockR == f.BlockR && g.BlockC == f.BlockC
	}
	if f.Format == "nm" && f.Keep != 0 {
		if c, ok := pol.specialisedCoef(f, t, pn, same); ok {
			return c, true
		}
	}
	var like []*policyEntry
	for i := range pol.table {
		e := &pol.table[i]
		if e.N != pn || e.Large || formatOfTarget(e.Target) != t.format {
			continue // in-cache entries only: a large-W entry prices a streamed W (largeOfFormat)
		}
		g, ok := asm.Lookup(e.Family)
		if !ok || !same(g) || (g.Keep == 0) != (f.Keep == 0) {
			continue
		}
		if e.Target == t.String() {
			return coef{e.PerMAC, e.PerOut, e.PerIn, "table (like " + e.Family + ")"}, true
		}
		like = append(like, e)
	}
	if len(like) == 0 {
		if f.Format == "bsr" && f.BlockR != 0 {
			return pol.bsrBlockCoef(f, t, pn)
		}
		return coef{}, false
	}
	sort.Slice(like, func(i, j int) bool { return like[i].PerMAC < like[j].PerMAC })
	e := like[len(like)/2]
	return coef{e.PerMAC, e.PerOut, e.PerIn, "table (like " + e.Family + " on " + e.Target + ")"}, true
}

// bakedPrior and bakedPriorBig are a baked kernel's cost over sparsegen's CSR kernel of
// its tile and ISA on the same W, by whether its code fits in half this CPU's L2. Measured
// with the usergen example (Zen 5, 1 MiB L2, AVX-512, one thread, N = 16…3136; DESIGN
// §5.12): baked tiles of 64–480 KB of code ran 1.03–1.24× as fast as the runtime kernel of
// their tile; 810 KB 0.65–0.82×, 1.2–5.9 MB 0.3–0.6×. The autotuner times the kernel itself.
const (
	bakedPrior    = 0.9
	bakedPriorBig = 1.5
)

// bakedCoef prices a kernel baked for one pattern from sparsegen's own CSR kernel of the
// same ISA and tile on t (in-cache entries: a baked W is small), scaled by bakedPrior or,
// when its code exceeds half the L2, bakedPriorBig.
func (pol *policy) bakedCoef(f asm.Family, t target, pn int) (coef, bool) {
	prior := bakedPrior
	if f.CodeBytes > sysmem.L2()/2 {
		prior = bakedPriorBig
	}
	for i := range pol.table {
		e := &pol.table[i]
		if e.N != pn || e.Large || e.Target != t.String() {
			continue
		}
		g, ok := asm.Lookup(e.Family)
		if ok && g.Format == "csr" && g.Pattern == "" && g.ISA == f.ISA && g.Tile == f.Tile && !strings.Contains(g.Name, ".") {
			return coef{e.PerMAC * prior, e.PerOut * prior, e.PerIn * prior, fmt.Sprintf("table (%s × %.2f, baked)", e.Family, prior)}, true
		}
	}
	return coef{}, false
}

// bsrStepCoef prices a generated any-shape BSR family (bsr_any_<isa>, DESIGN §5.5: column
// steps on the smallest generated height H ≥ R of 1, 2, 4, 8) on a block shape the table
// has not measured it on: its entry (large W, or in cache) on a measured target of height H
// (the same kernel on the same steps; the block width only groups them), the narrowest,
// times H/R per stored value for the zero rows it multiplies. Without it, every unmeasured
// shape took the family's cheapest entry, that of its tallest kernel (8×1), at any R.
func (pol *policy) bsrStepCoef(f asm.Family, t target, pn int, large bool) (coef, bool) {
	if f.Format != "bsr" || f.BlockR != 0 || f.ISA == asm.Generic || t.format != "bsr" {
		return coef{}, false
	}
	h := 1
	for h < t.r {
		h *= 2
	}
	if h > 8 {
		return coef{}, false // Pack refuses R > 8
	}
	var best *policyEntry
	bestC := 0
	for i := range pol.table {
		e := &pol.table[i]
		if e.N != pn || e.Large != large || e.Family != f.Name {
			continue
		}
		if bt, err := parseTarget(e.Target); err == nil && bt.format == "bsr" && bt.r == h && (best == nil || bt.c < bestC) {
			best, bestC = e, bt.c
		}
	}
	if best == nil {
		return coef{}, false
	}
	s := float64(h) / float64(t.r)
	src := fmt.Sprintf("table (%s, × %d/%d rows)", best.Target, h, t.r)
	if large {
		src = fmt.Sprintf("table, large W (%s, × %d/%d rows)", best.Target, h, t.r)
	}
	return coef{best.PerMAC * s, best.PerOut, best.PerIn, src}, true
}

// bsrBlockCoef prices a BSR kernel of a block shape none of sparsegen's kernels takes (one
// generated into a user's package, DESIGN §5.11) like the kernel that runs t otherwise,
// the any-shape kernel of its ISA on t (bsrStepCoef where t is unmeasured), times the
// median ratio at pn of sparsegen's block kernels of its mode (whole blocks of C > 1
// columns, or single columns) to that kernel on their own shapes: a 3×4 kernel is priced
// as 4-row steps on its blocks, a quarter of them zero rows, made cheaper as 4×4 and 1×4
// blocks were than steps.
func (pol *policy) bsrBlockCoef(f asm.Family, t target, pn int) (coef, bool) {
	var anyF asm.Family
	for _, g := range asm.Families() {
		if g.Format == "bsr" && g.BlockR == 0 && g.ISA == f.ISA && g.ISA != asm.Generic {
			anyF = g
			break
		}
	}
	if anyF.Desc == nil {
		return coef{}, false
	}
	var ratios []float64
	for i := range pol.table {
		e := &pol.table[i]
		if e.N != pn || e.Large {
			continue
		}
		g, ok := asm.Lookup(e.Family)
		if !ok || g.Format != "bsr" || g.BlockR == 0 || g.ISA != f.ISA || (g.BlockC > 1) != (f.BlockC > 1) ||
			e.Target != (target{format: "bsr", r: g.BlockR, c: g.BlockC}).String() {
			continue
		}
		if a, ok := pol.lookup(entryKey{anyF.Name, e.Target, pn, false}); ok && a.PerMAC > 0 {
			ratios = append(ratios, e.PerMAC/a.PerMAC)
		}
	}
	r := 1.0
	if len(ratios) > 0 {
		sort.Float64s(ratios)
		r = ratios[len(ratios)/2]
	}
	c := pol.coefAt(anyF, t, pn)
	return coef{c.perMAC * r, c.perOut * r, c.perIn * r, fmt.Sprintf("%s on %s: %s × %.2f, sparsegen's block kernels' median", anyF.Name, t, c.source, r)}, true
}

// specialisedCoef prices an N:M kernel specialised to t's pattern from the any-pattern
// kernel of the same shape on t, scaled by how much faster the specialised kernels of
// that shape ran than it on their own patterns (the median ratio at pn).
func (pol *policy) specialisedCoef(f asm.Family, t target, pn int, same func(asm.Family) bool) (coef, bool) {
	anyOn := map[string]*policyEntry{} // target → the any-pattern kernel's entry
	var spec []*policyEntry
	for i := range pol.table {
		e := &pol.table[i]
		if e.N != pn || e.Large || formatOfTarget(e.Target) != "nm" {
			continue
		}
		g, ok := asm.Lookup(e.Family)
		if !ok || !same(g) {
			continue
		}
		if g.Keep == 0 {
			anyOn[e.Target] = e
		} else if e.Target == fmt.Sprintf("nm%d:%d", g.Keep, g.Group) {
			spec = append(spec, e)
		}
	}
	base, ok := anyOn[t.String()]
	if !ok {
		return coef{}, false
	}
	var ratios []float64
	for _, e := range spec {
		if a, ok := anyOn[e.Target]; ok && a.PerMAC > 0 {
			ratios = append(ratios, e.PerMAC/a.PerMAC)
		}
	}
	if len(ratios) == 0 {
		return coef{}, false
	}
	sort.Float64s(ratios)
	r := ratios[len(ratios)/2]
	return coef{base.PerMAC * r, base.PerOut * r, base.PerIn * r, fmt.Sprintf("table (%s × %.2f, its specialised kernels' median)", base.Family, r)}, true
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
	return coef{base * fac, out, 0, "prior"}
}

// estimate is the cost at ne effective columns (see effN).
func (c coef) estimate(stored int64, m, k, ne int) float64 {
	return (c.perMAC*float64(stored) + c.perOut*float64(m) + c.perIn*float64(k)) * float64(ne)
}

// effN is N rounded up to the vector width f computes along N (GEMV families, N = 1 only
// or ExactN, and the scalar generic ISA compute exactly N).
func effN(f asm.Family, n int) int {
	if f.MaxN == 1 || f.ExactN {
		return n
	}
	var l int
	switch f.ISA {
	case asm.AVX512:
		l = 16
	case asm.AVX2:
		l = 8
	case asm.NEON:
		l = 4
	default:
		return n
	}
	return (n + l - 1) / l * l
}

// estimateNs is the policy's cost of family f on target t (storing t.stored values) for an
// M×K weight at n columns: the larger of the estimates of the policy points around n.
func (pol *policy) estimateNs(f asm.Family, t target, m, k, n int) (float64, string) {
	return estimateWith(f, t, m, k, n, func(pn int) coef { return pol.coefAt(f, t, pn) })
}

// coefCache memoises coefAt for one (family, target) by policy point: choose asks for
// every range's sample N, and the shared memo hashes string keys.
type coefCache struct {
	pol  *policy
	f    asm.Family
	t    target
	have [16]bool
	c    [16]coef
}

func (cc *coefCache) at(pn int) coef {
	i := slices.Index(policyPoints, pn)
	if i < 0 || i >= len(cc.c) {
		return cc.pol.coefAt(cc.f, cc.t, pn)
	}
	if !cc.have[i] {
		cc.c[i], cc.have[i] = cc.pol.coefAt(cc.f, cc.t, pn), true
	}
	return cc.c[i]
}

func estimateWith(f asm.Family, t target, m, k, n int, coefs func(pn int) coef) (float64, string) {
	e, src := estimateModel(f, t, m, k, n, coefs)
	if f.Bitmap {
		return bitmapEstimate(f, t, m, k, e, src)
	}
	if f.Delta {
		return deltaEstimate(f, t, m, k, e, src)
	}
	return e, src
}

// estimateModel is estimateWith before the bitmap SpMV's density factor (bitmap.go).
func estimateModel(f asm.Family, t target, m, k, n int, coefs func(pn int) coef) (float64, string) {
	n = max(n, 1)
	lo, hi := policyPoints[0], policyPoints[len(policyPoints)-1]
	for _, p := range policyPoints {
		if p <= n {
			lo = p
		}
		if p >= n && hi >= p {
			hi = p
		}
	}
	if n > hi {
		lo = hi
	}
	ne := effN(f, n)
	cl := coefs(lo)
	el := cl.estimate(t.stored, m, k, ne)
	if hi == lo {
		return el, cl.source
	}
	// Between two points, the larger of the two points' costs at n: a kernel whose column
	// tile is wider than n (bsr2x1_t96 at N = 80) runs a narrower, slower path, and costs
	// per column what it did at the lower point (2.5× its full-tile rate at N = 96), where
	// a blend toward the upper point's rate once picked it at 1.5× the fastest.
	ch := coefs(hi)
	if eh := ch.estimate(t.stored, m, k, ne); eh > el {
		return eh, ch.source
	}
	return el, cl.source
}

// familyTakes reports whether family f can be packed from target t (format and, for
// specialised families, block shape or pattern: the descriptor's BlockR×BlockC, Keep:Group).
func familyTakes(f asm.Family, t target) bool {
	if f.Format != t.format {
		return false
	}
	if f.Pattern != "" && f.Pattern != t.pattern {
		return false // baked for another pattern (DESIGN §5.12)
	}
	// A block family of another shape does not take a block target (a BSR, or a DenseLP
	// regrouped in blocks of its dtype, lowp.go).
	if t.r > 0 && f.BlockR != 0 && (f.BlockR != t.r || f.BlockC != t.c) {
		return false
	}
	switch t.format {
	case "bsr":
		// A block GEMV (ExactN: N = 1, and small N in passes) on a conversion that stores every weight reads all of
		// dense's bytes plus indices: its large-W coefficients, fitted on sparse W, priced
		// bsr4x4_gemv under the dense GEMV on a dense 11008×4096 (3.46 against 4.12 ms
		// estimated; 7.4 against 5.5–6.6 ms measured, Zen 5), so it does not take one. The
		// SpMM kernels still may (a dense W at N = 128 runs bsr_any: no packing of X).
		if f.ExactN && t.full && !t.asIs {
			return false
		}
	case "nm":
		if f.Keep != 0 && (f.Keep != t.keep || f.Group != t.group) {
			return false
		}
	}
	return true
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

// sampleNs are the N at which the policy compares candidates for r: its ends (an unbounded
// range ends at max(4·lo, 512) here) and the policy points inside.
func (r nRange) sampleNs() []int {
	hi := r.hi
	if hi == math.MaxInt {
		hi = max(r.lo*4, 512)
	}
	ns := []int{r.lo}
	for _, p := range policyPoints {
		if p > r.lo && p < hi {
			ns = append(ns, p)
		}
	}
	if hi > r.lo {
		ns = append(ns, hi)
	}
	return ns
}

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
		return int64(ms.Rows) * int64(ms.Cols), true
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
			g := (ms.Cols + t.group - 1) / t.group
			last := min(t.keep, ms.Cols-(g-1)*t.group)
			return int64(ms.Rows) * int64((g-1)*t.keep+last), true
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
