package main

import (
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/sparsegen/sparsegen/dispatch"
	"github.com/sparsegen/sparsegen/formats"
	"github.com/sparsegen/sparsegen/ref"
)

func i32(v ...int32) indexArray { return indexArray{i32: v} }
func i64(v ...int64) indexArray { return indexArray{i64: v} }

func codeOf(t *testing.T, err error) status {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	return classify(err)
}

func TestReadCSRCanonicalizes(t *testing.T) {
	// Row 0: (2, 1.5) (0, 1) (2, 0.5) (1, 0): unsorted, a duplicate, a stored zero.
	// Row 1: empty. Row 2: (3, 4). Two trailing entries past indptr[M] are ignored.
	ptr := []int64{0, 4, 4, 5}
	cols := []int64{2, 0, 2, 1, 3, 0, 1}
	vals := []float32{1.5, 1, 0.5, 0, 4, 9, 9}
	for _, wide := range []bool{false, true} {
		ip, ix := i64(ptr...), i64(cols...)
		if !wide {
			ip, ix = indexArray{}, indexArray{}
			for _, v := range ptr {
				ip.i32 = append(ip.i32, int32(v))
			}
			for _, v := range cols {
				ix.i32 = append(ix.i32, int32(v))
			}
		}
		in := slices.Clone(vals)
		c, note, err := readCSR(3, 4, int64(len(vals)), ip, ix, in)
		if err != nil {
			t.Fatal(err)
		}
		want := []float32{1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 4}
		if got := c.ToDense().Data; !slices.Equal(got, want) {
			t.Errorf("wide=%v: dense %v, want %v", wide, got, want)
		}
		if !slices.Equal(c.RowPtr, []int64{0, 3, 3, 4}) || !slices.Equal(c.ColIdx, []int32{0, 1, 2, 3}) {
			t.Errorf("wide=%v: RowPtr %v ColIdx %v", wide, c.RowPtr, c.ColIdx)
		}
		for _, s := range []string{"1 row(s) sorted", "1 duplicate", "2 entries past", "copied"} {
			if !strings.Contains(note, s) {
				t.Errorf("wide=%v: note %q lacks %q", wide, note, s)
			}
		}
		if wide != strings.Contains(note, "narrowed") {
			t.Errorf("wide=%v: note %q", wide, note)
		}
		// The plan owns a copy: scribbling over the input changes nothing.
		for i := range in {
			in[i] = 99
		}
		if got := c.ToDense().Data; !slices.Equal(got, want) {
			t.Errorf("wide=%v: matrix aliases the caller's data", wide)
		}
	}
}

func TestReadCSRRandomMatchesDense(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 20 {
		m, k := 1+rng.IntN(20), 1+rng.IntN(20)
		want := make([]float32, m*k)
		var ptr, cols []int64
		var vals []float32
		ptr = append(ptr, 0)
		for i := range m {
			// Random entries in random order, some split into duplicates.
			for _, j := range rng.Perm(k)[:rng.IntN(k+1)] {
				v := float32(rng.IntN(7) - 3) // stored zeros included
				want[i*k+j] = v
				if rng.IntN(3) == 0 { // split into two duplicates: h + (v − h)
					h := float32(rng.IntN(5) - 2)
					cols, vals = append(cols, int64(j)), append(vals, h)
					v -= h
				}
				cols, vals = append(cols, int64(j)), append(vals, v)
			}
			ptr = append(ptr, int64(len(cols)))
		}
		c, _, err := readCSR(m, k, int64(len(vals)), i64(ptr...), i64(cols...), vals)
		if err != nil {
			t.Fatalf("trial %d: %v", trial, err)
		}
		if got := c.ToDense().Data; !slices.Equal(got, want) {
			t.Fatalf("trial %d: got %v want %v", trial, got, want)
		}
	}
}

// readCSRCase is one malformed CSR the ABI's reader must refuse, and how.
type readCSRCase struct {
	name     string
	m, k     int
	ptr, idx indexArray
	nnz      int64
	code     status
	msg      string
}

