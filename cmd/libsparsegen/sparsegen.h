/*
 * sparsegen.h: the C ABI of sparsegen, sparse neural-network kernels for CPUs.
 *
 *   Y = act(W·X + bias [+ Y])        W: M×K sparse weights, X: K×N, Y: M×N (channel-major)
 *   Y = act(X·Wᵀ + bias [+ Y])       X: N×K, Y: N×M                       (token-major)
 *
 * Build (from the repository root; see cmd/libsparsegen/README.md):
 *   go build -buildmode=c-shared  -o libsparsegen.so ./cmd/libsparsegen
 *   go build -buildmode=c-archive -o libsparsegen.a  ./cmd/libsparsegen
 *   gcc -I cmd/libsparsegen app.c -L. -lsparsegen                     (shared)
 *   gcc -I cmd/libsparsegen app.c libsparsegen.a -lpthread -lm         (static)
 *
 * Use: compile a plan once from the weights (sg_plan_dense / _dense_lp / _csr / _csr_lp /
 * _bsr / _bsr_lp / _nm / _nm_lp), run it many times (sg_mul, sg_mul_tokens, sg_mul_batch), free it
 * (sg_plan_free).
 *
 * Conventions that hold for every function below
 * ------------------------------------------------
 * Status: every function that can fail returns an sg_status; SG_OK (0) is success. No Go
 *   panic ever crosses into C: a panic in library code on the calling thread is caught and
 *   reported as SG_ERR_INTERNAL, and one inside the library's worker threads (which run parts
 *   of a multi-threaded call) is caught there and fails that call with an error status.
 *   (Exhausting memory, or passing pointers that do not point to as many values as the
 *   arguments say, can still bring the process down, as in any C library.)
 * Messages: sg_last_error() returns the message of the most recent call *on the calling
 *   thread*; it is thread-local, like errno, so concurrent threads never see each other's
 *   messages. Every status-returning call sets it: to "" on SG_OK, to a sentence naming the
 *   argument and the broken rule otherwise.
 * Ownership: the library never keeps a pointer to caller memory after a call returns. Plan
 *   creation copies (and packs) the weights and the bias; the caller may free or reuse its
 *   arrays as soon as the call returns. Output pointers (sg_plan *out, char *buf, ...) are
 *   written only during the call. Strings returned as const char * belong to the library.
 * Handles: an sg_plan is an opaque nonzero 64-bit number, not a pointer. 0 is never a valid
 *   plan. A handle that was freed stays invalid forever (calls report SG_ERR_HANDLE); it is
 *   not reused for a later plan within the process' first 2^32 plans per slot.
 * Threads: every function may be called from any number of threads at once, including many
 *   threads running one plan concurrently (each call with its own X and Y). A plan may even
 *   be freed while other threads run it: calls already running finish normally, calls that
 *   start after sg_plan_free report SG_ERR_HANDLE, and the memory becomes free (to Go's
 *   garbage collector) once the last running call returns. The first call made on a new host thread costs more (the Go runtime
 *   binds the thread once; see the README for measured figures); later calls do not.
 * Sizes: counts, dimensions and leading dimensions are int64_t; negative values are
 *   SG_ERR_ARGUMENT when creating a plan and SG_ERR_SHAPE when running one. Matrices are row-major; a leading dimension (ld) is the distance, in
 *   elements, between consecutive rows. Operands of one call must not overlap (X and Y, the
 *   weight arrays and the output pointer).
 * Numerics: results are within 2(k+1)·eps·Σ|w·x| of the exact product (k = stored weights in
 *   the row) and bitwise identical for any thread count and any N split. NaN and Inf follow
 *   scipy.sparse for every kernel, N, layout and thread count: stored weights multiply by
 *   IEEE rules (a stored zero times Inf is NaN), absent ones contribute nothing, and zeros
 *   the library adds when it packs W never turn a finite result into NaN. A call whose X
 *   holds NaN or Inf runs on a slower, single-threaded path that implements this rule.
 */
#ifndef SPARSEGEN_H
#define SPARSEGEN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The ABI version this header describes; sg_abi_version() returns the library's. */
#define SG_ABI_VERSION 1

/* The most threads a plan may use (sg_options.threads, sg_plan_set_threads,
   sg_set_default_threads). */
#define SG_MAX_THREADS 4096

