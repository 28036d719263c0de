package fileio

import (
	"encoding/binary"
	"io"
	"math"
	"strings"

	"github.com/sparsegen/sparsegen/formats"
)

// Low-precision dense weights (formats.DenseLP) read and written without widening: the
// bytes stay as stored, so a bf16 checkpoint costs 2 bytes per weight in memory and in the
// kernels, not 4. Widening stays available (Safetensors.Dense, NPZ.Dense) and is the
// default everywhere else; nothing here converts values.

// DenseLP reads one BF16 or F16 tensor of rank 2 (rank 1 reads as 1×n) as stored: bf16 or
// f16 bit patterns, no widening. Other dtypes are refused (read them with Dense; convert
// explicitly with formats.DenseLPFromDense).
func (s *Safetensors) DenseLP(name string) (*formats.DenseLP, Info, error) {
	i, ok := s.byName[name]
	if !ok {
		return nil, Info{}, bad("safetensors: no tensor %q (have %s)", name, strings.Join(s.Names(), ", "))
	}
	t := s.tensors[i]
	var dt formats.DType
	switch t.info.DType {
	case "BF16":
		dt = formats.BF16
	case "F16":
		dt = formats.F16
	default:
		return nil, Info{}, bad("safetensors: tensor %q has dtype %s; DenseLP reads BF16 or F16 as stored (Dense widens any float)", name, t.info.DType)
	}
	rows, cols, err := matrixShape("safetensors", name, t.info.Shape)
	if err != nil {
		return nil, Info{}, err
	}
	raw, err := readExactly(io.NewSectionReader(s.r, s.base+t.begin, t.end-t.begin), t.end-t.begin) // size checked at open
	if err != nil {
		return nil, Info{}, bad("safetensors: reading tensor %q: %v", name, err)
	}
	d, err := formats.NewDenseLP16(dt, rows, cols, max(cols, 1), bits16(raw))
	if err != nil {
		return nil, Info{}, bad("safetensors: tensor %q: %v", name, err)
	}
	return d, Info{Container: "safetensors", Layout: "dense", Name: name, DType: t.info.DType}, nil
}

func matrixShape(container, name string, shape []int) (int, int, error) {
	switch len(shape) {
	case 1:
		return 1, shape[0], nil
	case 2:
		return shape[0], shape[1], nil
	}
	return 0, 0, bad("%s: %q has shape %v; want 2-D (or 1-D as 1×n)", container, name, shape)
}

func bits16(raw []byte) []uint16 {
	out := make([]uint16, len(raw)/2)
	for i := range out {
		out[i] = binary.LittleEndian.Uint16(raw[2*i:])
	}
	return out
}

// LPScaleSuffix names the row scales of an int8 DenseLP in an .npz: array name+LPScaleSuffix.
const LPScaleSuffix = "_scale"

var (
	dtU2 = dtype{kind: 'u', size: 2}
	dtF2 = dtype{kind: 'f', size: 2}
	dtI1 = dtype{kind: 'i', size: 1}
)

// WriteDenseLP adds d as a 2-D array in its own dtype: f16 as numpy float16 ('<f2'), bf16
// as its bit patterns in a uint16 array ('<u2', numpy has no bfloat16: the usual uint16
// view), int8 as '|i1' plus its row scales as float32 array name+LPScaleSuffix.
// NPZ.DenseLP reads all three back unchanged.
func (w *NPZWriter) WriteDenseLP(name string, d *formats.DenseLP) error {
	if err := d.Validate(); err != nil {
		return err
	}
	m, k := d.Rows, d.Cols
	switch d.DType {
	case formats.I8:
		raw := make([]byte, m*k)
		for i := 0; i < m; i++ {
			for j, q := range d.I8[i*d.Stride : i*d.Stride+k] {
				raw[i*k+j] = byte(q)
			}
		}
		if err := w.add(name, dtI1, []int{m, k}, raw); err != nil {
			return err
		}
		sc := make([]byte, 4*m)
		for i, s := range d.Scale {
			binary.LittleEndian.PutUint32(sc[4*i:], math.Float32bits(s))
		}
		return w.add(name+LPScaleSuffix, dtF32, []int{m}, sc)
	default:
		raw := make([]byte, 2*m*k)
		for i := 0; i < m; i++ {
			for j, b := range d.Bits[i*d.Stride : i*d.Stride+k] {
				binary.LittleEndian.PutUint16(raw[2*(i*k+j):], b)
			}
		}
		dt := dtF2
		if d.DType == formats.BF16 {
			dt = dtU2
		}
		return w.add(name, dt, []int{m, k}, raw)
	}
}

// DenseLP reads a 2-D array (1-D as 1×K) as stored, no widening: '<f2' as f16, '<u2' as bf16
// bit patterns (WriteDenseLP's convention), '|i1' as int8 with its float32 row scales from
// array name+LPScaleSuffix. Fortran-order arrays are refused.
func (z *NPZ) DenseLP(name string) (*formats.DenseLP, Info, error) {
	a, err := z.array(name)
	if err != nil {
		return nil, Info{}, err
	}
	if a.fortran {
		return nil, Info{}, bad("npz: %q is in Fortran order; DenseLP reads C order only", name)
	}
	rows, cols, err := matrixShape("npz", name, a.shape)
	if err != nil {
		return nil, Info{}, err
	}
	info := Info{Container: "npz", Layout: "dense", Name: name, DType: a.dt.String()}
	stride := max(cols, 1)
	var d *formats.DenseLP
	switch {
	case a.dt == dtF2 || a.dt == dtU2:
		t := formats.F16
		if a.dt == dtU2 {
			t = formats.BF16
		}
		d, err = formats.NewDenseLP16(t, rows, cols, stride, bits16(a.raw))
	case a.dt == dtI1:
		s, err := z.array(name + LPScaleSuffix)
		if err != nil {
			return nil, Info{}, bad("npz: int8 %q needs its row scales %q: %v", name, name+LPScaleSuffix, err)
		}
		if s.dt != dtF32 || len(s.shape) != 1 {
			return nil, Info{}, bad("npz: scales %q must be a 1-D float32 array, not %v of %v", name+LPScaleSuffix, s.shape, s.dt)
		}
		q := make([]int8, len(a.raw))
		for i, b := range a.raw {
			q[i] = int8(b)
		}
		sc := make([]float32, len(s.raw)/4)
		for i := range sc {
			sc[i] = math.Float32frombits(binary.LittleEndian.Uint32(s.raw[4*i:]))
		}
		d, err = formats.NewDenseI8(rows, cols, stride, q, sc)
		if err != nil {
			return nil, Info{}, bad("npz: %q: %v", name, err)
		}
		return d, info, nil
	default:
		return nil, Info{}, bad("npz: %q has dtype %v; DenseLP reads <f2 (f16), <u2 (bf16 bits) or |i1 (int8 + scales)", name, a.dt)
	}
	if err != nil {
		return nil, Info{}, bad("npz: %q: %v", name, err)
	}
	return d, info, nil
}
