"""sparsegen from Python: ctypes bindings to libsparsegen.so and a small Plan class.

    import numpy as np, sparsegen
    plan = sparsegen.Plan.from_dense(w)              # w: M×K float32
    y = plan.mul(x)                                  # channel-major: x K×N -> y M×N
    y = plan.mul_tokens(x)                           # token-major:   x N×K -> y N×M
    plan = sparsegen.Plan.from_scipy(csr_or_bsr)     # scipy.sparse matrices (float32 data)

The library is found through $SPARSEGEN_LIB, else libsparsegen.so in this package (where
`pip install --no-build-isolation ./cmd/libsparsegen/python` builds it, with Go and gcc), else
the system's library path. To use this folder without installing it, build the library with
    go build -buildmode=c-shared -o libsparsegen.so ./cmd/libsparsegen
and set SPARSEGEN_LIB to it and PYTHONPATH to cmd/libsparsegen/python/src.

Arrays are checked in Python before any pointer reaches C: wrong dtypes raise TypeError,
wrong shapes, strides and overlapping operands raise ValueError, and failures reported by the
library raise SparsegenError (with .code and .status). Nothing is converted silently: pass
float32 arrays (x.astype(np.float32)). Dense and CSR weights may instead stay in low precision
(Plan.from_dense, from_csr and from_scipy with numpy float16, bf16 bits as uint16 and
dtype="bf16", or int8 with scale=); X and Y are float32 for every plan. Rows may be padded (a row stride larger than the row),
but elements within a row must be contiguous. Calls release the GIL (ctypes), so several
Python threads may run plans at once.
"""

import ctypes
import ctypes.util
import operator
import os
import threading

import numpy as np

__all__ = ["Plan", "SparsegenError", "load_library", "ACTIVATIONS", "DTYPES", "STATUS"]

ABI_VERSION = 1
MAX_THREADS = 4096  # SG_MAX_THREADS
_I32_MAX = 2**31 - 1
_I64_MAX = 2**63 - 1

STATUS = {
    0: "SG_OK",
    1: "SG_ERR_NULL",
    2: "SG_ERR_ARGUMENT",
    3: "SG_ERR_MATRIX",
    4: "SG_ERR_SHAPE",
    5: "SG_ERR_HANDLE",
    6: "SG_ERR_UNSUPPORTED",
    7: "SG_ERR_RECORD",
    8: "SG_ERR_BUFFER",
    9: "SG_ERR_NOMEM",
    10: "SG_ERR_INTERNAL",
}
SG_ERR_BUFFER = 8

ACTIVATIONS = {"none": 0, "relu": 1, "clamp": 2, "gelu": 3, "silu": 4}
_INDEX_TYPES = {np.dtype(np.int32): 4, np.dtype(np.int64): 8}


# sg_dtype: low-precision weights (sg_plan_dense_lp, sg_plan_csr_lp, sg_plan_bsr_lp,
# sg_plan_nm_lp).
DTYPES = {"bf16": 1, "f16": 2, "i8": 3}
_DTYPES = DTYPES


def _weight_dtype(w, dtype, name="w"):
    """The sg_dtype name of weights w ("f32" for float32), checked against dtype."""
    by_numpy = {np.dtype(np.float32): "f32", np.dtype(np.float16): "f16", np.dtype(np.int8): "i8"}
    if not isinstance(w, np.ndarray):
        raise TypeError("%s must be a numpy.ndarray, got %s" % (name, type(w).__name__))
    if dtype is not None and dtype not in ("f32", "bf16", "f16", "i8"):
        raise ValueError("dtype %r: want None, 'f32', 'bf16', 'f16' or 'i8'" % (dtype,))
    if w.dtype == np.uint16:
        if dtype not in ("bf16", "f16"):
            raise TypeError("%s is uint16: say which bits it holds, dtype='bf16' or dtype='f16'" % name)
        return dtype
    t = by_numpy.get(w.dtype)
    if t is None:
        raise TypeError(
            "%s must have dtype float32, got %s (convert with %s.astype(np.float32)); weights kept in "
            "low precision: float16, int8 with scale=, or uint16 bits with dtype='bf16'/'f16'" % (name, w.dtype, name)
        )
    if dtype is not None and dtype != t:
        raise TypeError("%s has dtype %s but dtype=%r (nothing is converted: pass %s weights)" % (name, w.dtype, dtype, dtype))
    return t


