package asm

import (
	"math/rand/v2"
	"testing"
)

var bsrTestBlocks = [][2]int{{1, 1}, {2, 1}, {4, 1}, {8, 1}, {4, 4}, {1, 4}, {3, 2}, {5, 7}, {16, 1}}

// forBSR runs fn for every BSR family this CPU has and every test block it takes.
func forBSR(t *testing.T, fn func(t *testing.T, f Family, br, bc int, r *rand.Rand)) {
	for _, f := range structFamilies(t, "bsr") {
		for _, b := range bsrTestBlocks {
			probe := packFamily(t, f, randBSR(rand.New(rand.NewPCG(0, 0)), b[0], b[1], b[0], b[1], 1))
			if probe == nil {
				continue
			}
			t.Run(f.Name+"/"+probe.Name(), func(t *testing.T) {
				fn(t, f, b[0], b[1], rand.New(rand.NewPCG(uint64(b[0]), uint64(b[1]))))
			})
		}
	}
}

func TestBSRShapes(t *testing.T) {
	forBSR(t, func(t *testing.T, f Family, br, bc int, r *rand.Rand) {
		for _, m := range []int{1, br - 1, br, br + 1, 3*br + 2} {
			for _, k := range []int{1, bc - 1, bc + 1, 3*bc + 2, 37} {
				if m < 1 || k < 1 {
					continue
				}
				for _, dens := range []float64{0, 0.4, 1} {
					w := randBSR(r, m, k, br, bc, dens)
					kern := packFamily(t, f, w)
					if kern == nil {
						t.Fatalf("%s refused a %d×%d BSR", f.Name, br, bc)
					}
					tile := kernelTile(kern)
					// Past the full tiles, every count of vectors left (a quarter, half,
					// three quarters of a tile: 2, 3, 4 vectors when U = 4).
					for _, n := range []int{1, 3, tile/4 + 1, tile/2 + 1, 3*tile/4 + 1, tile - 1, tile, tile + 1, tile + tile/2 + 3, 2*tile + 1} {
						if n < 1 {
							continue
						}
						runStruct(t, kern, r, structCase{w: w, n: n, ldx: n + r.IntN(3), ldy: n + r.IntN(3), u1: -1}, f.ISA == Generic)
					}
				}
			}
		}
	})
}

// TestBSRAllN runs N = 1…2·tile+1 with ldx, ldy > N, a ragged last block row and column.
func TestBSRAllN(t *testing.T) {
	forBSR(t, func(t *testing.T, f Family, br, bc int, r *rand.Rand) {
		m, k := 3*br+1, 5*bc+bc/2+1
		w := randBSR(r, m, k, br, bc, 0.6)
		kern := packFamily(t, f, w)
		tile := kernelTile(kern)
		for n := 1; n <= 2*tile+1; n++ {
			runStruct(t, kern, r, structCase{w: w, n: n, ldx: n + 5, ldy: n + 2, u1: -1}, f.ISA == Generic)
		}
	})
}

func TestBSREpilogues(t *testing.T) {
	forBSR(t, func(t *testing.T, f Family, br, bc int, r *rand.Rand) {
		m, k := 2*br+1, 4*bc+1
		w := randBSR(r, m, k, br, bc, 0.7)
		kern := packFamily(t, f, w)
		tile := kernelTile(kern)
		for _, epi := range structEpilogues(r, m) {
			for _, n := range []int{1, tile + 3} {
				runStruct(t, kern, r, structCase{w: w, n: n, ldx: n, ldy: n + 1, epi: epi, u1: -1}, f.ISA == Generic)
			}
		}
	})
}

// TestBSRGuard places X and Y against an unmapped page, after and then before.
func TestBSRGuard(t *testing.T) {
	forBSR(t, func(t *testing.T, f Family, br, bc int, r *rand.Rand) {
		m, k := 2*br+1, 3*bc+1
		w := randBSR(r, m, k, br, bc, 0.8)
		kern := packFamily(t, f, w)
		tile := kernelTile(kern)
		for _, guard := range []int{1, 2} {
			for _, n := range []int{1, 2, tile - 1, tile + 1, 2*tile + 1} {
				if n < 1 {
					continue
				}
				runStruct(t, kern, r, structCase{w: w, n: n, ldx: n, ldy: n, guard: guard, u1: -1}, f.ISA == Generic)
			}
		}
	})
}

// TestBSRUnits runs unit sub-ranges: rows outside them stay untouched.
func TestBSRUnits(t *testing.T) {
	forBSR(t, func(t *testing.T, f Family, br, bc int, r *rand.Rand) {
		m, k := 4*br+1, 3*bc+2
		w := randBSR(r, m, k, br, bc, 0.5)
		kern := packFamily(t, f, w)
		u := kern.Units()
		if c := kern.UnitCost(); len(c) != u+1 || c[0] != 0 || c[u] < int64(u) {
			t.Fatalf("UnitCost %v for %d units", c, u)
		}
		for _, rg := range [][2]int{{0, 1}, {1, u}, {u - 1, u}, {2, 2}} {
			runStruct(t, kern, r, structCase{w: w, n: 7, ldx: 9, ldy: 7, u0: rg[0], u1: rg[1]}, f.ISA == Generic)
		}
		if err := kern.Run(0, u+1, make([]float32, k*7), 7, make([]float32, m*7), 7, 7, nil); err == nil {
			t.Fatal("unit range past Units accepted")
		}
		if err := kern.Run(0, u, make([]float32, k*7-1), 7, make([]float32, m*7), 7, 7, nil); err == nil {
			t.Fatal("short X accepted")
		}
	})
}
