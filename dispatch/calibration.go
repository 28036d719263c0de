package dispatch

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"log"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// CalibrationVersion is the calibration file format this build reads and writes; a file
// of any other version is ignored.
const CalibrationVersion = 1

// CalibrationEnv names the environment variable that stands in for an empty
// Options.Calibration: a file path, or "off" for the shipped table.
const CalibrationEnv = "SPARSEGEN_CALIBRATION"

// ErrCalibrationIgnored is wrapped by the errors (and warnings) for a calibration file
// that cannot be used: corrupt, truncated, of another version, or made on another
// machine or kernel set. The policy then falls back to the shipped table.
var ErrCalibrationIgnored = errors.New("calibration ignored")

// Calibration is a set of policy coefficients measured on one machine (Calibrate).
type Calibration struct {
	Machine  Machine   // the signature it is valid for
	Created  time.Time // when it was measured (UTC)
	Set      string    // the training set: "quick" or "full"
	Seconds  float64   // how long the measurement took
	Measured int       // entries measured here; the rest are shipped entries rescaled
	entries  []policyEntry
}

// Len is the number of coefficient entries.
func (c *Calibration) Len() int { return len(c.entries) }

// The file is text, one record a line, so that it reads in well under a millisecond and
// a truncated or altered file is recognised by its last line:
//
//	sparsegen-calibration 1
//	machine {"vendor":…,"kernel_set":…}
//	created 2026-12-07T03:00:00Z
//	set quick
//	seconds 41.5
//	measured 812
//	e FAMILY TARGET N PERMAC PEROUT PERIN LARGE(0|1)
//	…
//	end COUNT CRC32
//
// CRC32 (IEEE, hex) covers every byte before the "end" line.
const calibrationMagic = "sparsegen-calibration"

// Marshal encodes c in the file format.
func (c *Calibration) Marshal() []byte {
	var b bytes.Buffer
	mj, _ := json.Marshal(c.Machine)
	fmt.Fprintf(&b, "%s %d\n", calibrationMagic, CalibrationVersion)
	fmt.Fprintf(&b, "machine %s\n", mj)
	fmt.Fprintf(&b, "created %s\n", c.Created.UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "set %s\n", c.Set)
	fmt.Fprintf(&b, "seconds %.1f\n", c.Seconds)
	fmt.Fprintf(&b, "measured %d\n", c.Measured)
	// In the policy's order, so that reading the file needs no sort (newPolicy).
	for _, e := range newPolicy("", c.entries).table {
		large := 0
		if e.Large {
			large = 1
		}
		fmt.Fprintf(&b, "e %s %s %d %s %s %s %d\n", e.Family, e.Target, e.N, fmtCoef(e.PerMAC), fmtCoef(e.PerOut), fmtCoef(e.PerIn), large)
	}
	fmt.Fprintf(&b, "end %d %08x\n", len(c.entries), crc32.ChecksumIEEE(b.Bytes()))
	return b.Bytes()
}

func fmtCoef(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }

