package neon

import (
	"fmt"
	"regexp"
	"strconv"
	"testing"

	"github.com/sparsegen/sparsegen/gen/kernels"
)

// Shape tests: speed cannot be timed here (no arm64 hardware), so the generated code's
// inner loops are checked instead: instructions per nonzero, independent accumulator chains,
// FMLA by element where a factor is a broadcast.

// lowerFamily runs a family description through the NEON machine.
func lowerFamily(t *testing.T, fam kernels.Family) map[string]*Func {
	t.Helper()
	m := NewMachine()
	fam.Gen(m)
	fs, err := m.Funcs()
	if err != nil {
		t.Fatalf("%s: %v", fam.File, err)
	}
	out := map[string]*Func{}
	for _, f := range fs {
		out[f.Name] = f
	}
	return out
}

// innerLoops returns the loops (label … backward branch to it) that contain no other loop.
func innerLoops(insts []Inst) [][]Inst {
	type span struct{ i, j int }
	var spans []span
	at := map[string]int{}
	for j, in := range insts {
		if in.Class == ClassLabel {
			at[in.Label] = j
		}
		if in.Class == ClassBranch {
			if i, ok := at[in.Label]; ok && i < j {
				spans = append(spans, span{i, j})
			}
		}
	}
	var out [][]Inst
	for _, s := range spans {
		inner := true
		for _, o := range spans {
			if o != s && o.i >= s.i && o.j <= s.j {
				inner = false
			}
		}
		if inner {
			out = append(out, insts[s.i:s.j+1])
		}
	}
	return out
}

