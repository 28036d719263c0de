package main

/*
#include <stdlib.h>
#include "sparsegen.h"

// Defined in sparsegen.c.
void sgx_set_error(const char *msg, size_t n);
*/
import "C"

import (
	"fmt"
	"math"
	"runtime/debug"
	"unsafe"

	"github.com/sparsegen/sparsegen/dispatch"
	"github.com/sparsegen/sparsegen/formats"
	"github.com/sparsegen/sparsegen/internal/extent"
)

// The Go exports behind the C wrappers of sparsegen.c. Every export recovers panics (no Go
// panic crosses into C), checks pointers and sizes before it makes a slice of caller memory,
// keeps no such slice after it returns, and reports failures as a status code plus the
// calling thread's message (sgx_set_error).

// The status codes of core.go must equal the header's: each line fails to compile otherwise.
var (
	_ [C.SG_OK - codeOK]int
	_ [codeOK - C.SG_OK]int
	_ [C.SG_ERR_NULL - codeNull]int
	_ [codeNull - C.SG_ERR_NULL]int
	_ [C.SG_ERR_ARGUMENT - codeArgument]int
	_ [codeArgument - C.SG_ERR_ARGUMENT]int
	_ [C.SG_ERR_MATRIX - codeMatrix]int
	_ [codeMatrix - C.SG_ERR_MATRIX]int
	_ [C.SG_ERR_SHAPE - codeShape]int
	_ [codeShape - C.SG_ERR_SHAPE]int
	_ [C.SG_ERR_HANDLE - codeHandle]int
	_ [codeHandle - C.SG_ERR_HANDLE]int
	_ [C.SG_ERR_UNSUPPORTED - codeUnsupported]int
	_ [codeUnsupported - C.SG_ERR_UNSUPPORTED]int
	_ [C.SG_ERR_RECORD - codeRecord]int
	_ [codeRecord - C.SG_ERR_RECORD]int
	_ [C.SG_ERR_BUFFER - codeBuffer]int
	_ [codeBuffer - C.SG_ERR_BUFFER]int
	_ [C.SG_ERR_NOMEM - codeNoMem]int
	_ [codeNoMem - C.SG_ERR_NOMEM]int
	_ [C.SG_ERR_INTERNAL - codeInternal]int
	_ [codeInternal - C.SG_ERR_INTERNAL]int
	_ [C.SG_DTYPE_BF16 - C.int(formats.BF16)]int
	_ [C.int(formats.BF16) - C.SG_DTYPE_BF16]int
	_ [C.SG_DTYPE_F16 - C.int(formats.F16)]int
	_ [C.int(formats.F16) - C.SG_DTYPE_F16]int
	_ [C.SG_DTYPE_I8 - C.int(formats.I8)]int
	_ [C.int(formats.I8) - C.SG_DTYPE_I8]int
	_ [C.SG_MAX_THREADS - dispatch.MaxThreads]int
	_ [dispatch.MaxThreads - C.SG_MAX_THREADS]int
)

// report sets the thread's message for err and returns its code.
func report(err error) C.int {
	code := classify(err)
	msg := err.Error()
	if msg == "" {
		msg = "unknown error"
	}
	C.sgx_set_error((*C.char)(unsafe.Pointer(unsafe.StringData(msg))), C.size_t(len(msg)))
	return C.int(code)
}

// catch turns a panic into SG_ERR_INTERNAL; every export defers it.
func catch(rc *C.int) {
	if r := recover(); r != nil {
		stack := string(debug.Stack())
		*rc = report(fail(codeInternal, "sparsegen internal error (please report): %v\n%s", r, stack))
	}
}

