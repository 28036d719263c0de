package neon

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/sparsegen/sparsegen/gen/vm"
)

// TRN1/TRN2 in every arrangement they take, over a spread of registers, assemble to the same
// words with Go's assembler and GNU as.
func TestTRNBothToolchains(t *testing.T) {
	f := NewFunc("trn", 0)
	for _, a := range []Arr{B8, B16, H4, H8, S2, S4, D2} {
		for _, r := range [][3]int{{0, 1, 2}, {31, 30, 29}, {7, 16, 15}, {17, 5, 31}} {
			f.VTRN1(V(r[0]).As(a), V(r[1]).As(a), V(r[2]).As(a))
			f.VTRN2(V(r[0]).As(a), V(r[1]).As(a), V(r[2]).As(a))
		}
	}
	f.RET()
	if err := f.Err(); err != nil {
		t.Fatal(err)
	}
	compareToolchains(t, f)
}

func TestTRNOperandChecks(t *testing.T) {
	for name, emit := range map[string]func(e *Emitter){
		"D1":    func(e *Emitter) { e.VTRN1(V(0).As(D1), V(1).As(D1), V(2).As(D1)) },
		"mixed": func(e *Emitter) { e.VTRN2(V(0).S4(), V(1).D2(), V(2).S4()) },
		"V32":   func(e *Emitter) { e.VTRN1(V(32).S4(), V(1).S4(), V(2).S4()) },
	} {
		e := NewEmitter()
		emit(e)
		if e.Err() == nil || len(Code(e.Insts())) != 0 {
			t.Errorf("%s: accepted (err %v, %d instructions)", name, e.Err(), len(Code(e.Insts())))
		}
	}
}

// The lowered Transpose is eight TRN instructions and no moves, and refuses bad row lists.
func TestTransposeShape(t *testing.T) {
	m := transposeTile("tr", "", vm.PtrF32)
	fs, err := m.Funcs()
	if err != nil {
		t.Fatal(err)
	}
	trn, moves := 0, 0
	for _, in := range Code(fs[0].Insts()) {
		switch {
		case strings.HasPrefix(in.GNU, "trn"):
			trn++
		case in.Class == ClassMove:
			moves++
		}
	}
	if trn != 8 || moves != 0 {
		t.Errorf("%d TRN, %d moves; want 8 and 0", trn, moves)
	}
	for _, bad := range [][]int{{0, 1, 2}, {0, 1, 2, 2}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Transpose(%v) accepted", bad)
				}
			}()
			m := NewMachine()
			m.Func("bad", "", nil)
			vs := make([]vm.Vec, len(bad))
			for i, b := range bad {
				vs[i] = vm.Vec(b)
			}
			m.Transpose(vs)
		}()
	}
}

// TestTransposeRuns runs the lowered Transpose under qemu-user on a 4×4 tile of distinct bit
// patterns (NaN payloads included) and checks out[j][i] = in[i][j].
func TestTransposeRuns(t *testing.T) {
	qemu, err := exec.LookPath("qemu-aarch64-static")
	if err != nil {
		t.Skip("qemu-aarch64-static not installed (Debian: qemu-user-static)")
	}
	gobin := goTool(t)
	m := transposeTile("kern", "kern transposes a 4×4 tile.", vm.PtrU32)
	src, err := m.Asm("neon transpose test")
	if err != nil {
		t.Fatal(err)
	}
	var in [16]uint32
	for i := range in {
		in[i] = 0x7fc00000 | uint32(i)<<8 | uint32(i) // NaNs with distinct payloads
	}
	got := runKernel(t, gobin, qemu, src, in[:])
	if len(got) != 16 {
		t.Fatalf("%d words of output", len(got))
	}
	for k, v := range got {
		j, i := k/4, k%4
		if want := in[4*i+j]; v != want {
			t.Errorf("out[%d][%d] = %#x, want in[%d][%d] = %#x", j, i, v, i, j, want)
		}
	}
}

// transposeTile builds a function that loads the 4×4 tile at in, transposes it and stores
// it at out (both pointers of the given kind).
func transposeTile(name, doc string, kind vm.Kind) *Machine {
	m := NewMachine()
	m.Func(name, doc, []vm.Param{{Name: "in", Kind: kind}, {Name: "out", Kind: kind}})
	p, q := m.Param("in"), m.Param("out")
	rows := []vm.Vec{m.Vec(), m.Vec(), m.Vec(), m.Vec()}
	for i, v := range rows {
		m.LoadV(v, vm.At(p, 16*i))
	}
	m.Transpose(rows)
	for i, v := range rows {
		m.StoreV(vm.At(q, 16*i), v)
	}
	m.Ret()
	return m
}
