package fileio

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
)

// dtype is a numpy array-protocol type string parsed: kind 'f' float, 'i' signed, 'u'
// unsigned, 'b' bool, 'U' UCS-4 string, 'S' byte string; size in bytes per element.
type dtype struct {
	kind byte
	size int
	big  bool // big-endian
}

// maxStringChars bounds the length of a 'U'/'S' dtype we accept (we only read short tags).
const maxStringChars = 4096

// parseDescr parses a numpy descr such as "<f4", "|u1", ">i8", "<U3", "|S3". Only simple,
// fixed-size types that sparsegen reads are accepted; structured, object, complex, datetime
// and native-order ('=') types are refused.
func parseDescr(s string) (dtype, error) {
	if len(s) < 3 {
		return dtype{}, fmt.Errorf("dtype %q is not a simple numpy type", s)
	}
	var d dtype
	switch s[0] {
	case '<':
	case '>':
		d.big = true
	case '|':
	default:
		return dtype{}, fmt.Errorf("dtype %q: byte order %q not one of '<', '>', '|'", s, s[0])
	}
	d.kind = s[1]
	digits := s[2:]
	for _, c := range []byte(digits) {
		if c < '0' || c > '9' {
			return dtype{}, fmt.Errorf("dtype %q: bad size %q", s, digits)
		}
	}
	if len(digits) > 6 {
		return dtype{}, fmt.Errorf("dtype %q: size too large", s)
	}
	n, err := strconv.Atoi(digits)
	if err != nil {
		return dtype{}, fmt.Errorf("dtype %q: bad size %q", s, digits)
	}
	switch d.kind {
	case 'f':
		if n != 2 && n != 4 && n != 8 {
			return dtype{}, fmt.Errorf("dtype %q: float size %d not 2, 4 or 8", s, n)
		}
		d.size = n
	case 'i', 'u':
		if n != 1 && n != 2 && n != 4 && n != 8 {
			return dtype{}, fmt.Errorf("dtype %q: integer size %d not 1, 2, 4 or 8", s, n)
		}
		d.size = n
	case 'b':
		if n != 1 {
			return dtype{}, fmt.Errorf("dtype %q: bool size %d not 1", s, n)
		}
		d.size = 1
	case 'U':
		if n < 1 || n > maxStringChars {
			return dtype{}, fmt.Errorf("dtype %q: string length %d outside 1…%d", s, n, maxStringChars)
		}
		d.size = 4 * n
	case 'S':
		if n < 1 || n > maxStringChars {
			return dtype{}, fmt.Errorf("dtype %q: string length %d outside 1…%d", s, n, maxStringChars)
		}
		d.size = n
	default:
		return dtype{}, fmt.Errorf("dtype %q: kind %q not supported (want f, i, u, b, U or S)", s, d.kind)
	}
	if s[0] == '|' && d.size != 1 && d.kind != 'S' {
		return dtype{}, fmt.Errorf("dtype %q: '|' (no byte order) only fits one-byte types", s)
	}
	if d.kind == 'S' && s[0] != '|' {
		return dtype{}, fmt.Errorf("dtype %q: byte strings use '|'", s)
	}
	return d, nil
}

// String renders the numpy descr.
func (d dtype) String() string {
	o := byte('<')
	if d.big {
		o = '>'
	}
	n := d.size
	switch d.kind {
	case 'U':
		n = d.size / 4
	case 'S':
		o = '|'
	}
	if d.size == 1 && d.kind != 'U' {
		o = '|'
	}
	return fmt.Sprintf("%c%c%d", o, d.kind, n)
}

func (d dtype) order() binary.ByteOrder {
	if d.big {
		return binary.BigEndian
	}
	return binary.LittleEndian
}

func (d dtype) isFloat() bool { return d.kind == 'f' }
func (d dtype) isInt() bool   { return d.kind == 'i' || d.kind == 'u' }

var (
	dtF32 = dtype{kind: 'f', size: 4}
	dtI32 = dtype{kind: 'i', size: 4}
	dtI64 = dtype{kind: 'i', size: 8}
	dtU8  = dtype{kind: 'u', size: 1}
)

