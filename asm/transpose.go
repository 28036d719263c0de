package asm

import (
	"fmt"
	"sync"
	"unsafe"

	"github.com/sparsegen/sparsegen/internal/extent"
	"github.com/sparsegen/sparsegen/ref"
)

// Float32 matrix transpose for token-major multiplication. Full L×L tiles (L = the ISA's
// float32 lanes: 16 on AVX-512, 8 on AVX2, 4 on NEON) go through the generated kernels
// (transpose_<isa>_<goarch>.s, from gen/kernels/transpose.go); the ragged right and bottom
// edges go through the pure-Go loop, which is also the whole path on the Generic ISA and the
// tests' oracle. Transposing only moves bits: NaN payloads, signed zeros and infinities are
// copied exactly, on every ISA.

// transposeTileFunc is a generated tile kernel: rowTiles×colTiles full L×L tiles of src
// (row stride lds elements) transposed into dst (row stride ldd elements).
type transposeTileFunc func(dst *float32, ldd int, src *float32, lds int, rowTiles int, colTiles int)

// Loop orders of the generated kernels (index into transpose<ISA>Kernels).
const (
	transposeColsOuter = iota // tile columns outer: L sequential write streams in dst
	transposeRowsOuter        // tile rows outer: sequential reads of L rows of src
)

// transposeKernel is one ISA's tile kernels; the ISA files fill transposeKernels in init.
type transposeKernel struct {
	isa      ISA
	lanes    int
	features Feature
	tiles    [2]transposeTileFunc // by loop order
}

var transposeKernels = map[ISA]transposeKernel{}

// transposeAuto: the driver picks the loop order per call (see orderFor).
const transposeAuto = -1

// transposeOrder is the loop order the driver uses: transposeAuto, or one order forced
// (tests).
var transposeOrder = transposeAuto

// orderFor picks the loop order for a transpose with these strides (in floats). Tile
// columns outermost measured faster on Zen 5 (BenchmarkTranspose; 384×128 into rows of 768:
// 3.7 against 7.0 µs), except when the source rows are a multiple of 4 KiB apart and the
// destination rows are not: then the 16 source rows of a tile fall in one L1 set, and
// reading them row-tile by row-tile was faster (128×160 with a source stride of 3072
// floats, a token-major X block at K = 3072: 3.7 against 5.1 µs).
func orderFor(ldd, lds int) int {
	if transposeOrder != transposeAuto {
		return transposeOrder
	}
	if (lds*4)%4096 == 0 && (ldd*4)%4096 != 0 {
		return transposeRowsOuter
	}
	return transposeColsOuter
}

// transposeCallElems bounds the work of one assembly call (DESIGN §6: about 100 µs at
// most, since Go cannot preempt assembly): 2¹⁶ elements, 256 KiB read and 256 KiB written.
const transposeCallElems = 1 << 16

// Transpose writes the rows×cols matrix src (row stride lds) transposed into dst (row
// stride ldd): dst[j·ldd+i] = src[i·lds+j]. It uses the best ISA this CPU and build support
// (TransposeISAs()[0]). Every argument is checked before any assembly runs: negative sizes,
// lds < cols, ldd < rows, slices too short for the shape, or overlapping dst and src give an
// error wrapping ref.ErrShape, and nothing is written.
func Transpose(dst []float32, ldd int, src []float32, lds int, rows, cols int) error {
	return transposeOn(transposeBest(), dst, ldd, src, lds, rows, cols)
}

// TransposeISA is Transpose forced onto one ISA: Generic is the pure-Go loop on any build;
// AVX512, AVX2 and NEON use their generated tile kernels. It returns an error if this
// build has no transpose kernels for isa (another GOARCH, or -tags purego) or the CPU lacks
// a feature they use (x/sys/cpu, which honours GODEBUG=cpu.avx512f=off and friends).
func TransposeISA(isa ISA, dst []float32, ldd int, src []float32, lds int, rows, cols int) error {
	if isa == Generic {
		return transposeOn(nil, dst, ldd, src, lds, rows, cols)
	}
	k, ok := transposeKernels[isa]
	if !ok {
		return fmt.Errorf("asm: Transpose: no %v kernels in this build", isa)
	}
	if missing := k.features &^ hostFeatures(); missing != 0 {
		return fmt.Errorf("asm: Transpose: CPU lacks %v for the %v kernels", missing, isa)
	}
	return transposeOn(&k, dst, ldd, src, lds, rows, cols)
}

// TransposeUpTo is Transpose on the widest kernels that run here within the ISA cap (a
// kernel's or a plan's ISA): AVX512 allows AVX2, the others only themselves; Generic, or
// no kernels for the cap, is the pure-Go loop.
func TransposeUpTo(isa ISA, dst []float32, ldd int, src []float32, lds int, rows, cols int) error {
	return transposeOn(transposeUnder(isa), dst, ldd, src, lds, rows, cols)
}

// TransposeISAUpTo names the ISA TransposeUpTo(isa, …) runs on.
func TransposeISAUpTo(isa ISA) ISA {
	if k := transposeUnder(isa); k != nil {
		return k.isa
	}
	return Generic
}

// transposeWithin lists per ISA cap the kernel sets it allows, widest first.
var transposeWithin = map[ISA][]ISA{AVX512: {AVX512, AVX2}, AVX2: {AVX2}, NEON: {NEON}}

// transposeUnder returns the widest kernel set within cap that this build has and this CPU
// runs, or nil.
func transposeUnder(cap ISA) *transposeKernel {
	for _, isa := range transposeWithin[cap] {
		if k, ok := transposeKernels[isa]; ok && k.features&^hostFeatures() == 0 {
			return &k
		}
	}
	return nil
}

