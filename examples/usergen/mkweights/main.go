// Command mkweights writes the example's weights: for each NAME:MxK, a random M×K layer
// pruned by magnitude to -sparsity, as a scipy CSR .npz (NAME.npz in -out). It stands in
// for a real checkpoint; `go generate` runs it before baking (mykern/gen.go). Seeded: the
// same flags write the same files.
//
//	go run ./mkweights -out mykern/testdata -sparsity 0.9 fc:256x64
package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"github.com/sparsegen/sparsegen/formats"
	"github.com/sparsegen/sparsegen/formats/fileio"
	"github.com/sparsegen/sparsegen/formats/prune"
)

func main() {
	out := flag.String("out", ".", "folder to write NAME.npz into (created if missing)")
	sparsity := flag.Float64("sparsity", 0.9, "fraction of weights pruned")
	flag.Parse()
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fail(err)
	}
	for i, arg := range flag.Args() {
		name, shape, _ := strings.Cut(arg, ":")
		var m, k int
		if _, err := fmt.Sscanf(shape, "%dx%d", &m, &k); err != nil || name == "" || m < 1 || k < 1 {
			fail(fmt.Errorf("%q is not NAME:MxK", arg))
		}
		rng := rand.New(rand.NewPCG(uint64(i+1), uint64(m*k)))
		d := make([]float32, m*k)
		for j := range d {
			d[j] = float32(rng.NormFloat64())
		}
		dense, err := formats.NewDense(m, k, d)
		if err != nil {
			fail(err)
		}
		pruned, err := prune.Magnitude(dense, *sparsity)
		if err != nil {
			fail(err)
		}
		w, err := formats.CSRFromDense(pruned)
		if err != nil {
			fail(err)
		}
		if err := fileio.SaveMatrix(filepath.Join(*out, name+".npz"), w); err != nil {
			fail(err)
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "mkweights:", err)
	os.Exit(1)
}
