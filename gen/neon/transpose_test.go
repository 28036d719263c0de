package neon

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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
	m := NewMachine()
	m.Func("tr", "", []vm.Param{{Name: "p", Kind: vm.PtrF32}})
	p := m.Param("p")
	rows := []vm.Vec{m.Vec(), m.Vec(), m.Vec(), m.Vec()}
	for i, v := range rows {
		m.LoadV(v, vm.At(p, 16*i))
	}
	m.Transpose(rows)
	for i, v := range rows {
		m.StoreV(vm.At(p, 16*i), v)
	}
	m.Ret()
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
	m := NewMachine()
	m.Func("kern", "kern transposes a 4×4 tile.", []vm.Param{{Name: "in", Kind: vm.PtrU32}, {Name: "out", Kind: vm.PtrU32}})
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
	src, err := m.Asm("neon transpose test")
	if err != nil {
		t.Fatal(err)
	}
	var in [16]uint32
	for i := range in {
		in[i] = 0x7fc00000 | uint32(i)<<8 | uint32(i) // NaNs with distinct payloads
	}
	main := "package main\n\nimport \"fmt\"\n\n//go:noescape\nfunc kern(in *uint32, out *uint32)\n\nfunc main() {\n\tin := [16]uint32{"
	for _, v := range in {
		main += fmt.Sprintf("%#x, ", v)
	}
	main += "}\n\tvar out [16]uint32\n\tkern(&in[0], &out[0])\n\tfor _, v := range out {\n\t\tfmt.Printf(\"%08x\\n\", v)\n\t}\n}\n"
	dir := t.TempDir()
	for name, text := range map[string]string{"go.mod": "module x\n\ngo 1.26\n", "main.go": main, "kern_arm64.s": string(src)} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	build := exec.Command(gobin, "build", "-o", "x", ".")
	build.Dir = dir
	build.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0", "GOFLAGS=-mod=mod", "GOWORK=off")
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s\n%s", err, b, src)
	}
	out, err := exec.Command(qemu, filepath.Join(dir, "x")).Output()
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	got := strings.Fields(string(out))
	if len(got) != 16 {
		t.Fatalf("%d words of output", len(got))
	}
	for k, s := range got {
		v, err := strconv.ParseUint(s, 16, 32)
		if err != nil {
			t.Fatal(err)
		}
		j, i := k/4, k%4
		if want := in[4*i+j]; uint32(v) != want {
			t.Errorf("out[%d][%d] = %#x, want in[%d][%d] = %#x", j, i, v, i, j, want)
		}
	}
}
