package dispatch

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/sparsegen/sparsegen/asm"
	"github.com/sparsegen/sparsegen/formats"
	"github.com/sparsegen/sparsegen/ref"
)

// randNMLPW is an m×k keep:group W (a third of the groups below their slots) in dtype dt.
func randNMLPW(t *testing.T, rng *rand.Rand, m, k, keep, group int, dt formats.DType) *formats.NMLP {
	t.Helper()
	d := &formats.Dense{Rows: m, Cols: k, Stride: k, Data: make([]float32, m*k)}
	for i := 0; i < m; i++ {
		for g := 0; g*group < k; g++ {
			width := min(group, k-g*group)
			nz := min(keep, width)
			if rng.IntN(3) == 0 {
				nz = rng.IntN(nz + 1)
			}
			for _, p := range rng.Perm(width)[:nz] {
				d.Data[i*k+g*group+p] = float32(rng.NormFloat64())
			}
		}
	}
	w, err := formats.NMFromDense(d, keep, group)
	if err != nil {
		t.Fatal(err)
	}
	lp, err := formats.NMLPFromNM(w, dt)
	if err != nil {
		t.Fatal(err)
	}
	return lp
}

// TestCompileNMLP: an N:M W in bf16, fp16 or int8 compiles to its dtype's N:M families on
// the widest ISA under the cap (every ISA this CPU runs, generic included), for every N:
// at N = 1 the GEMV where the pattern has aligned chunks, else an SpMM tile (pure Go only
// under the generic cap); a family of W's pattern or of any; ref's result on W widened
// first, channel-major and token-major, on 1 and 3 threads. W is never converted: another
// format, a float32 family, a family of another dtype or pattern is refused clearly.
func TestCompileNMLP(t *testing.T) {
	rng := rand.New(rand.NewPCG(71, 72))
	for _, dt := range []formats.DType{formats.BF16, formats.F16, formats.I8} {
		format := asm.NMLPFormat(dt)
		for _, pat := range [][2]int{{2, 4}, {1, 4}, {2, 8}, {4, 8}, {3, 7}} {
			keep, group := pat[0], pat[1]
			lp := randNMLPW(t, rng, 37, 16*group/keep*3+group/2+1, keep, group, dt)
			wd := lp.ToNM()
			for _, isa := range runnableISAs() {
				for _, threads := range []int{1, 3} {
					p, err := Compile(lp, Options{ISA: isa, Threads: threads, Act: ref.ActReLU, Bias: randX(rng, 37)})
					if err != nil {
						t.Fatalf("%v %d:%d %s: %v", dt, keep, group, isa, err)
					}
					for _, n := range []int{1, 2, 3, 16, 17, 33, 70} {
						fam, got := p.KernelFor(n)
						f, ok := asm.Lookup(fam)
						if !ok || got != format || f.Format != format {
							t.Fatalf("%v %s: N = %d runs %s on %s", dt, isa, n, fam, got)
						}
						if f.Keep != 0 && (f.Keep != keep || f.Group != group) {
							t.Fatalf("%v %d:%d %s: N = %d runs %s", dt, keep, group, isa, n, fam)
						}
						if want := widestLP(format, mustISA(t, isa)); f.ISA != want {
							t.Fatalf("%v %s: N = %d runs %s (%s), the widest %s family here is %s", dt, isa, n, fam, f.ISA, format, want)
						}
						if f.ISA != asm.Generic && n == 1 && (f.MaxN == 1) != asm.ChunkAligned(keep, group) {
							t.Fatalf("%v %d:%d %s: N = 1 runs %s", dt, keep, group, isa, fam)
						}
						if f.ISA != asm.Generic && n > 1 && f.Tile == 0 {
							t.Fatalf("%v %d:%d %s: N = %d runs %s", dt, keep, group, isa, n, fam)
						}
						name := fmt.Sprintf("%s/%d:%d/%s/t%d/n%d", format, keep, group, isa, threads, n)
						epi := &ref.Epilogue{Bias: p.epi.Bias, Act: ref.ActReLU}
						checkChannelMajor(t, name, p, wd, rng, n, epi)
						checkTokenMajor(t, name, p, wd, rng, n, epi)
					}
					if !strings.Contains(p.Describe(), format) {
						t.Fatalf("Describe does not name the format:\n%s", p.Describe())
					}
				}
			}
		}
		lp := randNMLPW(t, rng, 9, 64, 2, 4, dt)
		for _, other := range []string{"nm2:4", "dense", "csr"} {
			if _, err := Compile(lp, Options{Format: other}); err == nil || !strings.Contains(err.Error(), "cannot apply") {
				t.Fatalf("%s: Format %s: %v", format, other, err)
			}
		}
		// A family of another dtype, of float32 or of another pattern is refused, naming why.
		for _, f := range asm.Families() {
			if !strings.HasPrefix(f.Format, "nm") || f.Format == format && (f.Keep == 0 || f.Keep == 2 && f.Group == 4) {
				continue
			}
			if !Host().CanRun(f, Host().BestISA()) {
				continue // refused for the CPU first (GODEBUG=cpu.avx512f=off)
			}
			_, err := Compile(lp, Options{Kernel: f.Name})
			if err == nil {
				t.Fatalf("%s: family %s (%s) accepted", format, f.Name, f.Format)
			}
			if f.Format != format && !strings.Contains(err.Error(), "takes "+f.Format) || f.Format == format && !strings.Contains(err.Error(), "not 2:4") {
				t.Fatalf("%s: family %s: %v", format, f.Name, err)
			}
		}
		// A float32 N:M W never runs a low-precision family.
		pf, err := Compile(lp.ToNM(), Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{1, 4, 40} {
			if _, got := pf.KernelFor(n); strings.HasPrefix(got, "nm_") {
				t.Fatalf("float32 W runs %s at N = %d", got, n)
			}
		}
	}
	// A GEMV forced on a pattern without aligned chunks is refused, naming why.
	lp37 := randNMLPW(t, rng, 5, 30, 3, 7, formats.BF16)
	if _, err := Compile(lp37, Options{Kernel: "nm_gemv_bf16_generic"}); err == nil || !strings.Contains(err.Error(), "aligned") {
		t.Fatalf("GEMV forced on 3:7: %v", err)
	}
	// Invalid W is refused before any kernel sees it.
	bad := &formats.NMLP{Rows: 2, Cols: 4, Keep: 2, Group: 4, Pos: []uint8{0, 4, 0, 1}, DType: formats.F16, Bits: make([]uint16, 4)}
	if _, err := Compile(bad, Options{}); err == nil {
		t.Fatal("an NMLP with position 4 in a group of 4 compiled")
	}
	var nilNM *formats.NMLP
	if _, err := Compile(nilNM, Options{}); err == nil {
		t.Fatal("a nil NMLP compiled")
	}
	if _, err := Candidates(nilNM, 1, Options{}); err == nil {
		t.Fatal("Candidates of a nil NMLP")
	}
}

// TestCandidatesNMLP: for an N:M W in low precision, the candidates are the families of
// its format that run here under the cap, take its pattern and cover the range around N
// (N = 1 for a pattern without aligned chunks: also the SpMM tiles of an ISA wider than
// any covering family), compileLP's choice first; each compiles, forced, to a plan that
// runs it over that range.
func TestCandidatesNMLP(t *testing.T) {
	rng := rand.New(rand.NewPCG(73, 74))
	for _, dt := range []formats.DType{formats.BF16, formats.I8} {
		format := asm.NMLPFormat(dt)
		for _, pat := range [][2]int{{2, 4}, {3, 7}} {
			lp := randNMLPW(t, rng, 20, 100, pat[0], pat[1], dt)
			for _, isa := range runnableISAs() {
				capISA := mustISA(t, isa)
				def, err := Compile(lp, Options{ISA: isa})
				if err != nil {
					t.Fatal(err)
				}
				for _, n := range []int{1, 2, 16, 40} {
					name := fmt.Sprintf("%s/%d:%d/%s/n%d", format, pat[0], pat[1], isa, n)
					lo, hi, err := RangeOf(lp, n, Options{ISA: isa})
					if err != nil || lo > n || hi < n {
						t.Fatalf("%s: RangeOf = %d…%d, %v", name, lo, hi, err)
					}
					cs, err := Candidates(lp, n, Options{ISA: isa})
					if err != nil || len(cs) == 0 {
						t.Fatalf("%s: %v, %v", name, cs, err)
					}
					if fam, f := def.KernelFor(n); cs[0].Kernel != fam || cs[0].Format != f {
						t.Fatalf("%s: first candidate %s@%s, Compile runs %s@%s", name, cs[0].Kernel, cs[0].Format, fam, f)
					}
					var want []string
					tilesAt1 := n == 1 && !asm.ChunkAligned(pat[0], pat[1])
					for _, f := range asm.Families() {
						takes := f.Keep == 0 || f.Keep == pat[0] && f.Group == pat[1]
						if f.MaxN == 1 && !asm.ChunkAligned(pat[0], pat[1]) {
							takes = false
						}
						covers := coversRange(f, nRange{lo, hi}) || tilesAt1 && f.Tile > 0 && f.ISA != asm.Generic
						if f.Format == format && Host().CanRun(f, capISA) && takes && covers {
							want = append(want, f.Name)
						}
					}
					var got []string
					for _, c := range cs {
						got = append(got, c.Kernel)
						p, err := Compile(lp, Options{ISA: isa, Kernel: c.Kernel, Format: c.Format})
						if err != nil {
							t.Fatalf("%s: %s: %v", name, c.Kernel, err)
						}
						if fam, f := p.KernelFor(n); fam != c.Kernel || f != format {
							t.Fatalf("%s: forced %s runs %s@%s", name, c.Kernel, fam, f)
						}
						checkChannelMajor(t, name+"/"+c.Kernel, p, lp.ToNM(), rng, n, nil)
					}
					slices.Sort(want)
					slices.Sort(got)
					if !slices.Equal(got, want) {
						t.Fatalf("%s (range %d…%d): candidates %v, want %v", name, lo, hi, got, want)
					}
				}
			}
		}
	}
}

// TestCompileNMLPFollowsRecord: a tuning record entry for an NMLP layer (its key names the
// dtype, its winner another family of the dtype) replaces compileLP's choice over the
// entry's N range, and the plan still gives the widened W's result; a winner of another
// dtype is refused with a note.
func TestCompileNMLPFollowsRecord(t *testing.T) {
	rng := rand.New(rand.NewPCG(75, 76))
	for _, n := range []int{1, 16} {
		for _, dt := range []formats.DType{formats.I8, formats.BF16} {
			lp := randNMLPW(t, rng, 40, 96, 2, 4, dt)
			if got := formatDType(asm.NMLPFormat(dt)); got != dt.String() {
				t.Fatalf("formatDType(%s) = %q", asm.NMLPFormat(dt), got)
			}
			def, err := Compile(lp, Options{})
			if err != nil {
				t.Fatal(err)
			}
			other, ok := lpOther(t, lp, def, n)
			if !ok {
				t.Skipf("one family runs %s N:M at N = %d here: nothing to record", dt, n)
			}
			e := lpTimedEntry(t, lp, def, n, other)
			if e.Key.DType != dt.String() {
				t.Fatalf("key %+v", e.Key)
			}
			rec := NewRecord()
			rec.Add(e)
			p, err := Compile(lp, Options{Record: rec})
			if err != nil {
				t.Fatal(err)
			}
			if fam, f := p.KernelFor(n); fam != other.Kernel || f != other.Format {
				t.Fatalf("%s N = %d: runs %s@%s, not the record's %s\n%s", dt, n, fam, f, other.Kernel, p.Describe())
			}
			checkChannelMajor(t, "record/nm/"+dt.String(), p, lp.ToNM(), rng, n, nil)

			e2 := e
			e2.Winner.Kernel = strings.Replace(e2.Winner.Kernel, dt.String(), "f16", 1)
			rec2 := NewRecord()
			rec2.Add(e2)
			p2, err := Compile(lp, Options{Record: rec2})
			if err != nil {
				t.Fatal(err)
			}
			if fam, _ := p2.KernelFor(n); fam != must(def.KernelFor(n)) || !strings.Contains(p2.Describe(), "note: tuning record") {
				t.Fatalf("%s: a winner of another dtype ran (%s)\n%s", dt, fam, p2.Describe())
			}
		}
	}
}
