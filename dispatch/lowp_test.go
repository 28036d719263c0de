package dispatch

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/sparsegen/sparsegen/asm"
	"github.com/sparsegen/sparsegen/formats"
	"github.com/sparsegen/sparsegen/ref"
)

// lpDType is the dtype of an asm.LPFormat, asm.CSRLPFormat or asm.BSRLPFormat format
// string ("dense_bf16", "csr_i8", "bsr_f16" …), csr telling a CSR one.
func lpDType(format string) (t formats.DType, csr, ok bool) {
	t, err := formats.ParseDType(formatDType(format))
	return t, strings.HasPrefix(format, "csr_"), err == nil
}

// lpMatrix converts d to dtype dt, dense (DenseLP) or CSR (CSRLP).
func lpMatrix(t *testing.T, d *formats.Dense, dt formats.DType, csr bool) formats.Matrix {
	t.Helper()
	if !csr {
		lp, err := formats.DenseLPFromDense(d, dt)
		if err != nil {
			t.Fatal(err)
		}
		return lp
	}
	c, err := formats.CSRFromDense(d)
	if err != nil {
		t.Fatal(err)
	}
	lp, err := formats.CSRLPFromCSR(c, dt)
	if err != nil {
		t.Fatal(err)
	}
	return lp
}

// TestCompileLP: a DenseLP W compiles to its dtype's GEMV on the widest ISA under the cap
// (every ISA this CPU runs, generic included), for every N, and gives ref.Dense's result on
// W widened first, channel-major, token-major and on 1 and 3 threads; W is never converted.
func TestCompileLP(t *testing.T) {
	rng := rand.New(rand.NewPCG(51, 52))
	for _, c := range []struct {
		dt      formats.DType
		csr     bool
		density float64
	}{
		{formats.BF16, false, 1}, {formats.F16, false, 1}, {formats.I8, false, 1},
		{formats.BF16, true, 0.15}, {formats.F16, true, 0.15}, {formats.I8, true, 0.15},
	} {
		dt := c.dt
		d := randDense(rng, 45, 67, c.density)
		lp := lpMatrix(t, d, dt, c.csr)
		wd := lp.ToDense()
		format := asm.LPFormat(dt)
		if c.csr {
			format = asm.CSRLPFormat(dt)
		}
		for _, isa := range runnableISAs() {
			for _, threads := range []int{1, 3} {
				p, err := Compile(lp, Options{ISA: isa, Threads: threads, Act: ref.ActReLU, Bias: randX(rng, 45)})
				if err != nil {
					t.Fatalf("%v %s: %v", dt, isa, err)
				}
				// Describe's statistics are W's, read without widening (they were zeros).
				if st, err := formats.Measure(wd); err != nil || !strings.Contains(p.Describe(), fmt.Sprintf("nnz/row min %d mean %.1f max %d", st.RowMin, st.RowMean, st.RowMax)) {
					t.Fatalf("%v %s: %v, Describe: %s", dt, isa, err, p.Describe())
				}
				for _, n := range []int{1, 2, 3, 4, 5, 9, 16, 40} {
					fam, got := p.KernelFor(n)
					f, ok := asm.Lookup(fam)
					if !ok || got != format || f.Format != format {
						t.Fatalf("%v %s: N = %d runs %s on %s", dt, isa, n, fam, got)
					}
					if want := widestLP(format, mustISA(t, isa)); f.ISA != want {
						t.Fatalf("%v %s: runs %s (%s), the widest %s family here is %s", dt, isa, fam, f.ISA, format, want)
					}
					// CSR: the SpMV at N = 1, a tile above where the ISA has them.
					if c.csr && f.ISA != asm.Generic && (n == 1) != (f.Tile == 0) {
						t.Fatalf("%v %s: N = %d runs %s (tile %d)", dt, isa, n, fam, f.Tile)
					}
					// CSR N ≥ 2 on an ISA with tiles: the narrowest tile of the ISA that holds
					// N in one tile, where one does (a wider one would run half empty).
					if c.csr && f.Tile > 0 {
						if want := narrowestTileHolding(format, f.ISA, n); want != 0 && f.Tile != want {
							t.Fatalf("%v %s: N = %d runs %s (tile %d), the narrowest tile holding N is %d", dt, isa, n, fam, f.Tile, want)
						}
					}
					name := fmt.Sprintf("%s/%s/t%d/n%d", format, isa, threads, n)
					epi := &ref.Epilogue{Bias: p.epi.Bias, Act: ref.ActReLU}
					checkChannelMajor(t, name, p, wd, rng, n, epi)
					checkTokenMajor(t, name, p, wd, rng, n, epi)
				}
				if !strings.Contains(p.Describe(), format) {
					t.Fatalf("Describe does not name the format:\n%s", p.Describe())
				}
			}
		}
		// Never converted: a forced other format is an error, and so is a float32 family.
		for _, other := range []string{"dense", "csr"} {
			if _, err := Compile(lp, Options{Format: other}); err == nil {
				t.Fatalf("%s: Format %s accepted", format, other)
			}
		}
		for _, other := range []string{"gemv_dense_generic", "spmv_csr_i16_avx2", "ref_csr_generic", "gemv_dense_" + dt.String() + "_generic", "spmv_csr_i32_" + dt.String() + "_generic"} {
			if f, ok := asm.Lookup(other); ok && f.Format == format {
				continue
			}
			if _, err := Compile(lp, Options{Kernel: other}); err == nil {
				t.Fatalf("%s: family %s accepted", format, other)
			}
		}
		// A float32 W, dense or CSR, never runs a low-precision family.
		for _, wf := range []formats.Matrix{d, inFormat(t, d, "csr")} {
			pf, err := Compile(wf, Options{})
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range []int{1, 4, 16} {
				if _, got := pf.KernelFor(n); func() bool { _, _, lp := lpDType(got); return lp }() {
					t.Fatalf("float32 W runs %s at N = %d", got, n)
				}
			}
		}
	}
	// Invalid W is refused before any kernel sees it.
	bad := &formats.DenseLP{Rows: 3, Cols: 4, Stride: 4, DType: formats.I8, I8: make([]int8, 12), Scale: []float32{1}}
	if _, err := Compile(bad, Options{}); err == nil {
		t.Fatal("a DenseLP with too few scales compiled")
	}
	var nilLP *formats.DenseLP
	if _, err := Compile(nilLP, Options{}); err == nil {
		t.Fatal("a nil DenseLP compiled")
	}
	badC := &formats.CSRLP{Rows: 2, Cols: 4, RowPtr: []int64{0, 1, 2}, ColIdx: []int32{3, 4}, DType: formats.BF16, Bits: []uint16{1, 2}}
	if _, err := Compile(badC, Options{}); err == nil {
		t.Fatal("a CSRLP with column 4 of 4 compiled")
	}
	var nilC *formats.CSRLP
	if _, err := Compile(nilC, Options{}); err == nil {
		t.Fatal("a nil CSRLP compiled")
	}
}

