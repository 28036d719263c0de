package dispatch

import (
	"strings"
	"testing"

	"github.com/sparsegen/sparsegen/asm"
)

// TestUserNMPatternsCalibrated: a registered user N:M family (a namespaced name, DESIGN
// §5.11) brings its pattern into the calibration set, with CSR to compare against.
func TestUserNMPatternsCalibrated(t *testing.T) {
	f, ok := asm.Lookup("nm_packed_generic")
	if !ok {
		t.Fatal("no nm_packed_generic")
	}
	d := *f.Desc
	d.Name, d.Keep, d.Group = "usertest.nm3of8_generic", 3, 8
	defer asm.Register(asm.Family{Desc: &d, Pack: f.Pack})()
	if got := userNMPatterns(); len(got) != 1 || got[0] != [2]int{3, 8} {
		t.Fatalf("userNMPatterns = %v", got)
	}
	n := 0
	for _, tm := range quickTrainingSet() {
		if strings.HasSuffix(tm.name, " 3:8") {
			n++
			if !tm.takes(target{format: "nm", keep: 3, group: 8}) || !tm.takes(target{format: "csr"}) {
				t.Errorf("%s does not time nm3:8 and csr", tm.name)
			}
		}
	}
	if n == 0 {
		t.Error("no 3:8 matrix in the calibration set")
	}
	// A specialised kernel is priced from the any-pattern kernel of its shape on its target.
	anyF, ok := asm.Lookup("nm_any_r4_t64_avx512")
	if !ok {
		t.Skip("no AVX-512 N:M kernels in this build")
	}
	u := *anyF.Desc
	u.Name, u.Keep, u.Group = "usertest.nm3of8_r4_t64_avx512", 3, 8
	c := shippedPolicy.coefAt(asm.Family{Desc: &u}, target{format: "nm", keep: 3, group: 8, stored: 1000}, 32)
	if !strings.HasPrefix(c.source, "table (nm_any_r4_t64_avx512 ×") {
		t.Errorf("priced by %q", c.source)
	}
	a := shippedPolicy.coefAt(anyF, target{format: "nm", keep: 3, group: 8, stored: 1000}, 32)
	if c.perMAC <= 0 || c.perMAC > 1.5*a.perMAC {
		t.Errorf("specialised %g per MAC, any-pattern %g", c.perMAC, a.perMAC)
	}
}
