package asm

import (
	"errors"
	"fmt"
	mrand "math/rand"
	"math/rand/v2"
	"testing"

	"github.com/sparsegen/sparsegen/formats"
)

// TestNMToCSR: every slot of an N:M matrix becomes a CSR entry at its column with its value
// (stored zeros kept, so the CSR stores SlotsPerRow per row), the same matrix exactly, for
// every pattern and a partial last group; an NMLP becomes a CSRLP of its dtype with the
// same bits (int8: the same integers and row scales), whose widened matrix is the NMLP's.
// Invalid input is an error, never a panic.
func TestNMToCSR(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 7))
	for _, p := range nmLPTestPatterns {
		keep, group := p[0], p[1]
		for _, k := range []int{1, group - 1, group + 1, 5*group + 3, 389} {
			if k < 1 {
				continue
			}
			w := randNM(r, 5, k, keep, group)
			c, err := NMToCSR(w)
			if err != nil {
				t.Fatal(err)
			}
			if c.Stored() != int64(len(w.Val)) {
				t.Fatalf("%d:%d K=%d: CSR stores %d entries, W %d slots", keep, group, k, c.Stored(), len(w.Val))
			}
			equalDense(t, fmt.Sprintf("%d:%d K=%d", keep, group, k), c.ToDense(), w.ToDense())
			for _, dt := range bitmapLPDTypes {
				lp, err := formats.NMLPFromNM(w, dt)
				if err != nil {
					t.Fatal(err)
				}
				cl, err := NMLPToCSRLP(lp)
				if err != nil {
					t.Fatal(err)
				}
				if cl.DType != dt || cl.Stored() != int64(len(lp.Pos)) {
					t.Fatalf("%s %d:%d: CSRLP of %s storing %d, want %d", dt, keep, group, cl.DType, cl.Stored(), len(lp.Pos))
				}
				for i := range lp.Bits {
					if cl.Bits[i] != lp.Bits[i] {
						t.Fatalf("%s: value %d is %#x, stored %#x", dt, i, cl.Bits[i], lp.Bits[i])
					}
				}
				for i := range lp.I8 {
					if cl.I8[i] != lp.I8[i] {
						t.Fatalf("%s: value %d is %d, stored %d", dt, i, cl.I8[i], lp.I8[i])
					}
				}
				for i := range lp.Scale {
					if cl.Scale[i] != lp.Scale[i] {
						t.Fatalf("%s: scale %d is %v, stored %v", dt, i, cl.Scale[i], lp.Scale[i])
					}
				}
				equalDense(t, fmt.Sprintf("%s %d:%d K=%d", dt, keep, group, k), cl.ToCSR().ToDense(), lp.ToNM().ToDense())
			}
		}
	}
	if _, err := NMToCSR(nil); !errors.Is(err, formats.ErrInvalid) {
		t.Errorf("nil NM: %v", err)
	}
	if _, err := NMLPToCSRLP(nil); !errors.Is(err, formats.ErrInvalid) {
		t.Errorf("nil NMLP: %v", err)
	}
	bad := randNM(r, 2, 8, 2, 4)
	bad.Pos[1] = bad.Pos[0] // positions must rise within a group
	if _, err := NMToCSR(bad); !errors.Is(err, formats.ErrInvalid) {
		t.Errorf("NM with repeated positions: %v", err)
	}
	badLP, err := formats.NMLPFromNM(randNM(r, 2, 8, 2, 4), formats.BF16)
	if err != nil {
		t.Fatal(err)
	}
	badLP.Bits = badLP.Bits[:3]
	if _, err := NMLPToCSRLP(badLP); !errors.Is(err, formats.ErrInvalid) {
		t.Errorf("NMLP with a short value slice: %v", err)
	}
}

// equalDense fails unless a and b hold the same values bit for bit.
func equalDense(t *testing.T, what string, a, b *formats.Dense) {
	t.Helper()
	if a.Rows != b.Rows || a.Cols != b.Cols {
		t.Fatalf("%s: %d×%d, want %d×%d", what, a.Rows, a.Cols, b.Rows, b.Cols)
	}
	for i := 0; i < a.Rows; i++ {
		for j := 0; j < a.Cols; j++ {
			if x, y := a.Data[i*a.Stride+j], b.Data[i*b.Stride+j]; x != y {
				t.Fatalf("%s: [%d,%d] = %v, want %v", what, i, j, x, y)
			}
		}
	}
}

