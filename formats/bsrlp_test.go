package formats

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
)

// randBlockDense is an m×k Dense whose r×c blocks are each kept with probability 0.4,
// values spread over 9 decades, some zeros inside kept blocks (stored zeros).
func randBlockDense(t *testing.T, rng *rand.Rand, m, k, r, c int) *Dense {
	t.Helper()
	d, err := ZeroDense(m, k)
	if err != nil {
		t.Fatal(err)
	}
	for bi := 0; bi*r < m; bi++ {
		for bj := 0; bj*c < k; bj++ {
			if rng.Float64() >= 0.4 {
				continue
			}
			for i := bi * r; i < min(m, bi*r+r); i++ {
				for j := bj * c; j < min(k, bj*c+c); j++ {
					if rng.IntN(4) != 0 {
						d.Data[i*k+j] = float32(rng.NormFloat64() * math.Pow(10, float64(rng.IntN(9)-4)))
					}
				}
			}
		}
	}
	return d
}

// TestBSRLPFromBSR: for ragged and exact grids of several block shapes, converting a BSR's
// values gives exactly what DenseLPFromDense gives on the same weights dense (the same
// rounding; an int8 row's scale over its stored values across blocks equals the dense
// row's), the pattern is kept, NNZ and Stored count right, measuring the stored values
// equals measuring the widened BSR, and an int8 conversion of a NaN or ±Inf is an error
// naming its row and column.
func TestBSRLPFromBSR(t *testing.T) {
	rng := rand.New(rand.NewPCG(83, 84))
	for _, sh := range [][4]int{{23, 57, 4, 4}, {16, 16, 4, 4}, {9, 10, 3, 2}, {17, 5, 8, 1}, {5, 13, 1, 4}, {1, 1, 1, 1}, {7, 3, 2, 1}} {
		m, k, br, bc := sh[0], sh[1], sh[2], sh[3]
		d := randBlockDense(t, rng, m, k, br, bc)
		b, err := BSRFromDense(d, br, bc)
		if err != nil {
			t.Fatal(err)
		}
		for _, dt := range []DType{BF16, F16, I8} {
			lp, err := BSRLPFromBSR(b, dt)
			if err != nil {
				t.Fatalf("%v %v: %v", sh, dt, err)
			}
			dl, err := DenseLPFromDense(d, dt)
			if err != nil {
				t.Fatal(err)
			}
			got, want := lp.ToDense(), dl.ToDense()
			for i := range want.Data {
				if math.Float32bits(got.Data[i]) != math.Float32bits(want.Data[i]) {
					t.Fatalf("%v %v: W[%d] = %v, dense conversion gives %v", sh, dt, i, got.Data[i], want.Data[i])
				}
			}
			if dt == I8 && !reflect.DeepEqual(lp.Scale, dl.Scale) {
				t.Fatalf("%v: scales %v, dense %v", sh, lp.Scale, dl.Scale)
			}
			if lp.NNZ() != dl.NNZ() || lp.Stored() != b.Stored() {
				t.Fatalf("%v %v: NNZ %d (dense %d), stored %d of %d", sh, dt, lp.NNZ(), dl.NNZ(), lp.Stored(), b.Stored())
			}
			back := lp.ToBSR()
			if err := back.Validate(); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back.BlockRowPtr, b.BlockRowPtr) || !reflect.DeepEqual(back.BlockCol, b.BlockCol) {
				t.Fatalf("%v %v: pattern changed", sh, dt)
			}
			// Converting the widened values again is the identity.
			again, err := BSRLPFromBSR(back, dt)
			if err != nil {
				t.Fatal(err)
			}
			if dt != I8 && !reflect.DeepEqual(again.Bits, lp.Bits) {
				t.Fatalf("%v %v: round trip changed the bits", sh, dt)
			}
			ms, err1 := Measure(lp)
			mw, err2 := Measure(back)
			if err1 != nil || err2 != nil {
				t.Fatal(err1, err2)
			}
			if !reflect.DeepEqual(ms, mw) {
				t.Errorf("%v %v: measured %+v, widened %+v", sh, dt, ms, mw)
			}
		}
	}
	b, err := BSRFromDense(randBlockDense(t, rng, 8, 8, 2, 2), 2, 2)
	if err != nil || len(b.Val) < 4 {
		t.Fatal(err, len(b.Val))
	}
	b.Val[3] = float32(math.NaN())
	_, err = BSRLPFromBSR(b, I8)
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("int8 of NaN: %v", err)
	}
	i0 := 0
	for i := 0; i < b.BlockRows(); i++ {
		if b.BlockRowPtr[i+1] > 0 {
			i0 = i
			break
		}
	}
	want := "row " + string(rune('0'+2*i0+1))
	if !contains(err.Error(), want) {
		t.Fatalf("int8 of NaN: %v does not name %q", err, want)
	}
	b.Val[3] = float32(math.Inf(1))
	if _, err := BSRLPFromBSR(b, I8); !errors.Is(err, ErrInvalid) {
		t.Fatalf("int8 of +Inf: %v", err)
	}
	if lp, err := BSRLPFromBSR(b, F16); err != nil || !math.IsInf(float64(F16ToFloat32(lp.Bits[3])), 1) {
		t.Fatalf("f16 of +Inf: %v", err)
	}
	if _, err := BSRLPFromBSR(b, DType(9)); err == nil {
		t.Fatal("dtype 9 converted")
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

// TestBSRLPValidate: BSR's rules on the pattern and DenseLP's on the dtype's slices, each
// broken once.
func TestBSRLPValidate(t *testing.T) {
	// 5×5 with 2×2 blocks: block row 0 holds blocks 0 and 2 (2×2, 2×1), block row 2
	// (ragged, one row) block 1 (1×2): 4+2+2 values.
	good := func(dt DType) *BSRLP {
		b := &BSRLP{Rows: 5, Cols: 5, R: 2, C: 2, BlockRowPtr: []int64{0, 2, 2, 3}, BlockCol: []int32{0, 2, 1}, DType: dt}
		if dt == I8 {
			b.I8, b.Scale = []int8{1, -2, 3, 4, 5, 6, 7, 8}, []float32{1, 1, 0.5, 2, 3}
		} else {
			b.Bits = []uint16{0x3f80, 0xbf80, 0x4000, 1, 2, 3, 4, 5}
		}
		return b
	}
	for _, dt := range []DType{BF16, F16, I8} {
		if err := good(dt).Validate(); err != nil {
			t.Fatalf("%v: %v", dt, err)
		}
		bad := map[string]func(b *BSRLP){
			"dtype":          func(b *BSRLP) { b.DType = 0 },
			"block":          func(b *BSRLP) { b.R = 0 },
			"block col >= K": func(b *BSRLP) { b.BlockCol[1] = 3 },
			"unsorted":       func(b *BSRLP) { b.BlockCol[1] = 0 },
			"row pointers":   func(b *BSRLP) { b.BlockRowPtr[2] = 3; b.BlockRowPtr[1] = 3 },
			"rowptr len":     func(b *BSRLP) { b.BlockRowPtr = b.BlockRowPtr[:3] },
			"short values": func(b *BSRLP) {
				if b.DType == I8 {
					b.I8 = b.I8[:7]
				} else {
					b.Bits = b.Bits[:7]
				}
			},
			"long values": func(b *BSRLP) {
				if b.DType == I8 {
					b.I8 = append(b.I8, 1)
				} else {
					b.Bits = append(b.Bits, 1)
				}
			},
			"other slice": func(b *BSRLP) {
				if b.DType == I8 {
					b.Bits = []uint16{1}
				} else {
					b.I8 = []int8{1}
				}
			},
			"scales": func(b *BSRLP) {
				if b.DType == I8 {
					b.Scale = b.Scale[:3] // one per block row is not one per row
				} else {
					b.Scale = []float32{1, 1, 1, 1, 1}
				}
			},
			"negative shape": func(b *BSRLP) { b.Rows = -1 },
		}
		for name, breakIt := range bad {
			b := good(dt)
			breakIt(b)
			if err := b.Validate(); !errors.Is(err, ErrInvalid) {
				t.Errorf("%v %s: %v", dt, name, err)
			}
		}
		// Widening a hand example: block (0,0) row 1 of int8 uses Scale[1], the ragged
		// block row 2 uses Scale[4].
		w := good(dt).ToDense()
		if dt == I8 {
			if w.Data[1*5+1] != 4*1 || w.Data[4*5+2] != 7*3 || w.Data[0*5+4] != 5*1 || w.Data[1*5+4] != 6*1 {
				t.Fatalf("i8 widened to %v", w.Data)
			}
		} else if dt == BF16 && (w.Data[0] != 1 || w.Data[1] != -1 || w.Data[5] != 2) {
			t.Fatalf("bf16 widened to %v", w.Data)
		}
	}
	var nilb *BSRLP
	if err := nilb.Validate(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("nil: %v", err)
	}
}

// TestBSRLPFromDenseLP: regrouping a DenseLP (row stride wider than its columns) into
// blocks of several shapes, ragged and exact, keeps every stored value bit for bit (ToDense
// equals the DenseLP's, int8 scales copied), drops exactly the all-zero blocks (a -0 block
// too: its bits are nonzero but its value is not), and refuses a bad block shape or an
// invalid input.
func TestBSRLPFromDenseLP(t *testing.T) {
	rng := rand.New(rand.NewPCG(91, 92))
	for _, sh := range [][4]int{{23, 57, 8, 1}, {16, 16, 4, 4}, {9, 10, 3, 2}, {17, 5, 8, 1}, {1, 1, 1, 1}, {0, 4, 8, 1}} {
		m, k, br, bc := sh[0], sh[1], sh[2], sh[3]
		d := randBlockDense(t, rng, m, k, br, bc)
		for _, dt := range []DType{BF16, F16, I8} {
			lp, err := DenseLPFromDense(d, dt)
			if err != nil {
				t.Fatal(err)
			}
			if dt != I8 && m > 0 {
				lp.Bits[0] = 0x8000 // -0: stored as nonzero bits, a zero value
			}
			// The same values behind a wider row stride.
			wide := &DenseLP{Rows: m, Cols: k, Stride: k + 3, DType: dt, Scale: lp.Scale}
			for i := 0; i < m; i++ {
				if dt == I8 {
					wide.I8 = append(append(wide.I8, lp.I8[i*k:i*k+k]...), 7, 7, 7)
				} else {
					wide.Bits = append(append(wide.Bits, lp.Bits[i*k:i*k+k]...), 1, 1, 1)
				}
			}
			b, err := BSRLPFromDenseLP(wide, br, bc)
			if err != nil {
				t.Fatalf("%v %v: %v", sh, dt, err)
			}
			if got, want := b.ToDense(), lp.ToDense(); !sameDense(got, want) {
				t.Errorf("%v %v: values changed by regrouping", sh, dt)
			}
			ref, err := BSRFromDense(lp.ToDense(), br, bc)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(b.BlockRowPtr, ref.BlockRowPtr) || !reflect.DeepEqual(b.BlockCol, ref.BlockCol) {
				t.Errorf("%v %v: blocks %v %v, BSRFromDense keeps %v %v", sh, dt, b.BlockRowPtr, b.BlockCol, ref.BlockRowPtr, ref.BlockCol)
			}
			if dt == I8 && fmt.Sprint(b.Scale) != fmt.Sprint(lp.Scale) {
				t.Errorf("%v: scales %v, want %v", sh, b.Scale, lp.Scale)
			}
		}
	}
	lp, _ := DenseLPFromDense(randBlockDense(t, rng, 4, 4, 1, 1), BF16)
	for _, rc := range [][2]int{{0, 1}, {1, 0}, {MaxBlockDim + 1, 1}} {
		if _, err := BSRLPFromDenseLP(lp, rc[0], rc[1]); !errors.Is(err, ErrInvalid) {
			t.Errorf("block %v: err %v, want ErrInvalid", rc, err)
		}
	}
	lp.Bits = lp.Bits[:3]
	if _, err := BSRLPFromDenseLP(lp, 8, 1); !errors.Is(err, ErrInvalid) {
		t.Errorf("short Bits: err %v, want ErrInvalid", err)
	}
}