func readOptions(p *C.sg_options) (options, error) {
	o := defaultOptions()
	if p == nil {
		return o, nil
	}
	if uintptr(p.struct_size) < unsafe.Sizeof(*p) {
		return o, fail(codeArgument, "sg_options.struct_size = %d, want %d: initialize options with sg_options_init", p.struct_size, unsafe.Sizeof(*p))
	}
	o.act = int32(p.activation)
	o.lo, o.hi = float32(p.lo), float32(p.hi)
	o.accumulate = p.accumulate != 0
	o.threads = int32(p.threads)
	if p.bias != nil {
		if p.bias_len < 0 || int64(p.bias_len) > math.MaxInt32 {
			return o, fail(codeArgument, "options.bias_len = %d out of range", p.bias_len)
		}
		o.hasBias = true
		o.bias = unsafe.Slice((*float32)(unsafe.Pointer(p.bias)), int(p.bias_len))
	} else if p.bias_len != 0 {
		return o, fail(codeNull, "options.bias is NULL but bias_len = %d", p.bias_len)
	}
	o.isa = goString(p.isa)
	o.record = goString(p.record_path)
	o.format = goString(p.format)
	return o, nil
}

func goString(s *C.char) string {
	if s == nil {
		return ""
	}
	return C.GoString(s)
}

// floats views n caller floats (nil when n = 0); it checks the pointer first.
func floats(p *C.float, n int64, name string) ([]float32, error) {
	if n == 0 {
		return nil, nil
	}
	if p == nil {
		return nil, fail(codeNull, "%s is NULL but %d values are needed", name, n)
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(p)), n), nil
}

func indices(p unsafe.Pointer, typ C.int, n int64, name string) (indexArray, error) {
	var a indexArray
	switch typ {
	case C.SG_INDEX_INT32, C.SG_INDEX_INT64:
	default:
		return a, fail(codeArgument, "%s_type = %d: want SG_INDEX_INT32 (4) or SG_INDEX_INT64 (8)", name, typ)
	}
	if n == 0 {
		return a, nil
	}
	if p == nil {
		return a, fail(codeNull, "%s is NULL but %d entries are needed", name, n)
	}
	if typ == C.SG_INDEX_INT32 {
		a.i32 = unsafe.Slice((*int32)(p), n)
	} else {
		a.i64 = unsafe.Slice((*int64)(p), n)
	}
	return a, nil
}

// create is the frame of every sgx_plan_* export: check out, read the options and the
// shape, build the canonical matrix from the caller's arrays, compile it, store the handle.
func create(out *C.sg_plan, opts *C.sg_options, m, k C.int64_t, build func() (formats.Matrix, string, error)) C.int {
	if out == nil {
		return report(fail(codeNull, "out (the sg_plan to write) is NULL"))
	}
	*out = 0
	o, err := readOptions(opts)
	if err == nil {
		err = checkDims(int64(m), int64(k))
	}
	if err != nil {
		return report(err)
	}
	w, note, err := build()
	if err != nil {
		return report(err)
	}
	h, err := compile(w, o, note)
	if err != nil {
		return report(err)
	}
	*out = C.sg_plan(h)
	return C.SG_OK
}

//export sgx_plan_dense
func sgx_plan_dense(out *C.sg_plan, m, k C.int64_t, w *C.float, ldw C.int64_t, opts *C.sg_options) (rc C.int) {
	defer catch(&rc)
	return create(out, opts, m, k, func() (formats.Matrix, string, error) {
		if ldw < k || ldw < 0 {
			return nil, "", fail(codeArgument, "ldw = %d < K = %d", ldw, k)
		}
		n, ok := extent.Span(int64(m), int64(k), int64(ldw))
		if !ok {
			return nil, "", fail(codeNoMem, "M×K = %d×%d with ldw %d overflows", m, k, ldw)
		}
		if err := checkAlloc(fmt.Sprintf("a dense copy of %d×%d", m, k), int64(m)*int64(k), 4); err != nil {
			return nil, "", err
		}
		ws, err := floats(w, n, "w")
		if err != nil {
			return nil, "", err
		}
		return readDense(int(m), int(k), int(ldw), ws)
	})
}

