#!/usr/bin/python3
"""Tests of the Python bindings: bad input raises a clear Python exception (never a crash),
the epilogue options work, plans free cleanly, and threads share a plan.

    .venv/bin/python -m unittest discover -v -s cmd/libsparsegen/python/tests

with a python that has sparsegen installed (see cmd/libsparsegen/README.md), or against the
source: PYTHONPATH=cmd/libsparsegen/python/src SPARSEGEN_LIB=$PWD/libsparsegen.so.
"""

import ctypes
import gc
import math
import threading
import unittest

import numpy as np

import sparsegen
from sparsegen import Plan, SparsegenError

rng = np.random.default_rng(11)


def rand(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def sparse(m, k, density=0.3):
    w = rand(m, k)
    w[rng.random((m, k)) >= density] = 0
    return w


def close(y, want, k):
    return np.allclose(y, want, rtol=4 * (k + 2) * 1.2e-7, atol=1e-5)


class BadInput(unittest.TestCase):
    def setUp(self):
        self.w = sparse(6, 5)
        self.p = Plan.from_dense(self.w)

    def tearDown(self):
        self.p.close()

    def test_wrong_dtype(self):
        with self.assertRaisesRegex(TypeError, r"x must have dtype float32, got float64 .*astype"):
            self.p.mul(np.ones((5, 3)))
        with self.assertRaisesRegex(TypeError, "out must have dtype float32, got int32"):
            self.p.mul(rand(5, 3), out=np.zeros((6, 3), np.int32))
        with self.assertRaisesRegex(TypeError, "w must have dtype float32, got float64"):
            Plan.from_dense(np.ones((2, 2)))
        with self.assertRaisesRegex(TypeError, "bias must have dtype float32"):
            Plan.from_dense(self.w, bias=np.ones(6))
        with self.assertRaisesRegex(TypeError, "indices must have dtype int32 or int64.*int16"):
            Plan.from_csr(np.array([0, 1], np.int32), np.array([0], np.int16), np.ones(1, np.float32), (1, 2))
        with self.assertRaisesRegex(TypeError, "indptr must have dtype int32 or int64.*float64"):
            Plan.from_csr(np.array([0.0, 1.0]), np.array([0], np.int32), np.ones(1, np.float32), (1, 2))
        with self.assertRaisesRegex(TypeError, "pos must have dtype uint8"):
            Plan.from_nm(np.ones((1, 2), np.float32), np.zeros((1, 2), np.int32), (1, 4), 2, 4)
        with self.assertRaisesRegex(TypeError, "x must be a numpy.ndarray, got list"):
            self.p.mul([[1.0] * 3] * 5)

    def test_wrong_shape(self):
        with self.assertRaisesRegex(ValueError, r"x has shape \(4, 3\), want \(5, any\)"):
            self.p.mul(rand(4, 3))
        with self.assertRaisesRegex(ValueError, r"x has shape \(3, 4\), want \(any, 5\)"):
            self.p.mul_tokens(rand(3, 4))
        with self.assertRaisesRegex(ValueError, r"out has shape \(6, 2\), want \(6, 3\)"):
            self.p.mul(rand(5, 3), out=np.zeros((6, 2), np.float32))
        with self.assertRaisesRegex(ValueError, "x must be 2-D"):
            self.p.mul(rand(5, 3, 1))
        with self.assertRaisesRegex(ValueError, "x has shape"):
            self.p.mul(rand(4))  # a vector of the wrong length
        with self.assertRaisesRegex(ValueError, "bias has 5 values, want M = 6"):
            Plan.from_dense(self.w, bias=rand(5))
        with self.assertRaisesRegex(ValueError, "indptr has 2 entries, want M\\+1 = 3"):
            Plan.from_csr(np.array([0, 1], np.int32), np.array([0], np.int32), np.ones(1, np.float32), (2, 2))
        with self.assertRaisesRegex(ValueError, "indices has 2 entries but data has 1"):
            Plan.from_csr(np.array([0, 1], np.int32), np.array([0, 1], np.int32), np.ones(1, np.float32), (1, 2))
        with self.assertRaisesRegex(ValueError, r"val and pos must have shape \(M, slots per row\) = \(1, 2\)"):
            Plan.from_nm(np.ones((1, 3), np.float32), np.zeros((1, 3), np.uint8), (1, 4), 2, 4)

    def test_non_contiguous(self):
        x = rand(5, 6)
        with self.assertRaisesRegex(ValueError, "not contiguous along its last axis.*ascontiguousarray"):
            self.p.mul(x[:, ::2])
        with self.assertRaisesRegex(ValueError, "not contiguous along its last axis"):
            self.p.mul(np.asfortranarray(x))
        with self.assertRaisesRegex(ValueError, "not contiguous along its last axis"):
            self.p.mul_tokens(rand(5, 3).T)
        with self.assertRaisesRegex(ValueError, "not contiguous"):
            self.p.mul(x, out=np.zeros((6, 12), np.float32)[:, ::2])
        with self.assertRaisesRegex(ValueError, "row stride"):
            self.p.mul(x[::-1])
        with self.assertRaisesRegex(ValueError, "indices must be contiguous"):
            Plan.from_csr(np.array([0, 2], np.int32), np.array([0, 9, 1], np.int32)[::2], np.ones(2, np.float32), (1, 2))
        with self.assertRaisesRegex(ValueError, "out must be C-contiguous"):
            self.p.mul(rand(5), out=np.zeros(12, np.float32)[::2])

    def test_set_threads(self):
        x = rand(5, 3)
        want = self.p.mul(x)
        for n in (1, 2, 0):
            self.p.set_threads(n)
            self.assertTrue(np.array_equal(self.p.mul(x), want), "threads=%d changed the result" % n)
        with self.assertRaises(Exception):
            self.p.set_threads(-1)

    def test_padded_rows_are_fine(self):
        # Rows padded (row stride > row length) but contiguous within a row: no copy needed.
        big = rand(5, 9)
        x = big[:, :4]
        out_big = np.full((6, 7), 7, np.float32)
        y = self.p.mul(x, out=out_big[:, 1:5])
        self.assertTrue(close(y, self.w.astype(np.float64) @ x, 5))
        self.assertTrue(np.all(out_big[:, 0] == 7) and np.all(out_big[:, 5:] == 7), "wrote outside out")
        v = rand(10)[::2]  # a strided vector is a K×1 column with ldx = 2
        self.assertTrue(close(self.p.mul(v), self.w.astype(np.float64) @ v, 5))

    def test_overlap_and_readonly(self):
        buf = np.zeros((6, 6), np.float32)
        with self.assertRaisesRegex(ValueError, "overlap"):
            self.p.mul(buf[:5, :3], out=buf[:, 3:])
        ro = np.zeros((6, 3), np.float32)
        ro.flags.writeable = False
        with self.assertRaisesRegex(ValueError, "read-only"):
            self.p.mul(rand(5, 3), out=ro)

    def test_closed_plan(self):
        p = Plan.from_dense(self.w)
        h = p._h
        p.close()
        p.close()  # twice is fine
        self.assertTrue(p.closed)
        with self.assertRaisesRegex(ValueError, "plan is closed"):
            p.mul(rand(5, 2))
        with self.assertRaisesRegex(ValueError, "plan is closed"):
            p.describe()
        # The stale handle straight into the C ABI: SG_ERR_HANDLE, not a crash.
        lib = sparsegen.load_library()
        y, x = np.zeros((6, 1), np.float32), rand(5, 1)
        code = lib.sg_mul(h, y.ctypes.data, 1, x.ctypes.data, 1, 1)
        self.assertEqual(sparsegen.STATUS[code], "SG_ERR_HANDLE")
        self.assertIn("not a live plan", lib.sg_last_error().decode())
        self.assertEqual(sparsegen.STATUS[lib.sg_plan_free(h)], "SG_ERR_HANDLE")
        self.assertEqual(sparsegen.STATUS[lib.sg_mul(0, None, 1, None, 1, 1)], "SG_ERR_HANDLE")

    def test_library_errors(self):
        with self.assertRaises(SparsegenError) as cm:
            Plan.from_csr(np.array([0, 1], np.int64), np.array([7], np.int64), np.ones(1, np.float32), (1, 3))
        self.assertEqual(cm.exception.status, "SG_ERR_MATRIX")
        self.assertIn("indices[0] = 7 outside [0, K = 3)", str(cm.exception))
        with self.assertRaises(SparsegenError) as cm:
            Plan.from_csr(np.array([0, 2, 1], np.int32), np.array([0, 1], np.int32), np.ones(2, np.float32), (2, 3))
        self.assertEqual(cm.exception.status, "SG_ERR_MATRIX")
        with self.assertRaises(SparsegenError) as cm:
            Plan.from_dense(self.w, isa="sse9")
        self.assertEqual(cm.exception.status, "SG_ERR_ARGUMENT")
        with self.assertRaises(SparsegenError) as cm:
            Plan.from_dense(self.w, record="/nonexistent/record.json")
        self.assertEqual(cm.exception.status, "SG_ERR_RECORD")
        with self.assertRaises(SparsegenError) as cm:
            Plan.from_dense(self.w, activation="clamp", lo=1, hi=0)
        self.assertEqual(cm.exception.status, "SG_ERR_ARGUMENT")
        with self.assertRaises(SparsegenError) as cm:
            Plan.from_dense(self.w, format="bsr99x1")
        self.assertIn("bsr99x1", str(cm.exception))
        with self.assertRaisesRegex(ValueError, "activation 'tanh'"):
            Plan.from_dense(self.w, activation="tanh")
        with self.assertRaises(SparsegenError) as cm:  # positions must increase within a group
            Plan.from_nm(np.ones((1, 2), np.float32), np.array([[3, 1]], np.uint8), (1, 4), 2, 4)
        self.assertEqual(cm.exception.status, "SG_ERR_MATRIX")
        with self.assertRaises(SparsegenError) as cm:  # nonzero BSR padding past M
            Plan.from_bsr(np.array([0, 1], np.int32), np.array([0], np.int32), np.ones((1, 2, 2), np.float32), (1, 2))
        self.assertEqual(cm.exception.status, "SG_ERR_MATRIX")
        self.assertIn("must be zero", str(cm.exception))


class Semantics(unittest.TestCase):
    def test_activations(self):
        w, x, b = sparse(9, 7), rand(7, 4), rand(9)
        acc = w.astype(np.float64) @ x + b[:, None]
        erf = np.vectorize(math.erf)
        cases = {
            "none": acc,
            "relu": np.maximum(acc, 0),
            "clamp": np.clip(acc, -0.5, 0.25),
            "gelu": 0.5 * acc * (1 + erf(acc / math.sqrt(2))),
            "silu": acc / (1 + np.exp(-acc)),
        }
        for act, want in cases.items():
            with Plan.from_dense(w, bias=b, activation=act, lo=-0.5, hi=0.25) as p:
                self.assertTrue(close(p.mul(x), want, 7), act)
                self.assertTrue(close(p.mul_tokens(np.ascontiguousarray(x.T)), want.T, 7), act)

    def test_mul_batch(self):
        w, b = sparse(7, 6), rand(7)
        with Plan.from_dense(w, bias=b) as p:
            x = rand(3, 6, 5)
            want = np.einsum("mk,bkn->bmn", w.astype(np.float64), x) + b[None, :, None]
            self.assertTrue(close(p.mul_batch(x), want, 6))
            big = rand(3, 6, 9)  # padded rows and items
            want2 = np.einsum("mk,bkn->bmn", w.astype(np.float64), big[:, :, 2:7]) + b[None, :, None]
            self.assertTrue(close(p.mul_batch(big[:, :, 2:7]), want2, 6))
            with self.assertRaisesRegex(ValueError, "3-D"):
                p.mul_batch(rand(6, 5))
            with self.assertRaisesRegex(ValueError, r"want \(any, 6, any\)"):
                p.mul_batch(rand(3, 5, 5))
            with self.assertRaisesRegex(ValueError, "not contiguous along its last axis"):
                p.mul_batch(big[:, :, ::2])

    def test_accumulate(self):
        w, x = sparse(4, 3), rand(3, 5)
        with Plan.from_dense(w, accumulate=True) as p:
            with self.assertRaisesRegex(ValueError, "accumulate=True reads Y: pass out="):
                p.mul(x)
            y = np.ones((4, 5), np.float32)
            p.mul(x, out=y)
            self.assertTrue(close(y, w.astype(np.float64) @ x + 1, 3))

    def test_shapes_and_empty(self):
        w = sparse(3, 4)
        with Plan.from_dense(w) as p:
            self.assertEqual(p.shape, (3, 4))
            self.assertEqual(p.mul(rand(4, 0)).shape, (3, 0))
            self.assertEqual(p.mul_tokens(rand(0, 4)).shape, (0, 3))
            x = rand(4, 2)
            self.assertTrue(np.array_equal(p @ x, p.mul(x)))
        with Plan.from_dense(np.zeros((0, 5), np.float32)) as p:
            self.assertEqual(p.mul(rand(5, 3)).shape, (0, 3))

    def test_weights_are_copied(self):
        w = sparse(5, 5, 0.6)
        indptr = np.arange(6, dtype=np.int32)
        indices = np.arange(5, dtype=np.int32)
        data = np.arange(1, 6, dtype=np.float32)
        bias = np.ones(5, np.float32)
        pd = Plan.from_dense(w.copy(), bias=bias)
        pc = Plan.from_csr(indptr, indices, data, (5, 5), bias=bias)
        want_d = pd.mul(np.eye(5, dtype=np.float32))
        data[:] = 100
        indices[:] = 0
        bias[:] = 50
        x = np.eye(5, dtype=np.float32)
        self.assertTrue(np.array_equal(pc.mul(x), np.diag(np.arange(1, 6)).astype(np.float32) + 1))
        self.assertTrue(np.array_equal(pd.mul(x), want_d))
        pd.close()
        pc.close()

    def test_gc_frees(self):
        before = sparsegen.live_plans()
        p = Plan.from_dense(sparse(3, 3))
        self.assertEqual(sparsegen.live_plans(), before + 1)
        del p
        gc.collect()
        self.assertEqual(sparsegen.live_plans(), before)

    def test_threads_share_a_plan(self):
        w = sparse(40, 50, 0.2)
        xs = [rand(50, 1 + i % 9) for i in range(8)]
        with Plan.from_dense(w, bias=rand(40), activation="relu") as p:
            want = [p.mul(x) for x in xs]
            errors = []

            def work(i):
                try:
                    for _ in range(200):
                        if not np.array_equal(p.mul(xs[i]), want[i]):
                            errors.append("thread %d: result differs" % i)
                            return
                        try:  # each thread's error message is its own
                            p.mul(rand(49, 1))
                        except ValueError:
                            pass
                        try:
                            sparsegen.load_library()
                            Plan.from_csr(np.array([0, 1], np.int32), np.array([i + 100], np.int32), np.ones(1, np.float32), (1, 3)).close()
                        except SparsegenError as e:
                            if "indices[0] = %d" % (i + 100) not in str(e):
                                errors.append("thread %d got another thread's message: %s" % (i, e))
                except Exception as e:  # noqa: BLE001
                    errors.append(repr(e))

            ts = [threading.Thread(target=work, args=(i,)) for i in range(8)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            self.assertEqual(errors, [])

    def test_describe_names_the_policy(self):
        # The coefficients' source (shipped table or this machine's calibration) is named.
        with Plan.from_dense(sparse(3, 3)) as p:
            self.assertRegex(p.describe(), r"(?m)^policy: (shipped table|calibration )")

    def test_set_default_threads(self):
        old = sparsegen.set_default_threads(1)
        try:
            with Plan.from_dense(sparse(3, 3)) as p:
                self.assertIn("1 thread(s)", p.describe())
        finally:
            sparsegen.set_default_threads(old)
        with self.assertRaises(SparsegenError):
            sparsegen.set_default_threads(-1)
        # More than a plan may use is refused (it used to abort the next plan's calls).
        with self.assertRaises(SparsegenError) as cm:
            sparsegen.set_default_threads(100000)
        self.assertEqual(cm.exception.status, "SG_ERR_ARGUMENT")
        with self.assertRaises(ValueError):
            sparsegen.set_default_threads(2**32 + 1)

    def test_python_ints_do_not_wrap(self):
        # ctypes wraps silently: (1, 2**64 + 3) built a 1×3 plan, threads=2**32 + 1 ran 1.
        ip, ix, d = np.array([0, 1], np.int64), np.array([0], np.int64), np.ones(1, np.float32)
        with self.assertRaises(ValueError):
            Plan.from_csr(ip, ix, d, (1, 2**64 + 3))
        with self.assertRaises(ValueError):
            Plan.from_csr(ip, ix, d, (1, 3), threads=2**32 + 1)
        with self.assertRaises(ValueError):
            Plan.from_dense(sparse(3, 3), threads=sparsegen.MAX_THREADS + 1)
        with self.assertRaises(ValueError):
            Plan.from_nm(np.ones((1, 2), np.float32), np.array([[0, 1]], np.uint8), (1, 4), 2 + 2**64, 4)
        with self.assertRaises(TypeError):
            Plan.from_csr(ip, ix, d, (1, 3.5))
        with Plan.from_dense(sparse(3, 3)) as p:
            with self.assertRaises(ValueError):
                p.set_threads(2**32 + 1)
        with Plan.from_csr(ip, ix, d, (np.int64(1), 3)) as p:  # numpy integers are fine
            self.assertEqual(p.shape, (1, 3))


class Leaks(unittest.TestCase):
    def test_zz_no_live_plans(self):
        gc.collect()
        self.assertEqual(sparsegen.live_plans(), 0)


if __name__ == "__main__":
    unittest.main()
