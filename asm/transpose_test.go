package asm

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/sparsegen/sparsegen/ref"
)

// transposeSizes covers every tail of the 16-, 8- and 4-lane tiles.
var transposeSizes = []int{0, 1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 64, 100}

// transposeISAsHere lists the ISAs that run here, and fails the test if TransposeISA accepts
// one it should refuse.
func transposeISAsHere(t *testing.T) []ISA {
	t.Helper()
	here := TransposeISAs()
	if here[len(here)-1] != Generic {
		t.Fatalf("TransposeISAs() = %v, want Generic last", here)
	}
	ok := map[ISA]bool{}
	for _, isa := range here {
		ok[isa] = true
	}
	for _, isa := range []ISA{AVX512, AVX2, NEON} {
		if ok[isa] {
			continue
		}
		src, dst := make([]float32, 256), make([]float32, 256)
		if err := TransposeISA(isa, dst, 16, src, 16, 16, 16); err == nil {
			t.Errorf("TransposeISA(%v) ran, but %v is not in TransposeISAs() = %v", isa, isa, here)
		}
	}
	t.Logf("transpose ISAs here: %v", here)
	return here
}

// randBits fills n float32 with random bit patterns (NaNs with payloads, infinities,
// subnormals and signed zeros included).
func randBits(rng *rand.Rand, n int) []float32 {
	special := []uint32{0x7fc00000, 0xffc00001, 0x7f800001, 0x7f800000, 0xff800000, 0x80000000, 0, 0x00000001, 0x807fffff}
	s := make([]float32, n)
	for i := range s {
		b := rng.Uint32()
		if rng.IntN(4) == 0 {
			b = special[rng.IntN(len(special))]
		}
		s[i] = math.Float32frombits(b)
	}
	return s
}

const transposeSentinel = 0x7fa5a5a5 // a signalling NaN in dst's padding: must survive untouched

// sameBits reports the first index where a and b differ bitwise, or −1.
func sameBits(a, b []float32) int {
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return i
		}
	}
	return -1
}

// checkTransposeCase runs TransposeISA(isa) on the given buffers and compares all of dst
// (padding included) with the Go oracle on a copy.
func checkTransposeCase(t *testing.T, isa ISA, dst []float32, ldd int, src []float32, lds, rows, cols int) {
	t.Helper()
	for i := range dst {
		dst[i] = math.Float32frombits(transposeSentinel)
	}
	want := append([]float32(nil), dst...)
	if rows > 0 && cols > 0 {
		transposeGeneric(want, ldd, src, lds, rows, cols)
	}
	srcCopy := append([]float32(nil), src...)
	if err := TransposeISA(isa, dst, ldd, src, lds, rows, cols); err != nil {
		t.Fatalf("%v %d×%d lds %d ldd %d: %v", isa, rows, cols, lds, ldd, err)
	}
	if i := sameBits(dst, want); i >= 0 {
		t.Fatalf("%v %d×%d lds %d ldd %d: dst[%d] (row %d col %d of dst) = %#08x, want %#08x", isa, rows, cols, lds, ldd,
			i, i/max(ldd, 1), i%max(ldd, 1), math.Float32bits(dst[i]), math.Float32bits(want[i]))
	}
	if i := sameBits(src, srcCopy); i >= 0 {
		t.Fatalf("%v %d×%d: src[%d] changed", isa, rows, cols, i)
	}
}

// The oracle itself, against the definition on a small case.
func TestTransposeGenericDefinition(t *testing.T) {
	rows, cols, lds, ldd := 3, 5, 7, 4
	src := make([]float32, (rows-1)*lds+cols)
	for i := range src {
		src[i] = float32(i)
	}
	dst := make([]float32, (cols-1)*ldd+rows)
	transposeGeneric(dst, ldd, src, lds, rows, cols)
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			if dst[j*ldd+i] != src[i*lds+j] {
				t.Fatalf("dst[%d·%d+%d] = %v, want %v", j, ldd, i, dst[j*ldd+i], src[i*lds+j])
			}
		}
	}
}

