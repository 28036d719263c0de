// lowp.c: weights stored in low precision from C: dense (sg_plan_dense_lp), CSR
// (sg_plan_csr_lp), BSR (sg_plan_bsr_lp) and N:M (sg_plan_nm_lp). Builds one random M×K
// weight matrix, stores it as bfloat16 bits, IEEE float16 bits and int8 with a float32 scale
// per row (rounded here, to nearest even, as `sparsegen prune -dtype` does): dense, pruned
// to a random CSR pattern (each dtype with other index types), to 4×3 blocks with a ragged
// last block column, and to 2:4. It runs each plan channel-major (N = 1 and N = 16) and
// token-major, and compares the results with a float32 reference computed from the
// *widened* stored weights, so the only error left is the kernel's float32 accumulation.
// Then it shows the errors: a bad dtype code, a NaN scale, a missing scale, a scale for
// bf16, a short scale vector or slot count, a NULL array, a format the dtype cannot take.
//
//   go build -buildmode=c-shared -o libsparsegen.so ./cmd/libsparsegen
//   gcc -O2 -I cmd/libsparsegen cmd/libsparsegen/examples/c/lowp.c -L. -lsparsegen -lm
//   LD_LIBRARY_PATH=. ./a.out
//
// Exit status 0 when every check passes.

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sparsegen.h"

static int failures = 0;

#define CHECK(cond, ...)                                                                  \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                          \
            fprintf(stderr, __VA_ARGS__);                                                 \
            fprintf(stderr, "\n");                                                        \
            failures++;                                                                   \
        }                                                                                 \
    } while (0)

static uint64_t rng = 0x243F6A8885A308D3ull;
static float frand(void) { // uniform [-1, 1), xorshift64*
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return (float)(2.0 * (double)((rng * 0x2545F4914F6CDD1Dull) >> 11) / 9007199254740992.0 - 1);
}

