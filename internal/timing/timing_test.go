package timing

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestSummarize(t *testing.T) {
	require.Equal(t, Stats{MedianNs: 3, MinNs: 1, Samples: 5}, Summarize([]float64{5, 1, 3, 4, 2}))
	require.Equal(t, Stats{MedianNs: 2.5, MinNs: 1, Samples: 4}, Summarize([]float64{4, 1, 3, 2}))
	require.Equal(t, Stats{}, Summarize(nil))
}

func TestSampleInterleavedOrdersAndCounts(t *testing.T) {
	var calls []int
	slow := func() error { calls = append(calls, 1); time.Sleep(200 * time.Microsecond); return nil }
	fast := func() error { calls = append(calls, 2); return nil }
	runs, err := SampleInterleaved(Protocol{Samples: 4, MinSample: time.Millisecond}, slow, fast)
	require.NoError(t, err)
	require.Len(t, runs, 2)
	require.Len(t, runs[0], 4)
	require.Len(t, runs[1], 4)
	st := []Stats{Summarize(runs[0]), Summarize(runs[1])}
	require.Greater(t, st[0].MedianNs, 150e3, "the slow call takes ≥ 200 µs")
	require.Less(t, st[1].MedianNs, st[0].MedianNs)
	// Interleaved: after calibration both alternate rather than run back to back.
	last := calls[len(calls)-1]
	require.Equal(t, 2, last)
}

func TestErrorsStopTiming(t *testing.T) {
	boom := errors.New("boom")
	n := 0
	_, err := TimeInterleaved(Protocol{Samples: 3, MinSample: time.Millisecond}, func() error {
		n++
		if n > 5 {
			return boom
		}
		return nil
	})
	require.ErrorIs(t, err, boom)
}

func TestBudgetStopsEarly(t *testing.T) {
	runs, err := SampleInterleaved(Protocol{Samples: 1000, MinSample: 100 * time.Microsecond, Budget: 20 * time.Millisecond},
		func() error { time.Sleep(50 * time.Microsecond); return nil })
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(runs[0]), 3)
	require.Less(t, len(runs[0]), 1000)
}