// Every ISA that runs here, both loop orders, every tail, exact and padded strides, against
// the Go oracle bit for bit.
func TestTranspose(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	defer func(o int) { transposeOrder = o }(transposeOrder)
	for _, isa := range transposeISAsHere(t) {
		for _, order := range []int{transposeColsOuter, transposeRowsOuter} {
			transposeOrder = order
			for _, rows := range transposeSizes {
				for _, cols := range transposeSizes {
					for _, pad := range [][2]int{{0, 0}, {3, 5}, {16, 1}} {
						lds, ldd := cols+pad[0], rows+pad[1]
						src := randBits(rng, max(0, (rows-1)*lds+cols)+pad[0])
						dst := make([]float32, max(0, (cols-1)*ldd+rows)+pad[1])
						checkTransposeCase(t, isa, dst, ldd, src, lds, rows, cols)
					}
				}
			}
		}
	}
}

// Shapes past one call's budget (transposeCallElems): the driver splits them into several
// kernel calls, in both loop orders.
func TestTransposeChunked(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	defer func(o int) { transposeOrder = o }(transposeOrder)
	for _, isa := range transposeISAsHere(t) {
		for _, order := range []int{transposeColsOuter, transposeRowsOuter} {
			transposeOrder = order
			for _, sh := range [][2]int{{520, 300}, {4200, 20}, {20, 4200}, {768, 128}} {
				rows, cols := sh[0], sh[1]
				lds, ldd := cols+1, rows+2
				src := randBits(rng, (rows-1)*lds+cols)
				dst := make([]float32, (cols-1)*ldd+rows)
				checkTransposeCase(t, isa, dst, ldd, src, lds, rows, cols)
			}
		}
	}
}

// Bad arguments are refused with an error wrapping ref.ErrShape, before anything is written.
func TestTransposeErrors(t *testing.T) {
	big := make([]float32, 1000)
	for _, isa := range transposeISAsHere(t) {
		for _, c := range []struct {
			name            string
			dst             []float32
			ldd             int
			src             []float32
			lds, rows, cols int
		}{
			{"negative rows", big[:100], 10, big[500:], 10, -1, 10},
			{"negative cols", big[:100], 10, big[500:], 10, 10, -1},
			{"lds < cols", big[:100], 10, big[500:], 9, 10, 10},
			{"ldd < rows", big[:100], 9, big[500:], 10, 10, 10},
			{"negative lds, empty", big[:0], 0, big[:0], -1, 0, 0},
			{"short src", big[:100], 10, big[500:599], 10, 10, 10},
			{"short src, strided", make([]float32, 400), 20, make([]float32, 9*32+19), 32, 10, 20},
			{"short dst", big[:99], 10, big[500:600], 10, 10, 10},
			{"short dst, strided", make([]float32, 16*19+15), 17, make([]float32, 16*20), 20, 16, 20},
			{"empty src", big[:100], 10, nil, 10, 10, 10},
			{"huge rows", big[:100], math.MaxInt / 2, big[500:600], 10, math.MaxInt / 2, 10},
			{"huge stride", big[:100], 10, big[500:600], math.MaxInt / 2, 10, 10},
			{"stride MaxInt", big[:100], 10, big[500:600], math.MaxInt, 2, 2},
			{"overlap", big[:200], 16, big[100:400], 16, 16, 16},
			{"overlap, same", big[:256], 16, big[:256], 16, 16, 16},
		} {
			before := append([]float32(nil), big...)
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Errorf("%v %s: panic %v", isa, c.name, r)
					}
				}()
				err := TransposeISA(isa, c.dst, c.ldd, c.src, c.lds, c.rows, c.cols)
				if !errors.Is(err, ref.ErrShape) {
					t.Errorf("%v %s: err = %v, want ref.ErrShape", isa, c.name, err)
				} else if strings.Contains(err.Error(), "%!") {
					t.Errorf("%v %s: malformed message %q", isa, c.name, err)
				}
			}()
			if i := sameBits(big, before); i >= 0 {
				t.Errorf("%v %s: wrote big[%d]", isa, c.name, i)
			}
		}
		// Empty shapes with valid strides are fine and touch nothing.
		for _, sh := range [][2]int{{0, 0}, {0, 5}, {5, 0}} {
			if err := TransposeISA(isa, nil, sh[0], nil, sh[1], sh[0], sh[1]); err != nil {
				t.Errorf("%v %d×%d empty: %v", isa, sh[0], sh[1], err)
			}
		}
	}
	if err := Transpose(big[:1], 1, big[1:2], 1, 1, 1); err != nil || big[0] != big[1] {
		t.Errorf("Transpose 1×1: %v", err)
	}
}

