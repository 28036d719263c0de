//go:build openblas && cgo

package bench

// OpenBLAS through cgo, for comparisons in the same run (build tag "openblas"; Debian's
// libopenblas-dev). Set the thread count with OpenBLASSetThreads before timing. The
// environment may carry OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE, which slow it down: unset both
// on the benchmark's command line and check OpenBLASCoreName.

/*
#cgo LDFLAGS: -lopenblas
#include <cblas.h>
*/
import "C"

import "unsafe"

// HaveOpenBLAS is true when the binary was built with the openblas tag.
const HaveOpenBLAS = true

// OpenBLASSetThreads sets OpenBLAS's thread count.
func OpenBLASSetThreads(n int) { C.openblas_set_num_threads(C.int(n)) }

// OpenBLASCoreName is the core OpenBLAS detected (or was told), e.g. "Zen" or "SkylakeX".
func OpenBLASCoreName() string { return C.GoString(C.openblas_get_corename()) }

// OpenBLASSgemm computes C = A·B in row-major: A is m×k (lda), B is k×n (ldb), C is m×n (ldc),
// α = 1, β = 0. The caller checks the slice lengths (this is a benchmark helper).
func OpenBLASSgemm(m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	C.cblas_sgemm(C.CblasRowMajor, C.CblasNoTrans, C.CblasNoTrans, C.blasint(m), C.blasint(n), C.blasint(k),
		1, (*C.float)(unsafe.Pointer(&a[0])), C.blasint(lda),
		(*C.float)(unsafe.Pointer(&b[0])), C.blasint(ldb),
		0, (*C.float)(unsafe.Pointer(&c[0])), C.blasint(ldc))
}

// OpenBLASSgemv computes y = A·x for a row-major m×k A (lda).
func OpenBLASSgemv(m, k int, a []float32, lda int, x, y []float32) {
	C.cblas_sgemv(C.CblasRowMajor, C.CblasNoTrans, C.blasint(m), C.blasint(k),
		1, (*C.float)(unsafe.Pointer(&a[0])), C.blasint(lda),
		(*C.float)(unsafe.Pointer(&x[0])), 1, 0, (*C.float)(unsafe.Pointer(&y[0])), 1)
}
