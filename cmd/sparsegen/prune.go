package main

import (
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/sparsegen/sparsegen/formats"
	"github.com/sparsegen/sparsegen/formats/fileio"
	"github.com/sparsegen/sparsegen/formats/prune"
)

func init() {
	commands["prune"] = command{"prune dense weights (.npy/.npz/.safetensors) into CSR, BSR or N:M .npz (each, or dense, also in bf16/f16/i8 with -dtype)", runPrune}
}

func runPrune(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("prune", "prune -in FILE -out PATH [-method magnitude|global|block|nm] [flags]", stderr)
	in := fs.String("in", "", "dense weights: .npy, .npz or .safetensors (required)")
	out := fs.String("out", "", "output .npz for one tensor, or a directory for several (required)")
	tensorName := fs.String("tensor", "", "prune only this tensor (default: every 2-D tensor)")
	method := fs.String("method", "magnitude", "magnitude (per tensor), global (one threshold over all tensors),\nblock (R×C blocks by norm) or nm (N:M along K)")
	sparsity := fs.Float64("sparsity", 0.9, "target fraction of zeros for magnitude, global and block, in [0, 1]")
	block := fs.String("block", "4x4", "block size RxC for -method block")
	norm := fs.String("norm", "l1", "block score for -method block: l1 or l2")
	nm := fs.String("nm", "2:4", "pattern N:M for -method nm (N ≤ M ≤ 16)")
	sharedRows := fs.Int("shared-rows", 1, "with -method nm: bands of R rows keep the same positions (by summed |w|), so the kept\nweights form R×1 blocks that the BSR R×1 kernels run; prints the |w| mass kept against per-row N:M")
	format := fs.String("format", "", "output format: csr, bsr, nm or dense (the pruned weights with their zeros; default: csr for\nmagnitude/global, bsr for block, nm for nm)")
	dtypeFlag := fs.String("dtype", "", "store the pruned weights as f32 (default), bf16, f16 or i8 (int8 + a float32 scale per row),\nconverted here (round to nearest even; int8 scale = max|w|/127 per row), in any -format; needs\nan .npz output")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	if *in == "" || *out == "" {
		return usageErr(fs, "-in and -out are required")
	}
	if !(*sparsity >= 0 && *sparsity <= 1) {
		return usageErr(fs, "-sparsity %v is outside [0, 1]", *sparsity)
	}
	var r, c, keep, group int
	var nrm prune.Norm
	var err error
	switch *method {
	case "magnitude", "global":
	case "block":
		if r, c, err = parseBlock(*block); err != nil {
			return usageErr(fs, "-block: %v", err)
		}
		if nrm, err = prune.ParseNorm(*norm); err != nil {
			return usageErr(fs, "-norm: %v", err)
		}
	case "nm":
		if keep, group, err = parseNM(*nm); err != nil {
			return usageErr(fs, "-nm: %v", err)
		}
		if *sharedRows < 1 {
			return usageErr(fs, "-shared-rows %d: want R ≥ 1", *sharedRows)
		}
	default:
		return usageErr(fs, "-method %q: want magnitude, global, block or nm", *method)
	}
	if *sharedRows != 1 && *method != "nm" {
		return usageErr(fs, "-shared-rows needs -method nm")
	}
	var lowp formats.DType // 0: float32
	if *dtypeFlag != "" && *dtypeFlag != "f32" {
		if lowp, err = formats.ParseDType(*dtypeFlag); err != nil {
			return usageErr(fs, "-dtype %q: want f32, bf16, f16 or i8", *dtypeFlag)
		}
	}
	outFormat := *format
	if outFormat == "" {
		outFormat = map[string]string{"magnitude": "csr", "global": "csr", "block": "bsr", "nm": "nm"}[*method]
	}
	switch outFormat {
	case "csr", "bsr", "nm", "dense":
	default:
		return usageErr(fs, "-format %q: want csr, bsr, nm or dense", outFormat)
	}

	if outFormat == "nm" && *method != "nm" {
		return usageErr(fs, "-format nm needs -method nm (other methods do not guarantee an N:M pattern)")
	}
	if outFormat == "bsr" && *method != "block" {
		r, c, err = parseBlock(*block)
		if err != nil {
			return usageErr(fs, "-block: %v", err)
		}
	}

	ts, err := loadTensors(*in)
	if err != nil {
		return err
	}
	var dense []*formats.Dense
	var names []string
	for _, t := range ts {
		if *tensorName != "" && t.name != *tensorName {
			continue
		}
		d, ok := t.w.(*formats.Dense)
		if !ok {
			d = t.w.ToDense()
		}
		if d.Rows < 2 && *tensorName == "" {
			continue // skip biases and scalars unless asked for by name
		}
		if t.info.Overflow {
			return fmt.Errorf("%s: %s: float64 values beyond float32's range (±3.4e38) would be written as ±Inf; rescale the tensor first", *in, t.name)
		}
		dense = append(dense, d)
		names = append(names, t.name)
	}
	if len(dense) == 0 {
		if *tensorName != "" {
			return fmt.Errorf("%s: no tensor named %q", *in, *tensorName)
		}
		return fmt.Errorf("%s: no 2-D tensor to prune", *in)
	}

	var pruned []*formats.Dense
	kept := map[int]string{} // -shared-rows: the |w| mass kept, per tensor
	switch *method {
	case "global":
		if pruned, err = prune.Global(dense, *sparsity); err != nil {
			return err
		}
	default:
		for _, d := range dense {
			var p *formats.Dense
			switch *method {
			case "magnitude":
				p, err = prune.Magnitude(d, *sparsity)
			case "block":
				p, err = prune.BlockMagnitude(d, r, c, nrm, *sparsity)
			case "nm":
				var m *formats.NM
				if m, err = prune.NMShared(d, keep, group, *sharedRows); err == nil {
					p = m.ToDense()
				}
				if err == nil && *sharedRows > 1 {
					kept[len(pruned)], err = keptMassNote(d, m, keep, group, *sharedRows)
				}
			}
			if err != nil {
				return err
			}
			pruned = append(pruned, p)
		}
	}

	several := len(pruned) > 1
	if lowp != 0 && !several && !strings.EqualFold(filepath.Ext(*out), ".npz") {
		return fmt.Errorf("-dtype %s: -out %s must be an .npz (it keeps the dtype; .npy and .safetensors are written in float32 only)", lowp, *out)
	}
	var files []string
	if several {
		if files, err = outputNames(names); err != nil {
			return err
		}
		if err := os.MkdirAll(*out, 0o755); err != nil {
			return err
		}
	} else if dir := filepath.Dir(*out); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	for i, p := range pruned {
		var m formats.Matrix
		switch outFormat {
		case "csr":
			var c *formats.CSR
			if c, err = formats.CSRFromDense(p); err == nil && lowp != 0 {
				m, err = formats.CSRLPFromCSR(c, lowp)
			} else {
				m = c
			}
		case "bsr":
			var b *formats.BSR
			if b, err = formats.BSRFromDense(p, r, c); err == nil && lowp != 0 {
				m, err = formats.BSRLPFromBSR(b, lowp)
			} else {
				m = b
			}
		case "nm":
			var nm *formats.NM
			if nm, err = formats.NMFromDense(p, keep, group); err == nil && lowp != 0 {
				m, err = formats.NMLPFromNM(nm, lowp)
			} else {
				m = nm
			}
		case "dense":
			m = p
			if lowp != 0 {
				m, err = formats.DenseLPFromDense(p, lowp)
			}
		}
		if err != nil {
			return fmt.Errorf("%s: %w", names[i], err)
		}
		path := *out
		if several {
			path = filepath.Join(*out, files[i]+".npz")
		}
		if err := fileio.SaveMatrix(path, m); err != nil {
			return fmt.Errorf("%s: %w", names[i], err)
		}
		rows, cols := m.Shape()
		desc := outFormat
		if lowp != 0 {
			desc += " " + lowp.String()
		}
		fmt.Fprintf(stdout, "%s: %d×%d, %s, sparsity %.2f%%%s → %s\n", names[i], rows, cols, desc,
			100*(1-float64(m.NNZ())/float64(max(int64(rows)*int64(cols), 1))), kept[i], path)
	}
	return nil
}