//export sgx_plan_dense_lp
func sgx_plan_dense_lp(out *C.sg_plan, m, k C.int64_t, dtype C.int, w unsafe.Pointer, ldw C.int64_t, scale *C.float, scaleLen C.int64_t, opts *C.sg_options) (rc C.int) {
	defer catch(&rc)
	return create(out, opts, m, k, func() (formats.Matrix, string, error) {
		t, sc, err := lpArgs(dtype, scale, scaleLen)
		if err != nil {
			return nil, "", err
		}
		if ldw < k || ldw < 0 {
			return nil, "", fail(codeArgument, "ldw = %d < K = %d", ldw, k)
		}
		n, ok := extent.Span(int64(m), int64(k), int64(ldw))
		if !ok {
			return nil, "", fail(codeNoMem, "M×K = %d×%d with ldw %d overflows", m, k, ldw)
		}
		if err := checkAlloc(fmt.Sprintf("a %s copy of %d×%d", t, m, k), int64(m)*int64(k), int64(t.Bytes())); err != nil {
			return nil, "", err
		}
		bits, q, err := lpValues(t, w, n, "w")
		if err != nil {
			return nil, "", err
		}
		return readDenseLP(t, int(m), int(k), int(ldw), bits, q, sc)
	})
}

// lpArgs reads a low-precision dtype and its row scales (checked against M and for
// finiteness by checkScales): scale views scale_len caller floats; an int8 call without
// scales gets an empty, non-nil slice so that the count is what fails.
func lpArgs(dtype C.int, scale *C.float, scaleLen C.int64_t) (formats.DType, []float32, error) {
	t := formats.DType(dtype)
	if dtype < C.SG_DTYPE_BF16 || dtype > C.SG_DTYPE_I8 {
		return 0, nil, fail(codeArgument, "dtype = %d is not an sg_dtype (SG_DTYPE_BF16 = 1, SG_DTYPE_F16 = 2, SG_DTYPE_I8 = 3)", dtype)
	}
	if scaleLen < 0 || int64(scaleLen) > math.MaxInt32 {
		return 0, nil, fail(codeArgument, "scale_len = %d out of range", scaleLen)
	}
	switch {
	case scale != nil:
		return t, unsafe.Slice((*float32)(unsafe.Pointer(scale)), int(scaleLen)), nil
	case scaleLen != 0:
		return 0, nil, fail(codeNull, "scale is NULL but scale_len = %d", scaleLen)
	case t == formats.I8:
		return t, []float32{}, nil // checked against M by checkScales
	}
	return t, nil, nil
}

// lpValues views n caller values of dtype t at p: uint16 bit patterns (bf16, f16) or int8.
func lpValues(t formats.DType, p unsafe.Pointer, n int64, name string) ([]uint16, []int8, error) {
	if n == 0 {
		return nil, nil, nil
	}
	if p == nil {
		return nil, nil, fail(codeNull, "%s is NULL but %d values are needed", name, n)
	}
	if t == formats.I8 {
		return nil, unsafe.Slice((*int8)(p), n), nil
	}
	return unsafe.Slice((*uint16)(p), n), nil, nil
}

//export sgx_plan_csr
func sgx_plan_csr(out *C.sg_plan, m, k, nnz C.int64_t, indptr unsafe.Pointer, indptrType C.int,
	idx unsafe.Pointer, idxType C.int, data *C.float, opts *C.sg_options) (rc C.int) {
	defer catch(&rc)
	return create(out, opts, m, k, func() (formats.Matrix, string, error) {
		ip, ix, err := csrIndices(m, nnz, indptr, indptrType, idx, idxType, "", 4)
		if err != nil {
			return nil, "", err
		}
		vals, err := floats(data, int64(nnz), "data")
		if err != nil {
			return nil, "", err
		}
		return readCSR(int(m), int(k), int64(nnz), ip, ix, vals)
	})
}

