package dispatch_test

import (
	"fmt"
	"log"
	"os"

	"github.com/sparsegen/sparsegen/dispatch"
	"github.com/sparsegen/sparsegen/formats"
	"github.com/sparsegen/sparsegen/ref"
)

// Example compiles a small pruned weight matrix and runs it channel-major and token-major.
// README.md's "From Go" section shows this file from its imports on, and
// TestReadmeGoExample fails when the two differ.
func Example() {
	// W (M×K = 4×6) in CSR: row pointers, column indices, values, as scipy.sparse holds it.
	// From a file instead: w, _, err := fileio.LoadMatrix("pruned/layer0.weight.npz", "")
	// reads CSR, BSR, N:M or dense from .npy, .npz (scipy.sparse.save_npz) or safetensors.
	const m, k, n = 4, 6, 2
	w, err := formats.NewCSR(m, k,
		[]int64{0, 2, 4, 4, 6},
		[]int32{0, 3, 2, 5, 0, 4},
		[]float32{2, 1, -1, 3, 1, -2})
	if err != nil {
		log.Fatal(err)
	}
	plan, err := dispatch.Compile(w, dispatch.Options{
		Bias: []float32{1, 0, 0.5, -1}, // Y = ReLU(W·X + bias), fused into the kernel
		Act:  ref.ActReLU,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer plan.Close()

	// Channel-major: X is K×N, Y is M×N, both row-major (leading dimension N).
	x := []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	y := make([]float32, m*n)
	if err := plan.Mul(y, n, x, n, n); err != nil {
		log.Fatal(err)
	}
	// Token-major: X is N×K (a token per row), Y is N×M (leading dimensions K and M).
	xTok := []float32{1, 3, 5, 7, 9, 11, 2, 4, 6, 8, 10, 12} // the same X, transposed
	yTok := make([]float32, n*m)
	if err := plan.MulTokens(yTok, m, xTok, k, n); err != nil {
		log.Fatal(err)
	}
	for i := range m {
		fmt.Println("Y row", i, y[i*n:(i+1)*n])
	}
	for j := range n {
		fmt.Println("token", j, yTok[j*m:(j+1)*m])
	}

	// Describe says how W measured, which kernel runs for which N, and why. That depends on
	// this machine's CPU and kernels, so this example writes it to stderr, outside its Output.
	fmt.Fprint(os.Stderr, plan.Describe())
	// Output:
	// Y row 0 [10 13]
	// Y row 1 [28 30]
	// Y row 2 [0.5 0.5]
	// Y row 3 [0 0]
	// token 0 [10 28 0.5 0]
	// token 1 [13 30 0.5 0]
}
