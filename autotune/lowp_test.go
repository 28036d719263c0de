package autotune

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sparsegen/sparsegen/asm"
	"github.com/sparsegen/sparsegen/dispatch"
	"github.com/sparsegen/sparsegen/formats"
	"github.com/sparsegen/sparsegen/formats/prune"
)

// lpModel is a tiny model with low-precision layers (a dense bf16 and a 90% CSR int8) and
// the float32 layers they were made from, which share their shapes and patterns.
func lpModel(t *testing.T) []Layer {
	d := randDense(t, 11, 48, 64)
	dlp, err := formats.DenseLPFromDense(d, formats.BF16)
	require.NoError(t, err)
	p, err := prune.Magnitude(randDense(t, 12, 64, 96), 0.9)
	require.NoError(t, err)
	c, err := formats.CSRFromDense(p)
	require.NoError(t, err)
	clp, err := formats.CSRLPFromCSR(c, formats.I8)
	require.NoError(t, err)
	return []Layer{{"dense_bf16", dlp}, {"csr_i8", clp}, {"dense_f32", d}, {"csr_f32", c}}
}

// TestTuneLowPrecision: autotune times the low-precision families of each LP layer's own
// format and dtype, and a dense layer's regrouping in 8×1 blocks of its dtype (never a
// widened copy), over the range dispatch.RangeOf gives, writes
// entries keyed by the dtype beside the float32 layers' entries of the same shapes, and
// Compile follows each layer's own entry; tune -check re-times an LP winner.
func TestTuneLowPrecision(t *testing.T) {
	layers := lpModel(t)
	rec := dispatch.NewRecord()
	opts := Options{Ns: []int{1, 16}, Budget: 60 * time.Millisecond, Threads: []int{1}}
	rs, err := Tune(layers, opts, rec)
	require.NoError(t, err)
	require.Len(t, rs, len(layers)*len(opts.Ns))
	require.Len(t, rec.Entries, len(rs), "float32 and low-precision entries of one shape are distinct")
	for _, r := range rs {
		var w formats.Matrix
		for _, l := range layers {
			if l.Name == r.Layer {
				w = l.W
			}
		}
		format, dtype := "", ""
		switch w := w.(type) {
		case *formats.DenseLP:
			format, dtype = asm.LPFormat(w.DType), w.DType.String()
		case *formats.CSRLP:
			format, dtype = asm.CSRLPFormat(w.DType), w.DType.String()
		}
		require.Equal(t, dtype, r.Entry.DType, r.Layer)
		lo, hi, err := dispatch.RangeOf(w, r.N, dispatch.Options{})
		require.NoError(t, err)
		require.Equal(t, lo, r.Entry.NLo, "%s N=%d", r.Layer, r.N)
		require.Equal(t, min(hi, r.N), r.Entry.NHi, "%s N=%d", r.Layer, r.N)
		cands := append([]dispatch.Candidate{r.Entry.Winner, r.Entry.Default}, r.Entry.RunnersUp...)
		for _, c := range cands {
			if dtype == "" {
				require.NotContains(t, c.Format, "_", "%s: float32 layer timed %s@%s", r.Layer, c.Kernel, c.Format)
				continue
			}
			f, ok := asm.Lookup(c.Kernel)
			require.True(t, ok, c.Kernel)
			if _, dense := w.(*formats.DenseLP); dense && c.Format == "bsr8x1_"+dtype {
				// a dense W regrouped in 8×1 blocks of its own dtype: the same stored values
				require.Equal(t, "bsr_"+dtype, f.Format, "%s N=%d: timed %s@%s", r.Layer, r.N, c.Kernel, c.Format)
			} else {
				require.Equal(t, format, c.Format, "%s N=%d: timed %s@%s", r.Layer, r.N, c.Kernel, c.Format)
				require.Equal(t, format, f.Format)
			}
			require.Equal(t, dtype, f.DType)
			require.Greater(t, c.MedianNs, 0.0)
		}
		if dtype != "" {
			require.Zero(t, r.Dense.MedianNs, "no dense float32 candidate for %s", r.Layer)
		}
	}

	loaded := saveAndLoad(t, rec)
	for _, r := range rs {
		p, err := dispatch.Compile(layerW(layers, r.Layer), dispatch.Options{Threads: 1, Record: loaded})
		require.NoError(t, err)
		for _, n := range []int{r.Entry.NLo, r.N, r.Entry.NHi} {
			fam, format := p.KernelFor(n)
			require.Equal(t, r.Entry.Winner.Kernel, fam, "%s N=%d\n%s", r.Layer, n, p.Describe())
			require.Equal(t, r.Entry.Winner.Format, format, "%s N=%d", r.Layer, n)
		}
		desc := p.Describe()
		require.NotContains(t, desc, "float32 weights only")
		require.NotContains(t, desc, "tuning record has no entry", desc)
		p.Close()
	}

	// Check re-times LP winners at the N they were tuned for.
	ds, err := Check(layers[:2], []int{16}, loaded, Options{Budget: 60 * time.Millisecond, Threads: []int{1}}, 10)
	require.NoError(t, err)
	require.Len(t, ds, 2)
	for _, d := range ds {
		require.Greater(t, d.NowNs, 0.0)
		require.True(t, strings.Contains(d.Winner.Format, "_"), "%s: %s", d.Layer, d.Winner.Format)
	}
}