// csrIndices checks nnz and the size of the copy (nnz entries of a column index and a value
// of valBytes; what names the values) and views the caller's indptr (M+1) and indices.
func csrIndices(m, nnz C.int64_t, indptr unsafe.Pointer, indptrType C.int, idx unsafe.Pointer, idxType C.int, what string, valBytes int) (indexArray, indexArray, error) {
	if nnz < 0 || int64(nnz) > math.MaxInt/8 {
		return indexArray{}, indexArray{}, fail(codeArgument, "nnz = %d out of range", nnz)
	}
	if err := checkAlloc(fmt.Sprintf("a copy of %d %sentries", nnz, what), int64(nnz), int64(4+valBytes)); err != nil {
		return indexArray{}, indexArray{}, err
	}
	ip, err := indices(indptr, indptrType, int64(m)+1, "indptr")
	if err != nil {
		return indexArray{}, indexArray{}, err
	}
	ix, err := indices(idx, idxType, int64(nnz), "indices")
	return ip, ix, err
}

//export sgx_plan_csr_lp
func sgx_plan_csr_lp(out *C.sg_plan, m, k, nnz C.int64_t, indptr unsafe.Pointer, indptrType C.int,
	idx unsafe.Pointer, idxType C.int, dtype C.int, data unsafe.Pointer, scale *C.float, scaleLen C.int64_t, opts *C.sg_options) (rc C.int) {
	defer catch(&rc)
	return create(out, opts, m, k, func() (formats.Matrix, string, error) {
		t, sc, err := lpArgs(dtype, scale, scaleLen)
		if err != nil {
			return nil, "", err
		}
		ip, ix, err := csrIndices(m, nnz, indptr, indptrType, idx, idxType, t.String()+" ", t.Bytes())
		if err != nil {
			return nil, "", err
		}
		bits, q, err := lpValues(t, data, int64(nnz), "data")
		if err != nil {
			return nil, "", err
		}
		return readCSRLP(t, int(m), int(k), int64(nnz), ip, ix, bits, q, sc)
	})
}

//export sgx_plan_bsr
func sgx_plan_bsr(out *C.sg_plan, m, k, r, c, nblocks C.int64_t, indptr unsafe.Pointer, indptrType C.int,
	idx unsafe.Pointer, idxType C.int, data *C.float, opts *C.sg_options) (rc C.int) {
	defer catch(&rc)
	return create(out, opts, m, k, func() (formats.Matrix, string, error) {
		ip, ix, nv, err := bsrIndices(m, r, c, nblocks, indptr, indptrType, idx, idxType, "", 4)
		if err != nil {
			return nil, "", err
		}
		vals, err := floats(data, nv, "data")
		if err != nil {
			return nil, "", err
		}
		return readBSR(int(m), int(k), int(r), int(c), int64(nblocks), ip, ix, vals)
	})
}

// bsrIndices checks the block shape, nblocks and the size of the copy (nblocks·r·c values of
// valBytes; what names their dtype), views the caller's indptr (⌈M/r⌉+1) and indices, and
// returns the count of caller values, nblocks·r·c.
func bsrIndices(m, r, c, nblocks C.int64_t, indptr unsafe.Pointer, indptrType C.int, idx unsafe.Pointer, idxType C.int, what string, valBytes int) (indexArray, indexArray, int64, error) {
	if r < 1 || c < 1 || r > 64 || c > 64 {
		return indexArray{}, indexArray{}, 0, fail(codeArgument, "block %d×%d outside 1…64", r, c)
	}
	if nblocks < 0 {
		return indexArray{}, indexArray{}, 0, fail(codeArgument, "nblocks = %d < 0", nblocks)
	}
	nv, ok := extent.Mul(int64(nblocks), int64(r*c))
	if !ok || nv > math.MaxInt/8 {
		return indexArray{}, indexArray{}, 0, fail(codeNoMem, "nblocks·r·c = %d·%d·%d overflows", nblocks, r, c)
	}
	if err := checkAlloc(fmt.Sprintf("a copy of %d %sblocks of %d×%d", nblocks, what, r, c), nv, int64(valBytes)); err != nil {
		return indexArray{}, indexArray{}, 0, err
	}
	br := (int64(m) + int64(r) - 1) / int64(r)
	ip, err := indices(indptr, indptrType, br+1, "indptr")
	if err != nil {
		return indexArray{}, indexArray{}, 0, err
	}
	ix, err := indices(idx, idxType, int64(nblocks), "indices")
	return ip, ix, nv, err
}

