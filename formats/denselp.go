package formats

import (
	"fmt"
	"math"
)

// DType is how a DenseLP stores its weights.
type DType uint8

const (
	BF16 DType = iota + 1 // bfloat16 bit patterns (the high half of a float32)
	F16                   // IEEE 754 binary16 bit patterns
	I8                    // int8 with one float32 scale per row: w = Scale[row]·q
)

var dtypeNames = [...]string{"", "bf16", "f16", "i8"}

func (t DType) String() string {
	if t >= BF16 && t <= I8 {
		return dtypeNames[t]
	}
	return fmt.Sprintf("DType(%d)", t)
}

// ParseDType reads "bf16", "f16" or "i8".
func ParseDType(s string) (DType, error) {
	for t := BF16; t <= I8; t++ {
		if dtypeNames[t] == s {
			return t, nil
		}
	}
	return 0, fmt.Errorf("formats: unknown dtype %q (want bf16, f16 or i8)", s)
}

// Bytes is the size of one stored weight.
func (t DType) Bytes() int {
	if t == I8 {
		return 1
	}
	return 2
}

// DenseLP is a row-major rows×cols weight matrix stored in low precision: bf16 or f16 bit
// patterns in Bits, or int8 values in I8 with one scale per row in Scale (symmetric,
// weight-only quantisation: W[i, j] = Scale[i]·I8[i·Stride+j]). Exactly the slices of its
// DType are set. Kernels accumulate in float32; nothing converts a Dense to a DenseLP
// unless asked (DenseLPFromDense), and ToDense widens.
type DenseLP struct {
	Rows, Cols int
	Stride     int
	DType      DType
	Bits       []uint16  // BF16, F16
	I8         []int8    // I8
	Scale      []float32 // I8: one per row
}

var _ Matrix = (*DenseLP)(nil)

// NewDenseLP16 wraps bf16 or f16 bit patterns (row-major, stride ≥ cols) after validating
// them. It does not copy bits.
func NewDenseLP16(t DType, rows, cols, stride int, bits []uint16) (*DenseLP, error) {
	d := &DenseLP{Rows: rows, Cols: cols, Stride: stride, DType: t, Bits: bits}
	return d, d.Validate()
}

// NewDenseI8 wraps int8 weights and their row scales after validating them. It does not
// copy.
func NewDenseI8(rows, cols, stride int, q []int8, scale []float32) (*DenseLP, error) {
	d := &DenseLP{Rows: rows, Cols: cols, Stride: stride, DType: I8, I8: q, Scale: scale}
	return d, d.Validate()
}

func (d *DenseLP) format() string {
	if d == nil {
		return "dense"
	}
	return "dense " + d.DType.String()
}

// Validate checks the dtype, the shape, the stride, that the data slice of the dtype holds
// every row (and the other is empty) and, for I8, that there is one scale per row.
func (d *DenseLP) Validate() error {
	if d == nil {
		return invalid("dense", "", "nil matrix")
	}
	f := d.format()
	if d.DType < BF16 || d.DType > I8 {
		return invalid(f, "", "unknown dtype %d", d.DType)
	}
	if err := checkShape(f, d.Rows, d.Cols); err != nil {
		return err
	}
	if d.Stride < d.Cols || d.Stride < 0 {
		return invalid(f, "", "stride %d < cols %d", d.Stride, d.Cols)
	}
	have, err := lpSlices(f, d.DType, d.Rows, d.Bits, d.I8, d.Scale)
	if err != nil {
		return err
	}
	if d.Rows == 0 || d.Cols == 0 {
		return nil
	}
	need, ok := MulChecked(int64(d.Rows-1), int64(d.Stride))
	if !ok {
		return invalid(f, "", "rows·stride overflows")
	}
	need += int64(d.Cols)
	if int64(have) < need {
		return invalid(f, "", "data has %d values, %d×%d with stride %d needs %d", have, d.Rows, d.Cols, d.Stride, need)
	}
	return nil
}

// lpSlices checks that exactly the value slices of dtype t are set (Bits for bf16 and f16;
// I8 and one scale per row of rows for int8) and returns how many values they hold.
func lpSlices(f string, t DType, rows int, bits []uint16, q []int8, scale []float32) (int, error) {
	if t == I8 {
		if len(bits) != 0 {
			return 0, invalid(f, "", "Bits is set (int8 weights are in I8)")
		}
		if len(scale) != rows {
			return 0, invalid(f, "", "%d scales for %d rows", len(scale), rows)
		}
		return len(q), nil
	}
	if len(q) != 0 || len(scale) != 0 {
		return 0, invalid(f, "", "I8 or Scale is set (%s weights are in Bits)", t)
	}
	return len(bits), nil
}

