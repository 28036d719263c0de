package fileio

import (
	"bytes"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/sparsegen/sparsegen/formats"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// lpNM makes an NMLP of dtype dt from a random rows×cols keep:group NM whose values span
// several binades (row 1 all zero, a partial last group when group does not divide cols).
func lpNM(t *testing.T, rng *rand.Rand, rows, cols, keep, group int, dt formats.DType) *formats.NMLP {
	t.Helper()
	d := &formats.Dense{Rows: rows, Cols: cols, Stride: cols, Data: make([]float32, rows*cols)}
	for i := 0; i < rows; i++ {
		if i == 1 {
			continue
		}
		for g := 0; g*group < cols; g++ {
			width := min(group, cols-g*group)
			for _, p := range rng.Perm(width)[:rng.IntN(min(keep, width)+1)] {
				d.Data[i*cols+g*group+p] = float32(rng.NormFloat64() * math.Ldexp(1, rng.IntN(12)-6))
			}
		}
	}
	w, err := formats.NMFromDense(d, keep, group)
	require.NoError(t, err)
	lp, err := formats.NMLPFromNM(w, dt)
	require.NoError(t, err)
	return lp
}

func requireSameNMLP(t *testing.T, want *formats.NMLP, got formats.Matrix) {
	t.Helper()
	g, ok := got.(*formats.NMLP)
	require.True(t, ok, "read a %T, want *formats.NMLP", got)
	require.Equal(t, want.DType, g.DType)
	require.Equal(t, [4]int{want.Rows, want.Cols, want.Keep, want.Group}, [4]int{g.Rows, g.Cols, g.Keep, g.Group})
	require.Equal(t, want.Pos, g.Pos)
	require.Equal(t, want.Bits, g.Bits)
	require.Equal(t, want.I8, g.I8)
	require.Equal(t, len(want.Scale), len(g.Scale))
	for i, s := range want.Scale {
		require.Equal(t, math.Float32bits(s), math.Float32bits(g.Scale[i]), "scale %d", i)
	}
}

// TestNPZNMLPRoundTrip: each dtype writes (stored and deflated, through WriteNMLP and
// SaveMatrix) and reads back through NPZ.Matrix and LoadMatrix as the same NMLP, bit for
// bit, with Info naming the stored dtype; the float32 NM of the same pattern still reads
// as an NM; an empty NMLP (no rows) round-trips.
func TestNPZNMLPRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(43, 44))
	dir := t.TempDir()
	for _, dt := range []formats.DType{formats.BF16, formats.F16, formats.I8} {
		for _, pat := range [][2]int{{2, 4}, {3, 7}} {
			w := lpNM(t, rng, 7, 31, pat[0], pat[1], dt)
			for _, compress := range []bool{false, true} {
				var buf bytes.Buffer
				require.NoError(t, WriteNMLP(&buf, w, compress))
				z := openNPZBytes(t, buf.Bytes())
				wantNames := []string{"format", "shape", "keep", "group", "data", "pos"}
				if dt == formats.I8 {
					wantNames = []string{"format", "shape", "keep", "group", "data", "data" + LPScaleSuffix, "pos"}
				}
				assert.Equal(t, wantNames, z.Names())
				m, info, err := z.Matrix("")
				require.NoError(t, err, "%v", dt)
				requireSameNMLP(t, w, m)
				assert.Equal(t, "nm", info.Layout)
				assert.Equal(t, lpDescr[dt], info.DType)
			}
			p := filepath.Join(dir, dt.String()+".npz")
			require.NoError(t, SaveMatrix(p, w))
			m, info, err := LoadMatrix(p, "")
			require.NoError(t, err)
			requireSameNMLP(t, w, m)
			assert.Equal(t, lpDescr[dt], info.DType)

			f32 := filepath.Join(dir, dt.String()+".f32.npz")
			require.NoError(t, SaveMatrix(f32, w.ToNM()))
			m, info, err = LoadMatrix(f32, "")
			require.NoError(t, err)
			require.IsType(t, &formats.NM{}, m)
			assert.Equal(t, "<f4", info.DType)
			requireSameDense(t, w.ToDense(), m.ToDense())
		}
		e := &formats.NMLP{Rows: 0, Cols: 9, Keep: 2, Group: 4, DType: dt}
		if dt == formats.I8 {
			e.Scale = []float32{}
		}
		var buf bytes.Buffer
		require.NoError(t, WriteNMLP(&buf, e, false))
		m, _, err := openNPZBytes(t, buf.Bytes()).Matrix("")
		require.NoError(t, err)
		assert.Equal(t, dt, m.(*formats.NMLP).DType)
		assert.Equal(t, 0, m.(*formats.NMLP).Rows)
	}
}

// TestNMLPForeignRejects: a low-precision N:M file with the wrong data shape, too few
// scales or an invalid position fails with an error wrapping ErrFormat, and no matrix;
// WriteNMLP refuses an invalid NMLP.
func TestNMLPForeignRejects(t *testing.T) {
	rng := rand.New(rand.NewPCG(45, 46))
	w := lpNM(t, rng, 3, 8, 2, 4, formats.I8)
	var buf bytes.Buffer
	require.NoError(t, WriteNMLP(&buf, w, false))
	good := buf.Bytes()
	z := openNPZBytes(t, good)
	var arrs []rawArr
	for _, n := range z.Names() {
		a, err := z.array(n)
		require.NoError(t, err)
		arrs = append(arrs, rawArr{n, a.dt, a.shape, a.raw})
	}
	for name, edit := range map[string]func(a []rawArr) []rawArr{
		"data shape": func(a []rawArr) []rawArr { a[4].shape = []int{4, 3}; return a },
		"scales":     func(a []rawArr) []rawArr { a[5].shape, a[5].raw = []int{2}, a[5].raw[:8]; return a },
		"position":   func(a []rawArr) []rawArr { a[6].raw = append([]byte{4}, a[6].raw[1:]...); return a },
		"no scales":  func(a []rawArr) []rawArr { return append(a[:5:5], a[6]) },
	} {
		a := make([]rawArr, len(arrs))
		copy(a, arrs)
		m, _, err := openNPZBytes(t, npzOf(t, false, edit(a)...)).Matrix("")
		require.Error(t, err, name)
		require.ErrorIs(t, err, ErrFormat, name)
		require.Nil(t, m, name)
	}
	bad := *w
	bad.Scale = bad.Scale[:1]
	require.Error(t, WriteNMLP(&bytes.Buffer{}, &bad, false))
}