// BenchmarkTranspose times the token-major shapes (src rows×cols → dst cols×rows) on the
// Go loop and every ISA here, in one process; SetBytes counts the bytes read plus written.
// "-rows" variants use the other loop order of the same kernels.
func BenchmarkTranspose(b *testing.B) {
	defer func(o int) { transposeOrder = o }(transposeOrder)
	for _, sh := range [][2]int{{768, 128}, {3072, 128}} {
		rows, cols := sh[0], sh[1]
		rng := rand.New(rand.NewPCG(5, 6))
		src := randBits(rng, rows*cols)
		dst := make([]float32, rows*cols)
		for _, isa := range TransposeISAs() {
			for _, order := range []int{transposeColsOuter, transposeRowsOuter} {
				name := fmt.Sprintf("%dx%d/%v", rows, cols, isa)
				if order == transposeRowsOuter {
					if isa == Generic {
						continue
					}
					name += "-rows"
				}
				b.Run(name, func(b *testing.B) {
					transposeOrder = order
					b.SetBytes(int64(8 * rows * cols))
					for b.Loop() {
						if err := TransposeISA(isa, dst, rows, src, cols, rows, cols); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}

// TestTransposeOrderFor: the automatic loop order reads row-tile by row-tile only when the
// source stride is a multiple of 4 KiB and the destination's is not; forcing wins.
func TestTransposeOrderFor(t *testing.T) {
	defer func(o int) { transposeOrder = o }(transposeOrder)
	transposeOrder = transposeAuto
	for _, c := range []struct{ ldd, lds, want int }{
		{128, 3072, transposeRowsOuter},
		{128, 1024, transposeRowsOuter},
		{128, 768, transposeColsOuter},
		{3072, 128, transposeColsOuter},
		{3072, 3072, transposeColsOuter},
		{100, 100, transposeColsOuter},
	} {
		if got := orderFor(c.ldd, c.lds); got != c.want {
			t.Errorf("orderFor(ldd %d, lds %d) = %d, want %d", c.ldd, c.lds, got, c.want)
		}
	}
	transposeOrder = transposeRowsOuter
	if orderFor(128, 768) != transposeRowsOuter {
		t.Error("a forced order is not used")
	}
}

// TestTransposeUpTo: a cap runs the widest kernels within it that run here (AVX-512 may
// fall back to AVX2, nothing crosses architectures), bitwise as the Go loop.
func TestTransposeUpTo(t *testing.T) {
	here := map[ISA]bool{}
	for _, isa := range TransposeISAs() {
		here[isa] = true
	}
	for _, c := range []struct{ cap, want ISA }{
		{AVX512, map[bool]ISA{true: AVX512, false: map[bool]ISA{true: AVX2, false: Generic}[here[AVX2]]}[here[AVX512]]},
		{AVX2, map[bool]ISA{true: AVX2, false: Generic}[here[AVX2]]},
		{NEON, map[bool]ISA{true: NEON, false: Generic}[here[NEON]]},
		{Generic, Generic},
	} {
		if got := TransposeISAUpTo(c.cap); got != c.want {
			t.Errorf("TransposeISAUpTo(%v) = %v, want %v", c.cap, got, c.want)
		}
		rows, cols := 37, 70
		src := make([]float32, rows*cols)
		for i := range src {
			src[i] = float32(i)
		}
		want, got := make([]float32, rows*cols), make([]float32, rows*cols)
		transposeGeneric(want, rows, src, cols, rows, cols)
		if err := TransposeUpTo(c.cap, got, rows, src, cols, rows, cols); err != nil {
			t.Fatal(err)
		}
		for i := range want {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("cap %v: element %d = %v, want %v", c.cap, i, got[i], want[i])
			}
		}
	}
}