static uint32_t bits_of(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}
static float float_of(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

// bf16 <-> float32, round to nearest even (finite inputs).
static uint16_t to_bf16(float f) {
    uint32_t u = bits_of(f);
    u += 0x7fff + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}
static float from_bf16(uint16_t b) { return float_of((uint32_t)b << 16); }

// float16 <-> float32 for the normal range the example uses (|w| in [2^-14, 65504]) and 0.
static uint16_t to_f16(float f) {
    uint32_t u = bits_of(f), sign = (u >> 16) & 0x8000, a = u & 0x7fffffff;
    if (a < 0x38800000) { // below f16's normal range: the example rounds such weights to 0
        return (uint16_t)sign;
    }
    uint32_t r = a - 0x38000000; // rebias 127 -> 15
    r += 0xfff + ((r >> 13) & 1);
    return (uint16_t)(sign | (r >> 13));
}
static float from_f16(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ff;
    if (e == 0 && m == 0) {
        return float_of(sign);
    }
    return float_of(sign | (e + 112) << 23 | m << 13);
}

enum { M = 96, K = 200, LDW = 208, NMAX = 16 };

// check compares y (rows×cols, ld) with ref within 1e-5·(Σ|w·x| + 1) per output.
static void check(const char *what, const float *y, const double *ref, const double *mag,
                  int rows, int cols) {
    int bad = 0;
    for (int i = 0; i < rows * cols; i++) {
        if (fabs(y[i] - ref[i]) > 1e-5 * (mag[i] + 1)) {
            if (bad++ < 3) {
                fprintf(stderr, "%s: y[%d] = %g, want %g\n", what, i, y[i], ref[i]);
            }
        }
    }
    CHECK(bad == 0, "%s: %d of %d outputs wrong", what, bad, rows * cols);
}

// check_plan runs plan p (W M×K, whose widened weights are wide) channel-major at N = 1 and
// NMAX and token-major at NMAX, compares each with the float64 product of wide, checks that
// its description names the dtype, and frees it.
static void check_plan(const char *name, sg_plan p, const float *wide, const float *x, float *y,
                       double *ref, double *mag) {
    sg_status s;
    const int ns[2] = {1, NMAX};
    for (int c = 0; c < 2; c++) {
        int n = ns[c];
        for (int i = 0; i < M; i++) {
            for (int jn = 0; jn < n; jn++) {
                double acc = 0, a = 0;
                for (int j = 0; j < K; j++) {
                    double v = (double)wide[i * K + j] * x[j * n + jn];
                    acc += v;
                    a += fabs(v);
                }
                ref[i * n + jn] = acc, mag[i * n + jn] = a;
            }
        }
        char what[64];
        snprintf(what, sizeof what, "%s N=%d channel-major", name, n);
        s = sg_mul(p, y, n, x, n, n);
        CHECK(s == SG_OK, "%s: %s", what, sg_last_error());
        check(what, y, ref, mag, M, n);
        if (n == NMAX) { // token-major: X N×K is the transpose of the channel-major X
            float *xt = malloc(sizeof(float) * K * n), *yt = malloc(sizeof(float) * M * n);
            for (int j = 0; j < K; j++) {
                for (int jn = 0; jn < n; jn++) {
                    xt[jn * K + j] = x[j * n + jn];
                }
            }
            s = sg_mul_tokens(p, yt, M, xt, K, n);
            CHECK(s == SG_OK, "%s token-major: %s", name, sg_last_error());
            for (int i = 0; i < M; i++) {
                for (int jn = 0; jn < n; jn++) {
                    y[i * n + jn] = yt[jn * M + i];
                }
            }
            snprintf(what, sizeof what, "%s N=%d token-major", name, n);
            check(what, y, ref, mag, M, n);
            free(xt), free(yt);
        }
    }
    size_t need = 0;
    sg_plan_describe(p, NULL, 0, &need);
    char *d = malloc(need);
    sg_plan_describe(p, d, need, NULL);
    CHECK(strstr(d, name) != NULL, "%s plan's description does not name its dtype:\n%s",
          name, d);
    printf("%s: ok; %.*s\n", name, (int)strcspn(d, "\n"), d);
    free(d);
    sg_plan_free(p);
}

int main(void) {
    float *w = malloc(sizeof(float) * M * K);
    for (int i = 0; i < M * K; i++) {
        w[i] = frand() * 4;
    }
    float *x = malloc(sizeof(float) * K * NMAX), *y = malloc(sizeof(float) * M * NMAX);
    for (int i = 0; i < K * NMAX; i++) {
        x[i] = frand();
    }
    // The three stored forms, with a padded row (ldw = 208 > K) and their widened copies.
    uint16_t *bf = calloc((size_t)M * LDW, 2), *hf = calloc((size_t)M * LDW, 2);
    int8_t *q = calloc((size_t)M * LDW, 1);
    float *scale = malloc(sizeof(float) * M);
    float *wide[3];
    for (int t = 0; t < 3; t++) {
        wide[t] = malloc(sizeof(float) * M * K);
    }
    for (int i = 0; i < M; i++) {
        float amax = 0;
        for (int j = 0; j < K; j++) {
            amax = fmaxf(amax, fabsf(w[i * K + j]));
        }
        scale[i] = amax / 127;
        for (int j = 0; j < K; j++) {
            float v = w[i * K + j];
            bf[i * LDW + j] = to_bf16(v);
            hf[i * LDW + j] = to_f16(v);
            q[i * LDW + j] = (int8_t)nearbyintf(v / scale[i]);
            wide[0][i * K + j] = from_bf16(bf[i * LDW + j]);
            wide[1][i * K + j] = from_f16(hf[i * LDW + j]);
            wide[2][i * K + j] = scale[i] * (float)q[i * LDW + j];
        }
    }
    static const char *names[3] = {"bf16", "f16", "i8"};
    static const sg_dtype dts[3] = {SG_DTYPE_BF16, SG_DTYPE_F16, SG_DTYPE_I8};
    const void *stored[3] = {bf, hf, q};
    double *ref = malloc(sizeof(double) * M * NMAX), *mag = malloc(sizeof(double) * M * NMAX);
    for (int t = 0; t < 3; t++) {
        sg_plan p = 0;
        sg_status s = sg_plan_dense_lp(&p, M, K, dts[t], stored[t], LDW, t == 2 ? scale : NULL,
                                       t == 2 ? M : 0, NULL);
        CHECK(s == SG_OK, "sg_plan_dense_lp(%s) = %s: %s", names[t], sg_status_name(s),
              sg_last_error());
        if (s != SG_OK) {
            continue;
        }
        check_plan(names[t], p, wide[t], x, y, ref, mag);
    }

    // CSR: about a quarter of the weights kept (rows 3 and 50 empty), in each dtype, with
    // int32 or int64 indices; int8 scales are max|w|/127 over each row's kept weights.
    int32_t *ptr32 = malloc(sizeof(int32_t) * (M + 1)), *col32 = malloc(sizeof(int32_t) * M * K);
    int64_t *ptr64 = malloc(sizeof(int64_t) * (M + 1)), *col64 = malloc(sizeof(int64_t) * M * K);
    uint16_t *cbf = malloc(2 * (size_t)M * K), *chf = malloc(2 * (size_t)M * K);
    int8_t *cq = malloc((size_t)M * K);
    float *cscale = malloc(sizeof(float) * M);
    int64_t nnz = 0;
    for (int t = 0; t < 3; t++) {
        memset(wide[t], 0, sizeof(float) * M * K);
    }
    ptr32[0] = 0, ptr64[0] = 0;
    for (int i = 0; i < M; i++) {
        int64_t start = nnz;
        float amax = 0;
        for (int j = 0; j < K; j++) {
            if (i == 3 || i == 50 || frand() < 0.5f) {
                continue;
            }
            float v = w[i * K + j];
            amax = fmaxf(amax, fabsf(v));
            col32[nnz] = j, col64[nnz] = j;
            cbf[nnz] = to_bf16(v), chf[nnz] = to_f16(v);
            wide[0][i * K + j] = from_bf16(cbf[nnz]);
            wide[1][i * K + j] = from_f16(chf[nnz]);
            nnz++;
        }
        cscale[i] = amax / 127;
        for (int64_t e = start; e < nnz; e++) {
            int j = col32[e];
            cq[e] = cscale[i] == 0 ? 0 : (int8_t)nearbyintf(w[i * K + j] / cscale[i]);
            wide[2][i * K + j] = cscale[i] * (float)cq[e];
        }
        ptr32[i + 1] = (int32_t)nnz, ptr64[i + 1] = nnz;
    }
    static const char *csr_names[3] = {"csr bf16", "csr f16", "csr i8"};
    const void *cstored[3] = {cbf, chf, cq};
    for (int t = 0; t < 3; t++) {
        sg_plan p = 0;
        // bf16: int32 indptr and indices; f16: int64 both; i8: int32 indptr, int64 indices.
        const void *ip = t == 1 ? (const void *)ptr64 : (const void *)ptr32;
        const void *ix = t == 0 ? (const void *)col32 : (const void *)col64;
        sg_status s = sg_plan_csr_lp(&p, M, K, nnz, ip, t == 1 ? SG_INDEX_INT64 : SG_INDEX_INT32,
                                     ix, t == 0 ? SG_INDEX_INT32 : SG_INDEX_INT64, dts[t],
                                     cstored[t], t == 2 ? cscale : NULL, t == 2 ? M : 0, NULL);
        CHECK(s == SG_OK, "sg_plan_csr_lp(%s) = %s: %s", names[t], sg_status_name(s),
              sg_last_error());
        if (s != SG_OK) {
            continue;
        }
        check_plan(csr_names[t], p, wide[t], x, y, ref, mag);
    }

    // BSR: 4×3 blocks, about a third of them kept; the last block column is ragged (K = 200
    // = 66·3 + 2), so its third column lies past K and holds zeros. int8 scales are one per
    // matrix row, max|w|/127 over the row's kept weights.
    enum { BR = 4, BC = 3, NBR = M / BR, NBC = (K + BC - 1) / BC };
    int32_t *bptr = malloc(sizeof(int32_t) * (NBR + 1)), *bcol = malloc(sizeof(int32_t) * NBR * NBC);
    uint16_t *bbf = calloc((size_t)NBR * NBC * BR * BC, 2), *bhf = calloc((size_t)NBR * NBC * BR * BC, 2);
    int8_t *bq = calloc((size_t)NBR * NBC * BR * BC, 1);
    float *bscale = calloc(M, sizeof(float));
    int64_t nb = 0;
    for (int t = 0; t < 3; t++) {
        memset(wide[t], 0, sizeof(float) * M * K);
    }
    bptr[0] = 0;
    for (int bi = 0; bi < NBR; bi++) {
        for (int bj = 0; bj < NBC; bj++) {
            if (frand() < 0.33f) {
                continue;
            }
            bcol[nb] = bj;
            for (int r = 0; r < BR; r++) {
                for (int c = 0; c < BC && bj * BC + c < K; c++) {
                    int i = bi * BR + r, j = bj * BC + c;
                    bscale[i] = fmaxf(bscale[i], fabsf(w[i * K + j]) / 127);
                }
            }
            nb++;
        }
        bptr[bi + 1] = (int32_t)nb;
    }
    for (int bi = 0; bi < NBR; bi++) {
        for (int64_t b = bptr[bi]; b < bptr[bi + 1]; b++) {
            for (int r = 0; r < BR; r++) {
                for (int c = 0; c < BC; c++) {
                    int i = bi * BR + r, j = bcol[b] * BC + c;
                    int64_t e = b * BR * BC + r * BC + c;
                    if (j >= K) {
                        continue; // past K: stays zero
                    }
                    float v = w[i * K + j];
                    bbf[e] = to_bf16(v), bhf[e] = to_f16(v);
                    bq[e] = bscale[i] == 0 ? 0 : (int8_t)nearbyintf(v / bscale[i]);
                    wide[0][i * K + j] = from_bf16(bbf[e]);
                    wide[1][i * K + j] = from_f16(bhf[e]);
                    wide[2][i * K + j] = bscale[i] * (float)bq[e];
                }
            }
        }
    }
    static const char *bsr_names[3] = {"bsr_bf16", "bsr_f16", "bsr_i8"};
    const void *bstored[3] = {bbf, bhf, bq};
    for (int t = 0; t < 3; t++) {
        sg_plan p = 0;
        sg_status s = sg_plan_bsr_lp(&p, M, K, BR, BC, nb, bptr, SG_INDEX_INT32, bcol,
                                     SG_INDEX_INT32, dts[t], bstored[t], t == 2 ? bscale : NULL,
                                     t == 2 ? M : 0, NULL);
        CHECK(s == SG_OK, "sg_plan_bsr_lp(%s) = %s: %s", names[t], sg_status_name(s),
              sg_last_error());
        if (s != SG_OK) {
            continue;
        }
        check_plan(bsr_names[t], p, wide[t], x, y, ref, mag);
    }

    // N:M 2:4: in each group of 4 weights the 2 largest in magnitude are kept (K = 200: 50
    // groups, 100 slots per row).
    int64_t spr = sg_nm_slots_per_row(K, 2, 4);
    CHECK(spr == 100, "sg_nm_slots_per_row(200, 2, 4) = %lld, want 100", (long long)spr);
    uint16_t *nbf = malloc(2 * (size_t)M * spr), *nhf = malloc(2 * (size_t)M * spr);
    int8_t *nq = malloc((size_t)M * spr);
    uint8_t *npos = malloc((size_t)M * spr);
    float *nscale = calloc(M, sizeof(float));
    for (int t = 0; t < 3; t++) {
        memset(wide[t], 0, sizeof(float) * M * K);
    }
    for (int i = 0; i < M; i++) {
        for (int g = 0; g < K / 4; g++) {
            const float *v = &w[i * K + g * 4];
            int a = 0, b = 1; // the two largest |v|, a < b
            for (int c = 0; c < 4; c++) {
                for (int d = c + 1; d < 4; d++) {
                    if (fabsf(v[c]) + fabsf(v[d]) > fabsf(v[a]) + fabsf(v[b])) {
                        a = c, b = d;
                    }
                }
            }
            npos[i * spr + g * 2] = (uint8_t)a, npos[i * spr + g * 2 + 1] = (uint8_t)b;
            nscale[i] = fmaxf(nscale[i], fmaxf(fabsf(v[a]), fabsf(v[b])) / 127);
        }
        for (int s = 0; s < spr; s++) {
            int j = s / 2 * 4 + npos[i * spr + s];
            float v = w[i * K + j];
            nbf[i * spr + s] = to_bf16(v), nhf[i * spr + s] = to_f16(v);
            nq[i * spr + s] = nscale[i] == 0 ? 0 : (int8_t)nearbyintf(v / nscale[i]);
            wide[0][i * K + j] = from_bf16(nbf[i * spr + s]);
            wide[1][i * K + j] = from_f16(nhf[i * spr + s]);
            wide[2][i * K + j] = nscale[i] * (float)nq[i * spr + s];
        }
    }
    static const char *nm_names[3] = {"nm_bf16", "nm_f16", "nm_i8"};
    const void *nstored[3] = {nbf, nhf, nq};
    for (int t = 0; t < 3; t++) {
        sg_plan p = 0;
        sg_status s = sg_plan_nm_lp(&p, M, K, 2, 4, dts[t], nstored[t], t == 2 ? nscale : NULL,
                                    t == 2 ? M : 0, npos, M * spr, NULL);
        CHECK(s == SG_OK, "sg_plan_nm_lp(%s) = %s: %s", names[t], sg_status_name(s),
              sg_last_error());
        if (s != SG_OK) {
            continue;
        }
        check_plan(nm_names[t], p, wide[t], x, y, ref, mag);
    }

    // Errors: each is a status with a message, never a crash, and *out stays 0.
    sg_plan p = 1;
    float nan_scale[M];
    memcpy(nan_scale, scale, sizeof nan_scale);
    nan_scale[5] = NAN;
    sg_options dense_fmt;
    sg_options_init(&dense_fmt);
    dense_fmt.format = "dense"; // a CSR in bf16 is never converted to another format
    struct {
        const char *what;
        sg_status got, want;
    } errs[] = {
        {"dtype 9", sg_plan_dense_lp(&p, M, K, (sg_dtype)9, bf, LDW, NULL, 0, NULL), SG_ERR_ARGUMENT},
        {"NaN scale", sg_plan_dense_lp(&p, M, K, SG_DTYPE_I8, q, LDW, nan_scale, M, NULL), SG_ERR_MATRIX},
        {"no scale", sg_plan_dense_lp(&p, M, K, SG_DTYPE_I8, q, LDW, NULL, 0, NULL), SG_ERR_ARGUMENT},
        {"scale for bf16", sg_plan_dense_lp(&p, M, K, SG_DTYPE_BF16, bf, LDW, scale, M, NULL), SG_ERR_ARGUMENT},
        {"short scale", sg_plan_dense_lp(&p, M, K, SG_DTYPE_I8, q, LDW, scale, M - 1, NULL), SG_ERR_ARGUMENT},
        {"ldw < K", sg_plan_dense_lp(&p, M, K, SG_DTYPE_F16, hf, K - 1, NULL, 0, NULL), SG_ERR_ARGUMENT},
        {"w NULL", sg_plan_dense_lp(&p, M, K, SG_DTYPE_F16, NULL, LDW, NULL, 0, NULL), SG_ERR_NULL},
        {"csr dtype 9", sg_plan_csr_lp(&p, M, K, nnz, ptr32, SG_INDEX_INT32, col32, SG_INDEX_INT32, (sg_dtype)9, cbf, NULL, 0, NULL), SG_ERR_ARGUMENT},
        {"csr NaN scale", sg_plan_csr_lp(&p, M, K, nnz, ptr32, SG_INDEX_INT32, col32, SG_INDEX_INT32, SG_DTYPE_I8, cq, nan_scale, M, NULL), SG_ERR_MATRIX},
        {"csr no scale", sg_plan_csr_lp(&p, M, K, nnz, ptr32, SG_INDEX_INT32, col32, SG_INDEX_INT32, SG_DTYPE_I8, cq, NULL, 0, NULL), SG_ERR_ARGUMENT},
        {"csr scale for f16", sg_plan_csr_lp(&p, M, K, nnz, ptr32, SG_INDEX_INT32, col32, SG_INDEX_INT32, SG_DTYPE_F16, chf, cscale, M, NULL), SG_ERR_ARGUMENT},
        {"csr data NULL", sg_plan_csr_lp(&p, M, K, nnz, ptr32, SG_INDEX_INT32, col32, SG_INDEX_INT32, SG_DTYPE_BF16, NULL, NULL, 0, NULL), SG_ERR_NULL},
        {"csr format dense", sg_plan_csr_lp(&p, M, K, nnz, ptr32, SG_INDEX_INT32, col32, SG_INDEX_INT32, SG_DTYPE_BF16, cbf, NULL, 0, &dense_fmt), SG_ERR_ARGUMENT},
        {"bsr dtype 0", sg_plan_bsr_lp(&p, M, K, BR, BC, nb, bptr, SG_INDEX_INT32, bcol, SG_INDEX_INT32, (sg_dtype)0, bbf, NULL, 0, NULL), SG_ERR_ARGUMENT},
        {"bsr no scale", sg_plan_bsr_lp(&p, M, K, BR, BC, nb, bptr, SG_INDEX_INT32, bcol, SG_INDEX_INT32, SG_DTYPE_I8, bq, NULL, 0, NULL), SG_ERR_ARGUMENT},
        {"bsr NaN scale", sg_plan_bsr_lp(&p, M, K, BR, BC, nb, bptr, SG_INDEX_INT32, bcol, SG_INDEX_INT32, SG_DTYPE_I8, bq, nan_scale, M, NULL), SG_ERR_MATRIX},
        {"bsr data NULL", sg_plan_bsr_lp(&p, M, K, BR, BC, nb, bptr, SG_INDEX_INT32, bcol, SG_INDEX_INT32, SG_DTYPE_F16, NULL, NULL, 0, NULL), SG_ERR_NULL},
        {"bsr format dense", sg_plan_bsr_lp(&p, M, K, BR, BC, nb, bptr, SG_INDEX_INT32, bcol, SG_INDEX_INT32, SG_DTYPE_BF16, bbf, NULL, 0, &dense_fmt), SG_ERR_ARGUMENT},
        {"nm scale for bf16", sg_plan_nm_lp(&p, M, K, 2, 4, SG_DTYPE_BF16, nbf, nscale, M, npos, M * spr, NULL), SG_ERR_ARGUMENT},
        {"nm short len", sg_plan_nm_lp(&p, M, K, 2, 4, SG_DTYPE_BF16, nbf, NULL, 0, npos, M * spr - 1, NULL), SG_ERR_ARGUMENT},
        {"nm pos NULL", sg_plan_nm_lp(&p, M, K, 2, 4, SG_DTYPE_I8, nq, nscale, M, NULL, M * spr, NULL), SG_ERR_NULL},
        {"nm format dense", sg_plan_nm_lp(&p, M, K, 2, 4, SG_DTYPE_F16, nhf, NULL, 0, npos, M * spr, &dense_fmt), SG_ERR_ARGUMENT},
    };
    for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++) {
        CHECK(errs[i].got == errs[i].want && p == 0, "%s: got %s, want %s", errs[i].what,
              sg_status_name(errs[i].got), sg_status_name(errs[i].want));
    }
    // sg_last_error() holds the message of this thread's latest call: make one and print it.
    sg_status s = sg_plan_dense_lp(&p, M, K, SG_DTYPE_I8, q, LDW, nan_scale, M, NULL);
    printf("NaN scale: %s: %s\n", sg_status_name(s), sg_last_error());
    CHECK(sg_live_plans() == 0, "%lld plans leaked", (long long)sg_live_plans());

    free(w), free(x), free(y), free(bf), free(hf), free(q), free(scale), free(ref), free(mag);
    free(ptr32), free(col32), free(ptr64), free(col64), free(cbf), free(chf), free(cq), free(cscale);
    free(bptr), free(bcol), free(bbf), free(bhf), free(bq), free(bscale);
    free(nbf), free(nhf), free(nq), free(npos), free(nscale);
    for (int t = 0; t < 3; t++) {
        free(wide[t]);
    }
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("all low-precision checks passed\n");
    return 0;
}
