// Package vm is the abstract vector machine every kernel family is written against.
//
// A family (gen/kernels) describes its kernel once, as calls on a Machine: integer
// registers for pointers and counters, float32 vectors, tail masks, labels and branches,
// and the epilogue operations (add, max, min). Each ISA implements Machine: gen/x86 lowers
// it through Avo to AVX-512 (zmm, opmask tails) and AVX2 (ymm, VMASKMOVPS tails); an arm64
// backend lowers the same calls to NEON. This package must never import Avo.
//
// Registers are virtual: GP and Vec allocate a fresh one each call; a backend maps them to
// physical registers (Avo does liveness-based allocation; a simpler backend may assign them
// in order). Families keep within VecRegs() live vectors and about 12 live integer registers.
package vm

import "fmt"

// Reg is an integer (pointer-sized) register.
type Reg int

// Vec is a vector register of Lanes() float32 values.
type Vec int

// Mask selects the first n lanes of a vector (a K register on AVX-512, a vector on AVX2).
type Mask int

// Label names a branch target inside the current function.
type Label string

// Mem addresses memory: Base + Index·Scale + Disp bytes. Index < 0 means none.
// Scale is 1, 2, 4 or 8. A backend without such addressing modes computes the address.
type Mem struct {
	Base  Reg
	Index Reg
	Scale int
	Disp  int
}

// At is Base + Disp.
func At(base Reg, disp int) Mem { return Mem{Base: base, Index: -1, Disp: disp} }

// Idx is Base + Index·Scale.
func Idx(base, index Reg, scale int) Mem { return Mem{Base: base, Index: index, Scale: scale} }

// Off returns m displaced by d more bytes.
func (m Mem) Off(d int) Mem { m.Disp += d; return m }

// Kind is the Go type of a parameter as the stub declares it.
type Kind int

const (
	Int    Kind = iota // int
	F32                // float32
	PtrF32             // *float32
	PtrU16             // *uint16
	PtrU32             // *uint32
	PtrI32             // *int32
	PtrI64             // *int64
	PtrU8              // *uint8
)

var kindGo = [...]string{"int", "float32", "*float32", "*uint16", "*uint32", "*int32", "*int64", "*uint8"}

// GoType is the Go spelling of k.
func (k Kind) GoType() string { return kindGo[k] }

// Param is one argument of a generated function.
type Param struct {
	Name string
	Kind Kind
}

// Signature renders params as a Go func type, e.g. "func(x *float32, n int)".
func Signature(params []Param) string {
	s := "func("
	for i, p := range params {
		if i > 0 {
			s += ", "
		}
		s += p.Name + " " + p.Kind.GoType()
	}
	return s + ")"
}

// Cond compares two integer registers (signed).
type Cond int

const (
	LT Cond = iota
	LE
	GT
	GE
	EQ
	NE
)

func (c Cond) String() string { return [...]string{"<", "<=", ">", ">=", "==", "!="}[c] }

// Machine is one ISA's lowering. Every method appends code to the current function.
type Machine interface {
	// ISA facts.
	ISA() string  // "avx512", "avx2", "neon"
	Lanes() int   // float32 lanes per vector
	VecRegs() int // architectural vector registers

	// Func starts a function (a Go stub with this doc and params is written for it).
	Func(name, doc string, params []Param)
	Comment(format string, args ...any)
	Ret()

	// Integer registers.
	GP() Reg
	Param(name string) Reg                       // a fresh register loaded with an Int or pointer param
	MovImm(dst Reg, v int64)                     // dst = v
	Mov(dst, src Reg)                            // dst = src
	Add(dst, src Reg)                            // dst += src
	AddImm(dst Reg, v int64)                     // dst += v
	Sub(dst, src Reg)                            // dst -= src
	Shl(dst Reg, s int)                          // dst <<= s
	Min(dst, src Reg)                            // dst = min(dst, src), signed
	Lea(dst Reg, m Mem)                          // dst = address of m
	Load(dst Reg, m Mem, bytes int)              // zero-extending load of 1, 2, 4 or 8 bytes
	Store(m Mem, src Reg, bytes int)             // store the low 1, 2, 4 or 8 bytes
	NewLabel(prefix string) Label                // a label unique in the function
	Bind(l Label)                                // place l here
	Jmp(l Label)                                 // unconditional branch
	Br(a Reg, c Cond, b Reg, l Label)            // branch if a c b
	BrImm(a Reg, c Cond, v int64, l Label)       // branch if a c v
	BrBits(a Reg, bits int64, set bool, l Label) // branch if (a&bits != 0) == set

	// Vectors.
	Vec() Vec
	Zero(v Vec)                      // v = 0
	Load1(v Vec, m Mem)              // v = every lane the float32 at m (broadcast)
	ParamF32(v Vec, name string)     // v = every lane the float32 param
	LoadV(v Vec, m Mem)              // v = Lanes() floats at m
	StoreV(m Mem, v Vec)             // Lanes() floats at m = v
	TailMask(n Reg) Mask             // lanes [0, n), 1 ≤ n ≤ Lanes()
	LoadVMask(v Vec, m Mem, k Mask)  // masked lanes loaded, others 0; never faults on them
	StoreVMask(m Mem, v Vec, k Mask) // only masked lanes stored
	FMA(acc, a, b Vec)               // acc += a·b, one rounding
	FMAMem(acc, a Vec, m Mem)        // acc += a·(vector at m); a backend may need a scratch
	VAdd(dst, a Vec)                 // dst += a
	VMax(dst, bound Vec)             // dst = max(dst, bound); NaN in dst stays NaN
	VMin(dst, bound Vec)             // dst = min(dst, bound); NaN in dst stays NaN
	VAddMem(dst Vec, m Mem)          // dst += vector at m
}

// Check panics if cond is false: a family's description error at generation time.
func Check(cond bool, format string, args ...any) {
	if !cond {
		panic(fmt.Sprintf("gen: "+format, args...))
	}
}
