package bench

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sparsegen/sparsegen/formats"
)

// TestDenseDTypePattern: "dense:bf16" and "unstructured:0.9:bf16" and friends parse, print
// back and synthesize a DenseLP or CSRLP of that dtype from the float32 weights (the CSR
// pruned as in float32); ":f32" is plain float32.
func TestDenseDTypePattern(t *testing.T) {
	d := RandomDense(3, 9, 21)
	for _, s := range []string{"dense:bf16", "dense:f16", "dense:i8", "unstructured:0.9:bf16", "unstructured:0.5:f16", "unstructured:0.75:i8"} {
		p, err := ParsePattern(s)
		if err != nil || p.String() != s {
			t.Fatalf("%s: %v %v", s, p, err)
		}
		w, err := Synthesize(d, p)
		if err != nil {
			t.Fatal(err)
		}
		if m, k := w.Shape(); m != 9 || k != 21 {
			t.Fatalf("%s: synthesized %d×%d", s, m, k)
		}
		if lp, ok := w.(*formats.DenseLP); ok && lp.DType == p.DType && p.Kind == Dense {
			continue
		}
		lp, ok := w.(*formats.CSRLP)
		if !ok || lp.DType != p.DType || p.Kind != Unstructured {
			t.Fatalf("%s: synthesized %T", s, w)
		}
		q := p
		q.DType = 0
		w32, err := Synthesize(d, q) // the same pruning, in float32
		if err != nil {
			t.Fatal(err)
		}
		want, err := formats.CSRLPFromCSR(w32.(*formats.CSR), p.DType)
		if err != nil || len(want.ColIdx) != len(lp.ColIdx) || want.NNZ() != lp.NNZ() {
			t.Fatalf("%s: %d stored, float32 pruning keeps %d (%v)", s, len(lp.ColIdx), len(want.ColIdx), err)
		}
	}
	if p, err := ParsePattern("unstructured:0.9:f32"); err != nil || p != (Pattern{Kind: Unstructured, Sparsity: 0.9}) {
		t.Fatalf("unstructured:0.9:f32: %v %v", p, err)
	}
	if _, err := ParsePattern("unstructured:0.9:f64"); err == nil {
		t.Fatal("unstructured:0.9:f64 parsed")
	}
	if p, err := ParsePattern("dense:f32"); err != nil || p != (Pattern{Kind: Dense}) {
		t.Fatalf("dense:f32: %v %v", p, err)
	}
	if _, err := ParsePattern("dense:f64"); err == nil {
		t.Fatal("dense:f64 parsed")
	}
}

// TestNMDTypePattern: "nm:2:4:bf16" and friends parse, print back and synthesize an NMLP
// of that dtype, the float32 N:M pruning converted (NMLPFromNM).
func TestNMDTypePattern(t *testing.T) {
	d := RandomDense(4, 9, 22)
	for _, s := range []string{"nm:2:4:bf16", "nm:1:4:f16", "nm:3:7:i8"} {
		p, err := ParsePattern(s)
		if err != nil || p.String() != s {
			t.Fatalf("%s: %v %v", s, p, err)
		}
		w, err := Synthesize(d, p)
		if err != nil {
			t.Fatal(err)
		}
		lp, ok := w.(*formats.NMLP)
		if !ok || lp.DType != p.DType || lp.Keep != p.Keep || lp.Group != p.Group {
			t.Fatalf("%s: synthesized %T", s, w)
		}
		q := p
		q.DType = 0
		w32, err := Synthesize(d, q)
		if err != nil {
			t.Fatal(err)
		}
		want, err := formats.NMLPFromNM(w32.(*formats.NM), p.DType)
		require.NoError(t, err)
		require.Equal(t, want, lp, s)
	}
}

// TestExtrasAndBandwidth: Config.Extras run only on shapes of their N (the default suite's
// bf16 at N = 1 and 16), after the patterns; N = 1 results carry the bytes a call reads
// (packed W + X + Y: 2 bytes per bf16 weight, 4 per float32 one, up to row padding) and a
// read rate, and % of the read bandwidth when it is known.
func TestExtrasAndBandwidth(t *testing.T) {
	rs, err := Run(Config{
		Shapes:   []Shape{{"n1", 24, 64, 1}, {"n3", 24, 64, 3}, {"n16", 24, 64, 16}},
		Patterns: []Pattern{{Kind: Dense}},
		Extras:   DefaultExtras(),
		Threads:  1,
		ReadGBps: 10,
		Protocol: Protocol{Samples: 3, MinSample: 100 * time.Microsecond},
	})
	require.NoError(t, err)
	var got []string
	for _, r := range rs {
		got = append(got, r.Shape.Name+" "+r.Pattern.String())
	}
	require.Equal(t, []string{"n1 dense", "n1 dense:bf16", "n3 dense", "n16 dense", "n16 dense:bf16"}, got)
	for _, r := range rs {
		if r.Shape.N != 1 {
			require.Zero(t, r.BytesPerCall, r.Shape.Name)
			continue
		}
		per := 4.0
		if r.Pattern.DType == formats.BF16 {
			per = 2
		}
		require.InDelta(t, per, r.BytesPerWeight(), per*0.25, "%s: packed %d bytes", r.Pattern, r.PackedBytes)
		require.Equal(t, r.PackedBytes+4*(64+24), r.BytesPerCall)
		require.InDelta(t, float64(r.BytesPerCall)/r.MedianNs, r.GBps, 1e-9)
		require.InDelta(t, 100*r.GBps/10, r.ReadPct, 1e-9)
	}
	var b strings.Builder
	require.NoError(t, WriteTable(&b, rs, Baselines{}))
	require.Equal(t, 1, strings.Count(b.String(), "% read BW"), "the bandwidth columns are in the N = 1 table only:\n%s", b.String())
	b.Reset()
	require.NoError(t, WriteCSV(&b, rs))
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	require.True(t, strings.HasSuffix(lines[0], ",packed_bytes,bytes_per_call,gbps,read_bw_pct"))
	require.True(t, strings.HasSuffix(lines[3], ",,,,"), "N = 3 has no bandwidth columns: %s", lines[3])
	require.False(t, strings.HasSuffix(lines[1], ",,,,"), lines[1])
}

// TestBlockDTypePattern: "block:4x4:0.9:bf16" and friends parse, print back and synthesize
// a BSRLP of that dtype, the float32 block pruning converted (BSRLPFromBSR).
func TestBlockDTypePattern(t *testing.T) {
	d := RandomDense(5, 16, 24)
	for _, s := range []string{"block:4x4:0.5:bf16", "block:2x1:0.7:f16", "block:4x4:0.9:i8"} {
		p, err := ParsePattern(s)
		if err != nil || p.String() != s {
			t.Fatalf("%s: %v %v", s, p, err)
		}
		w, err := Synthesize(d, p)
		require.NoError(t, err)
		lp, ok := w.(*formats.BSRLP)
		if !ok || lp.DType != p.DType || lp.R != p.R || lp.C != p.C {
			t.Fatalf("%s: synthesized %T", s, w)
		}
		q := p
		q.DType = 0
		w32, err := Synthesize(d, q)
		require.NoError(t, err)
		want, err := formats.BSRLPFromBSR(w32.(*formats.BSR), p.DType)
		require.NoError(t, err)
		require.Equal(t, want, lp, s)
	}
}
