package main

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"encoding/csv"
	"fmt"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sparsegen/sparsegen/dispatch"
	"github.com/sparsegen/sparsegen/formats"
	"github.com/sparsegen/sparsegen/formats/fileio"
)

// sg runs the CLI in-process and returns its exit code, stdout and stderr.
func sg(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestUsageErrorsExit2(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"nosuchcommand"},
		{"bench", "-nosuchflag"},
		{"bench", "-shapes", "12x"},
		{"bench", "-patterns", "nm:5:4"},
		{"bench", "-threads", "-1"},
		{"bench", "-isa", "sse9"},
		{"bench", "-n", "4"},
		{"bench", "stray-argument"},
		{"prune"},
		{"prune", "-in", "a.npy", "-out", "b.npz", "-method", "bogus"},
		{"prune", "-in", "a.npy", "-out", "b.npz", "-sparsity", "1.5"},
		{"prune", "-in", "a.npy", "-out", "b.npz", "-method", "nm", "-nm", "3:2"},
		{"prune", "-in", "a.npy", "-out", "b.npz", "-method", "block", "-block", "0x4"},
		{"prune", "-in", "a.npy", "-out", "b.npz", "-format", "nm"},
		{"inspect"},
		{"info", "-bogus"},
		{"gen", "-isa", "sse2"},
		{"gen", "-prefix", "ns"},
		{"gen", "-bake", "w.npz"},
	} {
		code, _, stderr := sg(t, args...)
		require.Equal(t, 2, code, "args %q: stderr %s", args, stderr)
		require.Contains(t, stderr, "usage", "args %q", args)
	}
	code, _, _ := sg(t, "bench", "-h")
	require.Equal(t, 0, code, "-h is not an error")
}

// TestGenOutErrors: sparsegen gen reports a missing -out, and package asm aimed anywhere
// but sparsegen's asm folder, in one line (issue 20: it wrote package asm into ./kern and
// passed on a raw "open …: no such file or directory").
func TestGenOutErrors(t *testing.T) {
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	dir := t.TempDir()
	code, _, stderr := sg(t, "gen", "-src", root, "-pkg", "kern", "-out", filepath.Join(dir, "missing"))
	require.NotEqual(t, 0, code)
	require.Contains(t, stderr, "no such folder")
	require.Equal(t, 1, strings.Count(strings.TrimSpace(stderr), "\n")+1, "one line: %s", stderr)
	code, _, stderr = sg(t, "gen", "-src", root, "-isa", "avx2", "-families", "csr", "-out", dir)
	require.Equal(t, 2, code)
	require.Contains(t, stderr, "pass -pkg NAME")
}

func TestBenchTinySuiteCSVAndPlot(t *testing.T) {
	dir := t.TempDir()
	csvPath := filepath.Join(dir, "out", "r.csv")
	plot := filepath.Join(dir, "speedup")
	code, stdout, stderr := sg(t, "bench", "-shapes", "a=32x48x20,b=40x64x1", "-patterns", "dense,unstructured:0.8,nm:2:4,block:4x1:0.5",
		"-quick", "-csv", csvPath, "-plot", plot)
	require.Equal(t, 0, code, "stderr: %s", stderr)
	require.Contains(t, stdout, "unstructured:0.8")
	require.Contains(t, stdout, "× dense")

	f, err := os.Open(csvPath)
	require.NoError(t, err)
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	require.NoError(t, err)
	require.Equal(t, strings.Split("shape,m,k,n,pattern,sparsity,nnz,kernel,isa,threads,median_ns,min_ns,gflops_dense_equiv,gflops_useful,speedup_vs_dense,packed_bytes,bytes_per_call,gbps,read_bw_pct", ","), recs[0])
	require.Len(t, recs, 1+2*4, "one row per shape × pattern")
	for _, r := range recs[1:] {
		require.NotEmpty(t, r[7], "kernel column")
		// Shape b has N = 1: the bytes a call reads and its rate; a has none.
		require.Equal(t, r[0] == "b", r[16] != "" && r[17] != "", "bytes_per_call and gbps of %v", r)
	}
	require.Contains(t, stdout, "% read BW")
	require.Contains(t, stdout, "read bandwidth")

	svg, err := os.ReadFile(plot + ".svg")
	require.NoError(t, err)
	require.True(t, bytes.HasPrefix(bytes.TrimSpace(svg), []byte("<?xml")) || bytes.Contains(svg, []byte("<svg")))
	pf, err := os.Open(plot + ".png")
	require.NoError(t, err)
	defer pf.Close()
	_, err = png.Decode(pf)
	require.NoError(t, err)
}

