package asm

import (
	"encoding/binary"
	"fmt"

	"github.com/sparsegen/sparsegen/formats"
)

// CSR × vector over values stored in bf16, fp16 or int8 (formats.CSRLP; generated kernels
// from gen/kernels/spmvlp.go): the SpMV of spmv.go (gather-free on x86, packed in blocks of
// spmvKBlock columns; gather on NEON) with each value vector widened to float32 as it is
// loaded, the same 16-bit index stream, row chunks and fused epilogue; an int8 row's sum is
// multiplied by its scale before the epilogue. At N = 1 a nonzero costs 2 + 2 bytes (int8:
// 1 + 2) instead of 4 + 2.
//
// The plan copies the values compactly in their dtype, padded by one vector of zeros as
// the index stream is (the kernels read whole vectors; the last chunk of a row clears the
// lanes past it). Families spmv_csr_i16_<dtype>_<isa> take K ≤ 65536;
// spmv_csr_i32_<dtype>_generic, pure Go, takes any K and runs everywhere.
//
// N range: the generated families are for N = 1 (MaxN 1; the CSRLP tiles of csrlp.go take
// N ≥ 2); the pure-Go one is the only kernel for such weights under purego and for
// K > 65536, so it declares every N (MaxN 0) and runs N > 1 column by column. Any of them
// is correct at any N (column by column).

// spmvLPFunc is a generated low-precision SpMV kernel (gen/kernels/spmvlp.go).
type spmvLPFunc func(vals *uint8, idx *uint16, cnt *uint32, nrows int, x, y *float32, ldy, flags int, bias, scale *float32, lo, hi float32)

// CSRLPFormat is the asm.Family.Format of the families that take a formats.CSRLP of dtype
// t: "csr_bf16", "csr_f16", "csr_i8".
func CSRLPFormat(t formats.DType) string { return "csr_" + t.String() }

// spmvLPSpecs lists the registered low-precision SpMV families (tests run each).
var spmvLPSpecs []*spmvSpec

// registerSpMVLPGen registers the low-precision SpMV family of a generated manifest on its
// kernel (gatherFree: the generated table's flag, the gather-free body, packed in column
// blocks).
func registerSpMVLPGen(m []Desc, fn spmvLPFunc, gatherFree bool) {
	for _, d := range m {
		t, err := formats.ParseDType(d.DType)
		if err != nil {
			panic(fmt.Sprintf("asm: %s: %v", d.Name, err))
		}
		registerSpMVLP(&spmvSpec{Desc: d, dtype: t, lp: fn, colBlocks: gatherFree})
	}
}

func registerSpMVLP(s *spmvSpec) {
	spmvLPSpecs = append(spmvLPSpecs, s)
	registerSpMV(s)
}

func init() {
	for _, t := range []formats.DType{formats.BF16, formats.F16, formats.I8} {
		registerSpMVLP(&spmvSpec{Desc: Desc{Name: "spmv_csr_i32_" + t.String() + "_generic", Source: "asm/spmvlp.go runLP",
			Format: CSRLPFormat(t), ISA: Generic, DType: t.String(), Rows: 1, IndexBits: 32, MinN: 1}, dtype: t})
	}
}

// packSpMVLP packs a CSRLP of the family's dtype: its pattern as packSpMV does, its values
// as stored (little-endian 16-bit patterns or int8), and the int8 row scales.
func packSpMVLP(s *spmvSpec, w formats.Matrix) (*spmvKernel, error) {
	c, ok := w.(*formats.CSRLP)
	if !ok || c == nil || c.DType != s.dtype {
		return nil, fmt.Errorf("%w: %s takes CSR with %s values, not %T", ErrNotApplicable, s.Name, s.dtype, w)
	}
	if err := c.ValidateStructure(); err != nil {
		return nil, err
	}
	if s.kBlocked(c.Cols) {
		k, pos, err := packSpMVBlocks(s, c.Rows, c.Cols, c.RowPtr, c.ColIdx, c.Validate)
		if err != nil {
			return nil, err
		}
		for b, blk := range k.blocks {
			blk.setLP(c, pos[b])
		}
		return k, nil
	}
	k, err := packSpMVPattern(s, c.Rows, c.Cols, c.RowPtr, c.ColIdx, c.Validate)
	if err != nil {
		return nil, err
	}
	k.setLP(c, nil)
	return k, nil
}

// setLP copies c's values into k in their dtype, padded by one vector of zeros: those at
// positions pos (a column block's), or all of them where pos is nil; an int8 kernel also
// gets the row scales.
func (k *spmvKernel) setLP(c *formats.CSRLP, pos []int64) {
	s := k.spec
	n := len(c.ColIdx)
	if pos != nil {
		n = len(pos)
	}
	at := func(q int) int {
		if pos != nil {
			return int(pos[q])
		}
		return q
	}
	k.lp = make([]byte, (n+s.Lanes)*s.dtype.Bytes())
	if s.dtype == formats.I8 {
		for q := 0; q < n; q++ {
			k.lp[q] = byte(c.I8[at(q)])
		}
		k.scale = append([]float32(nil), c.Scale...)
	} else {
		for q := 0; q < n; q++ {
			binary.LittleEndian.PutUint16(k.lp[2*q:], c.Bits[at(q)])
		}
	}
}

// spmvLPDummy stands in for an empty X (K = 0: no row has an entry, nothing reads it).
var spmvLPDummy float32

// runLP computes column j's rows [r, re) of a low-precision kernel: x is the column
// (contiguous), yr starts at Y[r, j], bias is the whole bias (flags say whether it is
// added). The generated kernel, or the pure-Go one: each row's values widened one by one
// into four partial sums (entry p of the row into p mod 4), ((s0 + s1) + (s2 + s3)), times
// the int8 scale, then the epilogue.
func (k *spmvKernel) runLP(r, re int, x, yr []float32, ldy, flags int, bias []float32, lo, hi float32) {
	s := k.spec
	if s.lp != nil {
		p := k.start[r]
		xp, bp, sp := &spmvLPDummy, &spmvLPDummy, &spmvLPDummy
		if len(x) > 0 {
			xp = &x[0]
		}
		if flags&epiBias != 0 {
			bp = &bias[r]
		}
		if k.scale != nil {
			sp = &k.scale[r]
		}
		s.lp(&k.lp[p*int64(s.dtype.Bytes())], &k.idx16[p], &k.cnt[r], re-r, xp, &yr[0], ldy, flags, bp, sp, lo, hi)
		return
	}
	for i := r; i < re; i++ {
		var acc [4]float32
		lo0 := k.start[i]
		for p := lo0; p < k.start[i+1]; p++ {
			var v float32
			switch s.dtype {
			case formats.BF16:
				v = formats.BF16ToFloat32(binary.LittleEndian.Uint16(k.lp[2*p:]))
			case formats.F16:
				v = formats.F16ToFloat32(binary.LittleEndian.Uint16(k.lp[2*p:]))
			default:
				v = float32(int8(k.lp[p]))
			}
			acc[(p-lo0)&3] += v * x[k.idx32[p]]
		}
		sum := (acc[0] + acc[1]) + (acc[2] + acc[3])
		if k.scale != nil {
			sum *= k.scale[i]
		}
		if flags&epiBias != 0 {
			sum += bias[i]
		}
		y := &yr[(i-r)*ldy]
		if flags&epiLoadY != 0 {
			sum += *y
		}
		if flags&epiClamp != 0 {
			sum = clampNaN(sum, lo, hi)
		}
		*y = sum
	}
}
