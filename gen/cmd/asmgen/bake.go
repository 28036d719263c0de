package main

// Baked kernels (-bake, DESIGN §5.12): for each weight named, a CSR kernel with its
// pattern's column offsets compiled in, written into the user package beside its families.

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/sparsegen/sparsegen/formats"
	"github.com/sparsegen/sparsegen/formats/fileio"
	"github.com/sparsegen/sparsegen/gen/kernels"
)

// bakeOpts are the -bake flags: the weights (comma-separated FILE[:TENSOR]), the tile
// widths (comma-separated; a kernel each) and the code budget per kernel and ISA in bytes
// (0: defaultBakeBudget).
type bakeOpts struct {
	Weights string
	Tiles   string
	Budget  int64
	// Out is the package's folder when known (userMain): the generated test reads each
	// weight by its path relative to it, where go test runs.
	Out string
}

// defaultBakeBudget is -bake-budget's default: a baked kernel runs its code once per tile
// of X, and measured on a 1 MiB L2 (Zen 5) kernels of up to 480 KB of code beat the runtime
// kernel of their tile, 810 KB and more lost (DESIGN §5.12). It is a constant, not the L2
// of the machine that generates: go generate must write the same files on every machine
// (it failed on a Zen 3, 512 KiB L2, for the code a Zen 5 had accepted), and the code may be
// for another one (NEON from amd64). dispatch prices a baked kernel by the L2 of the
// machine that runs it.
const defaultBakeBudget = 512 << 10

// bakeSpecs loads the weights of o and checks each against the ISAs and the budget.
func bakeSpecs(o bakeOpts, isas []string) ([]*kernels.BakeSpec, error) {
	if o.Weights == "" {
		return nil, nil
	}
	if o.Tiles == "" {
		o.Tiles = "16,64"
	}
	var tiles []int
	for _, f := range strings.Split(o.Tiles, ",") {
		t, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || t < 1 {
			return nil, fmt.Errorf("-bake-tile: %q is not a tile width in floats", f)
		}
		tiles = append(tiles, t)
	}
	if o.Budget == 0 {
		o.Budget = defaultBakeBudget
	}
	var specs []*kernels.BakeSpec
	stems := map[string]string{}
	for _, arg := range strings.Split(o.Weights, ",") {
		if arg = strings.TrimSpace(arg); arg == "" {
			continue
		}
		s, err := loadBakeSpec(arg, tiles)
		if err != nil {
			return nil, err
		}
		if prev, dup := stems[s.Stem]; dup {
			return nil, fmt.Errorf("-bake %s and %s both name a kernel %q (rename a tensor or file)", prev, arg, s.Stem)
		}
		stems[s.Stem] = arg
		if err := s.Check(isas); err != nil {
			return nil, err
		}
		for _, isa := range isas {
			for _, t := range s.TilesFor(isa) {
				size, err := kernels.BakedCodeBytes(isa, s, t)
				if err != nil {
					return nil, err
				}
				if size > o.Budget {
					return nil, fmt.Errorf("-bake %s: tile %d: about %.2f MiB of %s code (%.0f bytes per nonzero, %d nonzeros) exceeds the budget of %.2f MiB (-bake-budget; default 0.5 MiB)",
						arg, t, float64(size)/(1<<20), isa, float64(size)/float64(len(s.ColIdx)), len(s.ColIdx), float64(o.Budget)/(1<<20))
				}
			}
		}
		specs = append(specs, s)
	}
	return specs, nil
}

// loadBakeSpec reads FILE[:TENSOR] as a dense or CSR weight, with sparsegen's readers (npy,
// npz, safetensors).
func loadBakeSpec(arg string, tiles []int) (*kernels.BakeSpec, error) {
	path, tensor := fileio.SplitTensorArg(arg)
	m, _, err := fileio.LoadMatrix(path, tensor)
	if err != nil {
		return nil, fmt.Errorf("-bake %s: %v", arg, err)
	}
	var c *formats.CSR
	switch w := m.(type) {
	case *formats.CSR:
		c = w
	case *formats.Dense:
		if c, err = formats.CSRFromDense(w); err != nil {
			return nil, fmt.Errorf("-bake %s: %v", arg, err)
		}
	default:
		return nil, fmt.Errorf("-bake %s: holds a %T; a pattern is baked from a dense or CSR float32 weight", arg, m)
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("-bake %s: %v", arg, err)
	}
	h, err := formats.PatternHash(c)
	if err != nil {
		return nil, fmt.Errorf("-bake %s: %v", arg, err)
	}
	name := tensor
	if name == "" {
		name = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	}
	return &kernels.BakeSpec{Stem: bakeStem(name), Source: arg, M: c.Rows, K: c.Cols, RowPtr: c.RowPtr, ColIdx: c.ColIdx,
		Tiles: tiles, Pattern: h}, nil
}

