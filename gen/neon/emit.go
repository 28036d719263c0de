package neon

import (
	"errors"
	"fmt"
	"strings"
)

// Class groups instructions for shape checks (instructions per nonzero, accumulators).
type Class uint8

const (
	ClassOther    Class = iota
	ClassLabel          // a label definition (no code)
	ClassComment        // a comment line (no code)
	ClassLoad           // LD1 of whole vectors
	ClassLoadRep        // LD1R: load one element, replicate to all lanes
	ClassLoadLane       // LD1 into one lane, or a scalar float load
	ClassStore          // ST1 of vectors or lanes, scalar float stores
	ClassFMA            // FMLA, vector form
	ClassFMAElem        // FMLA by element
	ClassFArith         // other float arithmetic: FADD, FMUL, FMAX, FMIN, FADDP, …
	ClassMove           // DUP, MOV, INS, UMOV, EOR (register moves and zeroing)
	ClassPrefetch       // PRFM
	ClassInt            // integer arithmetic and moves
	ClassIntLoad        // integer loads (indices, pointers, arguments)
	ClassBranch         // B, B.cond, CBZ, CBNZ, TBZ, TBNZ
	ClassRet            // RET
)

var classNames = [...]string{"other", "label", "comment", "ld1", "ld1r", "ld1lane", "store",
	"fmla", "fmla.elem", "farith", "move", "prfm", "int", "intload", "branch", "ret"}

func (c Class) String() string {
	if int(c) < len(classNames) {
		return classNames[c]
	}
	return fmt.Sprintf("Class(%d)", c)
}

// Code reports whether the class emits an instruction word.
func (c Class) Code() bool { return c != ClassLabel && c != ClassComment }

// Inst is one emitted line.
type Inst struct {
	Class Class
	// Go is the line in Go's assembler syntax, without indentation; for an encoded
	// instruction it is "WORD $0x…".
	Go string
	// GNU is the same instruction in GNU syntax (lower case), for encoded instructions the
	// comment after the WORD. It is empty where the GNU spelling of Go's choice of bytes is
	// not fixed (an immediate move, an argument load through the FP pseudo-register).
	GNU string
	// Encoded says the instruction is a WORD; Word is its encoding.
	Encoded bool
	Word    uint32
	// Label is the name a label defines, or the target of a branch.
	Label string
	// Dst and Src are the vector registers the instruction writes and reads.
	Dst, Src []VReg
}

// Line renders the instruction as it appears in a Go assembly file (tab-indented).
func (in Inst) Line() string {
	switch in.Class {
	case ClassLabel:
		return in.Label + ":"
	case ClassComment:
		return "\t" + in.Go
	}
	if in.Encoded {
		return fmt.Sprintf("\tWORD $0x%08x // %s", in.Word, in.GNU)
	}
	return "\t" + in.Go
}

// Emitter accumulates the instructions of one function body.
type Emitter struct {
	insts  []Inst
	errs   []error
	labels map[string]int // defined labels → index
	refs   map[string]bool
}

// NewEmitter returns an empty emitter.
func NewEmitter() *Emitter {
	return &Emitter{labels: map[string]int{}, refs: map[string]bool{}}
}

// Insts returns the emitted instructions.
func (e *Emitter) Insts() []Inst { return e.insts }

// Err reports every operand error recorded so far and every branch to an undefined label.
func (e *Emitter) Err() error {
	errs := append([]error(nil), e.errs...)
	for l := range e.refs {
		if _, ok := e.labels[l]; !ok {
			errs = append(errs, fmt.Errorf("branch to undefined label %q", l))
		}
	}
	return errors.Join(errs...)
}

func (e *Emitter) fail(op string, err error) {
	e.errs = append(e.errs, fmt.Errorf("instruction %d, %s: %w", len(e.insts), op, err))
}

func (e *Emitter) add(in Inst) { e.insts = append(e.insts, in) }

