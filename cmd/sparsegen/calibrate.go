package main

import (
	"fmt"
	"io"
	"time"

	"github.com/sparsegen/sparsegen/dispatch"
)

func init() {
	commands["calibrate"] = command{"measure this machine's policy coefficients (under a minute) and validate the policy", runCalibrate}
}

func runCalibrate(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("calibrate", "calibrate [-budget 40s] [-out FILE] [-validate] [-measure=false] [-large=false]", stderr)
	budget := fs.Duration("budget", dispatch.DefaultCalibrateBudget, "time for the kernel timings (packing and fitting come on top)")
	out := fs.String("out", "", "where to write the calibration (default: this machine's file in the user cache directory, which dispatch loads by itself)")
	validate := fs.Bool("validate", false, "then time the held-out set and compare the shipped table's and the calibration's choices with the fastest kernel")
	measure := fs.Bool("measure", true, "measure (false: validate the calibration already at -out, or this machine's)")
	large := fs.Bool("large", true, "with -validate: include the weights streamed from memory (11008x4096, 4096x11008; about a minute more)")
	if err := parse(fs, args, false); err != nil {
		return err
	}
	if *budget < time.Second || *budget > time.Hour {
		return usageErr(fs, "-budget %v outside 1s…1h", *budget)
	}
	if !*measure && !*validate {
		return usageErr(fs, "-measure=false does nothing without -validate")
	}
	path := *out
	if path == "" {
		p, err := dispatch.DefaultCalibrationPath()
		if err != nil {
			return err
		}
		path = p
	}
	if *measure {
		progress := func(done, total int, name string, el time.Duration) {
			fmt.Fprintf(stderr, "\rcalibrate: %2d/%d %-34s %3.0f s", done, total, name, el.Seconds())
			if done == total {
				fmt.Fprintln(stderr)
			}
		}
		cal, err := dispatch.Calibrate(dispatch.CalibrateOptions{Budget: *budget, Progress: progress})
		if err != nil {
			return err
		}
		if err := cal.Save(path); err != nil {
			return fmt.Errorf("writing the calibration: %w", err)
		}
		fmt.Fprintf(stdout, "calibrated %s in %.1f s: %d coefficient sets measured, %d in all\nwrote %s\n",
			dispatch.Host().Model, cal.Seconds, cal.Measured, cal.Len(), path)
	} else if _, err := dispatch.LoadCalibration(path); err != nil {
		return fmt.Errorf("no usable calibration to validate: %w", err)
	}
	if !*validate {
		return nil
	}
	progress := func(done, total int, name string, el time.Duration) {
		fmt.Fprintf(stderr, "\rvalidate: %2d/%d %-28s %3.0f s", done, total, name, el.Seconds())
		if done == total {
			fmt.Fprintln(stderr)
		}
	}
	v, err := dispatch.ValidatePolicies([]string{"off", path}, dispatch.ValidateOptions{Large: *large, Progress: progress})
	if err != nil {
		return err
	}
	printValidation(stdout, v)
	return nil
}

// printValidation prints each held-out case and, per policy, the share of cases within
// 20% of the fastest candidate and the worst ratio.
func printValidation(w io.Writer, v *dispatch.Validation) {
	fmt.Fprintf(w, "\nheld-out validation, one thread (ratio: the policy's choice against the fastest candidate, re-timed interleaved where they differ)\n")
	fmt.Fprintf(w, "%-26s %4s  %-32s %10s  %-32s %6s  %-32s %6s\n", "matrix", "N", "fastest", "time", "shipped table chose", "ratio", "calibration chose", "ratio")
	for _, c := range v.Cases {
		fmt.Fprintf(w, "%-26s %4d  %-32s %10s  %-32s %6.2f  %-32s %6.2f\n", c.Matrix, c.N, c.Best, fmtDur(c.BestNs), c.Chosen[0], c.Ratio[0], c.Chosen[1], c.Ratio[1])
	}
	fmt.Fprintln(w)
	for i, name := range []string{"shipped table", "calibration"} {
		within, worst := v.Within(i, 1.2)
		fmt.Fprintf(w, "%-14s %3d/%d within 20%% of the fastest (%.0f%%), worst %.2f×   [%s]\n", name+":", within, len(v.Cases), 100*float64(within)/float64(len(v.Cases)), worst, v.Policies[i])
	}
}

func fmtDur(ns float64) string {
	return time.Duration(ns).Round(time.Duration(max(1, ns/1000))).String()
}
