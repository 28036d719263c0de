package formats

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// nmTestDense is an m×k keep:group dense W (a third of the groups below their slots, row 2
// empty), values spread over magnitudes.
func nmTestDense(r *rand.Rand, m, k, keep, group int) *Dense {
	d := &Dense{Rows: m, Cols: k, Stride: k, Data: make([]float32, m*k)}
	for i := 0; i < m; i++ {
		if i == 2 {
			continue
		}
		for g := 0; g*group < k; g++ {
			width := min(group, k-g*group)
			nz := min(keep, width)
			if r.IntN(3) == 0 {
				nz = r.IntN(nz + 1)
			}
			for _, p := range r.Perm(width)[:nz] {
				d.Data[i*k+g*group+p] = float32(r.NormFloat64() * math.Pow(10, float64(r.IntN(7)-3)))
			}
		}
	}
	return d
}

// TestNMLPFromNM: converting an NM's values gives exactly what DenseLPFromDense gives on
// the same weights dense (the same rounding; an int8 row's scale over its slots equals the
// dense row's), the positions are kept, NNZ and RowNonzeros see the stored patterns, and an
// int8 conversion of a NaN or ±Inf is an error naming its row and slot.
func TestNMLPFromNM(t *testing.T) {
	r := rand.New(rand.NewPCG(91, 92))
	for _, p := range [][2]int{{2, 4}, {1, 4}, {2, 8}, {4, 8}, {3, 7}} {
		for _, k := range []int{1, p[1] - 1, 5*p[1] + 3, 64} {
			if k < 1 {
				continue
			}
			d := nmTestDense(r, 7, k, p[0], p[1])
			w, err := NMFromDense(d, p[0], p[1])
			if err != nil {
				t.Fatal(err)
			}
			for _, dt := range []DType{BF16, F16, I8} {
				lp, err := NMLPFromNM(w, dt)
				if err != nil {
					t.Fatalf("%d:%d K %d %v: %v", p[0], p[1], k, dt, err)
				}
				dl, err := DenseLPFromDense(d, dt)
				if err != nil {
					t.Fatal(err)
				}
				got, want := lp.ToDense(), dl.ToDense()
				for i := range want.Data {
					if math.Float32bits(got.Data[i]) != math.Float32bits(want.Data[i]) {
						t.Fatalf("%d:%d K %d %v: W[%d] = %v, dense conversion gives %v", p[0], p[1], k, dt, i, got.Data[i], want.Data[i])
					}
				}
				back := lp.ToNM()
				if !slices.Equal(back.Pos, w.Pos) || back.Validate() != nil {
					t.Fatalf("%v: positions changed", dt)
				}
				if lp.NNZ() != dl.NNZ() || lp.Stored() != w.Stored() {
					t.Fatalf("%v: NNZ %d (dense %d), stored %d of %d", dt, lp.NNZ(), dl.NNZ(), lp.Stored(), w.Stored())
				}
				if m, n := lp.Shape(); m != 7 || n != k {
					t.Fatalf("shape %d×%d", m, n)
				}
				if dt == I8 && lp.Scale[2] != 0 {
					t.Fatalf("empty row scale %v", lp.Scale[2])
				}
				rows, rowsD := RowNonzeros(lp), RowNonzeros(dl)
				for i := 0; i < 7; i++ {
					if a, b := rows(i, nil), rowsD(i, nil); !slices.Equal(a, b) {
						t.Fatalf("%v row %d: nonzeros %v, dense %v", dt, i, a, b)
					}
				}
			}
		}
	}
	w, err := NMFromDense(nmTestDense(r, 4, 16, 2, 4), 2, 4)
	if err != nil {
		t.Fatal(err)
	}
	w.Val[5] = float32(math.NaN())
	if _, err := NMLPFromNM(w, I8); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "row 0, slot 5") {
		t.Fatalf("int8 of NaN: %v", err)
	}
	if lp, err := NMLPFromNM(w, BF16); err != nil || !math.IsNaN(float64(BF16ToFloat32(lp.Bits[5]))) {
		t.Fatalf("bf16 of NaN: %v", err)
	}
	w.Val[5] = float32(math.Inf(1))
	if _, err := NMLPFromNM(w, I8); !errors.Is(err, ErrInvalid) {
		t.Fatalf("int8 of +Inf: %v", err)
	}
	if _, err := NMLPFromNM(w, DType(9)); err == nil {
		t.Fatal("dtype 9 converted")
	}
	w.Pos[0] = 9
	if _, err := NMLPFromNM(w, F16); !errors.Is(err, ErrInvalid) {
		t.Fatalf("invalid NM converted: %v", err)
	}
}

// TestNMLPValidate: NM's rules on the pattern and DenseLP's on the dtype's slices, each
// broken once, with a message that names the format.
func TestNMLPValidate(t *testing.T) {
	good := func(dt DType) *NMLP {
		// 2×6 at 2:4: groups of 4 and 2, 2 + 2 slots per row.
		m := &NMLP{Rows: 2, Cols: 6, Keep: 2, Group: 4, Pos: []uint8{0, 3, 0, 1, 1, 2, 0, 1}, DType: dt}
		if dt == I8 {
			m.I8, m.Scale = []int8{1, -2, 3, 0, 4, 5, -6, 7}, []float32{1, 0.5}
		} else {
			m.Bits = []uint16{0x3f80, 0xbf80, 0x4000, 0, 1, 2, 3, 4}
		}
		return m
	}
	for _, dt := range []DType{BF16, F16, I8} {
		if err := good(dt).Validate(); err != nil {
			t.Fatalf("%v: %v", dt, err)
		}
		bad := map[string]func(m *NMLP){
			"dtype":          func(m *NMLP) { m.DType = 0 },
			"pattern":        func(m *NMLP) { m.Keep = 5 },
			"group":          func(m *NMLP) { m.Group = 17 },
			"position width": func(m *NMLP) { m.Pos[1] = 4 },
			"partial width":  func(m *NMLP) { m.Pos[3] = 2 },
			"unsorted":       func(m *NMLP) { m.Pos[1] = 0 },
			"positions":      func(m *NMLP) { m.Pos = m.Pos[:7] },
			"values":         func(m *NMLP) { m.Bits, m.I8 = m.Bits[:len(m.Bits)/2], m.I8[:len(m.I8)/2] },
			"shape":          func(m *NMLP) { m.Rows = -1 },
			"other slice": func(m *NMLP) {
				if m.DType == I8 {
					m.Bits = []uint16{1}
				} else {
					m.I8 = []int8{1}
				}
			},
			"scales": func(m *NMLP) {
				if m.DType == I8 {
					m.Scale = m.Scale[:1]
				} else {
					m.Scale = []float32{1, 1}
				}
			},
		}
		for name, breakIt := range bad {
			m := good(dt)
			breakIt(m)
			err := m.Validate()
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "nm") {
				t.Errorf("%v %s: %v", dt, name, err)
			}
		}
	}
	var nilm *NMLP
	if err := nilm.Validate(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("nil: %v", err)
	}
	if !IsNil(nilm) {
		t.Fatal("IsNil(nil *NMLP) is false")
	}
}