// floatsFrom converts len(dst) elements of raw (dtype d: a float type, or kind 'B' for
// bfloat16) to float32. It reports whether a finite float64 value overflowed to ±Inf.
// The byte order is resolved once, outside the loops (a concrete type, so the loads inline).
func floatsFrom(d dtype, raw []byte, dst []float32) (overflow bool) {
	if d.big {
		return floatsFromOrder(binary.BigEndian, d, raw, dst)
	}
	return floatsFromOrder(binary.LittleEndian, d, raw, dst)
}

type byteOrder interface {
	Uint16([]byte) uint16
	Uint32([]byte) uint32
	Uint64([]byte) uint64
}

func floatsFromOrder[O byteOrder](o O, d dtype, raw []byte, dst []float32) (overflow bool) {
	switch d.size {
	case 2:
		if d.kind == 'B' { // bfloat16 (safetensors only)
			for i := range dst {
				dst[i] = math.Float32frombits(uint32(o.Uint16(raw[2*i:])) << 16)
			}
			return false
		}
		for i := range dst {
			dst[i] = f16ToF32(o.Uint16(raw[2*i:]))
		}
	case 4:
		raw = raw[:4*len(dst)]
		for i := range dst {
			dst[i] = math.Float32frombits(o.Uint32(raw[4*i:]))
		}
	case 8:
		for i := range dst {
			v := math.Float64frombits(o.Uint64(raw[8*i:]))
			f := float32(v)
			if math.IsInf(float64(f), 0) && !math.IsInf(v, 0) {
				overflow = true
			}
			dst[i] = f
		}
	}
	return overflow
}

// intAt returns element i of an integer array as int64; ok is false for a uint64 value
// above MaxInt64.
func intAt(d dtype, raw []byte, i int) (int64, bool) {
	o := d.order()
	switch d.size {
	case 1:
		if d.kind == 'i' {
			return int64(int8(raw[i])), true
		}
		return int64(raw[i]), true
	case 2:
		v := o.Uint16(raw[2*i:])
		if d.kind == 'i' {
			return int64(int16(v)), true
		}
		return int64(v), true
	case 4:
		v := o.Uint32(raw[4*i:])
		if d.kind == 'i' {
			return int64(int32(v)), true
		}
		return int64(v), true
	default:
		v := o.Uint64(raw[8*i:])
		if d.kind == 'i' {
			return int64(v), true
		}
		if v > math.MaxInt64 {
			return 0, false
		}
		return int64(v), true
	}
}

// f16ToF32 converts an IEEE 754 binary16 value exactly.
func f16ToF32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	man := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // Inf or NaN; keep the payload's top bits
		return math.Float32frombits(sign | 0x7f800000 | man<<13)
	case exp == 0:
		if man == 0 {
			return math.Float32frombits(sign)
		}
		// subnormal: man · 2⁻²⁴
		f := float32(man) * (1.0 / (1 << 24))
		if sign != 0 {
			f = -f
		}
		return f
	default:
		return math.Float32frombits(sign | (exp+127-15)<<23 | man<<13)
	}
}

// f32ToF16 rounds to the nearest binary16, ties to even; overflow gives ±Inf, NaN stays NaN.
func f32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23) & 0xff
	man := b & 0x7fffff
	if exp == 0xff {
		if man != 0 {
			return sign | 0x7e00 | uint16(man>>13)
		}
		return sign | 0x7c00
	}
	e := exp - 127 + 15
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e <= 0 {
		// subnormal or zero in half: value = (1.man) · 2^(exp-127); half unit is 2^-24.
		if e < -10 {
			return sign // rounds to zero (below half of the smallest subnormal)
		}
		m := man | 0x800000 // 24-bit significand
		shift := uint32(14 - e)
		half := uint32(1) << (shift - 1)
		r := m >> shift
		rem := m & (1<<shift - 1)
		if rem > half || (rem == half && r&1 == 1) {
			r++
		}
		return sign | uint16(r)
	}
	r := uint32(e)<<10 | man>>13
	rem := man & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && r&1 == 1) {
		r++ // may carry into the exponent, up to Inf: correct
	}
	return sign | uint16(r)
}

// bf16ToF32 converts bfloat16 exactly.
func bf16ToF32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// f32ToBF16 rounds to the nearest bfloat16, ties to even; NaN stays a quiet NaN.
func f32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 {
		return uint16(b>>16) | 0x40
	}
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}
