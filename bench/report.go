package bench

import (
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Result is one measured (shape, pattern) configuration.
type Result struct {
	Shape    Shape
	Pattern  Pattern
	Sparsity float64 // measured fraction of zeros in W
	NNZ      int64   // true nonzeros of W
	Kernel   string  // the kernel dispatch chose
	ISA      string
	Threads  int
	Cold     bool

	MedianNs, MinNs float64
	GflopsDense     float64 // 2·M·K·N / t
	GflopsUseful    float64 // 2·nnz·N / t
	PeakPct         float64 // GflopsUseful as % of the measured FMA peak × threads; 0 if unknown or wrong (PeakExceeded)
	SpeedupDense    float64 // our dense kernel's median / this median, same run
	SpeedupBLAS     float64 // OpenBLAS median / this median, same run; 0 if not built in
	BLASNs          float64 // OpenBLAS median
	SpeedupXSMM     float64 // LIBXSMM median / this median, same run; 0 if not built in or no kernel
	XSMMNs          float64 // LIBXSMM median

	// N = 1 only (0 otherwise): the bytes the chosen kernel's packed W holds, the bytes one
	// call reads (packed W + X + Y), that over the median in GB/s, and that as % of the
	// measured single-core read bandwidth from memory (Config.ReadGBps; one thread only).
	PackedBytes  int64
	BytesPerCall int64
	GBps         float64
	ReadPct      float64
}

// BytesPerWeight is the packed W's bytes per true nonzero of W (N = 1 results; 0
// otherwise), the "B/nnz" column: 4 for float32 dense, 2 for bf16, about 1 for int8, more
// for sparse formats (their indices) and for a dense kernel chosen on sparse W (its zeros).
func (r Result) BytesPerWeight() float64 {
	if r.PackedBytes == 0 || r.NNZ == 0 {
		return 0
	}
	return float64(r.PackedBytes) / float64(r.NNZ)
}

// BestDense is the faster external dense baseline measured for r, OpenBLAS or LIBXSMM, and
// its median; "" and 0 when neither ran.
func (r Result) BestDense() (name string, ns float64) {
	if r.BLASNs > 0 {
		name, ns = "OpenBLAS", r.BLASNs
	}
	if r.XSMMNs > 0 && (ns == 0 || r.XSMMNs < ns) {
		name, ns = "LIBXSMM", r.XSMMNs
	}
	return name, ns
}

// Baselines says which external dense baselines a run had, so which columns WriteTable
// prints: "× OpenBLAS" for OpenBLAS; "× LIBXSMM" and "× best dense" (the faster of the
// two, named) for LIBXSMM.
type Baselines struct {
	OpenBLAS, LIBXSMM bool
}

// CSVHeader is the exact column list of WriteCSV.
var CSVHeader = []string{"shape", "m", "k", "n", "pattern", "sparsity", "nnz", "kernel", "isa", "threads",
	"median_ns", "min_ns", "gflops_dense_equiv", "gflops_useful", "speedup_vs_dense",
	"packed_bytes", "bytes_per_call", "gbps", "read_bw_pct"}

// WriteCSV writes the results with CSVHeader's columns.
func WriteCSV(w io.Writer, rs []Result) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return err
	}
	f := func(x float64, prec int) string { return strconv.FormatFloat(x, 'f', prec, 64) }
	for _, r := range rs {
		rec := []string{r.Shape.Name, strconv.Itoa(r.Shape.M), strconv.Itoa(r.Shape.K), strconv.Itoa(r.Shape.N),
			r.Pattern.String(), f(r.Sparsity, 4), strconv.FormatInt(r.NNZ, 10), r.Kernel, r.ISA, strconv.Itoa(r.Threads),
			f(r.MedianNs, 0), f(r.MinNs, 0), f(r.GflopsDense, 2), f(r.GflopsUseful, 2), f(r.SpeedupDense, 3), "", "", "", ""}
		if r.BytesPerCall > 0 { // N = 1
			rec[len(rec)-4], rec[len(rec)-3] = strconv.FormatInt(r.PackedBytes, 10), strconv.FormatInt(r.BytesPerCall, 10)
			rec[len(rec)-2] = f(r.GBps, 2)
			if r.ReadPct > 0 {
				rec[len(rec)-1] = f(r.ReadPct, 1)
			}
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// WriteTable writes a human-readable table, one block per shape, with the columns of the
// baselines the run had.
func WriteTable(w io.Writer, rs []Result, with Baselines) error {
	hdr := []string{"pattern", "sparsity", "kernel", "median", "GF/s dense-eq", "GF/s useful", "% peak", "× dense"}
	if with.OpenBLAS {
		hdr = append(hdr, "× OpenBLAS")
	}
	if with.LIBXSMM {
		hdr = append(hdr, "× LIBXSMM", "× best dense")
	}
	speedup := func(x float64) string {
		if x > 0 {
			return fmt.Sprintf("%.2f", x)
		}
		return "-"
	}
	for i := 0; i < len(rs); {
		j := i
		for j < len(rs) && rs[j].Shape == rs[i].Shape {
			j++
		}
		r0 := rs[i]
		cold := ""
		if r0.Cold {
			cold = ", cold"
		}
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "%s  M=%d K=%d N=%d  (%d thread(s)%s)\n", r0.Shape.Name, r0.Shape.M, r0.Shape.K, r0.Shape.N, r0.Threads, cold)
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', tabwriter.AlignRight)
		bw := r0.Shape.N == 1 // N = 1: what a call reads, and how fast
		h := hdr
		if bw {
			h = append(slices.Clip(hdr), "B/nnz", "MB/call", "GB/s", "% read BW")
		}
		fmt.Fprintln(tw, strings.Join(h, "\t")+"\t")
		for _, r := range rs[i:j] {
			peak := "-"
			if r.PeakPct > 0 {
				peak = fmt.Sprintf("%.0f%%", r.PeakPct)
			}
			row := []string{r.Pattern.String(), fmt.Sprintf("%.1f%%", 100*r.Sparsity), r.Kernel, FormatNs(r.MedianNs),
				fmt.Sprintf("%.1f", r.GflopsDense), fmt.Sprintf("%.1f", r.GflopsUseful), peak, fmt.Sprintf("%.2f", r.SpeedupDense)}
			if with.OpenBLAS {
				row = append(row, speedup(r.SpeedupBLAS))
			}
			if with.LIBXSMM {
				best := "-"
				if name, ns := r.BestDense(); ns > 0 && r.MedianNs > 0 {
					best = fmt.Sprintf("%s (%s)", speedup(ns/r.MedianNs), name)
				}
				row = append(row, speedup(r.SpeedupXSMM), best)
			}
			if bw {
				bpw, mb, gbs, pct := "-", "-", "-", "-"
				if r.BytesPerCall > 0 {
					bpw = fmt.Sprintf("%.2f", r.BytesPerWeight())
					mb = fmt.Sprintf("%.2f", float64(r.BytesPerCall)/1e6)
					gbs = fmt.Sprintf("%.1f", r.GBps)
				}
				if r.ReadPct > 0 {
					pct = fmt.Sprintf("%.0f%%", r.ReadPct)
				}
				row = append(row, bpw, mb, gbs, pct)
			}
			fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		i = j
	}
	return nil
}

// FormatNs prints a duration in ns with a readable unit.
func FormatNs(ns float64) string {
	switch {
	case ns >= 1e9:
		return fmt.Sprintf("%.2f s", ns/1e9)
	case ns >= 1e6:
		return fmt.Sprintf("%.2f ms", ns/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.1f µs", ns/1e3)
	}
	return fmt.Sprintf("%.0f ns", ns)
}
