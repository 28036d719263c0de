package main

import (
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"
	"time"

	"github.com/sparsegen/sparsegen/asm"
	"github.com/sparsegen/sparsegen/bench"
	"github.com/sparsegen/sparsegen/dispatch"
)

func init() {
	commands["info"] = command{"CPU features, the ISA dispatch uses and why, kernels, FMA peak, read bandwidth, tuning record", runInfo}
}

func runInfo(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("info", "info [-record FILE] [-peak=false] [-bandwidth=false]", stderr)
	recordPath := fs.String("record", "", "a tuning record to summarize")
	peak := fs.Bool("peak", true, "measure the FMA peak of one core (about a second)")
	bw := fs.Bool("bandwidth", true, "measure one core's read bandwidth from memory and from L2 (about a second)")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	c := dispatch.Host()
	fmt.Fprintf(stdout, "CPU:       %s (%s), %d logical cores, GOARCH %s\n", orUnknown(c.Model), orUnknown(c.Vendor), c.Cores, c.GOARCH)
	fmt.Fprintf(stdout, "features:  %s (enabled, after GODEBUG)\n", c.Features)
	best := c.BestISA()
	why := "the widest ISA with kernels in this build that this CPU runs"
	if env := os.Getenv(dispatch.EnvISA); env != "" {
		why = fmt.Sprintf("$%s=%s caps it", dispatch.EnvISA, env)
		if i, err := asm.ParseISA(env); err == nil && c.Supported(i) {
			best = i
		} else {
			why += " (and is not usable here: dispatch will report an error)"
		}
	}
	if k := c.KernelISA(best); k != best {
		why += fmt.Sprintf("; the CPU runs %s code, but this build has no %s kernels (built with -tags purego?)", best, best)
		best = k
	}
	fmt.Fprintf(stdout, "ISA:       %s (%s)\n", best, why)
	fmt.Fprintf(stdout, "policy:    %s\n", dispatch.PolicySource(""))
	if os.Getenv(dispatch.CalibrationEnv) == "" {
		if p, err := dispatch.DefaultCalibrationPath(); err == nil {
			fmt.Fprintf(stdout, "           (this machine's calibration file: %s; `sparsegen calibrate` writes it)\n", p)
		}
	}
	for _, i := range []asm.ISA{asm.AVX512, asm.AVX2, asm.NEON, asm.Generic} {
		fmt.Fprintf(stdout, "  %-8s %s\n", i, yesNo(c.Supported(i)))
	}

	fmt.Fprintln(stdout, "\nkernel families (name, format, ISA, features, N range, runs here):")
	for _, f := range asm.Families() {
		nr := fmt.Sprintf("N ≥ %d", max(f.MinN, 1))
		if f.MaxN > 0 {
			nr = fmt.Sprintf("%d ≤ N ≤ %d", max(f.MinN, 1), f.MaxN)
		}
		fmt.Fprintf(stdout, "  %-28s %-6s %-8s %-34s %-14s %s\n", f.Name, f.Format, f.ISA, f.Features, nr, yesNo(c.CanRun(f, best)))
	}

	if *peak {
		fmt.Fprintln(stdout, "\nFMA peak, one core:")
		for _, i := range []asm.ISA{asm.AVX512, asm.AVX2, asm.NEON} {
			if !c.Supported(i) {
				continue
			}
			if g, err := asm.PeakGFLOPS(i, 300*time.Millisecond); err == nil {
				fmt.Fprintf(stdout, "  %-8s %.1f GFLOP/s\n", i, g)
			} else {
				fmt.Fprintf(stdout, "  %-8s not measured: %v\n", i, err)
			}
		}
	}

	if *bw {
		fmt.Fprint(stdout, "\nread bandwidth, one core: ")
		mem, l2 := asm.ReadBufferBytes()
		if g, err := asm.ReadBandwidth(300 * time.Millisecond); err == nil {
			fmt.Fprintf(stdout, "%.1f GB/s from memory (%d MiB buffer)", g, mem>>20)
		} else {
			fmt.Fprintf(stdout, "from memory not measured: %v", err)
		}
		if g, err := asm.L2ReadBandwidth(100 * time.Millisecond); err == nil {
			fmt.Fprintf(stdout, ", %.1f GB/s from L2 (%d KiB)", g, l2>>10)
		}
		fmt.Fprintf(stdout, "; %s loads\n", asm.ReadISA())
	}

	if *recordPath != "" {
		fmt.Fprintln(stdout, "\ntuning record", *recordPath+":")
		var warn []string
		r, err := dispatch.LoadRecord(*recordPath)
		if err != nil {
			return err
		}
		if host := dispatch.HostMachine(); !reflect.DeepEqual(r.Machine, host) {
			warn = append(warn, fmt.Sprintf("made on another machine or kernel set (record %+v, here %+v): dispatch ignores it", r.Machine, host))
		}
		fmt.Fprintf(stdout, "  version %d, made %s on %s (%d cores, %s), %d entries\n", r.Version, orUnknown(r.Created), orUnknown(r.Machine.Model), r.Machine.Cores, r.Machine.GOARCH, len(r.Entries))
		for _, e := range r.Entries {
			nr := fmt.Sprintf("%d…%d", e.NLo, e.NHi)
			if e.NLo == e.NHi {
				nr = fmt.Sprint(e.NLo)
			}
			dt := ""
			if e.DType != "" {
				dt = " " + e.DType // the weights' dtype; none is float32
			}
			fmt.Fprintf(stdout, "  %d×%d N %-7s %-12s density %3d%%%s: ", e.M, e.K, nr, e.Pattern, e.DensityPct, dt)
			if e.Winner.Same(e.Default) {
				fmt.Fprintf(stdout, "the default %s (%s, %s at N = %d)", e.Winner.Kernel, e.Winner.Format, bench.FormatNs(e.Winner.MedianNs), e.N)
			} else {
				fmt.Fprintf(stdout, "%s (%s, %s at N = %d) instead of the default %s (%s)", e.Winner.Kernel, e.Winner.Format,
					bench.FormatNs(e.Winner.MedianNs), e.N, e.Default.Kernel, bench.FormatNs(e.Default.MedianNs))
			}
			fmt.Fprintln(stdout)
		}
		for _, w := range warn {
			fmt.Fprintf(stdout, "  warning: %s\n", w)
		}
	}
	return nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func orUnknown(s string) string {
	if strings.TrimSpace(s) == "" {
		return "unknown"
	}
	return s
}
