package bench

import (
	"testing"

	"github.com/sparsegen/sparsegen/formats"
)

// TestDenseDTypePattern: "dense:bf16" and friends parse, print back and synthesize a
// DenseLP of that dtype from the float32 weights; "dense:f32" is plain dense.
func TestDenseDTypePattern(t *testing.T) {
	d := RandomDense(3, 9, 21)
	for _, s := range []string{"dense:bf16", "dense:f16", "dense:i8"} {
		p, err := ParsePattern(s)
		if err != nil || p.String() != s {
			t.Fatalf("%s: %v %v", s, p, err)
		}
		w, err := Synthesize(d, p)
		if err != nil {
			t.Fatal(err)
		}
		lp, ok := w.(*formats.DenseLP)
		if !ok || lp.DType != p.DType || lp.Rows != 9 || lp.Cols != 21 {
			t.Fatalf("%s: synthesized %T", s, w)
		}
	}
	if p, err := ParsePattern("dense:f32"); err != nil || p != (Pattern{Kind: Dense}) {
		t.Fatalf("dense:f32: %v %v", p, err)
	}
	if _, err := ParsePattern("dense:f64"); err == nil {
		t.Fatal("dense:f64 parsed")
	}
}