/* Status codes. New codes may be added; treat unknown nonzero codes as failures. */
typedef enum sg_status {
    SG_OK = 0,
    SG_ERR_NULL = 1,        /* a required pointer argument is NULL */
    SG_ERR_ARGUMENT = 2,    /* an argument is out of range: negative size, unknown enum or
                               activation, bad clamp bounds, bias of the wrong length,
                               sg_options.struct_size too small, unknown ISA name */
    SG_ERR_MATRIX = 3,      /* the weight arrays are not a valid matrix: indptr not monotone
                               or not starting at 0, an index outside [0, K), an N:M position
                               outside its group, nonzero BSR padding past M or K, ... */
    SG_ERR_SHAPE = 4,       /* X or Y do not fit the plan: ld < N, or a size overflows */
    SG_ERR_HANDLE = 5,      /* the plan handle is 0, unknown, or already freed */
    SG_ERR_UNSUPPORTED = 6, /* the requested ISA is not available on this CPU */
    SG_ERR_RECORD = 7,      /* the tuning record file cannot be opened or read */
    SG_ERR_BUFFER = 8,      /* the caller's buffer is too small; *needed says how big */
    SG_ERR_NOMEM = 9,       /* the requested sizes are too large to allocate */
    SG_ERR_INTERNAL = 10    /* a bug in the library, caught before it reached the caller */
} sg_status;

/* Activations of the fused epilogue (values are stable). */
typedef enum sg_activation {
    SG_ACT_NONE = 0,
    SG_ACT_RELU = 1,  /* max(x, 0) */
    SG_ACT_CLAMP = 2, /* min(max(x, lo), hi); needs lo <= hi */
    SG_ACT_GELU = 3,  /* x·Φ(x), exact erf form */
    SG_ACT_SILU = 4   /* x·σ(x) */
} sg_activation;

/* Element type of an index array; the value is its width in bytes (numpy: dtype.itemsize).
   scipy.sparse holds indptr and indices as int32 or int64. */
typedef enum sg_index_type {
    SG_INDEX_INT32 = 4,
    SG_INDEX_INT64 = 8
} sg_index_type;

/* Element type of low-precision weights (sg_plan_dense_lp, sg_plan_csr_lp, sg_plan_bsr_lp,
   sg_plan_nm_lp; values are stable). */
typedef enum sg_dtype {
    SG_DTYPE_BF16 = 1, /* bfloat16 bit patterns in uint16_t (the high half of a float32;
                          numpy has no bfloat16: pass the uint16 view) */
    SG_DTYPE_F16 = 2,  /* IEEE 754 binary16 bit patterns in uint16_t (numpy float16) */
    SG_DTYPE_I8 = 3    /* int8_t values q with one float32 scale per row: w = scale[i]·q */
} sg_dtype;

/* A compiled plan: an opaque handle, 0 = none. */
typedef uint64_t sg_plan;

/* Options for plan creation. Always start from sg_options_init(), then set fields:
 *
 *   sg_options o; sg_options_init(&o); o.activation = SG_ACT_RELU;
 *
 * The struct may grow at its end in later ABI versions; struct_size tells the library which
 * fields the caller knows. Passing NULL where an sg_options pointer is expected means the
 * defaults. Nothing is retained: bias, isa and record_path are read during the call only. */
typedef struct sg_options {
    uint32_t struct_size;    /* sizeof(sg_options), set by sg_options_init */
    int32_t activation;      /* an sg_activation; default SG_ACT_NONE */
    float lo, hi;            /* clamp bounds for SG_ACT_CLAMP; default -inf, +inf */
    const float *bias;       /* M values added to each output row, copied; NULL = none */
    int64_t bias_len;        /* number of values at bias; must equal M when bias != NULL */
    int32_t accumulate;      /* nonzero: Y = act(W·X + bias + Y) (β = 1); default 0 */
    int32_t threads;         /* threads per call, fixed for the plan's life; 0 = the default
                                (see sg_set_default_threads); 0 ... SG_MAX_THREADS */
    const char *isa;         /* highest ISA to use: "generic", "avx2", "avx512", "neon";
                                NULL or "" = $SPARSEGEN_ISA, else the best the CPU has.
                                Naming an ISA the CPU lacks is SG_ERR_UNSUPPORTED. */
    const char *record_path; /* a tuning record written by `sparsegen tune`; NULL or "" =
                                none. A record for another machine is ignored (the plan's
                                description says so); an unreadable file is SG_ERR_RECORD. */
    const char *format;      /* force the packed format: "dense", "csr", "bsrRxC" (e.g.
                                "bsr4x1") or "nmK:G" (e.g. "nm2:4"); NULL or "" = choose
                                automatically. W must conform to an N:M format forced. */
} sg_options;

