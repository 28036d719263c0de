package dispatch

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/sparsegen/sparsegen/asm"
	"github.com/sparsegen/sparsegen/formats"
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

// TestUserBSRPriced: a registered user BSR family (DESIGN §5.11) of a block shape
// sparsegen ships is priced like sparsegen's kernel of that shape; one of a shape it does
// not ship (3×4) like bsr_any on its target, which runs that shape on 4-row steps (its
// 4×1 entry, a third more per stored value for the zero rows), times the block kernels'
// median ratio to steps: never like the cheapest BSR kernel of the ISA (8×1's).
func TestUserBSRPriced(t *testing.T) {
	own, ok := asm.Lookup("bsr4x4_t64_avx512")
	anyF, ok2 := asm.Lookup("bsr_any_avx512")
	if !ok || !ok2 {
		t.Skip("no AVX-512 BSR kernels in this build")
	}
	user := func(name string, r, c, tile int) asm.Family {
		d := *own.Desc
		d.Name, d.BlockR, d.BlockC, d.Rows, d.Tile = name, r, c, r, tile
		return asm.Family{Desc: &d, Pack: own.Pack}
	}
	t44 := target{format: "bsr", r: 4, c: 4, stored: 1000}
	t34 := target{format: "bsr", r: 3, c: 4, stored: 1000}
	for _, pn := range []int{1, 16, 64} {
		c := shippedPolicy.coefAt(user("usertest.bsr4x4_t64_avx512", 4, 4, 64), t44, pn)
		if o := shippedPolicy.coefAt(own, t44, pn); c.source != "table (like bsr4x4_t64_avx512)" || c.perMAC != o.perMAC {
			t.Errorf("N %d: user 4×4 priced %g by %q, sparsegen's %g", pn, c.perMAC, c.source, o.perMAC)
		}
		step, ok := shippedPolicy.lookup(entryKey{"bsr_any_avx512", "bsr4x1", pn, false})
		a := shippedPolicy.coefAt(anyF, t34, pn)
		if !ok || math.Abs(a.perMAC-step.PerMAC*4/3) > 1e-12 {
			t.Errorf("N %d: bsr_any on 3×4 priced %g by %q, its 4×1 entry %g × 4/3 = %g", pn, a.perMAC, a.source, step.PerMAC, step.PerMAC*4/3)
		}
		if pn <= largeMaxN { // a streamed W: the same from the large-W entries
			big := t34
			big.stored = largeStored
			stepL, ok := shippedPolicy.lookup(entryKey{"bsr_any_avx512", "bsr4x1", pn, true})
			aL := shippedPolicy.coefAt(anyF, big, pn)
			uL := shippedPolicy.coefAt(user("usertest.bsr3x4_t48_avx512", 3, 4, 48), big, pn)
			if !ok || math.Abs(aL.perMAC-stepL.PerMAC*4/3) > 1e-12 || uL.perMAC > 1.1*aL.perMAC || uL.perMAC < 0.5*aL.perMAC {
				t.Errorf("N %d, large W: bsr_any on 3×4 %g by %q (its 4×1 entry %g × 4/3), user 3×4 %g by %q", pn, aL.perMAC, aL.source, stepL.PerMAC, uL.perMAC, uL.source)
			}
		}
		u := shippedPolicy.coefAt(user("usertest.bsr3x4_t48_avx512", 3, 4, 48), t34, pn)
		if !strings.HasPrefix(u.source, "bsr_any_avx512 on bsr3x4: ") || u.perMAC > 1.1*a.perMAC || u.perMAC < 0.5*a.perMAC {
			t.Errorf("N %d: user 3×4 priced %g by %q; bsr_any there %g", pn, u.perMAC, u.source, a.perMAC)
		}
		cheapest := math.Inf(1) // what it was priced like before (findCoef's last table rule)
		for _, e := range shippedPolicy.table {
			if f, ok := asm.Lookup(e.Family); ok && e.N == pn && f.ISA == asm.AVX512 && formatOfTarget(e.Target) == "bsr" {
				cheapest = min(cheapest, e.PerMAC)
			}
		}
		if u.perMAC < 1.2*cheapest {
			t.Errorf("N %d: user 3×4 priced %g, near the cheapest AVX-512 BSR entry, %g", pn, u.perMAC, cheapest)
		}
	}
	// Registered, its block shape is measured (candidateBlocks), so the calibration set
	// holds matrices of its blocks; it takes part in Compile's choice for a W of its blocks
	// (a dense W whose nonzeros fill 3×4 blocks) and is estimated below bsr_any there. On
	// this CPU's widest ISA: AVX2's 4×4 kernel stands in where AVX-512 cannot run.
	isa, ownName, tile := "avx512", "bsr4x4_t64_avx512", 48
	if !Host().CanRun(own, asm.AVX512) {
		isa, ownName, tile = "avx2", "bsr4x4_t16_avx2", 24
	}
	hostOwn, ok := asm.Lookup(ownName)
	if !ok || !Host().CanRun(hostOwn, hostOwn.ISA) {
		t.Skipf("this CPU runs neither the AVX-512 nor the AVX2 BSR kernels")
	}
	userName, anyName := "usertest.bsr3x4_t"+fmt.Sprint(tile)+"_"+isa, "bsr_any_"+isa
	d3 := *hostOwn.Desc
	d3.Name, d3.BlockR, d3.BlockC, d3.Rows, d3.Tile = userName, 3, 4, 3, tile
	defer asm.Register(asm.Family{Desc: &d3, Pack: hostOwn.Pack})()
	n := 0
	for _, tm := range quickTrainingSet() {
		if strings.HasSuffix(tm.name, " blocks 3x4 25%") && tm.takes(t34) {
			n++
		}
	}
	if n == 0 {
		t.Error("no matrix of 3×4 blocks in the calibration set")
	}
	m, k := 96, 128
	d := make([]float32, m*k)
	for i := range m {
		for j := range k {
			if (i/3+j/4)%4 == 0 {
				d[i*k+j] = float32(1 + (i*k+j)%7)
			}
		}
	}
	w, err := formats.NewDense(m, k, d)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := Candidates(w, 16, Options{})
	if err != nil {
		t.Fatal(err)
	}
	pos := map[string]int{}
	for i, c := range cs {
		if c.Format == "bsr3x4" {
			if _, seen := pos[c.Kernel]; !seen {
				pos[c.Kernel] = i
			}
		}
	}
	ui, ok1 := pos[userName]
	ai, ok2 := pos[anyName]
	if !ok1 || !ok2 {
		t.Fatalf("on bsr3x4: user kernel listed %v, bsr_any %v; candidates %v", ok1, ok2, cs)
	}
	// AVX-512's block kernels beat its steps in the table, so the user kernel ranks first;
	// AVX2's do not at N = 16 (bsr4x4_t16_avx2 above bsr_any_avx2 on 4×4 blocks), so there
	// it is estimated within the pricing's bounds of bsr_any, as coefAt gave above.
	ue, ae := cs[ui].MedianNs, cs[ai].MedianNs
	if isa == "avx512" && ui > ai || ue > 1.1*ae || ue < 0.5*ae {
		t.Errorf("on bsr3x4 (%s): user kernel at %d (est %g), bsr_any at %d (est %g); candidates %v", isa, ui, ue, ai, ae, cs)
	}
}

// TestWithPattern: W is hashed for a baked family's pattern only when a baked family of
// W's shape is registered (hashing a dense W reads all of it).
func TestWithPattern(t *testing.T) {
	w, err := formats.ZeroDense(2, 3)
	if err != nil {
		t.Fatal(err)
	}
	w.Data[4] = 1
	want, err := formats.PatternHash(w)
	if err != nil {
		t.Fatal(err)
	}
	baked := func(m, k int) []asm.Family {
		return []asm.Family{{Desc: &asm.Desc{Name: "t.csr_baked_w_t16_avx2", Format: "csr", Pattern: want, PatternRows: m, PatternCols: k}}}
	}
	for _, c := range []struct {
		fams []asm.Family
		want string
	}{{nil, ""}, {baked(3, 2), ""}, {baked(2, 3), want}} {
		got := withPattern([]target{{format: "dense"}, {format: "csr"}}, w, c.fams)
		if got[0].pattern != "" || got[1].pattern != c.want {
			t.Errorf("families %v: patterns %q, %q; want csr's %q", c.fams, got[0].pattern, got[1].pattern, c.want)
		}
	}
}
