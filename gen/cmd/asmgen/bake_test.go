package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sparsegen/sparsegen/formats"
	"github.com/sparsegen/sparsegen/formats/fileio"
	"github.com/sparsegen/sparsegen/gen/kernels"
)

// bakeWeight writes an m×k weight keeping every third entry (and row 1 empty) as path.
func bakeWeight(t *testing.T, path string, m, k int) *formats.CSR {
	t.Helper()
	d, err := formats.ZeroDense(m, k)
	if err != nil {
		t.Fatal(err)
	}
	for i := range d.Data {
		if i%3 == 0 && i/k != 1 {
			d.Data[i] = float32(i%7) - 3.5
		}
	}
	c, err := formats.CSRFromDense(d)
	if err != nil {
		t.Fatal(err)
	}
	if err := fileio.SaveMatrix(path, c); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestBakeFiles: -bake writes a family per weight (a kernel per tile the ISA takes) whose
// manifest carries the pattern hash, chunk tables covering every row, and the baked test.
func TestBakeFiles(t *testing.T) {
	dir := t.TempDir()
	w := bakeWeight(t, filepath.Join(dir, "fc1.npz"), 37, 29)
	h, err := formats.PatternHash(w)
	if err != nil {
		t.Fatal(err)
	}
	files, err := userFiles("kern", "", "avx512,avx2,neon", "", bakeOpts{Weights: filepath.Join(dir, "fc1.npz"), Tiles: "16,64"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]byte{}
	for _, f := range files {
		got[f.Name] = f.Data
	}
	for _, n := range []string{"baked_fc1_avx512_amd64.s", "baked_fc1_avx2_amd64.go", "baked_fc1_neon_arm64.s", "sparsegen_baked_test.go"} {
		if got[n] == nil {
			t.Errorf("no %s", n)
		}
	}
	m512 := string(got["baked_fc1_avx512_amd64.go"])
	for _, want := range []string{`Name: "kern.csr_baked_fc1_t16_avx512"`, `Name: "kern.csr_baked_fc1_t64_avx512"`, `Pattern: "` + h + `"`, "M: 37, K: 29"} {
		if !strings.Contains(m512, want) {
			t.Errorf("avx512 manifest lacks %s", want)
		}
	}
	// NEON's 4-float vectors take tile 16 (4 vectors) but not 64 (16 > 8 vectors).
	mNEON := string(got["baked_fc1_neon_arm64.go"])
	if !strings.Contains(mNEON, "csr_baked_fc1_t16_neon") || strings.Contains(mNEON, "t64_neon") {
		t.Errorf("neon manifest: %s", mNEON)
	}
	// The avx2 tile-16 kernel: groups of 4 rows (2 vectors each, 8 chains), chunks
	// covering all 37 rows.
	rows := 0
	for _, l := range strings.Split(string(got["baked_fc1_avx2_amd64.go"]), "\n") {
		var r int
		var fn string
		if _, err := fmt.Sscanf(strings.TrimSpace(l), "{Rows: %d, Fn: %s", &r, &fn); err == nil && strings.Contains(fn, "T16") {
			rows += r
		}
	}
	if rows != 37 {
		t.Errorf("avx2 t16 chunks cover %d rows of 37", rows)
	}
	if !bytes.Contains(got["baked_fc1_avx2_amd64.go"], []byte("Rows: 4, MinN")) {
		t.Error("avx2 t16: not groups of 4 rows")
	}
}

// TestBakeErrors: every refusal is one line naming the -bake argument.
func TestBakeErrors(t *testing.T) {
	dir := t.TempDir()
	bakeWeight(t, filepath.Join(dir, "a.npz"), 40, 33)
	must(t, os.Mkdir(filepath.Join(dir, "sub"), 0o755))
	bakeWeight(t, filepath.Join(dir, "sub", "a.npz"), 8, 8)
	empty, _ := formats.ZeroDense(4, 4)
	must(t, fileio.SaveMatrix(filepath.Join(dir, "zero.npy"), empty))
	bsr, err := formats.NewBSR(4, 4, 2, 2, []int64{0, 1, 1}, []int32{0}, []float32{1, 2, 3, 4})
	must(t, err)
	must(t, fileio.SaveMatrix(filepath.Join(dir, "b.npz"), bsr))
	a := filepath.Join(dir, "a.npz")
	for _, c := range []struct {
		isa  string
		o    bakeOpts
		want string
	}{
		{"avx512", bakeOpts{Weights: filepath.Join(dir, "none.npz")}, "none.npz"},
		{"avx512", bakeOpts{Weights: a, Budget: 1000}, "exceeds the budget of"},
		{"avx512", bakeOpts{Weights: a, Tiles: "8"}, "no tile for avx512"},
		{"avx512", bakeOpts{Weights: a, Tiles: "x"}, "-bake-tile"},
		{"avx512", bakeOpts{Weights: a + "," + filepath.Join(dir, "sub", "a.npz")}, "both name a kernel"},
		{"avx512", bakeOpts{Weights: filepath.Join(dir, "zero.npy")}, "stores no entries"},
		{"avx512", bakeOpts{Weights: filepath.Join(dir, "b.npz")}, "dense or CSR"},
		{"avx512", bakeOpts{Weights: a + ":nosuch"}, "nosuch"},
	} {
		_, err := userFiles("kern", "", c.isa, "", c.o)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%+v: %v, want one line with %q", c.o, err, c.want)
		}
	}
	if _, err := userFiles("kern", "", "avx512", "", bakeOpts{Weights: a, Budget: 1000}); err == nil || !strings.Contains(err.Error(), "bytes per nonzero") {
		t.Errorf("the budget refusal gives no estimate: %v", err)
	}
}

func TestBakeStem(t *testing.T) {
	for in, want := range map[string]string{"fc1": "fc1", "model.layers.0.mlp.up_proj.weight": "model_layers_0_mlp_up_proj_weight", "7b": "w7b", "--": "w", "Attn-Q": "attn_q"} {
		if got := bakeStem(in); got != want {
			t.Errorf("bakeStem(%q) = %q, want %q", in, got, want)
		}
	}
}

// The estimate follows the tile: wider tiles cost more code per entry.
func TestBakedCodeBytes(t *testing.T) {
	s := &kernels.BakeSpec{M: 2, K: 4, RowPtr: []int64{0, 2, 3}, ColIdx: []int32{0, 3, 1}, Tiles: []int{16, 64}}
	a, err1 := kernels.BakedCodeBytes("avx512", s, 16)
	b, err2 := kernels.BakedCodeBytes("avx512", s, 64)
	if err1 != nil || err2 != nil || a <= 0 || b <= a {
		t.Errorf("t16 %d (%v), t64 %d (%v)", a, err1, b, err2)
	}
	if _, err := kernels.BakedCodeBytes("neon", s, 64); err == nil {
		t.Error("neon took a 16-vector tile")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