// Shape returns (rows, cols).
func (d *DenseLP) Shape() (int, int) { return d.Rows, d.Cols }

// NNZ counts the stored weights that are not ±0 (NaN counts; an int8 row with scale 0
// still counts its nonzero q).
func (d *DenseLP) NNZ() int64 {
	var n int64
	for i := 0; i < d.Rows && d.Cols > 0; i++ { // M×0: the data may be empty
		o := i * d.Stride
		if d.DType == I8 {
			n += countLPNonzero(nil, d.I8[o:o+d.Cols])
		} else {
			n += countLPNonzero(d.Bits[o:o+d.Cols], nil)
		}
	}
	return n
}

// countLPNonzero counts the 16-bit patterns in bits that are not ±0 (NaN counts) plus the
// nonzero int8 values in q.
func countLPNonzero(bits []uint16, q []int8) int64 {
	var n int64
	for _, b := range bits {
		if b&0x7fff != 0 {
			n++
		}
	}
	for _, v := range q {
		if v != 0 {
			n++
		}
	}
	return n
}

// RowFloat32 widens row i into dst (length ≥ Cols) and returns dst[:Cols]: bf16 and f16
// exactly, int8 as Scale[i]·q (one float32 rounding).
func (d *DenseLP) RowFloat32(i int, dst []float32) []float32 {
	dst = dst[:d.Cols]
	if d.Cols == 0 {
		return dst // the data may be empty
	}
	o := i * d.Stride
	if d.DType == I8 {
		widenLP(d.DType, nil, d.I8[o:o+d.Cols], d.Scale[i], dst)
	} else {
		widenLP(d.DType, d.Bits[o:o+d.Cols], nil, 0, dst)
	}
	return dst
}

// widenLP widens values of dtype t into dst: bf16 or f16 patterns from bits exactly, or
// the int8 values q as s·q (one float32 rounding).
func widenLP(t DType, bits []uint16, q []int8, s float32, dst []float32) {
	switch t {
	case BF16:
		for j, b := range bits {
			dst[j] = BF16ToFloat32(b)
		}
	case F16:
		for j, b := range bits {
			dst[j] = F16ToFloat32(b)
		}
	case I8:
		for j, v := range q {
			dst[j] = s * float32(v)
		}
	}
}

// ToDense widens the matrix into a new float32 Dense (stride = cols); see RowFloat32.
func (d *DenseLP) ToDense() *Dense {
	out := &Dense{Rows: d.Rows, Cols: d.Cols, Stride: max(d.Cols, 1), Data: make([]float32, d.Rows*d.Cols)}
	for i := 0; i < d.Rows; i++ {
		d.RowFloat32(i, out.Data[i*d.Cols:])
	}
	return out
}

// DenseLPFromDense converts w to dtype t, on request only: bf16 and f16 round to nearest,
// ties to even (f16 overflows to ±Inf, keeps subnormals; NaN stays NaN); int8 takes
// Scale[i] = max|w[i, :]|/127 per row and q = w/Scale rounded to nearest even, so
// |q| ≤ 127 (a zero row gets scale 0). int8 cannot hold NaN or ±Inf: such a weight is an
// error, never a silent change.
func DenseLPFromDense(w *Dense, t DType) (*DenseLP, error) {
	if err := w.Validate(); err != nil {
		return nil, err
	}
	m, k := w.Rows, w.Cols
	d := &DenseLP{Rows: m, Cols: k, Stride: max(k, 1), DType: t}
	switch t {
	case BF16, F16:
		d.Bits = make([]uint16, m*k)
		for i := 0; i < m; i++ {
			round16(t, w.Row(i), d.Bits[i*k:i*k+k])
		}
	case I8:
		d.I8, d.Scale = make([]int8, m*k), make([]float32, m)
		for i := 0; i < m; i++ {
			s, bad := quantizeI8(w.Row(i), d.I8[i*k:i*k+k])
			if bad >= 0 {
				return nil, invalid("dense i8", fmt.Sprintf("row %d, column %d", i, bad), "%v cannot be quantised to int8", w.Row(i)[bad])
			}
			d.Scale[i] = s
		}
	default:
		return nil, fmt.Errorf("formats: cannot convert to %v", t)
	}
	return d, d.Validate()
}

