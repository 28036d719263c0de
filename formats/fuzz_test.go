package formats

import (
	"testing"

	"github.com/sparsegen/sparsegen/internal/fuzzbytes"
)

// bytesrc hands out fuzz bytes; past the end it returns zeros.
type bytesrc struct{ fuzzbytes.Reader }

func (s *bytesrc) next() byte { return byte(s.Next()) }

func (s *bytesrc) n(mod int) int { return int(s.next()) % mod }

// value returns a float32 that is zero about a quarter of the time.
func (s *bytesrc) value() float32 {
	b := s.next()
	if b%4 == 0 {
		return 0
	}
	return float32(int(b)-128) / 8
}

// length returns want, or (rarely) a length off by a little, to exercise length checks.
func (s *bytesrc) length(want int) int {
	switch s.next() % 16 {
	case 0:
		return max(0, want-1)
	case 1:
		return want + 1
	case 2:
		return 0
	}
	return want
}

// ptrs makes a pointer array of length n: either cumulative (monotone from 0, valid-looking)
// or raw small signed values.
func (s *bytesrc) ptrs(n int, step int) []int64 {
	p := make([]int64, n)
	raw := s.next()%8 == 0
	var acc int64
	for i := range p {
		if raw {
			p[i] = int64(int8(s.next()))
			continue
		}
		if i > 0 {
			acc += int64(s.n(step + 1))
		}
		p[i] = acc
	}
	return p
}

// indices makes n column (or block column) indices below lim, increasing within each
// segment of ptrs when sorted is set, else raw signed values.
func (s *bytesrc) indices(ptr []int64, n, lim int) []int32 {
	idx := make([]int32, n)
	if s.next()%8 == 0 {
		for i := range idx {
			idx[i] = int32(int8(s.next()))
		}
		return idx
	}
	for r := 0; r+1 < len(ptr); r++ {
		lo, hi := max(ptr[r], 0), min(ptr[r+1], int64(n))
		c := int32(-1)
		for p := lo; p < hi; p++ {
			c += int32(1 + s.n(2))
			idx[p] = min(c, int32(lim)) // may run past lim: Validate must catch it
		}
	}
	return idx
}

func checkMeasureAgrees(t *testing.T, m Matrix, d *Dense) {
	t.Helper()
	a, err := Measure(m, BlockShape{2, 3}, BlockShape{4, 1})
	if err != nil {
		t.Fatalf("Measure of a valid %T: %v", m, err)
	}
	b, err := Measure(d, BlockShape{2, 3}, BlockShape{4, 1})
	if err != nil {
		t.Fatal(err)
	}
	if a.NNZ != b.NNZ || a.RowMax != b.RowMax || a.NM[0] != b.NM[0] || a.NM[2] != b.NM[2] ||
		a.Blocks[0] != b.Blocks[0] || a.Blocks[1] != b.Blocks[1] {
		t.Fatalf("Measure of %T disagrees with its dense form:\n%+v\n%+v", m, a, b)
	}
}

