package main

// The Go half of the C ABI, free of cgo so that it can be tested with Go slices: status
// codes and error classification, the handle table, option checks, and the readers that copy
// and canonicalize the caller's arrays into formats' canonical matrices. exports.go turns C
// pointers into slices (after checking every length) and calls these.

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/sparsegen/sparsegen/asm"
	"github.com/sparsegen/sparsegen/dispatch"
	"github.com/sparsegen/sparsegen/formats"
	"github.com/sparsegen/sparsegen/internal/extent"
	"github.com/sparsegen/sparsegen/internal/sysmem"
	"github.com/sparsegen/sparsegen/ref"
)

// status mirrors sg_status in sparsegen.h (exports.go checks the values at compile time).
type status int32

const (
	codeOK status = iota
	codeNull
	codeArgument
	codeMatrix
	codeShape
	codeHandle
	codeUnsupported
	codeRecord
	codeBuffer
	codeNoMem
	codeInternal
)

// apiError carries its status code.
type apiError struct {
	code status
	msg  string
}

func (e *apiError) Error() string { return e.msg }

func fail(code status, format string, args ...any) error {
	return &apiError{code: code, msg: fmt.Sprintf(format, args...)}
}

// classify maps an error from this package, formats or dispatch to a status code.
func classify(err error) status {
	var ae *apiError
	switch {
	case err == nil:
		return codeOK
	case errors.As(err, &ae):
		return ae.code
	case errors.Is(err, dispatch.ErrClosed):
		return codeHandle
	case errors.Is(err, formats.ErrInvalid):
		return codeMatrix
	case errors.Is(err, ref.ErrShape):
		return codeShape
	}
	return codeArgument
}

// ---- Handle table ---------------------------------------------------------------------------

// A handle is gen<<32 | slot with gen ≥ 1, so 0 is never valid and a freed handle stays
// invalid after its slot is reused (the slot's generation moved on). Lookups are lock-free:
// the slot list is published through an atomic pointer and copied when it grows; creation
// and free take the mutex. A plan freed while calls run on it is closed (later calls fail
// with dispatch.ErrClosed) and its memory is reclaimed by the garbage collector once the
// running calls drop their references.

type entry struct {
	gen  uint32
	plan *dispatch.Plan
	note string // what the reader did with the input (canonicalization, conversions)
}

type slot struct {
	e   atomic.Pointer[entry]
	gen uint32 // last generation handed out (under tableMu)
}

var (
	tableMu   sync.Mutex
	slotsPtr  atomic.Pointer[[]*slot]
	freeSlots []uint32
	livePlans atomic.Int64
)

const maxSlots = 1<<31 - 1

func register(p *dispatch.Plan, note string) (uint64, error) {
	tableMu.Lock()
	defer tableMu.Unlock()
	var sl []*slot
	if ps := slotsPtr.Load(); ps != nil {
		sl = *ps
	}
	var idx uint32
	if n := len(freeSlots); n > 0 {
		idx = freeSlots[n-1]
		freeSlots = freeSlots[:n-1]
	} else {
		if len(sl) >= maxSlots {
			return 0, fail(codeNoMem, "too many live plans (%d)", len(sl))
		}
		idx = uint32(len(sl))
		grown := make([]*slot, len(sl)+1, max(2*len(sl), 16))
		copy(grown, sl)
		grown[idx] = &slot{}
		slotsPtr.Store(&grown)
		sl = grown
	}
	s := sl[idx]
	s.gen++
	if s.gen == 0 { // wrapped after 2³² plans in this slot
		s.gen = 1
	}
	s.e.Store(&entry{gen: s.gen, plan: p, note: note})
	livePlans.Add(1)
	return uint64(s.gen)<<32 | uint64(idx), nil
}

// lookup returns the live entry of handle h.
func lookup(h uint64) (*entry, error) {
	if h == 0 {
		return nil, fail(codeHandle, "plan handle is 0 (no plan; was creation checked?)")
	}
	gen, idx := uint32(h>>32), uint32(h)
	if ps := slotsPtr.Load(); ps != nil && int(idx) < len(*ps) {
		if e := (*ps)[idx].e.Load(); e != nil && e.gen == gen {
			return e, nil
		}
	}
	return nil, fail(codeHandle, "plan handle %#x is not a live plan (freed, or never created)", h)
}

