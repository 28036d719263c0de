package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sparsegen/sparsegen/autotune"
	"github.com/sparsegen/sparsegen/bench"
	"github.com/sparsegen/sparsegen/dispatch"
)

func init() {
	commands["tune"] = command{"time every candidate kernel per layer and write a tuning record", runTune}
}

func runTune(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("tune", "tune (-model FILE|DIR | -shapes MxK,... -patterns P,...) -out RECORD [flags]", stderr)
	model := fs.String("model", "", "a .safetensors file, a .npz/.npy file, or a folder of .npy/.npz files")
	shapes := fs.String("shapes", "", "instead of a model: comma-separated MxK (or MxKxN, N ignored) layer shapes")
	patterns := fs.String("patterns", "unstructured:0.9", "with -shapes: patterns to synthesize (as for bench)")
	nList := fs.String("n", "1,16,128", "comma-separated N values to tune for")
	out := fs.String("out", "sparsegen-tune.json", "the tuning record to write (merged with an existing one for this machine)")
	threads := fs.String("threads", "", "comma-separated thread counts to try (default: all cores)")
	isa := fs.String("isa", "", "cap the ISA (avx512, avx2, neon, generic)")
	budget := fs.Duration("budget", 2*time.Second, "timing budget per layer and N")
	check := fs.Bool("check", false, "re-time the recorded winners of -out (within -budget each) and report those that drifted by more than -drift")
	drift := fs.Float64("drift", 0.2, "with -check: the relative drift to report")
	compare := fs.Int("compare", 0, "after tuning, re-time tuned vs default choices this many times each (≥ 10 for a p-value)")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	if (*model == "") == (*shapes == "") {
		return usageErr(fs, "give exactly one of -model and -shapes")
	}
	ns, err := bench.ParseList(*nList, bench.ParseN)
	if err != nil {
		return usageErr(fs, "-n: %v", err)
	}
	opts := autotune.Options{Ns: ns, ISA: *isa, Budget: *budget, Progress: progressWriter(stderr), Seed: 1}
	if *threads != "" {
		if opts.Threads, err = bench.ParseList(*threads, parseThreads); err != nil {
			return usageErr(fs, "-threads: %v", err)
		}
	}
	if *budget <= 0 {
		return usageErr(fs, "-budget must be positive")
	}
	// An unwritable -out is found now, not after the whole run.
	if !*check {
		if err := autotune.CheckWritable(*out); err != nil {
			return err
		}
	}
	var layers []autotune.Layer
	if *model != "" {
		layers, err = modelLayers(*model)
	} else {
		layers, err = synthLayers(fs, *shapes, *patterns)
	}
	if err != nil {
		return err
	}

	if *check {
		rec, why := autotune.LoadForHost(*out)
		if rec == nil {
			return fmt.Errorf("-check: %s", why)
		}
		ds, err := autotune.Check(layers, ns, rec, opts, *drift)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "layer\tN\twinner\trecorded\tnow\tchange\tp\tsamples\tverdict\t")
		drifted, unsure := 0, 0
		var whys []string
		for _, d := range ds {
			switch d.Status {
			case autotune.Drifted:
				drifted++
			case autotune.DriftInconclusive:
				unsure++
			}
			if d.Why != "" {
				whys = append(whys, fmt.Sprintf("  %s N=%d: %s: %s", d.Layer, d.N, d.Status, d.Why))
			}
			fmt.Fprintf(tw, "%s\t%d\t%s@%s\t%s\t%s\t%+.0f%%\t%.2g\t%d\t%s\t\n", d.Layer, d.N, d.Winner.Kernel, d.Winner.Format,
				bench.FormatNs(d.Winner.MedianNs), bench.FormatNs(d.NowNs), 100*d.Relative, d.P, d.Samples, d.Status)
		}
		tw.Flush()
		for _, w := range whys {
			fmt.Fprintln(stdout, w)
		}
		fmt.Fprintf(stdout, "%d of %d recorded winners drifted by more than %.0f%% (Mann-Whitney p < 0.01, not explained by a control kernel timed alongside)", drifted, len(ds), 100**drift)
		if unsure > 0 {
			fmt.Fprintf(stdout, "; %d inconclusive: too noisy to tell (rerun on a quiet machine, or with a larger -budget)", unsure)
		}
		fmt.Fprintln(stdout)
		return nil
	}

	rec := dispatch.NewRecord()
	rec.Created = time.Now().UTC().Format(time.RFC3339)
	start := time.Now()
	rs, err := autotune.Tune(layers, opts, rec)
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	warnings, err := autotune.SaveMerged(*out, rec)
	if err != nil {
		return err
	}
	for _, w := range warnings {
		fmt.Fprintln(stderr, "warning:", w)
	}
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "layer\tM×K\tN\tapplies to N\tchosen\ttime\trunner-up\tdense\t× dense\tdefault policy\t")
	for _, r := range rs {
		ru := "-"
		if len(r.Entry.RunnersUp) > 0 {
			c := r.Entry.RunnersUp[0]
			ru = fmt.Sprintf("%s@%s %s", c.Kernel, c.Format, bench.FormatNs(c.MedianNs))
		}
		dense, sp := "-", "-"
		if r.Dense.MedianNs > 0 {
			dense = bench.FormatNs(r.Dense.MedianNs)
			sp = fmt.Sprintf("%.2f", r.Speedup())
		}
		def := r.Default.Kernel + "@" + r.Default.Format
		if r.Default.MedianNs > 0 {
			def += " " + bench.FormatNs(r.Default.MedianNs)
		}
		w := r.Entry.Winner
		fmt.Fprintf(tw, "%s\t%d×%d\t%d\t%d…%d\t%s@%s (%dt)\t%s\t%s\t%s\t%s\t%s\t\n", r.Layer, r.M, r.K, r.N, r.Entry.NLo, r.Entry.NHi,
			w.Kernel, w.Format, w.Threads, bench.FormatNs(w.MedianNs), ru, dense, sp, def)
	}
	tw.Flush()
	fmt.Fprintf(stdout, "tuned %d layer×N steps in %s; record %s\n", len(rs), elapsed.Round(100*time.Millisecond), *out)
	fmt.Fprintln(stdout, "each choice was timed at the ends of its N range and at N; other N keep the default policy's choice")

	if *compare > 0 {
		saved, why := autotune.LoadForHost(*out)
		if saved == nil {
			return fmt.Errorf("-compare: %s", why)
		}
		cs, err := autotune.Compare(layers, ns, saved, opts, *compare)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "\ntuned vs default, re-timed interleaved (%d runs each; Mann-Whitney U, two-sided):\n", *compare)
		tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "layer\tN\tdefault\ttuned\tdefault median\ttuned median\tgain\tp\t")
		for _, c := range cs {
			tuned, gain, p := c.Tuned, fmt.Sprintf("%.2f×", c.Gain), fmt.Sprintf("%.3g", c.P)
			if c.Same {
				tuned, gain, p = "(same kernel)", "-", "-" // the two medians differ by noise only
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t\n", c.Layer, c.N, c.Default, tuned,
				bench.FormatNs(c.DefaultNs), bench.FormatNs(c.TunedNs), gain, p)
		}
		tw.Flush()
	}
	return nil
}