//export sgx_plan_nm
func sgx_plan_nm(out *C.sg_plan, m, k, keep, group C.int64_t, val *C.float, pos *C.uint8_t, n C.int64_t, opts *C.sg_options) (rc C.int) {
	defer catch(&rc)
	return create(out, opts, m, k, func() (formats.Matrix, string, error) {
		want, err := nmSlots(m, k, keep, group, n, 5)
		if err != nil {
			return nil, "", err
		}
		vals, err := floats(val, want, "val")
		if err != nil {
			return nil, "", err
		}
		ps, err := nmPositions(pos, want)
		if err != nil {
			return nil, "", err
		}
		return readNM(int(m), int(k), int(keep), int(group), vals, ps)
	})
}

// nmSlots checks the pattern and the caller's slot count n against M·slots per row and the
// size of the copy (slotBytes per slot: value and position), and returns M·slots.
func nmSlots(m, k, keep, group, n C.int64_t, slotBytes int) (int64, error) {
	spr := slotsPerRow(int64(k), int64(keep), int64(group))
	if spr < 0 {
		return 0, fail(codeArgument, "pattern %d:%d needs 1 ≤ keep ≤ group ≤ 16", keep, group)
	}
	want, ok := extent.Mul(int64(m), spr)
	if !ok {
		return 0, fail(codeNoMem, "M·slots = %d·%d overflows", m, spr)
	}
	if int64(n) != want {
		return 0, fail(codeArgument, "len = %d, want M·slots per row = %d·%d = %d", n, m, spr, want)
	}
	if err := checkAlloc(fmt.Sprintf("a copy of %d slots", want), want, int64(slotBytes)); err != nil {
		return 0, err
	}
	return want, nil
}

// nmPositions views the caller's want slot positions.
func nmPositions(pos *C.uint8_t, want int64) ([]uint8, error) {
	if want == 0 {
		return nil, nil
	}
	if pos == nil {
		return nil, fail(codeNull, "pos is NULL but %d entries are needed", want)
	}
	return unsafe.Slice((*uint8)(unsafe.Pointer(pos)), want), nil
}

//export sgx_plan_bsr_lp
func sgx_plan_bsr_lp(out *C.sg_plan, m, k, r, c, nblocks C.int64_t, indptr unsafe.Pointer, indptrType C.int,
	idx unsafe.Pointer, idxType C.int, dtype C.int, data unsafe.Pointer, scale *C.float, scaleLen C.int64_t, opts *C.sg_options) (rc C.int) {
	defer catch(&rc)
	return create(out, opts, m, k, func() (formats.Matrix, string, error) {
		t, sc, err := lpArgs(dtype, scale, scaleLen)
		if err != nil {
			return nil, "", err
		}
		ip, ix, nv, err := bsrIndices(m, r, c, nblocks, indptr, indptrType, idx, idxType, t.String()+" ", t.Bytes())
		if err != nil {
			return nil, "", err
		}
		bits, q, err := lpValues(t, data, nv, "data")
		if err != nil {
			return nil, "", err
		}
		return readBSRLP(t, int(m), int(k), int(r), int(c), int64(nblocks), ip, ix, bits, q, sc)
	})
}