// writeModel makes a small safetensors model with two weight matrices and a bias.
func writeModel(t *testing.T, path string) {
	rng := rand.New(rand.NewPCG(7, 7))
	mk := func(r, c int) *formats.Dense {
		d := make([]float32, r*c)
		for i := range d {
			d[i] = float32(rng.NormFloat64())
		}
		m, err := formats.NewDense(r, c, d)
		require.NoError(t, err)
		return m
	}
	require.NoError(t, fileio.SaveSafetensors(path, []fileio.Tensor{
		{Name: "layer0.weight", Data: mk(16, 24)},
		{Name: "layer1.weight", DType: "BF16", Data: mk(12, 16)},
		{Name: "layer1.bias", Data: mk(1, 12), Shape: []int{12}},
	}, nil))
}

func TestPruneAndInspectSafetensors(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "model.safetensors")
	writeModel(t, model)

	code, stdout, stderr := sg(t, "inspect", model)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "layer0.weight")
	require.Contains(t, stdout, "16×24")
	require.Contains(t, stdout, "tightest N:M")

	// Every method, every output format.
	cases := []struct {
		args   []string
		layout string
		check  func(m formats.Matrix)
	}{
		{[]string{"-method", "magnitude", "-sparsity", "0.75"}, "csr", func(m formats.Matrix) {
			r, c := m.Shape()
			require.Equal(t, int64(r*c/4), m.NNZ(), "exactly 25% kept")
		}},
		{[]string{"-method", "nm", "-nm", "2:4"}, "nm", func(m formats.Matrix) {
			nm := m.(*formats.NM)
			require.Equal(t, 2, nm.Keep)
			require.Equal(t, 4, nm.Group)
		}},
		{[]string{"-method", "block", "-block", "4x4", "-sparsity", "0.5"}, "bsr", func(m formats.Matrix) {
			require.Equal(t, 4, m.(*formats.BSR).R)
		}},
		{[]string{"-method", "global", "-sparsity", "0.5"}, "csr", nil},
	}
	for i, tc := range cases {
		out := filepath.Join(dir, "out", string(rune('a'+i)))
		args := append([]string{"prune", "-in", model, "-out", out}, tc.args...)
		code, stdout, stderr := sg(t, args...)
		require.Equal(t, 0, code, "%q: %s", args, stderr)
		require.Contains(t, stdout, "layer1.weight")
		for _, name := range []string{"layer0.weight", "layer1.weight"} {
			p := filepath.Join(out, name+".npz")
			m, info, err := fileio.LoadMatrix(p, "")
			require.NoError(t, err, p)
			require.Equal(t, tc.layout, info.Layout)
			if tc.check != nil {
				tc.check(m)
			}
		}
		_, err := os.Stat(filepath.Join(out, "layer1.bias.npz"))
		require.True(t, os.IsNotExist(err), "1-D bias is not pruned")
		code, stdout, stderr = sg(t, "inspect", filepath.Join(out, "layer0.weight.npz"))
		require.Equal(t, 0, code, stderr)
		require.Contains(t, stdout, "stored as    "+tc.layout)
	}

	// One tensor by name into one file.
	one := filepath.Join(dir, "one.npz")
	code, _, stderr = sg(t, "prune", "-in", model, "-tensor", "layer0.weight", "-out", one, "-sparsity", "0.9")
	require.Equal(t, 0, code, stderr)
	m, _, err := fileio.LoadMatrix(one, "")
	require.NoError(t, err)
	require.Equal(t, int64(38), m.NNZ(), "10% of 384, rounded")

	// Failures are exit 1 with a message, not a crash.
	code, _, stderr = sg(t, "prune", "-in", filepath.Join(dir, "missing.safetensors"), "-out", one)
	require.Equal(t, 1, code)
	require.NotEmpty(t, stderr)
	code, _, stderr = sg(t, "prune", "-in", model, "-tensor", "nope", "-out", one)
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "nope")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "bad.safetensors"), []byte("\xff\xff\xff\xff\xff\xff\xff\x7fgarbage"), 0o644))
	code, _, stderr = sg(t, "inspect", filepath.Join(dir, "bad.safetensors"))
	require.Equal(t, 1, code)
	require.NotEmpty(t, stderr)
}

