package dispatch

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/sparsegen/sparsegen/asm"
	"github.com/sparsegen/sparsegen/formats"
	"github.com/sparsegen/sparsegen/ref"
)

// inFormat stores d in one of the canonical formats.
func inFormat(t testing.TB, d *formats.Dense, f string) formats.Matrix {
	t.Helper()
	var w formats.Matrix
	var err error
	switch f {
	case "dense":
		w = d
	case "csr":
		w, err = formats.CSRFromDense(d)
	case "bsr":
		w, err = formats.BSRFromDense(d, 4, 1)
	case "bsr2x3":
		w, err = formats.BSRFromDense(d, 2, 3)
	case "nm":
		w, err = formats.NMFromDense(d, 2, 4)
	default:
		t.Fatalf("unknown format %s", f)
	}
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func randX(rng *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	return x
}

// oracle computes Y with the reference kernel on w (channel-major).
func oracle(t testing.TB, w formats.Matrix, x []float32, ldx int, y0 []float32, ldy, n int, epi *ref.Epilogue) []float32 {
	t.Helper()
	y := append([]float32(nil), y0...)
	if err := ref.Matrix(w, x, ldx, y, ldy, n, epi); err != nil {
		t.Fatal(err)
	}
	return y
}

// closeTo checks |got − want| within the DESIGN §6 bound, using |W|·|X| per entry.
func closeTo(t testing.TB, what string, got, want []float32, w formats.Matrix, x []float32, ldx, ldy, n int) {
	t.Helper()
	d := w.ToDense()
	m, k := w.Shape()
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			g, e := got[i*ldy+j], want[i*ldy+j]
			if g == e || (isNaN(g) && isNaN(e)) {
				continue
			}
			var mag float64
			for c := 0; c < k; c++ {
				mag += math.Abs(float64(d.At(i, c)) * float64(x[c*ldx+j]))
			}
			tol := 2*float64(k+1)*float64(1.2e-7)*mag + 1e-6
			if math.Abs(float64(g-e)) > tol {
				t.Fatalf("%s: Y[%d,%d] = %v, reference %v (tol %g)", what, i, j, g, e, tol)
			}
		}
	}
	// Untouched padding: columns n…ldy of Y must equal the initial values (checked by callers).
}

func isNaN(f float32) bool { return f != f }

func runnableISAs() []string {
	var out []string
	for _, i := range []asm.ISA{asm.Generic, asm.AVX2, asm.AVX512, asm.NEON} {
		if Host().Supported(i) {
			out = append(out, i.String())
		}
	}
	return out
}

var epilogues = []Options{
	{},
	{Act: ref.ActReLU},
	{Act: ref.ActClamp, Lo: -0.5, Hi: 0.75, Accumulate: true},
	{Act: ref.ActGELU},
	{Act: ref.ActSiLU, Accumulate: true},
}

// TestAgainstReference runs random matrices of every format through every ISA cap that
// runs here, both layouts, N from 1 to large, 1 and several threads.
func TestAgainstReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	shapes := [][2]int{{37, 29}, {64, 48}, {5, 70}}
	ns := []int{1, 3, 16, 17, 70}
	if testing.Short() {
		ns = []int{1, 17}
	}
	for _, isa := range runnableISAs() {
		for si, sh := range shapes {
			for _, f := range []string{"dense", "csr", "bsr", "bsr2x3", "nm"} {
				var d *formats.Dense
				if f == "nm" {
					d = randNM(rng, sh[0], sh[1], 2, 4)
				} else {
					d = randDense(rng, sh[0], sh[1], []float64{0.1, 0.5, 0.95}[si])
				}
				w := inFormat(t, d, f)
				for ei, eo := range epilogues {
					opts := eo
					opts.ISA = isa
					opts.Bias = randX(rng, sh[0])
					if ei == 0 {
						opts.Bias = nil
					}
					for _, threads := range []int{1, 3} {
						opts.Threads = threads
						p, err := Compile(w, opts)
						if err != nil {
							t.Fatal(err)
						}
						epi := &ref.Epilogue{Bias: opts.Bias, Act: opts.Act, Lo: opts.Lo, Hi: opts.Hi, Accumulate: opts.Accumulate}
						for _, n := range ns {
							name := fmt.Sprintf("%s/%dx%d/%s/epi%d/t%d/n%d", isa, sh[0], sh[1], f, ei, threads, n)
							checkChannelMajor(t, name, p, w, rng, n, epi)
							checkTokenMajor(t, name, p, w, rng, n, epi)
						}
					}
				}
			}
		}
	}
}

func checkChannelMajor(t *testing.T, name string, p *Plan, w formats.Matrix, rng *rand.Rand, n int, epi *ref.Epilogue) {
	t.Helper()
	m, k := w.Shape()
	ldx, ldy := n+3, n+5
	x := randX(rng, (k-1)*ldx+n)
	y0 := randX(rng, m*ldy)
	y := append([]float32(nil), y0...)
	if err := p.Mul(y, ldy, x, ldx, n); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	want := oracle(t, w, x, ldx, y0, ldy, n, epi)
	closeTo(t, name+"/cm", y, want, w, x, ldx, ldy, n)
	for i := 0; i < m; i++ { // padding columns untouched
		for j := n; j < ldy && i*ldy+j < len(y); j++ {
			if y[i*ldy+j] != y0[i*ldy+j] {
				t.Fatalf("%s: Mul wrote padding Y[%d,%d]", name, i, j)
			}
		}
	}
}

