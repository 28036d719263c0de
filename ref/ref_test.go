package ref

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/sparsegen/sparsegen/formats"
	"github.com/sparsegen/sparsegen/formats/prune"
	"github.com/stretchr/testify/require"
)

const eps32 = 1.0 / (1 << 24) // float32 unit roundoff

// stored lists, per row, the weights a format stores (stored zeros included) with their
// columns: what the float64 oracle sums and what k counts in DESIGN §6's bound.
type storedEntry struct {
	k int
	w float32
}

func storedRows(t *testing.T, w formats.Matrix) [][]storedEntry {
	t.Helper()
	m, _ := w.Shape()
	rows := make([][]storedEntry, m)
	switch w := w.(type) {
	case *formats.Dense:
		for i := 0; i < w.Rows; i++ {
			for k, v := range w.Row(i) {
				rows[i] = append(rows[i], storedEntry{k, v})
			}
		}
	case *formats.CSR:
		for i := 0; i < w.Rows; i++ {
			for p := w.RowPtr[i]; p < w.RowPtr[i+1]; p++ {
				rows[i] = append(rows[i], storedEntry{int(w.ColIdx[p]), w.Val[p]})
			}
		}
	case *formats.BSR:
		for bi := 0; bi < w.BlockRows(); bi++ {
			for p := w.BlockRowPtr[bi]; p < w.BlockRowPtr[bi+1]; p++ {
				bj := int(w.BlockCol[p])
				h, bw := w.BlockDims(bi, bj)
				off := w.BlockOffset(int(p))
				for r := 0; r < h; r++ {
					for c := 0; c < bw; c++ {
						rows[bi*w.R+r] = append(rows[bi*w.R+r], storedEntry{bj*w.C + c, w.Val[off+int64(r*bw+c)]})
					}
				}
			}
		}
	case *formats.NM:
		spr := w.SlotsPerRow()
		for i := 0; i < w.Rows; i++ {
			s := i * spr
			for g := 0; g < w.Groups(); g++ {
				slots, _ := w.GroupSlots(g)
				for j := 0; j < slots; j++ {
					rows[i] = append(rows[i], storedEntry{g*w.Group + int(w.Pos[s]), w.Val[s]})
					s++
				}
			}
		}
	default:
		t.Fatalf("unknown format %T", w)
	}
	return rows
}

// slope bounds |act'| (GELU's derivative peaks at ≈ 1.129, SiLU's at ≈ 1.100).
func slope(a Activation) float64 {
	switch a {
	case ActGELU:
		return 1.13
	case ActSiLU:
		return 1.1
	}
	return 1
}

// checkAgainstFloat64 runs the kernel and checks every output against the float64 value
// within DESIGN §6's bound, carried through the epilogue: the pre-activation sum of k
// products plus bias plus the old Y is off by at most 2(k+3)·ε·(Σ|w·x| + |b| + |old|), the
// activation scales that by its slope and rounds once more. The padding of Y (columns ≥ N
// when ldy > N) must be untouched.
func checkAgainstFloat64(t *testing.T, w formats.Matrix, x []float32, ldx int, n, ldy int, epi *Epilogue, seed int64) {
	t.Helper()
	m, _ := w.Shape()
	r := rand.New(rand.NewSource(seed))
	ylen := 0
	if m > 0 && n > 0 {
		ylen = (m-1)*ldy + n
	}
	y := make([]float32, ylen+ldy) // a tail past the span must stay untouched too
	for i := range y {
		y[i] = float32(r.NormFloat64())
	}
	old := append([]float32(nil), y...)
	require.NoError(t, Matrix(w, x, ldx, y, ldy, n, epi))
	rows := storedRows(t, w)
	for i := 0; i < m; i++ {
		for c := 0; c < ldy && i*ldy+c < len(y); c++ {
			got := y[i*ldy+c]
			if c >= n {
				require.Equal(t, math.Float32bits(old[i*ldy+c]), math.Float32bits(got), "padding Y[%d, %d] written", i, c)
				continue
			}
			var sum, abs float64
			for _, e := range rows[i] {
				p := float64(e.w) * float64(x[e.k*ldx+c])
				sum += p
				abs += math.Abs(p)
			}
			pre := sum
			if epi != nil && epi.Bias != nil {
				pre += float64(epi.Bias[i])
				abs += math.Abs(float64(epi.Bias[i]))
			}
			if epi != nil && epi.Accumulate {
				pre += float64(old[i*ldy+c])
				abs += math.Abs(float64(old[i*ldy+c]))
			}
			act, lo, hi := ActNone, float32(0), float32(0)
			if epi != nil {
				act, lo, hi = epi.Act, epi.Lo, epi.Hi
			}
			want := Activate64(act, pre, lo, hi)
			k := len(rows[i])
			tol := slope(act)*2*float64(k+3)*eps32*abs + 2*eps32*math.Abs(want) + 1e-37
			if d := math.Abs(float64(got) - want); !(d <= tol) {
				t.Fatalf("%T %dx%d Y[%d, %d] = %v, float64 %v, |err| %g > bound %g (k = %d, epi %+v)",
					w, m, len(x), i, c, got, want, d, tol, k, epi)
			}
		}
	}
	// Beyond the last row's span nothing changes.
	for j := ylen; j < len(y); j++ {
		require.Equal(t, math.Float32bits(old[j]), math.Float32bits(y[j]), "Y[%d] past the span written", j)
	}
}