func FuzzValidateCSR(f *testing.F) {
	f.Add([]byte{3, 4, 5, 1, 2, 1, 3, 9, 9, 9, 9, 9, 9})
	f.Add([]byte{0, 0})
	f.Add([]byte{1, 1, 3, 1, 1, 0, 4})
	f.Add([]byte{8, 8, 1, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 200, 100, 3, 7})
	f.Fuzz(func(t *testing.T, data []byte) {
		s := &bytesrc{fuzzbytes.Reader{B: data}}
		rows, cols := s.n(10), s.n(10)
		rp := s.ptrs(s.length(rows+1), 3)
		nnz := 0
		if len(rp) > 0 {
			nnz = int(max(0, min(rp[len(rp)-1], 64)))
		}
		c := &CSR{Rows: rows, Cols: cols, RowPtr: rp}
		c.ColIdx = s.indices(rp, s.length(nnz), cols)
		c.Val = make([]float32, s.length(nnz))
		for i := range c.Val {
			c.Val[i] = s.value()
		}
		if err := c.Validate(); err != nil {
			if _, ok := err.(*InvalidError); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		d := c.ToDense()
		back, err := CSRFromDense(d)
		if err != nil {
			t.Fatal(err)
		}
		if !sameDense(d, back.ToDense()) || back.NNZ() != c.NNZ() {
			t.Fatalf("round trip changed the matrix")
		}
		checkMeasureAgrees(t, c, d)
	})
}

func FuzzValidateBSR(f *testing.F) {
	f.Add([]byte{5, 7, 2, 3, 1, 1, 1, 1, 1, 1, 1, 1})
	f.Add([]byte{0, 0, 1, 1})
	f.Add([]byte{9, 9, 4, 4, 5, 1, 1, 1, 1, 1, 0, 0, 0})
	f.Add([]byte{3, 5, 2, 2, 3, 0, 1, 1, 3, 3, 3, 3, 3, 3, 3})
	f.Fuzz(func(t *testing.T, data []byte) {
		s := &bytesrc{fuzzbytes.Reader{B: data}}
		rows, cols := s.n(12), s.n(12)
		r, c := s.n(6), s.n(6)
		if s.next()%32 == 0 {
			r = 65
		}
		b := &BSR{Rows: rows, Cols: cols, R: r, C: c}
		br, bc := ceilDiv(rows, max(r, 1)), ceilDiv(cols, max(c, 1))
		b.BlockRowPtr = s.ptrs(s.length(br+1), 2)
		nb := 0
		if len(b.BlockRowPtr) > 0 {
			nb = int(max(0, min(b.BlockRowPtr[len(b.BlockRowPtr)-1], 64)))
		}
		b.BlockCol = s.indices(b.BlockRowPtr, s.length(nb), bc)
		// The values the stored blocks need, when that can be computed safely.
		need := 0
		if r >= 1 && c >= 1 && len(b.BlockRowPtr) == br+1 {
			for i := 0; i < br; i++ {
				for p := max(b.BlockRowPtr[i], 0); p < min(b.BlockRowPtr[i+1], int64(len(b.BlockCol))); p++ {
					if j := int(b.BlockCol[p]); j >= 0 && j < bc {
						h, w := b.BlockDims(i, j)
						need += h * w
					}
				}
			}
		}
		b.Val = make([]float32, s.length(min(need, 4096)))
		for i := range b.Val {
			b.Val[i] = s.value()
		}
		if err := b.Validate(); err != nil {
			if _, ok := err.(*InvalidError); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		d := b.ToDense()
		back, err := BSRFromDense(d, r, c)
		if err != nil {
			t.Fatal(err)
		}
		if !sameDense(d, back.ToDense()) || back.NNZ() != b.NNZ() || back.NumBlocks() > b.NumBlocks() {
			t.Fatalf("round trip changed the matrix")
		}
		checkMeasureAgrees(t, b, d)
	})
}

func FuzzValidateNM(f *testing.F) {
	f.Add([]byte{2, 6, 2, 4, 1, 1, 1, 1, 1, 1, 1, 1, 9, 9, 9, 9, 9, 9, 9, 9})
	f.Add([]byte{0, 0, 1, 1})
	f.Add([]byte{3, 17, 3, 16, 0, 0, 0, 0})
	f.Add([]byte{1, 4, 5, 4})
	f.Fuzz(func(t *testing.T, data []byte) {
		s := &bytesrc{fuzzbytes.Reader{B: data}}
		rows, cols := s.n(6), s.n(40)
		keep, group := s.n(18), s.n(18)
		m := &NM{Rows: rows, Cols: cols, Keep: keep, Group: group}
		slots := rows * 4
		if group >= 1 && group <= MaxGroup && keep >= 1 && keep <= group {
			slots = rows * m.SlotsPerRow()
		}
		n := s.length(slots)
		m.Val = make([]float32, n)
		m.Pos = make([]uint8, s.length(n))
		raw := s.next()%8 == 0
		p := 0
		for i := range m.Pos {
			if raw {
				m.Pos[i] = s.next() % 20
				continue
			}
			// Increasing runs that restart now and then (a new group).
			if s.next()%3 == 0 {
				p = 0
			}
			m.Pos[i] = uint8(min(p, 255))
			p += 1 + s.n(2)
		}
		for i := range m.Val {
			m.Val[i] = s.value()
		}
		if err := m.Validate(); err != nil {
			if _, ok := err.(*InvalidError); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		d := m.ToDense()
		back, err := NMFromDense(d, keep, group)
		if err != nil {
			t.Fatalf("a valid %d:%d matrix does not convert back: %v", keep, group, err)
		}
		if !sameDense(d, back.ToDense()) || back.NNZ() != m.NNZ() {
			t.Fatalf("round trip changed the matrix")
		}
		checkMeasureAgrees(t, m, d)
	})
}
