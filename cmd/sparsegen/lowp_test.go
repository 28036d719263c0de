package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sparsegen/sparsegen/bench"
	"github.com/sparsegen/sparsegen/formats"
	"github.com/sparsegen/sparsegen/formats/fileio"
)

// TestWithDTypes: -dtype repeats the dense and unstructured patterns per dtype, keeps the
// other patterns only with f32, and refuses unknown dtypes or a list that leaves nothing to
// run.
func TestWithDTypes(t *testing.T) {
	ps := []bench.Pattern{{Kind: bench.Dense}, {Kind: bench.Unstructured, Sparsity: 0.9}, {Kind: bench.NM, Keep: 2, Group: 4}}
	got, err := withDTypes(ps, "f32,bf16,i8")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"dense", "dense:bf16", "dense:i8", "unstructured:0.9", "unstructured:0.9:bf16", "unstructured:0.9:i8", "nm:2:4"}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i, p := range got {
		if p.String() != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	if got, err := withDTypes(ps, "f16"); err != nil || len(got) != 2 || got[0].String() != "dense:f16" || got[1].String() != "unstructured:0.9:f16" {
		t.Fatalf("f16 only: %v %v", got, err)
	}
	if _, err := withDTypes(ps, "f8"); err == nil {
		t.Fatal("f8 accepted")
	}
	if _, err := withDTypes(ps[2:], "bf16"); err == nil {
		t.Fatal("no dense or unstructured pattern, bf16 only: accepted")
	}
}

// TestPruneDType: prune -dtype writes the pruned weights dense in that dtype (.npz keeps
// it; the pruned float32 weights converted exactly as formats.DenseLPFromDense does), inspect
// names the dtype, and a sparse output format with -dtype is refused with a clear message
// (no silent widening).
func TestPruneDType(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "model.safetensors")
	writeModel(t, model)
	code, _, stderr := sg(t, "prune", "-in", model, "-tensor", "layer0.weight", "-sparsity", "0.5", "-format", "dense", "-out", filepath.Join(dir, "f32.npz"))
	require.Equal(t, 0, code, stderr)
	f32, _, err := fileio.LoadMatrix(filepath.Join(dir, "f32.npz"), "")
	require.NoError(t, err)
	pruned := f32.(*formats.Dense)
	require.Equal(t, int64(16*24/2), pruned.NNZ())

	for _, dt := range []string{"bf16", "f16", "i8"} {
		out := filepath.Join(dir, dt+".npz")
		code, stdout, stderr := sg(t, "prune", "-in", model, "-tensor", "layer0.weight", "-sparsity", "0.5", "-dtype", dt, "-out", out)
		require.Equal(t, 0, code, stderr)
		require.Contains(t, stdout, "dense "+dt)
		// LoadMatrix keeps bf16 bits and int8 (only DenseLP reads them); float16 widens
		// there as it always did, and NPZ.DenseLP keeps it.
		z, err := fileio.OpenNPZFile(out)
		require.NoError(t, err)
		lp, _, err := z.DenseLP(fileio.DenseNPZName)
		z.Close()
		require.NoError(t, err, dt)
		m, _, err := fileio.LoadMatrix(out, "")
		require.NoError(t, err, dt)
		if _, ok := m.(*formats.DenseLP); ok == (dt == "f16") {
			t.Errorf("%s: LoadMatrix read a %T", dt, m)
		}
		want, err := formats.DenseLPFromDense(pruned, lp.DType)
		require.NoError(t, err)
		require.Equal(t, dt, lp.DType.String())
		require.Equal(t, want.Bits, lp.Bits, dt)
		require.Equal(t, want.I8, lp.I8, dt)
		require.Equal(t, want.Scale, lp.Scale, dt)

		code, stdout, stderr = sg(t, "inspect", out)
		require.Equal(t, 0, code, stderr)
		if dt == "f16" {
			require.Contains(t, stdout, "stored as    dense (npz, <f2: float16, widened to float32 here)")
		} else {
			require.Contains(t, stdout, "stored as    dense "+dt)
		}
		require.NotContains(t, stdout, fileio.LPScaleSuffix+"\n", "the scales are not a tensor of their own")
		require.Equal(t, 1, strings.Count(stdout, "shape "), stdout)
	}

	for _, f := range []string{"csr", "bsr", "nm"} {
		args := []string{"prune", "-in", model, "-dtype", "bf16", "-format", f, "-out", filepath.Join(dir, "x.npz")}
		if f == "nm" {
			args = append(args, "-method", "nm")
		}
		code, _, stderr := sg(t, args...)
		require.Equal(t, 2, code)
		require.Contains(t, stderr, "in low precision are not implemented yet", f)
	}
	code, _, stderr = sg(t, "prune", "-in", model, "-tensor", "layer0.weight", "-dtype", "f8", "-out", filepath.Join(dir, "x.npz"))
	require.Equal(t, 2, code)
	require.Contains(t, stderr, `-dtype "f8"`)
	code, _, stderr = sg(t, "prune", "-in", model, "-tensor", "layer0.weight", "-dtype", "i8", "-out", filepath.Join(dir, "x.npy"))
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "must be an .npz")
}
