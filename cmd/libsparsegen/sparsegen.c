// The C side of the ABI: the public entry points of sparsegen.h are thin C wrappers around
// the Go exports (sgx_*). Keeping them in C gives the per-thread error message for free: the
// message lives in a C thread-local buffer, the wrapper clears it on success without calling
// into Go, and Go fills it (sgx_set_error) only on failure, from the same OS thread (a cgo
// callback runs on the thread that called it).

#include <math.h>
#include <string.h>

#include "_cgo_export.h"
#include "sparsegen.h"

#define SG_ERRBUF 1024

static __thread char sg_errbuf[SG_ERRBUF];

// sgx_set_error stores msg (n bytes, not NUL-terminated) as this thread's message, cut at a
// UTF-8 character boundary when it is longer than the buffer.
void sgx_set_error(const char *msg, size_t n) {
    if (n > SG_ERRBUF - 1) {
        n = SG_ERRBUF - 1;
        while (n > 0 && (((unsigned char)msg[n]) & 0xC0) == 0x80) {
            n--; // msg[n] continues a character: cut before it
        }
    }
    memcpy(sg_errbuf, msg, n);
    sg_errbuf[n] = 0;
}

static inline sg_status done(int rc) {
    if (rc == SG_OK) {
        sg_errbuf[0] = 0;
    }
    return (sg_status)rc;
}

const char *sg_last_error(void) { return sg_errbuf; }

uint32_t sg_abi_version(void) { return SG_ABI_VERSION; }

void sg_options_init(sg_options *o) {
    if (o == NULL) {
        return;
    }
    memset(o, 0, sizeof *o);
    o->struct_size = (uint32_t)sizeof *o;
    o->activation = SG_ACT_NONE;
    o->lo = -INFINITY;
    o->hi = INFINITY;
}

const char *sg_status_name(int s) {
    switch (s) {
    case SG_OK: return "SG_OK";
    case SG_ERR_NULL: return "SG_ERR_NULL";
    case SG_ERR_ARGUMENT: return "SG_ERR_ARGUMENT";
    case SG_ERR_MATRIX: return "SG_ERR_MATRIX";
    case SG_ERR_SHAPE: return "SG_ERR_SHAPE";
    case SG_ERR_HANDLE: return "SG_ERR_HANDLE";
    case SG_ERR_UNSUPPORTED: return "SG_ERR_UNSUPPORTED";
    case SG_ERR_RECORD: return "SG_ERR_RECORD";
    case SG_ERR_BUFFER: return "SG_ERR_BUFFER";
    case SG_ERR_NOMEM: return "SG_ERR_NOMEM";
    case SG_ERR_INTERNAL: return "SG_ERR_INTERNAL";
    }
    return "SG_UNKNOWN";
}

int64_t sg_nm_slots_per_row(int64_t k, int64_t keep, int64_t group) {
    if (k < 0 || keep < 1 || group < keep || group > 16) {
        return -1;
    }
    int64_t full = k / group, rest = k % group;
    return full * keep + (rest < keep ? rest : keep);
}

sg_status sg_plan_dense(sg_plan *out, int64_t m, int64_t k, const float *w, int64_t ldw,
                        const sg_options *opts) {
    return done(sgx_plan_dense(out, m, k, (float *)w, ldw, (sg_options *)opts));
}

sg_status sg_plan_dense_lp(sg_plan *out, int64_t m, int64_t k, sg_dtype dtype, const void *w,
                           int64_t ldw, const float *scale, int64_t scale_len,
                           const sg_options *opts) {
    return done(sgx_plan_dense_lp(out, m, k, (int)dtype, (void *)w, ldw, (float *)scale,
                                  scale_len, (sg_options *)opts));
}

sg_status sg_plan_csr(sg_plan *out, int64_t m, int64_t k, int64_t nnz, const void *indptr,
                      sg_index_type indptr_type, const void *indices, sg_index_type indices_type,
                      const float *data, const sg_options *opts) {
    return done(sgx_plan_csr(out, m, k, nnz, (void *)indptr, (int)indptr_type, (void *)indices,
                             (int)indices_type, (float *)data, (sg_options *)opts));
}