// nmBitmapFamilies lists the N:M bitmap families (nm_bitmap_<dtype>_<isa>) of dt this CPU
// runs, failing unless every ISA with a low-precision bitmap SpMV of dt has its N:M twin.
func nmBitmapFamilies(t *testing.T, dt formats.DType) []Family {
	t.Helper()
	var out []Family
	twins := map[ISA]bool{}
	for _, f := range Families() {
		if !f.Bitmap || f.Format != NMLPFormat(dt) {
			continue
		}
		if f.DType != dt.String() || f.MaxN != 1 || f.Keep != 0 || f.Group != 0 {
			t.Fatalf("%s: descriptor %+v", f.Name, *f.Desc)
		}
		twins[f.ISA] = true
		if f.Features&^hostFeatures() != 0 {
			t.Logf("%s: CPU lacks %v, skipped", f.Name, f.Features&^hostFeatures())
			continue
		}
		out = append(out, f)
	}
	for _, s := range spmvBitmapSpecs {
		if s.lp == dt && !twins[s.ISA] {
			t.Errorf("%s has no N:M twin", s.Name)
		}
	}
	return out
}

// TestNMBitmap runs every N:M bitmap family (each dtype, each ISA this CPU runs) on N:M
// weights of every test pattern against the float64 oracle of the widened matrix
// (NMLP.ToNM, int8 q·scale per weight), within the SpMV tolerance: M of 1, 3 and 7 (row 0
// empty, stored zeros), K not a multiple of the group, of the 16-column chunk and of the
// 4096-column K block (4133), every epilogue, strided X and Y, N = 3 (column by column),
// the packed masks and values next to a guard page on either side, and X and Y too; a NaN
// in the padding past the values must not reach Y. It packs W of its dtype only.
func TestNMBitmap(t *testing.T) {
	r := rand.New(rand.NewPCG(43, 9))
	rs := mrand.New(mrand.NewSource(43))
	for _, dt := range bitmapLPDTypes {
		fams := nmBitmapFamilies(t, dt)
		if len(fams) == 0 {
			t.Logf("%s: no N:M bitmap family runs here", dt)
		}
		cases := 0
		for _, f := range fams {
			for _, p := range nmLPTestPatterns {
				keep, group := p[0], p[1]
				for _, m := range []int{1, 3, 7} {
					for _, k := range []int{1, group - 1, group + 1, 5*group + 3, 16*group/keep + 1, 389, 4133} {
						if k < 1 {
							continue
						}
						w := randNMLP(t, r, dt, m, k, keep, group)
						for i := range m { // rows of different magnitudes: distinct int8 scales
							if w.DType == formats.I8 {
								w.Scale[i] *= float32(1 + i%5*3)
							}
						}
						kern, err := f.Pack(w)
						if err != nil {
							t.Fatalf("%s %d:%d %d×%d: %v", f.Name, keep, group, m, k, err)
						}
						if kern.Name() != f.Name {
							t.Fatalf("%s packs a kernel named %s", f.Name, kern.Name())
						}
						bk := kern.(*spmvBitmapKernel)
						for i := 0; i < f.Lanes; i++ {
							if bk.l.Bits != nil {
								bk.l.Bits[len(bk.l.Bits)-1-i] = bitmapPadNaN(dt)
							} else {
								bk.l.I8[len(bk.l.I8)-1-i] = uint8(bitmapPadNaN(dt))
							}
						}
						side := guardSide((m + k) % 2)
						wc, err := NMToCSR(w.ToNM())
						if err != nil {
							t.Fatal(err)
						}
						cases += spmvSweep(t, guardBitmap(t, bk, side), wc, rs, side)
					}
				}
			}
		}
		t.Logf("%s: %d cases", dt, cases)
	}
	// Another dtype, another format, nil: refused, never packed.
	w := randNMLP(t, r, formats.F16, 3, 20, 2, 4)
	for _, dt := range bitmapLPDTypes {
		for _, f := range nmBitmapFamilies(t, dt) {
			if dt != formats.F16 {
				if _, err := f.Pack(w); !errors.Is(err, ErrNotApplicable) {
					t.Errorf("%s packs fp16 N:M weights: %v", f.Name, err)
				}
			}
			if _, err := f.Pack(randNM(r, 3, 20, 2, 4)); !errors.Is(err, ErrNotApplicable) {
				t.Errorf("%s packs float32 N:M weights: %v", f.Name, err)
			}
			if _, err := f.Pack((*formats.NMLP)(nil)); err == nil {
				t.Errorf("%s packs a nil NMLP", f.Name)
			}
		}
	}
}
