package asm

import (
	"encoding/binary"
	"fmt"
	"sync"
	"unsafe"

	"github.com/sparsegen/sparsegen/formats"
	"github.com/sparsegen/sparsegen/ref"
)

// Dense GEMV over weights stored in bf16, fp16 or int8 (formats.DenseLP; generated kernels
// from gen/kernels/gemvlp.go): the float32 GEMV (gemv.go) with W's vectors widened to
// float32 as they are loaded, accumulated in float32, the same X panels, long row streams
// in one pass (gemvStreams), chunking beyond it and fused epilogue; an int8 row's sum is multiplied by its scale before the epilogue. At
// N = 1 W streams from memory at 2 or 1 bytes per weight instead of 4.
//
// The plan copies W into 64-byte aligned rows of ldw = K rounded up to 64 elements, padding
// zero: the kernels read a row's last vector whole (AVX2 has no masked 8- or 16-bit
// loads), and a zero weight times X's masked-off (zero) lane adds +0.
//
// N range: these are the only kernels for such weights, so a family declares every N
// (MaxN 0) and runs N > 4 as passes of up to 4 columns over each L2-resident chunk of W.
// Correct at any N; a GEMM over low-precision weights is still to be written (issue 17).

// gemvLPFunc is a generated low-precision GEMV kernel (gen/kernels/gemvlp.go).
type gemvLPFunc func(w *uint8, ldw, rows, k int, x, y *float32, ldy, flags int, bias, scale *float32, lo, hi float32, gap int)

// gemvLPGenKernel is one generated kernel as the generated tables list it.
type gemvLPGenKernel struct {
	rows, cols int
	fn         gemvLPFunc
}

// gemvLPAlign is the element multiple every packed row is padded to (64 int8 = one cache
// line; a multiple of every ISA's vector).
const gemvLPAlign = 64

// gemvLPSpec is one low-precision GEMV family: a dtype and the kernels of one ISA (or none:
// pure Go).
type gemvLPSpec struct {
	Desc                               // Lanes: the X panel's vector width (0 for the pure-Go kernel)
	dtype formats.DType                // the stored type (Desc.DType spells it)
	kern  [gemvMaxCols]gemvLPGenKernel // by column count − 1; fn nil: pure Go
}

// LPFormat is the asm.Family.Format of the families that take a formats.DenseLP of dtype t:
// "dense_bf16", "dense_f16", "dense_i8".
func LPFormat(t formats.DType) string { return "dense_" + t.String() }

// gemvLPSpecs lists the registered families (tests run each).
var gemvLPSpecs []*gemvLPSpec

func registerGemvLP(s *gemvLPSpec) {
	gemvLPSpecs = append(gemvLPSpecs, s)
	Register(Family{
		Desc: &s.Desc,
		Pack: func(w formats.Matrix) (Kernel, error) { return packGemvLP(s, w) },
	})
}

// registerGemvLPGen registers the low-precision GEMV family of a generated manifest on its
// kernels.
func registerGemvLPGen(m []Desc, kern [gemvMaxCols]gemvLPGenKernel) {
	for _, d := range m {
		t, err := formats.ParseDType(d.DType)
		if err != nil {
			panic(fmt.Sprintf("asm: %s: %v", d.Name, err))
		}
		registerGemvLP(&gemvLPSpec{Desc: d, dtype: t, kern: kern})
	}
}

func init() {
	for _, t := range []formats.DType{formats.BF16, formats.F16, formats.I8} {
		registerGemvLP(&gemvLPSpec{Desc: Desc{Name: "gemv_dense_" + t.String() + "_generic", Source: "asm/gemvlp.go runGo",
			Format: LPFormat(t), ISA: Generic, DType: t.String(), Rows: gemvUnitRows, MinN: 1, ExactN: true}, dtype: t})
	}
}

// gemvLPKernel is a DenseLP packed for one gemvLPSpec.
type gemvLPKernel struct {
	spec  *gemvLPSpec
	m, k  int
	ldw   int       // row stride in elements: K rounded up to gemvLPAlign
	w     []byte    // m × ldw elements (little-endian 16-bit, or int8), 64-byte aligned, padding zero
	scale []float32 // int8: per row; else nil
	cost  []int64
	pool  sync.Pool // *[]float32: X panels
}

