package formats

import (
	"math"
	"math/rand"
	"reflect"
	"testing"
	"testing/quick"
)

// fill selects how a random test matrix is populated.
type fill int

const (
	fillRandom    fill = iota // each entry nonzero with probability density
	fillZero                  // all zero
	fillFull                  // every entry nonzero
	fillEmptyRows             // random, with about half the rows all zero
	numFills
)

// denseCase is a random matrix description for testing/quick: a shape drawn to hit the
// edges (0, 1, small primes, just over a group or block), a fill kind, a density and a seed.
type denseCase struct {
	M, K, Stride int
	Fill         fill
	Density      float64
	Seed         int64
}

var edgeDims = []int{0, 1, 1, 2, 3, 4, 5, 7, 8, 9, 13, 16, 17, 31, 33}

// Generate implements quick.Generator.
func (denseCase) Generate(r *rand.Rand, _ int) reflect.Value {
	c := denseCase{
		M:       edgeDims[r.Intn(len(edgeDims))],
		K:       edgeDims[r.Intn(len(edgeDims))],
		Fill:    fill(r.Intn(int(numFills))),
		Density: []float64{0.02, 0.1, 0.3, 0.5, 0.9}[r.Intn(5)],
		Seed:    r.Int63(),
	}
	if r.Intn(8) == 0 {
		c.M, c.K = r.Intn(70), r.Intn(70)
	}
	c.Stride = max(c.K, 1)
	if r.Intn(3) == 0 {
		c.Stride += r.Intn(5)
	}
	return reflect.ValueOf(c)
}

// build makes the matrix; padding between rows (stride > K) is filled with a poison value
// that no conversion may read.
func (c denseCase) build() *Dense {
	r := rand.New(rand.NewSource(c.Seed))
	n := 0
	if c.M > 0 {
		n = (c.M-1)*c.Stride + c.K
	}
	d := &Dense{Rows: c.M, Cols: c.K, Stride: c.Stride, Data: make([]float32, n)}
	for i := range d.Data {
		d.Data[i] = 12345 // poison in the padding
	}
	for i := 0; i < c.M; i++ {
		row := d.Row(i)
		emptyRow := c.Fill == fillEmptyRows && r.Intn(2) == 0
		for j := range row {
			var v float32
			switch {
			case c.Fill == fillZero || emptyRow:
			case c.Fill == fillFull || r.Float64() < c.Density:
				v = float32(r.NormFloat64())
				if v == 0 {
					v = 1
				}
			}
			row[j] = v
		}
	}
	return d
}

func quickConfig(count int) *quick.Config {
	return &quick.Config{MaxCount: count, Rand: rand.New(rand.NewSource(20261127))}
}

// sameDense reports whether a and b hold the same values (bitwise, except that +0 and −0
// are equal), whatever their strides.
func sameDense(a, b *Dense) bool {
	if a.Rows != b.Rows || a.Cols != b.Cols {
		return false
	}
	for i := 0; i < a.Rows; i++ {
		ra, rb := a.Row(i), b.Row(i)
		for j := range ra {
			if ra[j] == 0 && rb[j] == 0 {
				continue
			}
			if math.Float32bits(ra[j]) != math.Float32bits(rb[j]) {
				return false
			}
		}
	}
	return true
}

// pruneNMFirst zeroes, in each group, every nonzero after the first keep (a simple way to
// make a matrix conform to keep:group without the prune package).
func pruneNMFirst(d *Dense, keep, group int) *Dense {
	out := &Dense{Rows: d.Rows, Cols: d.Cols, Stride: d.Stride, Data: append([]float32(nil), d.Data...)}
	for i := 0; i < out.Rows; i++ {
		row := out.Row(i)
		for g := 0; g < len(row); g += group {
			seen := 0
			for j := g; j < min(g+group, len(row)); j++ {
				if row[j] != 0 {
					seen++
					if seen > keep {
						row[j] = 0
					}
				}
			}
		}
	}
	return out
}

func mustNoPanic(t *testing.T, name string, f func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("%s panicked: %v", name, r)
		}
	}()
	f()
}
