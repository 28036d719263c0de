package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/sparsegen/sparsegen/formats"
	"github.com/sparsegen/sparsegen/formats/fileio"
)

func init() {
	commands["inspect"] = command{"per tensor: shape, density, row spread, block fill, N:M conformance, bytes per format", runInspect}
}

func runInspect(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("inspect", "inspect [-tensor NAME] FILE...", stderr)
	tensorName := fs.String("tensor", "", "inspect only this tensor")
	if err := parse(fs, args, true); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usageErr(fs, "name at least one file (.npy, .npz or .safetensors)")
	}
	found := false
	for _, path := range fs.Args() {
		ts, err := loadTensors(path)
		if err != nil {
			return err
		}
		for _, t := range ts {
			if *tensorName != "" && t.name != *tensorName {
				continue
			}
			found = true
			if err := inspectOne(stdout, path, t); err != nil {
				return fmt.Errorf("%s: %s: %w", path, t.name, err)
			}
		}
	}
	if !found && *tensorName != "" {
		return fmt.Errorf("no tensor named %q", *tensorName)
	}
	return nil
}

func inspectOne(w io.Writer, path string, t tensor) error {
	st, err := formats.Measure(t.w)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%s: %s\n", path, t.name)
	layout := t.info.Layout
	lpType, lp := lowPrecision(t.w)
	if lp {
		layout += " " + lpType.String() // kept in its dtype, not widened
	}
	fmt.Fprintf(w, "  stored as    %s (%s", layout, t.info.Container)
	if t.info.DType != "" {
		fmt.Fprintf(w, ", %s", t.info.DType)
		if lp && lpType == formats.BF16 && t.info.Container == "npz" {
			fmt.Fprint(w, ": bf16 bit patterns, numpy has no bfloat16")
		}
		if _, ok := t.w.(*formats.Dense); ok {
			switch t.info.DType {
			case "<f2", "F16":
				fmt.Fprint(w, ": float16, widened to float32 here")
			case "BF16":
				fmt.Fprint(w, ": bfloat16, widened to float32 here")
			}
		}
		if lp && lpType == formats.I8 {
			values := t.name // a dense array; a CSR's, BSR's or N:M's values are its "data"
			switch t.w.(type) {
			case *formats.CSRLP, *formats.BSRLP, *formats.NMLP:
				values = "data"
			}
			fmt.Fprintf(w, " with float32 row scales %s%s", values, fileio.LPScaleSuffix)
		}
	}
	fmt.Fprintln(w, ")")
	for _, n := range t.info.Notes {
		fmt.Fprintf(w, "  note         %s\n", n)
	}
	fmt.Fprintf(w, "  shape        %d×%d\n", st.Rows, st.Cols)
	fmt.Fprintf(w, "  density      %.4f (%d nonzeros, sparsity %.2f%%)\n", st.Density, st.NNZ, 100*(1-st.Density))
	fmt.Fprintf(w, "  nnz per row  min %d, mean %.1f, max %d, std %.1f, %d empty rows\n", st.RowMin, st.RowMean, st.RowMax, st.RowStd, st.EmptyRows)
	var nms []string
	for _, nm := range st.NM {
		s := fmt.Sprintf("%d:%d", nm.Keep, nm.Group)
		if !nm.Sparse {
			s += " (dense)"
		}
		nms = append(nms, s)
	}
	fmt.Fprintf(w, "  tightest N:M %s\n", strings.Join(nms, ", "))
	if b, ok := st.BestBlock(); ok {
		fmt.Fprintf(w, "  best block   %dx%d: fill %.1f%% in %d blocks\n", b.R, b.C, 100*b.Fill, b.Blocks)
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "  format\tbytes\tvs dense\t")
	row := func(name string, b int64) {
		fmt.Fprintf(tw, "  %s\t%d\t%.3f\t\n", name, b, float64(b)/float64(max(st.DenseBytes, 1)))
	}
	row("dense f32", st.DenseBytes)
	// Dense in low precision: 2 bytes per weight, or 1 and a float32 scale per row.
	cells := int64(st.Rows) * int64(st.Cols)
	row("dense bf16/f16", 2*cells)
	row("dense i8 + scales", cells+4*int64(st.Rows))
	row("csr i32", st.CSRBytes)
	if st.CSR16Applicable {
		row("csr i16", st.CSR16Bytes)
	}
	for _, b := range st.Blocks {
		row(fmt.Sprintf("bsr %dx%d (fill %.0f%%)", b.R, b.C, 100*b.Fill), b.Bytes)
	}
	for _, nm := range st.NM {
		if nm.Sparse {
			row(fmt.Sprintf("nm %d:%d", nm.Keep, nm.Group), nm.Bytes)
		}
	}
	return tw.Flush()
}

// lowPrecision returns the dtype of a DenseLP, CSRLP, BSRLP or NMLP, and false for a
// float32 matrix.
func lowPrecision(m formats.Matrix) (formats.DType, bool) {
	switch w := m.(type) {
	case *formats.DenseLP:
		return w.DType, true
	case *formats.CSRLP:
		return w.DType, true
	case *formats.BSRLP:
		return w.DType, true
	case *formats.NMLP:
		return w.DType, true
	}
	return 0, false
}
