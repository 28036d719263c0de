package fileio

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"

	"github.com/sparsegen/sparsegen/formats"
)

// Matrix reads the matrix an .npz holds:
//   - name != "": that array, as a Dense;
//   - a "format" array of "csr" or "bsr": scipy.sparse's save_npz layout, canonicalized
//     (a CSR with '<f2', '<u2' or '|i1' + "data_scale" data as a CSRLP in that dtype);
//   - a "format" array of "nm": sparsegen's N:M layout (see the package doc);
//   - otherwise, a single array: as a Dense.
func (z *NPZ) Matrix(name string) (formats.Matrix, Info, error) {
	if name != "" {
		return z.arrayMatrix(name)
	}
	if z.Has("format") {
		fa, err := z.array("format")
		if err != nil {
			return nil, Info{}, err
		}
		f, err := fa.text("npz \"format\"")
		if err != nil {
			return nil, Info{}, err
		}
		switch f {
		case "csr":
			return z.readCSR()
		case "bsr":
			return z.readBSR()
		case "nm":
			return z.readNM()
		case "csc", "coo", "dia", "dok", "lil":
			return nil, Info{}, bad("npz: scipy %s matrices are not supported; convert with .tocsr() (or .tobsr()) before save_npz", f)
		default:
			return nil, Info{}, bad("npz: unknown sparse format %q", f)
		}
	}
	if len(z.names) == 1 {
		// Not Matrix(names[0]): an archive may name its one array "" (found by FuzzReadNPZ).
		return z.arrayMatrix(z.names[0])
	}
	if base, ok := z.int8Pair(); ok {
		return z.DenseLP(base)
	}
	return nil, Info{}, bad("npz: no \"format\" key and %d arrays (%s); name the array to read", len(z.names), strings.Join(z.names, ", "))
}

// arrayMatrix reads array name as a Dense, or as a DenseLP when it holds bf16/f16 bits or
// int8 with row scales.
func (z *NPZ) arrayMatrix(name string) (formats.Matrix, Info, error) {
	if z.lowPrecision(name) {
		return z.DenseLP(name)
	}
	return z.Dense(name)
}

// readShape reads the "shape" array: two non-negative integers.
func (z *NPZ) readShape() (int, int, error) {
	a, err := z.array("shape")
	if err != nil {
		return 0, 0, err
	}
	s, err := a.ints("npz \"shape\"")
	if err != nil {
		return 0, 0, err
	}
	if len(s) != 2 || len(a.shape) != 1 {
		return 0, 0, bad("npz: \"shape\" holds %d values with shape %v; want 2", len(s), a.shape)
	}
	if s[0] < 0 || s[1] < 0 || s[0] > math.MaxInt32 || s[1] > math.MaxInt32 {
		return 0, 0, bad("npz: shape %d×%d out of range (M and K must fit int32)", s[0], s[1])
	}
	return int(s[0]), int(s[1]), nil
}

func (z *NPZ) index(name string) ([]int64, dtype, error) {
	a, err := z.array(name)
	if err != nil {
		return nil, dtype{}, err
	}
	if len(a.shape) != 1 {
		return nil, dtype{}, bad("npz: %q has shape %v; want 1-D", name, a.shape)
	}
	v, err := a.ints(fmt.Sprintf("npz %q", name))
	return v, a.dt, err
}

func (z *NPZ) readCSR() (formats.Matrix, Info, error) {
	rows, cols, err := z.readShape()
	if err != nil {
		return nil, Info{}, err
	}
	indptr, _, err := z.index("indptr")
	if err != nil {
		return nil, Info{}, err
	}
	if int64(len(indptr)) != int64(rows)+1 {
		return nil, Info{}, bad("npz csr: len(indptr) = %d, want M+1 = %d", len(indptr), int64(rows)+1)
	}
	indices, idt, err := z.index("indices")
	if err != nil {
		return nil, Info{}, err
	}
	ai, err := z.Info("data")
	if err != nil {
		return nil, Info{}, err
	}
	if dt, err := parseDescr(ai.DType); err == nil {
		if _, ok := lpDType(dt); ok {
			return z.readCSRLP(rows, cols, indptr, indices, idt)
		}
	}
	da, err := z.floats("data")
	if err != nil {
		return nil, Info{}, err
	}
	if !da.dt.isFloat() || len(da.shape) != 1 {
		return nil, Info{}, bad("npz csr: \"data\" is %s with shape %v; want 1-D float32/64 (or <f2, <u2 bf16 bits, |i1 + scales)", da.dt, da.shape)
	}
	val, overflow := da.f32, da.overflow
	info := Info{Container: "npz", Layout: "csr", DType: da.dt.String(), IndexDType: idt.String()}
	c, err := canonRows("csr", rows, cols, 1, indptr, indices, val, sumFloat32, &info)
	if err != nil {
		return nil, Info{}, err
	}
	m, err := formats.NewCSR(rows, cols, c.ptr, c.idx, c.val)
	if err != nil {
		return nil, Info{}, bad("npz csr: %v", err)
	}
	noteNarrow(&info, idt, overflow)
	return m, info, nil
}

