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

func TestCheckOperands(t *testing.T) {
	if err := CheckOperands(11008, 4096, 128); err != nil {
		t.Error(err)
	}
	if err := CheckOperands(11008, 4096, 100000000); err == nil {
		t.Error("11008×4096 with N = 10⁸ (6 TB) passed")
	}
	if err := CheckOperands(-1, 1, 1); err == nil {
		t.Error("negative M passed")
	}
}