func TestReadCSRErrors(t *testing.T) {
	cases := []readCSRCase{
		{"indptr[0]", 1, 2, i32(1, 1), i32(0), 1, codeMatrix, "indptr[0] = 1"},
		{"decreasing", 2, 2, i32(0, 1, 0), i32(0), 1, codeMatrix, "decreases"},
		{"past nnz", 1, 2, i32(0, 2), i32(0, 1), 1, codeMatrix, "exceeds the 1 entries"},
		{"column ≥ K", 1, 2, i32(0, 1), i32(2), 1, codeMatrix, "outside [0, K = 2)"},
		{"negative column", 1, 2, i32(0, 1), i32(-1), 1, codeMatrix, "outside"},
		{"int64 column past int32", 1, 2, i64(0, 1), i64(1 << 40), 1, codeMatrix, "outside"},
	}
	// K past int32 only exists where int is 64 bits (the constant does not fit a 32-bit int:
	// GOARCH=386 vet refused the file).
	if big := int64(formats.MaxInt32) + 1; int64(int(big)) == big {
		cases = append(cases, readCSRCase{"K too large", 1, int(big), i32(0, 0), i32(), 0, codeArgument, "int32"})
	}
	for _, c := range cases {
		_, _, err := readCSR(c.m, c.k, c.nnz, c.ptr, c.idx, make([]float32, c.nnz))
		if got := codeOf(t, err); got != c.code || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: code %d %q, want %d containing %q", c.name, got, err, c.code, c.msg)
		}
	}
}

// bsrArrays cuts d into scipy-style BSR arrays (full r×c blocks, zero padded), shuffling the
// blocks of each block row and splitting some blocks into two duplicates.
func bsrArrays(rng *rand.Rand, d []float32, m, k, r, c int) (ptr, idx []int64, data []float32) {
	br, bc := (m+r-1)/r, (k+c-1)/c
	ptr = []int64{0}
	for i := range br {
		for _, j := range rng.Perm(bc) {
			blk := make([]float32, r*c)
			any := false
			for rr := range r {
				for cc := range c {
					if row, col := i*r+rr, j*c+cc; row < m && col < k {
						blk[rr*c+cc] = d[row*k+col]
						any = any || blk[rr*c+cc] != 0
					}
				}
			}
			if !any {
				continue
			}
			if rng.IntN(3) == 0 { // a duplicate: blk = half + rest
				half := make([]float32, r*c)
				for q := range blk {
					half[q] = float32(int(blk[q]) / 2)
					blk[q] -= half[q]
				}
				idx, data = append(idx, int64(j)), append(data, half...)
			}
			idx, data = append(idx, int64(j)), append(data, blk...)
		}
		ptr = append(ptr, int64(len(idx)))
	}
	return ptr, idx, data
}

func TestReadBSRMatchesDense(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for trial := range 30 {
		m, k := 1+rng.IntN(17), 1+rng.IntN(17)
		r, c := 1+rng.IntN(5), 1+rng.IntN(5)
		d := make([]float32, m*k)
		for i := range d {
			if rng.IntN(3) == 0 {
				d[i] = float32(rng.IntN(9) - 4)
			}
		}
		ptr, idx, data := bsrArrays(rng, d, m, k, r, c)
		b, note, err := readBSR(m, k, r, c, int64(len(idx)), i64(ptr...), i64(idx...), data)
		if err != nil {
			t.Fatalf("trial %d (%d×%d, %d×%d): %v", trial, m, k, r, c, err)
		}
		if got := b.ToDense().Data; !slices.Equal(got, d) {
			t.Fatalf("trial %d (%d×%d, %d×%d): got %v want %v\n%s", trial, m, k, r, c, got, d, note)
		}
	}
}