// readCSRLP reads the "data" of a CSR in its stored low-precision dtype (readLP: f16, bf16
// bits, or int8 with the row scales "data_scale"), canonicalized as readCSR does, into a
// CSRLP: never widened.
func (z *NPZ) readCSRLP(rows, cols int, indptr, indices []int64, idt dtype) (formats.Matrix, Info, error) {
	a, err := z.readLP("data")
	if err != nil {
		return nil, Info{}, err
	}
	if len(a.shape) != 1 {
		return nil, Info{}, bad("npz csr: \"data\" is %s with shape %v; want 1-D", a.dt, a.shape)
	}
	if a.t == formats.I8 && len(a.scale) != rows {
		return nil, Info{}, bad("npz csr: %d row scales in \"data%s\" for %d rows", len(a.scale), LPScaleSuffix, rows)
	}
	info := Info{Container: "npz", Layout: "csr", DType: a.dt.String(), IndexDType: idt.String()}
	m := &formats.CSRLP{Rows: rows, Cols: cols, DType: a.t, Scale: a.scale}
	if a.t == formats.I8 {
		c, err := canonRows("csr", rows, cols, 1, indptr, indices, a.q, sumI8, &info)
		if err != nil {
			return nil, Info{}, err
		}
		m.RowPtr, m.ColIdx, m.I8 = c.ptr, c.idx, c.val
	} else {
		c, err := canonRows("csr", rows, cols, 1, indptr, indices, a.bits, sum16(a.t), &info)
		if err != nil {
			return nil, Info{}, err
		}
		m.RowPtr, m.ColIdx, m.Bits = c.ptr, c.idx, c.val
	}
	if err := m.Validate(); err != nil {
		return nil, Info{}, bad("npz csr: %v", err)
	}
	noteNarrow(&info, idt, false)
	return m, info, nil
}

func noteNarrow(info *Info, idt dtype, overflow bool) {
	if idt.size > 4 {
		info.Notes = append(info.Notes, fmt.Sprintf("column indices narrowed from %s to int32 (range checked)", idt))
	}
	if overflow {
		info.Overflow = true
		info.Notes = append(info.Notes, overflowNote)
	}
}

func (z *NPZ) readBSR() (formats.Matrix, Info, error) {
	rows, cols, err := z.readShape()
	if err != nil {
		return nil, Info{}, err
	}
	ai, err := z.Info("data")
	if err != nil {
		return nil, Info{}, err
	}
	if dt, err := parseDescr(ai.DType); err == nil {
		if _, ok := lpDType(dt); ok {
			return z.readBSRLP(rows, cols)
		}
	}
	da, err := z.floats("data")
	if err != nil {
		return nil, Info{}, err
	}
	if !da.dt.isFloat() || len(da.shape) != 3 {
		return nil, Info{}, bad("npz bsr: \"data\" is %s with shape %v; want 3-D (blocks, R, C) float32/64 (or <f2, <u2 bf16 bits, |i1 + scales)", da.dt, da.shape)
	}
	r, c, indptr, indices, idt, err := z.bsrGrid(rows, cols, da.shape)
	if err != nil {
		return nil, Info{}, err
	}
	val, overflow := da.f32, da.overflow
	info := Info{Container: "npz", Layout: "bsr", DType: da.dt.String(), IndexDType: idt.String()}
	cr, err := canonRows("bsr", rows/r, cols/c, r*c, indptr, indices, val, sumFloat32, &info)
	if err != nil {
		return nil, Info{}, err
	}
	m, err := formats.NewBSR(rows, cols, r, c, cr.ptr, cr.idx, cr.val)
	if err != nil {
		return nil, Info{}, bad("npz bsr: %v", err)
	}
	noteNarrow(&info, idt, overflow)
	return m, info, nil
}