func checkTokenMajor(t *testing.T, name string, p *Plan, w formats.Matrix, rng *rand.Rand, n int, epi *ref.Epilogue) {
	t.Helper()
	m, k := w.Shape()
	ldx, ldy := k+2, m+1
	xt := randX(rng, (n-1)*ldx+k)
	yt0 := randX(rng, (n-1)*ldy+m)
	yt := append([]float32(nil), yt0...)
	if err := p.MulTokens(yt, ldy, xt, ldx, n); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	// Channel-major oracle on the transposed operands.
	x := make([]float32, k*n)
	y0 := make([]float32, m*n)
	transpose(x, n, xt, ldx, n, k)
	transpose(y0, n, yt0, ldy, n, m)
	want := oracle(t, w, x, n, y0, n, n, epi)
	got := make([]float32, m*n)
	transpose(got, n, yt, ldy, n, m)
	closeTo(t, name+"/tm", got, want, w, x, n, n, n)
	for tok := 0; tok < n-1; tok++ {
		if yt[tok*ldy+m] != yt0[tok*ldy+m] {
			t.Fatalf("%s: MulTokens wrote padding of token %d", name, tok)
		}
	}
}

// TestEveryFamily forces each registered family this CPU runs, on a matrix in its format.
func TestEveryFamily(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, f := range asm.Families() {
		if !Host().CanRun(f, Host().BestISA()) {
			t.Logf("%s: needs %v, not on this CPU", f.Name, f.Features)
			continue
		}
		var d *formats.Dense
		format := ""
		switch f.Format {
		case "nm", "nm_bf16", "nm_f16", "nm_i8":
			kk, g := f.Keep, f.Group
			if kk == 0 {
				kk, g = 2, 4
			}
			d = randNM(rng, 45, 67, kk, g)
			format = fmt.Sprintf("nm%d:%d", kk, g)
		case "bsr":
			r, c := f.BlockR, f.BlockC
			if r == 0 {
				r, c = 4, 1
			}
			d = randBlocky(rng, 45, 67, r, c, 0.3)
			format = fmt.Sprintf("bsr%dx%d", r, c)
		default:
			d = randDense(rng, 45, 67, 0.2)
			format = f.Format
		}
		var w formats.Matrix = d
		if dt, err := formats.ParseDType(f.DType); err == nil && f.Format == asm.NMLPFormat(dt) {
			// a low-precision N:M family: W stored in its pattern and dtype
			nm, err := formats.NMFromDense(d, f.Keep, f.Group)
			if f.Keep == 0 {
				nm, err = formats.NMFromDense(d, 2, 4)
			}
			if err != nil {
				t.Fatal(err)
			}
			if w, err = formats.NMLPFromNM(nm, dt); err != nil {
				t.Fatal(err)
			}
			d, format = w.ToDense(), f.Format
		} else if dt, csr, ok := lpDType(f.Format); ok && strings.HasPrefix(f.Format, "bsr_") {
			// A low-precision BSR family: W in its block shape (4×1 for bsr_any), stored
			// in its dtype.
			r, c := f.BlockR, f.BlockC
			if r == 0 {
				r, c = 4, 1
			}
			b, err := formats.BSRFromDense(randBlocky(rng, 45, 67, r, c, 0.3), r, c)
			if err != nil {
				t.Fatal(err)
			}
			if w, err = formats.BSRLPFromBSR(b, dt); err != nil {
				t.Fatal(err)
			}
			d = w.ToDense()
		} else if ok { // a low-precision family: W stored in its dtype
			w = lpMatrix(t, d, dt, csr)
			d = w.ToDense()
		}
		for _, threads := range []int{1, 2} {
			p, err := Compile(w, Options{Kernel: f.Name, Format: format, Threads: threads, Act: ref.ActReLU, Bias: randX(rng, 45)})
			if err != nil {
				t.Fatalf("%s: %v", f.Name, err)
			}
			var ns []int
			for b, r := range p.ranges {
				if coversRange(f, r) {
					ns = append(ns, r.lo, min(r.hi, r.lo+40))
					if p.sel[b].fam.Name != f.Name {
						t.Fatalf("forced %s, %v runs %s", f.Name, r, p.sel[b].fam.Name)
					}
				}
			}
			epi := &ref.Epilogue{Bias: p.epi.Bias, Act: ref.ActReLU}
			for _, n := range append(ns, 1, 7, 16, 33, 100) {
				name := fmt.Sprintf("%s/t%d/n%d", f.Name, threads, n)
				checkChannelMajor(t, name, p, d, rng, n, epi)
				checkTokenMajor(t, name, p, d, rng, n, epi)
			}
		}
	}
}

// mulAll runs Mul and returns Y.
func mulAll(t *testing.T, p *Plan, x []float32, n int) []float32 {
	t.Helper()
	m, _ := p.Shape()
	y := make([]float32, m*n)
	if err := p.Mul(y, n, x, n, n); err != nil {
		t.Fatal(err)
	}
	return y
}

func bitwiseEqual(a, b []float32) int {
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return i
		}
	}
	return -1
}

