package bench

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func fakeResults() []Result {
	var rs []Result
	for _, sh := range Corpus[:4] {
		for i, p := range DefaultPatterns() {
			rs = append(rs, Result{Shape: sh, Pattern: p, Sparsity: p.NominalSparsity(), SpeedupDense: 0.5 + float64(i)*0.3, Threads: 1})
		}
	}
	return rs
}

func TestPlotWritesValidSVGAndPNG(t *testing.T) {
	base := filepath.Join(t.TempDir(), "sub", "speedup")
	require.NoError(t, Plot(fakeResults(), base))
	svg, err := os.ReadFile(base + ".svg")
	require.NoError(t, err)
	require.True(t, bytes.Contains(svg, []byte("<svg")), "SVG has no <svg element")
	require.True(t, bytes.Contains(svg, []byte("speedup over our dense kernel")), "SVG lacks the axis label")
	f, err := os.Open(base + ".png")
	require.NoError(t, err)
	defer f.Close()
	img, err := png.Decode(f)
	require.NoError(t, err)
	require.Greater(t, img.Bounds().Dx(), 600)
	require.Error(t, Plot(nil, base), "an empty result set is an error")
}

func TestCSVColumns(t *testing.T) {
	var b strings.Builder
	rs := fakeResults()
	require.NoError(t, WriteCSV(&b, rs))
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	require.Equal(t, "shape,m,k,n,pattern,sparsity,nnz,kernel,isa,threads,median_ns,min_ns,gflops_dense_equiv,gflops_useful,speedup_vs_dense,packed_bytes,bytes_per_call,gbps,read_bw_pct", lines[0])
	require.Len(t, lines, len(rs)+1)
}

func TestParsePattern(t *testing.T) {
	for _, s := range []string{"dense", "unstructured:0.9", "nm:2:4", "block:4x4:0.9", "block:1x4:0.5"} {
		p, err := ParsePattern(s)
		require.NoError(t, err, s)
		require.Equal(t, s, p.String())
	}
	for _, s := range []string{"", "sparse", "unstructured", "unstructured:1", "unstructured:-0.1", "unstructured:nan", "nm:3:2", "nm:2:32", "nm:0:4", "block:4:0.9", "block:0x4:0.5", "block:4x4", "dense:1"} {
		_, err := ParsePattern(s)
		require.Error(t, err, s)
	}
	sh, err := ParseShape("768x3072x128")
	require.NoError(t, err)
	require.Equal(t, Shape{"768x3072x128", 768, 3072, 128}, sh)
	for _, s := range []string{"", "1x2", "0x4x4", "ax4x4", "100000x100000x1", "4x4x4x4"} {
		_, err := ParseShape(s)
		require.Error(t, err, s)
	}
}
