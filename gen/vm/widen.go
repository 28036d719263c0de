package vm

// Elem is how a weight is stored in memory when it is not a float32: the low-precision
// kernels (gen/kernels/gemvlp.go, gen/kernels/spmvlp.go) load Lanes() of them and widen them to float32
// lanes before the FMAs, so the bytes read per weight shrink and the arithmetic does not
// change.
type Elem int

const (
	ElemF32  Elem = iota // float32 (no widening)
	ElemBF16             // bfloat16: the high half of a float32; widening is a 16-bit shift
	ElemF16              // IEEE binary16: widened by a conversion (F16C VCVTPH2PS, NEON FCVTL)
	ElemI8               // int8: sign-extended and converted exactly (the row scale is applied later)
)

var elemNames = [...]string{"f32", "bf16", "f16", "i8"}

func (e Elem) String() string { return elemNames[e] }

// Bytes is the size of one stored element.
func (e Elem) Bytes() int { return [...]int{4, 2, 2, 1}[e] }

// WidenMachine extends Machine with widening vector loads. A backend that lacks it simply
// does not implement it, and the families that need it skip that machine.
type WidenMachine interface {
	Machine
	// LoadWiden sets v to the Lanes() elements of type e at m, widened to float32 exactly
	// (int8 to the same integer value). It reads Lanes()·e.Bytes() bytes, never fewer:
	// callers pad their streams so that a tail can read a whole vector.
	LoadWiden(v Vec, m Mem, e Elem)
	// LoadWidenMask is LoadWiden with the lanes outside k set to +0 whatever the bytes
	// there hold (a NaN or ±Inf past a sparse row's last entry must not reach an FMA). It
	// may read the whole vector, as LoadWiden does: callers pad their streams.
	LoadWidenMask(v Vec, m Mem, e Elem, k Mask)
	// Load1Widen sets every lane of v to the one element of type e at m, widened to
	// float32 exactly (the broadcast weight of the CSR tiles). It reads e.Bytes() bytes.
	Load1Widen(v Vec, m Mem, e Elem)
}
