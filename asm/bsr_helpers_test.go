package asm

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/cpu"

	"github.com/sparsegen/sparsegen/formats"
	"github.com/sparsegen/sparsegen/ref"
)

// Shared test helpers of the BSR and N:M kernels.

func structHasFeatures(f Feature) bool {
	have := map[Feature]bool{
		FeatAVX2: cpu.X86.HasAVX2, FeatFMA: cpu.X86.HasFMA,
		FeatAVX512F: cpu.X86.HasAVX512F, FeatAVX512VL: cpu.X86.HasAVX512VL,
		FeatAVX512BW: cpu.X86.HasAVX512BW, FeatAVX512DQ: cpu.X86.HasAVX512DQ,
		FeatASIMD: cpu.ARM64.HasASIMD,
	}
	for b := Feature(1); b != 0 && b <= f; b <<= 1 {
		if f&b != 0 && !have[b] {
			return false
		}
	}
	return true
}

// structFamilies lists the packed (non-reference) families of a format this CPU runs.
func structFamilies(t *testing.T, format string) []Family {
	var out []Family
	for _, f := range Families() {
		if f.Format != format || f.Name == "ref_"+format+"_generic" {
			continue
		}
		if !structHasFeatures(f.Features) {
			t.Logf("%s: CPU lacks %v, not run", f.Name, f.Features)
			continue
		}
		out = append(out, f)
	}
	if len(out) == 0 {
		t.Fatalf("no %s families registered", format)
	}
	return out
}

// kernelTile is the N tile of the generated kernel a BSR or N:M kernel runs (16 when it
// has none: pure Go and the row-oriented kernels).
func kernelTile(k Kernel) int {
	t := 0
	switch k := k.(type) {
	case *bsrKernel:
		t = k.tile
	case *nmKernel:
		t = k.tile
	}
	if t == 0 {
		return 16
	}
	return t
}

// guarded returns a slice of n float32 whose end (after) or start (!after) touches an
// unmapped page, so a read or write past it faults.
func guarded(t *testing.T, n int, after bool) []float32 {
	t.Helper()
	pg := syscall.Getpagesize()
	bytes := n * 4
	pages := (bytes+pg-1)/pg + 1
	mem, err := syscall.Mmap(-1, 0, pages*pg, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Munmap(mem) })
	var start int
	if after {
		if err := syscall.Mprotect(mem[(pages-1)*pg:], syscall.PROT_NONE); err != nil {
			t.Fatal(err)
		}
		start = (pages-1)*pg - bytes
	} else {
		if err := syscall.Mprotect(mem[:pg], syscall.PROT_NONE); err != nil {
			t.Fatal(err)
		}
		start = pg
	}
	if n == 0 {
		return []float32{}
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&mem[start])), n)
}

func randVec(r *rand.Rand, dst []float32) {
	for i := range dst {
		dst[i] = float32(r.NormFloat64())
	}
}

func structEpilogues(r *rand.Rand, m int) []*ref.Epilogue {
	bias := make([]float32, m)
	randVec(r, bias)
	return []*ref.Epilogue{
		nil,
		{Bias: bias, Act: ref.ActReLU},
		{Bias: bias, Act: ref.ActClamp, Lo: -0.5, Hi: 0.75, Accumulate: true},
		{Accumulate: true},
		{Bias: bias, Act: ref.ActGELU},
		{Act: ref.ActSiLU, Accumulate: true},
	}
}

type structCase struct {
	w        formats.Matrix
	n        int
	ldx, ldy int
	epi      *ref.Epilogue
	guard    int // 0: plain slices; 1: guard page after X and Y; 2: before
	u0, u1   int // unit range (u1 < 0: all units)
}