// TestCompileCSRLPWideK: a CSRLP whose K the 16-bit indices cannot reach never runs a
// 16-bit SpMV (the pure-Go SpMV or a tile takes it; forced, they are refused) and gives
// ref's result on W widened first.
func TestCompileCSRLPWideK(t *testing.T) {
	rng := rand.New(rand.NewPCG(53, 54))
	const m, k = 4, 70000
	c := &formats.CSR{Rows: m, Cols: k, RowPtr: make([]int64, m+1)}
	for i := 0; i < m; i++ {
		for j := i; j < k; j += 997 + i {
			c.ColIdx = append(c.ColIdx, int32(j))
			c.Val = append(c.Val, float32(rng.NormFloat64()))
		}
		c.ColIdx = append(c.ColIdx, int32(k-1-i))
		c.Val = append(c.Val, 1)
		c.RowPtr[i+1] = int64(len(c.Val))
	}
	for _, dt := range []formats.DType{formats.BF16, formats.F16, formats.I8} {
		lp, err := formats.CSRLPFromCSR(c, dt)
		if err != nil {
			t.Fatal(err)
		}
		wd := lp.ToDense()
		for _, isa := range runnableISAs() {
			p, err := Compile(lp, Options{ISA: isa})
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range []int{1, 2, 17} {
				fam, _ := p.KernelFor(n)
				if f, _ := asm.Lookup(fam); f.IndexBits == 16 {
					t.Fatalf("%v %s: K = %d runs %s", dt, isa, k, fam)
				}
				checkChannelMajor(t, fam, p, wd, rng, n, nil)
			}
		}
		for _, f := range asm.Families() {
			if f.Format == asm.CSRLPFormat(dt) && f.IndexBits == 16 {
				if _, err := Compile(lp, Options{Kernel: f.Name}); err == nil {
					t.Fatalf("%s forced on K = %d", f.Name, k)
				}
			}
		}
	}
}