def _scale_args(t, scale, m):
    """The (pointer, length) of the row scales for weights of sg_dtype name t: int8 needs M
    float32 scales, every other dtype none."""
    if t != "i8":
        if scale is not None:
            raise ValueError("scale applies to int8 weights only (dtype %s)" % t)
        return None, 0
    if scale is None:
        raise ValueError("int8 weights need scale: M float32 row scales (W[i, j] = scale[i]·q[i, j])")
    s = _vector(scale, "scale")
    if s.shape[0] != m:
        raise ValueError("scale has %d values, want M = %d" % (s.shape[0], m))
    return _ptr(s), m


class SparsegenError(RuntimeError):
    """A failure the library reported: .code is the sg_status value, .status its name."""

    def __init__(self, code, message, call=""):
        self.code = code
        self.status = STATUS.get(code, "SG_UNKNOWN(%d)" % code)
        where = "%s: " % call if call else ""
        super().__init__("%s%s: %s" % (where, self.status, message))


class _Options(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("activation", ctypes.c_int32),
        ("lo", ctypes.c_float),
        ("hi", ctypes.c_float),
        ("bias", ctypes.c_void_p),
        ("bias_len", ctypes.c_int64),
        ("accumulate", ctypes.c_int32),
        ("threads", ctypes.c_int32),
        ("isa", ctypes.c_char_p),
        ("record_path", ctypes.c_char_p),
        ("format", ctypes.c_char_p),
    ]


_lib = None
_lib_lock = threading.Lock()


def load_library(path=None):
    """Loads libsparsegen (once) and declares its functions; returns the ctypes library."""
    global _lib
    with _lib_lock:
        if _lib is not None:
            return _lib
        if path is None:
            path = os.environ.get("SPARSEGEN_LIB")
        if path is None:
            here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "libsparsegen.so")
            if os.path.exists(here):
                path = here
        if path is None:
            path = ctypes.util.find_library("sparsegen")
        if path is None:
            raise OSError(
                "libsparsegen not found: install this package with `pip install "
                "--no-build-isolation ./cmd/libsparsegen/python`, or set SPARSEGEN_LIB to the .so "
                "built with `go build -buildmode=c-shared -o libsparsegen.so ./cmd/libsparsegen`"
            )
        lib = ctypes.CDLL(path)
        i64, vp, st = ctypes.c_int64, ctypes.c_void_p, ctypes.c_int
        plan_p = ctypes.POINTER(ctypes.c_uint64)
        opt_p = ctypes.POINTER(_Options)
        sigs = {
            "sg_abi_version": (ctypes.c_uint32, []),
            "sg_options_init": (None, [opt_p]),
            "sg_last_error": (ctypes.c_char_p, []),
            "sg_status_name": (ctypes.c_char_p, [ctypes.c_int]),
            "sg_plan_dense": (st, [plan_p, i64, i64, vp, i64, opt_p]),
            "sg_plan_dense_lp": (st, [plan_p, i64, i64, st, vp, i64, vp, i64, opt_p]),
            "sg_plan_csr": (st, [plan_p, i64, i64, i64, vp, st, vp, st, vp, opt_p]),
            "sg_plan_csr_lp": (st, [plan_p, i64, i64, i64, vp, st, vp, st, st, vp, vp, i64, opt_p]),
            "sg_plan_bsr": (st, [plan_p, i64, i64, i64, i64, i64, vp, st, vp, st, vp, opt_p]),
            "sg_nm_slots_per_row": (i64, [i64, i64, i64]),
            "sg_plan_nm": (st, [plan_p, i64, i64, i64, i64, vp, vp, i64, opt_p]),
            "sg_plan_bsr_lp": (st, [plan_p, i64, i64, i64, i64, i64, vp, st, vp, st, st, vp, vp, i64, opt_p]),
            "sg_plan_nm_lp": (st, [plan_p, i64, i64, i64, i64, st, vp, vp, i64, vp, i64, opt_p]),
            "sg_mul": (st, [ctypes.c_uint64, vp, i64, vp, i64, i64]),
            "sg_mul_tokens": (st, [ctypes.c_uint64, vp, i64, vp, i64, i64]),
            "sg_mul_batch": (st, [ctypes.c_uint64, vp, i64, i64, vp, i64, i64, i64, i64]),
            "sg_plan_shape": (st, [ctypes.c_uint64, ctypes.POINTER(i64), ctypes.POINTER(i64)]),
            "sg_plan_describe": (
                st,
                [ctypes.c_uint64, ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t)],
            ),
            "sg_plan_free": (st, [ctypes.c_uint64]),
            "sg_plan_set_threads": (st, [ctypes.c_uint64, ctypes.c_int32]),
            "sg_set_default_threads": (st, [ctypes.c_int32, ctypes.POINTER(ctypes.c_int32)]),
            "sg_live_plans": (i64, []),
        }
        for name, (res, args) in sigs.items():
            f = getattr(lib, name)
            f.restype, f.argtypes = res, args
        v = lib.sg_abi_version()
        if v != ABI_VERSION:
            raise OSError("%s has ABI version %d, this module speaks %d" % (path, v, ABI_VERSION))
        _lib = lib
        return lib