// fmaLoop returns the single inner loop of f that does FMAs.
func fmaLoop(t *testing.T, f *Func) []Inst {
	t.Helper()
	var found [][]Inst
	for _, l := range innerLoops(f.Insts()) {
		c := Counts(l)
		if c[ClassFMA]+c[ClassFMAElem] > 0 {
			found = append(found, l)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s: %d inner loops with FMAs, want 1", f.Name, len(found))
	}
	return found[0]
}

func dump(l []Inst) string {
	s := ""
	for _, in := range l {
		s += in.Line() + "\n"
	}
	return s
}

// checkCounts compares a loop's tally with want (classes not named must be absent).
func checkCounts(t *testing.T, name string, loop []Inst, want map[Class]int, maxInt int) {
	t.Helper()
	c := Counts(loop)
	for cl, n := range c {
		if cl == ClassInt {
			if n > maxInt {
				t.Errorf("%s: %d integer ops in the inner loop, want ≤ %d\n%s", name, n, maxInt, dump(loop))
			}
			continue
		}
		if want[cl] != n {
			t.Errorf("%s: %d %v in the inner loop, want %d\n%s", name, n, cl, want[cl], dump(loop))
		}
	}
	for cl, n := range want {
		if c[cl] != n {
			t.Errorf("%s: %d %v in the inner loop, want %d", name, c[cl], cl, n)
		}
	}
}

// weightLoads is how the lowering loads w consecutive weights: groups of four (LDR q) and
// the rest as one pair (LDR d) and/or one single (LDR s); it returns the vector-register
// loads (class ld1) and the partial ones (class ld1lane).
func weightLoads(w int) (q, partial int) {
	q = w / 4
	switch w % 4 {
	case 1, 2:
		partial = 1
	case 3:
		partial = 2
	}
	return q, partial
}

var csrName = regexp.MustCompile(`^csrNEONR(\d+)U(\d+)(M?)$`)

// The CSR step loop handles one entry of each of R rows: per step the R weights in one load
// (LDR s, d or q: no LD1R) used as FMLA-by-element lanes, per entry one 16-bit offset, one
// address ADD, U vector loads and U FMLA by element into its own accumulators; per step one
// SUBS counter (the vals/offs pointer increments are folded into post-indexed loads):
// integer ALU ops per nonzero ≤ 1 + 1/R ≤ 2, R·U chains.
func TestShapeCSR(t *testing.T) {
	fs := lowerFamily(t, kernels.CSR)
	n := 0
	for name, f := range fs {
		m := csrName.FindStringSubmatch(name)
		if m == nil {
			t.Errorf("unexpected CSR function %s", name)
			continue
		}
		r, _ := strconv.Atoi(m[1])
		u, _ := strconv.Atoi(m[2])
		loop := fmaLoop(t, f)
		wq, wp := weightLoads(r)
		checkCounts(t, name, loop, map[Class]int{
			ClassFMAElem:  r * u,
			ClassLoad:     r*u + wq,
			ClassLoadLane: wp,
			ClassIntLoad:  r,
			ClassBranch:   1,
		}, r+1)
		if acc := Accumulators(loop); len(acc) != r*u {
			t.Errorf("%s: %d accumulator chains, want R·U = %d", name, len(acc), r*u)
		}
		n++
	}
	if n < 30 {
		t.Fatalf("only %d CSR functions", n)
	}
}

// The GEMM micro-kernel's unrolled k loop: per k step V vector loads of X, the MR weights in
// MR/4 LDR q, and MR·V FMLA by element (lanes 0..3) into MR·V accumulators (≥ 8 chains).
func TestShapeGemm(t *testing.T) {
	fs := lowerFamily(t, kernels.Gemm)
	if len(fs) == 0 {
		t.Fatal("no NEON GEMM kernels")
	}
	for _, tile := range kernels.GemmTiles["neon"] {
		name := fmt.Sprintf("gemm%dx%dNEON", tile.MR, tile.V*4)
		f, ok := fs[name]
		if !ok {
			t.Fatalf("%s not generated", name)
		}
		var main []Inst
		for _, l := range innerLoops(f.Insts()) {
			if c := Counts(l); c[ClassFMAElem] == tile.MR*tile.V*tile.Unroll {
				main = l
			}
		}
		if main == nil {
			t.Fatalf("%s: no loop with %d FMLA by element", name, tile.MR*tile.V*tile.Unroll)
		}
		wq, wp := weightLoads(tile.MR)
		checkCounts(t, name, main, map[Class]int{
			ClassFMAElem:  tile.MR * tile.V * tile.Unroll,
			ClassLoad:     (tile.V + wq) * tile.Unroll,
			ClassLoadLane: wp * tile.Unroll,
			ClassBranch:   1,
		}, 2) // the k counter: SUB and CMP (pointer increments folded into LDR q/s post-index)
		if acc := Accumulators(main); len(acc) != tile.MR*tile.V || len(acc) < 8 {
			t.Errorf("%s: %d accumulator chains, want %d (≥ 8)", name, len(acc), tile.MR*tile.V)
		}
	}
}

// The peak loop: PeakChains independent FMLAs, a SUBS and a branch.
func TestShapePeak(t *testing.T) {
	fs := lowerFamily(t, kernels.Peak)
	f := fs["peakNEON"]
	if f == nil {
		t.Fatal("peakNEON not generated")
	}
	loop := fmaLoop(t, f)
	checkCounts(t, "peakNEON", loop, map[Class]int{ClassFMA: kernels.PeakChains, ClassBranch: 1}, 1)
	if acc := Accumulators(loop); len(acc) != kernels.PeakChains {
		t.Errorf("peakNEON: %d chains", len(acc))
	}
}

// SpMV (N = 1) gathers lane by lane: per chunk of 4 entries one index load (LDR d + UXTL or
// LDR q), 4 × (UMOV, ADD, LD1 lane), one weight vector and one FMLA; two chunks per loop
// trip into two accumulators.
func TestShapeSpMV(t *testing.T) {
	fs := lowerFamily(t, kernels.SpMV)
	for _, bytes := range []int{2, 4} {
		name := kernels.SpMVFuncName("neon", bytes)
		f := fs[name]
		if f == nil {
			t.Fatalf("%s not generated", name)
		}
		var two []Inst
		for _, l := range innerLoops(f.Insts()) {
			if c := Counts(l); c[ClassFMA] == 2 {
				two = l
			}
		}
		if two == nil {
			t.Fatalf("%s: no two-chunk loop", name)
		}
		c := Counts(two)
		if c[ClassLoadLane] != 8+map[int]int{2: 2, 4: 0}[bytes] {
			t.Errorf("%s: %d lane/scalar loads in the loop, want 8 gathered lanes (+2 LDR d for 16-bit indices)\n%s", name, c[ClassLoadLane], dump(two))
		}
		if want := 2 + map[int]int{2: 0, 4: 2}[bytes]; c[ClassLoad] != want {
			t.Errorf("%s: %d vector loads, want %d\n%s", name, c[ClassLoad], want, dump(two))
		}
		if acc := Accumulators(two); len(acc) != 2 {
			t.Errorf("%s: %d accumulators, want 2", name, len(acc))
		}
	}
}

// Every lowered family assembles with Go's assembler, one function at a time.
func TestFamiliesAssemble(t *testing.T) {
	for _, fam := range kernels.All() {
		m := NewMachine()
		fam.Gen(m)
		fs, err := m.Funcs()
		if err != nil {
			t.Errorf("%s: %v", fam.File, err)
			continue
		}
		if len(fs) == 0 {
			continue
		}
		src, err := m.Asm("test")
		if err != nil {
			t.Fatal(err)
		}
		ws := goWords(t, src)
		if len(ws) != len(fs) {
			t.Fatalf("%s: %d functions assembled, want %d", fam.File, len(ws), len(fs))
		}
		for i, f := range fs {
			want := 0
			for _, in := range Code(f.Insts()) {
				want++
				if in.Class == ClassInt && in.GNU == "" && in.Go[:4] == "MOVD" {
					want = -1 << 30 // a wide constant may take several words
				}
			}
			if want > 0 && len(ws[i]) != want {
				t.Errorf("%s: %d words for %d instructions", f.Name, len(ws[i]), want)
			}
		}
	}
}

// The BSR kernels' main block loop: per block column U vector loads of X feed H·U FMLA by
// element; the block's H·CW weights come in groups of four (LDR q; a pair as LDR d, a single
// as LDR s), no LD1R: loads per FMA ≈ 1/U + 1/(4U), H·U ≥ 8 chains.
func TestShapeBSR(t *testing.T) {
	fs := lowerFamily(t, kernels.BSR)
	shapes := kernels.BSRShapes["neon"]
	if len(shapes) == 0 {
		t.Fatal("no NEON BSR shapes")
	}
	for _, s := range shapes {
		name := kernels.BSRFuncName("neon", s)
		f := fs[name]
		if f == nil {
			t.Fatalf("%s not generated", name)
		}
		var main []Inst
		for _, l := range innerLoops(f.Insts()) {
			// the full-width tile's loop: no masked accesses (their branches) inside
			if c := Counts(l); c[ClassFMAElem] == s.H*s.U*s.CW && c[ClassBranch] == 1 && main == nil {
				main = l
			}
		}
		if main == nil {
			t.Fatalf("%s: no loop with H·U·CW = %d FMLA by element", name, s.H*s.U*s.CW)
		}
		c := Counts(main)
		wq, wp := weightLoads(s.H * s.CW)
		if c[ClassFMA] != 0 || c[ClassLoadRep] != 0 || c[ClassLoad] != s.U*s.CW+wq || c[ClassLoadLane] != wp {
			t.Errorf("%s: loop %v, want %d + %d LDR q, %d LDR d/s, no LD1R or vector-form FMLA\n%s", name, c, s.U*s.CW, wq, wp, dump(main))
		}
		if acc := Accumulators(main); len(acc) != s.H*s.U || len(acc) < 8 {
			t.Errorf("%s: %d accumulator chains, want H·U = %d ≥ 8", name, len(acc), s.H*s.U)
		}
	}
}

// The N:M family has no NEON entries yet (its asm driver is amd64-only); this lowers it with
// NEON tiles (4×4 and 2×8: 16 chains) and GEMV patterns of 4-row units to show the backend
// takes it: every function allocates and assembles, and the SpMM slot loop keeps UH·U
// chains with the weight as an FMLA-by-element lane.
func TestLowerNM(t *testing.T) {
	shapes := []kernels.NMShape{{UH: 4, U: 4}, {UH: 2, U: 8}}
	gemv := []kernels.NMGemv{{Keep: 2, Group: 4, UH: 4}, {Keep: 1, Group: 4, UH: 4}, {Keep: 2, Group: 8, UH: 4}, {Keep: 4, Group: 8, UH: 4}, {Keep: 1, Group: 8, UH: 4}}
	if _, ok := kernels.NMShapes["neon"]; !ok {
		kernels.NMShapes["neon"] = shapes
		defer delete(kernels.NMShapes, "neon")
	}
	if _, ok := kernels.NMGemvPatterns["neon"]; !ok {
		kernels.NMGemvPatterns["neon"] = gemv
		defer delete(kernels.NMGemvPatterns, "neon")
	}
	m := NewMachine()
	kernels.NM.Gen(m)
	fs, err := m.Funcs()
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) < len(kernels.NMPatterns)*len(kernels.NMShapes["neon"])+len(kernels.NMGemvPatterns["neon"]) {
		t.Fatalf("only %d N:M functions", len(fs))
	}
	src, err := m.Asm("test")
	if err != nil {
		t.Fatal(err)
	}
	if ws := goWords(t, src); len(ws) != len(fs) {
		t.Fatalf("%d functions assembled, want %d", len(ws), len(fs))
	}
	byName := map[string]*Func{}
	for _, f := range fs {
		byName[f.Name] = f
	}
	for _, p := range kernels.NMPatterns {
		for _, s := range kernels.NMShapes["neon"] {
			name := kernels.NMFuncName("neon", p, s)
			f := byName[name]
			if f == nil {
				t.Fatalf("%s not generated", name)
			}
			best := 0
			for _, l := range innerLoops(f.Insts()) {
				c := Counts(l)
				if c[ClassFMA] > 0 {
					t.Errorf("%s: vector-form FMLA in a loop (the weight should be a lane)\n%s", name, dump(l))
				}
				if n := len(Accumulators(l)); n > best {
					best = n
				}
			}
			if best != s.UH*s.U {
				t.Errorf("%s: %d chains in the widest loop, want UH·U = %d", name, best, s.UH*s.U)
			}
		}
	}
}