// release frees handle h; 0 is a no-op.
func release(h uint64) error {
	if h == 0 {
		return nil
	}
	tableMu.Lock()
	e, err := lookup(h)
	if err == nil {
		idx := uint32(h)
		(*slotsPtr.Load())[idx].e.Store(nil)
		freeSlots = append(freeSlots, idx)
		livePlans.Add(-1)
	}
	tableMu.Unlock()
	if err != nil {
		return err
	}
	e.plan.Close()
	return nil
}

// ---- Options ---------------------------------------------------------------------------------

// options are sg_options read into Go; bias is a view of caller memory, copied by compile.
type options struct {
	act         int32
	lo, hi      float32
	bias        []float32
	hasBias     bool
	accumulate  bool
	threads     int32
	isa, record string
	format      string
}

func defaultOptions() options {
	return options{lo: float32(math.Inf(-1)), hi: float32(math.Inf(1))}
}

// checkISA reports an unknown ISA name as codeArgument and one the CPU lacks as
// codeUnsupported, before dispatch sees it (dispatch's own errors carry no code).
func checkISA(s, src string) error {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" || s == "auto" || s == "best" {
		return nil
	}
	i, err := asm.ParseISA(s)
	if err != nil {
		return fail(codeArgument, "%s: %v", src, err)
	}
	if !dispatch.Host().Supported(i) {
		return fail(codeUnsupported, "%s = %q: this CPU (%s, features %v) cannot run %s code",
			src, s, dispatch.Host().GOARCH, dispatch.Host().Features, i)
	}
	return nil
}

// compile builds a plan from the canonical matrix w and registers it.
func compile(w formats.Matrix, o options, note string) (uint64, error) {
	m, _ := w.Shape()
	do := dispatch.Options{Lo: o.lo, Hi: o.hi, Accumulate: o.accumulate, Format: o.format}
	if o.act < 0 || o.act > int32(ref.ActSiLU) {
		return 0, fail(codeArgument, "options.activation = %d is not an sg_activation (0 … %d)", o.act, ref.ActSiLU)
	}
	do.Act = ref.Activation(o.act)
	if do.Act == ref.ActClamp && !(o.lo <= o.hi) {
		return 0, fail(codeArgument, "options: clamp bounds lo = %v > hi = %v (or NaN)", o.lo, o.hi)
	}
	if o.hasBias {
		if len(o.bias) != m {
			return 0, fail(codeArgument, "options.bias_len = %d, want M = %d", len(o.bias), m)
		}
		do.Bias = slices.Clone(o.bias)
		if do.Bias == nil {
			do.Bias = []float32{}
		}
	}
	if o.threads < 0 || int(o.threads) > dispatch.MaxThreads {
		return 0, fail(codeArgument, "options.threads = %d outside 0…%d", o.threads, dispatch.MaxThreads)
	}
	do.Threads = int(o.threads)
	if o.isa != "" {
		if err := checkISA(o.isa, "options.isa"); err != nil {
			return 0, err
		}
		do.ISA = o.isa
	} else if err := checkISA(os.Getenv(dispatch.EnvISA), "$"+dispatch.EnvISA); err != nil {
		return 0, err
	}
	if _, ok := w.(*formats.DenseLP); ok && o.format == "dense" {
		o.format = "" // "dense" names the dtype's own dense format here: nothing to force
	}
	if _, ok := w.(*formats.CSRLP); ok && o.format == "csr" {
		o.format = "" // likewise "csr" for a CSR in low precision
	}
	do.Format = o.format
	if o.format != "" {
		note += "format forced: " + o.format + "\n"
	}
	if o.record != "" {
		rec, err := dispatch.LoadRecord(o.record)
		switch {
		case errors.Is(err, dispatch.ErrRecordIgnored):
			note += fmt.Sprintf("tuning record %s: %v (default policy used)\n", o.record, err)
		case errors.Is(err, fs.ErrNotExist):
			return 0, fail(codeRecord, "tuning record %s does not exist", o.record)
		case err != nil:
			return 0, fail(codeRecord, "tuning record %s: %v", o.record, err)
		default:
			do.Record = rec
			note += "tuning record: " + o.record + "\n"
		}
	}
	do.Warn = func(string) {} // warnings are kept in the plan's notes (Describe)
	p, err := dispatch.Compile(w, do)
	if err != nil {
		return 0, err
	}
	h, err := register(p, note)
	if err != nil {
		p.Close()
		return 0, err
	}
	return h, nil
}

