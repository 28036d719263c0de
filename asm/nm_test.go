package asm

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

var nmTestPatterns = [][2]int{{2, 4}, {1, 4}, {2, 8}, {4, 8}, {1, 8}, {1, 2}, {3, 4}, {3, 8}, {5, 16}, {4, 16}, {1, 1}}

// forNM runs fn for every N:M family this CPU has and every test pattern it takes.
func forNM(t *testing.T, fn func(t *testing.T, f Family, keep, group int, r *rand.Rand)) {
	for _, f := range structFamilies(t, "nm") {
		for _, p := range nmTestPatterns {
			probe := packFamily(t, f, randNM(rand.New(rand.NewPCG(0, 0)), 2, p[1], p[0], p[1]))
			if probe == nil {
				continue
			}
			t.Run(fmt.Sprintf("%s/%d:%d", f.Name, p[0], p[1]), func(t *testing.T) {
				fn(t, f, p[0], p[1], rand.New(rand.NewPCG(uint64(p[0]), uint64(p[1]))))
			})
		}
	}
}

func nmNs(f Family, tile int) []int {
	if f.MaxN == 1 {
		return []int{1}
	}
	return []int{1, 2, tile - 1, tile, tile + 1, 2*tile + 1}
}

func TestNMShapes(t *testing.T) {
	forNM(t, func(t *testing.T, f Family, keep, group int, r *rand.Rand) {
		for _, m := range []int{1, 2, 3, 7} {
			for _, k := range []int{1, group - 1, group, group + 1, 5*group + 3, 16 * group / keep, 16*group/keep + 1, 70, 389} {
				if k < 1 {
					continue
				}
				w := randNM(r, m, k, keep, group)
				kern := packFamily(t, f, w)
				if kern == nil {
					t.Fatalf("%s refused %d:%d", f.Name, keep, group)
				}
				for _, n := range nmNs(f, kernelTile(kern)) {
					if n < 1 {
						continue
					}
					runStruct(t, kern, r, structCase{w: w, n: n, ldx: n + r.IntN(3), ldy: n + r.IntN(3), u1: -1}, exactNM(kern))
				}
			}
		}
	})
}

// exactNM: the pure-Go SpMM kernel follows ref.NM's order exactly.
func exactNM(k Kernel) bool { return k.ISA() == Generic && !k.(*nmKernel).gemv }

func TestNMAllN(t *testing.T) {
	forNM(t, func(t *testing.T, f Family, keep, group int, r *rand.Rand) {
		m, k := 5, 9*group+group/2+1
		w := randNM(r, m, k, keep, group)
		kern := packFamily(t, f, w)
		maxN := 2*kernelTile(kern) + 1
		if f.MaxN == 1 {
			maxN = 1
		}
		for n := 1; n <= maxN; n++ {
			runStruct(t, kern, r, structCase{w: w, n: n, ldx: n + 3, ldy: n + 2, u1: -1}, exactNM(kern))
		}
	})
}

func TestNMEpilogues(t *testing.T) {
	forNM(t, func(t *testing.T, f Family, keep, group int, r *rand.Rand) {
		m, k := 5, 7*group+1
		w := randNM(r, m, k, keep, group)
		kern := packFamily(t, f, w)
		for _, epi := range structEpilogues(r, m) {
			ns := nmNs(f, kernelTile(kern))
			for _, n := range ns[:min(2, len(ns))] {
				runStruct(t, kern, r, structCase{w: w, n: n, ldx: n, ldy: n + 1, epi: epi, u1: -1}, exactNM(kern))
			}
		}
	})
}

func TestNMGuard(t *testing.T) {
	forNM(t, func(t *testing.T, f Family, keep, group int, r *rand.Rand) {
		m, k := 3, 33*group/keep+1
		w := randNM(r, m, k, keep, group)
		kern := packFamily(t, f, w)
		for _, guard := range []int{1, 2} {
			for _, n := range nmNs(f, kernelTile(kern)) {
				if n < 1 {
					continue
				}
				runStruct(t, kern, r, structCase{w: w, n: n, ldx: n, ldy: n, guard: guard, u1: -1}, exactNM(kern))
			}
		}
	})
}

func TestNMUnits(t *testing.T) {
	forNM(t, func(t *testing.T, f Family, keep, group int, r *rand.Rand) {
		m, k := 9, 6*group+1
		w := randNM(r, m, k, keep, group)
		kern := packFamily(t, f, w)
		u := kern.Units()
		if c := kern.UnitCost(); len(c) != u+1 || c[0] != 0 || c[u] < int64(u) {
			t.Fatalf("UnitCost %v for %d units", c, u)
		}
		n := 7
		if f.MaxN == 1 {
			n = 1
		}
		for _, rg := range [][2]int{{0, 1}, {1, u}, {u - 1, u}, {2, 2}} {
			runStruct(t, kern, r, structCase{w: w, n: n, ldx: n + 1, ldy: n, u0: rg[0], u1: rg[1]}, exactNM(kern))
		}
		if f.MaxN == 1 {
			if err := kern.Run(0, u, make([]float32, k*2), 2, make([]float32, m*2), 2, 2, nil); err == nil {
				t.Fatal("N = 2 accepted by an N = 1 kernel")
			}
		}
	})
}