// keptMassNote says how much of d's |w| mass the row-shared N:M m keeps, against N:M per row.
func keptMassNote(d *formats.Dense, m *formats.NM, keep, group, rows int) (string, error) {
	shared, err := prune.KeptMass(d, m)
	if err != nil {
		return "", err
	}
	perRow, err := prune.NM(d, keep, group)
	if err != nil {
		return "", err
	}
	own, err := prune.KeptMass(d, perRow)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf(", positions shared by %d rows: kept %.1f%% of |w| (per-row %d:%d keeps %.1f%%)", rows, 100*shared, keep, group, 100*own), nil
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func safeName(s string) string {
	s = unsafeChars.ReplaceAllString(s, "_")
	if s == "" || s == "." || s == ".." {
		s = "tensor"
	}
	return s
}

// outputNames gives each tensor its own file name (without .npz): safeName of its name,
// and where several tensors reach the same file name (or names that differ only in case, one
// file on case-insensitive file systems), every one of them but a tensor whose name needed no
// change gets a suffix from a hash of its full name. Two files of one run never share a path:
// that would keep the last tensor and lose the others without a word.
func outputNames(names []string) ([]string, error) {
	out := make([]string, len(names))
	groups := map[string][]int{}
	var order []string
	for i, n := range names {
		out[i] = safeName(n)
		key := strings.ToLower(out[i])
		if _, ok := groups[key]; !ok {
			order = append(order, key)
		}
		groups[key] = append(groups[key], i)
	}
	for _, key := range order {
		g := groups[key]
		if len(g) == 1 {
			continue
		}
		kept := false
		for _, i := range g {
			if !kept && out[i] == names[i] {
				kept = true
				continue
			}
			h := fnv.New32a()
			h.Write([]byte(names[i]))
			out[i] = fmt.Sprintf("%s-%08x", out[i], h.Sum32())
		}
	}
	seen := map[string]int{}
	for i, o := range out {
		if j, ok := seen[strings.ToLower(o)]; ok {
			return nil, fmt.Errorf("tensors %q and %q would both be written to %s.npz", names[j], names[i], o)
		}
		seen[strings.ToLower(o)] = i
	}
	return out, nil
}

func parseBlock(s string) (r, c int, err error) {
	f := strings.Split(strings.ToLower(s), "x")
	if len(f) == 2 {
		r, err1 := strconv.Atoi(f[0])
		c, err2 := strconv.Atoi(f[1])
		if err1 == nil && err2 == nil && r >= 1 && c >= 1 && r <= formats.MaxBlockDim && c <= formats.MaxBlockDim {
			return r, c, nil
		}
	}
	return 0, 0, fmt.Errorf("%q: want RxC with 1 ≤ R, C ≤ %d, e.g. 4x4", s, formats.MaxBlockDim)
}

func parseNM(s string) (keep, group int, err error) {
	f := strings.Split(s, ":")
	if len(f) == 2 {
		n, err1 := strconv.Atoi(f[0])
		m, err2 := strconv.Atoi(f[1])
		if err1 == nil && err2 == nil && n >= 1 && n <= m && m <= formats.MaxGroup {
			return n, m, nil
		}
	}
	return 0, 0, fmt.Errorf("%q: want N:M with 1 ≤ N ≤ M ≤ %d, e.g. 2:4", s, formats.MaxGroup)
}