func TestReadBSRErrors(t *testing.T) {
	// 3×3 with 2×2 blocks: block (1, 1) covers row 2 and column 2 only; its padding must be 0.
	data := []float32{1, 2, 3, 4}
	_, _, err := readBSR(3, 3, 2, 2, 1, i32(0, 0, 1), i32(1), data)
	if codeOf(t, err) != codeMatrix || !strings.Contains(err.Error(), "past M = 3 or K = 3") {
		t.Errorf("nonzero padding: %v", err)
	}
	_, _, err = readBSR(3, 3, 2, 2, 1, i32(0, 0, 1), i32(1), []float32{5, 0, 0, 0})
	if err != nil {
		t.Errorf("zero padding: %v", err)
	}
	_, _, err = readBSR(3, 3, 2, 2, 1, i32(0, 0, 1), i32(2), data)
	if codeOf(t, err) != codeMatrix {
		t.Errorf("block column 2 of 2: %v", err)
	}
	_, _, err = readBSR(3, 3, 0, 2, 0, i32(0), i32(), nil)
	if codeOf(t, err) != codeArgument {
		t.Errorf("block 0×2: %v", err)
	}
}

func TestReadNM(t *testing.T) {
	// 1×5 at 2:4: a full group (slots at 1, 3) and a partial group of one column (one slot).
	if s := slotsPerRow(5, 2, 4); s != 3 {
		t.Fatalf("slotsPerRow(5, 2, 4) = %d", s)
	}
	if s := slotsPerRow(5, 3, 2); s != -1 {
		t.Fatalf("slotsPerRow(5, 3, 2) = %d", s)
	}
	w, _, err := readNM(1, 5, 2, 4, []float32{1, 2, 3}, []uint8{1, 3, 0})
	if err != nil {
		t.Fatal(err)
	}
	if got := w.ToDense().Data; !slices.Equal(got, []float32{0, 1, 0, 2, 3}) {
		t.Errorf("dense %v", got)
	}
	_, _, err = readNM(1, 5, 2, 4, []float32{1, 2, 3}, []uint8{3, 1, 0})
	if codeOf(t, err) != codeMatrix {
		t.Errorf("decreasing positions: %v", err)
	}
}

func TestHandles(t *testing.T) {
	d, _ := formats.NewDense(2, 2, []float32{1, 2, 3, 4})
	live := livePlans.Load()
	h, err := compile(d, defaultOptions(), "note\n")
	if err != nil {
		t.Fatal(err)
	}
	if h == 0 || h>>32 == 0 {
		t.Fatalf("handle %#x", h)
	}
	e, err := lookup(h)
	if err != nil || !strings.HasPrefix(e.note, "note") {
		t.Fatal(err)
	}
	if livePlans.Load() != live+1 {
		t.Errorf("live plans %d, want %d", livePlans.Load(), live+1)
	}
	if err := release(h); err != nil {
		t.Fatal(err)
	}
	if _, err := lookup(h); codeOf(t, err) != codeHandle {
		t.Errorf("lookup after free: %v", err)
	}
	if err := release(h); codeOf(t, err) != codeHandle {
		t.Errorf("double free: %v", err)
	}
	// The slot is reused with a new generation: the old handle stays dead.
	h2, err := compile(d, defaultOptions(), "")
	if err != nil {
		t.Fatal(err)
	}
	if uint32(h2) != uint32(h) || h2 == h {
		t.Logf("slot not reused (%#x, %#x): fine, but the generation check is untested", h, h2)
	}
	if _, err := lookup(h); codeOf(t, err) != codeHandle {
		t.Errorf("stale handle resolved after reuse: %v", err)
	}
	if err := release(0); err != nil {
		t.Errorf("free(0): %v", err)
	}
	// A plan freed while in use: calls already holding the entry see ErrClosed.
	e2, _ := lookup(h2)
	if err := release(h2); err != nil {
		t.Fatal(err)
	}
	y := make([]float32, 2)
	if err := e2.plan.Mul(y, 1, []float32{1, 1}, 1, 1); codeOf(t, err) != codeHandle {
		t.Errorf("Mul on a freed plan: %v", err)
	}
	if livePlans.Load() != live {
		t.Errorf("live plans %d, want %d", livePlans.Load(), live)
	}
}

