package dispatch

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/sparsegen/sparsegen/formats"
	"github.com/sparsegen/sparsegen/ref"
)

// TestHugeStrides: strides and counts whose spans overflow an int are refused (they used to
// wrap to a small span that passed the length check, then write outside Y or fault in a
// kernel), and nothing outside Y changes.
func TestHugeStrides(t *testing.T) {
	d := &formats.Dense{Rows: 2, Cols: 2, Stride: 2, Data: []float32{1, 2, 3, 4}}
	p, err := Compile(d, Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	buf := []float32{-1, -1, -1, -1, 0, 0, -1, -1}
	err = p.Mul(buf[4:6], math.MaxInt, []float32{1, 1}, 1, 1)
	if !errors.Is(err, ref.ErrShape) {
		t.Errorf("Mul with ldy = MaxInt: %v, want a shape error", err)
	}
	for i, v := range buf {
		if (i < 4 || i >= 6) && v != -1 {
			t.Errorf("buf[%d] = %v outside Y was written", i, v)
		}
	}

	// 3×1 (the kernel that faulted) and 3×2 (where ldx matters).
	for _, d3 := range []*formats.Dense{
		{Rows: 3, Cols: 1, Stride: 1, Data: []float32{1, 2, 3}},
		{Rows: 3, Cols: 2, Stride: 2, Data: []float32{1, 2, 3, 4, 5, 6}},
	} {
		for _, isa := range runnableISAs() {
			for _, threads := range []int{1, 2} {
				p3, err := Compile(d3, Options{Threads: threads, ISA: isa})
				if err != nil {
					t.Fatal(err)
				}
				x, y := []float32{1, 2, 3, 4}, make([]float32, 6)
				// 2⁶² and 2⁶²+2²⁰ on 64-bit builds, 2³⁰ and 2³⁰+2²⁰ on 32-bit ones.
				const half = math.MaxInt/2 + 1
				calls := map[string]func() error{
					"Mul ldy 2⁶²+2²⁰":         func() error { return p3.Mul(y, half+1<<20, x, 1, 1) },
					"Mul ldy MaxInt":          func() error { return p3.Mul(y, math.MaxInt, x, 1, 1) },
					"MulTokens ldy 2⁶²":       func() error { return p3.MulTokens(y, half, x, 2, 2) },
					"MulBatch strideY MaxInt": func() error { return p3.MulBatch(y, 1, math.MaxInt, x, 1, 0, 1, 2) },
					"MulBatch strideX 2⁶²":    func() error { return p3.MulBatch(y, 1, 3, x, 1, half, 1, 3) },
					"MulBatch batch MaxInt":   func() error { return p3.MulBatch(y, 1, 3, x, 1, 0, 1, math.MaxInt) },
					"MulBatch ldy 2⁶² batch":  func() error { return p3.MulBatch(y, half, 1, x, 1, 0, 1, 2) },
				}
				if d3.Cols > 1 {
					calls["Mul ldx MaxInt"] = func() error { return p3.Mul(y, 1, x, math.MaxInt, 1) }
					calls["Mul ldx 2⁶³−2"] = func() error { return p3.Mul(y, 1, x, math.MaxInt-1, 1) }
					calls["MulTokens ldx MaxInt"] = func() error { return p3.MulTokens(y, 3, x, math.MaxInt, 2) }
				}
				for name, call := range calls {
					clear(y)
					err := call()
					if !errors.Is(err, ref.ErrShape) {
						t.Errorf("isa %q threads %d %s: %v, want a shape error", isa, threads, name, err)
						continue
					}
					if strings.Contains(err.Error(), "%!") {
						t.Errorf("%s: malformed message %q", name, err)
					}
					for i, v := range y {
						if v != 0 {
							t.Errorf("%s: Y[%d] = %v written before the error", name, i, v)
						}
					}
				}
			}
		}
	}
}

// TestNilPlan: every method of a nil *Plan returns an error or a zero value.
func TestNilPlan(t *testing.T) {
	var p *Plan
	y, x := make([]float32, 4), make([]float32, 4)
	for name, err := range map[string]error{
		"Mul":        p.Mul(y, 1, x, 1, 1),
		"MulTokens":  p.MulTokens(y, 1, x, 1, 1),
		"MulBatch":   p.MulBatch(y, 1, 1, x, 1, 1, 1, 1),
		"Prepare":    p.Prepare(),
		"SetThreads": p.SetThreads(1),
	} {
		if !errors.Is(err, ErrNilPlan) {
			t.Errorf("%s on a nil plan: %v, want ErrNilPlan", name, err)
		}
	}
	p.Close()
	if m, k := p.Shape(); m != 0 || k != 0 {
		t.Errorf("Shape = %d, %d", m, k)
	}
	if p.Threads() != 0 || p.PackedBytes() != 0 || p.Measure().Rows != 0 {
		t.Error("nil plan: nonzero Threads, PackedBytes or Measure")
	}
	if f, s := p.KernelFor(1); f != "" || s != "" {
		t.Errorf("KernelFor = %q, %q", f, s)
	}
	if !strings.Contains(p.Describe(), "nil") {
		t.Errorf("Describe = %q", p.Describe())
	}
}

// boundsPlans caches the fuzz target's plans (Compile is the slow part of an input).
var boundsPlans sync.Map // key → *Plan or error

func boundsPlan(m, k int, format string, threads int) (*Plan, formats.Matrix, error) {
	rng := rand.New(rand.NewPCG(uint64(m), uint64(k)))
	d := &formats.Dense{Rows: m, Cols: k, Stride: k, Data: make([]float32, m*k)}
	for i := range d.Data {
		if rng.IntN(3) > 0 {
			d.Data[i] = float32(rng.IntN(9)) - 4
		}
	}
	key := fmt.Sprint(m, k, format, threads)
	if v, ok := boundsPlans.Load(key); ok {
		if err, ok := v.(error); ok {
			return nil, d, err
		}
		return v.(*Plan), d, nil
	}
	p, err := Compile(d, Options{Threads: threads, Format: format, Warn: func(string) {}})
	if err != nil {
		boundsPlans.Store(key, err)
		return nil, d, err
	}
	boundsPlans.Store(key, p)
	return p, d, nil
}

// FuzzMulBounds drives Mul, MulTokens and MulBatch with arbitrary N, strides, batch
// counts, slice lengths and offsets, X and Y being windows of larger guarded buffers (a
// window's capacity runs on to the buffer's end, as a subslice's does): a call either fails
// or writes only inside Y, never X, and never panics; an accepted Mul matches the reference.
func FuzzMulBounds(f *testing.F) {
	const guard = -7777
	f.Add(uint8(0), uint8(0), int64(1), int64(1), int64(math.MaxInt64), int64(0), int64(0), int64(1), uint16(0), uint16(2), uint16(4), uint16(2))
	f.Add(uint8(1), uint8(0), int64(1), int64(1), int64(1<<62+1<<20), int64(0), int64(0), int64(1), uint16(0), uint16(2), uint16(0), uint16(3))
	f.Add(uint8(1), uint8(0), int64(1), int64(math.MaxInt64), int64(1), int64(0), int64(0), int64(1), uint16(0), uint16(2), uint16(0), uint16(3))
	f.Add(uint8(1), uint8(1), int64(2), int64(math.MaxInt64), int64(3), int64(0), int64(0), int64(1), uint16(0), uint16(2), uint16(0), uint16(6))
	f.Add(uint8(2), uint8(2), int64(3), int64(5), int64(4), int64(7), int64(1<<62), int64(3), uint16(1), uint16(200), uint16(3), uint16(300))
	f.Add(uint8(3), uint8(0), int64(40), int64(40), int64(41), int64(0), int64(0), int64(1), uint16(5), uint16(1400), uint16(9), uint16(800))
	f.Add(uint8(4), uint8(1), int64(33), int64(7), int64(5), int64(0), int64(0), int64(1), uint16(0), uint16(231), uint16(0), uint16(165))
	f.Fuzz(func(t *testing.T, shape, op uint8, n64, ldx64, ldy64, strideX64, strideY64, batch64 int64, xoff, xlen, yoff, ylen uint16) {
		shapes := [][2]int{{2, 2}, {3, 1}, {1, 1}, {5, 7}, {17, 33}, {40, 40}}
		sh := shapes[int(shape)%len(shapes)]
		format := []string{"", "dense", "csr", "bsr2x2"}[int(shape/8)%4]
		threads := 1 + int(shape/32)%2
		p, w, err := boundsPlan(sh[0], sh[1], format, threads)
		if err != nil {
			return // a format this W does not take
		}
		const size = 4096
		xbuf, ybuf := make([]float32, size), make([]float32, size)
		for i := range xbuf {
			xbuf[i] = float32(i%7) - 3
			ybuf[i] = guard
		}
		xo, yo := int(xoff)%size, int(yoff)%size
		xl, yl := int(xlen)%(size-xo+1), int(ylen)%(size-yo+1)
		x, y := xbuf[xo:xo+xl], ybuf[yo:yo+yl]
		for i := range y {
			y[i] = float32(i%5) - 2
		}
		y0 := append([]float32(nil), y...)
		n, ldx, ldy := int(n64), int(ldx64), int(ldy64)
		strideX, strideY, batch := int(strideX64), int(strideY64), int(batch64)
		switch op % 3 {
		case 0:
			err = p.Mul(y, ldy, x, ldx, n)
		case 1:
			err = p.MulTokens(y, ldy, x, ldx, n)
		default:
			err = p.MulBatch(y, ldy, strideY, x, ldx, strideX, n, batch)
		}
		for i, v := range xbuf {
			if v != float32(i%7)-3 {
				t.Fatalf("X buffer [%d] written (window [%d, %d))", i, xo, xo+xl)
			}
		}
		for i, v := range ybuf {
			if (i < yo || i >= yo+yl) && v != guard {
				t.Fatalf("op %d: buffer [%d] outside Y [%d, %d) written: %v (n %d, ldx %d, ldy %d, err %v)", op%3, i, yo, yo+yl, v, n, ldx, ldy, err)
			}
		}
		if err != nil {
			if !errors.Is(err, ref.ErrShape) {
				t.Fatalf("error %v does not wrap ref.ErrShape", err)
			}
			for i := range y {
				if y[i] != y0[i] {
					t.Fatalf("Y[%d] written before the error %v", i, err)
				}
			}
			return
		}
		if op%3 == 0 && n > 0 {
			want := append([]float32(nil), y0...)
			if err := ref.Matrix(w, x, ldx, want, ldy, n, nil); err != nil {
				t.Fatalf("Mul accepted what the reference refuses: %v", err)
			}
			m := sh[0]
			for i := 0; i < m; i++ {
				for j := 0; j < n; j++ {
					g, e := y[i*ldy+j], want[i*ldy+j]
					if math.Abs(float64(g-e)) > 1e-3*(1+math.Abs(float64(e))) {
						t.Fatalf("Y[%d, %d] = %v, want %v", i, j, g, e)
					}
				}
			}
		}
	})
}