func alignedBytes(n int) []byte {
	buf := make([]byte, n+64)
	off := 0
	if a := uintptr(unsafe.Pointer(unsafe.SliceData(buf))) & 63; a != 0 {
		off = int(64 - a)
	}
	return buf[off : off+n : off+n]
}

func packGemvLP(s *gemvLPSpec, w formats.Matrix) (Kernel, error) {
	d, ok := w.(*formats.DenseLP)
	if !ok || d == nil || d.DType != s.dtype {
		return nil, fmt.Errorf("%w: %s takes a dense %s matrix, not %T", ErrNotApplicable, s.Name, s.dtype, w)
	}
	if err := d.Validate(); err != nil {
		return nil, err
	}
	m, k := d.Rows, d.Cols
	ldw := (k + gemvLPAlign - 1) &^ (gemvLPAlign - 1)
	eb := s.dtype.Bytes()
	if int64(m)*int64(ldw) > int64(^uint(0)>>1)/8 {
		return nil, fmt.Errorf("%w: %d×%d weight is too large to pack", ref.ErrShape, m, k)
	}
	g := &gemvLPKernel{spec: s, m: m, k: k, ldw: ldw, w: alignedBytes(m * ldw * eb)}
	for i := 0; i < m && k > 0; i++ { // M×0: the data may be empty
		dst := g.w[i*ldw*eb:]
		o := i * d.Stride
		if s.dtype == formats.I8 {
			for j, q := range d.I8[o : o+k] {
				dst[j] = byte(q)
			}
			continue
		}
		for j, b := range d.Bits[o : o+k] {
			binary.LittleEndian.PutUint16(dst[2*j:], b)
		}
	}
	if s.dtype == formats.I8 {
		g.scale = append([]float32(nil), d.Scale...)
	}
	units := (m + gemvUnitRows - 1) / gemvUnitRows
	g.cost = uniformCost(units, int64(gemvUnitRows)*((int64(k)*int64(eb)+3)/4))
	return g, nil
}

func (g *gemvLPKernel) Name() string      { return g.spec.Name }
func (g *gemvLPKernel) ISA() ISA          { return g.spec.ISA }
func (g *gemvLPKernel) Shape() (int, int) { return g.m, g.k }
func (g *gemvLPKernel) Units() int        { return len(g.cost) - 1 }
func (g *gemvLPKernel) UnitCost() []int64 { return g.cost }
func (g *gemvLPKernel) PackedBytes() int64 {
	return int64(len(g.w)) + 4*int64(len(g.scale))
}
func (g *gemvLPKernel) UnitRows(u int) (int, int) {
	return u * gemvUnitRows, min((u+1)*gemvUnitRows, g.m)
}

// gemvLPDummy stands in for an empty operand (a kernel given k = 0 reads no W).
var gemvLPDummy [gemvLPAlign * 2]byte

