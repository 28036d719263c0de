package neon

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/sparsegen/sparsegen/gen/vm"
)

// TestLoweringRuns executes operations that no committed kernel family covers yet (the N:M
// integer-vector operations, gathers with and without a mask, ReduceAdd) under qemu-user:
// a function lowered by Machine is linked into a tiny arm64 program whose output is compared
// with the operations' definitions in gen/vm. Skips only where qemu-aarch64-static is absent.
func TestLoweringRuns(t *testing.T) {
	qemu, err := exec.LookPath("qemu-aarch64-static")
	if err != nil {
		t.Skip("qemu-aarch64-static not installed (Debian: qemu-user-static)")
	}
	gobin := goTool(t)

	var in [32]uint32
	idx := []uint32{5, 9, 14, 27}
	copy(in[0:], idx)
	copy(in[4:], []uint32{0x80000001, 0x12345678, 0xdeadbeef, 7})      // a
	copy(in[8:], []uint32{0x11111111, 0x22222222, 0x33333333, 0x4444}) // b
	copy(in[12:], []uint32{31, 0, 4, 17})                              // shifts
	copy(in[16:], []uint32{0xff00ff00, 0x0f0f0f0f, 0, 0xffffffff})     // and
	copy(in[20:], []uint32{0x1, 0x10000000, 0xabc, 0})                 // or
	copy(in[24:], []uint32{0xffffffff, 0xf0f0f0f0, 0x12345678, 0x5a5a5a5a})
	for i, f := range []float32{1.5, -2.25, 1e-3, 1e7} {
		in[28+i] = math.Float32bits(f)
	}

	m := NewMachine()
	m.Func("kern", "kern exercises the NEON lowering.", []vm.Param{{Name: "in", Kind: vm.PtrU32}, {Name: "out", Kind: vm.PtrU32}})
	p, q := m.Param("in"), m.Param("out")
	vec := func(off int) vm.Vec { v := m.Vec(); m.LoadV(v, vm.At(p, 4*off)); return v }
	iv, a, b := vec(0), vec(4), vec(8)
	r := m.Vec()
	m.VShrVar(r, a, vec(12))
	m.StoreV(vm.At(q, 0), r)
	d := vec(24)
	m.VAndOr(d, vec(16), vec(20))
	m.StoreV(vm.At(q, 16), d)
	pr := m.Vec()
	m.Permute2(pr, iv, a, b)
	m.StoreV(vm.At(q, 32), pr)
	sb := m.Vec()
	m.SelectBit(sb, iv, 3, a, b)
	m.StoreV(vm.At(q, 48), sb)
	f := vec(28)
	m.ReduceAdd(f)
	m.StoreLane0(vm.At(q, 64), f)
	g := m.Vec()
	m.Gather(g, p, iv, 4, nil)
	m.StoreV(vm.At(q, 80), g)
	n := m.GP()
	m.MovImm(n, 3)
	k := m.TailMask(n)
	gm := m.Vec()
	m.Gather(gm, p, iv, 4, &k)
	m.StoreV(vm.At(q, 96), gm)
	m.Ret()
	src, err := m.Asm("neon exec test")
	if err != nil {
		t.Fatal(err)
	}

	got := runKernel(t, gobin, qemu, src, in[:])
	if len(got) != 32 {
		t.Fatalf("%d words of output", len(got))
	}

	want := make([]uint32, 32)
	av, bv := in[4:8], in[8:12]
	cat := append(append([]uint32{}, av...), bv...)
	for i := 0; i < 4; i++ {
		want[i] = av[i] >> in[12+i]
		want[4+i] = in[24+i]&in[16+i] | in[20+i]
		want[8+i] = cat[idx[i]%8]
		if idx[i]&8 != 0 {
			want[12+i] = bv[i]
		} else {
			want[12+i] = av[i]
		}
		want[20+i] = in[idx[i]]
		if i < 3 {
			want[24+i] = in[idx[i]]
		}
	}
	fl := func(i int) float32 { return math.Float32frombits(in[28+i]) }
	want[16] = math.Float32bits((fl(0) + fl(2)) + (fl(1) + fl(3)))
	names := []string{"VShrVar", "VAndOr", "Permute2", "SelectBit", "ReduceAdd", "Gather", "Gather (masked, n = 3)"}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("out[%d] (%s lane %d) = %#x, want %#x", i, names[min(i/4, len(names)-1)], i%4, got[i], want[i])
		}
	}
}

// runKernel builds src (an arm64 assembly file defining kern(in, out *uint32)) into a
// static arm64 program that calls kern on in and prints out (as many words as in), runs it
// under qemu, and returns out.
func runKernel(t *testing.T, gobin, qemu string, src []byte, in []uint32) []uint32 {
	t.Helper()
	dir := t.TempDir()
	main := fmt.Sprintf("package main\n\nimport \"fmt\"\n\n//go:noescape\nfunc kern(in *uint32, out *uint32)\n\nfunc main() {\n\tin := [%d]uint32{", len(in))
	for _, v := range in {
		main += fmt.Sprintf("%#x, ", v)
	}
	main += fmt.Sprintf("}\n\tvar out [%d]uint32\n\tkern(&in[0], &out[0])\n\tfor _, v := range out {\n\t\tfmt.Printf(\"%%08x\\n\", v)\n\t}\n}\n", len(in))
	files := map[string]string{"go.mod": "module x\n\ngo 1.26\n", "main.go": main, "kern_arm64.s": string(src)}
	for name, text := range files {
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
	var got []uint32
	for _, l := range strings.Fields(string(out)) {
		v, err := strconv.ParseUint(l, 16, 32)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, uint32(v))
	}
	return got
}
