package asm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/sparsegen/sparsegen/formats"
)

// nmGemvKs are the K of a keep:group W whose N = 1 chunks fill exactly one K block of
// nmGemvKB columns, one block and a chunk, and two blocks and a partial third (a partial
// chunk and group at the end).
func nmGemvKs(keep, group int) []int {
	win := nmChunkSlots / keep * group
	cb := max(1, nmGemvKB/win) * win
	return []int{cb, cb + 1, 2*cb + win/2 + 3}
}

// TestNMGemvKBlocks: every N:M GEMV family (float32 and each low-precision dtype, every ISA
// this CPU runs, pure Go) over W whose chunks span one, two and three K blocks (nmGemvKs),
// M not a multiple of the unit, against the float64 oracle (float32) or bitwise against its
// float32 twin on W widened (low precision), with guard pages after and before X and Y and
// every epilogue; and a float32 kernel's result is the same bit for bit whatever the K
// block (the lane sums continue across blocks: 64-column blocks, 2-chunk blocks, one block).
func TestNMGemvKBlocks(t *testing.T) {
	r := rand.New(rand.NewPCG(51, 52))
	cases := 0
	for _, f := range Families() {
		dt, err := formats.ParseDType(f.DType)
		if err != nil || f.MaxN != 1 || f.Bitmap || f.Features&^hostFeatures() != 0 {
			continue
		}
		if f.Format != "nm" && (dt == 0 || f.Format != NMLPFormat(dt)) {
			continue
		}
		for _, p := range nmLPTestPatterns {
			keep, group := p[0], p[1]
			if !ChunkAligned(keep, group) || f.Keep != 0 && (f.Keep != keep || f.Group != group) {
				continue
			}
			for _, m := range []int{1, 6} {
				for _, k := range nmGemvKs(keep, group) {
					w := randNM(r, m, k, keep, group)
					name := fmt.Sprintf("%s %d:%d %d×%d", f.Name, keep, group, m, k)
					if f.Format == "nm" {
						kern := packFamily(t, f, w)
						if kern == nil {
							t.Fatalf("%s: refused", name)
						}
						for gi, epi := range structEpilogues(r, m) {
							runStruct(t, kern, r, structCase{w: w, n: 1, ldx: 1 + gi%2, ldy: 1 + gi%3, epi: epi, guard: 1 + gi%2, u1: -1}, false)
							cases++
						}
						nmKBInvariant(t, name, kern.(*nmKernel), w, r)
						continue
					}
					lp, err := formats.NMLPFromNM(w, dt)
					if err != nil {
						t.Fatal(err)
					}
					kern, twin := packFamily(t, f, lp), packFamily(t, nmFloatTwin(t, f), lp.ToNM())
					if kern == nil || twin == nil {
						t.Fatalf("%s: refused", name)
					}
					for gi, epi := range structEpilogues(r, m) {
						nmLPPair(t, name, kern, twin, r, 1, 1+gi%2, 1+gi%3, epi)
						cases++
					}
				}
			}
		}
	}
	if cases == 0 {
		t.Fatal("no N:M GEMV family ran")
	}
	t.Logf("%d cases", cases)
}

// nmKBInvariant repacks kern's compact chunks (float32) in K blocks of 64 columns, of two
// chunks and of one block, and fails unless Y is the same bit for bit each time.
func nmKBInvariant(t *testing.T, name string, kern *nmKernel, w *formats.NM, r *rand.Rand) {
	t.Helper()
	m, k := w.Shape()
	x := make([]float32, k)
	randVec(r, x)
	want := make([]float32, m)
	if err := kern.Run(0, kern.Units(), x, 1, want, 1, 1, nil); err != nil {
		t.Fatal(err)
	}
	l := kern.l
	blocks := func() int { return (l.Chunks + l.CB - 1) / l.CB }
	for _, kb := range []int{64, 2 * nmChunkSlots / w.Keep * w.Group, math.MaxInt32} {
		l.packBits(w, kb)
		got := make([]float32, m)
		if err := kern.Run(0, kern.Units(), x, 1, got, 1, 1, nil); err != nil {
			t.Fatal(err)
		}
		if !slices.EqualFunc(got, want, func(a, b float32) bool { return math.Float32bits(a) == math.Float32bits(b) || a != a && b != b }) {
			t.Fatalf("%s: K blocks of %d columns (%d blocks of %d chunks) give %v, blocks of %d give %v", name, kb, blocks(), l.CB, got, nmGemvKB, want)
		}
	}
	l.packBits(w, nmGemvKB)
}
