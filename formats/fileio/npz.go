package fileio

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sparsegen/sparsegen/formats"
	"github.com/sparsegen/sparsegen/internal/sysmem"
)

// MaxDeflateRatio bounds uncompressed/compressed for a deflated entry: DEFLATE cannot
// expand more than about 1032:1, so an entry claiming more is lying and is refused before
// anything is decompressed. This alone does not stop a decompression bomb: zeros really do
// deflate at about 1028:1 (2 MB inflate to 2 GiB), so what an archive may inflate is bounded
// by its budget (NPZOptions.MaxInflate).
const MaxDeflateRatio = 1032

// NPZOptions configure OpenNPZWith.
type NPZOptions struct {
	// MaxInflate bounds the bytes the archive's members may inflate to, summed over every
	// read of this NPZ (headers included); 0 means DefaultMaxInflate. A member whose .npy
	// header declares more data than the budget has left is refused before its data is
	// inflated, and the bytes really inflated are counted as they stream, so neither a
	// lying zip header nor a lying .npy header gets past it.
	MaxInflate int64
}

// DefaultMaxInflate is the inflate budget of an archive opened without one: a quarter of
// this machine's memory (a float16 array read as float32 doubles, and readers keep their
// result), at least 256 MiB.
func DefaultMaxInflate() int64 { return max(sysmem.Total()/4, 256<<20) }

// ArrayInfo describes one array of an .npz (or one tensor of a safetensors file).
type ArrayInfo struct {
	Name    string
	DType   string // numpy descr ("<f4", "|u1", "<U3") or safetensors dtype ("F32", "BF16")
	Shape   []int
	Fortran bool // npy only
}

// NPZ is an open .npz archive (a zip of .npy files, stored or deflated). Array names are
// the entry names without the ".npy" suffix, as numpy shows them.
type NPZ struct {
	zr     *zip.Reader
	size   int64
	names  []string
	files  map[string]*zip.File
	closer io.Closer
	budget int64        // MaxInflate
	used   atomic.Int64 // bytes inflated (or admitted by a header) so far
}

// OpenNPZ reads the zip directory of an .npz held in r (size bytes). Each entry's sizes are
// checked against the archive (stored entries exactly, deflated ones within
// MaxDeflateRatio); arrays are read only on request, within DefaultMaxInflate.
func OpenNPZ(r io.ReaderAt, size int64) (*NPZ, error) {
	return OpenNPZWith(r, size, NPZOptions{})
}

// OpenNPZWith is OpenNPZ with options (an inflate budget).
func OpenNPZWith(r io.ReaderAt, size int64, o NPZOptions) (*NPZ, error) {
	if size < 0 {
		return nil, bad("npz: negative size")
	}
	if o.MaxInflate < 0 {
		return nil, fmt.Errorf("fileio: negative MaxInflate %d", o.MaxInflate)
	}
	if o.MaxInflate == 0 {
		o.MaxInflate = DefaultMaxInflate()
	}
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, bad("npz: %v", err)
	}
	z := &NPZ{zr: zr, size: size, files: map[string]*zip.File{}, budget: o.MaxInflate}
	for _, f := range zr.File {
		name := strings.TrimSuffix(f.Name, ".npy")
		if _, dup := z.files[name]; dup {
			return nil, bad("npz: duplicate entry %q", f.Name)
		}
		if err := checkEntry(f, size); err != nil {
			return nil, err
		}
		z.files[name] = f
		z.names = append(z.names, name)
	}
	return z, nil
}

func checkEntry(f *zip.File, archive int64) error {
	if f.Mode().IsDir() || strings.HasSuffix(f.Name, "/") {
		return bad("npz: entry %q is a directory", f.Name)
	}
	c, u := f.CompressedSize64, f.UncompressedSize64
	if c > uint64(archive) {
		return bad("npz: entry %q claims %d compressed bytes in a %d-byte archive", f.Name, c, archive)
	}
	switch f.Method {
	case zip.Store:
		if u != c {
			return bad("npz: stored entry %q claims %d bytes but holds %d", f.Name, u, c)
		}
	case zip.Deflate:
		if u > c*MaxDeflateRatio+1024 {
			return bad("npz: deflated entry %q claims %d bytes from %d compressed (ratio above %d:1: a decompression bomb)", f.Name, u, c, MaxDeflateRatio)
		}
	default:
		return bad("npz: entry %q uses compression method %d (want stored or deflated)", f.Name, f.Method)
	}
	return nil
}