func TestBenchModelFile(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "model.safetensors")
	writeModel(t, model)
	code, stdout, stderr := sg(t, "bench", "-model", model, "-n", "1,8", "-quick")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "layer0.weight/n=8")
	require.NotContains(t, stdout, "layer1.bias", "1-D tensors are skipped")
	require.Contains(t, stdout, "model:dense")

	// Issue 16, item 5: a 90%-sparse tensor (stored dense, as safetensors holds it) is
	// labelled by its structure, not "dense".
	rng := rand.New(rand.NewPCG(9, 9))
	d := make([]float32, 64*48)
	for i := range d {
		if rng.Float64() < 0.1 {
			d[i] = float32(rng.NormFloat64())
		}
	}
	w, err := formats.NewDense(64, 48, d)
	require.NoError(t, err)
	sparse := filepath.Join(dir, "sparse.safetensors")
	require.NoError(t, fileio.SaveSafetensors(sparse, []fileio.Tensor{{Name: "w", Data: w}}, nil))
	code, stdout, stderr = sg(t, "bench", "-model", sparse, "-n", "8", "-quick")
	require.Equal(t, 0, code, stderr)
	require.Regexp(t, `model:unstructured\s+9\d\.\d%`, stdout)
	require.NotContains(t, stdout, "model:dense")
	require.NotRegexp(t, `(\d{3,}|[2-9]\d\d)%\s`, stdout, "no %% peak above 100")
}

// Issue 16, item 5: -compare shows no gain where tuned and default run the same kernel.
func TestTuneCompareSameKernel(t *testing.T) {
	rec := filepath.Join(t.TempDir(), "tune.json")
	code, stdout, stderr := sg(t, "tune", "-shapes", "32x48", "-patterns", "unstructured:0.8", "-n", "1,8", "-threads", "1", "-budget", "30ms", "-out", rec, "-compare", "3")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "tuned vs default")
	for _, line := range strings.Split(stdout, "\n") {
		if strings.Contains(line, "(same kernel)") {
			require.Regexp(t, `\s-\s+-\s*$`, line, "gain and p of one kernel timed twice")
		}
	}
}

func TestInfo(t *testing.T) {
	code, stdout, stderr := sg(t, "info", "-peak=false")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "ISA:")
	require.Contains(t, stdout, "ref_csr_generic")
	// Issue 16, item 5: the ISA reported is one this build has kernels of that run here
	// (a purego build said "avx2" while listing only generic kernels).
	isa := regexp.MustCompile(`(?m)^ISA:\s+(\S+)`).FindStringSubmatch(stdout)
	require.NotNil(t, isa, stdout)
	require.Regexp(t, `(?m)^  \S+\s+\S+\s+`+isa[1]+`\s.*\syes$`, stdout, "no %s kernel runs here", isa[1])
	// Issue 17, item 2: one core's read bandwidth beside the FMA peak (its own flag).
	require.Regexp(t, `(?m)^read bandwidth, one core: \d+\.\d GB/s from memory \(\d+ MiB buffer\), \d+\.\d GB/s from L2 \(\d+ KiB\); \S+ loads$`, stdout)
	code, stdout, stderr = sg(t, "info", "-peak=false", "-bandwidth=false")
	require.Equal(t, 0, code, stderr)
	require.NotContains(t, stdout, "read bandwidth")
}

