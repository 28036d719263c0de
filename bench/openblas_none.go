//go:build !openblas || !cgo

package bench

// Without the openblas build tag (or without cgo) there is no OpenBLAS: HaveOpenBLAS is
// false and the wrappers panic; benchmarks skip their OpenBLAS rows.

// HaveOpenBLAS is true when the binary was built with the openblas tag.
const HaveOpenBLAS = false

// OpenBLASSetThreads is unavailable without the openblas tag.
func OpenBLASSetThreads(int) { panic("bench: built without the openblas tag") }

// OpenBLASCoreName is unavailable without the openblas tag.
func OpenBLASCoreName() string { return "" }

// OpenBLASSgemm is unavailable without the openblas tag.
func OpenBLASSgemm(m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	panic("bench: built without the openblas tag")
}

// OpenBLASSgemv is unavailable without the openblas tag.
func OpenBLASSgemv(m, k int, a []float32, lda int, x, y []float32) {
	panic("bench: built without the openblas tag")
}
