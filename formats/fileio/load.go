package fileio

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/sparsegen/sparsegen/formats"
)

// Info says what a reader found and what it changed.
type Info struct {
	Path       string   // the file, when read through a path helper
	Container  string   // "npy", "npz" or "safetensors"
	Layout     string   // "dense", "csr", "bsr" or "nm"
	Name       string   // the array or tensor read, when it had a name
	DType      string   // the stored value dtype: a numpy descr ("<f8") or a safetensors dtype ("BF16")
	IndexDType string   // sparse layouts: the stored index dtype ("<i4", "<i8", "|u1")
	Notes      []string // canonicalizations and conversions done while reading (empty when none)
	// Overflow is set when finite float64 values beyond float32's range (±3.4e38) were
	// read as ±Inf (Notes says so too): the matrix no longer holds what the file does.
	Overflow bool
}

const overflowNote = "some finite float64 values overflowed to ±Inf in float32"

// DenseNPZName and DenseSafetensorsName are the array/tensor names SaveMatrix gives a Dense in .npz and
// .safetensors files ("arr_0" is what numpy.savez names its first positional array).
const (
	DenseNPZName         = "arr_0"
	DenseSafetensorsName = "weight"
)

// LoadMatrix reads a weight matrix from path, detecting the container from its first
// bytes (not its extension):
//   - .npy: a Dense (name must be empty);
//   - .npz: with name, that array as a Dense (as a DenseLP, not widened, when it holds
//     bf16 bits '<u2' or int8 '|i1' with its row scales name+LPScaleSuffix); else scipy
//     CSR/BSR or sparsegen N:M when a "format" array is present, else the single array (or
//     the one int8 array and its scales) the same way;
//   - safetensors: the tensor called name, or the only tensor when name is empty.
//
// Info reports the container, layout, stored dtypes and any canonicalization.
func LoadMatrix(path, name string) (formats.Matrix, Info, error) {
	f, size, err := openSized(path)
	if err != nil {
		return nil, Info{}, err
	}
	defer f.Close()
	m, info, err := ReadMatrix(f, size, name)
	if err != nil {
		return nil, Info{}, fmt.Errorf("%s: %w", path, err)
	}
	info.Path = path
	return m, info, nil
}

// SplitTensorArg splits a FILE[:TENSOR] argument into LoadMatrix's path and name; a path
// that holds ':' is taken whole when a file of that name exists.
func SplitTensorArg(arg string) (path, name string) {
	if i := strings.LastIndex(arg, ":"); i > 0 {
		if _, err := os.Stat(arg); err != nil {
			return arg[:i], arg[i+1:]
		}
	}
	return arg, ""
}

// ReadMatrix is LoadMatrix over r (size bytes).
func ReadMatrix(r io.ReaderAt, size int64, name string) (formats.Matrix, Info, error) {
	var head [9]byte
	n, _ := r.ReadAt(head[:], 0)
	h := head[:n]
	switch {
	case bytes.HasPrefix(h, []byte(npyMagic)):
		if name != "" {
			return nil, Info{}, bad("npy: a .npy holds one unnamed array; got name %q", name)
		}
		return ReadNPY(r, size)
	case bytes.HasPrefix(h, []byte("PK\x03\x04")) || bytes.HasPrefix(h, []byte("PK\x05\x06")):
		return ReadNPZMatrix(r, size, name)
	case n == 9 && h[8] == '{' && binary.LittleEndian.Uint64(h[:8]) <= uint64(size):
		s, err := OpenSafetensors(r, size)
		if err != nil {
			return nil, Info{}, err
		}
		if name == "" {
			if len(s.tensors) != 1 {
				return nil, Info{}, bad("safetensors: %d tensors (%s); name the one to read", len(s.tensors), strings.Join(s.Names(), ", "))
			}
			name = s.tensors[0].info.Name
		}
		return s.Dense(name)
	}
	return nil, Info{}, bad("not a .npy, .npz or safetensors file")
}

