// Command usergen shows kernels generated into this module (package mykern, by
// `go generate ./...`) taking part in sparsegen's dispatch: it prunes a layer to 3:8,
// prints which kernel dispatch.Compile chooses per N, and times the plan against plans
// forced to CSR and to sparsegen's own any-pattern N:M kernel, interleaved, in the same
// process. It reports what it measures, whichever way it comes out.
//
//	go generate ./... && go run .
package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
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
	ns := flag.String("n", "1,8,32,64,128", "comma-separated N to time")
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

	opts := dispatch.Options{Threads: 1}
	plan, err := dispatch.Compile(w, opts)
	check(err)
	fmt.Print(plan.Describe())
	// The rivals: W as CSR, as N:M with sparsegen's own kernels only (nm_any), and each of
	// this module's 3:8 kernels that this CPU runs, forced by name.
	type rival struct {
		name string
		plan *dispatch.Plan
	}
	rivals := []rival{{"chosen", plan}}
	add := func(name string, o dispatch.Options) {
		o.Threads = 1
		p, err := dispatch.Compile(w, o)
		check(err)
		rivals = append(rivals, rival{name, p})
	}
	add("csr", dispatch.Options{Format: "csr"})
	isa := "avx2"
	if dispatch.Host().GOARCH == "arm64" {
		isa = "neon"
	} else if strings.Contains(dispatch.Host().Features.String(), "AVX512F") {
		isa = "avx512"
	}
	any := map[string]string{"avx512": "nm_any_r4_t64_avx512", "avx2": "nm_any_r4_t16_avx2", "neon": "nm_any_r4_t16_neon"}[isa]
	add(any, dispatch.Options{Kernel: any})
	for _, d := range mykern.SparsegenKernels() {
		if d.Keep == 3 && d.Group == 8 && d.MaxN != 1 && d.ISA.String() == isa {
			add(d.Name, dispatch.Options{Kernel: d.Name})
		}
	}

	fmt.Printf("\nmedian µs per call, one thread, interleaved (chosen: what Compile picked)\n%-5s %-30s", "N", "chosen kernel")
	for _, r := range rivals {
		fmt.Printf(" %14s", strings.TrimPrefix(r.name, "mykern."))
	}
	fmt.Println()
	for _, f := range strings.Split(*ns, ",") {
		var n int
		if _, err := fmt.Sscan(f, &n); err != nil || n < 1 {
			check(fmt.Errorf("-n: %q is not a positive N", f))
		}
		x := make([]float32, *k*n)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		y := make([]float32, *m*n)
		var fs []func()
		for _, r := range rivals {
			fs = append(fs, func() { check(r.plan.Mul(y, n, x, n, n)) })
		}
		t := timeInterleaved(*budget, fs...)
		name, _ := plan.KernelFor(n)
		fmt.Printf("%-5d %-30s", n, name)
		for _, v := range t {
			fmt.Printf(" %14.1f", v)
		}
		fmt.Println()
	}
	bakedDemo(*budget)
}

// timeInterleaved times fs in rounds (A B A B …) and returns each one's median in µs. A
// sample repeats its call enough times to take ~200 µs, so short calls are not lost in the
// clock's resolution.
func timeInterleaved(budget time.Duration, fs ...func()) []float64 {
	samples := make([][]float64, len(fs))
	reps := make([]int, len(fs))
	for i, f := range fs {
		f() // warm up, pack
		t0 := time.Now()
		f()
		reps[i] = max(1, int(200*time.Microsecond/max(time.Since(t0), time.Nanosecond)))
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