/* Fills *opts with the defaults (struct_size included). Never fails; NULL is ignored. */
void sg_options_init(sg_options *opts);

/* The ABI version of the loaded library (SG_ABI_VERSION of the header it was built with). */
uint32_t sg_abi_version(void);

/* A static name for a status code, e.g. "SG_ERR_SHAPE"; "SG_UNKNOWN" for other values. */
const char *sg_status_name(int status);

/* The message of the calling thread's most recent status-returning call: "" after SG_OK.
   The string belongs to the library and stays valid until the next sg_ call on this thread.
   Messages longer than 1023 bytes are truncated (at a UTF-8 character boundary). */
const char *sg_last_error(void);

/* ---- Plan creation. On success *out receives a new handle; on failure *out = 0. ---------- */

/* Dense W: M×K row-major with leading dimension ldw >= K (ldw may be anything >= 1 when
   M = 0 or K = 0). w may be NULL only when M·K = 0. */
sg_status sg_plan_dense(sg_plan *out, int64_t m, int64_t k, const float *w, int64_t ldw,
                        const sg_options *opts);

/* Dense W stored in low precision, kept in it: the plan holds 2 bytes per weight (bf16,
 * f16) or 1 byte plus a float32 scale per row (int8), never a widened float32 copy, and runs
 * the low-precision GEMV (widened in registers, float32 accumulation; N > 4 in passes of 4
 * columns, correct at any N but slower there than a float32 plan). X, Y, bias and the
 * epilogue stay float32. w: M×K row-major, leading dimension ldw >= K in elements, of
 * uint16_t (SG_DTYPE_BF16, SG_DTYPE_F16) or int8_t (SG_DTYPE_I8). scale: for SG_DTYPE_I8,
 * scale_len = M finite float32 values (a NaN or Inf scale is SG_ERR_MATRIX); for 16-bit
 * dtypes scale must be NULL and scale_len 0. NaN and Inf stored in bf16/f16 weights follow
 * the IEEE rules above. An unknown dtype is SG_ERR_ARGUMENT; opts->format, if set, must be
 * "dense" or the dtype's own ("dense_bf16", "dense_f16", "dense_i8"): other formats would
 * need a conversion this call never makes. Nothing is converted: to quantize float32 weights,
 * round them yourself (or with `sparsegen prune -dtype`). w may be NULL only when M·K = 0. */
sg_status sg_plan_dense_lp(sg_plan *out, int64_t m, int64_t k, sg_dtype dtype, const void *w,
                           int64_t ldw, const float *scale, int64_t scale_len,
                           const sg_options *opts);

/* CSR W, laid out as scipy.sparse.csr_matrix holds it: indptr (M+1 values), indices and data
 * (nnz values each: the length of the caller's arrays; indptr[M] <= nnz, entries past
 * indptr[M] are ignored). indptr and indices are each int32 or int64 (indptr_type,
 * indices_type). Requirements: indptr[0] = 0, indptr nondecreasing, 0 <= indices < K,
 * K < 2^31. Canonicalization, reported by sg_plan_describe: column indices unsorted within a
 * row are sorted, duplicates are summed (scipy's sum_duplicates semantics), int64 indices are
 * narrowed with a range check. Stored zeros are allowed. indices/data may be NULL when
 * nnz = 0. */
sg_status sg_plan_csr(sg_plan *out, int64_t m, int64_t k, int64_t nnz,
                      const void *indptr, sg_index_type indptr_type,
                      const void *indices, sg_index_type indices_type,
                      const float *data, const sg_options *opts);

/* CSR W whose values are stored in low precision, kept in it (as sg_plan_dense_lp: the plan
 * holds 2 bytes per value (bf16, f16) or 1 byte plus a float32 scale per row (int8) beside
 * the indices, never a widened float32 copy, and runs the low-precision SpMV at N = 1 and
 * CSR tiles at N >= 2). indptr, indices, nnz and their canonicalization are sg_plan_csr's;
 * data holds nnz values of uint16_t (SG_DTYPE_BF16: bfloat16 bits, the uint16 view of a
 * numpy array; SG_DTYPE_F16: numpy float16) or int8_t (SG_DTYPE_I8, w = scale[row]·q).
 * scale: for SG_DTYPE_I8, scale_len = M finite float32 values (a NaN or Inf scale is
 * SG_ERR_MATRIX); for 16-bit dtypes NULL and 0. Duplicates are summed without leaving the
 * dtype: bf16/f16 in float64, the sum rounded once to the dtype; int8 exactly (they share
 * their row's scale; a sum outside -128 … 127 is SG_ERR_MATRIX). An unknown
 * dtype is SG_ERR_ARGUMENT; opts->format, if set, must be "csr" or the dtype's own
 * ("csr_bf16", "csr_f16", "csr_i8"). data may be NULL when nnz = 0. */
