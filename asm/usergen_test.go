//go:build !purego && amd64

package asm

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/sparsegen/sparsegen/ref"
)

// userNMDesc is a built-in AVX2 N:M SpMM kernel dressed as a user's generated one.
func userNMDesc(t *testing.T) (Desc, GeneratedFuncs) {
	t.Helper()
	for _, g := range nmAVX2Kernels {
		if g.keep == 2 && g.group == 8 {
			for _, d := range nmAVX2Manifest {
				if d.Keep == 2 && d.Group == 8 && d.Tile == g.tile && d.Rows == g.uh && d.MaxN != 1 {
					d.Name = "usertest." + d.Name
					return d, GeneratedFuncs{NM: NMFunc(g.fn)}
				}
			}
		}
	}
	t.Fatal("no 2:8 AVX2 kernel")
	return Desc{}, GeneratedFuncs{}
}

func TestRegisterGenerated(t *testing.T) {
	d, f := userNMDesc(t)
	unreg, err := RegisterGenerated(ContractHash, d, f)
	if err != nil {
		t.Fatal(err)
	}
	defer unreg()
	if _, err := RegisterGenerated(ContractHash, d, f); err == nil || !strings.Contains(err.Error(), "registered already") {
		t.Errorf("duplicate: %v", err)
	}
	fam, ok := Lookup(d.Name)
	if !ok {
		t.Fatal("not registered")
	}
	if !structHasFeatures(fam.Features) {
		t.Skipf("this CPU lacks %v", fam.Features)
	}
	r := rand.New(rand.NewPCG(1, 2))
	m, k, n := 13, 83, 21
	w := randNM(r, m, k, 2, 8)
	kern, err := fam.Pack(w)
	if err != nil {
		t.Fatal(err)
	}
	if kern.Name() != d.Name {
		t.Errorf("kernel named %s", kern.Name())
	}
	x, y, want := make([]float32, k*n), make([]float32, m*n), make([]float32, m*n)
	randVec(r, x)
	if err := kern.Run(0, kern.Units(), x, n, y, n, n, nil); err != nil {
		t.Fatal(err)
	}
	if err := ref.NM(w, x, n, want, n, n, nil); err != nil {
		t.Fatal(err)
	}
	for i := range y {
		if d := y[i] - want[i]; d > 1e-3 || d < -1e-3 {
			t.Fatalf("Y[%d] = %g, reference %g", i, y[i], want[i])
		}
	}
}

func TestRegisterGeneratedRefuses(t *testing.T) {
	base, f := userNMDesc(t)
	for _, c := range []struct {
		why  string
		edit func(d *Desc, f *GeneratedFuncs)
		want string
	}{
		{"contract", nil, "another sparsegen"},
		{"name", func(d *Desc, f *GeneratedFuncs) { d.Name = "nm2of8_r2_t32_avx2" }, "namespace"},
		{"ISA", func(d *Desc, f *GeneratedFuncs) { d.ISA = NEON }, "does not run"},
		{"features", func(d *Desc, f *GeneratedFuncs) { d.Features = FeatAVX2 }, "features"},
		{"lanes", func(d *Desc, f *GeneratedFuncs) { d.Lanes = 16 }, "lanes"},
		{"keep ≥ group", func(d *Desc, f *GeneratedFuncs) { d.Keep, d.Group = 8, 8 }, "out of range"},
		{"group > 16", func(d *Desc, f *GeneratedFuncs) { d.Keep, d.Group = 3, 17 }, "out of range"},
		{"tile", func(d *Desc, f *GeneratedFuncs) { d.Tile = 24 }, "tile"},
		{"rows", func(d *Desc, f *GeneratedFuncs) { d.Rows = 3 }, "rows"},
		{"no function", func(d *Desc, f *GeneratedFuncs) { f.NM = nil }, "takes NM"},
		{"format", func(d *Desc, f *GeneratedFuncs) { d.Format = "coo" }, "format"},
		{"block shape on N:M", func(d *Desc, f *GeneratedFuncs) { d.BlockR, d.BlockC = 4, 4 }, "another kernel kind"},
		{"BSR function too", func(d *Desc, f *GeneratedFuncs) {
			f.BSR = func(*int32, *int32, *float32, int, int, int, *float32, int, *float32, int, int, int, *float32, float32, float32) {
			}
		}, "takes NM"},
		{"csr funcs", func(d *Desc, f *GeneratedFuncs) { d.Format, d.Keep, d.Group, d.Rows = "csr", 0, 0, 2 }, "CSR"},
	} {
		d, ff := base, f
		contract := ContractHash
		if c.edit == nil {
			contract = "0000"
		} else {
			c.edit(&d, &ff)
		}
		_, err := RegisterGenerated(contract, d, ff)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: got %v, want one line with %q", c.why, err, c.want)
		}
		if _, ok := Lookup(d.Name); ok && strings.HasPrefix(d.Name, "usertest.") {
			t.Errorf("%s: registered anyway", c.why)
		}
	}
}

// ownBSRTable is the generated BSR manifest and kernels the BSR tests dress as a user's.
func ownBSRTable() ([]Desc, []bsrGenKernel) { return bsrAVX2Manifest, bsrAVX2Kernels }
