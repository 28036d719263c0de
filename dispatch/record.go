package dispatch

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/sparsegen/sparsegen/asm"
	"github.com/sparsegen/sparsegen/formats"
)

// RecordVersion is the schema version Load accepts; any other version is ignored.
// Version 2 keys entries by the N range they were timed over (n_lo … n_hi) instead of
// version 1's N bucket ("1", "2-16", "17+"), whose winner, timed at one N, was applied to
// N it could not run at or was never timed at.
const RecordVersion = 2

// Record is a tuning record: per layer shape and N range, the kernel that won on one
// machine against the default policy's choice, timed at the range's ends and at the N
// tuned for. autotune writes it; Compile reads it through Options.Record. It is versioned
// JSON:
//
//	{"version": 2,
//	 "machine": {"vendor": …, "model": …, "features": ["AVX2", …], "cores": 16,
//	             "goarch": "amd64", "kernel_set": "sha256 of the families"},
//	 "entries": [{"m": 768, "k": 3072, "n_lo": 111, "n_hi": 128, "pattern": "unstructured",
//	              "density_pct": 10, "n": 128, "timed_n": [111, 128], "min_sample_ns": 2e6,
//	              "winner": {"kernel": "spmm_csr_t64_avx512", "format": "csr", "threads": 16,
//	                         "median_ns": 123456, "medians_ns": [110000, 123456],
//	                         "samples_ns": [ … ]},
//	              "default": { … the default policy's choice, timed alongside … },
//	              "runners_up": [ … ]}]}
//
// An entry for a W stored in bf16, fp16 or int8 adds "dtype": "bf16", "f16" or "i8" to its
// key, and its candidates' formats name the dtype ("dense_bf16", "csr_i8"); an entry
// without "dtype" is for float32 W.
//
// Compile runs an entry's winner for n_lo ≤ N ≤ n_hi only where the default policy would
// run the entry's default there (the choice the winner was timed against); every other N
// keeps the default policy's choice.
type Record struct {
	Version int     `json:"version"`
	Machine Machine `json:"machine"`
	Created string  `json:"created,omitempty"` // RFC 3339, informative
	Entries []Entry `json:"entries"`
}

// Machine is the signature a record is valid for. Features are those actually enabled
// (after GODEBUG), so a record made with AVX-512 off does not apply with it on.
type Machine struct {
	Vendor    string   `json:"vendor"`
	Model     string   `json:"model"`
	Features  []string `json:"features"`
	Cores     int      `json:"cores"`
	GOARCH    string   `json:"goarch"`
	KernelSet string   `json:"kernel_set"`
}

// Key identifies a layer and a range of N for the record. KeyOf returns a point key
// (NLo = NHi = N); Lookup finds the entry whose range holds it.
type Key struct {
	M          int    `json:"m"`
	K          int    `json:"k"`
	NLo        int    `json:"n_lo"` // the entry holds for NLo ≤ N ≤ NHi
	NHi        int    `json:"n_hi"`
	Pattern    string `json:"pattern"`     // PatternOf
	DensityPct int    `json:"density_pct"` // DensityBucket
	// DType is the type W's values are stored in: "bf16", "f16" or "i8" for a
	// low-precision W (formats.DenseLP, formats.CSRLP, formats.BSRLP, formats.NMLP), "" (omitted) for float32, so
	// records written before low-precision entries existed keep meaning float32. An entry
	// applies to a W of its own dtype only.
	DType string `json:"dtype,omitempty"`
}

// Entry is the result for one Key: every candidate was timed, interleaved, at each N of
// TimedN (NLo, the N tuned for and NHi).
type Entry struct {
	Key
	N           int         `json:"n"`             // the N tuned for; MedianNs and SamplesNs are at this N
	TimedN      []int       `json:"timed_n"`       // ascending; MediansNs follow it
	MinSampleNs float64     `json:"min_sample_ns"` // each sample ran the kernel this long at least (tune -check repeats it)
	Winner      Candidate   `json:"winner"`
	Default     Candidate   `json:"default"` // the default policy's choice for the range, timed alongside
	RunnersUp   []Candidate `json:"runners_up,omitempty"`
}

