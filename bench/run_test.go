package bench

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sparsegen/sparsegen/formats"
	"github.com/sparsegen/sparsegen/formats/prune"
)

func TestRunTinySuite(t *testing.T) {
	var progress strings.Builder
	cfg := Config{
		Shapes:   []Shape{{"tiny", 24, 40, 9}, {"tiny-decode", 24, 40, 1}},
		Patterns: []Pattern{{Kind: Dense}, {Kind: Unstructured, Sparsity: 0.9}, {Kind: NM, Keep: 2, Group: 4}, {Kind: Block, R: 4, C: 4, Sparsity: 0.5}},
		Protocol: Protocol{Samples: 3, MinSample: 100 * time.Microsecond},
		Cold:     true,
		Progress: &progress,
	}
	rs, err := Run(cfg)
	require.NoError(t, err)
	require.Len(t, rs, 8)
	for _, r := range rs {
		require.NotEmpty(t, r.Kernel, "%s %s", r.Shape.Name, r.Pattern)
		require.Greater(t, r.MedianNs, 0.0)
		require.GreaterOrEqual(t, r.MedianNs, r.MinNs)
		require.Greater(t, r.SpeedupDense, 0.0)
		require.True(t, r.Cold, "N ≤ 16 runs cold when asked")
	}
	require.InDelta(t, 0.9, rs[1].Sparsity, 0.01)
	require.InDelta(t, 0.5, rs[2].Sparsity, 0.01, "2:4 keeps half")
	require.Contains(t, progress.String(), "[8/8]")
}

// Issue 16, item 5: a model's weights are labelled by the structure measured in them, not
// "dense" (they come as dense arrays from a model file, whatever their zeros).
func TestModelWeightsAreLabelledByTheirStructure(t *testing.T) {
	base := RandomDense(3, 48, 64)
	sparse, err := prune.Magnitude(base, 0.9) // 90% zeros, stored dense as a model file holds it
	require.NoError(t, err)
	nm, err := prune.NM(base, 2, 4)
	require.NoError(t, err)
	cfg := Config{
		Shapes:   []Shape{{"sparse", 48, 64, 4}, {"nm", 48, 64, 4}, {"dense", 48, 64, 4}},
		Weights:  map[string]formats.Matrix{"sparse": sparse, "nm": nm.ToDense(), "dense": base},
		Protocol: Protocol{Samples: 3, MinSample: 100 * time.Microsecond},
	}
	rs, err := Run(cfg)
	require.NoError(t, err)
	require.Len(t, rs, 3)
	require.Equal(t, "model:unstructured", rs[0].Pattern.String())
	require.InDelta(t, 0.9, rs[0].Sparsity, 0.01)
	require.Equal(t, "model:nm2:4", rs[1].Pattern.String())
	require.Equal(t, "model:dense", rs[2].Pattern.String())
	var b strings.Builder
	require.NoError(t, WriteTable(&b, rs[:1], Baselines{}))
	require.Contains(t, b.String(), "model:unstructured")
}

// Issue 16, item 5: no "% peak" above 100. A peak measured below the rates the kernels
// reach (as under qemu) is wrong, and then no percentage of it is reported.
func TestPeakPercentIsNeverAbove100(t *testing.T) {
	cfg := Config{
		Shapes:   []Shape{{"tiny", 24, 40, 9}},
		Patterns: []Pattern{{Kind: Dense}, {Kind: Unstructured, Sparsity: 0.9}},
		Protocol: Protocol{Samples: 3, MinSample: 100 * time.Microsecond},
		PeakGF:   1e-3, // an emulator's FMA loop
	}
	rs, err := Run(cfg)
	require.NoError(t, err)
	require.True(t, PeakExceeded(rs, cfg.PeakGF))
	var b strings.Builder
	require.NoError(t, WriteTable(&b, rs, Baselines{}))
	for _, r := range rs {
		require.Zero(t, r.PeakPct, "%s: %.0f%% of a wrong peak", r.Pattern, r.PeakPct)
	}
	require.NotRegexp(t, `\d%\s+\d`, b.String(), "a %% peak column value")

	cfg.PeakGF = 1e6 // no CPU core reaches a PFLOP/s
	rs, err = Run(cfg)
	require.NoError(t, err)
	require.False(t, PeakExceeded(rs, cfg.PeakGF))
	for _, r := range rs {
		require.Greater(t, r.PeakPct, 0.0)
		require.LessOrEqual(t, r.PeakPct, 100.0)
	}
}

// Run refuses a thread count over dispatch.MaxThreads and a configuration whose operands
// cannot fit in memory before anything runs.
func TestRunRefusesWhatCannotRun(t *testing.T) {
	_, err := Run(Config{Shapes: []Shape{{"tiny", 24, 40, 9}}, Patterns: DefaultPatterns(), Threads: 100000})
	require.ErrorContains(t, err, "100000")
	_, err = Run(Config{Shapes: []Shape{{"small", 24, 40, 9}, {"huge", 1 << 20, 1 << 10, 1 << 20}}, Patterns: DefaultPatterns()})
	require.ErrorContains(t, err, "huge")
	_, err = ParseN("2000000")
	require.Error(t, err)
	n, err := ParseN("128")
	require.NoError(t, err)
	require.Equal(t, 128, n)
}

// TestRunHoldsOnePrunedMatrix: the shapes of one W at several N run together, so each
// pruned variant is made once and only one is held at a time (the default suite held all
// 16 of 11008×4096); results stay in shape × pattern order.
func TestRunHoldsOnePrunedMatrix(t *testing.T) {
	c := newWeightCache(1)
	pats := []Pattern{{Kind: Dense}, {Kind: Unstructured, Sparsity: 0.9}, {Kind: NM, Keep: 2, Group: 4}}
	rs, err := Run(Config{
		Shapes:   []Shape{{"a", 24, 40, 9}, {"b", 24, 40, 1}, {"c", 16, 40, 3}},
		Patterns: pats,
		Protocol: Protocol{Samples: 1, MinSample: 10 * time.Microsecond},
		cache:    c,
	})
	require.NoError(t, err)
	require.Len(t, rs, 9)
	for i, r := range rs {
		require.Equal(t, []string{"a", "b", "c"}[i/3], r.Shape.Name)
		require.Equal(t, pats[i%3], r.Pattern)
	}
	require.Equal(t, 6, c.made, "one per (M, K, pattern)")
	require.Equal(t, 1, c.peak)
}
