//go:build !purego && (amd64 || arm64)

package asm

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/sparsegen/sparsegen/formats"
)

// userBSRDesc is one of sparsegen's own generated BSR block kernels (4×4, ownBSRTable's
// ISA) dressed as a user's generated one, with the descriptor of the family it came from.
func userBSRDesc(t *testing.T) (Desc, GeneratedFuncs, Desc) {
	t.Helper()
	man, ks := ownBSRTable()
	for _, d := range man {
		if d.BlockR == 4 && d.BlockC == 4 {
			for _, g := range ks {
				if g.h == d.Rows && g.cw == d.BlockC && g.tile == d.Tile {
					own := d
					d.Name = "usertest." + d.Name
					return d, GeneratedFuncs{BSR: BSRFunc(g.fn)}, own
				}
			}
		}
	}
	t.Fatal("no generated 4×4 BSR kernel")
	return Desc{}, GeneratedFuncs{}, Desc{}
}

// TestUsergenBSR: a generated BSR kernel registered through RegisterGenerated runs on
// asm's BSR driver and packer: it takes its block shape only, matches the float64 oracle
// for every N up to two tiles and past, every epilogue, ragged M and K, guard pages, and
// gives bit for bit what sparsegen's own family of that kernel gives.
func TestUsergenBSR(t *testing.T) {
	d, f, own := userBSRDesc(t)
	unreg, err := RegisterGenerated(ContractHash, d, f)
	if err != nil {
		t.Fatal(err)
	}
	defer unreg()
	fam, ok := Lookup(d.Name)
	if !ok {
		t.Fatal("not registered")
	}
	ownFam, _ := Lookup(own.Name)
	if !structHasFeatures(fam.Features) {
		t.Skipf("this CPU lacks %v", fam.Features)
	}
	r := rand.New(rand.NewPCG(5, 6))
	for _, w := range []formats.Matrix{randBSR(r, 9, 9, 4, 1, 1), randBSR(r, 9, 9, 2, 4, 1), randNM(r, 8, 8, 2, 4)} {
		if _, err := fam.Pack(w); !errors.Is(err, ErrNotApplicable) {
			t.Errorf("packed a %T of another shape: %v", w, err)
		}
	}
	for _, mk := range [][2]int{{1, 1}, {4, 4}, {9, 15}, {17, 37}} {
		for _, dens := range []float64{0, 0.5, 1} {
			w := randBSR(r, mk[0], mk[1], 4, 4, dens)
			kern := packFamily(t, fam, w)
			if kern == nil || kern.Name() != d.Name {
				t.Fatalf("%d×%d: kernel %v", mk[0], mk[1], kern)
			}
			for n := 1; n <= 2*d.Tile+1; n++ {
				runStruct(t, kern, r, structCase{w: w, n: n, ldx: n + 1, ldy: n + 2, u1: -1}, false)
			}
		}
	}
	w := randBSR(r, 19, 43, 4, 4, 0.6)
	kern, ownKern := packFamily(t, fam, w), packFamily(t, ownFam, w)
	for i, epi := range structEpilogues(r, 19) {
		n := d.Tile + 3
		runStruct(t, kern, r, structCase{w: w, n: n, ldx: n, ldy: n + 1, epi: epi, guard: i % 3, u1: -1}, false)
		x, y1 := make([]float32, 43*n), make([]float32, 19*n)
		randVec(r, x)
		randVec(r, y1)
		y2 := append([]float32(nil), y1...)
		if err := kern.Run(0, kern.Units(), x, n, y1, n, n, epi); err != nil {
			t.Fatal(err)
		}
		if err := ownKern.Run(0, ownKern.Units(), x, n, y2, n, n, epi); err != nil {
			t.Fatal(err)
		}
		genericSameBits(t, y2, y1, fmt.Sprintf("epilogue %d, against %s", i, own.Name))
	}
}

// TestUsergenBSRRefuses: RegisterGenerated refuses a BSR descriptor or function set that
// asm's BSR driver cannot run, in one line, and registers nothing.
func TestUsergenBSRRefuses(t *testing.T) {
	base, f, _ := userBSRDesc(t)
	other := map[ISA]ISA{AVX2: NEON, AVX512: NEON, NEON: AVX2}[base.ISA]
	for _, c := range []struct {
		why  string
		edit func(d *Desc, f *GeneratedFuncs)
		want string
	}{
		{"any shape", func(d *Desc, f *GeneratedFuncs) { d.BlockR, d.BlockC = 0, 0 }, "out of range"},
		{"block width", func(d *Desc, f *GeneratedFuncs) { d.BlockC = formats.MaxBlockDim + 1 }, "out of range"},
		{"block height", func(d *Desc, f *GeneratedFuncs) { d.BlockR, d.Rows = -4, -4 }, "out of range"},
		{"rows ≠ block rows", func(d *Desc, f *GeneratedFuncs) { d.Rows = 8 }, "accumulator rows"},
		{"tile not whole vectors", func(d *Desc, f *GeneratedFuncs) { d.Tile = d.Lanes + 1 }, "tile"},
		{"no tile", func(d *Desc, f *GeneratedFuncs) { d.Tile = 0 }, "tile"},
		{"tile too wide", func(d *Desc, f *GeneratedFuncs) { d.Tile = 33 * d.Lanes }, "tile"},
		{"no function", func(d *Desc, f *GeneratedFuncs) { f.BSR = nil }, "takes BSR only"},
		{"CSR functions too", func(d *Desc, f *GeneratedFuncs) { f.CSR = make([]CSRTileFunc, 2) }, "takes BSR only"},
		{"pattern", func(d *Desc, f *GeneratedFuncs) { d.Keep, d.Group = 2, 4 }, "another kernel kind"},
		{"lanes", func(d *Desc, f *GeneratedFuncs) { d.Lanes *= 2 }, "lanes"},
		{"ISA", func(d *Desc, f *GeneratedFuncs) { d.ISA = other }, "does not run"},
		{"format", func(d *Desc, f *GeneratedFuncs) { d.Format, d.BlockR, d.BlockC = "coo", 0, 0 }, "format"},
		{"BSR function on CSR", func(d *Desc, f *GeneratedFuncs) {
			d.Format, d.BlockR, d.BlockC, d.Rows, d.Tile = "csr", 0, 0, 1, d.Lanes
			f.CSR, f.CSRMasked = make([]CSRTileFunc, 2), make([]CSRTileFunc, 2)
		}, "takes CSR"},
	} {
		d, ff := base, f
		c.edit(&d, &ff)
		_, err := RegisterGenerated(ContractHash, d, ff)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: got %v, want one line with %q", c.why, err, c.want)
		}
		if _, ok := Lookup(d.Name); ok {
			t.Errorf("%s: registered anyway", c.why)
		}
	}
}
