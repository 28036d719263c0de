package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sparsegen/sparsegen/dispatch"
)

// TestTuneLowPrecisionModel: tune works on the weights prune -dtype writes (dense bf16 and
// CSR int8 npz) and on a safetensors BF16 tensor, kept in their dtype: the record's entries
// for them carry the dtype and name low-precision kernels only, info lists the dtype, bench
// -model -record runs the recorded winner, tune -check re-times it, and a record with a bad
// dtype is refused with the reason.
func TestTuneLowPrecisionModel(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "model.safetensors")
	writeModel(t, model)
	dense := filepath.Join(dir, "dense_bf16.npz")
	code, _, stderr := sg(t, "prune", "-in", model, "-tensor", "layer0.weight", "-sparsity", "0.5", "-dtype", "bf16", "-format", "dense", "-out", dense)
	require.Equal(t, 0, code, stderr)
	csr := filepath.Join(dir, "csr_i8.npz")
	code, _, stderr = sg(t, "prune", "-in", model, "-tensor", "layer0.weight", "-sparsity", "0.9", "-dtype", "i8", "-out", csr)
	require.Equal(t, 0, code, stderr)

	rec := filepath.Join(dir, "tune.json")
	for _, c := range []struct{ file, format string }{{dense, "dense_bf16"}, {csr, "csr_i8"}} {
		code, stdout, stderr := sg(t, "tune", "-model", c.file, "-n", "1,16", "-threads", "1", "-budget", "40ms", "-out", rec)
		require.Equal(t, 0, code, stderr)
		require.Contains(t, stdout, "tuned 2 layer×N steps")
		// Every kernel the table names (chosen, runner-up, default) is of W's format, or
		// (dense) of W regrouped in 8×1 blocks of its dtype.
		kernels := regexp.MustCompile(`(\w+)@(\S+)`).FindAllStringSubmatch(stdout, -1)
		require.NotEmpty(t, kernels, stdout)
		for _, k := range kernels {
			if c.format != "dense_bf16" || k[2] != "bsr8x1_bf16" {
				require.Equal(t, c.format, k[2], "%s: %s", c.file, k[0])
			}
			require.Contains(t, k[1], "_"+c.format[strings.Index(c.format, "_")+1:]+"_", k[0])
		}
	}
	code, stdout, stderr := sg(t, "tune", "-model", model, "-n", "1", "-threads", "1", "-budget", "40ms", "-out", rec)
	require.Equal(t, 0, code, stderr)
	require.Regexp(t, `(?m)^layer1\.weight\s+12×16\s+1\s+1…1\s+(gemv_dense_bf16_\w+@dense_bf16|bsr\w+_bf16_\w+@bsr8x1_bf16)\s`, stdout, "the BF16 tensor is tuned as stored")
	require.Regexp(t, `(?m)^layer0\.weight\s+16×24\s.*@dense\s`, stdout, "the F32 tensor stays float32")

	r, err := dispatch.LoadRecord(rec)
	require.NoError(t, err)
	dtypes := map[string]int{}
	for _, e := range r.Entries {
		dtypes[e.DType]++
		require.True(t, e.DType == "" || strings.HasSuffix(e.Winner.Format, "_"+e.DType), "%+v", e.Key)
	}
	require.Equal(t, map[string]int{"bf16": 3, "i8": 2, "": 1}, dtypes)
	code, stdout, stderr = sg(t, "info", "-peak=false", "-bandwidth=false", "-record", rec)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "6 entries")
	require.Regexp(t, `(?m)^  16×24 N 1 .*density\s+\d+% i8: (the default )?\w+_i8_\w+ \(csr_i8`, stdout)

	// bench -model -record runs the recorded winner of the bf16 layer at N = 16.
	e := r.Lookup(dispatch.Key{M: 16, K: 24, NLo: 16, NHi: 16, Pattern: "unstructured", DensityPct: 50, DType: "bf16"})
	require.NotNil(t, e, "%+v", r.Entries)
	code, stdout, stderr = sg(t, "bench", "-model", dense, "-n", "16", "-quick", "-record", rec)
	require.Equal(t, 0, code, stderr)
	require.Regexp(t, `model:unstructured:bf16\s.*\s`+e.Winner.Kernel+`\s`, stdout)

	code, stdout, stderr = sg(t, "tune", "-model", csr, "-n", "1,16", "-threads", "1", "-budget", "40ms", "-out", rec, "-check")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "of 2 recorded winners drifted")
	require.Contains(t, stdout, "@csr_i8")

	b, err := os.ReadFile(rec)
	require.NoError(t, err)
	bad := filepath.Join(dir, "bad.json")
	require.NoError(t, os.WriteFile(bad, []byte(strings.Replace(string(b), `"dtype": "i8"`, `"dtype": "int4"`, 1)), 0o644))
	code, _, stderr = sg(t, "tune", "-model", csr, "-n", "1", "-out", bad, "-check")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, `unknown dtype "int4"`)
}
