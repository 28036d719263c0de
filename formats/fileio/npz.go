package fileio

import (
	"archive/zip"
	"bytes"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"strings"
	"time"

	"github.com/sparsegen/sparsegen/formats"
)

// MaxDeflateRatio bounds uncompressed/compressed for a deflated entry: DEFLATE cannot
// expand more than about 1032:1, so an entry claiming more is lying (a decompression bomb)
// and is refused before anything is decompressed.
const MaxDeflateRatio = 1032

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
}

// OpenNPZ reads the zip directory of an .npz held in r (size bytes). Each entry's sizes are
// checked against the archive (stored entries exactly, deflated ones within
// MaxDeflateRatio); arrays are read only on request.
func OpenNPZ(r io.ReaderAt, size int64) (*NPZ, error) {
	if size < 0 {
		return nil, bad("npz: negative size")
	}
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, bad("npz: %v", err)
	}
	z := &NPZ{zr: zr, size: size, files: map[string]*zip.File{}}
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
	f, size, err := openSized(path)
	if err != nil {
		return nil, err
	}
	z, err := OpenNPZ(f, size)
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

// Info reads only the header of one array.
func (z *NPZ) Info(name string) (ArrayInfo, error) {
	f, err := z.entry(name)
	if err != nil {
		return ArrayInfo{}, err
	}
	rc, err := f.Open()
	if err != nil {
		return ArrayInfo{}, bad("npz: %q: %v", name, err)
	}
	defer rc.Close()
	u := int64(f.UncompressedSize64)
	h, _, err := readNPYHeader(io.LimitReader(rc, u), u)
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
	rc, err := f.Open()
	if err != nil {
		return nil, bad("npz: %q: %v", name, err)
	}
	defer rc.Close()
	u := int64(f.UncompressedSize64)
	a, err := readNPY(io.LimitReader(rc, u), u, asFloat, false)
	if err != nil {
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
