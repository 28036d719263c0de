// lowp.c: dense weights stored in low precision from C (sg_plan_dense_lp). Builds one
// random M×K weight matrix, stores it as bfloat16 bits, IEEE float16 bits and int8 with a
// float32 scale per row (rounded here, to nearest even, as `sparsegen prune -dtype` does),
// runs each plan channel-major (N = 1 and N = 16) and token-major, and compares the results
// with a float32 reference computed from the *widened* stored weights, so the only error
// left is the kernel's float32 accumulation. Then it shows the errors: a bad dtype code, a
// NaN scale, a missing scale, a scale for bf16, a short scale vector.
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

int main(void) {
    enum { M = 96, K = 200, LDW = 208, NMAX = 16 };
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
        const int ns[2] = {1, NMAX};
        for (int c = 0; c < 2; c++) {
            int n = ns[c];
            for (int i = 0; i < M; i++) {
                for (int jn = 0; jn < n; jn++) {
                    double acc = 0, a = 0;
                    for (int j = 0; j < K; j++) {
                        double v = (double)wide[t][i * K + j] * x[j * n + jn];
                        acc += v;
                        a += fabs(v);
                    }
                    ref[i * n + jn] = acc, mag[i * n + jn] = a;
                }
            }
            char what[64];
            snprintf(what, sizeof what, "%s N=%d channel-major", names[t], n);
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
                CHECK(s == SG_OK, "%s token-major: %s", names[t], sg_last_error());
                for (int i = 0; i < M; i++) {
                    for (int jn = 0; jn < n; jn++) {
                        y[i * n + jn] = yt[jn * M + i];
                    }
                }
                snprintf(what, sizeof what, "%s N=%d token-major", names[t], n);
                check(what, y, ref, mag, M, n);
                free(xt), free(yt);
            }
        }
        size_t need = 0;
        sg_plan_describe(p, NULL, 0, &need);
        char *d = malloc(need);
        sg_plan_describe(p, d, need, NULL);
        CHECK(strstr(d, names[t]) != NULL, "%s plan's description does not name its dtype:\n%s",
              names[t], d);
        printf("%s: ok; %.*s\n", names[t], (int)strcspn(d, "\n"), d);
        free(d);
        sg_plan_free(p);
    }

    // Errors: each is a status with a message, never a crash, and *out stays 0.
    sg_plan p = 1;
    float nan_scale[M];
    memcpy(nan_scale, scale, sizeof nan_scale);
    nan_scale[5] = NAN;
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