// TransposeISAs lists the ISAs TransposeISA runs on here, best first; Generic is last.
func TransposeISAs() []ISA {
	var out []ISA
	for _, isa := range []ISA{AVX512, AVX2, NEON} {
		if k := transposeUnder(isa); k != nil && k.isa == isa {
			out = append(out, isa)
		}
	}
	return append(out, Generic)
}

// transposeBest is the kernel set Transpose uses (nil: Generic), chosen once.
var transposeBest = sync.OnceValue(func() *transposeKernel { return transposeUnder(TransposeISAs()[0]) })

// checkTranspose validates Transpose's arguments.
func checkTranspose(dst []float32, ldd int, src []float32, lds int, rows, cols int) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: asm: Transpose: "+format, append([]any{ref.ErrShape}, args...)...)
	}
	switch {
	case rows < 0 || cols < 0:
		return bad("negative size %d×%d", rows, cols)
	case lds < cols:
		return bad("source stride %d < %d columns", lds, cols)
	case ldd < rows:
		return bad("destination stride %d < %d rows (dst is cols×rows)", ldd, rows)
	case rows == 0 || cols == 0:
		return nil
	}
	if need, ok := extent.Span(int64(rows), int64(cols), int64(lds)); !ok || int64(len(src)) < need {
		return bad("src has %d elements, a %d×%d matrix with stride %d needs %s", len(src), rows, cols, lds, extent.Need(need, ok))
	}
	if need, ok := extent.Span(int64(cols), int64(rows), int64(ldd)); !ok || int64(len(dst)) < need {
		return bad("dst has %d elements, a %d×%d matrix with stride %d needs %s", len(dst), cols, rows, ldd, extent.Need(need, ok))
	}
	// The spans [first, last] of both operands must not overlap (no in-place transpose).
	s0 := uintptr(unsafe.Pointer(&src[0]))
	s1 := uintptr(unsafe.Pointer(&src[(rows-1)*lds+cols-1]))
	d0 := uintptr(unsafe.Pointer(&dst[0]))
	d1 := uintptr(unsafe.Pointer(&dst[(cols-1)*ldd+rows-1]))
	if s0 <= d1 && d0 <= s1 {
		return bad("dst and src overlap")
	}
	return nil
}

// transposeOn checks the arguments, then runs k's tile kernels on the full tiles and the Go
// loop on the edges (k == nil: the Go loop on everything).
func transposeOn(k *transposeKernel, dst []float32, ldd int, src []float32, lds int, rows, cols int) error {
	if err := checkTranspose(dst, ldd, src, lds, rows, cols); err != nil {
		return err
	}
	if rows == 0 || cols == 0 {
		return nil
	}
	if k == nil {
		transposeGeneric(dst, ldd, src, lds, rows, cols)
		return nil
	}
	l := k.lanes
	rt, ct := rows/l, cols/l
	if rt > 0 && ct > 0 {
		order := orderFor(ldd, lds)
		tile := k.tiles[order]
		// Split into calls of at most transposeCallElems elements, in the kernel's order.
		perCall := max(1, transposeCallElems/(l*l))
		var ri, cj int
		if order == transposeColsOuter {
			ri = min(rt, perCall)
			cj = min(ct, max(1, perCall/ri))
		} else {
			cj = min(ct, perCall)
			ri = min(rt, max(1, perCall/cj))
		}
		call := func(i0, j0 int) {
			nr, nc := min(ri, rt-i0), min(cj, ct-j0)
			tile(&dst[j0*l*ldd+i0*l], ldd, &src[i0*l*lds+j0*l], lds, nr, nc)
		}
		if order == transposeColsOuter {
			for j0 := 0; j0 < ct; j0 += cj {
				for i0 := 0; i0 < rt; i0 += ri {
					call(i0, j0)
				}
			}
		} else {
			for i0 := 0; i0 < rt; i0 += ri {
				for j0 := 0; j0 < ct; j0 += cj {
					call(i0, j0)
				}
			}
		}
	}
	// Right edge: rows [0, rt·l), columns [ct·l, cols).
	if c0 := ct * l; rt > 0 && c0 < cols {
		transposeGeneric(dst[c0*ldd:], ldd, src[c0:], lds, rt*l, cols-c0)
	}
	// Bottom edge: rows [rt·l, rows), every column.
	if r0 := rt * l; r0 < rows {
		transposeGeneric(dst[r0:], ldd, src[r0*lds:], lds, rows-r0, cols)
	}
	return nil
}

// transposeGeneric is the pure-Go transpose (the Generic ISA, the edges of the tiled
// paths, and the tests' oracle): dst[j·ldd+i] = src[i·lds+j], arguments already checked.
// It walks blocks of transposeGoBlock source rows column by column, so each visit to a
// destination row writes a run of consecutive elements (one cache line) instead of a single
// one: the row-by-row loop touches a fresh line, and for long destination rows a fresh page,
// per element (3072×128: 2.1 ms naive, 0.33 ms blocked; row by row within blocks was 1.3 ms,
// the block's destination lines 4 KiB apart collide in L1 sets).
func transposeGeneric(dst []float32, ldd int, src []float32, lds int, rows, cols int) {
	for i0 := 0; i0 < rows; i0 += transposeGoBlock {
		i1 := min(rows, i0+transposeGoBlock)
		for j := 0; j < cols; j++ {
			d := dst[j*ldd+i0 : j*ldd+i1]
			for k := range d {
				d[k] = src[(i0+k)*lds+j]
			}
		}
	}
}

// transposeGoBlock is the row block of transposeGeneric: 16 float32, one cache line of dst.
const transposeGoBlock = 16
