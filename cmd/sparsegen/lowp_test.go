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

// TestWithDTypes: -dtype repeats the dense, unstructured, N:M and block patterns per dtype,
// and refuses unknown dtypes.
func TestWithDTypes(t *testing.T) {
	ps := []bench.Pattern{{Kind: bench.Dense}, {Kind: bench.Unstructured, Sparsity: 0.9}, {Kind: bench.NM, Keep: 2, Group: 4}, {Kind: bench.Block, R: 4, C: 4, Sparsity: 0.9}}
	got, err := withDTypes(ps, "f32,bf16,i8")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"dense", "dense:bf16", "dense:i8", "unstructured:0.9", "unstructured:0.9:bf16", "unstructured:0.9:i8", "nm:2:4", "nm:2:4:bf16", "nm:2:4:i8", "block:4x4:0.9", "block:4x4:0.9:bf16", "block:4x4:0.9:i8"}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i, p := range got {
		if p.String() != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	if got, err := withDTypes(ps, "f16"); err != nil || len(got) != 4 || got[0].String() != "dense:f16" || got[1].String() != "unstructured:0.9:f16" || got[2].String() != "nm:2:4:f16" || got[3].String() != "block:4x4:0.9:f16" {
		t.Fatalf("f16 only: %v %v", got, err)
	}
	if _, err := withDTypes(ps, "f8"); err == nil {
		t.Fatal("f8 accepted")
	}
	for _, s := range []string{"block:4x4:0.9:bf16", "block:2x1:0.5:i8"} {
		if p, err := bench.ParsePattern(s); err != nil || p.String() != s {
			t.Fatalf("%s: %v %v", s, p, err)
		}
	}
	if _, err := bench.ParsePattern("block:4x4:0.9:f8"); err == nil {
		t.Fatal("block:4x4:0.9:f8 accepted")
	}
	for _, s := range []string{"nm:2:4:bf16", "nm:1:4:i8", "nm:3:7:f16"} {
		if p, err := bench.ParsePattern(s); err != nil || p.String() != s {
			t.Fatalf("%s: %v %v", s, p, err)
		}
	}
	if p, err := bench.ParsePattern("nm:2:4:f32"); err != nil || p.String() != "nm:2:4" {
		t.Fatalf("nm:2:4:f32: %v %v", p, err)
	}
	if _, err := bench.ParsePattern("nm:2:4:f8"); err == nil {
		t.Fatal("nm:2:4:f8 accepted")
	}
}

// pruneF32 writes the test model into a temporary folder, prunes its layer0.weight in
// float32 with the extra prune flags and returns the folder, the model and what was written.
func pruneF32(t *testing.T, flags ...string) (string, string, formats.Matrix) {
	t.Helper()
	dir := t.TempDir()
	model := filepath.Join(dir, "model.safetensors")
	writeModel(t, model)
	args := append([]string{"prune", "-in", model, "-tensor", "layer0.weight", "-out", filepath.Join(dir, "f32.npz")}, flags...)
	code, _, stderr := sg(t, args...)
	require.Equal(t, 0, code, stderr)
	m, _, err := fileio.LoadMatrix(filepath.Join(dir, "f32.npz"), "")
	require.NoError(t, err)
	return dir, model, m
}

// TestPruneDType: prune -dtype -format dense writes the pruned weights dense in that dtype
// (.npz keeps it; the pruned float32 weights converted exactly as formats.DenseLPFromDense
// does) and inspect names the dtype. CSR: TestPruneDTypeCSR; BSR: TestPruneDTypeBSR; N:M:
// TestPruneDTypeNM.
func TestPruneDType(t *testing.T) {
	dir, model, f32 := pruneF32(t, "-sparsity", "0.5", "-format", "dense")
	pruned := f32.(*formats.Dense)
	require.Equal(t, int64(16*24/2), pruned.NNZ())

	for _, dt := range []string{"bf16", "f16", "i8"} {
		out := filepath.Join(dir, dt+".npz")
		code, stdout, stderr := sg(t, "prune", "-in", model, "-tensor", "layer0.weight", "-sparsity", "0.5", "-dtype", dt, "-format", "dense", "-out", out)
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
		require.Equal(t, dt, lp.DType.String())
		want, err := formats.DenseLPFromDense(pruned, lp.DType)
		require.NoError(t, err)
		require.Equal(t, want, lp, dt) // values and scales

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

	code, _, stderr := sg(t, "prune", "-in", model, "-tensor", "layer0.weight", "-dtype", "f8", "-out", filepath.Join(dir, "x.npz"))
	require.Equal(t, 2, code)
	require.Contains(t, stderr, `-dtype "f8"`)
	code, _, stderr = sg(t, "prune", "-in", model, "-tensor", "layer0.weight", "-dtype", "i8", "-out", filepath.Join(dir, "x.npy"))
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "must be an .npz")
}