//export sgx_plan_nm_lp
func sgx_plan_nm_lp(out *C.sg_plan, m, k, keep, group C.int64_t, dtype C.int, val unsafe.Pointer, scale *C.float, scaleLen C.int64_t,
	pos *C.uint8_t, n C.int64_t, opts *C.sg_options) (rc C.int) {
	defer catch(&rc)
	return create(out, opts, m, k, func() (formats.Matrix, string, error) {
		t, sc, err := lpArgs(dtype, scale, scaleLen)
		if err != nil {
			return nil, "", err
		}
		want, err := nmSlots(m, k, keep, group, n, 1+t.Bytes())
		if err != nil {
			return nil, "", err
		}
		bits, q, err := lpValues(t, val, want, "val")
		if err != nil {
			return nil, "", err
		}
		ps, err := nmPositions(pos, want)
		if err != nil {
			return nil, "", err
		}
		return readNMLP(t, int(m), int(k), int(keep), int(group), bits, q, sc, ps)
	})
}

// operand views a rows×cols caller matrix with row stride ld; colsName names cols.
func operand(p *C.float, rows, cols, ld int64, name, colsName string) ([]float32, error) {
	if ld < cols {
		return nil, fail(codeShape, "ld%s = %d < %s = %d (the length of a row of %s)", name, ld, colsName, cols, name)
	}
	n, ok := extent.Span(rows, cols, ld)
	if !ok {
		return nil, fail(codeShape, "%s: %d×%d with ld %d overflows", name, rows, cols, ld)
	}
	return floats(p, n, name)
}

//export sgx_mul
func sgx_mul(h C.sg_plan, y *C.float, ldy C.int64_t, x *C.float, ldx C.int64_t, n C.int64_t, tokens C.int) (rc C.int) {
	defer catch(&rc)
	e, err := lookup(uint64(h))
	if err != nil {
		return report(err)
	}
	if n < 0 {
		return report(fail(codeShape, "n = %d < 0", n))
	}
	m, k := e.plan.Shape()
	var xs, ys []float32
	if tokens == 0 {
		xs, err = operand(x, int64(k), int64(n), int64(ldx), "x", "N")
		if err == nil {
			ys, err = operand(y, int64(m), int64(n), int64(ldy), "y", "N")
		}
	} else {
		xs, err = operand(x, int64(n), int64(k), int64(ldx), "x", "K")
		if err == nil {
			ys, err = operand(y, int64(n), int64(m), int64(ldy), "y", "M")
		}
	}
	if err != nil {
		return report(err)
	}
	if tokens == 0 {
		err = e.plan.Mul(ys, int(ldy), xs, int(ldx), int(n))
	} else {
		err = e.plan.MulTokens(ys, int(ldy), xs, int(ldx), int(n))
	}
	if err != nil {
		return report(err)
	}
	return C.SG_OK
}

// batchOperand views batch items of rows×cols with row stride ld, stride apart.
func batchOperand(p *C.float, rows, cols, ld, stride, batch int64, name string) ([]float32, error) {
	if stride < 0 {
		return nil, fail(codeShape, "stride_%s = %d < 0", name, stride)
	}
	if ld < cols {
		return nil, fail(codeShape, "ld%s = %d < N = %d", name, ld, cols)
	}
	one, ok := extent.Span(rows, cols, ld)
	if !ok {
		return nil, fail(codeShape, "%s: %d×%d with ld %d overflows", name, rows, cols, ld)
	}
	all, ok := extent.Items(one, stride, batch)
	if !ok {
		return nil, fail(codeShape, "%s: %d items %d apart overflow", name, batch, stride)
	}
	return floats(p, all, name)
}

