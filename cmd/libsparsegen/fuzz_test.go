package main

import (
	"encoding/binary"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/sparsegen/sparsegen/formats"
)

// FuzzReaders feeds arbitrary index arrays to the CSR and BSR readers, as a C caller could:
// they must return an error or a valid matrix equal to the sum of the given entries, and
// never panic.
func FuzzReaders(f *testing.F) {
	f.Add([]byte{3, 4, 0, 2, 2, 3, 1, 0, 3, 3}, uint8(2), uint8(2))
	f.Add([]byte{2, 2, 0, 1, 2, 0, 0}, uint8(1), uint8(3))
	f.Add([]byte{1, 1, 0, 0}, uint8(3), uint8(1))
	f.Fuzz(func(t *testing.T, b []byte, r, c uint8) {
		if len(b) < 2 {
			return
		}
		m, k := int(b[0]%9), int(b[1]%9)
		rest := b[2:]
		next := func() int64 { // small signed values, occasionally huge
			if len(rest) == 0 {
				return 0
			}
			v := int64(int8(rest[0]))
			rest = rest[1:]
			if v == -128 && len(rest) >= 8 {
				v = int64(binary.LittleEndian.Uint64(rest))
				rest = rest[8:]
			}
			return v
		}
		np := m + 1
		ptr := make([]int64, np)
		for i := range ptr {
			ptr[i] = next()
		}
		nnz := int64(len(rest) / 2)
		idx := make([]int64, nnz)
		for i := range idx {
			idx[i] = next()
		}
		vals := make([]float32, max(nnz, 1)*int64(max(int(r%5), 1)*max(int(c%5), 1)))
		for i := range vals {
			vals[i] = float32(i%7) - 3
		}

		// CSR: the result is the sum of entries ptr[i] ≤ p < ptr[i+1] at (i, idx[p]).
		csr, _, err := readCSR(m, k, nnz, i64(ptr...), i64(idx...), vals[:nnz])
		if err == nil {
			if err := csr.Validate(); err != nil {
				t.Fatalf("readCSR returned an invalid matrix: %v", err)
			}
			want := make([]float32, m*k)
			for i := range m {
				for p := ptr[i]; p < ptr[i+1]; p++ {
					want[i*k+int(idx[p])] += vals[p]
				}
			}
			if got := csr.ToDense().Data; !slices.Equal(got, want) {
				t.Fatalf("csr %v, want %v", got, want)
			}
		} else if classify(err) == codeInternal || classify(err) == codeOK {
			t.Fatalf("readCSR error with code %d: %v", classify(err), err)
		}

		// CSR in int8 (the same values, scale 1) and f16: the same matrix, or the same
		// error (an int8 sum may also leave int8's range).
		q, h := make([]int8, nnz), make([]uint16, nnz)
		for p := range q {
			q[p], h[p] = int8(vals[p]), formats.Float32ToF16(vals[p])
		}
		ones := make([]float32, m)
		for i := range ones {
			ones[i] = 1
		}
		for _, lp := range []struct {
			t    formats.DType
			bits []uint16
			q    []int8
			sc   []float32
		}{{formats.I8, nil, q, ones}, {formats.F16, h, nil, nil}} {
			c, _, lerr := readCSRLP(lp.t, m, k, nnz, i64(ptr...), i64(idx...), lp.bits, lp.q, lp.sc)
			switch {
			case lerr == nil && err == nil:
				if err := c.Validate(); err != nil {
					t.Fatalf("readCSRLP(%s) returned an invalid matrix: %v", lp.t, err)
				}
				if got, want := c.ToDense().Data, csr.ToDense().Data; !slices.Equal(got, want) {
					t.Fatalf("csr %s %v, want %v", lp.t, got, want)
				}
			case lerr == nil:
				t.Fatalf("readCSRLP(%s) accepted what readCSR refused: %v", lp.t, err)
			case classify(lerr) == codeInternal || classify(lerr) == codeOK:
				t.Fatalf("readCSRLP(%s) error with code %d: %v", lp.t, classify(lerr), lerr)
			case err == nil && !(lp.t == formats.I8 && strings.Contains(lerr.Error(), "outside int8")):
				t.Fatalf("readCSRLP(%s) refused what readCSR accepted: %v", lp.t, lerr)
			}
		}

		// BSR with r×c blocks over the same arrays (first ⌈M/r⌉+1 pointers).
		rr, cc := int(r%5), int(c%5)
		if rr == 0 || cc == 0 {
			_, _, err := readBSR(m, k, rr, cc, 0, i64(0), i64(), nil)
			if err == nil {
				t.Fatal("readBSR accepted a 0-sized block")
			}
			return
		}
		br := (m + rr - 1) / rr
		bsr, _, err := readBSR(m, k, rr, cc, nnz, i64(ptr[:br+1]...), i64(idx...), vals[:nnz*int64(rr*cc)])
		if err == nil {
			if err := bsr.Validate(); err != nil {
				t.Fatalf("readBSR returned an invalid matrix: %v", err)
			}
			want := make([]float64, m*k)
			for i := range br {
				for p := ptr[i]; p < ptr[i+1]; p++ {
					for a := range rr {
						for q := range cc {
							row, col := i*rr+a, int(idx[p])*cc+q
							if row < m && col < k {
								want[row*k+col] += float64(vals[p*int64(rr*cc)+int64(a*cc+q)])
							}
						}
					}
				}
			}
			got := bsr.ToDense().Data
			for i := range got {
				if math.Abs(float64(got[i])-want[i]) > 0 {
					t.Fatalf("bsr[%d] = %v, want %v", i, got[i], want[i])
				}
			}
		} else if classify(err) == codeInternal || classify(err) == codeOK {
			t.Fatalf("readBSR error with code %d: %v", classify(err), err)
		}
	})
}
