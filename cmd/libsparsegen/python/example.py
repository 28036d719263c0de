#!/usr/bin/python3
"""example.py: sparsegen from Python, checked against numpy's dense product.

Random sparse weights in every input form (numpy dense, CSR arrays with int32 and int64
indices, scipy.sparse CSR/CSC/COO/BSR when scipy is installed, N:M slots) are compiled into
plans and run channel-major and token-major, with bias and an activation; every result is
compared with numpy. Exit status 0 when all agree. Run it with a python that has sparsegen
installed (see cmd/libsparsegen/README.md):

    .venv/bin/python cmd/libsparsegen/python/example.py
"""

import sys

import numpy as np

import sparsegen

try:
    import scipy.sparse as sp
except ImportError:  # scipy is optional
    sp = None

rng = np.random.default_rng(7)
failures = 0


def random_sparse(m, k, density):
    w = rng.standard_normal((m, k)).astype(np.float32)
    w[rng.random((m, k)) >= density] = 0
    return w


def reference(w, x, bias, act, tokens):
    """numpy's product in float64, with the epilogue."""
    w64, x64 = w.astype(np.float64), x.astype(np.float64)
    y = x64 @ w64.T if tokens else w64 @ x64
    if bias is not None:
        y = y + (bias[None, :] if tokens else bias[:, None])
    if act == "relu":
        y = np.maximum(y, 0)
    mag = np.abs(x64) @ np.abs(w64).T if tokens else np.abs(w64) @ np.abs(x64)
    if bias is not None:
        mag = mag + np.abs(bias)[None, :] if tokens else mag + np.abs(bias)[:, None]
    return y, mag


def check(name, plan, w, bias=None, act="none", n=13):
    global failures
    m, k = w.shape
    for tokens in (False, True):
        x = rng.standard_normal((n, k) if tokens else (k, n)).astype(np.float32)
        y = plan.mul_tokens(x) if tokens else plan.mul(x)
        want, mag = reference(w, x, bias, act, tokens)
        tol = 2 * (k + 2) * np.finfo(np.float32).eps * mag + 1e-30
        err = np.abs(y - want)
        layout = "token-major" if tokens else "channel-major"
        if y.shape != want.shape or not np.all(err <= tol):
            failures += 1
            print("FAIL %-34s %s: max error %.3g (tolerance %.3g)" % (name, layout, err.max(), tol.max()))
        else:
            print("ok   %-34s %-13s %dx%d, N=%d, max error %.2g" % (name, layout, m, k, n, err.max()))


def csr_arrays(w, index_dtype):
    rows, cols = np.nonzero(w)
    indptr = np.zeros(w.shape[0] + 1, dtype=index_dtype)
    np.cumsum(np.bincount(rows, minlength=w.shape[0]), out=indptr[1:])
    return indptr, cols.astype(index_dtype), w[rows, cols].astype(np.float32)


def nm_arrays(w, keep, group):
    """Keeps the `keep` largest |w| of each group of `group` along K; returns (val, pos, w')."""
    m, k = w.shape
    spr = sparsegen.Plan.slots_per_row(k, keep, group)
    val = np.zeros((m, spr), np.float32)
    pos = np.zeros((m, spr), np.uint8)
    pruned = np.zeros_like(w)
    for i in range(m):
        s = 0
        for g0 in range(0, k, group):
            seg = w[i, g0:g0 + group]
            slots = min(keep, len(seg))
            pick = np.sort(np.argsort(-np.abs(seg), kind="stable")[:slots])
            val[i, s:s + slots] = seg[pick]
            pos[i, s:s + slots] = pick
            pruned[i, g0 + pick] = seg[pick]
            s += slots
    return val, pos, pruned


def main():
    print("sparsegen:", sparsegen.__file__)
    print("library:", sparsegen.load_library()._name)
    m, k = 70, 90
    w = random_sparse(m, k, 0.2)
    bias = rng.standard_normal(m).astype(np.float32)

    with sparsegen.Plan.from_dense(w, bias=bias, activation="relu") as p:
        check("dense", p, w, bias, "relu")
        check("dense, N=1", p, w, bias, "relu", n=1)
        print(p.describe())

    for dt in (np.int32, np.int64):
        indptr, indices, data = csr_arrays(w, dt)
        with sparsegen.Plan.from_csr(indptr, indices, data, w.shape, bias=bias, activation="relu") as p:
            check("csr arrays, %s indices" % np.dtype(dt), p, w, bias, "relu")

    val, pos, pruned = nm_arrays(w, 2, 4)
    with sparsegen.Plan.from_nm(val, pos, w.shape, 2, 4) as p:
        check("nm 2:4 slots", p, pruned)

    # A forced format: dense weights packed as CSR.
    with sparsegen.Plan.from_dense(w, format="csr", threads=2) as p:
        check("dense input, format=csr, 2 threads", p, w, n=40)

    if sp is None:
        print("scipy not installed: scipy.sparse inputs skipped")
    else:
        a = sp.random(m, k, density=0.1, format="csr", dtype=np.float32, random_state=3)
        for fmt in ("csr", "csc", "coo"):
            with sparsegen.Plan.from_scipy(a.asformat(fmt), bias=bias) as p:
                check("scipy %s" % fmt, p, a.toarray(), bias)
        # scipy BSR with 2×5 blocks (70 and 90 are multiples), int64 indices.
        b = sp.bsr_matrix(a.toarray(), blocksize=(2, 5))
        b.indices, b.indptr = b.indices.astype(np.int64), b.indptr.astype(np.int64)
        with sparsegen.Plan.from_scipy(b, activation="relu") as p:
            check("scipy bsr 2x5, int64 indices", p, b.toarray(), None, "relu")
        # Unsorted indices and duplicates, as scipy allows them: summed like scipy does.
        c = sp.csr_matrix((np.array([1, 2, 4], np.float32), np.array([3, 1, 3]), np.array([0, 3, 3])), shape=(2, 4))
        with sparsegen.Plan.from_scipy(c) as p:
            check("scipy csr, unsorted + duplicate", p, c.toarray())
            d = p.describe()
            assert "duplicate" in d and "sorted" in d, d

    if sparsegen.live_plans() != 0:
        print("FAIL %d plans leaked" % sparsegen.live_plans())
        return 1
    if failures:
        print("example.py: %d check(s) failed" % failures)
        return 1
    print("example.py: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