// setDefaultThreads sets GOMAXPROCS (0: the runtime's default) and returns the old value.
// Like sg_plan_set_threads it refuses more than dispatch.MaxThreads: Go stops the whole
// process when more than 10000 OS threads run at once.
func setDefaultThreads(n int32) (int32, error) {
	if n < 0 || int(n) > dispatch.MaxThreads {
		return 0, fail(codeArgument, "threads = %d outside 0…%d", n, dispatch.MaxThreads)
	}
	if n == 0 {
		old := runtime.GOMAXPROCS(0)
		runtime.SetDefaultGOMAXPROCS()
		return int32(old), nil
	}
	return int32(runtime.GOMAXPROCS(int(n))), nil
}

// ---- Readers: copy and canonicalize the caller's arrays ---------------------------------------

// indexArray is a caller's index array of int32 or int64 elements (one of the two is set).
type indexArray struct {
	i32 []int32
	i64 []int64
}

func (a indexArray) at(i int) int64 {
	if a.i64 != nil {
		return a.i64[i]
	}
	return int64(a.i32[i])
}

func (a indexArray) width() int {
	if a.i64 != nil {
		return 64
	}
	return 32
}

// checkDims validates a shape before any size is computed from it: every reader copies at
// least M+1 row pointers (int64), which must fit in memory.
func checkDims(m, k int64) error {
	if m < 0 || k < 0 {
		return fail(codeArgument, "negative shape M = %d, K = %d", m, k)
	}
	if _, ok := extent.Mul(m, k); !ok {
		return fail(codeNoMem, "shape %d×%d overflows", m, k)
	}
	return checkAlloc(fmt.Sprintf("M = %d row pointers", m), m+1, 8)
}

// checkAlloc refuses, as SG_ERR_NOMEM, a copy of count elements of size bytes that this
// machine's memory cannot hold: Go cannot recover from an allocation that fails (it stops
// the process), so a size too large must be refused before it is attempted.
func checkAlloc(what string, count, size int64) error {
	b, ok := extent.Mul(count, size)
	if !ok || !sysmem.Fits(b) {
		return fail(codeNoMem, "%s: %d × %d bytes exceed this machine's memory (%.1f GiB)", what, count, size, float64(sysmem.Total())/(1<<30))
	}
	return nil
}

// readDense copies an M×K row-major matrix with stride ldw.
func readDense(m, k, ldw int, w []float32) (*formats.Dense, string, error) {
	if ldw < k {
		return nil, "", fail(codeArgument, "ldw = %d < K = %d", ldw, k)
	}
	data := make([]float32, m*k)
	for i := 0; i < m && k > 0; i++ { // K = 0: w may be NULL (nothing to read)
		copy(data[i*k:(i+1)*k], w[i*ldw:i*ldw+k])
	}
	d, err := formats.NewDense(m, k, data)
	if err != nil {
		return nil, "", err
	}
	return d, fmt.Sprintf("input: dense %d×%d (copied)\n", m, k), nil
}

// readPtr copies and checks an index pointer array of n+1 entries (n rows or block rows)
// into int64: ptr[0] = 0, nondecreasing, ptr[n] ≤ avail.
func readPtr(ptr indexArray, n int, avail int64, what string) ([]int64, error) {
	out := make([]int64, n+1)
	for i := range out {
		out[i] = ptr.at(i)
	}
	if out[0] != 0 {
		return nil, fail(codeMatrix, "indptr[0] = %d, want 0", out[0])
	}
	for i := 1; i <= n; i++ {
		if out[i] < out[i-1] {
			return nil, fail(codeMatrix, "indptr decreases at %s %d: indptr[%d] = %d < indptr[%d] = %d", what, i-1, i, out[i], i-1, out[i-1])
		}
	}
	if out[n] > avail {
		return nil, fail(codeMatrix, "indptr[%d] = %d exceeds the %d entries given", n, out[n], avail)
	}
	return out, nil
}