// readBSRLP reads the "data" of a BSR in its stored low-precision dtype (readLP: f16, bf16
// bits, or int8 with one scale per matrix row in "data_scale"), canonicalized as readBSR
// does, into a BSRLP: never widened.
func (z *NPZ) readBSRLP(rows, cols int) (formats.Matrix, Info, error) {
	a, err := z.readLP("data")
	if err != nil {
		return nil, Info{}, err
	}
	if a.fortran {
		return nil, Info{}, bad("npz bsr: \"data\" is in Fortran order; want C order")
	}
	if len(a.shape) != 3 {
		return nil, Info{}, bad("npz bsr: \"data\" is %s with shape %v; want 3-D (blocks, R, C)", a.dt, a.shape)
	}
	if a.t == formats.I8 && len(a.scale) != rows {
		return nil, Info{}, bad("npz bsr: %d row scales in \"data%s\" for %d rows", len(a.scale), LPScaleSuffix, rows)
	}
	r, c, indptr, indices, idt, err := z.bsrGrid(rows, cols, a.shape)
	if err != nil {
		return nil, Info{}, err
	}
	info := Info{Container: "npz", Layout: "bsr", DType: a.dt.String(), IndexDType: idt.String()}
	m := &formats.BSRLP{Rows: rows, Cols: cols, R: r, C: c, DType: a.t, Scale: a.scale}
	if a.t == formats.I8 {
		cr, err := canonRows("bsr", rows/r, cols/c, r*c, indptr, indices, a.q, sumI8, &info)
		if err != nil {
			return nil, Info{}, err
		}
		m.BlockRowPtr, m.BlockCol, m.I8 = cr.ptr, cr.idx, cr.val
	} else {
		cr, err := canonRows("bsr", rows/r, cols/c, r*c, indptr, indices, a.bits, sum16(a.t), &info)
		if err != nil {
			return nil, Info{}, err
		}
		m.BlockRowPtr, m.BlockCol, m.Bits = cr.ptr, cr.idx, cr.val
	}
	if err := m.Validate(); err != nil {
		return nil, Info{}, bad("npz bsr: %v", err)
	}
	noteNarrow(&info, idt, false)
	return m, info, nil
}

// bsrGrid checks a scipy BSR's block grid against its "data" shape (blocks, R, C) and
// "blocksize", and reads its "indptr" and "indices".
func (z *NPZ) bsrGrid(rows, cols int, shape []int) (r, c int, indptr, indices []int64, idt dtype, err error) {
	r, c = shape[1], shape[2]
	if z.Has("blocksize") {
		bs, _, err := z.index("blocksize")
		if err != nil {
			return 0, 0, nil, nil, idt, err
		}
		if len(bs) != 2 || bs[0] != int64(r) || bs[1] != int64(c) {
			return 0, 0, nil, nil, idt, bad("npz bsr: \"blocksize\" %v disagrees with data blocks %d×%d", bs, r, c)
		}
	}
	if r < 1 || c < 1 || r > formats.MaxBlockDim || c > formats.MaxBlockDim {
		return 0, 0, nil, nil, idt, bad("npz bsr: block %d×%d outside 1…%d", r, c, formats.MaxBlockDim)
	}
	if rows%r != 0 || cols%c != 0 {
		return 0, 0, nil, nil, idt, bad("npz bsr: shape %d×%d is not a multiple of the block %d×%d", rows, cols, r, c)
	}
	indptr, _, err = z.index("indptr")
	if err != nil {
		return 0, 0, nil, nil, idt, err
	}
	if len(indptr) != rows/r+1 {
		return 0, 0, nil, nil, idt, bad("npz bsr: len(indptr) = %d, want M/R+1 = %d", len(indptr), rows/r+1)
	}
	indices, idt, err = z.index("indices")
	if err != nil {
		return 0, 0, nil, nil, idt, err
	}
	if shape[0] != len(indices) {
		return 0, 0, nil, nil, idt, bad("npz bsr: %d data blocks but %d indices", shape[0], len(indices))
	}
	return r, c, indptr, indices, idt, nil
}