// TestPruneDTypeCSR: prune -dtype with CSR (the default format of magnitude pruning) writes
// a CSRLP in that dtype, equal to converting the float32 CSR of the same pruning; LoadMatrix
// returns it without widening and inspect names the dtype. Block pruning with -dtype
// defaults to BSR in the dtype, N:M pruning to N:M in the dtype.
func TestPruneDTypeCSR(t *testing.T) {
	dir, model, f32 := pruneF32(t, "-sparsity", "0.75")
	c := f32.(*formats.CSR)
	require.Equal(t, int64(16*24/4), c.Stored())

	for _, dt := range []string{"bf16", "f16", "i8"} {
		out := filepath.Join(dir, "csr_"+dt+".npz")
		args := []string{"prune", "-in", model, "-tensor", "layer0.weight", "-sparsity", "0.75", "-dtype", dt, "-out", out}
		if dt == "f16" {
			args = append(args, "-format", "csr") // explicit and default give the same
		}
		code, stdout, stderr := sg(t, args...)
		require.Equal(t, 0, code, stderr)
		require.Contains(t, stdout, "csr "+dt+", sparsity 75.00%")
		m, info, err := fileio.LoadMatrix(out, "")
		require.NoError(t, err, dt)
		got, ok := m.(*formats.CSRLP)
		require.True(t, ok, "%s: LoadMatrix read a %T", dt, m)
		require.Equal(t, dt, got.DType.String())
		want, err := formats.CSRLPFromCSR(c, got.DType)
		require.NoError(t, err)
		require.Equal(t, want, got, dt) // pattern, values and scales
		require.Equal(t, "csr", info.Layout)

		code, stdout, stderr = sg(t, "inspect", out)
		require.Equal(t, 0, code, stderr)
		require.Contains(t, stdout, "stored as    csr "+dt+" (npz, "+info.DType)
		switch dt {
		case "bf16":
			require.Contains(t, stdout, "<u2: bf16 bit patterns")
		case "i8":
			require.Contains(t, stdout, "|i1 with float32 row scales data"+fileio.LPScaleSuffix)
		}
		require.Contains(t, stdout, "density      0.2500 (96 nonzeros")
	}
	out := filepath.Join(dir, "block.npz")
	code, stdout, stderr := sg(t, "prune", "-in", model, "-tensor", "layer0.weight", "-method", "block", "-dtype", "bf16", "-out", out)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "bsr bf16")
}

// TestPruneDTypeNM: prune -method nm -dtype writes an NMLP in that dtype (the default
// format of N:M pruning, and -format nm), equal to converting the float32 NM of the same
// pruning; LoadMatrix returns it without widening and inspect names the dtype and, for
// int8, the row scales.
func TestPruneDTypeNM(t *testing.T) {
	for _, pat := range []string{"2:4", "1:4"} {
		dir, model, f32 := pruneF32(t, "-method", "nm", "-nm", pat)
		w := f32.(*formats.NM)
		for _, dt := range []string{"bf16", "f16", "i8"} {
			out := filepath.Join(dir, "nm_"+dt+".npz")
			args := []string{"prune", "-in", model, "-tensor", "layer0.weight", "-method", "nm", "-nm", pat, "-dtype", dt, "-out", out}
			if dt == "f16" {
				args = append(args, "-format", "nm") // explicit and default give the same
			}
			code, stdout, stderr := sg(t, args...)
			require.Equal(t, 0, code, stderr)
			require.Contains(t, stdout, "nm "+dt+", sparsity")
			m, info, err := fileio.LoadMatrix(out, "")
			require.NoError(t, err, dt)
			got, ok := m.(*formats.NMLP)
			require.True(t, ok, "%s: LoadMatrix read a %T", dt, m)
			want, err := formats.NMLPFromNM(w, got.DType)
			require.NoError(t, err)
			require.Equal(t, want, got, dt) // pattern, values and scales
			require.Equal(t, "nm", info.Layout)

			code, stdout, stderr = sg(t, "inspect", out)
			require.Equal(t, 0, code, stderr)
			require.Contains(t, stdout, "stored as    nm "+dt+" (npz, "+info.DType)
			if dt == "i8" {
				require.Contains(t, stdout, "|i1 with float32 row scales data"+fileio.LPScaleSuffix)
			}
			require.Contains(t, stdout, "tightest N:M "+pat)
		}
	}
}

// TestPruneDTypeBSR: prune -method block -dtype writes a BSRLP in that dtype, equal to
// converting the float32 BSR of the same pruning; LoadMatrix returns it without widening
// and inspect names the dtype; a grid the block does not divide is refused as for float32.
func TestPruneDTypeBSR(t *testing.T) {
	dir, model, f32 := pruneF32(t, "-method", "block", "-block", "4x4", "-sparsity", "0.5")
	b := f32.(*formats.BSR)
	for _, dt := range []string{"bf16", "f16", "i8"} {
		out := filepath.Join(dir, "bsr_"+dt+".npz")
		code, stdout, stderr := sg(t, "prune", "-in", model, "-tensor", "layer0.weight", "-method", "block", "-block", "4x4", "-sparsity", "0.5", "-dtype", dt, "-out", out)
		require.Equal(t, 0, code, stderr)
		require.Contains(t, stdout, "bsr "+dt+", sparsity")
		m, info, err := fileio.LoadMatrix(out, "")
		require.NoError(t, err, dt)
		got, ok := m.(*formats.BSRLP)
		require.True(t, ok, "%s: LoadMatrix read a %T", dt, m)
		want, err := formats.BSRLPFromBSR(b, got.DType)
		require.NoError(t, err)
		require.Equal(t, want, got, dt)
		require.Equal(t, "bsr", info.Layout)

		code, stdout, stderr = sg(t, "inspect", out)
		require.Equal(t, 0, code, stderr)
		require.Contains(t, stdout, "stored as    bsr "+dt+" (npz, "+info.DType)
		if dt == "i8" {
			require.Contains(t, stdout, "|i1 with float32 row scales data"+fileio.LPScaleSuffix)
		}
	}
	code, _, stderr := sg(t, "prune", "-in", model, "-tensor", "layer0.weight", "-method", "block", "-block", "5x5", "-sparsity", "0.5", "-dtype", "bf16", "-out", filepath.Join(dir, "ragged.npz"))
	require.NotEqual(t, 0, code)
	require.Contains(t, stderr, "ragged")
}