sg_status sg_plan_csr_lp(sg_plan *out, int64_t m, int64_t k, int64_t nnz,
                         const void *indptr, sg_index_type indptr_type,
                         const void *indices, sg_index_type indices_type,
                         sg_dtype dtype, const void *data, const float *scale, int64_t scale_len,
                         const sg_options *opts);

/* BSR W with r×c blocks, laid out as scipy.sparse.bsr_matrix holds it: indptr (⌈M/r⌉+1
 * values, over block rows), indices (nblocks block-column indices, 0 <= j < ⌈K/c⌉) and data
 * (nblocks full r×c blocks, each row-major: nblocks·r·c floats). 1 <= r, c <= 64. M and K
 * need not be multiples of r and c (unlike scipy): a block on the ragged last block row or
 * column keeps its r×c layout in data, and its values past row M or column K must be zero
 * (SG_ERR_MATRIX otherwise). Unsorted block columns are sorted and duplicate blocks summed.
 * indptr[⌈M/r⌉] <= nblocks; blocks past it are ignored. */
sg_status sg_plan_bsr(sg_plan *out, int64_t m, int64_t k, int64_t r, int64_t c,
                      int64_t nblocks, const void *indptr, sg_index_type indptr_type,
                      const void *indices, sg_index_type indices_type,
                      const float *data, const sg_options *opts);

/* Slots per row of an N:M (keep of every group) matrix with K columns: a full group has
   keep slots, a last partial group of r = K mod group columns has min(keep, r) slots.
   Returns -1 for invalid arguments (k < 0, not 1 <= keep <= group <= 16). */
int64_t sg_nm_slots_per_row(int64_t k, int64_t keep, int64_t group);

/* N:M W ("keep of every group consecutive weights along K", 1 <= keep <= group <= 16):
 * M rows of S = sg_nm_slots_per_row(K, keep, group) slots each, row-major: val[i·S + s] is
 * the value of slot s of row i and pos[i·S + s] its position inside its group (0 <= pos <
 * group width, strictly increasing within a group). A group with fewer nonzeros fills its
 * spare slots with zero values at unused positions. len must equal M·S. */
sg_status sg_plan_nm(sg_plan *out, int64_t m, int64_t k, int64_t keep, int64_t group,
                     const float *val, const uint8_t *pos, int64_t len,
                     const sg_options *opts);

/* BSR W whose block values are stored in low precision, kept in it (as sg_plan_csr_lp: the
 * plan holds 2 bytes per value (bf16, f16) or 1 byte plus a float32 scale per matrix row
 * (int8), never a widened float32 copy, and runs its dtype's BSR kernels at every N).
 * indptr, indices, nblocks, the r×c block layout, the ragged-edge rule (values past M or K
 * must be +-0) and the canonicalization are sg_plan_bsr's; data holds nblocks·r·c values of
 * uint16_t (SG_DTYPE_BF16 bits, SG_DTYPE_F16) or int8_t (SG_DTYPE_I8, w = scale[row]·q with
 * scale_len = M finite floats: one per matrix row, not per block row). Duplicate blocks are
 * summed without leaving the dtype, as sg_plan_csr_lp sums duplicate entries. opts->format,
 * if set, must be "bsr" or the dtype's own. */
sg_status sg_plan_bsr_lp(sg_plan *out, int64_t m, int64_t k, int64_t r, int64_t c,
                         int64_t nblocks, const void *indptr, sg_index_type indptr_type,
                         const void *indices, sg_index_type indices_type, sg_dtype dtype,
                         const void *data, const float *scale, int64_t scale_len,
                         const sg_options *opts);