// TestTuneLowPrecisionForcedWinner: a record whose LP entry names a winner other than the
// default (as a tuning run on another load might) is followed by Compile in the entry's
// range only, so the record path is exercised whatever this run's timings picked.
func TestTuneLowPrecisionForcedWinner(t *testing.T) {
	layers := lpModel(t)[:2]
	rec := dispatch.NewRecord()
	rs, err := Tune(layers, Options{Ns: []int{16}, Budget: 40 * time.Millisecond, Threads: []int{1}}, rec)
	require.NoError(t, err)
	changed := 0
	for i, r := range rs {
		e := &rec.Entries[i]
		require.Equal(t, r.Entry.Key, e.Key)
		var alt *dispatch.Candidate
		for j := range e.RunnersUp {
			if !e.RunnersUp[j].Same(e.Default) {
				alt = &e.RunnersUp[j]
				break
			}
		}
		if !e.Winner.Same(e.Default) {
			alt = &e.Winner
		}
		if alt == nil {
			continue // one family runs this layer here (purego)
		}
		e.Winner = *alt
		changed++
		p, err := dispatch.Compile(layers[i].W, dispatch.Options{Threads: 1, Record: rec})
		require.NoError(t, err)
		def, err := dispatch.Compile(layers[i].W, dispatch.Options{Threads: 1})
		require.NoError(t, err)
		for n := 1; n <= 40; n++ {
			fam, _ := p.KernelFor(n)
			dfam, _ := def.KernelFor(n)
			if e.NLo <= n && n <= e.NHi {
				require.Equal(t, alt.Kernel, fam, "%s N=%d", r.Layer, n)
			} else {
				require.Equal(t, dfam, fam, "%s N=%d, outside %d…%d", r.Layer, n, e.NLo, e.NHi)
			}
		}
	}
	if changed == 0 {
		t.Skip("one family runs each LP layer here: no other winner to follow")
	}
}

// TestTuneRejectsBadLowPrecision: an invalid or nil low-precision layer is an error naming
// the layer, before any timing; no entry is added.
func TestTuneRejectsBadLowPrecision(t *testing.T) {
	bad := &formats.CSRLP{Rows: 2, Cols: 4, RowPtr: []int64{0, 1, 2}, ColIdx: []int32{3, 4}, DType: formats.BF16, Bits: []uint16{1, 2}}
	var nilLP *formats.DenseLP
	for _, l := range []Layer{{"bad_csr_bf16", bad}, {"nil_dense_bf16", nilLP}} {
		rec := dispatch.NewRecord()
		_, err := Tune([]Layer{l}, Options{Ns: []int{1}, Budget: 20 * time.Millisecond, Threads: []int{1}}, rec)
		require.Error(t, err, l.Name)
		require.Contains(t, err.Error(), l.Name)
		require.Empty(t, rec.Entries)
	}
}

// TestTuneLowPrecisionBlocksAndNM: a BSR layer in fp16 and an N:M layer in bf16 are tuned
// over their own format's and dtype's families (entries keyed by the dtype), and Compile
// follows the record for each.
func TestTuneLowPrecisionBlocksAndNM(t *testing.T) {
	b, err := prune.BlockMagnitudeBSR(randDense(t, 13, 64, 80), 4, 4, prune.L1, 0.5)
	require.NoError(t, err)
	blp, err := formats.BSRLPFromBSR(b, formats.F16)
	require.NoError(t, err)
	nm, err := prune.NM(randDense(t, 14, 40, 96), 2, 4)
	require.NoError(t, err)
	nlp, err := formats.NMLPFromNM(nm, formats.BF16)
	require.NoError(t, err)
	layers := []Layer{{"bsr_f16", blp}, {"nm_bf16", nlp}}
	formatOf := map[string]string{"bsr_f16": asm.BSRLPFormat(formats.F16), "nm_bf16": asm.NMLPFormat(formats.BF16)}
	dtypeOf := map[string]string{"bsr_f16": "f16", "nm_bf16": "bf16"}
	rec := dispatch.NewRecord()
	rs, err := Tune(layers, Options{Ns: []int{1, 16}, Budget: 40 * time.Millisecond, Threads: []int{1}}, rec)
	require.NoError(t, err)
	require.Len(t, rs, 4)
	for _, r := range rs {
		require.Equal(t, dtypeOf[r.Layer], r.Entry.DType, r.Layer)
		for _, c := range append([]dispatch.Candidate{r.Entry.Winner, r.Entry.Default}, r.Entry.RunnersUp...) {
			f, ok := asm.Lookup(c.Kernel)
			require.True(t, ok, c.Kernel)
			require.Equal(t, formatOf[r.Layer], c.Format, "%s N=%d: timed %s@%s", r.Layer, r.N, c.Kernel, c.Format)
			require.Equal(t, dtypeOf[r.Layer], f.DType, c.Kernel)
			require.Greater(t, c.MedianNs, 0.0)
		}
	}
	loaded := saveAndLoad(t, rec)
	for _, r := range rs {
		p, err := dispatch.Compile(layerW(layers, r.Layer), dispatch.Options{Threads: 1, Record: loaded})
		require.NoError(t, err)
		fam, format := p.KernelFor(r.N)
		require.Equal(t, r.Entry.Winner.Kernel, fam, "%s N=%d\n%s", r.Layer, r.N, p.Describe())
		require.Equal(t, r.Entry.Winner.Format, format)
		require.NotContains(t, p.Describe(), "tuning record has no entry")
		p.Close()
	}
}
