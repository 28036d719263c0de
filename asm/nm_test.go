package asm

import (
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/sparsegen/sparsegen/ref"
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

// TestNMFMAOrder: each Y element of a generated SpMM kernel is, per K block of the plan,
// one FMA chain from zero over the row's slots in storage order, the block's sum then
// taking the bias (last block) and Y's partial sum (later blocks, or Accumulate). The
// kernels load a group's positions and weights in several ways (one at a time, or grouped
// on amd64, gen/kernels/nm.go); none may change a bit of the result.
func TestNMFMAOrder(t *testing.T) {
	for _, f := range structFamilies(t, "nm") {
		if f.ISA == Generic || f.MaxN == 1 {
			continue
		}
		for _, p := range [][2]int{{2, 4}, {1, 4}, {2, 8}, {4, 8}, {1, 8}, {3, 8}, {5, 16}} {
			r := rand.New(rand.NewPCG(uint64(p[0]), uint64(p[1])))
			m, k := 6, 600+p[1]/2+1 // several K blocks for every tile, a ragged last group
			w := randNM(r, m, k, p[0], p[1])
			kern := packFamily(t, f, w)
			if kern == nil {
				continue
			}
			l := kern.(*nmKernel).l
			tile := kernelTile(kern)
			for _, n := range []int{2, tile - 1, tile + 5} {
				x := make([]float32, k*n)
				for i := range x {
					x[i] = float32(r.NormFloat64())
				}
				bias := make([]float32, m)
				for i := range bias {
					bias[i] = float32(r.NormFloat64())
				}
				y := make([]float32, m*n)
				for i := range y {
					y[i] = float32(r.NormFloat64())
				}
				want := slices.Clone(y)
				epi := &ref.Epilogue{Bias: bias, Accumulate: n%2 == 1}
				if err := kern.Run(0, kern.Units(), x, n, y, n, n, epi); err != nil {
					t.Fatal(err)
				}
				nmFMAModel(l, x, n, want, n, n, epi)
				for i := range y {
					if math.Float32bits(y[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%s %d:%d n=%d: Y[%d,%d] = %v, want bitwise %v", f.Name, p[0], p[1], n, i/n, i%n, y[i], want[i])
					}
				}
			}
		}
	}
}

// nmFMAModel computes Y as TestNMFMAOrder says the generated SpMM kernels do.
func nmFMAModel(l *NMLayout, x []float32, ldx int, y []float32, ldy, n int, epi *ref.Epilogue) {
	gpb := l.KC / l.Group
	last := len(l.BlockSlots) - 1
	for i := 0; i < l.M; i++ {
		u, r := i/l.UH, i%l.UH
		for j := 0; j < n; j++ {
			for b, bs := range l.BlockSlots {
				var acc float32
				for s := 0; s < bs; s++ {
					d := l.at(b, u, s, r)
					kk := (b*gpb+s/l.Keep)*l.Group + int(l.Pos[d])
					acc = fma32(l.Val[d], x[kk*ldx+j], acc)
				}
				if b == last && epi.Bias != nil {
					acc += epi.Bias[i]
				}
				if b > 0 || epi.Accumulate {
					acc += y[i*ldy+j]
				}
				y[i*ldy+j] = acc
			}
		}
	}
}

// fma32 is a·b + c rounded once to float32. math.FMA rounds the exact value to float64
// first, which rounds to the same float32 unless that float64 lies halfway between two
// float32s or below float32's normal range; those are redone exactly.
func fma32(a, b, c float32) float32 {
	v := math.FMA(float64(a), float64(b), float64(c))
	if math.Float64bits(v)&(1<<29-1) != 1<<28 && (v == 0 || math.Abs(v) >= 0x1p-126) {
		return float32(v)
	}
	var z, o big.Float
	z.SetPrec(1200).SetFloat64(float64(a))
	o.SetPrec(1200).SetFloat64(float64(b))
	z.Mul(&z, &o)
	o.SetFloat64(float64(c))
	z.Add(&z, &o)
	f, _ := z.Float32()
	return f
}

// TestFMA32: a case where rounding through float64 is wrong (a·b + c = 1 + 2⁻²³ + 2⁻²⁴ −
// 2⁻⁵⁴ rounds to float64's 1 + 2⁻²³ + 2⁻²⁴, halfway, then to even 1 + 2⁻²²), and plain cases.
func TestFMA32(t *testing.T) {
	a, b, c := float32(0x1p-24*(1+0x1p-15)), float32(1-0x1p-15), float32(1+0x1p-23)
	if v := float32(math.FMA(float64(a), float64(b), float64(c))); v != 1+0x1p-22 {
		t.Fatalf("through float64: %x, the case no longer shows double rounding", math.Float32bits(v))
	}
	if v := fma32(a, b, c); v != 1+0x1p-23 {
		t.Fatalf("fma32 = %x, want %x", math.Float32bits(v), math.Float32bits(1+0x1p-23))
	}
	if v := fma32(3, 5, 0.5); v != 15.5 {
		t.Fatalf("fma32(3, 5, 0.5) = %v", v)
	}
	if v := fma32(0x1p-100, 0x1p-40, 0); v != 0x1p-140 {
		t.Fatalf("fma32 of a subnormal product = %v", v)
	}
}