// bakeStem turns a tensor or file name into the name part of a kernel: lower case, every
// run of other characters one '_', a leading 'w' before a digit.
func bakeStem(name string) string {
	var b strings.Builder
	under := false
	for _, r := range strings.ToLower(name) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
			under = false
		} else if !under && b.Len() > 0 {
			b.WriteByte('_')
			under = true
		}
	}
	s := strings.TrimSuffix(b.String(), "_")
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		s = "w" + s
	}
	return s
}

// bakedTestSrc is sparsegen_baked_test.go of a user package that bakes specs: each baked
// kernel checked on the weight it was baked from (read again from the -bake argument, a
// path relative to the package's folder, where go generate and go test run).
func bakedTestSrc(pkg, out string, specs []*kernels.BakeSpec) string {
	var b strings.Builder
	for _, s := range specs {
		path, tensor := fileio.SplitTensorArg(s.Source)
		if out != "" {
			if abs, err := filepath.Abs(path); err == nil {
				if rel, err := filepath.Rel(out, abs); err == nil {
					path = filepath.ToSlash(rel)
				}
			}
		}
		fmt.Fprintf(&b, "\t%q: {%q, %q},\n", s.Pattern, path, tensor)
	}
	return fmt.Sprintf(bakedTestTemplate, pkg, b.String())
}