type canon[V any] struct {
	ptr []int64
	idx []int32
	val []V
}

// canonRows checks scipy-style compressed rows (entries of w values each: 1 for CSR, R·C
// for BSR) and canonicalizes them: indices range-checked and narrowed to int32, each row
// sorted by index, duplicate entries merged by sum (which writes into dst the w values of
// the entries at positions at, in file order), trailing unused entries dropped. What it
// changed is noted in info.
func canonRows[V any](kind string, rows, cols, w int, ptr, idx []int64, val []V, sum func(dst, val []V, w int, at []int64) error, info *Info) (canon[V], error) {
	unit := "row"
	if kind == "bsr" {
		unit = "block row"
	}
	if int64(len(val)) != int64(len(idx))*int64(w) {
		return canon[V]{}, bad("npz %s: %d values for %d indices", kind, len(val), len(idx))
	}
	if ptr[0] != 0 {
		return canon[V]{}, bad("npz %s: indptr[0] = %d, want 0", kind, ptr[0])
	}
	for i := 0; i < rows; i++ {
		if ptr[i+1] < ptr[i] {
			return canon[V]{}, bad("npz %s: %s %d: indptr decreases (%d then %d)", kind, unit, i, ptr[i], ptr[i+1])
		}
	}
	nnz := ptr[rows]
	if nnz > int64(len(idx)) {
		return canon[V]{}, bad("npz %s: indptr[last] = %d but only %d indices", kind, nnz, len(idx))
	}
	if nnz < int64(len(idx)) {
		info.Notes = append(info.Notes, fmt.Sprintf("%d entries past indptr[last] ignored (as scipy does)", int64(len(idx))-nnz))
		idx, val = idx[:nnz], val[:nnz*int64(w)]
	}
	unsorted := 0
	for i := 0; i < rows; i++ {
		prev := int64(-1)
		for p := ptr[i]; p < ptr[i+1]; p++ {
			j := idx[p]
			if j < 0 || j >= int64(cols) {
				return canon[V]{}, bad("npz %s: %s %d, entry %d: %s %d outside [0, %d)", kind, unit, i, p, strings.TrimSuffix(unit, "row")+"column", j, cols)
			}
			if j <= prev {
				unsorted++
			}
			prev = j
		}
	}
	if unsorted == 0 {
		out := make([]int32, len(idx))
		for p, j := range idx {
			out[p] = int32(j)
		}
		return canon[V]{ptr: ptr, idx: out, val: val}, nil
	}
	// Sort each row, then merge equal indices.
	out := canon[V]{ptr: make([]int64, rows+1), idx: make([]int32, 0, len(idx)), val: make([]V, 0, len(val))}
	var dups int64
	sortedRows := 0
	perm := []int64{}
	for i := 0; i < rows; i++ {
		lo, hi := ptr[i], ptr[i+1]
		perm = perm[:0]
		for p := lo; p < hi; p++ {
			perm = append(perm, p)
		}
		if !sort.SliceIsSorted(perm, func(a, b int) bool { return idx[perm[a]] < idx[perm[b]] }) {
			sortedRows++
			sort.SliceStable(perm, func(a, b int) bool { return idx[perm[a]] < idx[perm[b]] })
		}
		for k := 0; k < len(perm); {
			j := idx[perm[k]]
			e := k + 1
			for e < len(perm) && idx[perm[e]] == j {
				e++
			}
			out.idx = append(out.idx, int32(j))
			n := len(out.val)
			out.val = append(out.val, val[perm[k]*int64(w):(perm[k]+1)*int64(w)]...)
			if e-k > 1 {
				if err := sum(out.val[n:], val, w, perm[k:e]); err != nil {
					return canon[V]{}, bad("npz %s: %s %d, %scolumn %d: %v", kind, unit, i, strings.TrimSuffix(unit, "row"), j, err)
				}
				dups += int64(e - k - 1)
			}
			k = e
		}
		out.ptr[i+1] = int64(len(out.idx))
	}
	what := "entries"
	if kind == "bsr" {
		what = "blocks"
	}
	if sortedRows > 0 {
		info.Notes = append(info.Notes, fmt.Sprintf("column indices unsorted in %d %ss: sorted", sortedRows, unit))
	}
	if dups > 0 {
		how := "summed"
		if len(val) > 0 {
			how = sumNote(val[0])
		}
		info.Notes = append(info.Notes, fmt.Sprintf("%d duplicate %s %s", dups, what, how))
	}
	return out, nil
}

