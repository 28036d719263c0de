#!/usr/bin/python3
"""Dense, CSR, BSR and N:M weights kept in low precision (Plan.from_dense, from_csr, from_bsr,
from_nm and from_scipy with
numpy float16, bf16 bits as a uint16 view, int8 + float32 row scales): each plan matches a
float32 product of the widened weights, and wrong input is a clear Python exception or
SparsegenError, never a crash.

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


try:
    import scipy.sparse as sp
except ImportError:  # CI installs python3-scipy; the CSR arrays are built without it
    sp = None


class LowPrecisionCSR(unittest.TestCase):
    M, K = 53, 140

    def setUp(self):
        w = (rng.standard_normal((self.M, self.K)) * 2).astype(np.float32)
        w[rng.random((self.M, self.K)) < 0.75] = 0
        w[5] = 0  # an empty row
        self.w = w
        self.indptr = np.concatenate([[0], np.cumsum((w != 0).sum(axis=1))]).astype(np.int32)
        self.indices = np.nonzero(w)[1].astype(np.int64)
        self.vals = w[w != 0]
        self.rows = np.repeat(np.arange(self.M), np.diff(self.indptr))

    def dense_of(self, vals):
        d = np.zeros((self.M, self.K), np.float32)
        d[self.rows, self.indices] = vals
        return d

    def forms(self):
        """(name, plan maker, widened float32 weights) for each stored form of the CSR."""
        ip, ix, v, shape = self.indptr, self.indices, self.vals, (self.M, self.K)
        f16 = v.astype(np.float16)
        bf = to_bf16_bits(v)
        amax = np.zeros(self.M, np.float32)
        np.maximum.at(amax, self.rows, np.abs(v))
        s = (amax / 127).astype(np.float32)
        q = np.clip(np.rint(v / np.where(s == 0, 1, s)[self.rows]), -127, 127).astype(np.int8)
        i8_wide = self.dense_of(s[self.rows] * q.astype(np.float32))
        forms = [
            ("f16", lambda **o: Plan.from_csr(ip, ix, f16, shape, **o), self.dense_of(f16.astype(np.float32))),
            ("f16 bits", lambda **o: Plan.from_csr(ip, ix, f16.view(np.uint16), shape, dtype="f16", **o),
             self.dense_of(f16.astype(np.float32))),
            ("bf16 bits", lambda **o: Plan.from_csr(ip, ix, bf, shape, dtype="bf16", **o), self.dense_of(from_bf16_bits(bf))),
            ("i8", lambda **o: Plan.from_csr(ip, ix, q, shape, scale=s, **o), i8_wide),
        ]
        if sp is not None:
            forms += [
                ("scipy f16", lambda **o: Plan.from_scipy(sp.csr_matrix((f16, ix, ip), shape=shape), **o),
                 self.dense_of(f16.astype(np.float32))),
                ("scipy bf16", lambda **o: Plan.from_scipy(sp.csr_matrix((bf, ix, ip), shape=shape), dtype="bf16", **o),
                 self.dense_of(from_bf16_bits(bf))),
                ("scipy i8", lambda **o: Plan.from_scipy(sp.csr_matrix((q, ix, ip), shape=shape), scale=s, **o), i8_wide),
            ]
        return forms

    check = LowPrecisionDense.check

    def test_matches_widened_reference(self):
        names = set()
        for name, make, wide in self.forms():
            names.add(name)
            with make() as p:
                self.assertEqual(p.shape, (self.M, self.K))
                dt = name.split()[-1] if name.startswith("scipy") else name.split()[0]
                self.assertIn("csr " + dt, p.describe())
                self.assertIn("kept in " + dt, p.describe())
                for n in (1, 2, 16, 40):
                    x = rng.standard_normal((self.K, n)).astype(np.float32)
                    want, mag = reference(wide, x)
                    self.check("%s N=%d" % (name, n), p.mul(x), want, mag)
                    xt = np.ascontiguousarray(x.T)
                    self.check("%s N=%d tokens" % (name, n), p.mul_tokens(xt).T, want, mag)
        if sp is not None:
            self.assertIn("scipy i8", names)

    def test_duplicates_summed_in_dtype(self):
        # Row 0: column 1 three times (unsorted); row 1: column 0 twice.
        ip, ix = np.array([0, 4, 6]), np.array([1, 3, 1, 1, 0, 0])
        x = np.eye(4, dtype=np.float32)
        # f16: 1 + 2^-11 + 2^-11 = 1 + 2^-10, exact in f16: summed once, not rounded after each
        # addition (1 + 2^-11 alone is a tie that would round to 1).
        f16 = np.array([1, 2, 2**-11, 2**-11, 3, -5], np.float16)
        with Plan.from_csr(ip, ix, f16, (2, 4)) as p:
            np.testing.assert_array_equal(p.mul(x), [[0, 1 + 2**-10, 0, 2], [-2, 0, 0, 0]])
            self.assertIn("3 duplicate entries summed", p.describe())
        q = np.array([100, 7, 20, 7, 1, -1], np.int8)
        with Plan.from_csr(ip, ix, q, (2, 4), scale=np.array([0.5, 2], np.float32)) as p:
            np.testing.assert_array_equal(p.mul(x), [[0, 63.5, 0, 3.5], [0, 0, 0, 0]])
        with self.assertRaises(SparsegenError) as cm:
            Plan.from_csr(ip, ix, np.array([100, 7, 20, 8, 1, -1], np.int8), (2, 4), scale=np.ones(2, np.float32))
        self.assertEqual(cm.exception.status, "SG_ERR_MATRIX")
        self.assertIn("outside int8", str(cm.exception))

    def test_bad_input(self):
        ip, ix, shape = self.indptr, self.indices, (self.M, self.K)
        q = np.ones(len(ix), np.int8)
        bf = to_bf16_bits(self.vals)
        with self.assertRaisesRegex(ValueError, "need scale"):
            Plan.from_csr(ip, ix, q, shape)
        with self.assertRaisesRegex(ValueError, "scale has 52 values"):
            Plan.from_csr(ip, ix, q, shape, scale=np.ones(self.M - 1, np.float32))
        with self.assertRaisesRegex(TypeError, "dtype='bf16' or dtype='f16'"):
            Plan.from_csr(ip, ix, bf, shape)
        with self.assertRaisesRegex(TypeError, "nothing is converted"):
            Plan.from_csr(ip, ix, self.vals, shape, dtype="f16")
        with self.assertRaisesRegex(ValueError, "int8 weights only"):
            Plan.from_csr(ip, ix, bf, shape, dtype="bf16", scale=np.ones(self.M, np.float32))
        with self.assertRaisesRegex(TypeError, "float64"):
            Plan.from_csr(ip, ix, self.vals.astype(np.float64), shape)
        bad = np.ones(self.M, np.float32)
        bad[7] = np.inf
        with self.assertRaises(SparsegenError) as cm:
            Plan.from_csr(ip, ix, q, shape, scale=bad)
        self.assertEqual(cm.exception.status, "SG_ERR_MATRIX")
        self.assertIn("scale[7]", str(cm.exception))
        with self.assertRaises(SparsegenError) as cm:
            Plan.from_csr(ip, ix, bf, shape, dtype="bf16", format="dense")
        self.assertEqual(cm.exception.status, "SG_ERR_ARGUMENT")
        Plan.from_csr(ip, ix, bf, shape, dtype="bf16", format="csr").close()
        Plan.from_csr(ip, ix, bf, shape, dtype="bf16", format="csr_bf16").close()
        far = ix.copy()
        far[3] = self.K
        with self.assertRaises(SparsegenError) as cm:
            Plan.from_csr(ip, far, bf, shape, dtype="bf16")
        self.assertEqual(cm.exception.status, "SG_ERR_MATRIX")

    def test_empty(self):
        with Plan.from_csr(np.zeros(4, np.int32), np.zeros(0, np.int32), np.zeros(0, np.int8), (3, 5),
                           scale=np.ones(3, np.float32)) as p:
            self.assertTrue((p.mul(np.ones((5, 2), np.float32)) == 0).all())


class LowPrecisionBlocksAndNM(unittest.TestCase):
    """BSR (from_bsr, from_scipy on a bsr_matrix) and N:M (from_nm) weights in each dtype."""

    M, K, R, C = 34, 70, 4, 3  # ragged: 34 = 8·4 + 2 rows, 70 = 23·3 + 1 columns

    def setUp(self):
        self.w = (rng.standard_normal((self.M, self.K)) * 2).astype(np.float32)

    def check(self, name, p, wide):
        for n in (1, 5, 16):
            x = rng.standard_normal((self.K, n)).astype(np.float32)
            want, mag = reference(wide, x)
            err = np.abs(p.mul(x).astype(np.float64) - want)
            bad = err > 1e-5 * (mag + 1)
            self.assertFalse(bad.any(), "%s N=%d: %d outputs off, worst %g" % (name, n, bad.sum(), err.max()))

    def blocks(self):
        """A random BSR of R×C blocks over the padded W, about half the blocks kept: (indptr,
        indices, data (nb, R, C) float32 with zeros past M and K)."""
        br, bc = -(-self.M // self.R), -(-self.K // self.C)
        pad = np.zeros((br * self.R, bc * self.C), np.float32)
        pad[: self.M, : self.K] = self.w
        keep = rng.random((br, bc)) < 0.5
        indptr = np.concatenate([[0], np.cumsum(keep.sum(axis=1))]).astype(np.int32)
        indices = np.nonzero(keep)[1].astype(np.int32)
        data = np.stack([pad[i * self.R:(i + 1) * self.R, j * self.C:(j + 1) * self.C] for i, j in zip(*np.nonzero(keep))])
        return indptr, indices, data

    def dense_of(self, indptr, indices, vals):
        """The M×K matrix of BSR blocks vals (nb, R, C)."""
        br, bc = len(indptr) - 1, -(-self.K // self.C)
        out = np.zeros((br * self.R, bc * self.C), np.float32)
        for i in range(br):
            for p in range(indptr[i], indptr[i + 1]):
                j = indices[p]
                out[i * self.R:(i + 1) * self.R, j * self.C:(j + 1) * self.C] = vals[p]
        return out[: self.M, : self.K]

    def test_bsr(self):
        indptr, indices, data = self.blocks()
        shape = (self.M, self.K)
        for dt in ("f16", "bf16", "i8"):
            if dt == "i8":
                rows = self.dense_of(indptr, indices, data)
                scale = (np.abs(rows).max(axis=1) / 127).astype(np.float32)
                safe = np.where(scale == 0, 1, scale)
                # The matrix row of each block's rows (past M: any row; their values are 0).
                brow = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
                mrow = np.minimum(brow[:, None] * self.R + np.arange(self.R)[None, :], self.M - 1)
                q = np.clip(np.rint(data / safe[mrow][:, :, None]), -127, 127).astype(np.int8)
                wide = self.dense_of(indptr, indices, q.astype(np.float32) * scale[mrow][:, :, None])
                p = Plan.from_bsr(indptr, indices, q, shape, scale=scale)
            elif dt == "f16":
                h = data.astype(np.float16)
                wide = self.dense_of(indptr, indices, h.astype(np.float32))
                p = Plan.from_bsr(indptr, indices, h, shape)
            else:
                b = to_bf16_bits(data)
                wide = self.dense_of(indptr, indices, from_bf16_bits(b))
                p = Plan.from_bsr(indptr, indices, b, shape, dtype="bf16")
            with p:
                self.assertIn("bsr_" + dt, p.describe())
                self.check("bsr " + dt, p, wide)
        # from_scipy keeps a bsr_matrix's blocks and dtype (scipy has int8 but no float16
        # sparse matrices, and needs whole blocks).
        if sp is not None:
            q, scale = quantize_i8(self.w[:32, :69])
            a = sp.bsr_matrix(q, blocksize=(4, 3))
            with Plan.from_scipy(a, scale=scale) as p:
                self.assertIn("bsr_i8", p.describe())
                x = rng.standard_normal((69, 3)).astype(np.float32)
                want, mag = reference(scale[:, None] * q.astype(np.float32), x)
                self.assertTrue((np.abs(p.mul(x) - want) <= 1e-5 * (mag + 1)).all())

    def test_bsr_bad_input(self):
        indptr, indices, data = self.blocks()
        shape = (self.M, self.K)
        q = np.zeros(data.shape, np.int8)
        with self.assertRaisesRegex(ValueError, "need scale"):
            Plan.from_bsr(indptr, indices, q, shape)
        with self.assertRaisesRegex(ValueError, "scale has"):
            Plan.from_bsr(indptr, indices, q, shape, scale=np.ones(self.M // self.R, np.float32))
        with self.assertRaisesRegex(TypeError, "dtype='bf16' or dtype='f16'"):
            Plan.from_bsr(indptr, indices, to_bf16_bits(data), shape)
        past = data.astype(np.float16)
        last = int(np.nonzero(indices == indices.max())[0][-1])
        if indices[last] == -(-self.K // self.C) - 1:  # a block on the ragged last block column
            past[last, 0, self.C - 1] = 1
            with self.assertRaises(SparsegenError) as cm:
                Plan.from_bsr(indptr, indices, past, shape)
            self.assertEqual(cm.exception.status, "SG_ERR_MATRIX")
        with self.assertRaises(SparsegenError) as cm:
            Plan.from_bsr(indptr, indices, data.astype(np.float16), shape, format="csr")
        self.assertEqual(cm.exception.status, "SG_ERR_ARGUMENT")

    def nm(self, keep, group):
        """Per-row keep:group magnitude pruning of W: (val (M, spr) float32, pos uint8)."""
        spr = Plan.slots_per_row(self.K, keep, group)
        val = np.zeros((self.M, spr), np.float32)
        pos = np.zeros((self.M, spr), np.uint8)
        for i in range(self.M):
            s = 0
            for g0 in range(0, self.K, group):
                seg = self.w[i, g0:g0 + group]
                kept = np.sort(np.argsort(-np.abs(seg), kind="stable")[: min(keep, len(seg))])
                val[i, s:s + len(kept)] = seg[kept]
                pos[i, s:s + len(kept)] = kept
                s += len(kept)
        return val, pos

    def nm_dense(self, vals, pos, keep, group):
        out = np.zeros((self.M, self.K), np.float32)
        for i in range(self.M):
            s = 0
            for g0 in range(0, self.K, group):
                n = min(keep, min(group, self.K - g0))
                out[i, g0 + pos[i, s:s + n]] = vals[i, s:s + n]
                s += n
        return out

    def test_nm(self):
        shape = (self.M, self.K)
        for keep, group in ((2, 4), (1, 4), (3, 7)):
            val, pos = self.nm(keep, group)
            h = val.astype(np.float16)
            b = to_bf16_bits(val)
            q, s = quantize_i8(val)
            for name, make, wide in (
                ("f16", lambda: Plan.from_nm(h, pos, shape, keep, group), h.astype(np.float32)),
                ("bf16", lambda: Plan.from_nm(b, pos, shape, keep, group, dtype="bf16"), from_bf16_bits(b)),
                ("i8", lambda: Plan.from_nm(q, pos, shape, keep, group, scale=s), s[:, None] * q.astype(np.float32)),
            ):
                with make() as p:
                    self.assertIn("nm", p.describe())
                    self.assertIn(name, p.describe())
                    self.check("nm%d:%d %s" % (keep, group, name), p, self.nm_dense(wide, pos, keep, group))

    def test_nm_bad_input(self):
        shape = (self.M, self.K)
        val, pos = self.nm(2, 4)
        q, s = quantize_i8(val)
        with self.assertRaisesRegex(ValueError, "need scale"):
            Plan.from_nm(q, pos, shape, 2, 4)
        with self.assertRaisesRegex(ValueError, "int8 weights only"):
            Plan.from_nm(val.astype(np.float16), pos, shape, 2, 4, scale=s)
        with self.assertRaisesRegex(ValueError, "must have shape"):
            Plan.from_nm(np.ascontiguousarray(q[:, :-1]), np.ascontiguousarray(pos[:, :-1]), shape, 2, 4, scale=s)
        bad = pos.copy()
        bad[0, 0], bad[0, 1] = 3, 0
        with self.assertRaises(SparsegenError) as cm:
            Plan.from_nm(q, bad, shape, 2, 4, scale=s)
        self.assertEqual(cm.exception.status, "SG_ERR_MATRIX")


if __name__ == "__main__":
    unittest.main()