func TestTuneCheckAndInfo(t *testing.T) {
	dir := t.TempDir()
	rec := filepath.Join(dir, "tune.json")
	code, stdout, stderr := sg(t, "tune", "-shapes", "32x48,24x64", "-patterns", "unstructured:0.8,nm:2:4", "-n", "1,8", "-threads", "1", "-budget", "40ms", "-out", rec)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "tuned 8 layer×N steps")
	require.Contains(t, stdout, "32x48/nm:2:4")
	code, stdout, stderr = sg(t, "info", "-peak=false", "-bandwidth=false", "-record", rec)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "8 entries")
	code, stdout, stderr = sg(t, "tune", "-shapes", "32x48,24x64", "-patterns", "unstructured:0.8,nm:2:4", "-n", "1,8", "-threads", "1", "-out", rec, "-check")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "of 8 recorded winners drifted")
	require.Contains(t, stdout, "verdict")
	require.Regexp(t, `(?m)\s(ok|drifted|inconclusive)\s*$`, strings.Split(stdout, "\n")[1], "a verdict per winner")

	// Usage errors and a missing record.
	code, _, _ = sg(t, "tune", "-out", rec)
	require.Equal(t, 2, code)
	code, _, _ = sg(t, "tune", "-shapes", "32x48", "-n", "0", "-out", rec)
	require.Equal(t, 2, code)
	code, _, stderr = sg(t, "tune", "-shapes", "32x48", "-out", filepath.Join(dir, "none.json"), "-check")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "none.json")
}

func TestBenchFollowsARecord(t *testing.T) {
	dir := t.TempDir()
	rec := filepath.Join(dir, "tune.json")
	code, _, stderr := sg(t, "tune", "-shapes", "32x48", "-patterns", "unstructured:0.8", "-n", "8", "-threads", "1", "-budget", "30ms", "-out", rec)
	require.Equal(t, 0, code, stderr)
	code, stdout, stderr := sg(t, "bench", "-shapes", "32x48x8", "-patterns", "unstructured:0.8", "-quick", "-record", rec)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "unstructured:0.8")
	code, _, stderr = sg(t, "bench", "-shapes", "32x48x8", "-patterns", "unstructured:0.8", "-quick", "-record", filepath.Join(dir, "missing.json"))
	require.Equal(t, 0, code, "a missing record only warns")
	require.Contains(t, stderr, "default policy")
}

// TestCalibrateCLI: calibrate's usage errors, validation without a calibration, and info
// naming the policy's source (a corrupt calibration is named as ignored, never used).
func TestCalibrateCLI(t *testing.T) {
	code, _, _ := sg(t, "calibrate", "-budget", "10ms")
	require.Equal(t, 2, code)
	code, _, _ = sg(t, "calibrate", "-measure=false")
	require.Equal(t, 2, code)
	missing := filepath.Join(t.TempDir(), "none.txt")
	code, _, stderr := sg(t, "calibrate", "-measure=false", "-validate", "-out", missing)
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "no usable calibration")

	t.Setenv(dispatch.CalibrationEnv, "off")
	code, stdout, stderr := sg(t, "info", "-peak=false", "-bandwidth=false")
	require.Equal(t, 0, code, stderr)
	require.Regexp(t, `(?m)^policy:\s+shipped table`, stdout)
	corrupt := filepath.Join(t.TempDir(), "corrupt.txt")
	require.NoError(t, os.WriteFile(corrupt, []byte("sparsegen-calibration 1\nmachine {}\n"), 0o644))
	t.Setenv(dispatch.CalibrationEnv, corrupt)
	code, stdout, stderr = sg(t, "info", "-peak=false", "-bandwidth=false")
	require.Equal(t, 0, code, stderr)
	require.Regexp(t, `(?m)^policy:\s+shipped table.*calibration ignored: truncated`, stdout)
}