// sumFloat32 sums duplicate float32 entries in float64, rounded once to float32.
func sumFloat32(dst, val []float32, w int, at []int64) error {
	for t := range dst {
		var acc float64
		for _, p := range at {
			acc += float64(val[p*int64(w)+int64(t)])
		}
		dst[t] = float32(acc)
	}
	return nil
}

// sumI8 sums duplicate int8 entries of one row, which share the row's scale: exact, or an
// error when the sum leaves int8's range.
func sumI8(dst, val []int8, w int, at []int64) error {
	for t := range dst {
		acc := 0
		for _, p := range at {
			acc += int(val[p*int64(w)+int64(t)])
		}
		if acc < math.MinInt8 || acc > math.MaxInt8 {
			return fmt.Errorf("duplicate int8 entries sum to %d, outside int8 (sum them before quantising)", acc)
		}
		dst[t] = int8(acc)
	}
	return nil
}

// sum16 sums duplicate bf16 or f16 entries (t) in float64 (exact for f16, and for bf16
// unless their exponents lie more than 44 apart) and rounds the sum once to t
// (formats.Float64To16).
func sum16(t formats.DType) func(dst, val []uint16, w int, at []int64) error {
	widen := formats.BF16ToFloat32
	if t == formats.F16 {
		widen = formats.F16ToFloat32
	}
	return func(dst, val []uint16, w int, at []int64) error {
		for c := range dst {
			var acc float64
			for _, p := range at {
				acc += float64(widen(val[p*int64(w)+int64(c)]))
			}
			dst[c] = formats.Float64To16(t, acc)
		}
		return nil
	}
}

// sumNote says how duplicates of values of V's type were merged.
func sumNote(v any) string {
	switch v.(type) {
	case uint16:
		return "summed in float64, rounded to the stored 16-bit dtype"
	case int8:
		return "summed (int8, exactly: they share their row's scale)"
	}
	return "summed"
}

func (z *NPZ) readNM() (formats.Matrix, Info, error) {
	rows, cols, err := z.readShape()
	if err != nil {
		return nil, Info{}, err
	}
	scalar := func(name string) (int, error) {
		v, _, err := z.index0(name)
		if err != nil {
			return 0, err
		}
		if v < 1 || v > formats.MaxGroup {
			return 0, bad("npz nm: %q = %d outside 1…%d", name, v, formats.MaxGroup)
		}
		return int(v), nil
	}
	keep, err := scalar("keep")
	if err != nil {
		return nil, Info{}, err
	}
	group, err := scalar("group")
	if err != nil {
		return nil, Info{}, err
	}
	probe := &formats.NM{Rows: rows, Cols: cols, Keep: keep, Group: group}
	spr := probe.SlotsPerRow()
	if spr == 0 && rows > 1<<20 {
		// With K = 0 no array bounds M; refuse absurd row counts rather than loop over them.
		return nil, Info{}, bad("npz nm: %d rows of zero columns", rows)
	}
	pa, err := z.array("pos")
	if err != nil {
		return nil, Info{}, err
	}
	if pa.dt.kind != 'u' || pa.dt.size != 1 || len(pa.shape) != 2 || pa.shape[0] != rows || pa.shape[1] != spr {
		return nil, Info{}, bad("npz nm: \"pos\" is %s with shape %v; want |u1 (%d, %d)", pa.dt, pa.shape, rows, spr)
	}
	ai, err := z.Info("data")
	if err != nil {
		return nil, Info{}, err
	}
	if dt, err := parseDescr(ai.DType); err == nil {
		if _, ok := lpDType(dt); ok {
			return z.readNMLP(rows, cols, keep, group, spr, pa)
		}
	}
	da, err := z.floats("data")
	if err != nil {
		return nil, Info{}, err
	}
	if !da.dt.isFloat() || len(da.shape) != 2 || da.shape[0] != rows || da.shape[1] != spr {
		return nil, Info{}, bad("npz nm: \"data\" is %s with shape %v; want float (%d, %d) (or <f2, <u2 bf16 bits, |i1 + scales)", da.dt, da.shape, rows, spr)
	}
	val, overflow := da.f32, da.overflow
	m, err := formats.NewNM(rows, cols, keep, group, val, append([]uint8(nil), pa.raw...))
	if err != nil {
		return nil, Info{}, bad("npz nm: %v", err)
	}
	info := Info{Container: "npz", Layout: "nm", DType: da.dt.String(), IndexDType: pa.dt.String()}
	noteNarrow(&info, dtype{}, overflow)
	return m, info, nil
}

