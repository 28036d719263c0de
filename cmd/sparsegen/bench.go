package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/sparsegen/sparsegen/asm"
	"github.com/sparsegen/sparsegen/bench"
	"github.com/sparsegen/sparsegen/dispatch"
	"github.com/sparsegen/sparsegen/formats"
	"github.com/sparsegen/sparsegen/formats/fileio"
)

func init() {
	commands["bench"] = command{"benchmark dense vs sparse kernels on this CPU (default suite: DESIGN §9)", runBench}
}

func runBench(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench", "bench [flags]", stderr)
	shapes := fs.String("shapes", "", "comma-separated MxKxN list (optionally name=MxKxN); default: the built-in corpus\n(768x768x128, 3072x768x128, 768x3072x128, 256x64x3136, 2048x512x49, 11008x4096x16, 11008x4096x1)")
	patterns := fs.String("patterns", "", "comma-separated patterns: dense, unstructured:S, nm:N:M, block:RxC:S (each with an optional :bf16, :f16 or :i8); default:\ndense, unstructured 0.5…0.98, nm:2:4, nm:1:4, nm:2:8, block:4x1 and 4x4 at 0.8 and 0.9; with neither\n-patterns nor -dtype, dense:bf16 is added at N = 1 and 16")
	threads := fs.Int("threads", 1, "threads per call (0 = all cores)")
	isa := fs.String("isa", "", "cap the ISA: avx512, avx2, neon or generic (default: best available)")
	cold := fs.Bool("cold", false, "stream W from memory for N ≤ 16 (rotate copies whose total exceeds 2× the L3)")
	model := fs.String("model", "", "benchmark the 2-D tensors of this model file (.safetensors, .npz or .npy) instead of synthetic weights")
	n := fs.String("n", "", "with -model: comma-separated N values (default 1,16,128)")
	csvPath := fs.String("csv", "", "also write the results as CSV to this file")
	plotBase := fs.String("plot", "", "also write the speedup plot to PATH.svg and PATH.png")
	quick := fs.Bool("quick", false, "fewer samples per configuration (a smoke run)")
	blas := fs.Bool("blas", true, "compare with OpenBLAS when built with -tags openblas")
	xsmm := fs.Bool("xsmm", true, "compare with LIBXSMM's dense JIT when built with -tags libxsmm")
	record := fs.String("record", "", "a tuning record (sparsegen tune) for dispatch to follow")
	dtypes := fs.String("dtype", "", "comma-separated weight dtypes for the dense, unstructured, N:M and block patterns: f32, bf16, f16, i8\n(W converted from the float32 weights, round to nearest even; int8 with a scale per row);\ndefault f32")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	if *threads < 0 || *threads > dispatch.MaxThreads {
		return usageErr(fs, "-threads must be in 0…%d", dispatch.MaxThreads)
	}
	if *isa != "" {
		if _, err := asm.ParseISA(*isa); err != nil {
			return usageErr(fs, "-isa: %v", err)
		}
	}
	cfg := bench.Config{Threads: *threads, ISA: *isa, Cold: *cold, BLAS: *blas, XSMM: *xsmm, Progress: progressWriter(stderr), Seed: 1}
	if *quick {
		cfg.Protocol = bench.Protocol{Samples: 3, MinSample: time.Millisecond, Budget: 100 * time.Millisecond}
	}
	var err error
	if *record != "" {
		if cfg.Record, err = dispatch.LoadRecord(*record); err != nil {
			fmt.Fprintf(stderr, "warning: %v: using the default policy\n", err)
		}
	}
	if *shapes != "" {
		if *model != "" {
			return usageErr(fs, "-shapes and -model exclude each other")
		}
		if cfg.Shapes, err = bench.ParseList(*shapes, bench.ParseShape); err != nil {
			return usageErr(fs, "-shapes: %v", err)
		}
	} else if *model == "" {
		cfg.Shapes = bench.Corpus
	}
	if *patterns != "" {
		if cfg.Patterns, err = bench.ParseList(*patterns, bench.ParsePattern); err != nil {
			return usageErr(fs, "-patterns: %v", err)
		}
	} else {
		cfg.Patterns = bench.DefaultPatterns()
		if *dtypes == "" && *model == "" {
			cfg.Extras = bench.DefaultExtras() // dense bf16 at N = 1 and 16
		}
	}
	if *dtypes != "" {
		if *model != "" {
			return usageErr(fs, "-dtype applies to synthetic weights, not -model")
		}
		if cfg.Patterns, err = withDTypes(cfg.Patterns, *dtypes); err != nil {
			return usageErr(fs, "-dtype: %v", err)
		}
	}
	if *n != "" && *model == "" {
		return usageErr(fs, "-n needs -model (use -shapes MxKxN for synthetic weights)")
	}
	if *model != "" {
		ns := []int{1, 16, 128}
		if *n != "" {
			if ns, err = bench.ParseList(*n, bench.ParseN); err != nil {
				return usageErr(fs, "-n: %v", err)
			}
		}
		if cfg.Shapes, cfg.Weights, err = modelShapes(*model, ns); err != nil {
			return err
		}
	}

	// The widest ISA of the kernels dispatch can choose here (a purego build has only
	// generic ones, whatever the CPU supports).
	dispatchISA := dispatch.Host().BestISA()
	if *isa != "" {
		dispatchISA, _ = asm.ParseISA(*isa)
	}
	dispatchISA = dispatch.Host().KernelISA(dispatchISA)
	if pk, err := asm.PeakGFLOPS(dispatchISA, 200*time.Millisecond); err == nil {
		cfg.PeakGF = pk
	}
	for _, sh := range cfg.Shapes {
		if sh.N == 1 { // N = 1 rows report their read rate against one core's (measured once)
			if g, err := asm.ReadBandwidth(300 * time.Millisecond); err == nil {
				cfg.ReadGBps = g
			}
			break
		}
	}
	withBLAS := *blas && bench.HaveOpenBLAS
	withXSMM := *xsmm && bench.HaveLIBXSMM
	fmt.Fprintf(stdout, "sparsegen bench: %s, ISA %s, %d thread(s)", cpuName(), dispatchISA, effectiveThreads(*threads))
	if cfg.PeakGF > 0 {
		fmt.Fprintf(stdout, ", measured FMA peak %.3g GFLOP/s per core", cfg.PeakGF)
	}
	if cfg.ReadGBps > 0 {
		fmt.Fprintf(stdout, ", read bandwidth %.1f GB/s per core", cfg.ReadGBps)
	}
	if withBLAS {
		fmt.Fprintf(stdout, ", OpenBLAS core %s", bench.OpenBLASCoreName())
	}
	if withXSMM {
		fmt.Fprintf(stdout, ", LIBXSMM target %s", bench.LIBXSMMTarget())
	}
	fmt.Fprintln(stdout)
	if !withBLAS && *blas {
		fmt.Fprintln(stdout, "(OpenBLAS columns need: go run -tags openblas ./cmd/sparsegen bench; Debian libopenblas-dev)")
	}
	rs, err := bench.Run(cfg)
	if err != nil {
		return err
	}
	if err := bench.WriteTable(stdout, rs, bench.Baselines{OpenBLAS: withBLAS, LIBXSMM: withXSMM}); err != nil {
		return err
	}
	if bench.PeakExceeded(rs, cfg.PeakGF) {
		fmt.Fprintf(stdout, "(%% peak not shown: kernels ran faster than the FMA peak measured, %.3g GFLOP/s per core, so that measurement is wrong here: an emulator such as qemu, or a core busy while it ran)\n", cfg.PeakGF)
	}
	if *csvPath != "" {
		if err := writeTo(*csvPath, func(w io.Writer) error { return bench.WriteCSV(w, rs) }); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s\n", *csvPath)
	}
	if *plotBase != "" {
		base := strings.TrimSuffix(strings.TrimSuffix(*plotBase, ".svg"), ".png")
		if err := bench.Plot(rs, base); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s.svg and %s.png\n", base, base)
	}
	return nil
}