func TestHandlesConcurrent(t *testing.T) {
	d, _ := formats.NewDense(1, 1, []float32{2})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				h, err := compile(d, defaultOptions(), "")
				if err != nil {
					t.Error(err)
					return
				}
				e, err := lookup(h)
				if err != nil {
					t.Error(err)
					return
				}
				y := []float32{0}
				if err := e.plan.Mul(y, 1, []float32{float32(g + i)}, 1, 1); err != nil || y[0] != float32(2*(g+i)) {
					t.Errorf("y = %v, err %v", y, err)
				}
				if err := release(h); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
}

func TestCompileOptions(t *testing.T) {
	d, _ := formats.NewDense(2, 3, []float32{1, 0, 2, 0, -3, 0})
	o := defaultOptions()
	o.hasBias, o.bias = true, []float32{1}
	if _, err := compile(d, o, ""); codeOf(t, err) != codeArgument || !strings.Contains(err.Error(), "bias_len = 1, want M = 2") {
		t.Errorf("short bias: %v", err)
	}
	o = defaultOptions()
	o.act = 9
	if _, err := compile(d, o, ""); codeOf(t, err) != codeArgument {
		t.Errorf("activation 9: %v", err)
	}
	o = defaultOptions()
	o.act, o.lo, o.hi = int32(ref.ActClamp), 1, 0
	if _, err := compile(d, o, ""); codeOf(t, err) != codeArgument {
		t.Errorf("clamp 1 > 0: %v", err)
	}
	o = defaultOptions()
	o.threads = -1
	if _, err := compile(d, o, ""); codeOf(t, err) != codeArgument {
		t.Errorf("threads -1: %v", err)
	}
	o.threads = 100000
	if _, err := compile(d, o, ""); codeOf(t, err) != codeArgument {
		t.Errorf("threads 100000: %v", err)
	}
	o = defaultOptions()
	o.isa = "mmx"
	if _, err := compile(d, o, ""); codeOf(t, err) != codeArgument {
		t.Errorf("isa mmx: %v", err)
	}
	o = defaultOptions()
	if runtime.GOARCH == "amd64" {
		o.isa = "neon"
	} else {
		o.isa = "avx2"
	}
	if _, err := compile(d, o, ""); codeOf(t, err) != codeUnsupported {
		t.Errorf("isa %s on %s: %v", o.isa, runtime.GOARCH, err)
	}
	o = defaultOptions()
	o.record = t.TempDir() + "/missing.json"
	if _, err := compile(d, o, ""); codeOf(t, err) != codeRecord {
		t.Errorf("missing record: %v", err)
	}
	// A corrupt record is ignored, with a note.
	o.record = t.TempDir() + "/bad.json"
	if err := writeFile(o.record, "{not json"); err != nil {
		t.Fatal(err)
	}
	h, err := compile(d, o, "")
	if err != nil {
		t.Fatalf("corrupt record: %v", err)
	}
	e, _ := lookup(h)
	if !strings.Contains(e.note, "ignored") {
		t.Errorf("note %q does not say the record was ignored", e.note)
	}
	release(h)

	// The epilogue reaches the plan: bias, clamp, and the bias is a copy.
	o = defaultOptions()
	bias := []float32{10, 20}
	o.hasBias, o.bias, o.act, o.lo, o.hi = true, bias, int32(ref.ActClamp), -5, 15
	h, err = compile(d, o, "")
	if err != nil {
		t.Fatal(err)
	}
	bias[0], bias[1] = 1000, 1000
	e, _ = lookup(h)
	y := make([]float32, 2)
	if err := e.plan.Mul(y, 1, []float32{1, 1, 1}, 1, 1); err != nil {
		t.Fatal(err)
	}
	if y[0] != 13 || y[1] != 15 { // clamp(1+2+10) = 13, clamp(-3+20) = 15
		t.Errorf("y = %v, want [13 15]", y)
	}
	release(h)
}