// canonRows sorts the entries of each row (stably, by column) and merges duplicates, moving
// values with merge(dst, src) (dst, src entry positions). cols and rowPtr are rewritten in
// place and the new count returned, with how many rows were unsorted and duplicates merged.
func canonRows(rowPtr []int64, cols []int32, move func(dst, src int64), add func(dst, src int64), reorder func(lo int64, perm []int64)) (int64, int, int64) {
	unsorted, dups := 0, int64(0)
	var perm []int64
	w := int64(0)
	for i := 0; i+1 < len(rowPtr); i++ {
		lo, hi := rowPtr[i], rowPtr[i+1]
		sorted := true
		for p := lo + 1; p < hi; p++ {
			if cols[p] < cols[p-1] {
				sorted = false
				break
			}
		}
		if !sorted {
			unsorted++
			perm = perm[:0]
			for p := lo; p < hi; p++ {
				perm = append(perm, p)
			}
			slices.SortStableFunc(perm, func(a, b int64) int { return int(cols[a]) - int(cols[b]) })
			reorder(lo, perm) // entries lo…hi now in column order
		}
		rowPtr[i] = w
		for p := lo; p < hi; p++ {
			if p > lo && cols[p] == cols[w-1] && w > rowPtr[i] {
				add(w-1, p)
				dups++
				continue
			}
			if w != p {
				cols[w] = cols[p]
				move(w, p)
			}
			w++
		}
	}
	rowPtr[len(rowPtr)-1] = w
	return w, unsorted, dups
}

// readCSR copies a scipy-style CSR (indptr M+1, indices and data with nnz entries) into a
// canonical formats.CSR: columns range-checked and narrowed, rows sorted, duplicates summed.
func readCSR(m, k int, nnz int64, indptr, indices indexArray, data []float32) (*formats.CSR, string, error) {
	rowPtr, cols, vals, note, err := readCSRRows(m, k, nnz, indptr, indices, data, "csr", "",
		func(vals []float32, dst, src int64) error { vals[dst] += vals[src]; return nil })
	if err != nil {
		return nil, "", err
	}
	c, err := formats.NewCSR(m, k, rowPtr, cols, vals)
	if err != nil {
		return nil, "", err
	}
	return c, note, nil
}

// readCSRRows is readCSR for values of any element type: it copies the pattern and the
// values, range-checks and narrows the columns, sorts each row and merges duplicates with
// add(vals, dst, src) (an error refuses the matrix), and returns the canonical rows with the
// notes for sg_plan_describe; what and kept name the input in them.
func readCSRRows[V any](m, k int, nnz int64, indptr, indices indexArray, data []V, what, kept string,
	add func(vals []V, dst, src int64) error) ([]int64, []int32, []V, string, error) {
	if k > formats.MaxInt32 {
		return nil, nil, nil, "", fail(codeArgument, "K = %d exceeds the int32 column index range", k)
	}
	rowPtr, err := readPtr(indptr, m, nnz, "row")
	if err != nil {
		return nil, nil, nil, "", err
	}
	nz := rowPtr[m]
	cols := make([]int32, nz)
	vals := make([]V, nz)
	copy(vals, data[:nz])
	for i := 0; i < m; i++ {
		for p := rowPtr[i]; p < rowPtr[i+1]; p++ {
			c := indices.at(int(p))
			if c < 0 || c >= int64(k) {
				return nil, nil, nil, "", fail(codeMatrix, "row %d: indices[%d] = %d outside [0, K = %d)", i, p, c, k)
			}
			cols[p] = int32(c)
		}
	}
	tmpC := make([]int32, 0)
	tmpV := make([]V, 0)
	var addErr error
	n, unsorted, dups := canonRows(rowPtr, cols,
		func(dst, src int64) { vals[dst] = vals[src] },
		func(dst, src int64) {
			if err := add(vals, dst, src); err != nil && addErr == nil {
				addErr = fail(codeMatrix, "column %d: %v", cols[src], err)
			}
		},
		func(lo int64, perm []int64) {
			tmpC, tmpV = tmpC[:0], tmpV[:0]
			for _, p := range perm {
				tmpC, tmpV = append(tmpC, cols[p]), append(tmpV, vals[p])
			}
			copy(cols[lo:], tmpC)
			copy(vals[lo:], tmpV)
		})
	if addErr != nil {
		return nil, nil, nil, "", addErr
	}
	cols, vals = cols[:n:n], vals[:n:n]
	note := fmt.Sprintf("input: %s %d×%d, %d stored entries (int%d indptr, int%d indices", what, m, k, nz, indptr.width(), indices.width())
	if indices.width() == 64 {
		note += " narrowed to int32"
	}
	note += "; copied" + kept + ")\n"
	if nnz > nz {
		note += fmt.Sprintf("canonicalized: %d entries past indptr[M] ignored\n", nnz-nz)
	}
	if unsorted > 0 {
		note += fmt.Sprintf("canonicalized: column indices of %d row(s) sorted\n", unsorted)
	}
	if dups > 0 {
		note += fmt.Sprintf("canonicalized: %d duplicate entries summed\n", dups)
	}
	return rowPtr, cols, vals, note, nil
}