// withDTypes returns ps with every dense, unstructured (CSR), N:M and block (BSR) pattern
// once per dtype of the list ("f32", "bf16", "f16", "i8"); other patterns (a model's) stay
// as they are and are left out when f32 is not in the list.
func withDTypes(ps []bench.Pattern, list string) ([]bench.Pattern, error) {
	var dts []formats.DType
	f32 := false
	for _, s := range strings.Split(list, ",") {
		s = strings.ToLower(strings.TrimSpace(s))
		if s == "f32" {
			f32 = true
			dts = append(dts, 0)
			continue
		}
		t, err := formats.ParseDType(s)
		if err != nil {
			return nil, err
		}
		dts = append(dts, t)
	}
	var out []bench.Pattern
	for _, p := range ps {
		if p.Kind != bench.Dense && p.Kind != bench.Unstructured && p.Kind != bench.NM && p.Kind != bench.Block {
			if f32 {
				out = append(out, p)
			}
			continue
		}
		for _, t := range dts {
			q := p
			q.DType = t
			out = append(out, q)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no pattern left: low-precision dtypes apply to the dense, unstructured, N:M and block patterns only")
	}
	return out, nil
}

// parseThreads reads one thread count: an integer in 1…dispatch.MaxThreads.
func parseThreads(s string) (int, error) {
	v, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || v < 1 || v > dispatch.MaxThreads {
		return 0, fmt.Errorf("thread count %q is not an integer in 1…%d", s, dispatch.MaxThreads)
	}
	return v, nil
}

// modelShapes loads every 2-D tensor of a model file and makes one shape per tensor and N.
func modelShapes(path string, ns []int) ([]bench.Shape, map[string]formats.Matrix, error) {
	ts, err := loadWeights(path)
	if err != nil {
		return nil, nil, err
	}
	var shapes []bench.Shape
	weights := map[string]formats.Matrix{}
	for _, t := range ts {
		m, k := t.w.Shape()
		if m < 2 || k < 2 {
			continue // biases and scalars
		}
		for _, n := range ns {
			name := fmt.Sprintf("%s/n=%d", t.name, n)
			shapes = append(shapes, bench.Shape{Name: name, M: m, K: k, N: n})
			weights[name] = t.w
		}
	}
	if len(shapes) == 0 {
		return nil, nil, fmt.Errorf("%s: no 2-D weight tensor found", path)
	}
	return shapes, weights, nil
}

func writeTo(path string, write func(io.Writer) error) error {
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// progressWriter returns stderr when it is a terminal, nil otherwise (no progress noise in
// logs and pipes).
func progressWriter(stderr io.Writer) io.Writer {
	if f, ok := stderr.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			return stderr
		}
	}
	return nil
}