// readNMLP reads the "data" of an N:M matrix in its stored low-precision dtype (readLP:
// f16, bf16 bits, or int8 with the row scales "data_scale") into an NMLP: never widened.
func (z *NPZ) readNMLP(rows, cols, keep, group, spr int, pa *array) (formats.Matrix, Info, error) {
	a, err := z.readLP("data")
	if err != nil {
		return nil, Info{}, err
	}
	if len(a.shape) != 2 || a.shape[0] != rows || a.shape[1] != spr {
		return nil, Info{}, bad("npz nm: \"data\" is %s with shape %v; want (%d, %d)", a.dt, a.shape, rows, spr)
	}
	if a.t == formats.I8 && len(a.scale) != rows {
		return nil, Info{}, bad("npz nm: %d row scales in \"data%s\" for %d rows", len(a.scale), LPScaleSuffix, rows)
	}
	m := &formats.NMLP{Rows: rows, Cols: cols, Keep: keep, Group: group, Pos: append([]uint8(nil), pa.raw...),
		DType: a.t, Bits: a.bits, I8: a.q, Scale: a.scale}
	if a.t != formats.I8 {
		m.I8, m.Scale = nil, nil
	}
	if err := m.Validate(); err != nil {
		return nil, Info{}, bad("npz nm: %v", err)
	}
	return m, Info{Container: "npz", Layout: "nm", DType: a.dt.String(), IndexDType: pa.dt.String()}, nil
}

// index0 reads a 0-d (or one-element) integer array.
func (z *NPZ) index0(name string) (int64, dtype, error) {
	a, err := z.array(name)
	if err != nil {
		return 0, dtype{}, err
	}
	v, err := a.ints(fmt.Sprintf("npz %q", name))
	if err != nil {
		return 0, dtype{}, err
	}
	if len(v) != 1 || len(a.shape) > 1 {
		return 0, dtype{}, bad("npz: %q has shape %v; want a single integer", name, a.shape)
	}
	return v[0], a.dt, nil
}

// indexDType picks int32 indices (scipy's default) when every index and count fits,
// else int64.
func indexDType(maxVal int64) dtype {
	if maxVal <= math.MaxInt32 {
		return dtI32
	}
	return dtI64
}

func encodeInts(dt dtype, n int, at func(int) int64) []byte {
	raw := make([]byte, n*dt.size)
	for i := 0; i < n; i++ {
		v := at(i)
		if dt.size == 4 {
			dt.order().PutUint32(raw[4*i:], uint32(int32(v)))
		} else {
			dt.order().PutUint64(raw[8*i:], uint64(v))
		}
	}
	return raw
}

// writeScipy writes the keys of scipy.sparse.save_npz: indices, indptr, format (a 0-d |S3
// byte string, as scipy writes it), shape (int64 (2,)), data (written by data, with any
// array that belongs to it); plus blocksize for BSR.
func writeScipy(w io.Writer, compress bool, format string, rows, cols int, ptr []int64, idx []int32, data func(*NPZWriter) error, block []int) error {
	zw := NewNPZWriter(w, compress)
	maxv := int64(cols)
	if n := ptr[len(ptr)-1]; n > maxv {
		maxv = n
	}
	it := indexDType(maxv)
	if err := zw.add("indices", it, []int{len(idx)}, encodeInts(it, len(idx), func(i int) int64 { return int64(idx[i]) })); err != nil {
		return err
	}
	if err := zw.add("indptr", it, []int{len(ptr)}, encodeInts(it, len(ptr), func(i int) int64 { return ptr[i] })); err != nil {
		return err
	}
	if err := zw.add("format", dtype{kind: 'S', size: len(format)}, []int{}, []byte(format)); err != nil {
		return err
	}
	shape := []int64{int64(rows), int64(cols)}
	if err := zw.add("shape", dtI64, []int{2}, encodeInts(dtI64, 2, func(i int) int64 { return shape[i] })); err != nil {
		return err
	}
	if err := data(zw); err != nil {
		return err
	}
	if block != nil {
		if err := zw.add("blocksize", dtI64, []int{2}, encodeInts(dtI64, 2, func(i int) int64 { return int64(block[i]) })); err != nil {
			return err
		}
	}
	return zw.Close()
}