// readCSRLP copies a scipy-style CSR whose values are bf16 or f16 bit patterns (bits) or
// int8 (q, with one finite scale per row) into a canonical formats.CSRLP in that dtype, as
// readCSR does: duplicates are summed without leaving the dtype, bf16/f16 in float64 and
// rounded once (formats.Float64To16, as the npz reader does), int8 exactly (they share
// their row's scale), refused past int8's range.
func readCSRLP(t formats.DType, m, k int, nnz int64, indptr, indices indexArray, bits []uint16, q []int8, scale []float32) (*formats.CSRLP, string, error) {
	if err := checkScales(t, m, scale); err != nil {
		return nil, "", err
	}
	what, kept := "csr "+t.String(), ", kept in "+t.String()
	c := &formats.CSRLP{Rows: m, Cols: k, DType: t}
	var note string
	var err error
	if t == formats.I8 {
		c.Scale = slices.Clone(scale)
		c.RowPtr, c.ColIdx, c.I8, note, err = readCSRRows(m, k, nnz, indptr, indices, q, what, kept,
			func(v []int8, dst, src int64) error {
				s := int(v[dst]) + int(v[src])
				if s < math.MinInt8 || s > math.MaxInt8 {
					return fmt.Errorf("duplicate int8 entries sum to %d, outside int8", s)
				}
				v[dst] = int8(s)
				return nil
			})
	} else {
		widen := formats.BF16ToFloat32
		if t == formats.F16 {
			widen = formats.F16ToFloat32
		}
		// The duplicates of one entry come in a run (dst fixed): their sum is kept in float64
		// and v[dst] is always it rounded once.
		last, acc := int64(-1), 0.0
		c.RowPtr, c.ColIdx, c.Bits, note, err = readCSRRows(m, k, nnz, indptr, indices, bits, what, kept,
			func(v []uint16, dst, src int64) error {
				if dst != last {
					last, acc = dst, float64(widen(v[dst]))
				}
				acc += float64(widen(v[src]))
				v[dst] = formats.Float64To16(t, acc)
				return nil
			})
	}
	if err != nil {
		return nil, "", err
	}
	if err := c.Validate(); err != nil {
		return nil, "", err
	}
	return c, note, nil
}

// bsrInput is a caller's scipy-style BSR pattern made canonical: block rows ptr, block
// columns cols sorted within each block row, and for each entry the caller blocks it sums
// (src: one unless duplicates were merged). Values are assembled by the dtype's reader.
type bsrInput struct {
	m, k, r, c int
	ptr        []int64
	cols       []int32
	src        [][]int64
	note       string
}

