package asm

import (
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/sparsegen/sparsegen/formats"
)

// TestManifest checks that every registered family is described once, by one name: a
// generated family registers exactly its manifest entry (gen/kernels/manifest.go), a
// pure-Go family describes itself with the same typed fields, every manifest entry is
// registered, and the assembly file named by an entry's description defines its symbols
// and names the kernel in its header.
func TestManifest(t *testing.T) {
	inManifest := map[string]Desc{}
	for _, d := range Manifest() {
		if _, dup := inManifest[d.Name]; dup {
			t.Errorf("manifest lists %s twice", d.Name)
		}
		inManifest[d.Name] = d
		f, ok := Lookup(d.Name)
		if !ok {
			t.Errorf("manifest entry %s is not registered", d.Name)
			continue
		}
		if !reflect.DeepEqual(*f.Desc, d) {
			t.Errorf("%s registers\n\t%+v\nits manifest entry is\n\t%+v", d.Name, f.Desc, d)
		}
	}
	for _, f := range Families() {
		d := *f.Desc
		if d.Format == "" || !slices.Contains([]string{"float32", "bf16", "f16", "i8"}, d.DType) || d.Source == "" {
			t.Errorf("%s: descriptor lacks a format, value type or description: %+v", d.Name, d)
		}
		if d.MaxN != 0 && d.MaxN < d.MinN {
			t.Errorf("%s: N range [%d, %d]", d.Name, d.MinN, d.MaxN)
		}
		if f.ISA == Generic {
			if len(d.Symbols) != 0 || d.Lanes != 0 {
				t.Errorf("%s: a pure-Go family with symbols %v or lanes %d", d.Name, d.Symbols, d.Lanes)
			}
			continue
		}
		if _, ok := inManifest[d.Name]; !ok {
			t.Errorf("%s is registered but has no manifest entry: describe it in its gen/kernels family (Family.Kernels) and regenerate", d.Name)
			continue
		}
		if len(d.Symbols) == 0 || d.Lanes == 0 {
			t.Errorf("%s: generated family without symbols or lanes", d.Name)
		}
		checkAssembly(t, d)
	}
}

// checkAssembly reads the .s file the descriptor's description wrote for its ISA: its
// header names the kernel and its symbols, and it defines every symbol.
func checkAssembly(t *testing.T, d Desc) {
	t.Helper()
	src, _, _ := strings.Cut(d.Source, " ")
	file, ok := strings.CutPrefix(src, "gen/kernels/")
	if !ok || !strings.HasSuffix(file, ".go") {
		t.Errorf("%s: description %q is not a gen/kernels file", d.Name, d.Source)
		return
	}
	goarch := "amd64"
	if d.ISA == NEON {
		goarch = "arm64"
	}
	// The description's own output file, or (one description lowered to several families,
	// Family.Desc in gen: the bitmap SpMV's own file holds float32 and bf16, others fp16
	// and int8) the file whose header lists the kernel.
	path := strings.TrimSuffix(file, ".go") + "_" + d.ISA.String() + "_" + goarch + ".s"
	text, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && !strings.Contains(string(text), "// Kernel "+d.Name+": ")) {
		others, _ := filepath.Glob("*_" + d.ISA.String() + "_" + goarch + ".s")
		for _, o := range others {
			if b, e := os.ReadFile(o); e == nil && strings.Contains(string(b), "// Kernel "+d.Name+": ") {
				path, text, err = o, b, nil
				break
			}
		}
	}
	if err != nil {
		t.Errorf("%s: %v", d.Name, err)
		return
	}
	s := string(text)
	if !strings.Contains(s, "// Description: "+src+",") {
		t.Errorf("%s: %s does not name its description %s", d.Name, path, src)
	}
	if !strings.Contains(s, "// Kernel "+d.Name+": "+strings.Join(d.Symbols, " ")+"\n") {
		t.Errorf("%s: the header of %s does not list it with %v", d.Name, path, d.Symbols)
	}
	for _, sym := range d.Symbols {
		if !strings.Contains(s, "TEXT ·"+sym+"(SB)") {
			t.Errorf("%s: %s defines no %s", d.Name, path, sym)
		}
	}
}

