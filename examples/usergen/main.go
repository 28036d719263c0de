// Command usergen shows kernels generated into this module (package mykern, by
// `go generate ./...`) taking part in sparsegen's dispatch: it prunes a layer to 3:8,
// prints which kernel dispatch.Compile chooses per N, and times the plan against plans
// forced to CSR and to sparsegen's own any-pattern N:M kernel, interleaved, in the same
// process; then the same for a layer of 3×4 blocks (sparsegen ships no 3×4 kernel: its
// bsr_any runs them as 4-row column steps) against CSR and bsr_any. It reports what it
// measures, whichever way it comes out.
//
//	go generate ./... && go run .
package main

import (
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/sparsegen/sparsegen/dispatch"
	"github.com/sparsegen/sparsegen/formats"
	"github.com/sparsegen/sparsegen/formats/prune"

	"example.com/usergen/mykern"
)

func main() {
	m := flag.Int("m", 768, "rows of W")
	k := flag.Int("k", 768, "columns of W")
	ns := flag.String("n", "1,8,32,64,128", "comma-separated N to time (3:8 layer)")
	bns := flag.String("bsr-n", "1,32", "comma-separated N to time (3×4-block layer)")
	budget := flag.Duration("budget", 300*time.Millisecond, "timing per plan and N")
	flag.Parse()
	fmt.Printf("kernels registered by package mykern: %d\n", len(mykern.SparsegenKernels()))

	rng := rand.New(rand.NewPCG(1, 2))
	d := make([]float32, *m**k)
	for i := range d {
		d[i] = float32(rng.NormFloat64())
	}
	dense, err := formats.NewDense(*m, *k, d)
	check(err)
	w, err := prune.NM(dense, 3, 8)
	check(err)

	isa := "avx2"
	if dispatch.Host().GOARCH == "arm64" {
		isa = "neon"
	} else if strings.Contains(dispatch.Host().Features.String(), "AVX512F") {
		isa = "avx512"
	}
	// The rivals: W as CSR, as N:M with sparsegen's own kernels only (nm_any), and each of
	// this module's 3:8 kernels that this CPU runs, forced by name.
	any := map[string]string{"avx512": "nm_any_r4_t64_avx512", "avx2": "nm_any_r4_t16_avx2", "neon": "nm_any_r4_t16_neon"}[isa]
	rivals := map[string]dispatch.Options{"csr": {Format: "csr"}, any: {Kernel: any}}
	for _, d := range mykern.SparsegenKernels() {
		if d.Keep == 3 && d.Group == 8 && d.MaxN != 1 && d.ISA.String() == isa {
			rivals[d.Name] = dispatch.Options{Kernel: d.Name}
		}
	}
	compare(rng, "3:8", w, rivals, *ns, *budget)

	// A layer of 3×4 blocks, about a third of them kept: this module's bsr3x4 kernel
	// against CSR and sparsegen's bsr_any (4-row steps over the 3-row blocks).
	bd := make([]float32, *m**k)
	for i := range bd {
		if bi, bj := i / *k / 3, i%*k/4; (7*bi+5*bj)%3 == 0 {
			bd[i] = float32(rng.NormFloat64())
		}
	}
	blocks, err := formats.NewDense(*m, *k, bd)
	check(err)
	anyBSR := "bsr_any_" + isa
	rivals = map[string]dispatch.Options{"csr": {Format: "csr"}, anyBSR: {Kernel: anyBSR, Format: "bsr3x4"}}
	for _, d := range mykern.SparsegenKernels() {
		if d.Format == "bsr" && d.ISA.String() == isa {
			rivals[d.Name] = dispatch.Options{Kernel: d.Name}
		}
	}
	compare(rng, "3×4 blocks", blocks, rivals, *bns, *budget)
	bakedDemo(*budget)
}

// compare compiles w by default and with each rival's options (one thread), prints the
// chosen plan, and times them all, interleaved, at each N of ns.
func compare(rng *rand.Rand, what string, w formats.Matrix, rivals map[string]dispatch.Options, ns string, budget time.Duration) {
	m, k := w.Shape()
	plan, err := dispatch.Compile(w, dispatch.Options{Threads: 1})
	check(err)
	fmt.Printf("\n=== %s layer\n%s", what, plan.Describe())
	names := []string{"chosen"}
	plans := []*dispatch.Plan{plan}
	for _, name := range slices.Sorted(maps.Keys(rivals)) {
		o := rivals[name]
		o.Threads = 1
		p, err := dispatch.Compile(w, o)
		check(err)
		names, plans = append(names, name), append(plans, p)
	}
	fmt.Printf("\nmedian µs per call, one thread, interleaved (chosen: what Compile picked)\n%-5s %-30s", "N", "chosen kernel")
	for _, n := range names {
		fmt.Printf(" %14s", strings.TrimPrefix(n, "mykern."))
	}
	fmt.Println()
	for _, f := range strings.Split(ns, ",") {
		var n int
		if _, err := fmt.Sscan(f, &n); err != nil || n < 1 {
			check(fmt.Errorf("-n: %q is not a positive N", f))
		}
		x := make([]float32, k*n)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		y := make([]float32, m*n)
		var fs []func()
		for _, p := range plans {
			fs = append(fs, func() { check(p.Mul(y, n, x, n, n)) })
		}
		t := timeInterleaved(budget, fs...)
		name, _ := plan.KernelFor(n)
		fmt.Printf("%-5d %-30s", n, name)
		for _, v := range t {
			fmt.Printf(" %14.1f", v)
		}
		fmt.Println()
	}
}

// timeInterleaved times fs in rounds (A B A B …) and returns each one's median in µs. A
// sample repeats its call enough times to take ~1 ms, so short calls are not lost in the
// clock's resolution.
func timeInterleaved(budget time.Duration, fs ...func()) []float64 {
	samples := make([][]float64, len(fs))
	reps := make([]int, len(fs))
	for i, f := range fs {
		f() // warm up, pack
		t0 := time.Now()
		f()
		reps[i] = max(1, int(time.Millisecond/max(time.Since(t0), time.Nanosecond)))
	}
	end := time.Now().Add(budget * time.Duration(len(fs)))
	for r := 0; r < 5 || time.Now().Before(end) && r < 200; r++ {
		for i, f := range fs {
			t0 := time.Now()
			for range reps[i] {
				f()
			}
			samples[i] = append(samples[i], float64(time.Since(t0).Nanoseconds())/1e3/float64(reps[i]))
		}
	}
	out := make([]float64, len(fs))
	for i, s := range samples {
		sort.Float64s(s)
		out[i] = s[len(s)/2]
	}
	return out
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "usergen:", err)
		os.Exit(1)
	}
}