// readBSRPattern checks and canonicalizes a BSR pattern with r×c blocks over nblocks caller
// blocks (what names the input in the note, e.g. "bsr4x4" or "bsr4x4 bf16"); nonzero(v)
// reports whether caller value v (block p's entry (rr, cc) is p·r·c + rr·c + cc) is nonzero,
// for the check that a ragged edge block holds zeros past M or K.
func readBSRPattern(m, k, r, c int, nblocks int64, indptr, indices indexArray, what, kept string, nonzero func(v int64) (bool, string)) (*bsrInput, error) {
	if r < 1 || c < 1 || r > formats.MaxBlockDim || c > formats.MaxBlockDim {
		return nil, fail(codeArgument, "block %d×%d outside 1…%d", r, c, formats.MaxBlockDim)
	}
	if k > formats.MaxInt32 {
		return nil, fail(codeArgument, "K = %d exceeds the int32 index range", k)
	}
	br, bc := (m+r-1)/r, (k+c-1)/c
	ptr, err := readPtr(indptr, br, nblocks, "block row")
	if err != nil {
		return nil, err
	}
	nb := ptr[br]
	cols := make([]int32, nb)
	src := make([]int64, nb) // which caller block each entry reads
	for i := 0; i < br; i++ {
		for p := ptr[i]; p < ptr[i+1]; p++ {
			j := indices.at(int(p))
			if j < 0 || j >= int64(bc) {
				return nil, fail(codeMatrix, "block row %d: indices[%d] = %d outside [0, ⌈K/c⌉ = %d)", i, p, j, bc)
			}
			cols[p] = int32(j)
			src[p] = p
		}
	}
	// Padding past M or K must be zero.
	for i := 0; i < br; i++ {
		h := min(r, m-i*r)
		for p := ptr[i]; p < ptr[i+1]; p++ {
			w := min(c, k-int(cols[p])*c)
			if h == r && w == c {
				continue
			}
			for rr := 0; rr < r; rr++ {
				for cc := 0; cc < c; cc++ {
					if rr < h && cc < w {
						continue
					}
					if nz, v := nonzero(p*int64(r*c) + int64(rr*c+cc)); nz {
						return nil, fail(codeMatrix, "block %d (block row %d, block column %d): value %s at (%d, %d) lies past M = %d or K = %d and must be zero",
							p, i, cols[p], v, rr, cc, m, k)
					}
				}
			}
		}
	}
	// Sort and merge: each merged entry lists the caller blocks it sums.
	groups := make([][]int64, nb)
	for p := range groups {
		groups[p] = src[p : p+1 : p+1]
	}
	tmpC := make([]int32, 0)
	tmpG := make([][]int64, 0)
	n, unsorted, dups := canonRows(ptr, cols,
		func(dst, s int64) { groups[dst] = groups[s] },
		func(dst, s int64) { groups[dst] = append(groups[dst], groups[s]...) },
		func(lo int64, perm []int64) {
			tmpC, tmpG = tmpC[:0], tmpG[:0]
			for _, p := range perm {
				tmpC, tmpG = append(tmpC, cols[p]), append(tmpG, groups[p])
			}
			copy(cols[lo:], tmpC)
			copy(groups[lo:], tmpG)
		})
	in := &bsrInput{m: m, k: k, r: r, c: c, ptr: ptr, cols: cols[:n:n], src: groups[:n]}
	in.note = fmt.Sprintf("input: %s %d×%d, %d blocks (int%d indptr, int%d indices; copied%s)\n", what, m, k, nb, indptr.width(), indices.width(), kept)
	if nblocks > nb {
		in.note += fmt.Sprintf("canonicalized: %d blocks past indptr[last] ignored\n", nblocks-nb)
	}
	if unsorted > 0 {
		in.note += fmt.Sprintf("canonicalized: block columns of %d block row(s) sorted\n", unsorted)
	}
	if dups > 0 {
		in.note += fmt.Sprintf("canonicalized: %d duplicate blocks summed\n", dups)
	}
	return in, nil
}

// count is the number of values of the canonical matrix: its blocks trimmed to M×K.
func (in *bsrInput) count() int64 {
	var n int64
	for i := 0; i+1 < len(in.ptr); i++ {
		h := min(in.r, in.m-i*in.r)
		for p := in.ptr[i]; p < in.ptr[i+1]; p++ {
			n += int64(h * min(in.c, in.k-int(in.cols[p])*in.c))
		}
	}
	return n
}

// values calls set(dst, srcs) for each value of the canonical matrix in formats.BSR's order
// (blocks in order, each trimmed to the matrix, row-major): dst its index, srcs the caller
// values it sums (one per merged caller block); it stops at the first error.
func (in *bsrInput) values(set func(dst int64, srcs []int64) error) error {
	var dst int64
	var srcs []int64
	br := (in.m + in.r - 1) / in.r
	for i := 0; i < br; i++ {
		h := min(in.r, in.m-i*in.r)
		for p := in.ptr[i]; p < in.ptr[i+1]; p++ {
			w := min(in.c, in.k-int(in.cols[p])*in.c)
			for rr := 0; rr < h; rr++ {
				for cc := 0; cc < w; cc++ {
					srcs = srcs[:0]
					for _, s := range in.src[p] {
						srcs = append(srcs, s*int64(in.r*in.c)+int64(rr*in.c+cc))
					}
					if err := set(dst, srcs); err != nil {
						return err
					}
					dst++
				}
			}
		}
	}
	return nil
}

