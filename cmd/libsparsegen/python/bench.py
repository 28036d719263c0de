#!/usr/bin/python3
"""bench.py: per-call cost of sparsegen from Python on a tiny plan (1×1 and 8×8, N = 1).

Four levels: the raw ctypes call with pointers prepared once (the floor a Python caller
pays), Plan.mul with an out= array (every check of the wrapper included, and numpy's
.ctypes.data lookups, which dominate), Plan.mul allocating its result, and a Plan.bind
runner (checks done once, one ctypes call per run). Subtract the Go-side time of the same Plan.Mul
(go test -bench PlanMulTiny ./cmd/libsparsegen) to get the ABI's share.

    .venv/bin/python cmd/libsparsegen/python/bench.py     # a python with sparsegen installed
"""

import statistics
import sys
import time

import numpy as np

import sparsegen


def timeit(label, fn, calls, reps=7):
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter_ns()
        for _ in range(calls):
            fn()
        ts.append((time.perf_counter_ns() - t0) / calls)
    print("%-42s median %8.1f ns/call  (min %.1f, %d reps x %d calls)" % (label, statistics.median(ts), min(ts), reps, calls))


def main():
    calls = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
    lib = sparsegen.load_library()
    for m, k in ((1, 1), (8, 8)):
        w = (np.arange(m * k) % 3).astype(np.float32).reshape(m, k)
        with sparsegen.Plan.from_dense(w, threads=1) as p:
            x, y = np.ones((k, 1), np.float32), np.zeros((m, 1), np.float32)
            h, xp, yp = p._h, x.ctypes.data, y.ctypes.data
            f = lib.sg_mul
            timeit("%dx%d raw ctypes sg_mul" % (m, k), lambda: f(h, yp, 1, xp, 1, 1), calls)
            timeit("%dx%d Plan.mul(x, out=y)" % (m, k), lambda: p.mul(x, out=y), calls)
            timeit("%dx%d Plan.mul(x)" % (m, k), lambda: p.mul(x), calls)
            timeit("%dx%d Plan.bind(x, y)() (checked once)" % (m, k), p.bind(x, y), calls)
    a = np.ones((8, 8), np.float32)
    b = np.ones((8, 1), np.float32)
    timeit("numpy 8x8 @ 8x1 (for scale)", lambda: a @ b, calls)
    timeit("sg_live_plans (empty ctypes->Go call)", lib.sg_live_plans, calls)


if __name__ == "__main__":
    main()
