// example.c: sparsegen from C. Builds random sparse weights in every input format the C ABI
// takes (dense, CSR with int32 and int64 indices, BSR, N:M), runs them channel-major and
// token-major, and compares each result with a naive dense product computed here. Then it
// shows the error handling: status codes and the thread's last error message.
//
//   go build -buildmode=c-shared -o libsparsegen.so ./cmd/libsparsegen
//   gcc -O2 -I cmd/libsparsegen cmd/libsparsegen/examples/c/example.c -L. -lsparsegen -lm
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

// CALL runs an sg_ function and reports a failure with the library's message.
#define CALL(expr)                                                                        \
    do {                                                                                  \
        sg_status s_ = (expr);                                                            \
        if (s_ != SG_OK) {                                                                \
            fprintf(stderr, "FAIL %s:%d: %s = %s: %s\n", __FILE__, __LINE__, #expr,       \
                    sg_status_name(s_), sg_last_error());                                 \
            failures++;                                                                   \
        }                                                                                 \
    } while (0)

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static double urand(void) { // uniform [0, 1), xorshift64*
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return (double)((rng * 0x2545F4914F6CDD1Dull) >> 11) / 9007199254740992.0;
}
static float frand(void) { return (float)(2 * urand() - 1); }

// random_sparse fills W (M×K) keeping each weight with probability density.
static float *random_sparse(int m, int k, double density) {
    float *w = calloc((size_t)m * k, sizeof *w);
    for (int i = 0; i < m * k; i++) {
        if (urand() < density) {
            w[i] = frand();
        }
    }
    return w;
}

static float *random_vec(size_t n) {
    float *v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++) {
        v[i] = frand();
    }
    return v;
}

static float relu(double v) { return v > 0 ? (float)v : 0.0f; }

// check_cm compares Y (M×N, ldy) with relu(W·X + bias), X K×N: within the error bound of the
// header (2(k+1)·eps·Σ|w·x|, k = K here as an upper bound) plus a tiny absolute slack.
static void check_cm(const char *what, const float *w, const float *bias, const float *x,
                     const float *y, int m, int k, int n, int ldx, int ldy, int tokens) {
    int bad = 0;
    for (int i = 0; i < m; i++) {
        for (int j = 0; j < n; j++) {
            double acc = bias ? bias[i] : 0, mag = bias ? fabs(bias[i]) : 0;
            for (int p = 0; p < k; p++) {
                double xv = tokens ? x[(size_t)j * ldx + p] : x[(size_t)p * ldx + j];
                acc += (double)w[(size_t)i * k + p] * xv;
                mag += fabs((double)w[(size_t)i * k + p] * xv);
            }
            double want = relu(acc);
            double got = tokens ? y[(size_t)j * ldy + i] : y[(size_t)i * ldy + j];
            double tol = 2.0 * (k + 2) * 1.1920929e-7 * mag + 1e-30;
            if (!(fabs(got - want) <= tol)) {
                if (bad++ < 3) {
                    fprintf(stderr, "  %s: Y[%d,%d] = %.9g, want %.9g (tol %.3g)\n", what, i, j, got,
                            want, tol);
                }
            }
        }
    }
    CHECK(bad == 0, "%s: %d of %d outputs wrong", what, bad, m * n);
    if (bad == 0) {
        printf("ok  %-40s %dx%d, N=%d\n", what, m, k, n);
    }
}

// run_and_check runs plan p channel-major and token-major on fresh random X and checks both.
static void run_and_check(const char *what, sg_plan p, const float *w, const float *bias, int m,
                          int k, int n) {
    char name[128];
    // Channel-major with padded leading dimensions (ld > N).
    int ldx = n + 3, ldy = n + 5;
    float *x = random_vec((size_t)k * ldx);
    float *y = random_vec((size_t)m * ldy);
    CALL(sg_mul(p, y, ldy, x, ldx, n));
    snprintf(name, sizeof name, "%s, channel-major", what);
    check_cm(name, w, bias, x, y, m, k, n, ldx, ldy, 0);
    free(x);
    free(y);
    // Token-major: X N×K, Y N×M.
    ldx = k + 1, ldy = m + 2;
    x = random_vec((size_t)n * ldx);
    y = random_vec((size_t)n * ldy);
    CALL(sg_mul_tokens(p, y, ldy, x, ldx, n));
    snprintf(name, sizeof name, "%s, token-major", what);
    check_cm(name, w, bias, x, y, m, k, n, ldx, ldy, 1);
    free(x);
    free(y);
}

