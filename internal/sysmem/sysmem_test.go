package sysmem

import "testing"

func TestTotal(t *testing.T) {
	b := Total()
	if b < 64<<20 || b > 1<<50 {
		t.Fatalf("Total = %d bytes, implausible", b)
	}
	if !Fits(0) || Fits(-1) || Fits(b+1) || !Fits(b) {
		t.Error("Fits")
	}
	t.Logf("Total = %.1f GiB", float64(b)/(1<<30))
}
