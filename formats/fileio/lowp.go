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
	bits, q := d.Bits, d.I8
	if d.Stride != k && m*k > 0 { // compact the rows
		if d.DType == formats.I8 {
			q = make([]int8, 0, m*k)
			for i := 0; i < m; i++ {
				q = append(q, d.I8[i*d.Stride:i*d.Stride+k]...)
			}
		} else {
			bits = make([]uint16, 0, m*k)
			for i := 0; i < m; i++ {
				bits = append(bits, d.Bits[i*d.Stride:i*d.Stride+k]...)
			}
		}
	}
	if d.DType == formats.I8 {
		q = q[:m*k]
	} else {
		bits = bits[:m*k]
	}
	return w.addLP(name, []int{m, k}, d.DType, bits, q, d.Scale)
}

// addLP adds low-precision values (exactly the slice of t, in order) as array name of the
// given shape in WriteDenseLP's convention: f16 '<f2', bf16 bits '<u2', int8 '|i1' plus the
// float32 scales as array name+LPScaleSuffix.
func (w *NPZWriter) addLP(name string, shape []int, t formats.DType, bits []uint16, q []int8, scale []float32) error {
	if t == formats.I8 {
		raw := make([]byte, len(q))
		for i, v := range q {
			raw[i] = byte(v)
		}
		if err := w.add(name, dtI1, shape, raw); err != nil {
			return err
		}
		return w.add(name+LPScaleSuffix, dtF32, []int{len(scale)}, encodeFloats(dtF32, scale))
	}
	raw := make([]byte, 2*len(bits))
	for i, b := range bits {
		binary.LittleEndian.PutUint16(raw[2*i:], b)
	}
	dt := dtF2
	if t == formats.BF16 {
		dt = dtU2
	}
	return w.add(name, dt, shape, raw)
}

// lpDType is the formats.DType an npz array of numpy dtype dt holds in WriteDenseLP's
// convention ('<f2' f16, '<u2' bf16 bits, '|i1' int8; big-endian forms too), and false for
// any other dtype.
func lpDType(dt dtype) (formats.DType, bool) {
	dt.big = false
	switch dt {
	case dtF2:
		return formats.F16, true
	case dtU2:
		return formats.BF16, true
	case dtI1:
		return formats.I8, true
	}
	return 0, false
}

// lpArray is an array read in its stored low-precision dtype: the values of t in bits
// (bf16, f16) or q (int8, with scale).
type lpArray struct {
	*array
	t     formats.DType
	bits  []uint16
	q     []int8
	scale []float32
}

// readLP reads array name as stored, no widening (WriteDenseLP's convention): '<f2' as
// f16, '<u2' as bf16 bit patterns, '|i1' as int8 with its scales from array
// name+LPScaleSuffix, which must be a 1-D float32 array of finite values (a NaN or ±Inf
// scale would poison a whole row, and no quantiser writes one). Their count is the
// caller's to check against its rows.
func (z *NPZ) readLP(name string) (*lpArray, error) {
	a, err := z.array(name)
	if err != nil {
		return nil, err
	}
	t, ok := lpDType(a.dt)
	if !ok {
		return nil, bad("npz: %q has dtype %v; a low-precision array is <f2 (f16), <u2 (bf16 bits) or |i1 (int8 + scales)", name, a.dt)
	}
	out := &lpArray{array: a, t: t}
	if t != formats.I8 {
		out.bits = make([]uint16, len(a.raw)/2)
		for i := range out.bits {
			out.bits[i] = a.dt.order().Uint16(a.raw[2*i:])
		}
		return out, nil
	}
	sn := name + LPScaleSuffix
	s, err := z.array(sn)
	if err != nil {
		return nil, bad("npz: int8 %q needs its row scales %q: %v", name, sn, err)
	}
	if s.dt != dtF32 || len(s.shape) != 1 {
		return nil, bad("npz: scales %q must be a 1-D float32 array, not %v of %v", sn, s.shape, s.dt)
	}
	out.q = make([]int8, len(a.raw))
	for i, b := range a.raw {
		out.q[i] = int8(b)
	}
	out.scale = make([]float32, len(s.raw)/4)
	for i := range out.scale {
		v := math.Float32frombits(binary.LittleEndian.Uint32(s.raw[4*i:]))
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, bad("npz: scales %q: scale %d is %v; row scales must be finite", sn, i, v)
		}
		out.scale[i] = v
	}
	return out, nil
}

// DenseLP reads a 2-D array (1-D as 1×K) as stored, no widening: '<f2' as f16, '<u2' as bf16
// bit patterns (WriteDenseLP's convention), '|i1' as int8 with its float32 row scales from
// array name+LPScaleSuffix (finite). Fortran-order arrays are refused.
func (z *NPZ) DenseLP(name string) (*formats.DenseLP, Info, error) {
	a, err := z.readLP(name)
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
	if a.t == formats.I8 {
		d, err = formats.NewDenseI8(rows, cols, stride, a.q, a.scale)
	} else {
		d, err = formats.NewDenseLP16(a.t, rows, cols, stride, a.bits)
	}
	if err != nil {
		return nil, Info{}, bad("npz: %q: %v", name, err)
	}
	return d, info, nil
}