//export sgx_mul_batch
func sgx_mul_batch(h C.sg_plan, y *C.float, ldy, strideY C.int64_t, x *C.float, ldx, strideX C.int64_t, n, batch C.int64_t) (rc C.int) {
	defer catch(&rc)
	e, err := lookup(uint64(h))
	if err != nil {
		return report(err)
	}
	if n < 0 || batch < 0 {
		return report(fail(codeShape, "n = %d, batch = %d: both must be ≥ 0", n, batch))
	}
	m, k := e.plan.Shape()
	xs, err := batchOperand(x, int64(k), int64(n), int64(ldx), int64(strideX), int64(batch), "x")
	if err != nil {
		return report(err)
	}
	ys, err := batchOperand(y, int64(m), int64(n), int64(ldy), int64(strideY), int64(batch), "y")
	if err != nil {
		return report(err)
	}
	if err := e.plan.MulBatch(ys, int(ldy), int(strideY), xs, int(ldx), int(strideX), int(n), int(batch)); err != nil {
		return report(err)
	}
	return C.SG_OK
}

//export sgx_plan_shape
func sgx_plan_shape(h C.sg_plan, m, k *C.int64_t) (rc C.int) {
	defer catch(&rc)
	e, err := lookup(uint64(h))
	if err != nil {
		return report(err)
	}
	pm, pk := e.plan.Shape()
	if m != nil {
		*m = C.int64_t(pm)
	}
	if k != nil {
		*k = C.int64_t(pk)
	}
	return C.SG_OK
}

//export sgx_plan_describe
func sgx_plan_describe(h C.sg_plan, buf *C.char, capacity C.size_t, needed *C.size_t) (rc C.int) {
	defer catch(&rc)
	e, err := lookup(uint64(h))
	if err != nil {
		return report(err)
	}
	s := e.note + e.plan.Describe()
	need := uint64(len(s)) + 1
	if needed != nil {
		*needed = C.size_t(need)
	}
	switch {
	case buf == nil && capacity == 0:
		if needed == nil {
			return report(fail(codeNull, "size query (buf = NULL, cap = 0) needs a non-NULL needed"))
		}
		return C.SG_OK
	case buf == nil:
		return report(fail(codeNull, "buf is NULL but cap = %d", capacity))
	case uint64(capacity) < need:
		return report(fail(codeBuffer, "description needs %d bytes, buffer has %d", need, capacity))
	}
	dst := unsafe.Slice((*byte)(unsafe.Pointer(buf)), need)
	copy(dst, s)
	dst[len(s)] = 0
	return C.SG_OK
}

//export sgx_plan_free
func sgx_plan_free(h C.sg_plan) (rc C.int) {
	defer catch(&rc)
	if err := release(uint64(h)); err != nil {
		return report(err)
	}
	return C.SG_OK
}

//export sgx_plan_set_threads
func sgx_plan_set_threads(h C.sg_plan, threads C.int32_t) (rc C.int) {
	defer catch(&rc)
	e, err := lookup(uint64(h))
	if err != nil {
		return report(err)
	}
	if err := e.plan.SetThreads(int(threads)); err != nil {
		return report(fail(codeArgument, "%v", err))
	}
	return C.SG_OK
}

//export sgx_set_default_threads
func sgx_set_default_threads(threads C.int32_t, previous *C.int32_t) (rc C.int) {
	defer catch(&rc)
	old, err := setDefaultThreads(int32(threads))
	if err != nil {
		return report(err)
	}
	if previous != nil {
		*previous = C.int32_t(old)
	}
	return C.SG_OK
}

//export sgx_live_plans
func sgx_live_plans() C.int64_t {
	return C.int64_t(livePlans.Load())
}

// guard runs f the way every export runs its body: a panic becomes SG_ERR_INTERNAL and an
// error sets the thread's message. The tests drive it.
func guard(f func() error) (rc C.int) {
	defer catch(&rc)
	if err := f(); err != nil {
		return report(err)
	}
	return C.SG_OK
}

// lastError returns the calling thread's message (tests; lock the OS thread around it).
func lastError() string { return C.GoString(C.sg_last_error()) }
