//go:build libxsmm && cgo

package bench

// LIBXSMM's dense JIT through cgo, for comparisons in the same run (build tag "libxsmm";
// Debian's libxsmm-dev, static libraries). LIBXSMM's own libxsmm_sgemm hands any GEMM above
// its small-matrix threshold (64³) to the system BLAS, which would time OpenBLAS again, so
// this calls JIT kernels directly: one kernel per panel of W's rows, each over the whole K.
//
// LIBXSMM is column-major. Our row-major Y (M×N) = W (M×K) · X (K×N) is, read as
// column-major, Yᵀ (N×M, ld = ldy) = Xᵀ (N×K, ld = ldx) · Wᵀ (K×M, ld = ldw): LIBXSMM's
// m, n, k are our N, M, K, its A is X, its B is W. A panel of rows j…j+nb of W is the
// column-major B block starting at W + j·ldw, and writes Y from Y + j·ldy.

/*
#cgo LDFLAGS: -lxsmm -lxsmmnoblas -lpthread -lrt -ldl -lm
#include <libxsmm.h>

// sg_xsmm_rows computes rows [r0, r1) of the row-major y = w·x (w is m×k, x is k×n) with
// panels of at most nb rows. It returns 0, or -1 when LIBXSMM gives no kernel for a panel.
static int sg_xsmm_rows(int r0, int r1, int n, int k, int nb,
		const float* w, int ldw, const float* x, int ldx, float* y, int ldy) {
	const float alpha = 1, beta = 0;
	const int flags = LIBXSMM_GEMM_FLAG_NONE, prefetch = LIBXSMM_GEMM_PREFETCH_NONE;
	const libxsmm_blasint lda = ldx, ldb = ldw, ldc = ldy;
	libxsmm_smmfunction full = 0;
	if (r1 - r0 >= nb) {
		full = libxsmm_smmdispatch(n, nb, k, &lda, &ldb, &ldc, &alpha, &beta, &flags, &prefetch);
		if (!full) return -1;
	}
	int j = r0;
	for (; j + nb <= r1; j += nb) {
		full(x, w + (size_t)j * ldw, y + (size_t)j * ldy);
	}
	if (j < r1) {
		libxsmm_smmfunction rest = libxsmm_smmdispatch(n, r1 - j, k, &lda, &ldb, &ldc, &alpha, &beta, &flags, &prefetch);
		if (!rest) return -1;
		rest(x, w + (size_t)j * ldw, y + (size_t)j * ldy);
	}
	return 0;
}
*/
import "C"

import (
	"errors"
	"sync"
	"unsafe"
)

// HaveLIBXSMM is true when the binary was built with the libxsmm tag.
const HaveLIBXSMM = true

// libxsmmPanel is the rows of W (LIBXSMM's n) one JIT kernel covers at our N. Measured on
// the Zen 5 here, one thread: at 11008×4096 with N = 16 panels of 8 rows ran 11–13 ms, of 16
// 14–21 ms, of 64 26 ms; at 3072×768×128 panels of 12 to 128 rows were within 15% (16: 3.3 ms)
// and 8 ran 4.4 ms.
func libxsmmPanel(n int) int {
	if n <= 32 {
		return 8
	}
	return 16
}

// LIBXSMMTarget is the code path LIBXSMM's JIT generates for, e.g. "cpx" or "hsw".
func LIBXSMMTarget() string {
	C.libxsmm_init()
	return C.GoString(C.libxsmm_get_target_arch())
}

// LIBXSMMSgemm computes C = A·B in row-major with LIBXSMM's JIT kernels: A is m×k (lda), B is
// k×n (ldb), C is m×n (ldc); α = 1, β = 0. threads > 1 splits A's rows among that many
// goroutines. It fails where LIBXSMM generates no kernel (no JIT for this CPU). The caller
// checks the slice lengths (this is a benchmark helper).
func LIBXSMMSgemm(threads, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) error {
	nb := libxsmmPanel(n)
	pa := (*C.float)(unsafe.Pointer(&a[0]))
	pb := (*C.float)(unsafe.Pointer(&b[0]))
	pc := (*C.float)(unsafe.Pointer(&c[0]))
	rows := func(r0, r1 int) C.int {
		return C.sg_xsmm_rows(C.int(r0), C.int(r1), C.int(n), C.int(k), C.int(nb), pa, C.int(lda), pb, C.int(ldb), pc, C.int(ldc))
	}
	panels := (m + nb - 1) / nb
	threads = min(max(threads, 1), panels)
	if threads == 1 {
		if rows(0, m) != 0 {
			return errLIBXSMMNoKernel
		}
		return nil
	}
	var wg sync.WaitGroup
	var failed sync.Once
	var err error
	for t := range threads {
		r0, r1 := panels*t/threads*nb, min(panels*(t+1)/threads*nb, m)
		wg.Go(func() {
			if rows(r0, r1) != 0 {
				failed.Do(func() { err = errLIBXSMMNoKernel })
			}
		})
	}
	wg.Wait()
	return err
}

var errLIBXSMMNoKernel = errors.New("bench: LIBXSMM generated no kernel (no JIT for this CPU or shape)")