// TestHugeNAndThreadsRefused: an N or thread count out of range is a usage error with the
// range in the message, and a configuration that cannot fit in memory is refused before it
// runs (both used to die in the runtime: "out of memory", a goroutine dump, exit 2).
func TestHugeNAndThreadsRefused(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "model.safetensors")
	writeModel(t, model)
	for _, args := range [][]string{
		{"bench", "-model", model, "-n", "100000000"},
		{"tune", "-model", model, "-n", "1,100000000", "-out", filepath.Join(dir, "r.json")},
		{"bench", "-threads", "100000"},
		{"tune", "-shapes", "32x48", "-threads", "1,100000", "-out", filepath.Join(dir, "r.json")},
	} {
		code, _, stderr := sg(t, args...)
		require.Equal(t, 2, code, "args %q: stderr %s", args, stderr)
		require.Regexp(t, `[01]…(1048576|4096)`, stderr, "args %q", args)
	}
	// 2²⁰×2¹⁰ W with N = 2²⁰: Y alone is 4 TiB.
	code, _, stderr := sg(t, "bench", "-shapes", "1048576x1024x1048576", "-patterns", "dense", "-quick")
	require.Equal(t, 1, code, stderr)
	require.Contains(t, stderr, "GiB")
	_, err := os.Stat(filepath.Join(dir, "r.json"))
	require.True(t, os.IsNotExist(err), "no record written")
}

// TestPruneKeepsTensorsWhoseNamesCollide: tensors whose names sanitize to one file name (or
// differ only in case) each get their own file; prune used to print one path three times,
// exit 0 and keep the last tensor only.
func TestPruneKeepsTensorsWhoseNamesCollide(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "model.safetensors")
	names := []string{"layer/a", "layer_a", "layer a", "Layer_A"}
	var ts []fileio.Tensor
	for i, name := range names {
		d := make([]float32, (8+i)*8)
		for j := range d {
			d[j] = float32(j%5) + 1
		}
		m, err := formats.NewDense(8+i, 8, d)
		require.NoError(t, err)
		ts = append(ts, fileio.Tensor{Name: name, Data: m})
	}
	require.NoError(t, fileio.SaveSafetensors(model, ts, nil))
	out := filepath.Join(dir, "out")
	code, stdout, stderr := sg(t, "prune", "-in", model, "-out", out, "-sparsity", "0.5")
	require.Equal(t, 0, code, stderr)
	seen := map[string]bool{}
	for i, name := range names {
		line := ""
		for _, l := range strings.Split(stdout, "\n") {
			if strings.HasPrefix(l, name+":") {
				line = l
			}
		}
		require.NotEmpty(t, line, "no output line for %q in %s", name, stdout)
		path := line[strings.LastIndex(line, "→ ")+len("→ "):]
		require.False(t, seen[strings.ToLower(path)], "%s written twice", path)
		seen[strings.ToLower(path)] = true
		m, _, err := fileio.LoadMatrix(path, "")
		require.NoError(t, err, path)
		rows, _ := m.Shape()
		require.Equal(t, 8+i, rows, "%s holds %q", path, name)
	}
	ents, err := os.ReadDir(out)
	require.NoError(t, err)
	require.Len(t, ents, len(names))
	// The tensor whose name needed no change keeps its plain file name.
	_, err = os.Stat(filepath.Join(out, "layer_a.npz"))
	require.NoError(t, err)
}

// TestTuneOutChecked: an -out that cannot be written fails before tuning, and a run leaves
// only the record (it used to leave RECORD.lock).
func TestTuneOutChecked(t *testing.T) {
	dir := t.TempDir()
	code, stdout, stderr := sg(t, "tune", "-shapes", "32x48", "-n", "8", "-threads", "1", "-budget", "1h", "-out", filepath.Join(dir, "missing", "r.json"))
	require.Equal(t, 1, code, stderr)
	require.NotContains(t, stdout, "tuned")
	require.Contains(t, stderr, "missing")
	rec := filepath.Join(dir, "r.json")
	code, _, stderr = sg(t, "tune", "-shapes", "32x48", "-patterns", "unstructured:0.8", "-n", "8", "-threads", "1", "-budget", "30ms", "-out", rec)
	require.Equal(t, 0, code, stderr)
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, ents, 1, "only the record: %v", ents)
}

