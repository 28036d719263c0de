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
	"sort"
	"strings"

	"github.com/sparsegen/sparsegen/asm"
	"github.com/sparsegen/sparsegen/formats"
)

// RecordVersion is the schema version Load accepts; any other version is ignored.
const RecordVersion = 1

// Record is a tuning record: per layer shape and N bucket, the kernel that won on one
// machine, with runners-up and their median times. autotune writes it; Compile reads it
// through Options.Record. It is versioned JSON:
//
//	{"version": 1,
//	 "machine": {"vendor": …, "model": …, "features": ["AVX2", …], "cores": 16,
//	             "goarch": "amd64", "kernel_set": "sha256 of the families"},
//	 "entries": [{"m": 768, "k": 3072, "n_bucket": "17+", "pattern": "unstructured",
//	              "density_pct": 10,
//	              "winner": {"kernel": "csr_t64_avx512", "format": "csr", "threads": 16,
//	                         "median_ns": 123456},
//	              "runners_up": [ … ]}]}
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

// Key identifies a layer for the record.
type Key struct {
	M          int    `json:"m"`
	K          int    `json:"k"`
	NBucket    string `json:"n_bucket"`    // BucketKey(N)
	Pattern    string `json:"pattern"`     // PatternOf
	DensityPct int    `json:"density_pct"` // DensityBucket
}

// Entry is the result for one Key.
type Entry struct {
	Key
	Winner    Candidate   `json:"winner"`
	RunnersUp []Candidate `json:"runners_up,omitempty"`
}

// Candidate is one timed choice: a kernel family, the format W was packed in for it
// ("dense", "csr", "bsrRxC", "nmK:G") and the threads it ran with.
type Candidate struct {
	Kernel   string  `json:"kernel"`
	Format   string  `json:"format"`
	Threads  int     `json:"threads,omitempty"`
	MedianNs float64 `json:"median_ns"`
}

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
		if e.M < 0 || e.K < 0 || e.Winner.Kernel == "" || math.IsNaN(e.Winner.MedianNs) {
			return nil, fmt.Errorf("%w: entry %d is malformed", ErrRecordIgnored, i)
		}
	}
	return &r, nil
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
		if a.NBucket != b.NBucket {
			return a.NBucket < b.NBucket
		}
		if a.Pattern != b.Pattern {
			return a.Pattern < b.Pattern
		}
		return a.DensityPct < b.DensityPct
	})
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(append(b, '\n'))
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

// Lookup returns the entry for key: same M, K, N bucket and pattern, and the nearest
// density bucket within ±max(1, 10%) percentage points; nil if none.
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
		if k.M != key.M || k.K != key.K || k.NBucket != key.NBucket || k.Pattern != key.Pattern {
			continue
		}
		d := abs(e.DensityPct - key.DensityPct)
		if d <= tol && (best == nil || d < abs(best.DensityPct-key.DensityPct)) {
			best = e
		}
	}
	return best
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

// PatternOf names W's structure for record keys: "nmK:G" when W conforms to an N:M
// pattern keeping at most half (the tightest such), "bsrRxC" when R×C blocks are ≥ 80%
// full (the largest such block), otherwise "unstructured" (or "dense" above 95% density).
func PatternOf(ms *Measure) string {
	bestNM, ratio := "", 1.0
	for _, f := range ms.NMFits {
		if r := float64(f.Keep) / float64(f.Group); 2*f.Keep <= f.Group && r < ratio && ms.Density > 0 {
			bestNM, ratio = fmt.Sprintf("nm%d:%d", f.Keep, f.Group), r
		}
	}
	if bestNM != "" && ms.Density >= 0.8*ratio { // conforming because of the pattern, not by chance
		return bestNM
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
	if ms.Density > 0.95 {
		return "dense"
	}
	return "unstructured"
}

// KeyOf measures w and returns its record key for N columns.
func KeyOf(w formats.Matrix, n int) (Key, error) {
	if w == nil || isNilMatrix(w) {
		return Key{}, errors.New("dispatch: nil weight matrix")
	}
	ms, err := measure(w, candidateBlocks()) // validates w
	if err != nil {
		return Key{}, err
	}
	return keyOf(ms, n), nil
}

func keyOf(ms *Measure, n int) Key {
	return Key{M: ms.M, K: ms.K, NBucket: BucketKey(n), Pattern: PatternOf(ms), DensityPct: DensityBucket(ms.Density)}
}