// readBSR copies a scipy-style BSR with r×c blocks (data: nblocks full r×c blocks) into a
// canonical formats.BSR: blocks sorted by column, duplicates summed, ragged edge blocks
// trimmed to the matrix after checking that the trimmed values are zero.
func readBSR(m, k, r, c int, nblocks int64, indptr, indices indexArray, data []float32) (*formats.BSR, string, error) {
	in, err := readBSRPattern(m, k, r, c, nblocks, indptr, indices, fmt.Sprintf("bsr%dx%d", r, c), "",
		func(v int64) (bool, string) { return data[v] != 0, fmt.Sprint(data[v]) })
	if err != nil {
		return nil, "", err
	}
	vals := make([]float32, in.count())
	in.values(func(dst int64, srcs []int64) error {
		for _, s := range srcs {
			vals[dst] += data[s]
		}
		return nil
	})
	b, err := formats.NewBSR(m, k, r, c, in.ptr, in.cols, vals)
	if err != nil {
		return nil, "", err
	}
	return b, in.note, nil
}

// readBSRLP is readBSR for blocks whose values are bf16 or f16 bit patterns (bits) or int8
// (q, with M row scales in scale), kept in their dtype: duplicate blocks are summed as
// readCSRLP sums duplicate entries (bf16/f16 in float64, rounded once; int8 exactly, a sum
// outside int8 is an error), and the values past M or K of a ragged block must be ±0.
func readBSRLP(t formats.DType, m, k, r, c int, nblocks int64, indptr, indices indexArray, bits []uint16, q []int8, scale []float32) (*formats.BSRLP, string, error) {
	if err := checkScales(t, m, scale); err != nil {
		return nil, "", err
	}
	widen := formats.BF16ToFloat32
	if t == formats.F16 {
		widen = formats.F16ToFloat32
	}
	nonzero := func(v int64) (bool, string) {
		if t == formats.I8 {
			return q[v] != 0, fmt.Sprint(q[v])
		}
		return bits[v]&0x7fff != 0, fmt.Sprint(widen(bits[v]))
	}
	in, err := readBSRPattern(m, k, r, c, nblocks, indptr, indices, fmt.Sprintf("bsr%dx%d %s", r, c, t), ", kept in "+t.String(), nonzero)
	if err != nil {
		return nil, "", err
	}
	n := in.count()
	b := &formats.BSRLP{Rows: m, Cols: k, R: r, C: c, BlockRowPtr: in.ptr, BlockCol: in.cols, DType: t}
	if t == formats.I8 {
		b.I8, b.Scale = make([]int8, n), slices.Clone(scale)
		err = in.values(func(dst int64, srcs []int64) error {
			s := 0
			for _, v := range srcs {
				s += int(q[v])
			}
			if s < math.MinInt8 || s > math.MaxInt8 {
				return fail(codeMatrix, "duplicate int8 blocks sum to %d at value %d, outside int8", s, dst)
			}
			b.I8[dst] = int8(s)
			return nil
		})
	} else {
		b.Bits = make([]uint16, n)
		err = in.values(func(dst int64, srcs []int64) error {
			if len(srcs) == 1 {
				b.Bits[dst] = bits[srcs[0]] // as stored, NaN payloads included
				return nil
			}
			acc := 0.0
			for _, v := range srcs {
				acc += float64(widen(bits[v]))
			}
			b.Bits[dst] = formats.Float64To16(t, acc)
			return nil
		})
	}
	if err != nil {
		return nil, "", err
	}
	if err := b.Validate(); err != nil {
		return nil, "", err
	}
	return b, in.note, nil
}

// slotsPerRow mirrors sg_nm_slots_per_row; -1 for invalid arguments.
func slotsPerRow(k, keep, group int64) int64 {
	if k < 0 || keep < 1 || group < keep || group > formats.MaxGroup {
		return -1
	}
	return k/group*keep + min(k%group, keep)
}

// readNM copies N:M slots (values and positions, M·S each) into a formats.NM.
func readNM(m, k, keep, group int, val []float32, pos []uint8) (*formats.NM, string, error) {
	nm, err := formats.NewNM(m, k, keep, group, slices.Clone(val), slices.Clone(pos))
	if err != nil {
		return nil, "", err
	}
	return nm, fmt.Sprintf("input: nm%d:%d %d×%d, %d slots per row (copied)\n", keep, group, m, k, nm.SlotsPerRow()), nil
}