// ParseCalibration decodes a calibration file. Any defect (a line out of place, a bad
// number, an unknown target, a count or checksum that does not match, another version)
// returns an error wrapping ErrCalibrationIgnored. The machine is not checked here.
func ParseCalibration(b []byte) (*Calibration, error) {
	bad := func(format string, a ...any) (*Calibration, error) {
		return nil, fmt.Errorf("%w: %s", ErrCalibrationIgnored, fmt.Sprintf(format, a...))
	}
	// The first line first: a file of another version may be laid out otherwise.
	first, _, _ := bytes.Cut(b, []byte("\n"))
	if v, ok := strings.CutPrefix(string(first), calibrationMagic+" "); !ok {
		return bad("not a sparsegen calibration file")
	} else if v != strconv.Itoa(CalibrationVersion) {
		return bad("version %q, this build reads %d", v, CalibrationVersion)
	}
	endAt := bytes.LastIndex(b, []byte("\nend "))
	if endAt < 0 || !bytes.HasSuffix(b, []byte("\n")) {
		return bad("truncated (no end line)")
	}
	body, end := b[:endAt+1], strings.Fields(string(b[endAt+1:]))
	if len(end) != 3 {
		return bad("malformed end line")
	}
	count, err := strconv.Atoi(end[1])
	if err != nil || count < 0 {
		return bad("malformed end line")
	}
	if sum, err := strconv.ParseUint(end[2], 16, 32); err != nil || uint32(sum) != crc32.ChecksumIEEE(body) {
		return bad("checksum mismatch (altered or truncated)")
	}
	// The six header lines, then the entries, cut off one by one (no slice of lines).
	var lines [6]string
	rest := string(body)
	for i := range lines {
		var ok bool
		if lines[i], rest, ok = strings.Cut(rest, "\n"); !ok {
			return bad("truncated header")
		}
	}
	head := func(i int, key string) (string, bool) {
		v, ok := strings.CutPrefix(lines[i], key+" ")
		return v, ok
	}
	c := &Calibration{}
	if v, ok := head(1, "machine"); !ok || json.Unmarshal([]byte(v), &c.Machine) != nil {
		return bad("malformed machine line")
	}
	var ok bool
	var v string
	if v, ok = head(2, "created"); ok {
		c.Created, err = time.Parse(time.RFC3339, v)
		ok = err == nil
	}
	if !ok {
		return bad("malformed created line")
	}
	if c.Set, ok = head(3, "set"); !ok {
		return bad("malformed set line")
	}
	if v, ok = head(4, "seconds"); ok {
		c.Seconds, err = strconv.ParseFloat(v, 64)
		ok = err == nil && c.Seconds >= 0
	}
	if !ok {
		return bad("malformed seconds line")
	}
	if v, ok = head(5, "measured"); ok {
		c.Measured, err = strconv.Atoi(v)
		ok = err == nil && c.Measured >= 0
	}
	if !ok {
		return bad("malformed measured line")
	}
	if got := strings.Count(rest, "\n"); got != count {
		return bad("%d entries, the end line says %d", got, count)
	}
	c.entries = make([]policyEntry, 0, count)
	targetOK := map[string]bool{} // a file names a few dozen targets, thousands of times
	for i := 0; rest != ""; i++ {
		var line string
		line, rest, _ = strings.Cut(rest, "\n")
		var f [8]string // the fields, split without allocating
		nf := 0
		for rest := line; rest != "" && nf < len(f); nf++ {
			f[nf], rest, _ = strings.Cut(rest, " ")
			if f[nf] == "" || nf == len(f)-1 && rest != "" {
				nf = -1
				break
			}
		}
		if nf != len(f) || f[0] != "e" {
			return bad("entry %d malformed", i)
		}
		e := policyEntry{Family: f[1], Target: f[2]}
		var errs [5]error
		e.N, errs[0] = strconv.Atoi(f[3])
		e.PerMAC, errs[1] = strconv.ParseFloat(f[4], 64)
		e.PerOut, errs[2] = strconv.ParseFloat(f[5], 64)
		e.PerIn, errs[3] = strconv.ParseFloat(f[6], 64)
		e.Large, errs[4] = f[7] == "1", nil
		if f[7] != "0" && f[7] != "1" {
			errs[4] = errors.New("large flag")
		}
		if err := errors.Join(errs[:]...); err != nil {
			return bad("entry %d: %v", i, err)
		}
		ok, seen := targetOK[e.Target]
		if !seen {
			_, err := parseTarget(e.Target)
			ok = err == nil
			targetOK[e.Target] = ok
		}
		if !ok || !slices.Contains(policyPoints, e.N) ||
			!(e.PerMAC > 0) || !(e.PerOut >= 0) || !(e.PerIn >= 0) || math.IsInf(e.PerMAC+e.PerOut+e.PerIn, 0) {
			return bad("entry %d (%s %s N=%d): out of range", i, e.Family, e.Target, e.N)
		}
		c.entries = append(c.entries, e)
	}
	return c, nil
}

// Save writes c to path atomically (a temporary file in the same directory, synced, then
// renamed over path), creating the directory if needed: two calibrations saved at once
// leave one whole file.
func (c *Calibration) Save(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return writeFileAtomic(path, c.Marshal())
}

// DefaultCalibrationPath is where `sparsegen calibrate` writes this machine's calibration
// and where Compile looks for it: the user's cache directory, one file per CPU signature
// (vendor, model, enabled features, cores, GOARCH), so that machines sharing a home
// directory keep their own.
func DefaultCalibrationPath() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("dispatch: no user cache directory for the calibration: %w", err)
	}
	return filepath.Join(dir, "sparsegen", "calibration-"+cpuSignatureHash()+".txt"), nil
}

