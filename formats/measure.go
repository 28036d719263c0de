package formats

import (
	"fmt"
	"math"
	"math/bits"
)

// BlockShape is an R×C block size.
type BlockShape struct{ R, C int }

func (b BlockShape) String() string { return fmt.Sprintf("%dx%d", b.R, b.C) }

// DefaultBlockShapes are the block sizes Measure reports when none are asked for: row
// blocks that share loads of X (R×1), column blocks, and square blocks.
var DefaultBlockShapes = []BlockShape{{2, 1}, {4, 1}, {8, 1}, {16, 1}, {1, 4}, {1, 8}, {2, 2}, {4, 4}, {8, 8}}

// nmGroups are the group sizes M for which Measure reports the tightest N:M.
var nmGroups = [3]int{4, 8, 16}

// BlockStats describes the matrix converted to BSR R×C (BSRFromDense keeps every block
// with at least one nonzero).
type BlockStats struct {
	R, C   int
	Blocks int64   // stored blocks
	Slots  int64   // stored values, the zeros inside stored blocks included (ragged edges narrower)
	Fill   float64 // NNZ / Slots: the fraction of stored slots that are nonzero (1 when Slots = 0)
	Bytes  int64   // BSRBytes of this layout
}

// NMStats is the tightest Keep:Group pattern the matrix satisfies for one Group.
type NMStats struct {
	Group int
	// MaxGroupNNZ is the largest number of nonzeros in any group of Group consecutive
	// columns of a row (groups aligned at multiples of Group; the last may be partial).
	MaxGroupNNZ int
	// Keep is the smallest N ≥ 1 such that NMFromDense(·, N, Group) succeeds:
	// max(1, MaxGroupNNZ). A partial last group of r columns allows min(N, r) nonzeros and
	// has at most r, so it constrains N only by its count.
	Keep int
	// Sparse reports Keep < Group: the pattern skips work (Keep = Group is dense).
	Sparse bool
	Bytes  int64 // NMBytes for Keep:Group
}

// Stats summarises a weight matrix for inspection and for the dispatcher's choice of
// format. Every count is of true nonzeros (stored zeros of a format do not count).
type Stats struct {
	Rows, Cols int
	NNZ        int64
	Density    float64 // NNZ / (Rows·Cols); 0 for an empty shape

	// Nonzeros per row.
	RowMin, RowMax  int
	RowMean, RowStd float64 // population standard deviation
	EmptyRows       int
	Blocks          []BlockStats // one per requested shape, in order
	NM              []NMStats    // Group = 4, 8 and 16, in that order
	DenseBytes      int64        // Rows·Cols·4
	CSRBytes        int64        // CSRBytes(Rows, NNZ, 4)
	CSR16Bytes      int64        // CSRBytes(Rows, NNZ, 2); 0 when K > 65536 (not applicable)
	CSR16Applicable bool         // K ≤ 65536
}

// BestBlock returns the block layout with the fewest bytes among s.Blocks (ties: the
// earlier shape), and false when no block shape was measured.
func (s *Stats) BestBlock() (BlockStats, bool) {
	if len(s.Blocks) == 0 {
		return BlockStats{}, false
	}
	best := 0
	for i, b := range s.Blocks {
		if b.Bytes < s.Blocks[best].Bytes {
			best = i
		}
	}
	return s.Blocks[best], true
}

// Block returns the stats of shape r×c if it was measured.
func (s *Stats) Block(r, c int) (BlockStats, bool) {
	for _, b := range s.Blocks {
		if b.R == r && b.C == c {
			return b, true
		}
	}
	return BlockStats{}, false
}

// ptrBytes is the size of one row pointer in a packed layout: 4 bytes while every offset
// fits int32, else 8.
func ptrBytes(maxOffset int64) int64 {
	if maxOffset <= MaxInt32 {
		return 4
	}
	return 8
}

// CSRBytes is the size of an M-row CSR with nnz entries: nnz values (4 B), nnz column
// indices of idxBytes each (4, or 2 when K ≤ 65536), and M+1 row pointers (4 B each while
// nnz < 2³¹, else 8 B).
func CSRBytes(rows int, nnz int64, idxBytes int) int64 {
	return nnz*(4+int64(idxBytes)) + int64(rows+1)*ptrBytes(nnz)
}

// BSRBytes is the size of a BSR layout of an M-row matrix with R-row blocks: slots values
// (4 B), one int32 block column per block, and ⌈M/R⌉+1 block row pointers (4 B while the
// block count fits int32, else 8 B).
func BSRBytes(rows, r int, blocks, slots int64) int64 {
	return slots*4 + blocks*4 + int64(ceilDiv(rows, r)+1)*ptrBytes(blocks)
}

