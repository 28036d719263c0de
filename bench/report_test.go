package bench

import (
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// fakeResult is a measured configuration with made-up timings: our kernel ns, OpenBLAS and
// LIBXSMM ns (0: not run).
func fakeResult(p Pattern, ns, blas, xsmm float64) Result {
	r := Result{Shape: Shape{"s", 11008, 4096, 16}, Pattern: p, Kernel: "k", Threads: 1, MedianNs: ns, MinNs: ns, SpeedupDense: 1}
	if blas > 0 {
		r.BLASNs, r.SpeedupBLAS = blas, blas/ns
	}
	if xsmm > 0 {
		r.XSMMNs, r.SpeedupXSMM = xsmm, xsmm/ns
	}
	return r
}

// Issue 18, item 4: the best dense baseline is the faster of OpenBLAS and LIBXSMM that ran.
func TestBestDenseIsTheFasterBaseline(t *testing.T) {
	for _, c := range []struct {
		blas, xsmm float64
		name       string
		ns         float64
	}{
		{44e6, 23e6, "LIBXSMM", 23e6},
		{20e6, 23e6, "OpenBLAS", 20e6},
		{44e6, 0, "OpenBLAS", 44e6},
		{0, 23e6, "LIBXSMM", 23e6},
		{0, 0, "", 0},
	} {
		name, ns := fakeResult(Pattern{Kind: Dense}, 10e6, c.blas, c.xsmm).BestDense()
		require.Equal(t, c.name, name, "OpenBLAS %g, LIBXSMM %g", c.blas, c.xsmm)
		require.Equal(t, c.ns, ns)
	}
}

// The table's baseline columns: none without either library (the table as before), × OpenBLAS
// alone with OpenBLAS, and × LIBXSMM and × best dense (naming the winner) with LIBXSMM.
func TestTableBaselineColumns(t *testing.T) {
	rs := []Result{
		fakeResult(Pattern{Kind: Dense}, 20e6, 44e6, 23e6),
		fakeResult(Pattern{Kind: Unstructured, Sparsity: 0.9}, 5e6, 10e6, 20e6),
		fakeResult(Pattern{Kind: NM, Keep: 2, Group: 4}, 10e6, 30e6, 0), // LIBXSMM made no kernel
	}
	table := func(with Baselines) (hdr string, rows []string) {
		var b strings.Builder
		require.NoError(t, WriteTable(&b, rs, with))
		lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
		require.Len(t, lines, 2+len(rs))
		return lines[1], lines[2:]
	}
	cells := regexp.MustCompile(`\s{2,}`)
	last := func(row string, n int) []string { // the last n cells
		c := cells.Split(strings.TrimSpace(row), -1)
		return c[len(c)-n:]
	}

	hdr, rows := table(Baselines{})
	require.NotContains(t, hdr, "OpenBLAS")
	require.NotContains(t, hdr, "LIBXSMM")
	require.NotContains(t, hdr, "best dense")
	require.Equal(t, []string{"% peak", "× dense"}, last(hdr, 2))
	require.Equal(t, []string{"-", "1.00"}, last(rows[0], 2))

	hdr, rows = table(Baselines{OpenBLAS: true})
	require.Equal(t, []string{"× dense", "× OpenBLAS"}, last(hdr, 2))
	require.NotContains(t, hdr, "best dense")
	require.Equal(t, []string{"1.00", "2.20"}, last(rows[0], 2))

	hdr, rows = table(Baselines{OpenBLAS: true, LIBXSMM: true})
	require.Equal(t, []string{"× dense", "× OpenBLAS", "× LIBXSMM", "× best dense"}, last(hdr, 4))
	require.Equal(t, []string{"2.20", "1.15", "1.15 (LIBXSMM)"}, last(rows[0], 3))
	require.Equal(t, []string{"2.00", "4.00", "2.00 (OpenBLAS)"}, last(rows[1], 3))
	require.Equal(t, []string{"3.00", "-", "3.00 (OpenBLAS)"}, last(rows[2], 3))

	rs = []Result{fakeResult(Pattern{Kind: Dense}, 20e6, 0, 23e6)}
	hdr, rows = table(Baselines{LIBXSMM: true})
	require.Equal(t, []string{"× dense", "× LIBXSMM", "× best dense"}, last(hdr, 3))
	require.Equal(t, []string{"1.15", "1.15 (LIBXSMM)"}, last(rows[0], 2))
	rs = []Result{fakeResult(Pattern{Kind: Dense}, 20e6, 0, 0)}
	_, rows = table(Baselines{LIBXSMM: true})
	require.Equal(t, []string{"-", "-"}, last(rows[0], 2))
}