// cpuSignatureHash names this CPU's calibration file. It is computed once: Compile looks
// for the file every time, and the signature (unlike the kernel set, which a test may
// change) is fixed for the process.
var cpuSignatureHash = sync.OnceValue(func() string {
	c := Host()
	h := sha256.Sum256([]byte(strings.Join([]string{c.Vendor, c.Model, c.Features.String(), strconv.Itoa(c.Cores), c.GOARCH}, "|")))
	return hex.EncodeToString(h[:])[:12]
})

// LoadCalibration reads and checks a calibration file for this machine: it returns an
// error wrapping fs.ErrNotExist for a missing file, and one wrapping ErrCalibrationIgnored
// for a file that is corrupt, of another version, or made on another machine or with
// another kernel set.
func LoadCalibration(path string) (*Calibration, error) {
	b, err := readRegular(path)
	if err != nil {
		return nil, err
	}
	c, err := ParseCalibration(b)
	if err != nil {
		return nil, err
	}
	if why := c.Machine.mismatch(HostMachine()); why != "" {
		return nil, fmt.Errorf("%w: made on another machine or kernel set (%s)", ErrCalibrationIgnored, why)
	}
	return c, nil
}

// readRegular reads a regular file of at most 16 MiB (a FIFO or device named as the
// calibration is refused rather than read).
func readRegular(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() || st.Size() > 16<<20 {
		return nil, fmt.Errorf("%w: %s is not a regular file of at most 16 MiB", ErrCalibrationIgnored, path)
	}
	b := make([]byte, st.Size())
	if _, err := f.ReadAt(b, 0); err != nil && st.Size() > 0 {
		return nil, err
	}
	return b, nil
}

// policyFor builds the policy of a calibration read from path.
func (c *Calibration) policyFor(path string) *policy {
	pol := newPolicy(fmt.Sprintf("calibration %s (%s set, measured %s)", path, c.Set, c.Created.Format("2006-01-02 15:04 MST")), c.entries)
	return pol.withFallback(shippedPolicy)
}

// loadedCalibrations caches calibrations by path, size and modification time: Compile
// reads a file once per process (and again after it changes), and warns once about a
// file it cannot use.
var loadedCalibrations sync.Map // calKey → *policy

type calKey struct {
	path  string
	size  int64
	mtime int64
}

// resolvePolicy returns the policy Options.Calibration (setting) selects; see Options.
func resolvePolicy(setting string, warn func(string)) *policy {
	if testPolicy != nil {
		return testPolicy
	}
	if setting == "" {
		setting = os.Getenv(CalibrationEnv)
	}
	if setting == "off" {
		return shippedPolicy
	}
	path, explicit := setting, setting != ""
	if !explicit {
		var err error
		if path, err = DefaultCalibrationPath(); err != nil {
			return shippedPolicy
		}
	}
	st, err := os.Stat(path)
	if err != nil {
		if !explicit && errors.Is(err, fs.ErrNotExist) {
			return shippedPolicy // never calibrated here: the prior, silently
		}
		st = nil
	}
	key := calKey{path: path}
	if st != nil {
		key.size, key.mtime = st.Size(), st.ModTime().UnixNano()
	}
	if pol, ok := loadedCalibrations.Load(key); ok {
		return pol.(*policy)
	}
	var pol *policy
	c, err := LoadCalibration(path)
	if err == nil {
		pol = c.policyFor(path)
	} else {
		if !errors.Is(err, ErrCalibrationIgnored) {
			err = fmt.Errorf("%w: %v", ErrCalibrationIgnored, err)
		}
		msg := fmt.Sprintf("%v (%s); using the shipped table until `sparsegen calibrate` writes a new one", err, path)
		if warn == nil {
			warn = func(s string) { log.Print("sparsegen: ", s) }
		}
		warn(msg)
		pol = &policy{source: shippedSource + "; " + msg, table: shippedPolicy.table}
	}
	if prev, loaded := loadedCalibrations.LoadOrStore(key, pol); loaded {
		return prev.(*policy)
	}
	return pol
}

// PolicySource says where the default policy's coefficients come from under the given
// Options.Calibration setting: the shipped table, or which calibration file.
func PolicySource(calibration string) string {
	return resolvePolicy(calibration, nil).source
}
