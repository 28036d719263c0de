package asm

import (
	"errors"
	"fmt"
	"math/rand"
	"runtime"
	"strings"
	"testing"

	"github.com/sparsegen/sparsegen/formats"
)

// bakedDesc is the descriptor of a baked kernel for w on this GOARCH's widest ISA's lanes,
// run by the pure-Go lowering (BakedGo): tile 2 vectors, groups of 2 rows, chunks of 5.
func bakedDesc(t *testing.T, w *formats.CSR) (Desc, GeneratedFuncs) {
	t.Helper()
	isa, feats := AVX2, FeatAVX2|FeatFMA
	if runtime.GOARCH == "arm64" {
		isa, feats = NEON, FeatASIMD
	}
	if runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64" {
		t.Skipf("RegisterGenerated takes no kernels on %s", runtime.GOARCH)
	}
	h, err := formats.PatternHash(w)
	if err != nil {
		t.Fatal(err)
	}
	L := isaLanes[isa]
	d := Desc{Name: fmt.Sprintf("bakedtest.csr_baked_w_t%d", 2*L), Symbols: []string{"go"}, Format: "csr", ISA: isa, Features: feats,
		DType: "float32", Lanes: L, Tile: 2 * L, Rows: 2, MinN: 2, Pattern: h, PatternRows: w.Rows, PatternCols: w.Cols}
	return d, GeneratedFuncs{Baked: BakedGo(w, 5, 2, 2*L, L)}
}

// TestBakedDriver runs asm's baked driver (value order, panel, nvec/tail of a narrow tile,
// epilogues, unit ranges) on the pure-Go lowering against the float64 oracle, on every N
// tail around the tile, with an empty and a full row, and checks that Pack takes only the
// pattern it was baked for.
func TestBakedDriver(t *testing.T) {
	r := rand.New(rand.NewSource(39))
	m, k := 23, 37
	w := randCSR(r, m, k, 0.3, 4, 9)
	d, f := bakedDesc(t, w)
	unreg, err := RegisterGenerated(ContractHash, d, f)
	if err != nil {
		t.Fatal(err)
	}
	defer unreg()
	fam, _ := Lookup(d.Name)
	kern, err := fam.Pack(w)
	if err != nil {
		t.Fatal(err)
	}
	if kern.Units() != (m+4)/5 {
		t.Fatalf("%d units", kern.Units())
	}
	T := d.Tile
	for _, n := range []int{1, 2, d.Lanes - 1, d.Lanes, d.Lanes + 1, T - 1, T, T + 1, 2*T + 3} {
		for _, epi := range csrEpilogues(r, m) {
			ldx, ldy := n+3, n+2
			x := make([]float32, k*ldx)
			fillNorm(r, x)
			y0 := make([]float32, m*ldy)
			fillNorm(r, y0)
			y := append([]float32(nil), y0...)
			// Two calls over a split of the units, as two threads would make.
			h := kern.Units() / 2
			if err := kern.Run(0, h, x, ldx, y, ldy, n, epi); err != nil {
				t.Fatal(err)
			}
			if err := kern.Run(h, kern.Units(), x, ldx, y, ldy, n, epi); err != nil {
				t.Fatal(err)
			}
			csrCheck(t, "baked", w, x, ldx, y0, y, ldy, n, epi)
			for i := 0; i < m; i++ {
				for j := n; j < ldy; j++ {
					if y[i*ldy+j] != y0[i*ldy+j] {
						t.Fatalf("N = %d: Y[%d, %d] past N written", n, i, j)
					}
				}
			}
		}
	}

	// The same shape and count with one entry moved to the next column.
	moved := &formats.CSR{Rows: m, Cols: k, RowPtr: w.RowPtr, ColIdx: append([]int32(nil), w.ColIdx...), Val: w.Val}
	for i, done := 0, false; i < m && !done; i++ {
		for q := w.RowPtr[i]; q < w.RowPtr[i+1] && !done; q++ {
			if c := w.ColIdx[q]; int(c)+1 < k && (q+1 == w.RowPtr[i+1] || w.ColIdx[q+1] != c+1) {
				moved.ColIdx[q], done = c+1, true
			}
		}
	}
	for name, other := range map[string]formats.Matrix{
		"moved entry": moved,
		"other shape": randCSR(r, m+1, k, 0.3, -1, -1),
		"dense":       w.ToDense(),
	} {
		if _, err := fam.Pack(other); !errors.Is(err, ErrNotApplicable) {
			t.Errorf("%s: Pack gave %v, want ErrNotApplicable", name, err)
		}
	}
}

func TestRegisterBakedRefuses(t *testing.T) {
	r := rand.New(rand.NewSource(49))
	w := randCSR(r, 11, 13, 0.4, -1, -1)
	for _, c := range []struct {
		why  string
		edit func(d *Desc, f *GeneratedFuncs)
		want string
	}{
		{"pattern", func(d *Desc, f *GeneratedFuncs) { d.Pattern = "xyz" }, "not a formats.PatternHash"},
		{"no code", func(d *Desc, f *GeneratedFuncs) { f.Baked = nil }, "Baked only"},
		{"tile functions too", func(d *Desc, f *GeneratedFuncs) { f.CSR = []CSRTileFunc{nil} }, "Baked only"},
		{"rows", func(d *Desc, f *GeneratedFuncs) { d.Rows = 3 }, "row group 3"},
		{"tile", func(d *Desc, f *GeneratedFuncs) { d.Tile = d.Lanes + 1 }, "not 1 to"},
		{"chunks", func(d *Desc, f *GeneratedFuncs) { f.Baked.Chunks = f.Baked.Chunks[1:] }, "cover"},
		{"nil chunk", func(d *Desc, f *GeneratedFuncs) { f.Baked.Chunks[0].Fn = nil }, "chunk 0"},
		{"format", func(d *Desc, f *GeneratedFuncs) { d.Format = "nm" }, "baked kernel is csr"},
		{"baked without pattern", func(d *Desc, f *GeneratedFuncs) { d.Pattern = "" }, "without a pattern"},
		{"pattern shape", func(d *Desc, f *GeneratedFuncs) { d.PatternCols++ }, "descriptor says"},
		{"shape without pattern", func(d *Desc, f *GeneratedFuncs) { d.Pattern, f.Baked = "", nil }, "without a pattern"},
	} {
		d, f := bakedDesc(t, w)
		c.edit(&d, &f)
		if _, err := RegisterGenerated(ContractHash, d, f); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.why, err, c.want)
		}
	}
}

func fillNorm(r *rand.Rand, v []float32) {
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
}
