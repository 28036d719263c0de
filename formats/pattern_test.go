package formats

import "testing"

// TestPatternHash: a Dense and the CSR of its nonzeros share the hash; values do not
// change it; a moved entry, a transposed shape or an extra empty row do.
func TestPatternHash(t *testing.T) {
	d, _ := ZeroDense(3, 4)
	d.Data[1], d.Data[6], d.Data[11] = 1, -2, 3
	hd, err := PatternHash(d)
	if err != nil {
		t.Fatal(err)
	}
	c, err := CSRFromDense(d)
	if err != nil {
		t.Fatal(err)
	}
	hc, err := PatternHash(c)
	if err != nil {
		t.Fatal(err)
	}
	if hd != hc || len(hd) != 32 {
		t.Fatalf("dense %s, csr %s", hd, hc)
	}
	c.Val[0] = 42
	if h, _ := PatternHash(c); h != hd {
		t.Fatal("a value changed the pattern hash")
	}
	other := func(mod func(*Dense) *Dense) string {
		e := mod(&Dense{Rows: 3, Cols: 4, Stride: 4, Data: append([]float32(nil), d.Data...)})
		h, err := PatternHash(e)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	for name, mod := range map[string]func(*Dense) *Dense{
		"moved entry": func(e *Dense) *Dense { e.Data[1], e.Data[2] = 0, 1; return e },
		"4×3":         func(e *Dense) *Dense { e.Rows, e.Cols, e.Stride = 4, 3, 3; return e },
		"empty row":   func(e *Dense) *Dense { e.Rows++; e.Data = append(e.Data, 0, 0, 0, 0); return e },
	} {
		if other(mod) == hd {
			t.Errorf("%s: same hash", name)
		}
	}
	if _, err := PatternHash(&BSR{}); err == nil {
		t.Error("a BSR got a pattern hash")
	}
}