// NMBytes is the size of a rows×cols matrix stored as keep:group: every slot (spare slots
// included) holds a 4-byte value and a position of ⌈log2 group⌉ bits, the positions packed
// densely. It returns 0 for an invalid pattern.
func NMBytes(rows, cols, keep, group int) int64 {
	m := &NM{Rows: rows, Cols: cols, Keep: keep, Group: group}
	if group < 1 || group > MaxGroup || keep < 1 || keep > group || rows < 0 || cols < 0 {
		return 0
	}
	slots := int64(rows) * int64(m.SlotsPerRow())
	return slots*4 + (slots*int64(m.PosBits())+7)/8
}

// Measure computes the Stats of m for the given block shapes (DefaultBlockShapes when none
// are given). It validates m first. It runs in O(M·K/64 per shape) on top of one pass over
// the values for a Dense m, and in O(nnz + M + K/C per shape) for the sparse formats (or
// the bitmap path when they are denser than 1/64).
func Measure(m Matrix, shapes ...BlockShape) (*Stats, error) {
	if m == nil {
		return nil, invalid("matrix", "", "nil matrix")
	}
	if d, ok := m.(*Dense); ok {
		st, _, err := MeasureDense(d, -1, shapes...)
		return st, err
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	shapes, err := checkShapes(shapes)
	if err != nil {
		return nil, err
	}
	rows, cols := m.Shape()
	c := newCollector(rows, cols, shapes)
	switch w := m.(type) {
	case *CSR:
		// Which path is only a matter of speed: decide by the stored count (no pass over
		// the values), and take the row bitmaps straight from the CSR.
		if forceMeasurePath == pathBits || forceMeasurePath == pathAuto && int64(len(w.Val))*64 >= int64(rows)*int64(cols) {
			c.runCSRBits(w)
		} else {
			c.runSparse(rowSourceOf(m), false)
		}
	default:
		src := rowSourceOf(m)
		useBits := forceMeasurePath == pathBits ||
			(forceMeasurePath == pathAuto && m.NNZ()*64 >= int64(rows)*int64(cols))
		c.runSparse(src, useBits)
	}
	return c.finish(), nil
}

// MeasureDense is Measure for a Dense d that also returns d's nonzeros as a CSR (exactly
// CSRFromDense's) when d's density is at most maxCSR, and nil otherwise: both come from
// one pass over the values, where Measure then CSRFromDense would make two.
func MeasureDense(d *Dense, maxCSR float64, shapes ...BlockShape) (*Stats, *CSR, error) {
	if d == nil {
		return nil, nil, invalid("matrix", "", "nil matrix")
	}
	if err := d.Validate(); err != nil {
		return nil, nil, err
	}
	shapes, err := checkShapes(shapes)
	if err != nil {
		return nil, nil, err
	}
	b := denseBits(d)
	c := newCollector(d.Rows, d.Cols, shapes)
	c.initBits()
	for i := 0; i < d.Rows; i++ {
		c.row = b.row(i) // addBits only reads it
		c.rowCount(int(b.rowPtr[i+1] - b.rowPtr[i]))
		c.addBits(i)
	}
	st := c.finish()
	if st.Density > maxCSR || checkCSRCols(d) != nil {
		return st, nil, nil
	}
	return st, csrFromBits(d, b), nil
}

// checkShapes returns shapes (DefaultBlockShapes when empty) or an error for one out of range.
func checkShapes(shapes []BlockShape) ([]BlockShape, error) {
	if len(shapes) == 0 {
		return DefaultBlockShapes, nil
	}
	for _, s := range shapes {
		if s.R < 1 || s.C < 1 || s.R > MaxBlockDim || s.C > MaxBlockDim {
			return nil, invalid("bsr", "", "block %d×%d outside 1…%d", s.R, s.C, MaxBlockDim)
		}
	}
	return shapes, nil
}

// Test hook: which algorithm Measure uses for the sparse formats.
const (
	pathAuto = iota
	pathBits
	pathIdx
)

var forceMeasurePath = pathAuto

// rowSource yields the ascending column indices of the true nonzeros of row i.
type rowSource func(i int, buf []int32) []int32

// RowNonzeros returns a function that yields the ascending column indices of the true
// nonzeros of row i of m (stored zeros skipped), appended to buf[:0]. m must be valid.
func RowNonzeros(m Matrix) func(i int, buf []int32) []int32 { return rowSourceOf(m) }

func rowSourceOf(m Matrix) rowSource {
	switch w := m.(type) {
	case *CSR:
		return func(i int, buf []int32) []int32 {
			buf = buf[:0]
			for p := w.RowPtr[i]; p < w.RowPtr[i+1]; p++ {
				if w.Val[p] != 0 {
					buf = append(buf, w.ColIdx[p])
				}
			}
			return buf
		}
	case *BSR:
		return bsrRows(w, func(v int64) bool { return w.Val[v] != 0 })
	case *NM:
		return nmRows(w, func(s int) bool { return w.Val[s] != 0 })
	case *CSRLP:
		// Low precision is read as stored (a ±0 bit pattern or a 0 int8 is a zero), never
		// widened into a float32 copy.
		return func(i int, buf []int32) []int32 {
			buf = buf[:0]
			for p := w.RowPtr[i]; p < w.RowPtr[i+1]; p++ {
				if lpNonzero(w.DType, w.Bits, w.I8, int(p)) {
					buf = append(buf, w.ColIdx[p])
				}
			}
			return buf
		}
	case *NMLP:
		return nmRows(w.geometry(), func(s int) bool { return lpNonzero(w.DType, w.Bits, w.I8, s) })
	case *BSRLP:
		return bsrRows(w.Pattern(), func(v int64) bool { return lpNonzero(w.DType, w.Bits, w.I8, int(v)) })
	case *DenseLP:
		return func(i int, buf []int32) []int32 {
			buf = buf[:0]
			for j := 0; j < w.Cols; j++ {
				if lpNonzero(w.DType, w.Bits, w.I8, i*w.Stride+j) {
					buf = append(buf, int32(j))
				}
			}
			return buf
		}
	}
	d := m.ToDense()
	return func(i int, buf []int32) []int32 {
		buf = buf[:0]
		for j, v := range d.Row(i) {
			if v != 0 {
				buf = append(buf, int32(j))
			}
		}
		return buf
	}
}

// bsrRows walks the rows of the block grid of b (its values are not read: a BSRLP's pattern
// does too), nz(v) telling whether value v (BlockOffset order) is a nonzero.
func bsrRows(b *BSR, nz func(v int64) bool) rowSource {
	return func(i int, buf []int32) []int32 {
		buf = buf[:0]
		bi, r := i/b.R, i%b.R
		for p := b.BlockRowPtr[bi]; p < b.BlockRowPtr[bi+1]; p++ {
			j := int(b.BlockCol[p])
			_, bw := b.BlockDims(bi, j)
			v := b.BlockOffset(int(p)) + int64(r*bw)
			for c := 0; c < bw; c++ {
				if nz(v + int64(c)) {
					buf = append(buf, int32(j*b.C+c))
				}
			}
		}
		return buf
	}
}

// nmRows walks the slots of the rows of g's pattern (its values are not read: an NMLP's
// geometry does too), nz(s) telling whether slot s (row-major) holds a nonzero.
func nmRows(g *NM, nz func(s int) bool) rowSource {
	spr, groups := g.SlotsPerRow(), g.Groups()
	return func(i int, buf []int32) []int32 {
		buf = buf[:0]
		s := i * spr
		for gi := 0; gi < groups; gi++ {
			slots, _ := g.GroupSlots(gi)
			for k := 0; k < slots; k++ {
				if nz(s) {
					buf = append(buf, int32(gi*g.Group+int(g.Pos[s])))
				}
				s++
			}
		}
		return buf
	}
}

// lpNonzero reports whether entry p of low-precision storage is not zero, as
// countLPNonzero counts (±0 bit patterns and int8 0 are zeros; NaN is not).
func lpNonzero(dt DType, bits []uint16, q []int8, p int) bool {
	if dt == I8 {
		return q[p] != 0
	}
	return bits[p]&0x7fff != 0
}

// collector accumulates the statistics row by row, from either a bitmap of the row's
// nonzeros or the list of their columns.
type collector struct {
	rows, cols int
	nw         int // words per row bitmap

	nnz          int64
	rmin, rmax   int
	sum, sumsq   float64
	empty        int
	nmMax        []int // per nmGroups entry
	shapes       []BlockShape
	blocks       []int64
	slots        []int64
	acc          [][]uint64 // bitmap path: OR of the rows of the current block row, per shape
	mark         [][]int    // index path: last block row (+1) that stored block column j, per shape
	row          []uint64
	lastChunkSet []bool
}

func newCollector(rows, cols int, shapes []BlockShape) *collector {
	return &collector{
		rows: rows, cols: cols, nw: (cols + 63) / 64,
		rmin: math.MaxInt, nmMax: make([]int, len(nmGroups)),
		shapes: shapes, blocks: make([]int64, len(shapes)), slots: make([]int64, len(shapes)),
	}
}

func (c *collector) rowCount(n int) {
	c.nnz += int64(n)
	c.rmin = min(c.rmin, n)
	c.rmax = max(c.rmax, n)
	c.sum += float64(n)
	c.sumsq += float64(n) * float64(n)
	if n == 0 {
		c.empty++
	}
}

func (c *collector) runSparse(src rowSource, useBits bool) {
	buf := make([]int32, 0, 64)
	if useBits {
		c.initBits()
	} else {
		c.mark = make([][]int, len(c.shapes))
		for s, sh := range c.shapes {
			c.mark[s] = make([]int, ceilDiv(c.cols, sh.C))
		}
	}
	for i := 0; i < c.rows; i++ {
		buf = src(i, buf)
		c.rowCount(len(buf))
		if useBits {
			clear(c.row)
			for _, j := range buf {
				c.row[j>>6] |= 1 << uint(j&63)
			}
			c.addBits(i)
		} else {
			c.addIdx(i, buf)
		}
	}
}

// runCSRBits is runSparse's bitmap path for a CSR, setting each row's bits from its
// entries directly (a stored zero sets none: NaN counts, ±0 does not).
func (c *collector) runCSRBits(w *CSR) {
	c.initBits()
	for i := 0; i < c.rows; i++ {
		clear(c.row)
		lo, hi := w.RowPtr[i], w.RowPtr[i+1]
		c.rowCount(int(setRowBits(c.row, w.ColIdx[lo:hi], w.Val[lo:hi])))
		c.addBits(i)
	}
}

// setRowBits sets bit j of row for each column j of cols whose value is nonzero and returns
// how many it set (the columns are distinct and in range: W is valid).
func setRowBits(row []uint64, cols []int32, vals []float32) int64 {
	vals = vals[:len(cols)]
	var n int64
	for p, j := range cols {
		nz := isNonzero(vals[p])
		row[j>>6] |= uint64(nz) << uint(j&63)
		n += int64(nz)
	}
	return n
}

func (c *collector) initBits() {
	c.row = make([]uint64, c.nw)
	c.acc = make([][]uint64, len(c.shapes))
	for s := range c.shapes {
		c.acc[s] = make([]uint64, c.nw)
	}
}

// addBits folds row i (in c.row) into the N:M maxima and the block accumulators.
func (c *collector) addBits(i int) {
	m4, m8, m16 := c.nmMax[0], c.nmMax[1], c.nmMax[2]
	for _, x := range c.row {
		if x == 0 {
			continue
		}
		// Per-nibble, per-byte and per-halfword population counts (SWAR).
		c2 := x - (x>>1)&0x5555555555555555
		c4 := c2&0x3333333333333333 + (c2>>2)&0x3333333333333333
		c8 := (c4 + c4>>4) & 0x0f0f0f0f0f0f0f0f
		c16 := (c8 + c8>>8) & 0x00ff00ff00ff00ff
		// Raise each maximum while some field exceeds it: adding 2^(b−1)−1−max to every
		// b-bit field (no carry out: counts are ≤ 4, 8, 16) sets its top bit exactly where
		// the count is > max. The maxima rise at most 4 + 8 + 16 times in all, so a word
		// costs a few operations, not a loop over its fields.
		for m4 < 4 && (c4+uint64(7-m4)*0x1111111111111111)&0x8888888888888888 != 0 {
			m4++
		}
		for m8 < 8 && (c8+uint64(127-m8)*0x0101010101010101)&0x8080808080808080 != 0 {
			m8++
		}
		for m16 < 16 && (c16+uint64(0x7fff-m16)*0x0001000100010001)&0x8000800080008000 != 0 {
			m16++
		}
	}
	c.nmMax[0], c.nmMax[1], c.nmMax[2] = m4, m8, m16

	for s, sh := range c.shapes {
		acc := c.acc[s]
		for w, x := range c.row {
			acc[w] |= x
		}
		if (i+1)%sh.R == 0 || i == c.rows-1 {
			h := (i % sh.R) + 1
			n, lastSet := countChunks(acc, c.cols, sh.C)
			c.blocks[s] += n
			c.slots[s] += n * int64(h*sh.C)
			if lastSet {
				c.slots[s] -= int64(h * (ceilDiv(c.cols, sh.C)*sh.C - c.cols))
			}
			clear(acc)
		}
	}
}

// countChunks counts the aligned width-C column chunks of a cols-bit bitmap that hold a set
// bit, and says whether the last (possibly ragged) chunk does.
func countChunks(acc []uint64, cols, C int) (n int64, lastSet bool) {
	if cols == 0 {
		return 0, false
	}
	lastStart := (ceilDiv(cols, C) - 1) * C
	lastSet = anyBit(acc, lastStart, cols)
	if C&(C-1) == 0 {
		// C divides 64: OR each chunk's bits into its first bit, then count first bits
		// (mask: the first bit of every chunk, 0x…1111 for C = 4).
		mask := uint64(1)
		if C < 64 {
			mask = ^uint64(0) / (1<<uint(C) - 1)
		}
		for _, x := range acc {
			if x == 0 {
				continue
			}
			for s := 1; s < C; s <<= 1 {
				x |= x >> uint(s)
			}
			n += int64(bits.OnesCount64(x & mask))
		}
		return n, lastSet
	}
	for lo := 0; lo < cols; lo += C {
		if anyBit(acc, lo, min(lo+C, cols)) {
			n++
		}
	}
	return n, lastSet
}

// anyBit reports whether any bit in [lo, hi) is set.
func anyBit(acc []uint64, lo, hi int) bool {
	for lo < hi {
		w, b := lo>>6, uint(lo&63)
		width := min(64-int(b), hi-lo)
		m := ^uint64(0) >> uint(64-width) << b
		if acc[w]&m != 0 {
			return true
		}
		lo += width
	}
	return false
}

// addIdx folds the ascending nonzero columns of row i into the N:M maxima and the blocks.
func (c *collector) addIdx(i int, idx []int32) {
	for g, G := range nmGroups {
		sh := uint(bits.TrailingZeros(uint(G)))
		best := c.nmMax[g]
		run, cur := 0, int32(-1)
		for _, j := range idx {
			if grp := j >> sh; grp != cur {
				cur, run = grp, 0
			}
			run++
			best = max(best, run)
		}
		c.nmMax[g] = best
	}
	for s, sh := range c.shapes {
		bi := i / sh.R
		h := min(sh.R, c.rows-bi*sh.R)
		mark := c.mark[s]
		for _, j := range idx {
			bj := int(j) / sh.C
			if mark[bj] != bi+1 {
				mark[bj] = bi + 1
				c.blocks[s]++
				c.slots[s] += int64(h * min(sh.C, c.cols-bj*sh.C))
			}
		}
	}
}

func (c *collector) finish() *Stats {
	s := &Stats{Rows: c.rows, Cols: c.cols, NNZ: c.nnz, EmptyRows: c.empty,
		RowMax: c.rmax, CSR16Applicable: c.cols <= 65536}
	total := int64(c.rows) * int64(c.cols)
	if total > 0 {
		s.Density = float64(c.nnz) / float64(total)
	}
	if c.rows > 0 {
		s.RowMin = c.rmin
		s.RowMean = c.sum / float64(c.rows)
		s.RowStd = math.Sqrt(max(0, c.sumsq/float64(c.rows)-s.RowMean*s.RowMean))
	}
	s.DenseBytes = total * 4
	s.CSRBytes = CSRBytes(c.rows, c.nnz, 4)
	if s.CSR16Applicable {
		s.CSR16Bytes = CSRBytes(c.rows, c.nnz, 2)
	}
	for i, sh := range c.shapes {
		b := BlockStats{R: sh.R, C: sh.C, Blocks: c.blocks[i], Slots: c.slots[i], Fill: 1}
		if b.Slots > 0 {
			b.Fill = float64(c.nnz) / float64(b.Slots)
		}
		b.Bytes = BSRBytes(c.rows, sh.R, b.Blocks, b.Slots)
		s.Blocks = append(s.Blocks, b)
	}
	for g, G := range nmGroups {
		keep := max(1, c.nmMax[g])
		s.NM = append(s.NM, NMStats{Group: G, MaxGroupNNZ: c.nmMax[g], Keep: keep,
			Sparse: keep < G, Bytes: NMBytes(c.rows, c.cols, keep, G)})
	}
	return s
}

// BlockFill measures m as BSR r×c only (see BlockStats).
func BlockFill(m Matrix, r, c int) (BlockStats, error) {
	s, err := Measure(m, BlockShape{r, c})
	if err != nil {
		return BlockStats{}, err
	}
	return s.Blocks[0], nil
}
