//go:build !libxsmm || !cgo

package bench

// Without the libxsmm build tag (or without cgo) there is no LIBXSMM: HaveLIBXSMM is false
// and the wrappers fail; the benchmark runs without its LIBXSMM columns.

import "errors"

// HaveLIBXSMM is true when the binary was built with the libxsmm tag.
const HaveLIBXSMM = false

// LIBXSMMTarget is unavailable without the libxsmm tag.
func LIBXSMMTarget() string { return "" }

// LIBXSMMSgemm is unavailable without the libxsmm tag.
func LIBXSMMSgemm(threads, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) error {
	return errors.New("bench: built without the libxsmm tag")
}