// Candidate is one timed choice: a kernel family, the format W was packed in for it
// ("dense", "csr", "bsrRxC", "nmK:G") and the threads it ran with.
type Candidate struct {
	Kernel    string    `json:"kernel"`
	Format    string    `json:"format"`
	Threads   int       `json:"threads,omitempty"`
	MedianNs  float64   `json:"median_ns"`            // at Entry.N
	MediansNs []float64 `json:"medians_ns,omitempty"` // at each Entry.TimedN
	// SamplesNs are the per-call times of the samples at Entry.N (kept for the winner, the
	// default and the first runner-up: tune -check compares them with new samples).
	SamplesNs []float64 `json:"samples_ns,omitempty"`
}

// Same reports whether c and d are the same kernel family on the same format.
func (c Candidate) Same(d Candidate) bool { return c.Kernel == d.Kernel && c.Format == d.Format }

// ErrRecordIgnored is wrapped by the warnings of LoadRecord and Compile when a record is
// corrupt, of another version, or made on another machine or kernel set: it is then
// treated as absent.
var ErrRecordIgnored = errors.New("tuning record ignored")

// HostMachine is the signature of the running machine and kernel set.
func HostMachine() Machine {
	c := Host()
	m := Machine{Vendor: c.Vendor, Model: c.Model, Cores: c.Cores, GOARCH: c.GOARCH, KernelSet: KernelSetHash()}
	for _, s := range strings.Split(c.Features.String(), "+") {
		if s != "none" {
			m.Features = append(m.Features, s)
		}
	}
	return m
}