// OpenNPZFile opens the .npz at path; Close it when done.
func OpenNPZFile(path string) (*NPZ, error) {
	return OpenNPZFileWith(path, NPZOptions{})
}

// OpenNPZFileWith is OpenNPZFile with options (an inflate budget).
func OpenNPZFileWith(path string, o NPZOptions) (*NPZ, error) {
	f, size, err := openSized(path)
	if err != nil {
		return nil, err
	}
	z, err := OpenNPZWith(f, size, o)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	z.closer = f
	return z, nil
}

// Close releases the file of OpenNPZFile (a no-op for OpenNPZ).
func (z *NPZ) Close() error {
	if z.closer != nil {
		return z.closer.Close()
	}
	return nil
}

// Names lists the arrays in archive order.
func (z *NPZ) Names() []string { return append([]string(nil), z.names...) }

// Has reports whether the archive holds the array.
func (z *NPZ) Has(name string) bool { _, ok := z.files[name]; return ok }

func (z *NPZ) entry(name string) (*zip.File, error) {
	f, ok := z.files[name]
	if !ok {
		return nil, bad("npz: no array %q (have %s)", name, strings.Join(z.names, ", "))
	}
	return f, nil
}

// budgeted counts the bytes inflated from an entry against the archive's budget as they
// stream, and fails a read that would pass it.
type budgeted struct {
	r    io.Reader
	z    *NPZ
	name string
	err  error // the refusal, which the caller returns over the error it caused
}

func (b *budgeted) Read(p []byte) (int, error) {
	left := b.z.budget - b.z.used.Load()
	if left <= 0 && len(p) > 0 {
		b.err = b.z.overBudget(b.name, 1)
		return 0, b.err
	}
	if int64(len(p)) > left {
		p = p[:left]
	}
	n, err := b.r.Read(p)
	b.z.used.Add(int64(n))
	return n, err
}

// admit charges the data bytes a member's .npy header declares before they are inflated
// (the bytes then read are counted by budgeted too, so the charge is for the check only).
func (z *NPZ) admit(name string) func(int64) error {
	return func(nbytes int64) error {
		if nbytes > z.budget-z.used.Load() {
			return z.overBudget(name, nbytes)
		}
		return nil
	}
}

func (z *NPZ) overBudget(name string, want int64) error {
	return fmt.Errorf("%w: npz %q: %d more bytes would inflate past the archive's budget of %d (%d used; a decompression bomb, or set NPZOptions.MaxInflate)",
		ErrTooLarge, name, want, z.budget, z.used.Load())
}

// Inflated is the number of bytes read from the archive's members so far.
func (z *NPZ) Inflated() int64 { return z.used.Load() }

// open opens an entry for reading: capped at its claimed size and counted against the budget.
func (z *NPZ) open(name string, f *zip.File) (*budgeted, io.ReadCloser, int64, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, nil, 0, bad("npz: %q: %v", name, err)
	}
	u := int64(f.UncompressedSize64)
	return &budgeted{r: io.LimitReader(rc, u), z: z, name: name}, rc, u, nil
}

// Info reads only the header of one array.
func (z *NPZ) Info(name string) (ArrayInfo, error) {
	f, err := z.entry(name)
	if err != nil {
		return ArrayInfo{}, err
	}
	r, rc, u, err := z.open(name, f)
	if err != nil {
		return ArrayInfo{}, err
	}
	defer rc.Close()
	h, _, err := readNPYHeader(r, u)
	if r.err != nil {
		return ArrayInfo{}, r.err
	}
	if err != nil {
		return ArrayInfo{}, fmt.Errorf("npz %q: %w", name, err)
	}
	return ArrayInfo{Name: name, DType: h.descr, Shape: h.shape, Fortran: h.fortran}, nil
}

// List returns the header of every array.
func (z *NPZ) List() ([]ArrayInfo, error) {
	out := make([]ArrayInfo, 0, len(z.names))
	for _, n := range z.names {
		ai, err := z.Info(n)
		if err != nil {
			return nil, err
		}
		out = append(out, ai)
	}
	return out, nil
}

