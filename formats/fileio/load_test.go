package fileio

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/sparsegen/sparsegen/formats"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSaveLoadMatrix(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	dir := t.TempDir()
	d := randDense(rng, 8, 12, 0.5)
	csr, _ := formats.CSRFromDense(d)
	bd := blockDense(rng, 8, 12, 4, 2, 0.5)
	bsr, _ := formats.BSRFromDense(bd, 4, 2)
	nd := randDense(rng, 8, 12, 1)
	for i := range nd.Data {
		if i%4 >= 2 {
			nd.Data[i] = 0
		}
	}
	nm, err := formats.NMFromDense(nd, 2, 4)
	require.NoError(t, err)
	cases := []struct {
		file   string
		m      formats.Matrix
		layout string
		cont   string
	}{
		{"d.npy", d, "dense", "npy"},
		{"d.npz", d, "dense", "npz"},
		{"d.safetensors", d, "dense", "safetensors"},
		{"c.npz", csr, "csr", "npz"},
		{"b.npz", bsr, "bsr", "npz"},
		{"n.npz", nm, "nm", "npz"},
	}
	for _, c := range cases {
		p := filepath.Join(dir, c.file)
		require.NoError(t, SaveMatrix(p, c.m), c.file)
		got, info, err := LoadMatrix(p, "")
		require.NoError(t, err, c.file)
		assert.Equal(t, c.layout, info.Layout, c.file)
		assert.Equal(t, c.cont, info.Container, c.file)
		assert.Equal(t, p, info.Path)
		assert.IsType(t, c.m, got)
		requireSameDense(t, c.m.ToDense(), got.ToDense())
		// Detection is by content: the extension does not matter.
		q := filepath.Join(dir, c.file+".bin")
		require.NoError(t, os.Rename(p, q))
		_, info2, err := LoadMatrix(q, "")
		require.NoError(t, err)
		assert.Equal(t, c.cont, info2.Container)
	}
	for file, want := range map[string]struct {
		cont  string
		names []string
	}{
		"d.npy.bin":         {"npy", []string{""}},
		"d.npz.bin":         {"npz", []string{DenseNPZName}},
		"d.safetensors.bin": {"safetensors", []string{DenseSafetensorsName}},
		"c.npz.bin":         {"npz", []string{"indices", "indptr", "format", "shape", "data"}},
		"n.npz.bin":         {"npz", []string{"format", "shape", "keep", "group", "data", "pos"}},
	} {
		cont, arrays, err := ListFile(filepath.Join(dir, file))
		require.NoError(t, err, file)
		assert.Equal(t, want.cont, cont, file)
		var names []string
		for _, a := range arrays {
			names = append(names, a.Name)
		}
		assert.Equal(t, want.names, names, file)
	}
	_, arrays, err := ListFile(filepath.Join(dir, "d.npy.bin"))
	require.NoError(t, err)
	assert.Equal(t, []int{8, 12}, arrays[0].Shape)
	assert.Equal(t, "<f4", arrays[0].DType)
	_, _, err = LoadMatrix(filepath.Join(dir, "d.npz.bin"), DenseNPZName)
	require.NoError(t, err)
	_, _, err = LoadMatrix(filepath.Join(dir, "d.safetensors.bin"), DenseSafetensorsName)
	require.NoError(t, err)
	_, _, err = LoadMatrix(filepath.Join(dir, "d.npy.bin"), "x")
	assert.Error(t, err)

	// Sparse formats are not densified silently; unknown extensions are refused.
	assert.ErrorContains(t, SaveMatrix(filepath.Join(dir, "c.npy"), csr), "dense arrays only")
	assert.ErrorContains(t, SaveMatrix(filepath.Join(dir, "c.safetensors"), nm), "dense arrays only")
	assert.ErrorContains(t, SaveMatrix(filepath.Join(dir, "c.txt"), d), "unknown extension")
	// A failed save leaves no file (and no temporary) behind.
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		assert.NotContains(t, e.Name(), ".tmp")
		assert.NotEqual(t, "c.npy", e.Name())
	}
	// Garbage and missing files.
	g := filepath.Join(dir, "garbage")
	require.NoError(t, os.WriteFile(g, []byte("hello, world"), 0o644))
	_, _, err = LoadMatrix(g, "")
	assert.ErrorIs(t, err, ErrFormat)
	_, _, err = ListFile(g)
	assert.ErrorIs(t, err, ErrFormat)
	_, _, err = LoadMatrix(filepath.Join(dir, "nope"), "")
	assert.Error(t, err)
	_, _, err = LoadMatrix(dir, "")
	assert.ErrorContains(t, err, "not a regular file")
}

func TestSplitTensorArg(t *testing.T) {
	dir := t.TempDir()
	odd := filepath.Join(dir, "a:b.npz") // an existing file whose name holds ':'
	if err := os.WriteFile(odd, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for arg, want := range map[string][2]string{
		"w.npz":           {"w.npz", ""},
		"w.npz:fc1":       {"w.npz", "fc1"},
		"dir/w.npz:a.b.c": {"dir/w.npz", "a.b.c"},
		odd:               {odd, ""},
		odd + ":t":        {odd, "t"},
		":x":              {":x", ""},
	} {
		if p, n := SplitTensorArg(arg); p != want[0] || n != want[1] {
			t.Errorf("SplitTensorArg(%q) = %q, %q; want %q, %q", arg, p, n, want[0], want[1])
		}
	}
}