// KernelSetHash hashes the registered families (name, format, ISA, features, N range), so
// a record made with other kernels is recognised as foreign.
func KernelSetHash() string {
	h := sha256.New()
	for _, f := range asm.Families() {
		fmt.Fprintf(h, "%s|%s|%s|%d|%d|%d\n", f.Name, f.Format, f.ISA, f.Features, f.MinN, f.MaxN)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// Matches reports why m is not the host's signature, or "" if it is.
func (m Machine) mismatch(h Machine) string {
	switch {
	case m.GOARCH != h.GOARCH:
		return fmt.Sprintf("GOARCH %s, host %s", m.GOARCH, h.GOARCH)
	case m.Vendor != h.Vendor || m.Model != h.Model:
		return fmt.Sprintf("CPU %q %q, host %q %q", m.Vendor, m.Model, h.Vendor, h.Model)
	case strings.Join(m.Features, "+") != strings.Join(h.Features, "+"):
		return fmt.Sprintf("features %v, host %v", m.Features, h.Features)
	case m.Cores != h.Cores:
		return fmt.Sprintf("%d cores, host %d", m.Cores, h.Cores)
	case m.KernelSet != h.KernelSet:
		return fmt.Sprintf("kernel set %s, host %s", m.KernelSet, h.KernelSet)
	}
	return ""
}

// NewRecord starts an empty record for the host.
func NewRecord() *Record {
	return &Record{Version: RecordVersion, Machine: HostMachine()}
}

// Add puts an entry in the record, replacing one with the same key.
func (r *Record) Add(e Entry) {
	for i := range r.Entries {
		if r.Entries[i].Key == e.Key {
			r.Entries[i] = e
			return
		}
	}
	r.Entries = append(r.Entries, e)
}

// LoadRecord reads a record. A missing file is returned as (nil, error wrapping
// fs.ErrNotExist); a corrupt file or another version as (nil, error wrapping
// ErrRecordIgnored), which callers log as a warning and go on without a record.
func LoadRecord(path string) (*Record, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseRecord(b)
}

// ParseRecord decodes a record from JSON (see LoadRecord).
func ParseRecord(b []byte) (*Record, error) {
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%w: corrupt JSON: %v", ErrRecordIgnored, err)
	}
	if r.Version != RecordVersion {
		return nil, fmt.Errorf("%w: version %d, this build reads %d", ErrRecordIgnored, r.Version, RecordVersion)
	}
	for i, e := range r.Entries {
		if e.M < 0 || e.K < 0 || e.NLo < 1 || e.NHi < e.NLo || e.Winner.Kernel == "" || e.Default.Kernel == "" ||
			math.IsNaN(e.Winner.MedianNs) || math.IsNaN(e.Default.MedianNs) {
			return nil, fmt.Errorf("%w: entry %d is malformed", ErrRecordIgnored, i)
		}
		if e.DType != "" {
			if _, err := formats.ParseDType(e.DType); err != nil {
				return nil, fmt.Errorf("%w: entry %d: unknown dtype %q (want bf16, f16 or i8, or none for float32)", ErrRecordIgnored, i, e.DType)
			}
		}
		// The formats its winner and default were packed in store that dtype.
		for _, c := range []Candidate{e.Winner, e.Default} {
			if got := formatDType(c.Format); got != e.DType {
				return nil, fmt.Errorf("%w: entry %d is for %s weights, but its %s@%s stores %s", ErrRecordIgnored, i, dtypeName(e.DType), c.Kernel, c.Format, dtypeName(got))
			}
		}
	}
	return &r, nil
}

// formatDType is the dtype a packing format stores: "bf16", "f16" or "i8" for the
// low-precision formats (asm.LPFormat, asm.CSRLPFormat, asm.BSRLPFormat, asm.NMLPFormat:
// "dense_bf16", "csr_i8", "bsr_f16", "nm_f16" …, and a dense W regrouped in blocks of its
// dtype, "bsr8x1_bf16"), "" for the float32 ones ("dense", "csr", "bsrRxC", "nmK:G").
func formatDType(format string) string {
	for _, pre := range []string{"dense_", "csr_", "bsr_", "nm_"} {
		if s, ok := strings.CutPrefix(format, pre); ok {
			return s
		}
	}
	if i := strings.LastIndexByte(format, '_'); i > 0 && strings.HasPrefix(format, "bsr") {
		return format[i+1:]
	}
	return ""
}

// dtypeName names a record dtype in messages ("" is float32).
func dtypeName(dt string) string {
	if dt == "" {
		return "float32"
	}
	return dt
}

// Save writes the record atomically: a temporary file in the same directory, synced, then
// renamed over path.
func (r *Record) Save(path string) error {
	r.Version = RecordVersion
	sort.SliceStable(r.Entries, func(i, j int) bool {
		a, b := r.Entries[i].Key, r.Entries[j].Key
		if a.M != b.M {
			return a.M < b.M
		}
		if a.K != b.K {
			return a.K < b.K
		}
		if a.NLo != b.NLo {
			return a.NLo < b.NLo
		}
		if a.NHi != b.NHi {
			return a.NHi < b.NHi
		}
		if a.Pattern != b.Pattern {
			return a.Pattern < b.Pattern
		}
		if a.DensityPct != b.DensityPct {
			return a.DensityPct < b.DensityPct
		}
		return a.DType < b.DType
	})
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(path, append(b, '\n'))
}

// writeFileAtomic writes data to path through a temporary file in the same directory,
// synced, then renamed over path: a reader sees the old file or the new one, never part,
// and writers racing leave one of their files whole.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// Lookup returns the entry for key: same M, K, pattern and dtype, an N range holding key's
// (NLo…NHi; a point for KeyOf's keys), and the nearest density bucket within
// ±max(1, 10%) percentage points; nil if none.
func (r *Record) Lookup(key Key) *Entry {
	// A linear scan: records hold a few entries per layer, Compile looks up a handful of
	// keys, and no cached index means concurrent Compiles may share one Record safely.
	if r == nil {
		return nil
	}
	tol := max(1, key.DensityPct/10)
	var best *Entry
	for i := range r.Entries {
		e := &r.Entries[i]
		k := e.Key
		if !sameLayer(k, key) || k.NLo > key.NLo || k.NHi < key.NHi {
			continue
		}
		d := abs(e.DensityPct - key.DensityPct)
		if d <= tol && (best == nil || d < abs(best.DensityPct-key.DensityPct)) {
			best = e
		}
	}
	return best
}

// sameLayer reports whether two keys are for the same layer: M, K, pattern and dtype (a
// float32 entry never applies to a low-precision W, nor one of another dtype).
func sameLayer(a, b Key) bool {
	return a.M == b.M && a.K == b.K && a.Pattern == b.Pattern && a.DType == b.DType
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// DensityBucket is the record's density key: density in whole percent, at least 1 for a
// matrix with any nonzero.
func DensityBucket(density float64) int {
	p := int(math.Round(100 * density))
	if p == 0 && density > 0 {
		p = 1
	}
	return p
}

// PatternOf names W's structure for record keys and reports: "nmK:G" when W conforms to
// an N:M pattern keeping at most half (the tightest such), "dense" above 95% density (whose
// blocks are all full), "bsrRxC" when R×C blocks are ≥ 80% full (the largest such block),
// otherwise "unstructured".
func PatternOf(ms *Measure) string {
	bestNM, ratio := "", 1.0
	for _, f := range ms.NM {
		if r := float64(f.Keep) / float64(f.Group); 2*f.Keep <= f.Group && r < ratio && ms.Density > 0 {
			bestNM, ratio = fmt.Sprintf("nm%d:%d", f.Keep, f.Group), r
		}
	}
	if bestNM != "" && ms.Density >= 0.8*ratio { // conforming because of the pattern, not by chance
		return bestNM
	}
	if ms.Density > 0.95 {
		return "dense"
	}
	bestB, area := "", 1
	for _, b := range ms.Blocks {
		if b.Fill >= 0.8 && b.R*b.C > area {
			bestB, area = fmt.Sprintf("bsr%dx%d", b.R, b.C), b.R*b.C
		}
	}
	if bestB != "" {
		return bestB
	}
	return "unstructured"
}

// KeyOf measures w and returns its record key for N columns: a point key, NLo = NHi = N.
// A low-precision W (formats.DenseLP, formats.CSRLP, formats.BSRLP, formats.NMLP) is measured as stored (its pattern
// and density are those of its bf16, fp16 or int8 values: an int8 weight that rounded to
// 0 is a zero) and its key names the dtype.
func KeyOf(w formats.Matrix, n int) (Key, error) {
	if formats.IsNil(w) {
		return Key{}, errors.New("dispatch: nil weight matrix")
	}
	ms, err := measure(w, candidateBlocks()) // validates w
	if err != nil {
		return Key{}, err
	}
	return keyOf(ms, n), nil
}

func keyOf(ms *Measure, n int) Key {
	n = max(n, 1)
	return Key{M: ms.Rows, K: ms.Cols, NLo: n, NHi: n, Pattern: PatternOf(ms), DensityPct: DensityBucket(ms.Density), DType: ms.DType}
}

// layerString names a key's layer in notes: "768×3072 unstructured, density 10%", with
// the dtype of a low-precision W.
func (k Key) layerString() string {
	s := fmt.Sprintf("%d×%d %s, density %d%%", k.M, k.K, k.Pattern, k.DensityPct)
	if k.DType != "" {
		s += ", " + k.DType
	}
	return s
}

// layerEntries returns the entries for key's layer (same M, K, pattern and dtype) at the density
// bucket nearest to key's within Lookup's tolerance, ordered by NLo.
func (r *Record) layerEntries(key Key) []Entry {
	tol := max(1, key.DensityPct/10)
	best := -1
	for _, e := range r.Entries {
		if !sameLayer(e.Key, key) {
			continue
		}
		if d := abs(e.DensityPct - key.DensityPct); d <= tol && (best < 0 || d < abs(best-key.DensityPct)) {
			best = e.DensityPct
		}
	}
	var out []Entry
	for _, e := range r.Entries {
		if sameLayer(e.Key, key) && e.DensityPct == best {
			out = append(out, e)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].NLo < out[j].NLo })
	return out
}

// applyRecord runs the record's winners in the plan, each over its entry's N range, where
// the default policy's choice made for that range (p.ranges, p.sel) is the one the winner
// beat when timed (Entry.Default) and the winner runs here. The range the entry covers is
// cut out of the default's range; every other N keeps the default's choice. What is not
// applied, and why, goes to the plan's notes.
func (p *Plan) applyRecord(rec *Record, host CPU, isa asm.ISA, targets []target) {
	key := keyOf(p.ms, 1)
	es := rec.layerEntries(key)
	if len(es) == 0 {
		p.notes = append(p.notes, fmt.Sprintf("tuning record has no entry for this layer (%s): default policy throughout", key.layerString()))
		return
	}
	var applied []nRange
	for _, e := range es {
		r := nRange{e.NLo, e.NHi}
		timed := fmt.Sprintf("timed at N = %s", joinInts(e.TimedN))
		if i := slices.IndexFunc(applied, func(a nRange) bool { return a.lo <= r.hi && r.lo <= a.hi }); i >= 0 {
			p.notes = append(p.notes, fmt.Sprintf("tuning record entry for %s overlaps the one applied for %s: not used", r, applied[i]))
			continue
		}
		// The default's range holding all of r (the tuner's ranges are cut as the plan's).
		i := slices.IndexFunc(p.ranges, func(pr nRange) bool { return pr.lo <= r.lo && r.hi <= pr.hi })
		defID := e.Default.Kernel + "@" + e.Default.Format
		if i < 0 || p.sel[i].id() != defID {
			here := "several choices"
			if i >= 0 {
				here = p.sel[i].id()
			}
			p.notes = append(p.notes, fmt.Sprintf("tuning record entry for %s was timed against %s, the default policy here runs %s: not used", r, defID, here))
			continue
		}
		if e.Winner.Same(e.Default) {
			applied = append(applied, r)
			p.notes = append(p.notes, fmt.Sprintf("tuning record: the default's choice for %s (%s) won when %s", r, defID, timed))
			continue
		}
		f, ok := asm.Lookup(e.Winner.Kernel)
		why := ""
		var tgt target
		switch {
		case !ok:
			why = "no such kernel family in this build"
		case !host.CanRun(f, isa):
			why = fmt.Sprintf("it cannot run under ISA cap %s", isa)
		case !coversRange(f, r):
			why = fmt.Sprintf("it does not run for all of %s", r)
		case f.IndexBits == 16 && p.k > 1<<16:
			why = fmt.Sprintf("its 16-bit column indices cannot reach K = %d", p.k)
		default:
			ti := slices.IndexFunc(targets, func(t target) bool { return t.String() == e.Winner.Format })
			if ti < 0 || !familyTakes(f, targets[ti]) {
				why = fmt.Sprintf("W cannot be packed as %s for it here", e.Winner.Format)
			} else {
				tgt = targets[ti]
			}
		}
		if why != "" {
			p.notes = append(p.notes, fmt.Sprintf("tuning record winner %s@%s for %s not used (%s): the default policy's choice stays", e.Winner.Kernel, e.Winner.Format, r, why))
			continue
		}
		def := p.sel[i]
		est := 0.0 // no cost model prices the low-precision families
		if !p.lowp {
			est, _ = p.pol.estimateNs(f, tgt, p.m, p.k, r.repN())
		}
		c := &choice{fam: f, tgt: tgt, est: est,
			why: fmt.Sprintf("tuning record: beat the default policy's %s when %s (medians %s vs %s)",
				defID, timed, fmtMedians(e.Winner, e.N), fmtMedians(e.Default, e.N)),
			// Should the winner refuse W when packed, the default's choice takes over.
			alts: append([]cand{{fam: def.fam, tgt: def.tgt, est: def.est}}, without(def.alts, cand{fam: f, tgt: tgt})...)}
		pr := p.ranges[i]
		var rs []nRange
		var sel []*choice
		if pr.lo < r.lo {
			rs, sel = append(rs, nRange{pr.lo, r.lo - 1}), append(sel, def)
		}
		rs, sel = append(rs, r), append(sel, c)
		if r.hi < pr.hi {
			rest := def
			if pr.lo < r.lo {
				rest = def.clone()
			}
			rs, sel = append(rs, nRange{r.hi + 1, pr.hi}), append(sel, rest)
		}
		p.ranges = slices.Concat(p.ranges[:i], rs, p.ranges[i+1:])
		p.sel = slices.Concat(p.sel[:i], sel, p.sel[i+1:])
		applied = append(applied, r)
	}
}

// clone copies a choice that is not packed yet, for another N range.
func (c *choice) clone() *choice {
	return &choice{fam: c.fam, tgt: c.tgt, est: c.est, why: c.why, alts: slices.Clone(c.alts)}
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ", ")
}

// fmtMedians prints a candidate's medians at each timed N, or its median at n.
func fmtMedians(c Candidate, n int) string {
	if len(c.MediansNs) == 0 {
		return fmtNs(c.MedianNs) + fmt.Sprintf(" at N = %d", n)
	}
	s := make([]string, len(c.MediansNs))
	for i, m := range c.MediansNs {
		s[i] = fmtNs(m)
	}
	return strings.Join(s, ", ")
}