// randWeights makes an m×k dense matrix with the given density (values of mixed scale so
// that cancellation happens) and all four formats of it.
func randWeights(t *testing.T, r *rand.Rand, m, k int, density float64) []formats.Matrix {
	d, err := formats.ZeroDense(m, k)
	require.NoError(t, err)
	for i := range d.Data {
		if r.Float64() < density {
			d.Data[i] = float32(r.NormFloat64() * math.Pow(10, float64(r.Intn(5)-2)))
		}
	}
	csr, err := formats.CSRFromDense(d)
	require.NoError(t, err)
	bsr, err := formats.BSRFromDense(d, 1+r.Intn(4), 1+r.Intn(5))
	require.NoError(t, err)
	group := []int{4, 8, 16, 3}[r.Intn(4)]
	nm, err := prune.NM(d, 1+r.Intn(group), group)
	require.NoError(t, err)
	return []formats.Matrix{d, csr, bsr, nm}
}

func randX(r *rand.Rand, k, n, ldx int) []float32 {
	if k == 0 || n == 0 {
		return make([]float32, r.Intn(3))
	}
	x := make([]float32, (k-1)*ldx+n)
	for i := range x {
		if i%ldx >= n {
			x[i] = float32(math.NaN()) // padding: a kernel that reads it gets NaN out
		} else {
			x[i] = float32(r.NormFloat64() * 2)
		}
	}
	return x
}

var allEpilogues = func() []Epilogue {
	var out []Epilogue
	for _, act := range []Activation{ActNone, ActReLU, ActClamp, ActGELU, ActSiLU} {
		for _, bias := range []bool{false, true} {
			for _, accum := range []bool{false, true} {
				e := Epilogue{Act: act, Accumulate: accum}
				if act == ActClamp {
					e.Lo, e.Hi = -0.5, 0.7
				}
				if bias {
					e.Bias = []float32{} // filled per shape
				}
				out = append(out, e)
			}
		}
	}
	return out
}()

func withBias(e Epilogue, r *rand.Rand, m int) *Epilogue {
	if e.Bias != nil {
		e.Bias = make([]float32, m)
		for i := range e.Bias {
			e.Bias[i] = float32(r.NormFloat64())
		}
	}
	return &e
}