func mustISA(t *testing.T, s string) asm.ISA {
	t.Helper()
	if s == "" {
		return Host().BestISA()
	}
	i, err := asm.ParseISA(s)
	if err != nil {
		t.Fatal(err)
	}
	return i
}

// widestLP is the widest ISA of the families of format that run here under cap.
func widestLP(format string, cap asm.ISA) asm.ISA {
	best := asm.Generic
	for _, f := range asm.Families() {
		if f.Format == format && Host().CanRun(f, cap) && isaRank(f.ISA, Host().GOARCH) > isaRank(best, Host().GOARCH) {
			best = f.ISA
		}
	}
	return best
}

// narrowestTileHolding is the narrowest tile width ≥ n among the families of format and
// isa that run N = n, 0 if none holds n.
func narrowestTileHolding(format string, isa asm.ISA, n int) int {
	best := 0
	for _, f := range asm.Families() {
		if f.Format != format || f.ISA != isa || f.Tile < n || n < f.MinN || f.MaxN > 0 && n > f.MaxN {
			continue
		}
		if best == 0 || f.Tile < best {
			best = f.Tile
		}
	}
	return best
}

// TestCompileCSRLPBitmap: a bf16, fp16 or int8 CSRLP runs the bitmap SpMV of its dtype on
// the widest ISA at N = 1 where its density is above that ISA's crossover (bitmapPays), the
// gather SpMV below it, and never at N ≥ 2; the result is ref's on W widened.
func TestCompileCSRLPBitmap(t *testing.T) {
	rng := rand.New(rand.NewPCG(53, 54))
	for _, c := range []struct {
		dt      formats.DType
		density float64
	}{{formats.BF16, 0.5}, {formats.BF16, 0.3}, {formats.BF16, 0.04}, {formats.F16, 0.5}, {formats.F16, 0.3}, {formats.F16, 0.04},
		{formats.I8, 0.5}, {formats.I8, 0.3}, {formats.I8, 0.04}} {
		lp := lpMatrix(t, randDense(rng, 37, 300, c.density), c.dt, true)
		wd := lp.ToDense()
		for _, isa := range runnableISAs() {
			p, err := Compile(lp, Options{ISA: isa})
			if err != nil {
				t.Fatal(err)
			}
			fam, _ := p.KernelFor(1)
			f, _ := asm.Lookup(fam)
			var want, has bool // a bitmap family of this ISA runs W; one exists
			for _, g := range asm.Families() {
				if g.Bitmap && g.Format == asm.CSRLPFormat(c.dt) && g.ISA == f.ISA {
					r, _ := bitmapRatio(g, lp.(*formats.CSRLP).Stored(), 37, 300)
					want, has = r < 1, true
				}
			}
			if f.Bitmap != want || (f.Bitmap && f.Format != asm.CSRLPFormat(c.dt)) {
				t.Fatalf("%v at density %.2f, %s: N = 1 runs %s (bitmap %v, want %v)", c.dt, c.density, isa, fam, f.Bitmap, want)
			}
			if c.density >= 0.5 && has && !f.Bitmap { // every crossover is below 40%
				t.Fatalf("%v at density %.2f, %s: N = 1 runs %s, not the bitmap SpMV", c.dt, c.density, isa, fam)
			}
			if c.density < 0.1 && f.Bitmap {
				t.Fatalf("%v at density %.2f, %s: N = 1 runs the bitmap SpMV %s", c.dt, c.density, isa, fam)
			}
			if fam2, _ := p.KernelFor(2); strings.Contains(fam2, "bitmap") {
				t.Fatalf("N = 2 runs %s", fam2)
			}
			checkChannelMajor(t, fmt.Sprintf("%v/%.2f/%s", c.dt, c.density, isa), p, wd, rng, 1, &ref.Epilogue{})
		}
	}
}
