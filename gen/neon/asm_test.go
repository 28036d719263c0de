package neon

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Helpers that assemble emitted code with Go's assembler and with GNU as and return the
// instruction words, so tests compare what each toolchain makes of the same program.

func goTool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not on PATH")
	}
	return p
}

// goWords assembles a Go arm64 assembly file and returns the words of each TEXT symbol, in
// order, without the trailing padding.
func goWords(t *testing.T, src []byte) [][]uint32 {
	t.Helper()
	gobin := goTool(t)
	dir := t.TempDir()
	out, err := exec.Command(gobin, "env", "GOROOT").Output()
	if err != nil {
		t.Fatalf("go env GOROOT: %v", err)
	}
	inc := filepath.Join(strings.TrimSpace(string(out)), "pkg", "include")
	s, o := filepath.Join(dir, "x_arm64.s"), filepath.Join(dir, "x.o")
	if err := os.WriteFile(s, src, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(gobin, "tool", "asm", "-p", "x", "-I", inc, "-o", o, s)
	cmd.Env = append(os.Environ(), "GOARCH=arm64", "GOOS=linux")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go tool asm: %v\n%s\n--- source:\n%s", err, b, src)
	}
	b, err := exec.Command(gobin, "tool", "objdump", o).CombinedOutput()
	if err != nil {
		t.Fatalf("go tool objdump: %v\n%s", err, b)
	}
	var funcs [][]uint32
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) > 0 && f[0] == "TEXT" {
			funcs = append(funcs, nil)
			continue
		}
		if len(f) < 3 || len(funcs) == 0 {
			continue
		}
		w, err := strconv.ParseUint(f[2], 16, 32)
		if err != nil {
			t.Fatalf("objdump line %q: %v", sc.Text(), err)
		}
		funcs[len(funcs)-1] = append(funcs[len(funcs)-1], uint32(w))
	}
	for i, ws := range funcs {
		for len(ws) > 0 && ws[len(ws)-1] == 0 {
			ws = ws[:len(ws)-1]
		}
		funcs[i] = ws
	}
	return funcs
}

// gnuWords assembles GNU syntax with aarch64-linux-gnu-as and returns the .text words.
func gnuWords(t *testing.T, src []byte) []uint32 {
	t.Helper()
	as, err := exec.LookPath("aarch64-linux-gnu-as")
	if err != nil {
		t.Skip("aarch64-linux-gnu-as not installed (Debian: binutils-aarch64-linux-gnu)")
	}
	objcopy, err := exec.LookPath("aarch64-linux-gnu-objcopy")
	if err != nil {
		t.Skip("aarch64-linux-gnu-objcopy not installed")
	}
	dir := t.TempDir()
	s, o, bin := filepath.Join(dir, "g.s"), filepath.Join(dir, "g.o"), filepath.Join(dir, "g.bin")
	if err := os.WriteFile(s, src, 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command(as, "-o", o, s).CombinedOutput(); err != nil {
		t.Fatalf("as: %v\n%s\n--- source:\n%s", err, b, src)
	}
	if b, err := exec.Command(objcopy, "-O", "binary", "-j", ".text", o, bin).CombinedOutput(); err != nil {
		t.Fatalf("objcopy: %v\n%s", err, b)
	}
	raw, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	ws := make([]uint32, len(raw)/4)
	for i := range ws {
		ws[i] = binary.LittleEndian.Uint32(raw[4*i:])
	}
	return ws
}

// compareToolchains assembles one function with both toolchains and checks that every
// instruction the emitter wrote assembles to the same word, one to one.
func compareToolchains(t *testing.T, fn *Func) {
	t.Helper()
	f := &File{Generator: "neon tests", Funcs: []*Func{fn}}
	goSrc, err := f.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	gnuSrc, err := f.GNU()
	if err != nil {
		t.Fatal(err)
	}
	gw := goWords(t, goSrc)
	nw := gnuWords(t, gnuSrc)
	if len(gw) != 1 {
		t.Fatalf("go objdump found %d functions, want 1", len(gw))
	}
	code := Code(fn.Insts())
	if len(gw[0]) != len(code) || len(nw) != len(code) {
		t.Fatalf("%d instructions emitted, Go assembled %d words, GNU %d", len(code), len(gw[0]), len(nw))
	}
	for i, in := range code {
		if gw[0][i] != nw[i] {
			t.Errorf("%-50s Go %08x, GNU %-40q %08x", in.Go, gw[0][i], in.GNU, nw[i])
		}
		if in.Encoded && in.Word != gw[0][i] {
			t.Errorf("%s: WORD %08x assembled to %08x", in.GNU, in.Word, gw[0][i])
		}
	}
}