func TestKernelsAgainstFloat64(t *testing.T) {
	r := rand.New(rand.NewSource(42))
	shapes := [][2]int{{0, 0}, {0, 5}, {5, 0}, {1, 1}, {1, 9}, {9, 1}, {7, 13}, {16, 33}, {33, 64}}
	for _, sh := range shapes {
		for _, density := range []float64{0, 0.1, 0.5, 1} {
			ws := randWeights(t, r, sh[0], sh[1], density)
			for _, n := range []int{0, 1, 3, 17, 64} {
				for _, pad := range []int{0, 5} { // ldx, ldy > N
					ldx, ldy := n+pad, n+2*pad
					x := randX(r, sh[1], n, max(ldx, 1))
					for ei, e := range allEpilogues {
						for _, w := range ws {
							name := fmt.Sprintf("%T/%dx%d/d%.1f/n%d/pad%d/e%d", w, sh[0], sh[1], density, n, pad, ei)
							checkAgainstFloat64(t, w, x, max(ldx, 0), n, ldy, withBias(e, r, sh[0]), r.Int63())
							if t.Failed() {
								t.Fatal(name)
							}
						}
					}
					// A nil epilogue is the plain product.
					for _, w := range ws {
						checkAgainstFloat64(t, w, x, ldx, n, ldy, nil, r.Int63())
					}
				}
			}
		}
	}
}

// TestCancellation: sums that cancel to ~0 are where a wrong order or a dropped term shows;
// the bound still holds and a kernel missing one term would exceed it.
func TestCancellation(t *testing.T) {
	d, _ := formats.NewDense(1, 4, []float32{1e8, 1, -1e8, 1})
	x := []float32{1, 1, 1, 1}
	checkAgainstFloat64(t, d, x, 1, 1, 1, nil, 1)
	y := []float32{0}
	require.NoError(t, Dense(d, x, 1, y, 1, 1, nil))
	// Storage order: ((1e8 + 1) − 1e8) + 1 = 1 in float32.
	require.Equal(t, float32(1), y[0])
}

// TestNaNPropagates: a NaN in X reaches Y through every activation wherever a stored
// weight (stored zeros included, as DESIGN §6 multiplies them) meets it, and nowhere else.
func TestNaNPropagates(t *testing.T) {
	r := rand.New(rand.NewSource(7))
	const m, k, n = 9, 11, 6
	ws := randWeights(t, r, m, k, 0.4)
	x := randX(r, k, n, n)
	nanAt := map[[2]int]bool{{3, 2}: true, {7, 0}: true, {10, 5}: true}
	for p := range nanAt {
		x[p[0]*n+p[1]] = float32(math.NaN())
	}
	for _, e := range allEpilogues {
		for _, w := range ws {
			epi := withBias(e, r, m)
			y := make([]float32, m*n)
			require.NoError(t, Matrix(w, x, n, y, n, n, epi))
			rows := storedRows(t, w)
			for i := 0; i < m; i++ {
				for c := 0; c < n; c++ {
					want := false
					for _, s := range rows[i] {
						want = want || nanAt[[2]int{s.k, c}]
					}
					require.Equal(t, want, math.IsNaN(float64(y[i*n+c])), "%T %v Y[%d,%d] = %v", w, e.Act, i, c, y[i*n+c])
				}
			}
		}
	}
	for _, a := range []Activation{ActNone, ActReLU, ActClamp, ActGELU, ActSiLU} {
		require.True(t, math.IsNaN(float64(Activate(a, float32(math.NaN()), -1, 1))), "%v", a)
		require.True(t, math.IsNaN(Activate64(a, math.NaN(), -1, 1)), "%v", a)
	}
}

func TestActivationValues(t *testing.T) {
	for _, tc := range []struct {
		a    Activation
		x    float32
		want float64
	}{
		{ActReLU, -2, 0}, {ActReLU, 3, 3}, {ActClamp, -2, -1}, {ActClamp, 2, 1}, {ActClamp, 0.25, 0.25},
		{ActGELU, 0, 0}, {ActGELU, 1, 0.8413447460685429}, {ActGELU, -1, -0.15865525393145707},
		{ActSiLU, 0, 0}, {ActSiLU, 1, 0.7310585786300049}, {ActSiLU, -20, -20 / (1 + math.Exp(20))},
		{ActNone, -7, -7}, {ActGELU, 10, 10}, {ActGELU, -10, 0},
	} {
		got := Activate(tc.a, tc.x, -1, 1)
		require.InDelta(t, tc.want, float64(got), 1e-6*max(1, math.Abs(tc.want)), "%v(%v)", tc.a, tc.x)
		require.InDelta(t, tc.want, Activate64(tc.a, float64(tc.x), -1, 1), 1e-12*max(1, math.Abs(tc.want)))
	}
	for i, name := range []string{"none", "relu", "clamp", "gelu", "silu"} {
		a, err := ParseActivation(name)
		require.NoError(t, err)
		require.Equal(t, Activation(i), a)
		require.Equal(t, name, a.String())
	}
	_, err := ParseActivation("tanh")
	require.Error(t, err)
	require.Contains(t, Activation(9).String(), "9")
}