// readNMLP copies N:M slots whose values are bf16 or f16 bit patterns (bits) or int8 (q,
// with M row scales in scale), and their positions, M·S each, into a formats.NMLP kept in
// its dtype.
func readNMLP(t formats.DType, m, k, keep, group int, bits []uint16, q []int8, scale []float32, pos []uint8) (*formats.NMLP, string, error) {
	if err := checkScales(t, m, scale); err != nil {
		return nil, "", err
	}
	w := &formats.NMLP{Rows: m, Cols: k, Keep: keep, Group: group, Pos: slices.Clone(pos), DType: t}
	if t == formats.I8 {
		w.I8, w.Scale = slices.Clone(q), slices.Clone(scale)
	} else {
		w.Bits = slices.Clone(bits)
	}
	if err := w.Validate(); err != nil {
		return nil, "", err
	}
	return w, fmt.Sprintf("input: nm%d:%d %s %d×%d, %d slots per row (copied, kept in %[3]s)\n", keep, group, t, m, k, w.SlotsPerRow()), nil
}

// readDenseLP copies an M×K low-precision dense matrix with stride ldw into a compact
// formats.DenseLP, keeping its dtype: bits holds bf16 or f16 patterns (t = BF16, F16), q
// and scale the int8 values and their M row scales (t = I8). Nothing is widened. A scale
// that is NaN or ±Inf is refused: it would turn a whole output row into NaN, and a
// quantizer never writes one (formats.DenseLPFromDense refuses such weights).
func readDenseLP(t formats.DType, m, k, ldw int, bits []uint16, q []int8, scale []float32) (*formats.DenseLP, string, error) {
	if ldw < k {
		return nil, "", fail(codeArgument, "ldw = %d < K = %d", ldw, k)
	}
	if err := checkScales(t, m, scale); err != nil {
		return nil, "", err
	}
	var d *formats.DenseLP
	var err error
	switch t {
	case formats.BF16, formats.F16:
		data := make([]uint16, m*k)
		for i := 0; i < m && k > 0; i++ { // K = 0: w may be NULL
			copy(data[i*k:(i+1)*k], bits[i*ldw:i*ldw+k])
		}
		d, err = formats.NewDenseLP16(t, m, k, max(k, 1), data)
	case formats.I8:
		data := make([]int8, m*k)
		for i := 0; i < m && k > 0; i++ { // K = 0: w may be NULL
			copy(data[i*k:(i+1)*k], q[i*ldw:i*ldw+k])
		}
		d, err = formats.NewDenseI8(m, k, max(k, 1), data, slices.Clone(scale))
	}
	if err != nil {
		return nil, "", err
	}
	per := "2 bytes per weight"
	if t == formats.I8 {
		per = "1 byte per weight and a float32 scale per row"
	}
	return d, fmt.Sprintf("input: dense %s %d×%d (copied, kept in %s: %s)\n", t, m, k, t, per), nil
}

// checkScales checks a low-precision dtype and its row scales: int8 takes exactly m finite
// scales (a NaN or ±Inf scale would poison its whole output row, and no quantizer writes
// one: formats.DenseLPFromDense refuses such weights); bf16 and f16 take none.
func checkScales(t formats.DType, m int, scale []float32) error {
	switch t {
	case formats.BF16, formats.F16:
		if scale != nil {
			return fail(codeArgument, "scale is set for %s weights: only SG_DTYPE_I8 takes row scales (pass NULL, scale_len 0)", t)
		}
	case formats.I8:
		if len(scale) != m {
			return fail(codeArgument, "scale_len = %d, want M = %d (one float32 scale per row)", len(scale), m)
		}
		for i, s := range scale {
			if math.IsNaN(float64(s)) || math.IsInf(float64(s), 0) {
				return fail(codeMatrix, "scale[%d] = %v: int8 row scales must be finite", i, s)
			}
		}
	default:
		return fail(codeArgument, "dtype = %d is not an sg_dtype (SG_DTYPE_BF16 = 1, SG_DTYPE_F16 = 2, SG_DTYPE_I8 = 3)", t)
	}
	return nil
}