// npyOf builds a version 1.0 .npy of the given descr and shape text around raw data.
func npyOf(descr, shape string, data []byte) []byte {
	h := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shape)
	for (10+len(h)+1)%64 != 0 {
		h += " "
	}
	h += "\n"
	b := append([]byte("\x93NUMPY\x01\x00"), byte(len(h)), byte(len(h)>>8))
	return append(append(b, h...), data...)
}

func le[T int32 | int64 | float32 | float64](v ...T) []byte {
	var buf bytes.Buffer
	require.NoError(nil, binary.Write(&buf, binary.LittleEndian, v))
	return buf.Bytes()
}

// TestCorruptScipyNPZError: a scipy npz whose column index is out of range is reported as
// such (the loader's message names row and column); inspect used to discard it and report
// "dtype <i4 is not float16, float32 or float64" from a second, dense reading.
func TestCorruptScipyNPZError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.npz")
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range []struct {
		name string
		npy  []byte
	}{
		{"format", npyOf("|S3", "()", []byte("csr"))},
		{"shape", npyOf("<i8", "(2,)", le[int64](2, 3))},
		{"indptr", npyOf("<i4", "(3,)", le[int32](0, 1, 2))},
		{"indices", npyOf("<i4", "(2,)", le[int32](1, 7))}, // column 7 of 3
		{"data", npyOf("<f4", "(2,)", le[float32](1, 2))},
	} {
		w, err := zw.Create(e.name + ".npy")
		require.NoError(t, err)
		_, err = w.Write(e.npy)
		require.NoError(t, err)
	}
	require.NoError(t, zw.Close())
	require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o644))
	code, _, stderr := sg(t, "inspect", path)
	require.Equal(t, 1, code)
	require.NotContains(t, stderr, "is not float16")
	require.Contains(t, stderr, "7")
	t.Log(stderr)
}

// TestPruneRefusesOverflow: float64 weights beyond float32's range are refused, not written
// as ±Inf with exit 0.
func TestPruneRefusesOverflow(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "w.npy")
	require.NoError(t, os.WriteFile(in, npyOf("<f8", "(2, 2)", le(1.0, 5e38, -1e39, 2.0)), 0o644))
	out := filepath.Join(dir, "w.npz")
	code, _, stderr := sg(t, "prune", "-in", in, "-out", out, "-sparsity", "0.5")
	require.Equal(t, 1, code, stderr)
	require.Contains(t, stderr, "3.4e38")
	_, err := os.Stat(out)
	require.True(t, os.IsNotExist(err), "nothing written")
}

// TestPruneSharedRows: -shared-rows R writes an N:M whose bands of R rows share positions
// and reports the |w| mass kept against per-row N:M; it needs -method nm and R ≥ 1.
func TestPruneSharedRows(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "w.npy")
	d, err := formats.NewDense(8, 16, func() []float32 {
		v := make([]float32, 128)
		for i := range v {
			v[i] = float32((i*37)%23) - 11.5 // no zeros: a kept zero's position is not stored
		}
		return v
	}())
	require.NoError(t, err)
	require.NoError(t, fileio.SaveMatrix(in, d))
	out := filepath.Join(dir, "w.npz")
	code, stdout, stderr := sg(t, "prune", "-in", in, "-out", out, "-method", "nm", "-nm", "2:4", "-shared-rows", "4")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "positions shared by 4 rows: kept")
	require.Contains(t, stdout, "per-row 2:4 keeps")
	m, _, err := fileio.LoadMatrix(out, "")
	require.NoError(t, err)
	nm, ok := m.(*formats.NM)
	require.True(t, ok, "%T", m)
	spr := nm.SlotsPerRow()
	for i := 0; i < 8; i++ {
		b0 := i / 4 * 4
		require.Equal(t, nm.Pos[b0*spr:(b0+1)*spr], nm.Pos[i*spr:(i+1)*spr], "row %d", i)
	}
	for _, args := range [][]string{
		{"prune", "-in", in, "-out", out, "-shared-rows", "4"},
		{"prune", "-in", in, "-out", out, "-method", "nm", "-shared-rows", "0"},
	} {
		code, _, stderr := sg(t, args...)
		require.Equal(t, 2, code, "args %q", args)
		require.Contains(t, stderr, "-shared-rows")
	}
}
