# quickstart.py: a small pruned weight matrix from scipy.sparse, run channel-major and
# token-major on numpy arrays. README.md and cmd/libsparsegen/README.md show this file;
# .ci/cabi.sh runs it with the installed package and compares what it prints with the
# Output comment at the end.
import numpy as np
import scipy.sparse as sp

import sparsegen

# W (M×K = 4×6) as a scipy.sparse matrix with float32 values: CSR and BSR are used as they
# are, other formats go through CSR; a dense numpy W goes to Plan.from_dense. Nothing is
# converted silently: pass float32 (w.astype(np.float32)).
w = sp.csr_matrix(
    (np.array([2, 1, -1, 3, 1, -2], np.float32), [0, 3, 2, 5, 0, 4], [0, 2, 4, 4, 6]),
    shape=(4, 6),
)
bias = np.array([1, 0, 0.5, -1], np.float32)

with sparsegen.Plan.from_scipy(w, bias=bias, activation="relu") as plan:
    # Channel-major: x is K×N, y = relu(W @ x + bias) is M×N (a new float32 array).
    x = np.arange(1, 13, dtype=np.float32).reshape(6, 2)
    y = plan.mul(x)
    # Token-major: x is N×K (a token per row, C-contiguous), y is N×M.
    y_tok = plan.mul_tokens(np.ascontiguousarray(x.T))
    print(y.tolist())
    print(y_tok.tolist())
    print(np.array_equal(y, np.maximum(w @ x + bias[:, None], 0)), np.array_equal(y_tok, y.T))
    # Which kernel runs for which N, and why. The first line says what the plan was made
    # from; the rest names this machine's CPU and kernels, so only that line is printed.
    print(plan.describe().splitlines()[0])

# Output:
# [[10.0, 13.0], [28.0, 30.0], [0.5, 0.5], [0.0, 0.0]]
# [[10.0, 28.0, 0.5, 0.0], [13.0, 30.0, 0.5, 0.0]]
# True True
# input: csr 4×6, 6 stored entries (int32 indptr, int32 indices; copied)
