package main

import (
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/sparsegen/sparsegen/asm"
	"github.com/sparsegen/sparsegen/dispatch"
	"github.com/sparsegen/sparsegen/formats"
	"github.com/sparsegen/sparsegen/formats/fileio"

	"example.com/usergen/mykern"
)

var (
	bakedFiles = flag.String("baked", "mykern/testdata/fc.npz", "comma-separated weights whose baked kernels (in mykern) to time")
	bakedNs    = flag.String("baked-n", "16,49,3136", "comma-separated N to time the baked kernels at")
)

// bakedDemo times, for each weight of -baked, mykern's kernel baked for it on this CPU's
// ISA against sparsegen's runtime CSR kernels forced by name and the plan Compile chooses,
// interleaved in this process, one thread. Figures only: which wins depends on the CPU.
func bakedDemo(budget time.Duration) {
	isa := dispatch.Host().BestISA()
	for _, path := range strings.Split(*bakedFiles, ",") {
		w, _, err := fileio.LoadMatrix(path, "")
		check(err)
		rows, cols := w.Shape()
		h, err := formats.PatternHash(w) // a dense or CSR weight, as asmgen -bake took it
		check(err)
		type rival struct {
			name  string
			plan  *dispatch.Plan
			baked bool
		}
		var rivals []rival
		add := func(name string, baked bool, o dispatch.Options) {
			o.Threads = 1
			p, err := dispatch.Compile(w, o)
			check(err)
			rivals = append(rivals, rival{name, p, baked})
		}
		add("chosen", false, dispatch.Options{})
		for _, d := range mykern.SparsegenKernels() {
			if d.Pattern == h && d.ISA == isa {
				add(d.Name, true, dispatch.Options{Kernel: d.Name})
			}
		}
		if len(rivals) == 1 {
			fmt.Printf("\n%s: no kernel baked for it on %v\n", path, isa)
			continue
		}
		for _, f := range asm.Families() {
			if f.Format == "csr" && f.Pattern == "" && f.ISA == isa && strings.HasPrefix(f.Name, "spmm_csr_t") {
				add(f.Name, false, dispatch.Options{Kernel: f.Name})
			}
		}
		fmt.Printf("\n%s (%d×%d, %d nonzeros): median µs per call, one thread, interleaved (-: outside the kernel's N range)\n%-5s %-34s", path, rows, cols, w.NNZ(), "N", "chosen kernel")
		for _, r := range rivals {
			fmt.Printf(" %22s", strings.TrimPrefix(r.name, "mykern."))
		}
		fmt.Printf(" %8s\n", "baked ×")
		for _, f := range strings.Split(*bakedNs, ",") {
			var n int
			if _, err := fmt.Sscan(f, &n); err != nil || n < 1 {
				check(fmt.Errorf("-baked-n: %q is not a positive N", f))
			}
			x := make([]float32, cols*n)
			for i := range x {
				x[i] = float32(i%7) - 3
			}
			y := make([]float32, rows*n)
			// A kernel forced by name runs only in its N range: the others are left out.
			var fs []func()
			var in []int
			for i, r := range rivals {
				if got, _ := r.plan.KernelFor(n); i == 0 || got == r.name {
					fs = append(fs, func() { check(r.plan.Mul(y, n, x, n, n)) })
					in = append(in, i)
				}
			}
			t := timeInterleaved(budget, fs...)
			name, _ := rivals[0].plan.KernelFor(n)
			fmt.Printf("%-5d %-34s", n, name)
			col := make([]float64, len(rivals))
			var bestBaked, bestRun float64
			for j, i := range in {
				col[i] = t[j]
				best := &bestRun
				if rivals[i].baked {
					best = &bestBaked
				}
				if i > 0 && (*best == 0 || t[j] < *best) {
					*best = t[j]
				}
			}
			for _, v := range col {
				if v == 0 {
					fmt.Printf(" %22s", "-")
				} else {
					fmt.Printf(" %22.2f", v)
				}
			}
			// The fastest baked kernel's speed-up over the fastest runtime CSR kernel.
			if bestBaked > 0 && bestRun > 0 {
				fmt.Printf(" %8.2f\n", bestRun/bestBaked)
			} else {
				fmt.Printf(" %8s\n", "-")
			}
		}
	}
}