// TestBitwiseAcrossThreadsAndSplits: the same plan gives bit-identical Y for any thread
// count, any split of N into calls, batch and token-major layouts.
func TestBitwiseAcrossThreadsAndSplits(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, f := range []string{"dense", "csr", "bsr", "nm"} {
		var d *formats.Dense
		if f == "nm" {
			d = randNM(rng, 300, 200, 2, 4)
		} else {
			d = randDense(rng, 300, 200, 0.15)
		}
		w := inFormat(t, d, f)
		for _, n := range []int{1, 9, 200} {
			_, k := w.Shape()
			x := randX(rng, k*n)
			var base []float32
			var fam string
			for _, threads := range []int{1, 2, 3, 7} {
				p, err := Compile(w, Options{Threads: threads, Act: ref.ActSiLU})
				if err != nil {
					t.Fatal(err)
				}
				fam, _ = p.KernelFor(n)
				y := mulAll(t, p, x, n)
				if base == nil {
					base = y
					continue
				}
				if i := bitwiseEqual(base, y); i >= 0 {
					t.Fatalf("%s n=%d %s: threads=%d differs at %d", f, n, fam, threads, i)
				}
			}
			p, _ := Compile(w, Options{Threads: 3, Act: ref.ActSiLU})
			m, _ := p.Shape()
			// Split N into two calls that run the same kernel as the whole (a user split
			// into different N ranges may rightly change the kernel).
			a := -1
			for _, c := range []int{n / 2, n / 3, 2 * n / 3, 100, 64, 90} {
				if c > 0 && c < n && p.choiceFor(c) == p.choiceFor(n) && p.choiceFor(n-c) == p.choiceFor(n) {
					a = c
					break
				}
			}
			if a > 0 {
				y := make([]float32, m*n)
				if err := p.Mul(y, n, x, n, a); err != nil {
					t.Fatal(err)
				}
				if err := p.Mul(y[a:], n, x[a:], n, n-a); err != nil {
					t.Fatal(err)
				}
				if i := bitwiseEqual(base, y); i >= 0 {
					t.Fatalf("%s n=%d: split at %d differs at %d", f, n, a, i)
				}
			}
			// Batch: two items, the second a copy of X.
			xb := append(append([]float32(nil), x...), x...)
			yb := make([]float32, 2*m*n)
			if err := p.MulBatch(yb, n, m*n, xb, n, k*n, n, 2); err != nil {
				t.Fatal(err)
			}
			if bitwiseEqual(base, yb[:m*n]) >= 0 || bitwiseEqual(base, yb[m*n:]) >= 0 {
				t.Fatalf("%s n=%d: batch differs", f, n)
			}
			// Token-major on the transposed X, transposed back, equals channel-major run
			// panel by panel (each panel runs the kernel for its width), for any threads.
			xt := make([]float32, n*k)
			transpose(xt, k, x, n, k, n)
			want := make([]float32, m*n)
			for t0 := 0; t0 < n; t0 += p.panelCap {
				if err := p.Mul(want[t0:], n, x[t0:], n, min(p.panelCap, n-t0)); err != nil {
					t.Fatal(err)
				}
			}
			if n <= p.panelCap {
				want = base
			}
			for _, threads := range []int{1, 2, 3} {
				pt, _ := Compile(w, Options{Threads: threads, Act: ref.ActSiLU})
				yt := make([]float32, n*m)
				if err := pt.MulTokens(yt, m, xt, k, n); err != nil {
					t.Fatal(err)
				}
				y := make([]float32, m*n)
				transpose(y, n, yt, m, n, m)
				if i := bitwiseEqual(want, y); i >= 0 {
					t.Fatalf("%s n=%d threads=%d: token-major differs at %d", f, n, threads, i)
				}
			}
		}
	}
}

