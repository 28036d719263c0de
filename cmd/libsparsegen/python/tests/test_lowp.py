#!/usr/bin/python3
"""Dense weights kept in low precision (Plan.from_dense with numpy float16, bf16 bits as a
uint16 view, int8 + float32 row scales): each plan matches a float32 product of the widened
weights, and wrong input is a clear Python exception or SparsegenError, never a crash.

Run as test_sparsegen.py says (unittest discover over this folder).
"""

import unittest

import numpy as np

import sparsegen
from sparsegen import Plan, SparsegenError

rng = np.random.default_rng(17)


def to_bf16_bits(w):
    """float32 -> bfloat16 bit patterns (uint16), round to nearest even (finite w)."""
    u = w.astype(np.float32).view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return u.astype(np.uint16)


def from_bf16_bits(b):
    return (b.astype(np.uint32) << 16).view(np.float32)


def quantize_i8(w):
    """Symmetric per-row int8: scale = max|w|/127, q = round(w/scale) (ties to even)."""
    scale = (np.abs(w).max(axis=1) / 127).astype(np.float32)
    safe = np.where(scale == 0, 1, scale)
    q = np.clip(np.rint(w / safe[:, None]), -127, 127).astype(np.int8)
    return q, scale


def reference(wide, x):
    """float64 product of the widened weights, and Σ|w·x| for the tolerance."""
    w64, x64 = wide.astype(np.float64), x.astype(np.float64)
    return w64 @ x64, np.abs(w64) @ np.abs(x64)


class LowPrecisionDense(unittest.TestCase):
    M, K = 67, 130

    def setUp(self):
        self.w = (rng.standard_normal((self.M, self.K)) * 2).astype(np.float32)

    def forms(self):
        """(name, plan kwargs/array, widened float32 weights) for each stored form."""
        w = self.w
        f16 = w.astype(np.float16)
        bf = to_bf16_bits(w)
        q, s = quantize_i8(w)
        return [
            ("f16", lambda **o: Plan.from_dense(f16, **o), f16.astype(np.float32)),
            ("f16 bits", lambda **o: Plan.from_dense(f16.view(np.uint16), dtype="f16", **o), f16.astype(np.float32)),
            ("bf16 bits", lambda **o: Plan.from_dense(bf, dtype="bf16", **o), from_bf16_bits(bf)),
            ("i8", lambda **o: Plan.from_dense(q, scale=s, **o), s[:, None] * q.astype(np.float32)),
        ]

    def check(self, name, y, want, mag):
        err = np.abs(y.astype(np.float64) - want)
        bad = err > 1e-5 * (mag + 1)
        self.assertFalse(bad.any(), "%s: %d outputs off, worst %g" % (name, bad.sum(), err.max()))

    def test_matches_widened_reference(self):
        for name, make, wide in self.forms():
            with make() as p:
                self.assertEqual(p.shape, (self.M, self.K))
                self.assertIn(name.split()[0], p.describe())
                for n in (1, 3, 16):
                    x = rng.standard_normal((self.K, n)).astype(np.float32)
                    want, mag = reference(wide, x)
                    self.check("%s N=%d" % (name, n), p.mul(x), want, mag)
                    xt = np.ascontiguousarray(x.T)
                    self.check("%s N=%d tokens" % (name, n), p.mul_tokens(xt).T, want, mag)
                v = rng.standard_normal(self.K).astype(np.float32)
                want, mag = reference(wide, v[:, None])
                self.check(name + " vector", p @ v, want[:, 0], mag[:, 0])

    def test_epilogue_and_padded_rows(self):
        bias = rng.standard_normal(self.M).astype(np.float32)
        big = np.zeros((self.M, self.K + 6), np.float16)
        big[:, : self.K] = self.w.astype(np.float16)
        wide = big[:, : self.K].astype(np.float32)
        x = rng.standard_normal((self.K, 5)).astype(np.float32)
        want, mag = reference(wide, x)
        with Plan.from_dense(big[:, : self.K], bias=bias, activation="relu") as p:
            self.check("f16 padded relu", p.mul(x), np.maximum(want + bias[:, None], 0), mag + np.abs(bias)[:, None])

    def test_bad_input(self):
        q, s = quantize_i8(self.w)
        bf = to_bf16_bits(self.w)
        with self.assertRaisesRegex(ValueError, "need scale"):
            Plan.from_dense(q)
        with self.assertRaisesRegex(ValueError, "scale has 66 values"):
            Plan.from_dense(q, scale=s[:-1])
        with self.assertRaises(TypeError):
            Plan.from_dense(q, scale=s.astype(np.float64))
        with self.assertRaisesRegex(TypeError, "dtype='bf16' or dtype='f16'"):
            Plan.from_dense(bf)
        with self.assertRaisesRegex(TypeError, "nothing is converted"):
            Plan.from_dense(self.w, dtype="bf16")
        with self.assertRaisesRegex(ValueError, "want None"):
            Plan.from_dense(bf, dtype="fp8")
        with self.assertRaisesRegex(ValueError, "int8 weights only"):
            Plan.from_dense(bf, dtype="bf16", scale=s)
        with self.assertRaisesRegex(TypeError, "float64"):
            Plan.from_dense(self.w.astype(np.float64))
        with self.assertRaisesRegex(ValueError, "contiguous"):
            Plan.from_dense(bf[:, ::2], dtype="bf16")
        bad = s.copy()
        bad[3] = np.nan
        with self.assertRaises(SparsegenError) as cm:
            Plan.from_dense(q, scale=bad)
        self.assertEqual(cm.exception.status, "SG_ERR_MATRIX")
        self.assertIn("scale[3]", str(cm.exception))
        with self.assertRaises(SparsegenError) as cm:
            Plan.from_dense(bf, dtype="bf16", format="csr")
        self.assertEqual(cm.exception.status, "SG_ERR_ARGUMENT")
        Plan.from_dense(bf, dtype="bf16", format="dense").close()
        # A dtype code the library does not know, straight through ctypes.
        lib = sparsegen.load_library()
        import ctypes

        h = ctypes.c_uint64(5)
        code = lib.sg_plan_dense_lp(ctypes.byref(h), 2, 2, 9, bf.ctypes.data, 2, None, 0, None)
        self.assertEqual((sparsegen.STATUS[code], h.value), ("SG_ERR_ARGUMENT", 0))
        self.assertIn("not an sg_dtype", lib.sg_last_error().decode())

    def test_empty(self):
        with Plan.from_dense(np.zeros((0, 4), np.float16)) as p:
            self.assertEqual(p.mul(np.ones((4, 2), np.float32)).shape, (0, 2))
        with Plan.from_dense(np.zeros((3, 0), np.int8), scale=np.ones(3, np.float32)) as p:
            self.assertTrue((p.mul(np.ones((0, 2), np.float32)) == 0).all())


if __name__ == "__main__":
    unittest.main()