/* N:M W whose slot values are stored in low precision, kept in it: the slots, positions and
 * len of sg_plan_nm, with val holding len values of uint16_t (SG_DTYPE_BF16 bits,
 * SG_DTYPE_F16) or int8_t (SG_DTYPE_I8, w = scale[row]·q with scale_len = M finite floats).
 * Spare slots hold +-0. The plan runs its dtype's N:M kernels at every N. */
sg_status sg_plan_nm_lp(sg_plan *out, int64_t m, int64_t k, int64_t keep, int64_t group,
                        sg_dtype dtype, const void *val, const float *scale, int64_t scale_len,
                        const uint8_t *pos, int64_t len, const sg_options *opts);

/* ---- Running a plan ---------------------------------------------------------------------- */

/* Channel-major: Y (M×N, leading dimension ldy >= N) = act(W·X + bias [+ Y]) with X K×N
   (ldx >= N). n = 0 is a no-op. x and y may be NULL only when there is nothing to read or
   write. X is only read; Y is only written (read too with accumulate). */
sg_status sg_mul(sg_plan plan, float *y, int64_t ldy, const float *x, int64_t ldx, int64_t n);

/* Token-major: Y (N×M, ldy >= M) = act(X·Wᵀ + bias [+ Y]) with X N×K (ldx >= K): n tokens of
   K features in, n tokens of M features out. */
sg_status sg_mul_tokens(sg_plan plan, float *y, int64_t ldy, const float *x, int64_t ldx,
                        int64_t n);

/* Channel-major over a batch (NCHW with batch > 1, 1×1 convolutions): item b reads X at
   x + b·stride_x (K×N, ldx) and writes Y at y + b·stride_y (M×N, ldy). X items may overlap
   (stride_x = 0 reuses one X); Y items must not (SG_ERR_SHAPE): stride_y >= (M−1)·ldy + N, or
   items side by side within rows (stride_y >= N and (batch−1)·stride_y + N <= ldy). */
sg_status sg_mul_batch(sg_plan plan, float *y, int64_t ldy, int64_t stride_y, const float *x,
                       int64_t ldx, int64_t stride_x, int64_t n, int64_t batch);

/* ---- Inspecting and managing a plan ------------------------------------------------------ */

/* The plan's shape: *m = M (outputs), *k = K (inputs). Either pointer may be NULL. */
sg_status sg_plan_shape(sg_plan plan, int64_t *m, int64_t *k);

/* A human-readable description: the input format and its canonicalization, what was chosen
 * for which N and why, threads, ISA, and where the policy's coefficients came from ("policy:
 * shipped table" or "policy: calibration FILE"; the calibration `sparsegen calibrate` wrote
 * for this machine is used automatically, $SPARSEGEN_CALIBRATION names another file or
 * "off"). Writes at most cap bytes including the terminating NUL
 * to buf. *needed (if not NULL) receives the full length including the NUL. Size query:
 * buf = NULL and cap = 0 writes only *needed (required then) and returns SG_OK. When
 * 0 < cap < *needed, nothing is written to buf and the call returns SG_ERR_BUFFER. The text
 * is fixed for the plan's life. */
sg_status sg_plan_describe(sg_plan plan, char *buf, size_t cap, size_t *needed);

/* Frees the plan. Freeing 0 is SG_OK (like free(NULL)); freeing a freed or unknown handle is
   SG_ERR_HANDLE. See "Threads" above for frees that race with running calls. */
sg_status sg_plan_free(sg_plan plan);

/* Sets the number of threads later calls of this plan use (0: the default count). Safe while
   other threads run the plan: each call reads the count once when it starts; results are
   bitwise the same for every count. SG_ERR_ARGUMENT outside 0 ... SG_MAX_THREADS. */
sg_status sg_plan_set_threads(sg_plan plan, int32_t threads);

/* The thread count that plans created later with threads = 0 use (it is Go's GOMAXPROCS,
   which also bounds how many threads run library code at once): 1 <= threads <=
   SG_MAX_THREADS sets it, 0 restores the default (the CPUs the process may use; plans use
   at most SG_MAX_THREADS). SG_ERR_ARGUMENT outside 0 ... SG_MAX_THREADS (Go stops a
   process that runs more than 10000 threads). Plans already created keep their count. *previous (if not NULL) receives the
   value before the call. */
sg_status sg_set_default_threads(int32_t threads, int32_t *previous);

/* The number of plans currently alive (not yet freed), for leak checks. */
int64_t sg_live_plans(void);

#ifdef __cplusplus
}
#endif

#endif /* SPARSEGEN_H */