def _int(v, name, lo=0, hi=_I64_MAX):
    """v as a Python int in [lo, hi]. ctypes wraps an int too large for its C type without a
    word (shape (1, 2**64 + 3) became a 1×3 plan, threads=2**32 + 1 became 1), so every
    integer is checked here before it is passed."""
    try:
        i = operator.index(v)
    except TypeError:
        raise TypeError("%s must be an integer, got %s" % (name, type(v).__name__)) from None
    if not lo <= i <= hi:
        raise ValueError("%s = %d is outside %d ... %d" % (name, i, lo, hi))
    return i


def _shape(shape):
    if len(shape) != 2:
        raise ValueError("shape must be (M, K), got %r" % (shape,))
    return _int(shape[0], "M"), _int(shape[1], "K")


def _check(code, call):
    """Raises SparsegenError for a nonzero status; the message is the calling thread's."""
    if code != 0:
        msg = _lib.sg_last_error().decode("utf-8", "replace")
        raise SparsegenError(code, msg, call)


_F32 = np.dtype(np.float32)


def _want_dtype(a, name, dtype):
    if type(a) is np.ndarray and a.dtype is _F32 and dtype is np.float32:
        return  # the common case, quickly
    if not isinstance(a, np.ndarray):
        raise TypeError("%s must be a numpy.ndarray, got %s" % (name, type(a).__name__))
    if a.dtype != dtype:
        raise TypeError(
            "%s must have dtype %s, got %s (convert with %s.astype(np.%s))"
            % (name, np.dtype(dtype), a.dtype, name, np.dtype(dtype))
        )


def _index_array(a, name):
    if not isinstance(a, np.ndarray):
        raise TypeError("%s must be a numpy.ndarray, got %s" % (name, type(a).__name__))
    t = _INDEX_TYPES.get(a.dtype)
    if t is None:
        raise TypeError("%s must have dtype int32 or int64 (as scipy.sparse holds it), got %s" % (name, a.dtype))
    if a.ndim != 1:
        raise ValueError("%s must be 1-D, got shape %s" % (name, a.shape))
    if not a.flags.c_contiguous:
        raise ValueError("%s must be contiguous (np.ascontiguousarray(%s))" % (name, name))
    return a, t


def _vector(a, name, dtype=np.float32, ndim=1):
    _want_dtype(a, name, dtype)
    if a.ndim != ndim:
        raise ValueError("%s must be %d-D, got shape %s" % (name, ndim, a.shape))
    if not a.flags.c_contiguous:
        raise ValueError("%s must be C-contiguous (np.ascontiguousarray(%s))" % (name, name))
    return a


