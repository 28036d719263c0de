// Package neon is a typed emitter of arm64 ASIMD ("NEON") assembly in Go's assembler syntax.
//
// Avo has no arm64 backend, so sparsegen's arm64 kernels are written through this package:
// typed registers with arrangements and lanes, labels, Go's native mnemonics where Go's
// arm64 assembler has them, and WORD encodings (with the GNU mnemonic in a comment) where it
// does not. Every encoder range-checks its operands and records an error instead of writing
// a wrong instruction; Emitter.Err reports them all.
//
// Each emitted instruction also carries its GNU (binutils) spelling, so tests can assemble
// the same program with Go's assembler and with aarch64-linux-gnu-as and compare bytes.
package neon

import "fmt"

// Arr is a vector arrangement: element size and lane count.
type Arr uint8

const (
	B8 Arr = iota
	B16
	H4
	H8
	S2
	S4
	D1
	D2
)

var arrGo = [...]string{"B8", "B16", "H4", "H8", "S2", "S4", "D1", "D2"}
var arrGNU = [...]string{"8b", "16b", "4h", "8h", "2s", "4s", "1d", "2d"}

func (a Arr) valid() bool { return int(a) < len(arrGo) }

// String is the Go assembler's name of the arrangement (e.g. "S4").
func (a Arr) String() string {
	if !a.valid() {
		return fmt.Sprintf("Arr(%d)", a)
	}
	return arrGo[a]
}

// Size is the element size of the arrangement.
func (a Arr) Size() ElemSize { return ElemSize(a / 2) }

// Q reports whether the arrangement fills a whole 128-bit register.
func (a Arr) Q() bool { return a%2 == 1 }

// Bytes is the width of the arrangement: 8 or 16.
func (a Arr) Bytes() int {
	if a.Q() {
		return 16
	}
	return 8
}

// Lanes is the number of elements.
func (a Arr) Lanes() int { return a.Bytes() / a.Size().Bytes() }

// ElemSize is the size of one vector element.
type ElemSize uint8

const (
	SizeB ElemSize = iota // 8 bits
	SizeH                 // 16 bits
	SizeS                 // 32 bits
	SizeD                 // 64 bits
)

// Bytes is the element size in bytes.
func (s ElemSize) Bytes() int { return 1 << s }

// Lanes is the number of elements of this size in a 128-bit register.
func (s ElemSize) Lanes() int { return 16 >> s }

func (s ElemSize) goName() string  { return [...]string{"B", "H", "S", "D"}[s&3] }
func (s ElemSize) gnuName() string { return [...]string{"b", "h", "s", "d"}[s&3] }

// VReg is a SIMD&FP register V0..V31.
type VReg uint8

// V returns vector register n; it is range-checked where it is used.
func V(n int) VReg {
	if n < 0 || n > 255 {
		return 255
	}
	return VReg(n)
}

func (v VReg) valid() bool { return v < 32 }

// As returns the register with arrangement a.
func (v VReg) As(a Arr) Vec { return Vec{Reg: v, Arr: a} }

// S4 is the register as four float32/int32 lanes.
func (v VReg) S4() Vec { return Vec{Reg: v, Arr: S4} }

// S2 is the low half as two 32-bit lanes.
func (v VReg) S2() Vec { return Vec{Reg: v, Arr: S2} }

// D2 is the register as two 64-bit lanes.
func (v VReg) D2() Vec { return Vec{Reg: v, Arr: D2} }

// H8 is the register as eight 16-bit lanes.
func (v VReg) H8() Vec { return Vec{Reg: v, Arr: H8} }

// H4 is the low half as four 16-bit lanes.
func (v VReg) H4() Vec { return Vec{Reg: v, Arr: H4} }

// B16 is the register as sixteen bytes.
func (v VReg) B16() Vec { return Vec{Reg: v, Arr: B16} }

// B8 is the low half as eight bytes.
func (v VReg) B8() Vec { return Vec{Reg: v, Arr: B8} }