// first returns the first non-nil error.
func first(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// Comment adds a "// text" line.
func (e *Emitter) Comment(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	if strings.ContainsAny(s, "\n\r") {
		e.fail("comment", fmt.Errorf("newline in comment %q", s))
		return
	}
	e.add(Inst{Class: ClassComment, Go: "// " + s})
}

// Label defines a label at the current position.
func (e *Emitter) Label(name string) {
	if !validLabel(name) {
		e.fail("label", fmt.Errorf("invalid label %q", name))
		return
	}
	if _, dup := e.labels[name]; dup {
		e.fail("label", fmt.Errorf("label %q defined twice", name))
		return
	}
	e.labels[name] = len(e.insts)
	e.add(Inst{Class: ClassLabel, Label: name})
}

func validLabel(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// Cond is a branch condition.
type Cond uint8

const (
	EQ Cond = iota
	NE
	HS // unsigned ≥ (carry set)
	LO // unsigned <
	MI
	PL
	HI // unsigned >
	LS // unsigned ≤
	GE // signed
	LT
	GT
	LE
)

var condNames = [...]string{"EQ", "NE", "HS", "LO", "MI", "PL", "HI", "LS", "GE", "LT", "GT", "LE"}

func (c Cond) String() string {
	if int(c) < len(condNames) {
		return condNames[c]
	}
	return fmt.Sprintf("Cond(%d)", c)
}

func (e *Emitter) branch(op, goText, gnu, label string) {
	if !validLabel(label) {
		e.fail(op, fmt.Errorf("invalid label %q", label))
		return
	}
	e.refs[label] = true
	e.add(Inst{Class: ClassBranch, Go: goText, GNU: gnu, Label: label})
}

// B branches unconditionally (Go spells it JMP when disassembling; B when assembling).
func (e *Emitter) B(label string) { e.branch("B", "B "+label, "b "+label, label) }

// Bcond branches on a condition: BEQ, BNE, BLT, ….
func (e *Emitter) Bcond(c Cond, label string) {
	if int(c) >= len(condNames) {
		e.fail("B.cond", fmt.Errorf("invalid condition %d", c))
		return
	}
	e.branch("B."+c.String(), "B"+c.String()+" "+label, "b."+strings.ToLower(c.String())+" "+label, label)
}

// CBZ branches when r (64-bit) is zero.
func (e *Emitter) CBZ(r Reg, label string) {
	if err := checkGP(r, false); err != nil {
		e.fail("CBZ", err)
		return
	}
	e.branch("CBZ", fmt.Sprintf("CBZ %s, %s", r, label), fmt.Sprintf("cbz %s, %s", r.x(), label), label)
}

// CBNZ branches when r (64-bit) is not zero.
func (e *Emitter) CBNZ(r Reg, label string) {
	if err := checkGP(r, false); err != nil {
		e.fail("CBNZ", err)
		return
	}
	e.branch("CBNZ", fmt.Sprintf("CBNZ %s, %s", r, label), fmt.Sprintf("cbnz %s, %s", r.x(), label), label)
}

func (e *Emitter) tb(op string, bit int, r Reg, label string) {
	if err := first(checkGP(r, false), checkRange("bit", bit, 0, 63)); err != nil {
		e.fail(op, err)
		return
	}
	e.branch(op, fmt.Sprintf("%s $%d, %s, %s", op, bit, r, label),
		fmt.Sprintf("%s %s, #%d, %s", strings.ToLower(op), r.x(), bit, label), label)
}

// TBZ branches when bit of r is zero.
func (e *Emitter) TBZ(bit int, r Reg, label string) { e.tb("TBZ", bit, r, label) }

// TBNZ branches when bit of r is one.
func (e *Emitter) TBNZ(bit int, r Reg, label string) { e.tb("TBNZ", bit, r, label) }

// RET returns.
func (e *Emitter) RET() { e.add(Inst{Class: ClassRet, Go: "RET", GNU: "ret"}) }

func checkRange(what string, v, lo, hi int) error {
	if v < lo || v > hi {
		return fmt.Errorf("%s %d out of range %d..%d", what, v, lo, hi)
	}
	return nil
}

func checkVecs(vs ...Vec) error {
	for _, v := range vs {
		if err := v.check(); err != nil {
			return err
		}
	}
	return nil
}

// word adds an encoded instruction.
func (e *Emitter) word(op string, class Class, w uint32, err error, gnu string, dst []VReg, src ...VReg) {
	if err != nil {
		e.fail(op, err)
		return
	}
	e.add(Inst{Class: class, Go: fmt.Sprintf("WORD $0x%08x", w), GNU: gnu, Encoded: true, Word: w, Dst: dst, Src: src})
}