// WriteCSR writes c in scipy.sparse's npz layout (scipy.sparse.load_npz reads it as a
// csr_matrix): float32 data, int32 indices and indptr when nnz and K fit, else int64.
func WriteCSR(w io.Writer, c *formats.CSR, compress bool) error {
	if err := c.Validate(); err != nil {
		return err
	}
	return writeScipy(w, compress, "csr", c.Rows, c.Cols, c.RowPtr, c.ColIdx, float32Data(c.Val, []int{len(c.Val)}), nil)
}

// float32Data writes val as the float32 array "data" of the given shape.
func float32Data(val []float32, shape []int) func(*NPZWriter) error {
	return func(zw *NPZWriter) error { return zw.add("data", dtF32, shape, encodeFloats(dtF32, val)) }
}

// WriteCSRLP writes c in scipy.sparse's npz layout with "data" in c's own dtype
// (WriteDenseLP's convention): f16 '<f2', bf16 bit patterns '<u2', int8 '|i1' plus the
// float32 row scales as "data_scale" (data+LPScaleSuffix). scipy.sparse.load_npz reads
// the pattern and the stored values (bf16 as uint16, int8 without its scales); NPZ.Matrix
// and LoadMatrix read it back as a CSRLP, unchanged.
func WriteCSRLP(w io.Writer, c *formats.CSRLP, compress bool) error {
	if err := c.Validate(); err != nil {
		return err
	}
	data := func(zw *NPZWriter) error {
		return zw.addLP("data", []int{len(c.ColIdx)}, c.DType, c.Bits, c.I8, c.Scale)
	}
	return writeScipy(w, compress, "csr", c.Rows, c.Cols, c.RowPtr, c.ColIdx, data, nil)
}

// WriteBSRLP writes b in scipy.sparse's bsr npz layout (WriteBSR's) with "data" in b's
// own dtype (WriteCSRLP's convention): f16 '<f2', bf16 bit patterns '<u2', int8 '|i1'
// plus one float32 scale per matrix row as "data_scale". NPZ.Matrix and LoadMatrix read
// it back as a BSRLP, unchanged. A ragged b is refused with ErrRaggedBSR.
func WriteBSRLP(w io.Writer, b *formats.BSRLP, compress bool) error {
	if err := b.Validate(); err != nil {
		return err
	}
	if b.Rows%b.R != 0 || b.Cols%b.C != 0 {
		return fmt.Errorf("%w: shape %d×%d, block %d×%d", ErrRaggedBSR, b.Rows, b.Cols, b.R, b.C)
	}
	data := func(zw *NPZWriter) error {
		return zw.addLP("data", []int{len(b.BlockCol), b.R, b.C}, b.DType, b.Bits, b.I8, b.Scale)
	}
	return writeScipy(w, compress, "bsr", b.Rows, b.Cols, b.BlockRowPtr, b.BlockCol, data, []int{b.R, b.C})
}

// ErrRaggedBSR is returned when a BSR with M % R ≠ 0 or K % C ≠ 0 is to be saved in
// scipy's layout, which has no narrower edge blocks.
var ErrRaggedBSR = fmt.Errorf("fileio: ragged BSR cannot be saved in scipy's bsr npz layout (it needs M %% R = K %% C = 0); save it as CSR (b.ToCSR()) instead")

// WriteBSR writes b in scipy.sparse's npz layout (data of shape (blocks, R, C)) plus a
// "blocksize" array. A ragged b is refused with ErrRaggedBSR.
func WriteBSR(w io.Writer, b *formats.BSR, compress bool) error {
	if err := b.Validate(); err != nil {
		return err
	}
	if b.Rows%b.R != 0 || b.Cols%b.C != 0 {
		return fmt.Errorf("%w: shape %d×%d, block %d×%d", ErrRaggedBSR, b.Rows, b.Cols, b.R, b.C)
	}
	return writeScipy(w, compress, "bsr", b.Rows, b.Cols, b.BlockRowPtr, b.BlockCol, float32Data(b.Val, []int{b.NumBlocks(), b.R, b.C}), []int{b.R, b.C})
}