// runStruct packs nothing: it runs kern on one case and checks the rows of the unit range
// against the float64 oracle within DESIGN §6's bound, every other value of Y unchanged,
// and, when exact, ref's float32 result bit for bit.
func runStruct(t *testing.T, kern Kernel, r *rand.Rand, c structCase, exact bool) {
	t.Helper()
	m, k := c.w.Shape()
	nx := 0
	if k > 0 && c.n > 0 {
		nx = (k-1)*c.ldx + c.n
	}
	ny := 0
	if m > 0 && c.n > 0 {
		ny = (m-1)*c.ldy + c.n
	}
	var x, y []float32
	if c.guard == 0 {
		x, y = make([]float32, nx), make([]float32, ny)
	} else {
		x, y = guarded(t, nx, c.guard == 1), guarded(t, ny, c.guard == 1)
	}
	randVec(r, x)
	randVec(r, y)
	y0 := append([]float32(nil), y...)
	u0, u1 := c.u0, c.u1
	if u1 < 0 {
		u1 = kern.Units()
	}
	what := fmt.Sprintf("%s M=%d K=%d N=%d ldx=%d ldy=%d units=[%d,%d) guard=%d epi=%+v", kern.Name(), m, k, c.n, c.ldx, c.ldy, u0, u1, c.guard, c.epi)
	if err := kern.Run(u0, u1, x, c.ldx, y, c.ldy, c.n, c.epi); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	rlo, rhi := 0, 0
	if u1 > u0 {
		rlo, _ = kern.UnitRows(u0)
		_, rhi = kern.UnitRows(u1 - 1)
	}
	var yr []float32
	if exact {
		yr = append([]float32(nil), y0...)
		if err := ref.Matrix(c.w, x, c.ldx, yr, c.ldy, c.n, c.epi); err != nil {
			t.Fatal(err)
		}
	}
	d := c.w.ToDense()
	const eps = 1.0 / (1 << 23)
	bad := 0
	for i := 0; i < m; i++ {
		for j := 0; j < c.ldy && i*c.ldy+j < ny; j++ {
			p := i*c.ldy + j
			got := y[p]
			if j >= c.n || i < rlo || i >= rhi {
				if math.Float32bits(got) != math.Float32bits(y0[p]) {
					t.Fatalf("%s: Y[%d,%d] outside the output changed: %v → %v", what, i, j, y0[p], got)
				}
				continue
			}
			if exact && math.Float32bits(got) != math.Float32bits(yr[p]) {
				if bad++; bad <= 5 {
					t.Errorf("%s: Y[%d,%d] = %v, ref %v (want bitwise equal)", what, i, j, got, yr[p])
				}
			}
			var s, mag float64
			for kk := 0; kk < k; kk++ {
				pr := float64(d.Data[i*d.Stride+kk]) * float64(x[kk*c.ldx+j])
				s += pr
				mag += math.Abs(pr)
			}
			if c.epi != nil && c.epi.Bias != nil {
				s += float64(c.epi.Bias[i])
				mag += math.Abs(float64(c.epi.Bias[i]))
			}
			if c.epi != nil && c.epi.Accumulate {
				s += float64(y0[p])
				mag += math.Abs(float64(y0[p]))
			}
			want := s
			tol := 2*float64(k+3)*eps*mag + 1e-30
			if c.epi != nil {
				want = ref.Activate64(c.epi.Act, s, c.epi.Lo, c.epi.Hi)
				if c.epi.Act == ref.ActGELU || c.epi.Act == ref.ActSiLU {
					tol = tol*1.2 + 4*eps*math.Abs(want)
				}
			}
			if diff := math.Abs(float64(got) - want); !(diff <= tol) {
				if bad++; bad <= 5 {
					t.Errorf("%s: Y[%d,%d] = %v, want %v (|err| %.3g > tol %.3g)", what, i, j, got, want, diff, tol)
				}
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%s: %d bad values", what, bad)
	}
}

// randBSR makes an M×K BSR with R×C blocks: each block kept with probability dens, kept
// blocks hold some stored zeros; block row 1 (when it exists) is left empty.
func randBSR(r *rand.Rand, m, k, br, bc int, dens float64) *formats.BSR {
	d := &formats.Dense{Rows: m, Cols: k, Stride: k, Data: make([]float32, m*k)}
	for i := 0; i*br < m; i++ {
		if i == 1 {
			continue
		}
		for j := 0; j*bc < k; j++ {
			if r.Float64() >= dens {
				continue
			}
			h, w := min(br, m-i*br), min(bc, k-j*bc)
			for a := 0; a < h; a++ {
				for b := 0; b < w; b++ {
					if r.IntN(5) != 0 {
						d.Data[(i*br+a)*k+j*bc+b] = float32(r.NormFloat64())
					}
				}
			}
			d.Data[(i*br)*k+j*bc] = 1 + float32(r.Float64()) // never an all-zero block
		}
	}
	b, err := formats.BSRFromDense(d, br, bc)
	if err != nil {
		panic(err)
	}
	return b
}

// randNM makes an M×K keep:group matrix; about a third of the groups keep fewer nonzeros
// than slots (stored zeros), and row 0 is all zero when M > 1.
func randNM(r *rand.Rand, m, k, keep, group int) *formats.NM {
	d := &formats.Dense{Rows: m, Cols: k, Stride: k, Data: make([]float32, m*k)}
	for i := 0; i < m; i++ {
		if i == 0 && m > 1 {
			continue
		}
		for g := 0; g*group < k; g++ {
			width := min(group, k-g*group)
			slots := min(keep, width)
			nz := slots
			if r.IntN(3) == 0 {
				nz = r.IntN(slots + 1)
			}
			for _, p := range r.Perm(width)[:nz] {
				d.Data[i*k+g*group+p] = float32(r.NormFloat64())
			}
		}
	}
	w, err := formats.NMFromDense(d, keep, group)
	if err != nil {
		panic(err)
	}
	return w
}

func packFamily(t *testing.T, f Family, w formats.Matrix) Kernel {
	t.Helper()
	kern, err := f.Pack(w)
	if errors.Is(err, ErrNotApplicable) {
		return nil
	}
	if err != nil {
		t.Fatalf("%s: %v", f.Name, err)
	}
	return kern
}