// round16 rounds vals to bf16 or f16 (t) bit patterns in dst, to nearest even.
func round16(t DType, vals []float32, dst []uint16) {
	conv := Float32ToBF16
	if t == F16 {
		conv = Float32ToF16
	}
	for j, v := range vals {
		dst[j] = conv(v)
	}
}

// quantizeI8 is the int8 quantisation of one row (symmetric, weight-only): it returns the
// scale max|v|/127 and writes q = v/scale rounded to nearest even into dst (all zero and
// scale 0 for a zero row). A NaN or ±Inf has no int8 value: it returns the index of the
// first such value (and dst is then incomplete), else −1.
func quantizeI8(vals []float32, dst []int8) (float32, int) {
	var amax float32
	for j, v := range vals {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return 0, j
		}
		amax = max(amax, float32(math.Abs(float64(v))))
	}
	if amax == 0 {
		clear(dst[:len(vals)])
		return 0, -1
	}
	s := amax / 127
	for j, v := range vals {
		q := math.RoundToEven(float64(v) / float64(s))
		dst[j] = int8(max(-127, min(127, q)))
	}
	return s, -1
}

// Float64To16 rounds v to the nearest bf16 or f16 (t) bit pattern, ties to even, with one
// rounding: through float32 rounded to odd, which keeps enough bits that the float32 step
// is no second rounding (f16 overflows to ±Inf; NaN stays NaN). It merges duplicates that
// were summed in float64.
func Float64To16(t DType, v float64) uint16 {
	f := float32(v)
	if float64(f) != v && !math.IsInf(float64(f), 0) && !math.IsNaN(v) {
		if math.Abs(float64(f)) > math.Abs(v) {
			f = math.Nextafter32(f, 0)
		}
		f = math.Float32frombits(math.Float32bits(f) | 1)
	}
	if t == F16 {
		return Float32ToF16(f)
	}
	return Float32ToBF16(f)
}

// BF16ToFloat32 widens a bfloat16 bit pattern (exact).
func BF16ToFloat32(b uint16) float32 { return math.Float32frombits(uint32(b) << 16) }

// Float32ToBF16 rounds to the nearest bfloat16, ties to even; NaN stays a (quiet) NaN.
func Float32ToBF16(v float32) uint16 {
	u := math.Float32bits(v)
	if u&0x7fffffff > 0x7f800000 { // NaN: keep the sign and quiet it
		return uint16(u>>16) | 0x0040
	}
	u += 0x7fff + (u>>16)&1
	return uint16(u >> 16)
}

// F16ToFloat32 widens an IEEE binary16 bit pattern (exact, subnormals included).
func F16ToFloat32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	e := uint32(h>>10) & 0x1f
	f := uint32(h & 0x3ff)
	switch {
	case e == 0x1f: // Inf, NaN (payload kept in the high bits)
		return math.Float32frombits(sign | 0x7f800000 | f<<13)
	case e != 0:
		return math.Float32frombits(sign | (e+112)<<23 | f<<13)
	case f == 0:
		return math.Float32frombits(sign)
	}
	// Subnormal: f·2⁻²⁴, exact in float32.
	v := float32(f) * (1.0 / (1 << 24))
	return math.Float32frombits(sign | math.Float32bits(v))
}

// Float32ToF16 rounds to the nearest binary16, ties to even: overflow to ±Inf, subnormals
// kept, NaN stays a (quiet) NaN.
func Float32ToF16(v float32) uint16 {
	u := math.Float32bits(v)
	sign := uint16(u>>16) & 0x8000
	a := u & 0x7fffffff
	switch {
	case a > 0x7f800000:
		return sign | 0x7e00 | uint16(a>>13)&0x1ff
	case a >= 0x477ff000: // ≥ 65520 rounds to Inf (65504 is the largest finite)
		return sign | 0x7c00
	case a >= 0x38800000: // normal in f16 (≥ 2⁻¹⁴)
		r := a - 0x38000000 // rebias exponent 127 → 15
		r += 0xfff + (r>>13)&1
		return sign | uint16(r>>13)
	}
	// Subnormal or zero in f16: the value in units of 2⁻²⁴, rounded to nearest even.
	// Exact: |v| < 2⁻¹⁴ so v·2²⁴ < 1024 is computed without rounding in float64.
	q := math.RoundToEven(float64(math.Float32frombits(a)) * (1 << 24))
	return sign | uint16(q)
}