// to_csr builds scipy-style CSR arrays (int32 or int64 indices) from dense W.
static void to_csr(const float *w, int m, int k, int wide, void **indptr, void **indices,
                   float **data, int64_t *nnz) {
    int64_t n = 0;
    for (int i = 0; i < m * k; i++) {
        n += w[i] != 0;
    }
    size_t isz = wide ? 8 : 4;
    char *ip = malloc((size_t)(m + 1) * isz), *ix = malloc((size_t)(n ? n : 1) * isz);
    float *d = malloc((size_t)(n ? n : 1) * sizeof *d);
    int64_t q = 0;
    for (int i = 0; i <= m; i++) {
        if (i > 0) {
            for (int j = 0; j < k; j++) {
                if (w[(size_t)(i - 1) * k + j] != 0) {
                    if (wide) {
                        ((int64_t *)ix)[q] = j;
                    } else {
                        ((int32_t *)ix)[q] = j;
                    }
                    d[q++] = w[(size_t)(i - 1) * k + j];
                }
            }
        }
        if (wide) {
            ((int64_t *)ip)[i] = q;
        } else {
            ((int32_t *)ip)[i] = (int32_t)q;
        }
    }
    *indptr = ip, *indices = ix, *data = d, *nnz = n;
}

int main(void) {
    CHECK(sg_abi_version() == SG_ABI_VERSION, "library ABI %u, header %d", sg_abi_version(),
          SG_ABI_VERSION);
    const int m = 67, k = 93, n = 37;
    float *w = random_sparse(m, k, 0.15);
    float *bias = random_vec(m);

    sg_options o;
    sg_options_init(&o);
    o.activation = SG_ACT_RELU;
    o.bias = bias;
    o.bias_len = m;

    // Dense input.
    sg_plan p = 0;
    CALL(sg_plan_dense(&p, m, k, w, k, &o));
    run_and_check("dense input", p, w, bias, m, k, n);
    CALL(sg_plan_free(p));

    // A batch of 3 channel-major items (NCHW): item b at x + b·K·N, y + b·M·N.
    CALL(sg_plan_dense(&p, m, k, w, k, &o));
    {
        const int batch = 3;
        float *x = random_vec((size_t)batch * k * n), *y = random_vec((size_t)batch * m * n);
        CALL(sg_mul_batch(p, y, n, (int64_t)m * n, x, n, (int64_t)k * n, n, batch));
        for (int b = 0; b < batch; b++) {
            char name[64];
            snprintf(name, sizeof name, "dense input, batch item %d of %d", b + 1, batch);
            check_cm(name, w, bias, x + (size_t)b * k * n, y + (size_t)b * m * n, m, k, n, n, n, 0);
        }
        sg_status s = sg_mul_batch(p, y, n, n - 1, x, n, 0, n, batch); // Y items overlap
        CHECK(s == SG_ERR_SHAPE, "overlapping Y items: got %s", sg_status_name(s));
        free(x);
        free(y);
    }
    CALL(sg_plan_free(p));

    // CSR with int32 and int64 indices. The caller's arrays are freed right after creation:
    // the plan owns a packed copy.
    for (int wide = 0; wide <= 1; wide++) {
        void *ip, *ix;
        float *d;
        int64_t nnz;
        to_csr(w, m, k, wide, &ip, &ix, &d, &nnz);
        sg_index_type t = wide ? SG_INDEX_INT64 : SG_INDEX_INT32;
        CALL(sg_plan_csr(&p, m, k, nnz, ip, t, ix, t, d, &o));
        memset(d, 0xFF, (size_t)nnz * sizeof *d); // scribble: the plan must not see it
        free(ip), free(ix), free(d);
        run_and_check(wide ? "csr int64 input" : "csr int32 input", p, w, bias, m, k, n);
        CALL(sg_plan_free(p));
    }

    // CSR with unsorted and duplicate entries (scipy allows both): row 0 holds (2, 1.5),
    // (0, 1), (2, 0.5): canonicalized to W[0,0] = 1, W[0,2] = 2.
    {
        int32_t ip[3] = {0, 3, 3}, ix[3] = {2, 0, 2};
        float d[3] = {1.5f, 1.0f, 0.5f};
        CALL(sg_plan_csr(&p, 2, 3, 3, ip, SG_INDEX_INT32, ix, SG_INDEX_INT32, d, NULL));
        size_t need = 0;
        CALL(sg_plan_describe(p, NULL, 0, &need));
        char *desc = malloc(need);
        CALL(sg_plan_describe(p, desc, need, NULL));
        CHECK(strstr(desc, "duplicate") && strstr(desc, "sorted"),
              "description does not report the canonicalization:\n%s", desc);
        free(desc);
        float x[3] = {1, 10, 100}, y[2];
        CALL(sg_mul(p, y, 1, x, 1, 1));
        CHECK(y[0] == 201 && y[1] == 0, "canonicalized CSR: y = (%g, %g), want (201, 0)", y[0],
              y[1]);
        CALL(sg_plan_set_threads(p, 3));
        CALL(sg_mul(p, y, 1, x, 1, 1));
        CHECK(y[0] == 201 && y[1] == 0, "after set_threads: y = (%g, %g)", y[0], y[1]);
        CHECK(sg_plan_set_threads(p, -1) == SG_ERR_ARGUMENT, "negative threads accepted");
        CALL(sg_plan_free(p));
    }

    // BSR 4x4 with ragged edges (67 and 93 are not multiples of 4): zero outside W.
    {
        const int r = 4, c = 4, br = (m + r - 1) / r, bc = (k + c - 1) / c;
        int64_t *ip = calloc(br + 1, sizeof *ip), *ix = malloc((size_t)br * bc * sizeof *ix);
        float *d = calloc((size_t)br * bc * r * c, sizeof *d);
        int64_t nb = 0;
        for (int i = 0; i < br; i++) {
            for (int j = 0; j < bc; j++) {
                int any = 0;
                for (int rr = 0; rr < r; rr++) {
                    for (int cc = 0; cc < c; cc++) {
                        int row = i * r + rr, col = j * c + cc;
                        float v = (row < m && col < k) ? w[(size_t)row * k + col] : 0;
                        d[(nb * r + rr) * c + cc] = v;
                        any |= v != 0;
                    }
                }
                if (any) {
                    ix[nb++] = j;
                }
            }
            ip[i + 1] = nb;
        }
        CALL(sg_plan_bsr(&p, m, k, r, c, nb, ip, SG_INDEX_INT64, ix, SG_INDEX_INT64, d, &o));
        free(ip), free(ix), free(d);
        run_and_check("bsr 4x4 input (ragged edges)", p, w, bias, m, k, n);
        CALL(sg_plan_free(p));
    }

    // N:M 2:4: keep the two largest |w| of every group of 4, then compare with that matrix.
    {
        const int keep = 2, group = 4;
        int64_t spr = sg_nm_slots_per_row(k, keep, group);
        CHECK(spr == (k / group) * keep + (k % group < keep ? k % group : keep), "slots %lld",
              (long long)spr);
        float *val = calloc((size_t)m * spr, sizeof *val), *wp = calloc((size_t)m * k, sizeof *wp);
        uint8_t *pos = calloc((size_t)m * spr, 1);
        for (int i = 0; i < m; i++) {
            int64_t s = (int64_t)i * spr;
            for (int g = 0; g * group < k; g++) {
                int width = k - g * group < group ? k - g * group : group;
                int slots = width < keep ? width : keep;
                int pick[4] = {0}, npick = 0;
                for (int t = 0; t < slots; t++) { // the largest |w| not yet picked
                    int best = -1;
                    for (int q = 0; q < width; q++) {
                        int taken = 0;
                        for (int u = 0; u < npick; u++) {
                            taken |= pick[u] == q;
                        }
                        if (!taken && (best < 0 || fabsf(w[(size_t)i * k + g * group + q]) >
                                                       fabsf(w[(size_t)i * k + g * group + best]))) {
                            best = q;
                        }
                    }
                    pick[npick++] = best;
                }
                for (int a = 0; a < npick; a++) { // positions increase within a group
                    for (int b = a + 1; b < npick; b++) {
                        if (pick[b] < pick[a]) {
                            int t = pick[a];
                            pick[a] = pick[b], pick[b] = t;
                        }
                    }
                }
                for (int t = 0; t < npick; t++) {
                    float v = w[(size_t)i * k + g * group + pick[t]];
                    val[s] = v, pos[s] = (uint8_t)pick[t], s++;
                    wp[(size_t)i * k + g * group + pick[t]] = v;
                }
            }
        }
        CALL(sg_plan_nm(&p, m, k, keep, group, val, pos, (int64_t)m * spr, &o));
        free(val), free(pos);
        run_and_check("nm 2:4 input", p, wp, bias, m, k, n);
        CALL(sg_plan_free(p));
        free(wp);
    }

    // Errors: a status code and the thread's message, never a crash.
    {
        CALL(sg_plan_dense(&p, m, k, w, k, &o));
        float x[8] = {0}, y[8] = {0};
        sg_status s = sg_mul(p, y, 1, x, 1, 2); // ldx = 1 < N = 2
        CHECK(s == SG_ERR_SHAPE, "ldx < N: got %s", sg_status_name(s));
        CHECK(strlen(sg_last_error()) > 0, "no message for SG_ERR_SHAPE");
        printf("ok  error: %s: %s\n", sg_status_name(s), sg_last_error());
        size_t need = 0;
        CALL(sg_plan_describe(p, NULL, 0, &need));
        CHECK(sg_last_error()[0] == 0, "message not cleared by a successful call");
        char small[8];
        s = sg_plan_describe(p, small, sizeof small, &need);
        CHECK(s == SG_ERR_BUFFER && need > sizeof small, "small buffer: %s, need %zu",
              sg_status_name(s), need);
        CALL(sg_plan_free(p));
        s = sg_mul(p, y, 1, x, 1, 1);
        CHECK(s == SG_ERR_HANDLE, "freed plan: got %s", sg_status_name(s));
        printf("ok  error: %s: %s\n", sg_status_name(s), sg_last_error());
        s = sg_plan_free(p);
        CHECK(s == SG_ERR_HANDLE, "double free: got %s", sg_status_name(s));
        CHECK(sg_plan_free(0) == SG_OK, "free(0) is not OK");

        int32_t ip[3] = {0, 1, 2}, ix[2] = {0, 7};
        float d[2] = {1, 2};
        s = sg_plan_csr(&p, 2, 3, 2, ip, SG_INDEX_INT32, ix, SG_INDEX_INT32, d, NULL);
        CHECK(s == SG_ERR_MATRIX && p == 0, "column 7 of K = 3: got %s", sg_status_name(s));
        printf("ok  error: %s: %s\n", sg_status_name(s), sg_last_error());
        s = sg_plan_csr(&p, 2, 3, 2, ip, (sg_index_type)2, ix, SG_INDEX_INT32, d, NULL);
        CHECK(s == SG_ERR_ARGUMENT, "index type 2: got %s", sg_status_name(s));
        s = sg_plan_dense(&p, 2, 2, NULL, 2, NULL);
        CHECK(s == SG_ERR_NULL, "NULL weights: got %s", sg_status_name(s));
        s = sg_plan_dense(NULL, 2, 2, w, 2, NULL);
        CHECK(s == SG_ERR_NULL, "NULL out: got %s", sg_status_name(s));
        sg_options bad;
        sg_options_init(&bad);
        bad.isa = "sse9";
        s = sg_plan_dense(&p, 2, 2, w, 2, &bad);
        CHECK(s == SG_ERR_ARGUMENT, "unknown ISA: got %s", sg_status_name(s));
        printf("ok  error: %s: %s\n", sg_status_name(s), sg_last_error());
        sg_options_init(&bad);
        bad.activation = 42;
        s = sg_plan_dense(&p, 2, 2, w, 2, &bad);
        CHECK(s == SG_ERR_ARGUMENT, "activation 42: got %s", sg_status_name(s));
        sg_options_init(&bad);
        bad.struct_size = 8;
        s = sg_plan_dense(&p, 2, 2, w, 2, &bad);
        CHECK(s == SG_ERR_ARGUMENT, "struct_size 8: got %s", sg_status_name(s));
        sg_options_init(&bad);
        bad.record_path = "/nonexistent/record.json";
        s = sg_plan_dense(&p, 2, 2, w, 2, &bad);
        CHECK(s == SG_ERR_RECORD, "missing record: got %s", sg_status_name(s));
        printf("ok  error: %s: %s\n", sg_status_name(s), sg_last_error());
    }
    CHECK(sg_live_plans() == 0, "%lld plans leaked", (long long)sg_live_plans());

    free(w), free(bias);
    if (failures) {
        fprintf(stderr, "example: %d check(s) failed\n", failures);
        return 1;
    }
    printf("example: all checks passed\n");
    return 0;
}