def _matrix(a, name, rows, cols, writable=False, dtype=np.float32):
    """Checks a 2-D operand (float32 unless dtype says otherwise) with unit element stride;
    returns its leading dimension in elements. rows/cols None accept any size."""
    _want_dtype(a, name, dtype)
    isz = np.dtype(dtype).itemsize
    if a.ndim != 2:
        raise ValueError("%s must be 2-D, got shape %s" % (name, a.shape))
    r, c = a.shape
    if (rows is not None and r != rows) or (cols is not None and c != cols):
        want = "(%s, %s)" % ("any" if rows is None else rows, "any" if cols is None else cols)
        raise ValueError("%s has shape %s, want %s" % (name, a.shape, want))
    if writable and not a.flags.writeable:
        raise ValueError("%s is read-only" % name)
    if a.size == 0:
        return max(c, 1)
    s0, s1 = a.strides
    if c > 1 and s1 != isz:
        raise ValueError(
            "%s is not contiguous along its last axis (strides %s): pass np.ascontiguousarray(%s)"
            % (name, a.strides, name)
        )
    if r > 1 and (s0 % isz != 0 or s0 < isz * c):
        raise ValueError(
            "%s has row stride %d bytes, which is not a whole number of %s rows of %d: "
            "pass np.ascontiguousarray(%s)" % (name, s0, np.dtype(dtype), c, name)
        )
    return max(s0 // isz if r > 1 else c, c, 1)


def _options(m, bias, activation, lo, hi, accumulate, threads, isa, record, format):
    o = _Options()
    _lib.sg_options_init(ctypes.byref(o))
    keep = []  # arrays that must stay alive until the call returns
    if isinstance(activation, str):
        if activation not in ACTIVATIONS:
            raise ValueError("activation %r: want one of %s" % (activation, ", ".join(ACTIVATIONS)))
        activation = ACTIVATIONS[activation]
    o.activation = int(activation)
    if lo is not None:
        o.lo = float(lo)
    if hi is not None:
        o.hi = float(hi)
    if bias is not None:
        b = _vector(bias, "bias")
        if b.shape[0] != m:
            raise ValueError("bias has %d values, want M = %d" % (b.shape[0], m))
        keep.append(b)
        o.bias, o.bias_len = b.ctypes.data, m
    o.accumulate = 1 if accumulate else 0
    o.threads = _int(threads, "threads", 0, MAX_THREADS)
    o.isa = isa.encode() if isa else None
    o.record_path = os.fsencode(record) if record else None
    o.format = format.encode() if format else None
    return o, keep


_byte = ctypes.c_char


def _ptr(a):
    """The address of a's first element (None for an empty array)."""
    if not a.size:
        return None
    try:  # 4× cheaper than a.ctypes.data; needs a writable, contiguous buffer
        return ctypes.addressof(_byte.from_buffer(a))
    except (TypeError, ValueError, BufferError):
        return a.ctypes.data


class Plan:
    """A compiled sparse weight matrix W (M×K). Create it with a from_* class method; run it
    with mul (channel-major) or mul_tokens (token-major); close it (or use `with`).

    Keyword options of every constructor: bias (M float32 values, copied), activation
    ("none", "relu", "clamp", "gelu", "silu"), lo and hi (clamp bounds), accumulate (Y += ...),
    threads (per call; 0 = default), isa ("generic", "avx2", "avx512", "neon"; None = best),
    record (a tuning-record path), format (force "dense", "csr", "bsr4x1", "nm2:4", ...).
    """

    __slots__ = ("_h", "_m", "_k", "accumulate", "__weakref__")

    def __init__(self, *args, **kwargs):
        raise TypeError("use Plan.from_dense, from_csr, from_bsr, from_nm or from_scipy")

    @classmethod
    def _create(cls, fn, m, args, opts, call):
        lib = load_library()
        o, keep = _options(m, **opts)
        h = ctypes.c_uint64(0)
        _check(getattr(lib, fn)(ctypes.byref(h), *args, ctypes.byref(o)), call)
        del keep
        p = object.__new__(cls)
        p._h = h.value
        mm, kk = ctypes.c_int64(), ctypes.c_int64()
        _check(lib.sg_plan_shape(p._h, ctypes.byref(mm), ctypes.byref(kk)), "sg_plan_shape")
        p._m, p._k = mm.value, kk.value
        p.accumulate = bool(opts.get("accumulate"))
        return p

    @staticmethod
    def _opts(bias=None, activation="none", lo=None, hi=None, accumulate=False, threads=0, isa=None, record=None, format=None):
        return dict(bias=bias, activation=activation, lo=lo, hi=hi, accumulate=accumulate,
                    threads=threads, isa=isa, record=record, format=format)

    @classmethod
    def from_dense(cls, w, dtype=None, scale=None, **opts):
        """W from a 2-D array (rows may be padded): float32, or weights kept in low precision
        (2 or 1 bytes per weight in the plan, never a widened copy; X and Y stay float32):

            from_dense(w_f16)                       numpy float16      -> dtype "f16"
            from_dense(w_u16, dtype="bf16")         bfloat16 bits in a uint16 array (numpy has
                                                    no bfloat16; torch: t.view(torch.int16))
            from_dense(w_u16, dtype="f16")          float16 bits in a uint16 array
            from_dense(q_i8, scale=s)               int8, W[i, j] = s[i]·q[i, j], s float32 (M,)

        dtype (None, "f32", "bf16", "f16", "i8") must agree with w's numpy dtype; nothing is
        converted or rounded here."""
        opts = cls._opts(**opts)
        t = _weight_dtype(w, dtype)
        ldw = _matrix(w, "w", None, None, dtype=w.dtype)
        m, k = w.shape
        sp, sl = _scale_args(t, scale, m)
        if t == "f32":
            return cls._create("sg_plan_dense", m, (m, k, _ptr(w), ldw), opts, "sg_plan_dense")
        args = (m, k, _DTYPES[t], _ptr(w), ldw, sp, sl)
        return cls._create("sg_plan_dense_lp", m, args, opts, "sg_plan_dense_lp")

    @classmethod
    def from_csr(cls, indptr, indices, data, shape, dtype=None, scale=None, **opts):
        """W from CSR arrays as scipy.sparse.csr_matrix holds them (int32 or int64 indices).
        Unsorted indices are sorted and duplicates summed (see describe()). data is float32,
        or kept in low precision as from_dense takes it (float16; uint16 bits with
        dtype="bf16" or "f16"; int8 with scale=, M float32 row scales); nothing is converted."""
        opts = cls._opts(**opts)
        m, k = _shape(shape)
        ip, ipt = _index_array(indptr, "indptr")
        ix, ixt = _index_array(indices, "indices")
        t = _weight_dtype(data, dtype, "data")
        d = _vector(data, "data", dtype=data.dtype)
        if ip.shape[0] != m + 1:
            raise ValueError("indptr has %d entries, want M+1 = %d" % (ip.shape[0], m + 1))
        if ix.shape[0] != d.shape[0]:
            raise ValueError("indices has %d entries but data has %d" % (ix.shape[0], d.shape[0]))
        sp, sl = _scale_args(t, scale, m)
        if t == "f32":
            args = (m, k, d.shape[0], _ptr(ip), ipt, _ptr(ix), ixt, _ptr(d))
            return cls._create("sg_plan_csr", m, args, opts, "sg_plan_csr")
        args = (m, k, d.shape[0], _ptr(ip), ipt, _ptr(ix), ixt, _DTYPES[t], _ptr(d), sp, sl)
        return cls._create("sg_plan_csr_lp", m, args, opts, "sg_plan_csr_lp")

    @classmethod
    def from_bsr(cls, indptr, indices, data, shape, dtype=None, scale=None, **opts):
        """W from BSR arrays as scipy.sparse.bsr_matrix holds them: data is (blocks, R, C),
        float32 or kept in low precision as from_dense takes it (float16; uint16 bits with
        dtype="bf16" or "f16"; int8 with scale=, M float32 scales, one per matrix row)."""
        opts = cls._opts(**opts)
        m, k = _shape(shape)
        ip, ipt = _index_array(indptr, "indptr")
        ix, ixt = _index_array(indices, "indices")
        t = _weight_dtype(data, dtype, "data")
        d = _vector(data, "data", dtype=data.dtype, ndim=3)
        nb, r, c = d.shape
        if r < 1 or c < 1:
            raise ValueError("data has blocks of %d×%d" % (r, c))
        if ip.shape[0] != -(-m // r) + 1:
            raise ValueError("indptr has %d entries, want ceil(M/R)+1 = %d" % (ip.shape[0], -(-m // r) + 1))
        if ix.shape[0] != nb:
            raise ValueError("indices has %d entries but data has %d blocks" % (ix.shape[0], nb))
        sp, sl = _scale_args(t, scale, m)
        if t == "f32":
            args = (m, k, r, c, nb, _ptr(ip), ipt, _ptr(ix), ixt, _ptr(d))
            return cls._create("sg_plan_bsr", m, args, opts, "sg_plan_bsr")
        args = (m, k, r, c, nb, _ptr(ip), ipt, _ptr(ix), ixt, _DTYPES[t], _ptr(d), sp, sl)
        return cls._create("sg_plan_bsr_lp", m, args, opts, "sg_plan_bsr_lp")

    @classmethod
    def from_nm(cls, val, pos, shape, keep, group, dtype=None, scale=None, **opts):
        """W in N:M form: val and pos (uint8), each M × slots_per_row(K); val is float32 or
        kept in low precision as from_dense takes it (float16; uint16 bits with dtype="bf16"
        or "f16"; int8 with scale=, M float32 row scales)."""
        opts = cls._opts(**opts)
        m, k = _shape(shape)
        lib = load_library()
        keep, group = _int(keep, "keep"), _int(group, "group")
        spr = lib.sg_nm_slots_per_row(k, keep, group)
        if spr < 0:
            raise ValueError("pattern %d:%d needs 1 <= keep <= group <= 16" % (keep, group))
        t = _weight_dtype(val, dtype, "val")
        v = _vector(val, "val", dtype=val.dtype, ndim=2)
        p = _vector(pos, "pos", dtype=np.uint8, ndim=2)
        if v.shape != (m, spr) or p.shape != (m, spr):
            raise ValueError("val and pos must have shape (M, slots per row) = (%d, %d), got %s and %s" % (m, spr, v.shape, p.shape))
        sp, sl = _scale_args(t, scale, m)
        if t == "f32":
            args = (m, k, keep, group, _ptr(v), _ptr(p), m * spr)
            return cls._create("sg_plan_nm", m, args, opts, "sg_plan_nm")
        args = (m, k, keep, group, _DTYPES[t], _ptr(v), sp, sl, _ptr(p), m * spr)
        return cls._create("sg_plan_nm_lp", m, args, opts, "sg_plan_nm_lp")

    @classmethod
    def from_scipy(cls, a, dtype=None, scale=None, **opts):
        """W from a scipy.sparse matrix or array: BSR keeps its blocks, anything else goes
        through CSR. Data must be float32 (a.astype(np.float32)), or kept in low precision as
        from_csr and from_bsr take it: float16, uint16 bits with dtype="bf16"/"f16", int8
        with scale= (M float32 row scales)."""
        fmt = getattr(a, "format", None)
        if fmt is None:
            raise TypeError("from_scipy needs a scipy.sparse matrix, got %s" % type(a).__name__)
        if fmt == "bsr":
            return cls.from_bsr(a.indptr, a.indices, a.data, a.shape, dtype=dtype, scale=scale, **opts)
        if fmt != "csr":
            a = a.tocsr()
        return cls.from_csr(a.indptr, a.indices, a.data, a.shape, dtype=dtype, scale=scale, **opts)

    @staticmethod
    def slots_per_row(k, keep, group):
        return load_library().sg_nm_slots_per_row(_int(k, "k"), _int(keep, "keep"), _int(group, "group"))

    # ---- running ----------------------------------------------------------------------------

    def _handle(self):
        h = self._h
        if h == 0:
            raise ValueError("plan is closed")
        return h

    def _run(self, fn, x, out, in_rows, in_cols, out_rows, out_cols, vec, name):
        h = self._handle()
        ldx = _matrix(x, "x", in_rows, in_cols)
        if out is None:
            if self.accumulate:
                raise ValueError("a plan with accumulate=True reads Y: pass out=")
            out = np.empty((out_rows, out_cols), dtype=np.float32)
            ldy = max(out_cols, 1)
            yp, xp = _ptr(out), _ptr(x)
        else:
            if vec and isinstance(out, np.ndarray) and out.ndim == 1:
                _vector(out, "out")  # a view below, never a copy
                out = out.reshape(out_rows, out_cols)
            ldy = _matrix(out, "out", out_rows, out_cols, writable=True)
            yp, xp = _ptr(out), _ptr(x)
            if yp is not None and xp is not None:
                # Byte ranges the call reads and writes (what np.may_share_memory compares).
                xr, xc = x.shape
                xe = xp + 4 * ((xr - 1) * ldx + xc)
                ye = yp + 4 * ((out_rows - 1) * ldy + out_cols)
                if xp < ye and yp < xe:
                    raise ValueError("x and out overlap")
        n = out_cols if fn == "sg_mul" else out_rows
        code = (_lib.sg_mul if fn == "sg_mul" else _lib.sg_mul_tokens)(h, yp, ldy, xp, ldx, n)
        if code:
            _check(code, fn)
        return out

    def mul(self, x, out=None):
        """Channel-major: returns Y (M×N) = act(W·X + bias [+ out]) for X (K×N). A 1-D x of K
        values is one column and gives a 1-D result."""
        vec = isinstance(x, np.ndarray) and x.ndim == 1
        if vec:
            _want_dtype(x, "x", np.float32)
            x = x.reshape(-1, 1)
        n = x.shape[1] if isinstance(x, np.ndarray) and x.ndim == 2 else None
        y = self._run("sg_mul", x, out, self._k, None, self._m, n, vec, "mul")
        return y.reshape(-1) if vec else y

    def mul_tokens(self, x, out=None):
        """Token-major: returns Y (N×M) = act(X·Wᵀ + bias [+ out]) for X (N×K). A 1-D x of K
        values is one token and gives a 1-D result."""
        vec = isinstance(x, np.ndarray) and x.ndim == 1
        if vec:
            _want_dtype(x, "x", np.float32)
            x = x.reshape(1, -1)
        n = x.shape[0] if isinstance(x, np.ndarray) and x.ndim == 2 else None
        y = self._run("sg_mul_tokens", x, out, None, self._k, n, self._m, vec, "mul_tokens")
        return y.reshape(-1) if vec else y

    def mul_batch(self, x, out=None):
        """Channel-major over a batch: x (B, K, N) -> Y (B, M, N), item by item (NCHW 1×1
        convolutions). Items may be strided (x[:, :, :] views of larger arrays)."""
        h = self._handle()
        _want_dtype(x, "x", np.float32)
        if x.ndim != 3:
            raise ValueError("x must be 3-D (batch, K, N), got shape %s" % (x.shape,))
        b, k, n = x.shape
        if k != self._k:
            raise ValueError("x has shape %s, want (any, %d, any)" % (x.shape, self._k))
        if out is None:
            if self.accumulate:
                raise ValueError("a plan with accumulate=True reads Y: pass out=")
            out = np.empty((b, self._m, n), np.float32)
        else:
            _want_dtype(out, "out", np.float32)
            if out.shape != (b, self._m, n):
                raise ValueError("out has shape %s, want %s" % (out.shape, (b, self._m, n)))
            if not out.flags.writeable:
                raise ValueError("out is read-only")
            if np.may_share_memory(x, out):
                raise ValueError("x and out overlap")
        ld, strides = [], []
        for a, name in ((x, "x"), (out, "out")):
            if a.size == 0:
                ld.append(max(a.shape[2], 1))
                strides.append(0)
                continue
            sb = a.strides[0] if a.shape[0] > 1 else 0
            if sb % 4 or sb < 0:
                raise ValueError("%s has batch stride %d bytes, not a non-negative number of float32" % (name, sb))
            ld.append(_matrix(a[0], name, None, None))
            strides.append(sb // 4)
        _check(_lib.sg_mul_batch(h, _ptr(out), ld[1], strides[1], _ptr(x), ld[0], strides[0], n, b), "sg_mul_batch")
        return out

    def bind(self, x, out=None, tokens=False):
        """Checks x and out once and returns a callable that reruns the product on them:
        run = plan.bind(x, out); run() recomputes out from x's current contents and returns
        out. It costs one ctypes call per run (no numpy attribute lookups), for loops over
        fixed buffers. The callable keeps x and out alive; it raises once the plan is closed."""
        vec = isinstance(x, np.ndarray) and x.ndim == 1
        if tokens:
            if vec:
                _want_dtype(x, "x", np.float32)
                x = x.reshape(1, -1)
            n = x.shape[0] if isinstance(x, np.ndarray) and x.ndim == 2 else None
            dims = (None, self._k, n, self._m)
        else:
            if vec:
                _want_dtype(x, "x", np.float32)
                x = x.reshape(-1, 1)
            n = x.shape[1] if isinstance(x, np.ndarray) and x.ndim == 2 else None
            dims = (self._k, None, self._m, n)
        if out is None:
            out = np.zeros((dims[2], dims[3]), np.float32)
        fn = "sg_mul_tokens" if tokens else "sg_mul"
        y = self._run(fn, x, out, *dims, vec, fn)  # checks everything, runs once
        ldx = _matrix(x, "x", dims[0], dims[1])
        ldy = _matrix(y, "out", dims[2], dims[3])
        n = y.shape[1] if not tokens else y.shape[0]
        f, xp, yp, plan = getattr(_lib, fn), _ptr(x), _ptr(y), self
        result = y.reshape(-1) if vec else y

        def run():
            code = f(plan._h, yp, ldy, xp, ldx, n)
            if code:
                if plan._h == 0:
                    raise ValueError("plan is closed")
                _check(code, fn)
            return result

        run.x, run.out = x, y  # keep the buffers alive as long as run
        return run

    def __matmul__(self, x):
        return self.mul(x)

    # ---- inspecting and freeing -----------------------------------------------------------

    @property
    def shape(self):
        """(M, K) of the weight matrix."""
        return (self._m, self._k)

    @property
    def closed(self):
        return self._h == 0

    def describe(self):
        """What the library chose for which N, and what it did with the input."""
        h = self._handle()
        need = ctypes.c_size_t()
        _check(_lib.sg_plan_describe(h, None, 0, ctypes.byref(need)), "sg_plan_describe")
        buf = ctypes.create_string_buffer(need.value)
        _check(_lib.sg_plan_describe(h, buf, need.value, ctypes.byref(need)), "sg_plan_describe")
        return buf.value.decode("utf-8", "replace")

    def set_threads(self, n):
        """Sets the threads later calls use (0: the default); safe while other threads run."""
        _check(_lib.sg_plan_set_threads(self._handle(), _int(n, "threads", 0, MAX_THREADS)), "sg_plan_set_threads")

    def close(self):
        """Frees the plan; later calls raise ValueError. Closing twice is harmless."""
        h, self._h = getattr(self, "_h", 0), 0
        if h:
            _check(_lib.sg_plan_free(h), "sg_plan_free")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self):
        state = "closed" if self._h == 0 else "handle %#x" % self._h
        return "<sparsegen.Plan %d×%d, %s>" % (self._m, self._k, state)


def set_default_threads(n):
    """Sets the thread count of plans created later with threads=0; returns the old one."""
    lib = load_library()
    prev = ctypes.c_int32()
    n = _int(n, "threads", -_I32_MAX - 1, _I32_MAX)  # the library refuses what is outside 0 ... MAX_THREADS
    _check(lib.sg_set_default_threads(n, ctypes.byref(prev)), "sg_set_default_threads")
    return prev.value


def live_plans():
    """Plans alive in the library (not yet freed)."""
    return load_library().sg_live_plans()