// TestKernelNames packs a matrix for every registered family and checks that the kernel
// is called what its family is: one spelling for the registry, the policy, records and
// Kernel.Name().
func TestKernelNames(t *testing.T) {
	r := rand.New(rand.NewPCG(19, 1))
	dense := randDense(r, 13, 40, 40)
	csr, err := formats.CSRFromDense(dense)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range Families() {
		var w formats.Matrix
		switch f.Format {
		case "dense":
			w = dense
		case "csr":
			w = csr
		case "bsr":
			br, bc := f.BlockR, f.BlockC
			if br == 0 {
				br, bc = 2, 3
			}
			w = randBSR(r, 13, 40, br, bc, 0.5)
		case "nm":
			keep, group := f.Keep, f.Group
			if group == 0 {
				keep, group = 2, 4
			}
			w = randNM(r, 13, 40, keep, group)
		case "nm_bf16", "nm_f16", "nm_i8":
			keep, group := f.Keep, f.Group
			if group == 0 {
				keep, group = 2, 4
			}
			dt, err := formats.ParseDType(f.DType)
			if err == nil && f.Format == NMLPFormat(dt) {
				w, err = formats.NMLPFromNM(randNM(r, 13, 40, keep, group), dt)
			}
			if err != nil || f.Format != NMLPFormat(dt) {
				t.Errorf("%s: format %q, value type %q: %v", f.Name, f.Format, f.DType, err)
				continue
			}
		case "bsr_bf16", "bsr_f16", "bsr_i8":
			dt, err := formats.ParseDType(f.DType)
			br, bc := f.BlockR, f.BlockC
			if br == 0 {
				br, bc = 2, 3
			}
			if err == nil && f.Format == BSRLPFormat(dt) {
				w, err = formats.BSRLPFromBSR(randBSR(r, 13, 40, br, bc, 0.5), dt)
			}
			if err != nil || f.Format != BSRLPFormat(dt) {
				t.Errorf("%s: format %q, value type %q: %v", f.Name, f.Format, f.DType, err)
				continue
			}
		case "dense_bf16", "dense_f16", "dense_i8", "csr_bf16", "csr_f16", "csr_i8":
			dt, err := formats.ParseDType(f.DType)
			format := LPFormat(dt)
			if err == nil && f.Format == CSRLPFormat(dt) {
				format = CSRLPFormat(dt)
				w, err = formats.CSRLPFromCSR(csr, dt)
			} else if err == nil {
				w, err = formats.DenseLPFromDense(dense, dt)
			}
			if err != nil || format != f.Format {
				t.Errorf("%s: format %q, value type %q: %v", f.Name, f.Format, f.DType, err)
				continue
			}
		default:
			t.Errorf("%s: format %q", f.Name, f.Format)
			continue
		}
		k, err := f.Pack(w)
		if err != nil {
			t.Errorf("%s: packing its own kind of matrix: %v", f.Name, err)
			continue
		}
		if k.Name() != f.Name || k.ISA() != f.ISA {
			t.Errorf("family %s (%v) packs a kernel called %s (%v)", f.Name, f.ISA, k.Name(), k.ISA())
		}
		// A specialised family refuses other shapes and patterns.
		if f.BlockR != 0 {
			if _, err := f.Pack(randBSR(r, 13, 40, f.BlockR+1, f.BlockC, 0.5)); !errors.Is(err, ErrNotApplicable) {
				t.Errorf("%s packed a %d×%d BSR: %v", f.Name, f.BlockR+1, f.BlockC, err)
			}
		}
		if f.Keep != 0 {
			if _, err := f.Pack(randNM(r, 13, 40, f.Keep, 2*f.Group)); !errors.Is(err, ErrNotApplicable) {
				t.Errorf("%s packed a %d:%d N:M matrix: %v", f.Name, f.Keep, 2*f.Group, err)
			}
		}
	}
}