sg_status sg_plan_csr_lp(sg_plan *out, int64_t m, int64_t k, int64_t nnz, const void *indptr,
                         sg_index_type indptr_type, const void *indices,
                         sg_index_type indices_type, sg_dtype dtype, const void *data,
                         const float *scale, int64_t scale_len, const sg_options *opts) {
    return done(sgx_plan_csr_lp(out, m, k, nnz, (void *)indptr, (int)indptr_type, (void *)indices,
                                (int)indices_type, (int)dtype, (void *)data, (float *)scale,
                                scale_len, (sg_options *)opts));
}

sg_status sg_plan_bsr(sg_plan *out, int64_t m, int64_t k, int64_t r, int64_t c, int64_t nblocks,
                      const void *indptr, sg_index_type indptr_type, const void *indices,
                      sg_index_type indices_type, const float *data, const sg_options *opts) {
    return done(sgx_plan_bsr(out, m, k, r, c, nblocks, (void *)indptr, (int)indptr_type,
                             (void *)indices, (int)indices_type, (float *)data,
                             (sg_options *)opts));
}

sg_status sg_plan_nm(sg_plan *out, int64_t m, int64_t k, int64_t keep, int64_t group,
                     const float *val, const uint8_t *pos, int64_t len, const sg_options *opts) {
    return done(sgx_plan_nm(out, m, k, keep, group, (float *)val, (uint8_t *)pos, len,
                            (sg_options *)opts));
}

sg_status sg_plan_bsr_lp(sg_plan *out, int64_t m, int64_t k, int64_t r, int64_t c,
                         int64_t nblocks, const void *indptr, sg_index_type indptr_type,
                         const void *indices, sg_index_type indices_type, sg_dtype dtype,
                         const void *data, const float *scale, int64_t scale_len,
                         const sg_options *opts) {
    return done(sgx_plan_bsr_lp(out, m, k, r, c, nblocks, (void *)indptr, (int)indptr_type,
                                (void *)indices, (int)indices_type, (int)dtype, (void *)data,
                                (float *)scale, scale_len, (sg_options *)opts));
}

sg_status sg_plan_nm_lp(sg_plan *out, int64_t m, int64_t k, int64_t keep, int64_t group,
                        sg_dtype dtype, const void *val, const float *scale, int64_t scale_len,
                        const uint8_t *pos, int64_t len, const sg_options *opts) {
    return done(sgx_plan_nm_lp(out, m, k, keep, group, (int)dtype, (void *)val, (float *)scale,
                               scale_len, (uint8_t *)pos, len, (sg_options *)opts));
}

sg_status sg_mul(sg_plan plan, float *y, int64_t ldy, const float *x, int64_t ldx, int64_t n) {
    return done(sgx_mul(plan, y, ldy, (float *)x, ldx, n, 0));
}

sg_status sg_mul_tokens(sg_plan plan, float *y, int64_t ldy, const float *x, int64_t ldx,
                        int64_t n) {
    return done(sgx_mul(plan, y, ldy, (float *)x, ldx, n, 1));
}

sg_status sg_mul_batch(sg_plan plan, float *y, int64_t ldy, int64_t stride_y, const float *x,
                       int64_t ldx, int64_t stride_x, int64_t n, int64_t batch) {
    return done(sgx_mul_batch(plan, y, ldy, stride_y, (float *)x, ldx, stride_x, n, batch));
}

sg_status sg_plan_shape(sg_plan plan, int64_t *m, int64_t *k) {
    return done(sgx_plan_shape(plan, m, k));
}

sg_status sg_plan_describe(sg_plan plan, char *buf, size_t cap, size_t *needed) {
    return done(sgx_plan_describe(plan, buf, cap, needed));
}

sg_status sg_plan_free(sg_plan plan) { return done(sgx_plan_free(plan)); }

sg_status sg_plan_set_threads(sg_plan plan, int32_t threads) {
    return done(sgx_plan_set_threads(plan, threads));
}

sg_status sg_set_default_threads(int32_t threads, int32_t *previous) {
    return done(sgx_set_default_threads(threads, previous));
}

int64_t sg_live_plans(void) { return sgx_live_plans(); }
