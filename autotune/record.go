package autotune

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/sparsegen/sparsegen/dispatch"
)

// Merge adds src's entries to dst, keeping for each key the entry whose winner is faster.
// Both records must come from the same machine and kernel set.
func Merge(dst, src *dispatch.Record) error {
	if dst == nil || src == nil {
		return errors.New("autotune: merge of a nil record")
	}
	if !reflect.DeepEqual(dst.Machine, src.Machine) {
		return fmt.Errorf("autotune: cannot merge records of different machines (%+v vs %+v)", dst.Machine, src.Machine)
	}
	have := map[dispatch.Key]int{}
	for i, e := range dst.Entries {
		have[e.Key] = i
	}
	for _, e := range src.Entries {
		if i, ok := have[e.Key]; ok && dst.Entries[i].Winner.MedianNs <= e.Winner.MedianNs {
			continue
		}
		dst.Add(e)
		have[e.Key] = -1 // Add replaced or appended it; no duplicate keys in src matter
	}
	return nil
}

// SaveMerged writes rec to path, merged with the record already there (when it is valid
// and from the same machine and kernel set; otherwise it is replaced). An exclusive lock
// on path's directory serializes concurrent tuners, so none loses another's entries, and
// leaves no file behind; the write itself is atomic (temporary file and rename), and the
// temporary files of an earlier writer that was killed mid-write are removed. It returns
// the warnings for a replaced record.
func SaveMerged(path string, rec *dispatch.Record) (warnings []string, err error) {
	unlock, err := lockDir(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("autotune: locking the directory of %s: %w", path, err)
	}
	defer unlock()
	removeStaleTemps(path)
	out := rec
	old, err := dispatch.LoadRecord(path)
	switch {
	case err == nil:
		if reflect.DeepEqual(old.Machine, rec.Machine) {
			if err := Merge(old, rec); err != nil {
				return nil, err
			}
			out = old
		} else {
			warnings = append(warnings, fmt.Sprintf("%s was made on another machine or kernel set: replaced", path))
		}
	case errors.Is(err, fs.ErrNotExist):
	case errors.Is(err, dispatch.ErrRecordIgnored):
		warnings = append(warnings, fmt.Sprintf("%s: %v: replaced", path, err))
	default:
		return nil, err
	}
	if out.Created == "" {
		out.Created = rec.Created
	}
	return warnings, out.Save(path)
}

// removeStaleTemps removes the temporary files Record.Save leaves beside path when it is
// killed between creating and renaming one (".NAME.tmp…"). Called under the directory lock,
// which every SaveMerged holds while its own temporary file exists.
func removeStaleTemps(path string) {
	stale, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "."+globEscape(filepath.Base(path))+".tmp*"))
	for _, f := range stale {
		if st, err := os.Lstat(f); err == nil && st.Mode().IsRegular() {
			os.Remove(f)
		}
	}
}

func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// CheckWritable checks, before a long tuning run, that a record can be saved at path: its
// directory exists and takes a new file, and path is not something other than a regular
// file. It also clears temporary files a killed writer left there.
func CheckWritable(path string) error {
	if st, err := os.Stat(path); err == nil && !st.Mode().IsRegular() {
		return fmt.Errorf("autotune: %s exists and is not a regular file", path)
	}
	dir := filepath.Dir(path)
	unlock, err := lockDir(dir)
	if err != nil {
		return fmt.Errorf("autotune: cannot write a record in %s: %w", dir, err)
	}
	defer unlock()
	removeStaleTemps(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("autotune: cannot write a record in %s: %w", dir, err)
	}
	f.Close()
	return os.Remove(f.Name())
}

// LoadForHost reads a record and says why it cannot be used here, if so: (nil, reason)
// for a missing, corrupt, old-version or foreign record.
func LoadForHost(path string) (*dispatch.Record, string) {
	r, err := dispatch.LoadRecord(path)
	if err != nil {
		return nil, err.Error()
	}
	if h := dispatch.HostMachine(); !reflect.DeepEqual(r.Machine, h) {
		return nil, fmt.Sprintf("%s was made on another machine or kernel set", path)
	}
	return r, ""
}