// Run computes rows of units [u0, u1), columns [0, n).
func (g *gemvLPKernel) Run(u0, u1 int, x []float32, ldx int, y []float32, ldy, n int, epi *ref.Epilogue) error {
	if err := CheckRun(g, u0, u1, x, ldx, y, ldy, n, epi); err != nil {
		return err
	}
	if n == 0 || u0 == u1 {
		return nil
	}
	r0, r1 := g.UnitRows(u0)
	_, r1 = g.UnitRows(u1 - 1)
	first, last, lo, hi, bias, post := csrEpilogue(epi)
	flags := first | last
	s := g.spec
	if s.kern[0].fn == nil {
		g.runGo(r0, r1, x, ldx, y, ldy, n, flags, bias, lo, hi)
		if post != ref.ActNone {
			activateTile(post, y, ldy, r0, r1, 0, n)
		}
		return nil
	}
	// The X panels of every pass, as the float32 GEMV packs them.
	cw := gemvWidest(s.kern[:], func(k gemvLPGenKernel) bool { return k.fn != nil })
	gx := newGemvX(&g.pool, x, ldx, g.k, n, s.Lanes, cw)
	defer gx.put()
	eb := s.dtype.Bytes()
	if n <= cw {
		// One pass: W read once, in long row streams (gemvStreams).
		kn := s.kern[n-1]
		gemvStreams(r0, r1, kn.rows, eb*g.ldw, func(rs, rows, gap int) {
			g.call(kn.fn, rs, gx.pass(0), y, ldy, rows, flags, bias, lo, hi, gap)
			activateTile(post, y, ldy, rs, rs+rows, 0, n)
		})
		return nil
	}
	chunk := max(gemvUnitRows, gemvChunkBytes/(eb*max(g.ldw, 1))&^(gemvUnitRows-1))
	for rs := r0; rs < r1; rs += chunk {
		re := min(rs+chunk, r1)
		for j0 := 0; j0 < n; j0 += cw {
			c := min(cw, n-j0)
			g.call(s.kern[c-1].fn, rs, gx.pass(j0), y[j0:], ldy, re-rs, flags, bias, lo, hi, 1)
		}
		if post != ref.ActNone {
			activateTile(post, y, ldy, rs, re, 0, n)
		}
	}
	return nil
}

// call runs kernel fn on rows [rs, rs+rows) with gap, X at x, Y from y[rs·ldy].
func (g *gemvLPKernel) call(fn gemvLPFunc, rs int, x *float32, y []float32, ldy, rows, flags int, bias []float32, lo, hi float32, gap int) {
	wp := &gemvLPDummy[0]
	if g.k > 0 {
		wp = &g.w[rs*g.ldw*g.spec.dtype.Bytes()]
	}
	bptr, sptr := &gemvDummy, &gemvDummy
	if flags&epiBias != 0 {
		bptr = &bias[rs]
	}
	if g.scale != nil {
		sptr = &g.scale[rs]
	}
	fn(wp, g.ldw, rows, g.k, x, &y[rs*ldy], ldy, flags, bptr, sptr, lo, hi, gap)
}

// runGo is the pure-Go kernel: each row widened into a buffer, then the float32 GEMV's
// four partial sums per dot product; int8 rows times their scale, then the epilogue.
func (g *gemvLPKernel) runGo(r0, r1 int, x []float32, ldx int, y []float32, ldy, n, flags int, bias []float32, lo, hi float32) {
	k, eb := g.k, g.spec.dtype.Bytes()
	row := make([]float32, k)
	xc := make([]float32, k)
	for r := r0; r < r1; r++ {
		src := g.w[r*g.ldw*eb:]
		switch g.spec.dtype {
		case formats.BF16:
			for j := range row {
				row[j] = formats.BF16ToFloat32(binary.LittleEndian.Uint16(src[2*j:]))
			}
		case formats.F16:
			for j := range row {
				row[j] = formats.F16ToFloat32(binary.LittleEndian.Uint16(src[2*j:]))
			}
		case formats.I8:
			for j := range row {
				row[j] = float32(int8(src[j]))
			}
		}
		for j := 0; j < n; j++ {
			xv := xc
			for kk := range xc {
				xc[kk] = x[kk*ldx+j]
			}
			var s0, s1, s2, s3 float32
			q := 0
			for ; q+4 <= k; q += 4 {
				s0 += row[q] * xv[q]
				s1 += row[q+1] * xv[q+1]
				s2 += row[q+2] * xv[q+2]
				s3 += row[q+3] * xv[q+3]
			}
			for ; q < k; q++ {
				s0 += row[q] * xv[q]
			}
			s := (s0 + s1) + (s2 + s3)
			if g.scale != nil {
				s *= g.scale[r]
			}
			if flags&epiBias != 0 {
				s += bias[r]
			}
			if flags&epiLoadY != 0 {
				s += y[r*ldy+j]
			}
			if flags&epiClamp != 0 {
				s = clampNaN(s, lo, hi)
			}
			y[r*ldy+j] = s
		}
	}
}