// SaveMatrix writes m to path (atomically: a temporary file renamed into place), choosing
// the layout from the extension and the format:
//   - .npy: a Dense as '<f4';
//   - .npz: CSR and BSR in scipy.sparse's layout (a CSRLP or BSRLP too, its data in its
//     own dtype: WriteCSRLP, WriteBSRLP), NM in sparsegen's layout (an NMLP too,
//     WriteNMLP), a Dense as
//     the single array "arr_0", a DenseLP in its own dtype as "arr_0" (WriteDenseLP: bf16
//     bits '<u2', f16 '<f2', int8 '|i1' plus float32 "arr_0_scale"); deflate-compressed (as
//     scipy's save_npz default). A ragged BSR is refused with ErrRaggedBSR (save it as CSR);
//   - .safetensors: a Dense as the F32 tensor "weight".
//
// Sparse formats are never densified silently: .npy and .safetensors refuse them.
func SaveMatrix(path string, m formats.Matrix) error {
	ext := strings.ToLower(filepath.Ext(path))
	var write func(io.Writer) error
	switch ext {
	case ".npy", ".safetensors":
		d, ok := m.(*formats.Dense)
		if !ok {
			return fmt.Errorf("fileio: %s holds dense arrays only; save a %T as .npz (or convert with ToDense)", ext, m)
		}
		if ext == ".npy" {
			write = func(w io.Writer) error { return WriteNPY(w, d) }
		} else {
			write = func(w io.Writer) error {
				return WriteSafetensors(w, []Tensor{{Name: DenseSafetensorsName, Data: d}}, nil)
			}
		}
	case ".npz":
		switch t := m.(type) {
		case *formats.Dense:
			write = func(w io.Writer) error {
				zw := NewNPZWriter(w, true)
				if err := zw.WriteDense(DenseNPZName, t); err != nil {
					return err
				}
				return zw.Close()
			}
		case *formats.DenseLP: // kept in its dtype (WriteDenseLP; NPZ.DenseLP reads it back)
			write = func(w io.Writer) error {
				zw := NewNPZWriter(w, true)
				if err := zw.WriteDenseLP(DenseNPZName, t); err != nil {
					return err
				}
				return zw.Close()
			}
		case *formats.CSR:
			write = func(w io.Writer) error { return WriteCSR(w, t, true) }
		case *formats.CSRLP: // kept in its dtype (WriteCSRLP; NPZ.Matrix reads it back)
			write = func(w io.Writer) error { return WriteCSRLP(w, t, true) }
		case *formats.BSR:
			if err := t.Validate(); err != nil {
				return err
			}
			if t.Rows%t.R != 0 || t.Cols%t.C != 0 {
				return fmt.Errorf("%w: %s has shape %d×%d, block %d×%d", ErrRaggedBSR, path, t.Rows, t.Cols, t.R, t.C)
			}
			write = func(w io.Writer) error { return WriteBSR(w, t, true) }
		case *formats.BSRLP: // kept in its dtype (WriteBSRLP; NPZ.Matrix reads it back)
			if err := t.Validate(); err != nil {
				return err
			}
			if t.Rows%t.R != 0 || t.Cols%t.C != 0 {
				return fmt.Errorf("%w: %s has shape %d×%d, block %d×%d", ErrRaggedBSR, path, t.Rows, t.Cols, t.R, t.C)
			}
			write = func(w io.Writer) error { return WriteBSRLP(w, t, true) }
		case *formats.NM:
			write = func(w io.Writer) error { return WriteNM(w, t, true) }
		case *formats.NMLP: // kept in its dtype (WriteNMLP; NPZ.Matrix reads it back)
			write = func(w io.Writer) error { return WriteNMLP(w, t, true) }
		default:
			return fmt.Errorf("fileio: cannot save a %T", m)
		}
	default:
		return fmt.Errorf("fileio: %s: unknown extension %q (want .npy, .npz or .safetensors)", path, ext)
	}
	return writeFileAtomic(path, write)
}

// ListFile lists the arrays or tensors of a .npy (one entry with an empty name), .npz or
// safetensors file, reading headers only. container is "npy", "npz" or "safetensors".
// For an npz in scipy's or sparsegen's sparse layout it lists the component arrays
// ("data", "indices", …); LoadMatrix(path, "") reads the matrix they form.
func ListFile(path string) (container string, arrays []ArrayInfo, err error) {
	f, size, err := openSized(path)
	if err != nil {
		return "", nil, err
	}
	defer f.Close()
	var head [9]byte
	n, _ := f.ReadAt(head[:], 0)
	h := head[:n]
	switch {
	case bytes.HasPrefix(h, []byte(npyMagic)):
		hd, _, err := readNPYHeader(io.NewSectionReader(f, 0, size), size)
		if err != nil {
			return "", nil, fmt.Errorf("%s: %w", path, err)
		}
		return "npy", []ArrayInfo{{DType: hd.descr, Shape: hd.shape, Fortran: hd.fortran}}, nil
	case bytes.HasPrefix(h, []byte("PK\x03\x04")) || bytes.HasPrefix(h, []byte("PK\x05\x06")):
		z, err := OpenNPZ(f, size)
		if err == nil {
			arrays, err = z.List()
		}
		if err != nil {
			return "", nil, fmt.Errorf("%s: %w", path, err)
		}
		return "npz", arrays, nil
	case n == 9 && h[8] == '{':
		s, err := OpenSafetensors(f, size)
		if err != nil {
			return "", nil, fmt.Errorf("%s: %w", path, err)
		}
		return "safetensors", s.List(), nil
	}
	return "", nil, fmt.Errorf("%s: %w", path, bad("not a .npy, .npz or safetensors file"))
}