// S is 32-bit lane i of the register.
func (v VReg) S(i int) Lane { return Lane{Reg: v, Size: SizeS, Index: i} }

// D is 64-bit lane i of the register.
func (v VReg) D(i int) Lane { return Lane{Reg: v, Size: SizeD, Index: i} }

// H is 16-bit lane i of the register.
func (v VReg) H(i int) Lane { return Lane{Reg: v, Size: SizeH, Index: i} }

// B is byte lane i of the register.
func (v VReg) B(i int) Lane { return Lane{Reg: v, Size: SizeB, Index: i} }

func (v VReg) String() string { return fmt.Sprintf("V%d", v) }

// Vec is a vector register with an arrangement, e.g. V3.S4.
type Vec struct {
	Reg VReg
	Arr Arr
}

func (v Vec) goStr() string  { return fmt.Sprintf("V%d.%s", v.Reg, v.Arr) }
func (v Vec) gnuStr() string { return fmt.Sprintf("v%d.%s", v.Reg, arrGNU[v.Arr&7]) }

func (v Vec) check() error {
	if !v.Reg.valid() {
		return fmt.Errorf("vector register %d out of range V0..V31", v.Reg)
	}
	if !v.Arr.valid() {
		return fmt.Errorf("invalid arrangement %d", v.Arr)
	}
	return nil
}

// Lane is one element of a vector register, e.g. V3.S[2].
type Lane struct {
	Reg   VReg
	Size  ElemSize
	Index int
}

func (l Lane) goStr() string  { return fmt.Sprintf("V%d.%s[%d]", l.Reg, l.Size.goName(), l.Index) }
func (l Lane) gnuStr() string { return fmt.Sprintf("v%d.%s[%d]", l.Reg, l.Size.gnuName(), l.Index) }

func (l Lane) check() error {
	if !l.Reg.valid() {
		return fmt.Errorf("vector register %d out of range V0..V31", l.Reg)
	}
	if l.Size > SizeD {
		return fmt.Errorf("invalid element size %d", l.Size)
	}
	if l.Index < 0 || l.Index >= l.Size.Lanes() {
		return fmt.Errorf("lane %s[%d] out of range 0..%d", l.Size.goName(), l.Index, l.Size.Lanes()-1)
	}
	return nil
}

// Reg is a general-purpose register R0..R30, or ZR.
type Reg uint8

// ZR is the zero register (where an instruction accepts it).
const ZR Reg = 31

// R returns general register n; it is range-checked where it is used.
func R(n int) Reg {
	if n < 0 || n > 31 {
		return 255
	}
	return Reg(n)
}

// Reserved reports whether Go's arm64 ABI reserves the register: R18 (platform), R26
// (closure context), R27 (the assembler's temporary), R28 (g), R29 (frame pointer) and
// R30 (link register). Kernels use only the others.
func (r Reg) Reserved() bool { return r == 18 || (r >= 26 && r <= 30) }

// Usable lists the general registers a kernel may allocate, in order.
func Usable() []Reg {
	var out []Reg
	for r := Reg(0); r < 31; r++ {
		if !r.Reserved() {
			out = append(out, r)
		}
	}
	return out
}

func (r Reg) String() string {
	if r == ZR {
		return "ZR"
	}
	return fmt.Sprintf("R%d", r)
}

func (r Reg) x() string {
	if r == ZR {
		return "xzr"
	}
	return fmt.Sprintf("x%d", r)
}

func (r Reg) w() string {
	if r == ZR {
		return "wzr"
	}
	return fmt.Sprintf("w%d", r)
}

// checkGP checks a general register operand; zr says whether ZR is allowed.
func checkGP(r Reg, zr bool) error {
	if r == ZR {
		if zr {
			return nil
		}
		return fmt.Errorf("ZR not allowed here")
	}
	if r > 30 {
		return fmt.Errorf("general register %d out of range R0..R30", r)
	}
	if r.Reserved() {
		return fmt.Errorf("%s is reserved by Go's arm64 ABI", r)
	}
	return nil
}