func TestSetDefaultThreads(t *testing.T) {
	old, err := setDefaultThreads(1)
	if err != nil {
		t.Fatal(err)
	}
	defer runtime.GOMAXPROCS(int(old))
	if runtime.GOMAXPROCS(0) != 1 {
		t.Errorf("GOMAXPROCS %d after setting 1", runtime.GOMAXPROCS(0))
	}
	if prev, _ := setDefaultThreads(0); prev != 1 {
		t.Errorf("previous = %d, want 1", prev)
	}
	if _, err := setDefaultThreads(-2); codeOf(t, err) != codeArgument {
		t.Errorf("-2: %v", err)
	}
	// More threads than a plan may use is refused (it used to be accepted, and the next
	// plan's calls stopped the process past Go's 10000-thread limit), and changes nothing.
	before := runtime.GOMAXPROCS(0)
	if _, err := setDefaultThreads(100000); codeOf(t, err) != codeArgument {
		t.Errorf("100000: %v", err)
	}
	if runtime.GOMAXPROCS(0) != before {
		t.Errorf("GOMAXPROCS %d after a refused call, was %d", runtime.GOMAXPROCS(0), before)
	}
	if _, err := setDefaultThreads(dispatch.MaxThreads); err != nil {
		t.Errorf("%d: %v", dispatch.MaxThreads, err)
	}
	if _, err := setDefaultThreads(dispatch.MaxThreads + 1); codeOf(t, err) != codeArgument {
		t.Errorf("%d: %v", dispatch.MaxThreads+1, err)
	}
}

// TestHugeShapes: shapes whose copies cannot fit in memory are SG_ERR_NOMEM before anything
// is allocated (Go cannot recover from a failed allocation), not SG_ERR_INTERNAL.
func TestHugeShapes(t *testing.T) {
	for _, sh := range [][2]int64{{1 << 40, 1 << 20}, {1 << 50, 1}, {math.MaxInt64, 0}} {
		if err := checkDims(sh[0], sh[1]); codeOf(t, err) != codeNoMem {
			t.Errorf("%d×%d: %v, want SG_ERR_NOMEM", sh[0], sh[1], err)
		}
	}
	if err := checkDims(1<<20, 1<<20); err != nil {
		t.Errorf("1M×1M (8 MiB of row pointers): %v", err)
	}
	if err := checkAlloc("x", 1<<40, 1<<10); codeOf(t, err) != codeNoMem {
		t.Errorf("2⁵⁰ bytes: %v", err)
	}
	if err := checkAlloc("x", math.MaxInt64, 8); codeOf(t, err) != codeNoMem {
		t.Errorf("overflowing bytes: %v", err)
	}
	if err := checkAlloc("x", 1<<20, 4); err != nil {
		t.Errorf("4 MiB: %v", err)
	}
}

func TestClassify(t *testing.T) {
	if classify(dispatch.ErrClosed) != codeHandle || classify(ref.ErrShape) != codeShape ||
		classify(&formats.InvalidError{}) != codeMatrix || classify(errors.New("x")) != codeArgument {
		t.Error("classify maps a sentinel to the wrong code")
	}
}

func writeFile(path, s string) error { return os.WriteFile(path, []byte(s), 0o644) }

// BenchmarkPlanMulTiny is the Go-side time of the tiny plans examples/c/bench.c and
// python/bench.py call through the ABI: their difference is the ABI's per-call overhead.
func BenchmarkPlanMulTiny(b *testing.B) {
	for _, c := range []struct {
		name   string
		m, k   int
		tokens bool
	}{{"1x1", 1, 1, false}, {"1x1_tokens", 1, 1, true}, {"8x8", 8, 8, false}} {
		b.Run(c.name, func(b *testing.B) {
			w := make([]float32, c.m*c.k)
			for i := range w {
				w[i] = float32(i % 3)
			}
			d, _ := formats.NewDense(c.m, c.k, w)
			p, err := dispatch.Compile(d, dispatch.Options{Threads: 1})
			if err != nil {
				b.Fatal(err)
			}
			x, y := make([]float32, c.k), make([]float32, c.m)
			for b.Loop() {
				if c.tokens {
					err = p.MulTokens(y, c.m, x, c.k, 1)
				} else {
					err = p.Mul(y, 1, x, 1, 1)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