// TestConcurrentMul runs one plan from several goroutines (run with -race).
func TestConcurrentMul(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	d := randDense(rng, 200, 120, 0.1)
	p, err := Compile(d, Options{Threads: 3, Bias: randX(rng, 200), Act: ref.ActReLU})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 9))
			for it := 0; it < 5; it++ {
				n := []int{1, 5, 40}[(g+it)%3]
				x := randX(r, 120*n)
				want := make([]float32, 200*n)
				if err := ref.Matrix(d, x, n, want, n, n, &p.epi); err != nil {
					errs <- err
					return
				}
				y := make([]float32, 200*n)
				var err error
				if g%2 == 0 {
					err = p.Mul(y, n, x, n, n)
				} else {
					xt := make([]float32, n*120)
					transpose(xt, 120, x, n, 120, n)
					yt := make([]float32, n*200)
					err = p.MulTokens(yt, 200, xt, 120, n)
					transpose(y, n, yt, 200, n, 200)
				}
				if err != nil {
					errs <- err
					return
				}
				for i := range y {
					if math.Abs(float64(y[i]-want[i])) > 1e-4*(1+math.Abs(float64(want[i]))) {
						errs <- fmt.Errorf("goroutine %d: Y[%d] = %v, want %v", g, i, y[i], want[i])
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestBadInput: every malformed call returns an error and writes nothing.
func TestBadInput(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	d := randDense(rng, 8, 6, 0.5)
	p, err := Compile(d, Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	n := 5
	x := randX(rng, 6*n)
	y := make([]float32, 8*n)
	cases := []struct {
		name string
		call func() error
	}{
		{"nil x", func() error { return p.Mul(y, n, nil, n, n) }},
		{"nil y", func() error { return p.Mul(nil, n, x, n, n) }},
		{"short x", func() error { return p.Mul(y, n, x[:len(x)-1], n, n) }},
		{"short y", func() error { return p.Mul(y[:len(y)-1], n, x, n, n) }},
		{"negative n", func() error { return p.Mul(y, n, x, n, -1) }},
		{"ldx < n", func() error { return p.Mul(y, n, x, n-1, n) }},
		{"ldy < n", func() error { return p.Mul(y, n-1, x, n, n) }},
		{"negative ld", func() error { return p.Mul(y, -3, x, n, n) }},
		{"ldx too long", func() error { return p.Mul(y, n, x, n+1, n) }},
		{"batch short", func() error { return p.MulBatch(y, n, 8*n, x, n, 6*n, n, 2) }},
		{"batch overlap", func() error { return p.MulBatch(make([]float32, 100*n), n, 1, x, n, 0, n, 2) }},
		{"batch negative", func() error { return p.MulBatch(y, n, 8*n, x, n, 6*n, n, -1) }},
		{"batch negative stride", func() error { return p.MulBatch(y, n, -1, x, n, 6*n, n, 1) }},
		{"tokens short x", func() error { return p.MulTokens(y, 8, x[:6*n-1], 6, n) }},
		{"tokens ldx < K", func() error { return p.MulTokens(y, 8, x, 5, n) }},
		{"tokens ldy < M", func() error { return p.MulTokens(y, 7, x, 6, n) }},
		{"tokens nil", func() error { return p.MulTokens(nil, 8, nil, 6, n) }},
		{"tokens negative n", func() error { return p.MulTokens(y, 8, x, 6, -2) }},
	}
	for _, c := range cases {
		clear(y)
		err := c.call()
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		if !errors.Is(err, ref.ErrShape) {
			t.Errorf("%s: error %v does not wrap ref.ErrShape", c.name, err)
		}
		for _, v := range y {
			if v != 0 {
				t.Fatalf("%s: Y written before the error", c.name)
			}
		}
	}
	// N = 0 is a no-op, even with nil slices.
	if err := p.Mul(nil, 0, nil, 0, 0); err != nil {
		t.Errorf("n = 0: %v", err)
	}
	// Compile errors.
	if _, err := Compile(nil, Options{}); err == nil {
		t.Error("nil W compiled")
	}
	if _, err := Compile((*formats.CSR)(nil), Options{}); err == nil {
		t.Error("typed nil W compiled")
	}
	if _, err := Compile(d, Options{Bias: make([]float32, 7)}); err == nil {
		t.Error("short bias compiled")
	}
	if _, err := Compile(d, Options{Threads: -1}); err == nil {
		t.Error("negative threads compiled")
	}
	if _, err := Compile(d, Options{Kernel: "no_such_family"}); err == nil {
		t.Error("unknown family compiled")
	}
	if _, err := Compile(d, Options{Format: "nm2:4"}); err == nil {
		t.Error("non-conforming N:M format compiled")
	}
	if _, err := Compile(d, Options{Format: "bsr0x1"}); err == nil {
		t.Error("bad format compiled")
	}
	bad := &formats.CSR{Rows: 2, Cols: 2, RowPtr: []int64{0, 1, 2}, ColIdx: []int32{0, 5}, Val: []float32{1, 2}}
	if _, err := Compile(bad, Options{}); err == nil {
		t.Error("invalid CSR compiled")
	}
	// Closed plan.
	p.Close()
	if err := p.Mul(y, n, x, n, n); !errors.Is(err, ErrClosed) {
		t.Errorf("closed plan: %v", err)
	}
}

// TestForcedISA: naming an ISA this CPU lacks is an error, by option and by environment.
func TestForcedISA(t *testing.T) {
	d := randDense(rand.New(rand.NewPCG(1, 1)), 4, 4, 1)
	absent := ""
	for _, i := range []string{"neon", "avx512", "avx2"} {
		if is, _ := asm.ParseISA(i); !Host().Supported(is) {
			absent = i
			break
		}
	}
	if absent == "" {
		t.Fatal("this CPU supports every ISA, including both architectures'")
	}
	_, err := Compile(d, Options{ISA: absent})
	if err == nil || !strings.Contains(err.Error(), absent) {
		t.Fatalf("forcing %s: %v", absent, err)
	}
	t.Setenv(EnvISA, absent)
	if _, err := Compile(d, Options{}); err == nil || !strings.Contains(err.Error(), EnvISA) {
		t.Fatalf("$%s=%s: %v", EnvISA, absent, err)
	}
	t.Setenv(EnvISA, "generic")
	p, err := Compile(d, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range p.sel {
		if c.fam.ISA != asm.Generic {
			t.Fatalf("$%s=generic runs %s", EnvISA, c.fam.Name)
		}
	}
	if _, err := Compile(d, Options{ISA: "sse9"}); err == nil {
		t.Fatal("unknown ISA accepted")
	}
}

// TestGODEBUGDisablesAVX512 re-runs the test binary with GODEBUG=cpu.avx512f=off: then
// forcing avx512 must fail even on a CPU that has it.
func TestGODEBUGDisablesAVX512(t *testing.T) {
	if os.Getenv("SPARSEGEN_CHILD") == "1" {
		if Host().Features&asm.FeatAVX512F != 0 {
			t.Fatal("GODEBUG=cpu.avx512f=off left AVX512F enabled")
		}
		if _, err := Compile(randDense(rand.New(rand.NewPCG(1, 1)), 4, 4, 1), Options{ISA: "avx512"}); err == nil {
			t.Fatal("avx512 forced with AVX-512 disabled")
		}
		return
	}
	if runtime.GOARCH != "amd64" {
		t.Skip("AVX-512 is amd64 only")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestGODEBUGDisablesAVX512$", "-test.count=1")
	cmd.Env = append(os.Environ(), "SPARSEGEN_CHILD=1", "GODEBUG=cpu.avx512f=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

// TestNaNInf: NaN and Inf in W or X follow IEEE semantics (as the reference on the format
// the plan packed computes them), with no crash.
func TestNaNInf(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, f := range []string{"dense", "csr", "bsr", "nm"} {
		var d *formats.Dense
		if f == "nm" {
			d = randNM(rng, 20, 16, 2, 4)
		} else {
			d = randDense(rng, 20, 16, 0.4)
		}
		w := inFormat(t, d, f)
		// Poison one stored weight.
		switch w := w.(type) {
		case *formats.Dense:
			w.Data[3] = float32(math.NaN())
		case *formats.CSR:
			w.Val[2] = float32(math.Inf(1))
		case *formats.BSR:
			w.Val[1] = float32(math.NaN())
		case *formats.NM:
			w.Val[5] = float32(math.Inf(-1))
		}
		fam := "ref_" + map[string]string{"dense": "dense", "csr": "csr", "bsr": "bsr", "nm": "nm"}[f] + "_generic"
		for _, opts := range []Options{{Threads: 2}, {Threads: 2, Kernel: fam}} {
			p, err := Compile(w, opts)
			if err != nil {
				t.Fatal(err)
			}
			n := 20
			x := randX(rng, 16*n)
			x[7] = float32(math.Inf(1))
			x[40] = float32(math.NaN())
			y := mulAll(t, p, x, n)
			// The rule: the reference on W as given (its stored entries, nothing added).
			want := oracle(t, w, x, n, make([]float32, 20*n), n, n, nil)
			sameNonFinite(t, fmt.Sprintf("%s %v", f, opts.Kernel), y, want)
		}
	}
}

// sameNonFinite checks got against the rule's result: NaN exactly where want is NaN, the
// same infinities, finite values close.
func sameNonFinite(t *testing.T, what string, got, want []float32) {
	t.Helper()
	for i := range want {
		g, w := float64(got[i]), float64(want[i])
		switch {
		case math.IsNaN(w) || math.IsNaN(g):
			if math.IsNaN(w) != math.IsNaN(g) {
				t.Fatalf("%s: Y[%d] = %v, the rule gives %v", what, i, g, w)
			}
		case math.IsInf(w, 0) || math.IsInf(g, 0):
			if g != w {
				t.Fatalf("%s: Y[%d] = %v, the rule gives %v", what, i, g, w)
			}
		case math.Abs(g-w) > 1e-3*(1+math.Abs(w)):
			t.Fatalf("%s: Y[%d] = %v, the rule gives %v", what, i, g, w)
		}
	}
}

// TestOneNaNRule: with NaN and ±Inf in X, every kernel family this CPU runs (forced, under
// every ISA cap), every N, both layouts, batches and thread counts give scipy.sparse's
// answer: the reference on W's stored entries. W stores explicit zeros (Inf × a stored
// zero is NaN) and has rows that skip the poisoned columns (absent entries add nothing),
// and it conforms to 2:4 so that the N:M families take it. Before, CSR gave 0 where dense
// and BSR gave NaN, and bsr2x2 gave 0 for Inf × a stored zero, so one plan answered
// differently for different N.
func TestOneNaNRule(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	const m, k = 24, 32
	d := randNM(rng, m, k, 2, 4)
	c, err := formats.CSRFromDense(d)
	if err != nil {
		t.Fatal(err)
	}
	// Explicit stored zeros: turn every third stored value into 0.
	for i := range c.Val {
		if i%3 == 0 {
			c.Val[i] = 0
		}
	}
	dc := c.ToDense()
	var mats []formats.Matrix = []formats.Matrix{c}
	for _, f := range []string{"bsr", "nm"} {
		mats = append(mats, inFormat(t, dc, f))
	}
	ran := map[string]bool{}
	defer func() {
		t.Logf("%d kernel families checked", len(ran))
		if len(ran) < 4 {
			t.Errorf("only %d kernel families compiled", len(ran))
		}
	}()
	for _, isa := range runnableISAs() {
		for _, fam := range asm.Families() {
			for _, w := range mats {
				for _, threads := range []int{1, 3} {
					p, err := Compile(w, Options{Kernel: fam.Name, ISA: isa, Threads: threads, Warn: func(string) {}})
					if err != nil {
						continue // the family cannot run here or take this W
					}
					ran[fam.Name] = true
					for _, n := range []int{1, 3, 16, 37, 130} {
						x := randX(rng, k*n)
						for _, at := range []int{0, 5 % (k * n), (7 * n) % (k * n), k*n - 1} {
							x[at] = float32(math.NaN())
						}
						x[(3*n+1)%(k*n)] = float32(math.Inf(1))
						x[(11*n+2)%(k*n)] = float32(math.Inf(-1))
						want := oracle(t, w, x, n, make([]float32, m*n), n, n, nil) // W's own stored entries
						what := fmt.Sprintf("%s isa %q %T threads %d N %d", fam.Name, isa, w, threads, n)
						y := make([]float32, m*n)
						if err := p.Mul(y, n, x, n, n); err != nil {
							t.Fatal(err)
						}
						sameNonFinite(t, what+" Mul", y, want)
						// Token-major.
						xt, yt := make([]float32, n*k), make([]float32, n*m)
						transpose(xt, k, x, n, k, n)
						if err := p.MulTokens(yt, m, xt, k, n); err != nil {
							t.Fatal(err)
						}
						got := make([]float32, m*n)
						transpose(got, n, yt, m, n, m)
						sameNonFinite(t, what+" MulTokens", got, want)
						// A batch of two: the finite item and the poisoned one.
						xb := append(randX(rng, k*n), x...)
						yb := make([]float32, 2*m*n)
						if err := p.MulBatch(yb, n, m*n, xb, n, k*n, n, 2); err != nil {
							t.Fatal(err)
						}
						sameNonFinite(t, what+" MulBatch", yb[m*n:], want)
						want0 := oracle(t, w, xb[:k*n], n, make([]float32, m*n), n, n, nil)
						sameNonFinite(t, what+" MulBatch finite item", yb[:m*n], want0)
					}
				}
			}
		}
	}
}

// TestConversions: every conversion keeps W's values.
func TestConversions(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	d := randNM(rng, 23, 30, 1, 4)
	for _, src := range []string{"dense", "csr", "bsr", "bsr2x3", "nm"} {
		w := inFormat(t, d, src)
		for _, ts := range []string{"dense", "csr", "bsr4x1", "bsr3x5", "nm2:4", "nm1:4", "nm3:8"} {
			tg, err := parseTarget(ts)
			if err != nil {
				t.Fatal(err)
			}
			cw, err := convert(w, tg)
			if err != nil {
				t.Fatalf("%s → %s: %v", src, ts, err)
			}
			if err := cw.Validate(); err != nil {
				t.Fatalf("%s → %s: %v", src, ts, err)
			}
			got := cw.ToDense()
			for i := 0; i < d.Rows; i++ {
				for j := 0; j < d.Cols; j++ {
					if got.At(i, j) != d.At(i, j) {
						t.Fatalf("%s → %s: (%d,%d) = %v, want %v", src, ts, i, j, got.At(i, j), d.At(i, j))
					}
				}
			}
		}
	}
	if _, err := convert(inFormat(t, randDense(rng, 8, 8, 0.9), "csr"), target{format: "nm", keep: 1, group: 4}); err == nil {
		t.Fatal("converted a dense-ish matrix to 1:4")
	}
}

// TestMeasure checks the measurement on matrices built to known structure.
func TestMeasure(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	d := randBlocky(rng, 64, 64, 4, 1, 0.25)
	ms, err := measure(d, [][2]int{{4, 1}, {8, 1}})
	if err != nil {
		t.Fatal(err)
	}
	if f, _ := ms.fill(4, 1); math.Abs(f.Fill-1) > 0.02 { // NormFloat64 zeros are improbable
		t.Fatalf("4x1 fill of a 4x1-blocked matrix = %v", f.Fill)
	}
	if f, _ := ms.fill(8, 1); f.Fill > 0.9 {
		t.Fatalf("8x1 fill = %v, want about 0.5-0.6", f.Fill)
	}
	if PatternOf(ms) != "bsr4x1" {
		t.Fatalf("pattern %s", PatternOf(ms))
	}
	d = randNM(rng, 32, 64, 2, 4)
	ms, _ = measure(d, nil)
	if ms.nmKeep(4) != 2 || ms.nmKeep(8) > 4 {
		t.Fatalf("N:M fits %v", ms.NM)
	}
	if PatternOf(ms) != "nm2:4" || math.Abs(ms.Density-0.5) > 1e-9 || ms.RowMin != 32 || ms.RowMax != 32 {
		t.Fatalf("pattern %s density %v rows %d..%d", PatternOf(ms), ms.Density, ms.RowMin, ms.RowMax)
	}
}

// TestPartition: chunks cover every unit and column once, balanced by cost.
func TestPartition(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	d := randDense(rng, 500, 300, 0.05)
	for r := 0; r < 50; r++ { // a few heavy rows
		for j := 0; j < 300; j++ {
			d.Data[r*300+j] = 1
		}
	}
	c, _ := formats.CSRFromDense(d)
	f, _ := asm.Lookup("ref_csr_generic")
	kern, err := f.Pack(c)
	if err != nil {
		t.Fatal(err)
	}
	cost := kern.UnitCost()
	for _, threads := range []int{1, 2, 5, 16} {
		for _, n := range []int{1, 33, 3000} {
			pt := makePartition(kern, n, threads, chunksPerThread)
			if pt.rows[0] != 0 || pt.rows[len(pt.rows)-1] != kern.Units() || pt.cols[0] != 0 || pt.cols[len(pt.cols)-1] != n {
				t.Fatalf("t%d n%d: partition %v × %v does not cover", threads, n, pt.rows, pt.cols)
			}
			var maxc int64
			for i := 1; i < len(pt.rows); i++ {
				if pt.rows[i] <= pt.rows[i-1] {
					t.Fatalf("empty row chunk %v", pt.rows)
				}
				maxc = max(maxc, cost[pt.rows[i]]-cost[pt.rows[i-1]])
			}
			for i := 1; i < len(pt.cols); i++ {
				if pt.cols[i] <= pt.cols[i-1] || (i < len(pt.cols)-1 && pt.cols[i]%colAlign != 0) {
					t.Fatalf("bad column chunks %v", pt.cols)
				}
			}
			// Balanced: no row chunk much above the mean (one heavy row of 300 at most extra).
			mean := cost[len(cost)-1] / int64(len(pt.rows)-1)
			if maxc > mean+302 {
				t.Fatalf("t%d n%d: chunk cost %d, mean %d", threads, n, maxc, mean)
			}
		}
	}
}

// TestDescribe: the description names a kernel and a reason for every N range.
func TestDescribe(t *testing.T) {
	rng := rand.New(rand.NewPCG(19, 20))
	p, err := Compile(randDense(rng, 64, 64, 0.1), Options{Act: ref.ActGELU, Bias: randX(rng, 64)})
	if err != nil {
		t.Fatal(err)
	}
	s := p.Describe()
	for _, want := range []string{"N ≥ ", "density", "gelu", "bias", "token-major", "est"} {
		if !strings.Contains(s, want) {
			t.Fatalf("Describe lacks %q:\n%s", want, s)
		}
	}
	t.Log("\n" + s)
}

// TestPolicyFollowsTable: with a known table (dense 1 ns, CSR 2 ns per stored MAC, so
// dense wins above 50% density; BSR and N:M expensive), the policy picks by density,
// whatever the input format, and converts where the table says so.
func TestPolicyFollowsTable(t *testing.T) {
	var tab []policyEntry
	for _, f := range asm.Families() {
		for b := range policyPoints {
			per := map[string]float64{"dense": 1, "csr": 2, "bsr": 100, "nm": 100}[f.Format]
			for _, tg := range []string{"dense", "csr", "bsr4x1", "bsr8x1", "bsr4x4", "nm2:4", "nm1:4", "nm4:8", "nm2:8"} {
				if formatOfTarget(tg) == f.Format {
					tab = append(tab, policyEntry{Family: f.Name, Target: tg, N: policyPoints[b], PerMAC: per})
				}
			}
		}
	}
	defer usePolicyTable(tab)()
	rng := rand.New(rand.NewPCG(21, 22))
	for _, c := range []struct {
		density float64
		want    string
	}{{0.97, "dense"}, {0.6, "dense"}, {0.4, "csr"}, {0.02, "csr"}} {
		d := randDense(rng, 128, 128, c.density)
		for _, f := range []string{"dense", "csr", "bsr", "nm"} {
			if f == "nm" {
				continue // a random matrix rarely conforms
			}
			p, err := Compile(inFormat(t, d, f), Options{ISA: "generic"})
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range []int{1, 8, 20, 40, 128} {
				if _, got := p.KernelFor(n); got != c.want {
					t.Errorf("density %.2f as %s, N = %d: runs %s, want %s", c.density, f, n, got, c.want)
				}
			}
		}
	}
}

// transpose is the tests' naive oracle: dst[j·ldd+i] = src[i·lds+j].
func transpose(dst []float32, ldd int, src []float32, lds int, rows, cols int) {
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			dst[j*ldd+i] = src[i*lds+j]
		}
	}
}

// TestPrepareParallel: Prepare at several threads packs every range (the distinct packings
// at once) to the same kernels as one thread, gives bitwise the same results, and runs
// safely beside Mul calls of the same plan (run with -race).
func TestPrepareParallel(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	d := randDense(rng, 300, 200, 0.1)
	w, err := formats.CSRFromDense(d)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := Compile(w, Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := serial.Prepare(); err != nil {
		t.Fatal(err)
	}
	ns := []int{1, 3, 9, 20, 33, 70, 130}
	var par *Plan
	for trial := range 8 { // the race between ranges of one layout differs run to run
		par, err = Compile(w, Options{Threads: 4})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for _, n := range ns { // first uses racing Prepare
			wg.Go(func() {
				x := randX(rand.New(rand.NewPCG(uint64(n), 1)), 200*n)
				if err := par.Mul(make([]float32, 300*n), n, x, n, n); err != nil {
					t.Error(err)
				}
			})
		}
		if err := par.Prepare(); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		if strings.Contains(par.Describe(), "packed on first use") {
			t.Fatalf("trial %d: a range left unpacked:\n%s", trial, par.Describe())
		}
		// Each layout is packed once whichever range comes first (the others wait and derive).
		if par.PackedBytes() != serial.PackedBytes() {
			t.Fatalf("trial %d: packed %d bytes at 4 threads, %d at 1", trial, par.PackedBytes(), serial.PackedBytes())
		}
	}
	for _, n := range ns {
		f1, t1 := serial.KernelFor(n)
		f4, t4 := par.KernelFor(n)
		if f1 != f4 || t1 != t4 {
			t.Fatalf("N=%d: %s@%s at 4 threads, %s@%s at 1", n, f4, t4, f1, t1)
		}
		x := randX(rng, 200*n)
		y1, y4 := make([]float32, 300*n), make([]float32, 300*n)
		if err := serial.Mul(y1, n, x, n, n); err != nil {
			t.Fatal(err)
		}
		if err := par.Mul(y4, n, x, n, n); err != nil {
			t.Fatal(err)
		}
		if i := bitwiseEqual(y1, y4); i >= 0 {
			t.Fatalf("N=%d: results differ at %d", n, i)
		}
	}
}

// TestDerivedPackings: where kernels of several N ranges share a layout of W (CSR tile
// widths with the same row group and K block), the plan packs it once and derives the
// others: they run bitwise as their own full packing does, and the plan holds less.
func TestDerivedPackings(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	w, err := formats.CSRFromDense(randDense(rng, 300, 400, 0.05))
	if err != nil {
		t.Fatal(err)
	}
	// Whether two kernels of one layout are chosen is the policy's decision, and which
	// families share a layout depends on the ISA (on AVX2 every CSR tile has its own row
	// group). Where this CPU runs such a pair, a policy table made for the test has them win
	// N ranges of their own, so that derivation is covered whatever the shipped table says.
	pair := sharedLayoutPair(w)
	if pair != nil {
		defer usePolicyTable(pairTable(t, w, pair[0], pair[1]))()
		t.Logf("families of one layout: %s and %s", pair[0].Name, pair[1].Name)
	} else {
		t.Logf("no two families of one layout run here: the plan must pack each kernel apart")
	}
	for _, threads := range []int{1, 3} {
		for _, prepare := range []bool{true, false} { // lazily: packed first at the largest N
			p, err := Compile(w, Options{Threads: threads})
			if err != nil {
				t.Fatal(err)
			}
			if prepare {
				if err := p.Prepare(); err != nil {
					t.Fatal(err)
				}
			}
			var full int64
			seen := map[string]bool{}
			for n := 160; n >= 1; n-- {
				fam, _ := p.KernelFor(n)
				f, _ := asm.Lookup(fam)
				own, err := f.Pack(w)
				if err != nil {
					t.Fatal(err)
				}
				if !seen[fam] {
					seen[fam] = true
					full += own.PackedBytes()
				}
				if n%7 != 1 && n != 160 {
					continue
				}
				x := randX(rng, 400*n)
				want, got := make([]float32, 300*n), make([]float32, 300*n)
				if err := own.Run(0, own.Units(), x, n, want, n, n, nil); err != nil {
					t.Fatal(err)
				}
				if err := p.Mul(got, n, x, n, n); err != nil {
					t.Fatal(err)
				}
				if i := bitwiseEqual(want, got); i >= 0 {
					t.Fatalf("threads=%d prepare=%v N=%d (%s): differs from its own packing at %d", threads, prepare, n, fam, i)
				}
			}
			if !prepare {
				p.Prepare() // the ranges no call reached
			}
			// Which of the plan's kernels share a layout of W (none on builds whose
			// kernels declare no layouts, e.g. -tags purego).
			layouts, shared := map[string]bool{}, false
			for fam := range seen {
				if f, _ := asm.Lookup(fam); f.Layout != nil && f.Layout(w) != "" {
					shared = shared || layouts[f.Layout(w)]
					layouts[f.Layout(w)] = true
				}
			}
			if desc := p.Describe(); shared != strings.Contains(desc, "derived from") {
				t.Fatalf("threads=%d prepare=%v: kernels sharing a layout %v, but the plan says:\n%s", threads, prepare, shared, desc)
			}
			if shared && p.PackedBytes() >= full || !shared && p.PackedBytes() != full {
				t.Fatalf("threads=%d prepare=%v: plan holds %d bytes, its kernels packed apart %d", threads, prepare, p.PackedBytes(), full)
			}
			if (pair != nil) != shared {
				t.Fatalf("threads=%d prepare=%v: chose %v; families of one layout runnable here: %v", threads, prepare, seen, pair != nil)
			}
		}
	}
}

// sharedLayoutPair returns two families runnable here that pack w in one layout, the one
// with the lower MinN first, or nil if there are none.
func sharedLayoutPair(w formats.Matrix) []asm.Family {
	fams := runnableFamilies()
	for i, a := range fams {
		for _, b := range fams[i+1:] {
			if a.Layout == nil || b.Layout == nil || a.Layout(w) == "" || a.Layout(w) != b.Layout(w) {
				continue
			}
			if b.MinN < a.MinN {
				a, b = b, a
			}
			return []asm.Family{a, b}
		}
	}
	return nil
}

// pairTable is a policy table in which, on w, family lo wins the policy points below a
// split and hi those from it on (each only where it covers the point), and every other
// candidate is far behind.
func pairTable(t *testing.T, w formats.Matrix, lo, hi asm.Family) []policyEntry {
	t.Helper()
	covers := func(f asm.Family, pn int) bool { return coversRange(f, nRange{pn, pn}) }
	split := 0
	for _, s := range policyPoints {
		loSide := slices.ContainsFunc(policyPoints, func(pn int) bool { return pn < s && covers(lo, pn) })
		hiSide := slices.ContainsFunc(policyPoints, func(pn int) bool { return pn >= s && covers(hi, pn) })
		if loSide && hiSide {
			split = s
			break
		}
	}
	if split == 0 {
		t.Fatalf("%s and %s cover no policy points apart", lo.Name, hi.Name)
	}
	var tab []policyEntry
	for _, pn := range policyPoints {
		cands, _, err := candidatesFor(w, runnableFamilies(), nRange{pn, pn})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cands {
			cost := 1.0
			switch {
			case c.fam.Name == lo.Name && pn < split, c.fam.Name == hi.Name && pn >= split:
				cost = 1e-3
			}
			tab = append(tab, policyEntry{Family: c.fam.Name, Target: c.tgt.String(), N: pn, PerMAC: cost})
		}
	}
	return tab
}

// TestDenseInputConvertsOnce: a Dense W sparse enough is converted to CSR while it is
// measured, and every sparse format is converted from that CSR: the plans match those
// compiled from the CSR itself (kernels, packed bytes, bitwise results), and the CSR is
// dropped once every range is packed. A denser W keeps no CSR.
func TestDenseInputConvertsOnce(t *testing.T) {
	rng := rand.New(rand.NewPCG(61, 62))
	for _, c := range []struct {
		name       string
		d          *formats.Dense
		keepSparse bool
	}{
		{"1:8", randNM(rng, 96, 200, 1, 8), true},
		{"10%", randDense(rng, 70, 130, 0.1), true},
		{"2:4", randNM(rng, 64, 96, 2, 4), false}, // density 0.5
	} {
		w, err := formats.CSRFromDense(c.d)
		if err != nil {
			t.Fatal(err)
		}
		m, k := c.d.Shape()
		for _, format := range []string{"", "csr", "bsr4x1", "nm1:8", "nm2:4"} {
			opts := Options{Format: format, Threads: 2}
			fromDense, err1 := Compile(c.d, opts)
			fromCSR, err2 := Compile(w, opts)
			if (err1 == nil) != (err2 == nil) {
				t.Fatalf("%s %q: from dense %v, from CSR %v", c.name, format, err1, err2)
			}
			if err1 != nil {
				continue // the format does not fit this W (both say so)
			}
			if got := fromDense.sparse != nil; got != c.keepSparse {
				t.Fatalf("%s %q: kept a CSR: %v", c.name, format, got)
			}
			for _, n := range []int{1, 7, 40, 130} {
				f1, t1 := fromDense.KernelFor(n)
				if f2, t2 := fromCSR.KernelFor(n); f1 != f2 || t1 != t2 {
					t.Fatalf("%s %q N=%d: %s@%s from dense, %s@%s from CSR", c.name, format, n, f1, t1, f2, t2)
				}
				x := randX(rng, k*n)
				y1, y2 := make([]float32, m*n), make([]float32, m*n)
				if err := fromDense.Mul(y1, n, x, n, n); err != nil {
					t.Fatal(err)
				}
				if err := fromCSR.Mul(y2, n, x, n, n); err != nil {
					t.Fatal(err)
				}
				if i := bitwiseEqual(y1, y2); i >= 0 {
					t.Fatalf("%s %q N=%d: results differ at %d", c.name, format, n, i)
				}
			}
			if err := fromDense.Prepare(); err != nil {
				t.Fatal(err)
			}
			if err := fromCSR.Prepare(); err != nil {
				t.Fatal(err)
			}
			if fromDense.sparse != nil {
				t.Fatalf("%s %q: CSR kept after every range was packed", c.name, format)
			}
			if a, b := fromDense.PackedBytes(), fromCSR.PackedBytes(); a != b {
				t.Fatalf("%s %q: packed %d bytes from dense, %d from CSR", c.name, format, a, b)
			}
		}
	}
}