func effectiveThreads(t int) int {
	if t == 0 {
		return dispatch.Host().Cores
	}
	return t
}

func cpuName() string {
	c := dispatch.Host()
	if c.Model != "" {
		return c.Model
	}
	return c.GOARCH
}

// tensor is one named weight read from a model file.
type tensor struct {
	name string
	w    formats.Matrix
	info fileio.Info
}

// loadTensors reads every matrix of a .safetensors, .npz or .npy file. Safetensors
// tensors are widened to float32 (prune and inspect work on float32); npz and npy keep
// bf16 and int8 (and scipy CSR data in any dtype) as stored.
func loadTensors(path string) ([]tensor, error) { return readTensors(path, false) }

// loadWeights is loadTensors for the weights a plan runs (bench -model, tune -model): a
// safetensors BF16 or F16 matrix stays in its dtype (a formats.DenseLP, as
// Safetensors.DenseLP reads it), as a model runs it, so that what is timed and tuned is
// the low-precision plan, not a widened copy.
func loadWeights(path string) ([]tensor, error) { return readTensors(path, true) }

func readTensors(path string, asStored bool) ([]tensor, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".safetensors":
		st, err := fileio.OpenSafetensorsFile(path)
		if err != nil {
			return nil, err
		}
		defer st.Close()
		lp := map[string]bool{}
		if asStored {
			for _, a := range st.List() {
				lp[a.Name] = len(a.Shape) == 2 && (a.DType == "BF16" || a.DType == "F16")
			}
		}
		return collect(st.Names(), func(name string) (formats.Matrix, fileio.Info, error) {
			if lp[name] {
				return st.DenseLP(name)
			}
			return st.Dense(name)
		})
	case ".npz":
		// A scipy sparse or our N:M npz (it has a "format" array) is one matrix; a plain
		// npz holds named dense arrays. The archive is opened and each array read once.
		z, err := fileio.OpenNPZFile(path)
		if err != nil {
			return nil, err
		}
		defer z.Close()
		if z.Has("format") {
			w, info, err := z.Matrix("")
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			info.Path = path
			return []tensor{{filepath.Base(path), w, info}}, nil
		}
		ts, err := collect(z.Names(), z.Matrix)
		if err != nil {
			return nil, err
		}
		// The row scales of an int8 tensor belong to it (WriteDenseLP): not a tensor of
		// their own.
		out := ts[:0]
		for _, t := range ts {
			if base, ok := strings.CutSuffix(t.name, fileio.LPScaleSuffix); ok && isI8(ts, base) {
				continue
			}
			out = append(out, t)
		}
		return out, nil
	case ".npy":
		w, info, err := fileio.LoadMatrix(path, "")
		if err != nil {
			return nil, err
		}
		return []tensor{{filepath.Base(path), w, info}}, nil
	}
	return nil, fmt.Errorf("%s: unknown file type (want .safetensors, .npz or .npy)", path)
}

// collect reads each named matrix of a container.
func collect(names []string, read func(string) (formats.Matrix, fileio.Info, error)) ([]tensor, error) {
	out := make([]tensor, 0, len(names))
	for _, name := range names {
		w, info, err := read(name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out = append(out, tensor{name, w, info})
	}
	return out, nil
}

// isI8 reports whether ts holds an int8 tensor called name.
func isI8(ts []tensor, name string) bool {
	for _, t := range ts {
		if lp, ok := t.w.(*formats.DenseLP); ok && t.name == name && lp.DType == formats.I8 {
			return true
		}
	}
	return false
}