// array reads one whole array. Reads are capped at the entry's uncompressed size and the
// entry must then end (its CRC is checked by archive/zip at the end).
func (z *NPZ) array(name string) (*array, error) { return z.read(name, false) }

// floats reads one float array, converting to float32 as it streams.
func (z *NPZ) floats(name string) (*array, error) { return z.read(name, true) }

func (z *NPZ) read(name string, asFloat bool) (*array, error) {
	f, err := z.entry(name)
	if err != nil {
		return nil, err
	}
	r, rc, u, err := z.open(name, f)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	a, err := readNPYChecked(r, u, asFloat, false, z.admit(name))
	switch {
	case r.err != nil:
		return nil, r.err
	case errors.Is(err, ErrTooLarge):
		return nil, err
	case err != nil:
		return nil, fmt.Errorf("npz %q: %w", name, err)
	}
	var one [1]byte
	n, err := rc.Read(one[:])
	if n != 0 {
		return nil, bad("npz: entry %q holds more bytes than its header says", name)
	}
	if err != io.EOF {
		if err == nil {
			// A reader may return (0, nil); ask once more.
			n, err = rc.Read(one[:])
			if n == 0 && err == io.EOF {
				return a, nil
			}
		}
		return nil, bad("npz: entry %q: its data does not end where its zip header says, or fails the CRC (%v)", name, err)
	}
	return a, nil
}

// Dense reads one float array as a Dense (2-D, or 1-D as 1×K; Fortran order transposed).
func (z *NPZ) Dense(name string) (*formats.Dense, Info, error) {
	a, err := z.floats(name)
	if err != nil {
		return nil, Info{}, err
	}
	return arrayDense(a, "npz", name)
}

// NPZWriter writes an .npz archive.
type NPZWriter struct {
	zw       *zip.Writer
	compress bool
	seen     map[string]bool
}

// NewNPZWriter starts an .npz on w; compress selects deflate (as np.savez_compressed)
// over stored entries (as np.savez). Call Close to finish the archive.
func NewNPZWriter(w io.Writer, compress bool) *NPZWriter {
	return &NPZWriter{zw: zip.NewWriter(w), compress: compress, seen: map[string]bool{}}
}

var npzTime = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)

func (w *NPZWriter) add(name string, dt dtype, shape []int, raw []byte) error {
	if name == "" || strings.ContainsAny(name, "/\\\x00") {
		return fmt.Errorf("fileio: bad array name %q", name)
	}
	if w.seen[name] {
		return fmt.Errorf("fileio: array %q written twice", name)
	}
	w.seen[name] = true
	var buf bytes.Buffer
	if err := encodeNPY(&buf, dt, shape, nil); err != nil {
		return err
	}
	head := buf.Bytes()
	fh := &zip.FileHeader{Name: name + ".npy", Modified: npzTime}
	if w.compress {
		fh.Method = zip.Deflate
		ew, err := w.zw.CreateHeader(fh)
		if err != nil {
			return err
		}
		if _, err := ew.Write(head); err != nil {
			return err
		}
		_, err = ew.Write(raw)
		return err
	}
	crc := crc32.NewIEEE()
	crc.Write(head)
	crc.Write(raw)
	n := uint64(len(head) + len(raw))
	fh.Method = zip.Store
	fh.CRC32 = crc.Sum32()
	fh.CompressedSize64, fh.UncompressedSize64 = n, n
	ew, err := w.zw.CreateRaw(fh)
	if err != nil {
		return err
	}
	if _, err := ew.Write(head); err != nil {
		return err
	}
	_, err = ew.Write(raw)
	return err
}

// WriteDense adds d as a float32 ('<f4') 2-D array.
func (w *NPZWriter) WriteDense(name string, d *formats.Dense) error {
	if err := d.Validate(); err != nil {
		return err
	}
	return w.add(name, dtF32, []int{d.Rows, d.Cols}, denseRaw(dtF32, d))
}

// Close finishes the archive (it does not close the underlying writer).
func (w *NPZWriter) Close() error { return w.zw.Close() }

// writeFileAtomic writes to a temporary file beside path and renames it into place.
func writeFileAtomic(path string, write func(io.Writer) error) (err error) {
	dir, base := ".", path
	if i := strings.LastIndexAny(path, "/"+string(os.PathSeparator)); i >= 0 {
		dir, base = path[:i+1], path[i+1:]
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err = write(f); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Chmod(f.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