// modelLayers reads the 2-D tensors of a model file, or of every .npy/.npz in a folder.
func modelLayers(path string) ([]autotune.Layer, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	var files []string
	if st.IsDir() {
		ents, err := os.ReadDir(path)
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			ext := strings.ToLower(filepath.Ext(e.Name()))
			if !e.IsDir() && (ext == ".npy" || ext == ".npz" || ext == ".safetensors") {
				files = append(files, filepath.Join(path, e.Name()))
			}
		}
		sort.Strings(files)
	} else {
		files = []string{path}
	}
	var layers []autotune.Layer
	for _, f := range files {
		ts, err := loadWeights(f)
		if err != nil {
			return nil, err
		}
		for _, t := range ts {
			if m, k := t.w.Shape(); m >= 2 && k >= 2 {
				name := t.name
				if len(files) > 1 && !strings.Contains(name, filepath.Base(f)) {
					name = filepath.Base(f) + ":" + name
				}
				layers = append(layers, autotune.Layer{Name: name, W: t.w})
			}
		}
	}
	if len(layers) == 0 {
		return nil, fmt.Errorf("%s: no 2-D weight tensor found", path)
	}
	return layers, nil
}

// synthLayers makes one layer per shape × pattern, pruned by our own pruning code.
func synthLayers(fs interface{ Output() io.Writer }, shapes, patterns string) ([]autotune.Layer, error) {
	ss, err := bench.ParseList(shapes, func(s string) (bench.Shape, error) {
		if strings.Count(strings.ToLower(s), "x") == 1 {
			s += "x1"
		}
		return bench.ParseShape(s)
	})
	if err != nil {
		return nil, fmt.Errorf("%w: -shapes: %v", errUsageMsg(fs), err)
	}
	ps, err := bench.ParseList(patterns, bench.ParsePattern)
	if err != nil {
		return nil, fmt.Errorf("%w: -patterns: %v", errUsageMsg(fs), err)
	}
	var layers []autotune.Layer
	for i, s := range ss {
		base := bench.RandomDense(uint64(i+1), s.M, s.K)
		for _, p := range ps {
			w, err := bench.Synthesize(base, p)
			if err != nil {
				return nil, err
			}
			layers = append(layers, autotune.Layer{Name: fmt.Sprintf("%dx%d/%s", s.M, s.K, p), W: w})
		}
	}
	return layers, nil
}

// errUsageMsg prints nothing more; the error text carries the reason.
func errUsageMsg(fs interface{ Output() io.Writer }) error {
	fmt.Fprintln(fs.Output(), "usage error: see sparsegen tune -h")
	return errUsage
}