// WriteNM writes m in sparsegen's N:M npz layout (see the package doc).
func WriteNM(w io.Writer, m *formats.NM, compress bool) error {
	if err := m.Validate(); err != nil {
		return err
	}
	spr := m.SlotsPerRow()
	return writeNM(w, compress, m.Rows, m.Cols, m.Keep, m.Group, spr, m.Pos, func(zw *NPZWriter) error {
		return zw.add("data", dtF32, []int{m.Rows, spr}, encodeFloats(dtF32, m.Val))
	})
}

// WriteNMLP writes m in sparsegen's N:M npz layout with "data" in m's own dtype
// (WriteDenseLP's convention): f16 '<f2', bf16 bit patterns '<u2', int8 '|i1' plus the
// float32 row scales as "data_scale" (data+LPScaleSuffix). NPZ.Matrix and LoadMatrix read
// it back as an NMLP, unchanged.
func WriteNMLP(w io.Writer, m *formats.NMLP, compress bool) error {
	if err := m.Validate(); err != nil {
		return err
	}
	spr := m.SlotsPerRow()
	return writeNM(w, compress, m.Rows, m.Cols, m.Keep, m.Group, spr, m.Pos, func(zw *NPZWriter) error {
		return zw.addLP("data", []int{m.Rows, spr}, m.DType, m.Bits, m.I8, m.Scale)
	})
}

// writeNM writes the N:M layout (spr slots per row) with the positions pos and the values
// data writes.
func writeNM(w io.Writer, compress bool, rows, cols, keep, group, spr int, pos []uint8, data func(*NPZWriter) error) error {
	zw := NewNPZWriter(w, compress)
	m := struct{ Rows, Cols, Keep, Group int }{rows, cols, keep, group}
	shape := []int64{int64(m.Rows), int64(m.Cols)}
	steps := []func() error{
		func() error { return zw.add("format", dtype{kind: 'S', size: 2}, []int{}, []byte("nm")) },
		func() error {
			return zw.add("shape", dtI64, []int{2}, encodeInts(dtI64, 2, func(i int) int64 { return shape[i] }))
		},
		func() error {
			return zw.add("keep", dtI64, []int{}, encodeInts(dtI64, 1, func(int) int64 { return int64(m.Keep) }))
		},
		func() error {
			return zw.add("group", dtI64, []int{}, encodeInts(dtI64, 1, func(int) int64 { return int64(m.Group) }))
		},
		func() error { return data(zw) },
		func() error { return zw.add("pos", dtU8, []int{m.Rows, spr}, pos) },
	}
	for _, s := range steps {
		if err := s(); err != nil {
			return err
		}
	}
	return zw.Close()
}

// ReadNPZMatrix opens the .npz in r (size bytes) and reads its matrix (see NPZ.Matrix).
func ReadNPZMatrix(r io.ReaderAt, size int64, name string) (formats.Matrix, Info, error) {
	z, err := OpenNPZ(r, size)
	if err != nil {
		return nil, Info{}, err
	}
	return z.Matrix(name)
}

// lowPrecision reports whether array name holds weights that only DenseLP reads: bf16 bits
// ('<u2', WriteDenseLP's convention) or int8 ('|i1'). float16 ('<f2') widens in Dense as
// before (read it with DenseLP to keep it).
func (z *NPZ) lowPrecision(name string) bool {
	ai, err := z.Info(name)
	return err == nil && (ai.DType == dtU2.String() || ai.DType == dtI1.String())
}

// int8Pair reports whether the archive is exactly one int8 array and its row scales (as
// WriteDenseLP writes them) and returns the array's name.
func (z *NPZ) int8Pair() (string, bool) {
	if len(z.names) != 2 {
		return "", false
	}
	for i, n := range z.names {
		if z.names[1-i] == n+LPScaleSuffix && z.lowPrecision(n) {
			return n, true
		}
	}
	return "", false
}
