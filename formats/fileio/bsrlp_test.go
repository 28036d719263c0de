package fileio

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/sparsegen/sparsegen/formats"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// lpBSR makes a BSRLP of dtype t with r×c blocks from a random rows×cols matrix (block
// row 1 empty) whose values span several binades.
func lpBSR(t *testing.T, rng *rand.Rand, rows, cols, r, c int, dt formats.DType) *formats.BSRLP {
	t.Helper()
	d := randDense(rng, rows, cols, 0.3)
	for i := range d.Data {
		d.Data[i] *= float32(math.Ldexp(1, rng.IntN(12)-6))
	}
	for i := r; i < min(2*r, rows); i++ {
		for j := 0; j < cols; j++ {
			d.Data[i*cols+j] = 0
		}
	}
	b, err := formats.BSRFromDense(d, r, c)
	require.NoError(t, err)
	lp, err := formats.BSRLPFromBSR(b, dt)
	require.NoError(t, err)
	return lp
}

func requireSameBSRLP(t *testing.T, want *formats.BSRLP, got formats.Matrix) {
	t.Helper()
	g, ok := got.(*formats.BSRLP)
	require.True(t, ok, "read a %T, want *formats.BSRLP", got)
	require.Equal(t, want.DType, g.DType)
	require.Equal(t, [4]int{want.Rows, want.Cols, want.R, want.C}, [4]int{g.Rows, g.Cols, g.R, g.C})
	require.Equal(t, want.BlockRowPtr, g.BlockRowPtr)
	require.Equal(t, want.BlockCol, g.BlockCol)
	require.Equal(t, want.Bits, g.Bits)
	require.Equal(t, want.I8, g.I8)
	require.Equal(t, len(want.Scale), len(g.Scale))
	for i, s := range want.Scale {
		require.Equal(t, math.Float32bits(s), math.Float32bits(g.Scale[i]), "scale %d", i)
	}
}

// TestNPZBSRLPRoundTrip: each dtype and block shape writes (stored and deflated, through
// WriteBSRLP and SaveMatrix) and reads back through NPZ.Matrix and LoadMatrix as the same
// BSRLP, bit for bit, with Info naming the stored dtype; the float32 BSR of the same
// pattern still reads as a BSR; a ragged BSRLP is refused with ErrRaggedBSR; malformed
// files are refused.
func TestNPZBSRLPRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(43, 44))
	dir := t.TempDir()
	for _, dt := range []formats.DType{formats.BF16, formats.F16, formats.I8} {
		for _, blk := range [][2]int{{4, 4}, {2, 1}, {1, 4}, {3, 2}} {
			lp := lpBSR(t, rng, 12, 16, blk[0], blk[1], dt)
			for _, compress := range []bool{false, true} {
				var buf bytes.Buffer
				require.NoError(t, WriteBSRLP(&buf, lp, compress))
				z := openNPZBytes(t, buf.Bytes())
				if dt == formats.I8 {
					assert.Contains(t, z.Names(), "data"+LPScaleSuffix)
				}
				m, info, err := z.Matrix("")
				require.NoError(t, err, "%v", dt)
				requireSameBSRLP(t, lp, m)
				assert.Equal(t, "bsr", info.Layout)
				assert.Equal(t, lpDescr[dt], info.DType)
				assert.Empty(t, info.Notes)
			}
			p := filepath.Join(dir, dt.String()+".npz")
			require.NoError(t, SaveMatrix(p, lp))
			m, info, err := LoadMatrix(p, "")
			require.NoError(t, err)
			requireSameBSRLP(t, lp, m)
			assert.Equal(t, lpDescr[dt], info.DType)

			f32 := filepath.Join(dir, dt.String()+".f32.npz")
			require.NoError(t, SaveMatrix(f32, lp.ToBSR()))
			m, info, err = LoadMatrix(f32, "")
			require.NoError(t, err)
			require.IsType(t, &formats.BSR{}, m)
			assert.Equal(t, "<f4", info.DType)
			requireSameDense(t, lp.ToDense(), m.ToDense())
		}
		ragged := lpBSR(t, rng, 10, 16, 4, 4, dt)
		var buf bytes.Buffer
		require.True(t, errors.Is(WriteBSRLP(&buf, ragged, false), ErrRaggedBSR))
		require.True(t, errors.Is(SaveMatrix(filepath.Join(dir, "ragged.npz"), ragged), ErrRaggedBSR))
	}
	// int8 with scales for the block rows instead of the rows is refused.
	lp := lpBSR(t, rng, 8, 8, 2, 2, formats.I8)
	var buf bytes.Buffer
	require.NoError(t, WriteBSRLP(&buf, lp, false))
	lp.Scale = lp.Scale[:4]
	require.Error(t, WriteBSRLP(&buf, lp, false))
	lp.Scale = append(lp.Scale, 1, 1, 1, float32(math.NaN()))
	buf.Reset()
	require.NoError(t, WriteBSRLP(&buf, lp, false))
	_, _, err := openNPZBytes(t, buf.Bytes()).Matrix("")
	require.ErrorIs(t, err, ErrFormat)
}