// bakedTestTemplate: %s package, %s the entries of sparsegenBakedFrom.
const bakedTestTemplate = `package %s

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/sparsegen/sparsegen/asm"
	"github.com/sparsegen/sparsegen/dispatch"
	"github.com/sparsegen/sparsegen/formats"
	"github.com/sparsegen/sparsegen/formats/fileio"
)

// sparsegenBakedFrom maps each baked pattern (formats.PatternHash) to the file and tensor
// it was baked from.
var sparsegenBakedFrom = map[string][2]string{
%s}

// sparsegenBakedWeight reads the weight d was baked from, as a CSR, and checks that it
// still has d's pattern.
func sparsegenBakedWeight(tb testing.TB, d asm.Desc) *formats.CSR {
	tb.Helper()
	src, ok := sparsegenBakedFrom[d.Pattern]
	if !ok {
		tb.Fatalf("%%s: no weight recorded for pattern %%s", d.Name, d.Pattern)
	}
	m, _, err := fileio.LoadMatrix(src[0], src[1])
	if err != nil {
		tb.Fatalf("%%s: %%v", d.Name, err)
	}
	var w *formats.CSR
	switch m := m.(type) {
	case *formats.CSR:
		w = m
	case *formats.Dense:
		if w, err = formats.CSRFromDense(m); err != nil {
			tb.Fatal(err)
		}
	default:
		tb.Fatalf("%%s: %%s holds a %%T, not the dense or CSR weight it was baked from", d.Name, src[0], m)
	}
	if h, err := formats.PatternHash(w); err != nil || h != d.Pattern {
		tb.Fatalf("%%s: %%s has pattern %%s (%%v), not the one baked (%%s): run go generate again", d.Name, src[0], h, err, d.Pattern)
	}
	return w
}

// TestSparsegenBaked checks every baked kernel this CPU runs on the weight it was baked
// from: against sparsegen's reference at N below, at and past its tile with each epilogue
// (sparsegenCheck); through dispatch when told to run it (sparsegenViaDispatch); among
// the candidates the autotuner times; and refused, by Pack and by dispatch, for the same
// weight with one entry moved.
func TestSparsegenBaked(t *testing.T) {
	host := dispatch.Host()
	for _, d := range SparsegenKernels() {
		if d.Pattern == "" {
			continue
		}
		f, _ := asm.Lookup(d.Name)
		if !host.CanRun(f, d.ISA) {
			t.Logf("%%s: this CPU lacks %%v, not run", d.Name, d.Features)
			continue
		}
		w := sparsegenBakedWeight(t, d)
		rng := rand.New(rand.NewPCG(5, 6))
		for i, n := range []int{1, 2, max(d.Lanes-1, 1), d.Tile - 1, d.Tile, d.Tile + 1, 2*d.Tile + 3, 49} {
			sparsegenCheck(t, rng, f, w, w.Rows, w.Cols, n, i%%4)
		}

		sparsegenViaDispatch(t, rng, d, w)
		// The autotuner times what Candidates lists: the baked kernel, for its own W.
		cs, err := dispatch.Candidates(w, max(d.MinN, d.Tile), dispatch.Options{Threads: 1})
		if err != nil {
			t.Fatal(err)
		}
		listed := false
		for _, c := range cs {
			listed = listed || c.Kernel == d.Name
		}
		if !listed {
			t.Errorf("%%s: not among the candidates for its own weight", d.Name)
		}

		moved := &formats.CSR{Rows: w.Rows, Cols: w.Cols, RowPtr: w.RowPtr, ColIdx: append([]int32(nil), w.ColIdx...), Val: w.Val}
		for i := 0; i < w.Rows; i++ {
			if lo, hi := w.RowPtr[i], w.RowPtr[i+1]; hi > lo && int(w.ColIdx[hi-1]) < w.Cols-1 {
				moved.ColIdx[hi-1] = int32(w.Cols - 1)
				break
			}
		}
		if _, err := f.Pack(moved); !errors.Is(err, asm.ErrNotApplicable) {
			t.Errorf("%%s packed another pattern: %%v", d.Name, err)
		}
		if _, err := dispatch.Compile(moved, dispatch.Options{Kernel: d.Name, Threads: 1, Calibration: "off"}); err == nil {
			t.Errorf("%%s: dispatch ran it on another pattern", d.Name)
		}
	}
}

// BenchmarkSparsegenBaked times each baked kernel this CPU runs on its weight, one thread,
// beside sparsegen's runtime CSR kernel of the same tile (spmm_csr_t<T>_<isa>) on the same
// W, at N = 16, 49, 256 and 3136 where both run:
//
//	go test -run '^$' -bench SparsegenBaked -count 6 | benchstat -col /kernel -
func BenchmarkSparsegenBaked(b *testing.B) {
	host := dispatch.Host()
	for _, d := range SparsegenKernels() {
		f, _ := asm.Lookup(d.Name)
		if d.Pattern == "" || !host.CanRun(f, d.ISA) {
			continue
		}
		w := sparsegenBakedWeight(b, d)
		twin := fmt.Sprintf("spmm_csr_t%%d_%%s", d.Tile, strings.ToLower(d.ISA.String()))
		for _, n := range []int{16, 49, 256, 3136} {
			for _, name := range []string{d.Name, twin} {
				p, err := dispatch.Compile(w, dispatch.Options{Kernel: name, Threads: 1, Calibration: "off"})
				if err != nil {
					b.Fatal(err)
				}
				if got, _ := p.KernelFor(n); got != name {
					continue // outside the kernel's N range
				}
				x, y := sparsegenRand(rand.New(rand.NewPCG(1, 1)), w.Cols*n), make([]float32, w.Rows*n)
				stem := strings.SplitN(strings.TrimPrefix(d.Name[strings.Index(d.Name, ".")+1:], "csr_baked_"), "_t", 2)[0]
				kind := map[bool]string{true: "baked", false: "runtime"}[name == d.Name]
				b.Run(fmt.Sprintf("w=%%s/isa=%%s/tile=%%d/N=%%d/kernel=%%s", stem, strings.ToLower(d.ISA.String()), d.Tile, n, kind), func(b *testing.B) {
					b.SetBytes(int64(len(w.Val)) * int64(n) * 2) // flops as "bytes": MB/s reads as MFLOP/s
					for b.Loop() {
						if err := p.Mul(y, n, x, n, n); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}
`