// TestOperandErrors: every bad operand is an error (not a panic), and Y is left untouched.
func TestOperandErrors(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	const m, k, n = 4, 6, 3
	ws := randWeights(t, r, m, k, 0.5)
	goodX := randX(r, k, n, n)
	goodY := make([]float32, m*n)
	broken := []formats.Matrix{
		&formats.CSR{Rows: 2, Cols: 2, RowPtr: []int64{0, 2, 1}, ColIdx: []int32{0, 1}, Val: make([]float32, 2)},
		&formats.BSR{Rows: 2, Cols: 2, R: 2, C: 2, BlockRowPtr: []int64{0, 1}, BlockCol: []int32{5}, Val: make([]float32, 4)},
		&formats.NM{Rows: 1, Cols: 4, Keep: 2, Group: 4, Val: make([]float32, 2), Pos: []uint8{2, 1}},
		&formats.Dense{Rows: 2, Cols: 2, Stride: 2, Data: make([]float32, 3)},
		(*formats.CSR)(nil),
	}
	type call struct {
		name    string
		x       []float32
		ldx     int
		y       []float32
		ldy, n  int
		epi     *Epilogue
		errType error
	}
	calls := []call{
		{"short X", goodX[:len(goodX)-1], n, goodY, n, n, nil, ErrShape},
		{"short Y", goodX, n, goodY[:len(goodY)-1], n, n, nil, ErrShape},
		{"nil X", nil, n, goodY, n, n, nil, ErrShape},
		{"ldx < N", goodX, n - 1, goodY, n, n, nil, ErrShape},
		{"ldy < N", goodX, n, goodY, n - 1, n, nil, ErrShape},
		{"negative N", goodX, n, goodY, n, -1, nil, ErrShape},
		{"ldx too big for X", goodX, n + 1, goodY, n, n, nil, ErrShape},
		{"bias length", goodX, n, goodY, n, n, &Epilogue{Bias: make([]float32, m+1)}, nil},
		{"activation", goodX, n, goodY, n, n, &Epilogue{Act: Activation(9)}, nil},
		{"clamp bounds", goodX, n, goodY, n, n, &Epilogue{Act: ActClamp, Lo: 1, Hi: 0}, nil},
		{"clamp NaN", goodX, n, goodY, n, n, &Epilogue{Act: ActClamp, Lo: float32(math.NaN()), Hi: 1}, nil},
	}
	for _, w := range ws {
		for _, c := range calls {
			y := append([]float32(nil), c.y...)
			for i := range y {
				y[i] = 42
			}
			var err error
			func() {
				defer func() {
					if p := recover(); p != nil {
						t.Fatalf("%T %s: panic %v", w, c.name, p)
					}
				}()
				err = Matrix(w, c.x, c.ldx, y, c.ldy, c.n, c.epi)
			}()
			require.Error(t, err, "%T %s", w, c.name)
			if c.errType != nil {
				require.ErrorIs(t, err, c.errType, "%T %s", w, c.name)
			}
			for _, v := range y {
				require.Equal(t, float32(42), v, "%T %s: Y written before the error", w, c.name)
			}
		}
	}
	for _, w := range broken {
		var err error
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Fatalf("%T: panic %v", w, p)
				}
			}()
			err = Matrix(w, goodX, n, goodY, n, n, nil)
		}()
		require.ErrorIs(t, err, formats.ErrInvalid, "%T", w)
	}
	require.Error(t, Matrix(nil, goodX, n, goodY, n, n, nil))
	// Empty problems need no operands at all.
	for _, w := range ws {
		require.NoError(t, Matrix(w, nil, 0, nil, 0, 0, nil))
	}
	z, _ := formats.ZeroDense(0, 5)
	require.NoError(t, Dense(z, nil, 3, nil, 3, 3, nil))
}
