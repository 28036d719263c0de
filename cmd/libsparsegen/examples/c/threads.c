// threads.c: many host threads (pthreads) calling one sparsegen plan at once.
//
// Phase 1: T threads each run the same plan many times, channel-major and token-major, on
// their own X and Y with their own N; every result must be bitwise identical to the result
// the main thread computed alone for the same X (the library promises results independent of
// threads and N splits), and that result is checked against a naive product first.
// Phase 2: the same with a plan that uses the worker pool itself (threads = 4 per call).
// Phase 3: threads keep calling a plan while the main thread frees it: every call must
// either succeed with a correct result or report SG_ERR_HANDLE, never crash, and once a
// thread saw SG_ERR_HANDLE it must keep seeing it.
//
//   gcc -O2 -pthread -I cmd/libsparsegen cmd/libsparsegen/examples/c/threads.c -L. -lsparsegen -lm

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sparsegen.h"

enum { M = 96, K = 160, THREADS = 16, ITERS = 300, MAXN = 24 };

static float W[M * K], BIAS[M];
static _Atomic int failures = 0;

static void fail(const char *fmt, const char *a, long b) {
    failures++;
    fprintf(stderr, "FAIL ");
    fprintf(stderr, fmt, a, b);
    fprintf(stderr, "\n");
}

static uint64_t next(uint64_t *s) {
    *s ^= *s >> 12, *s ^= *s << 25, *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1Dull;
}
static float frand(uint64_t *s) { return (float)((double)(next(s) >> 11) / 9007199254740992.0 * 2 - 1); }

// Per thread: its X (channel-major K×n and token-major n×K) and the expected outputs.
typedef struct {
    int id, n;
    sg_plan plan;
    float xc[K * MAXN], xt[MAXN * K];
    float wantc[M * MAXN], wantt[MAXN * M];
    _Atomic long calls_ok, calls_handle;
} job;

static void naive_check(const float *x, const float *y, int n) { // channel-major, ReLU
    for (int i = 0; i < M; i++) {
        for (int j = 0; j < n; j++) {
            double acc = BIAS[i], mag = fabs(BIAS[i]);
            for (int p = 0; p < K; p++) {
                acc += (double)W[i * K + p] * x[p * n + j];
                mag += fabs((double)W[i * K + p] * x[p * n + j]);
            }
            double want = acc > 0 ? acc : 0;
            if (!(fabs(y[i * n + j] - want) <= 2.0 * (K + 2) * 1.1920929e-7 * mag + 1e-30)) {
                fail("%s: naive check failed at row %ld", "reference", i);
                return;
            }
        }
    }
}

static void *worker(void *arg) {
    job *j = arg;
    float y[MAXN * M];
    for (int it = 0; it < ITERS; it++) {
        sg_status s = sg_mul(j->plan, y, j->n, j->xc, j->n, j->n);
        if (s != SG_OK) {
            fail("sg_mul: %s (thread %ld)", sg_last_error(), j->id);
            return NULL;
        }
        if (memcmp(y, j->wantc, sizeof(float) * M * j->n) != 0) {
            fail("%s: thread %ld differs from the single-threaded result", "channel-major", j->id);
            return NULL;
        }
        s = sg_mul_tokens(j->plan, y, M, j->xt, K, j->n);
        if (s != SG_OK) {
            fail("sg_mul_tokens: %s (thread %ld)", sg_last_error(), j->id);
            return NULL;
        }
        if (memcmp(y, j->wantt, sizeof(float) * M * j->n) != 0) {
            fail("%s: thread %ld differs from the single-threaded result", "token-major", j->id);
            return NULL;
        }
        // Each thread's last error is its own: provoke one, check the message, then succeed.
        if (it % 50 == 0) {
            if (sg_mul(j->plan, y, 0, j->xc, j->n, j->n) != SG_ERR_SHAPE ||
                strstr(sg_last_error(), "ldy") == NULL) {
                fail("%s: thread %ld: no SG_ERR_SHAPE with its own message", sg_last_error(), j->id);
            }
        }
    }
    return NULL;
}

static job jobs[THREADS];

static void prepare(sg_plan p) {
    for (int t = 0; t < THREADS; t++) {
        job *j = &jobs[t];
        uint64_t s = 1000 + t;
        j->id = t, j->plan = p, j->n = 1 + t % MAXN;
        for (int i = 0; i < K * j->n; i++) {
            j->xc[i] = frand(&s);
        }
        for (int a = 0; a < j->n; a++) { // token-major X is the transpose
            for (int b = 0; b < K; b++) {
                j->xt[a * K + b] = j->xc[b * j->n + a];
            }
        }
        if (sg_mul(p, j->wantc, j->n, j->xc, j->n, j->n) != SG_OK ||
            sg_mul_tokens(p, j->wantt, M, j->xt, K, j->n) != SG_OK) {
            fail("prepare: %s (thread %ld)", sg_last_error(), t);
        }
        naive_check(j->xc, j->wantc, j->n);
    }
}

static int run_phase(const char *name, sg_plan p) {
    prepare(p);
    pthread_t th[THREADS];
    for (int t = 0; t < THREADS; t++) {
        pthread_create(&th[t], NULL, worker, &jobs[t]);
    }
    for (int t = 0; t < THREADS; t++) {
        pthread_join(th[t], NULL);
    }
    printf("ok  %s: %d threads × %d iterations × 2 layouts on one plan\n", name, THREADS, ITERS);
    return 0;
}

// Phase 3: calls racing with sg_plan_free.
static _Atomic int stop = 0;
static void *racer(void *arg) {
    job *j = arg;
    float y[MAXN * M];
    int freed = 0;
    while (!stop) {
        sg_status s = sg_mul(j->plan, y, j->n, j->xc, j->n, j->n);
        if (s == SG_OK) {
            if (freed) {
                fail("%s: thread %ld: a call succeeded after SG_ERR_HANDLE", "free race", j->id);
            }
            if (memcmp(y, j->wantc, sizeof(float) * M * j->n) != 0) {
                fail("%s: thread %ld: wrong result", "free race", j->id);
            }
            j->calls_ok++;
        } else if (s == SG_ERR_HANDLE) {
            freed = 1;
            j->calls_handle++;
        } else {
            fail("free race: %s (thread %ld)", sg_last_error(), j->id);
        }
    }
    return NULL;
}

int main(void) {
    uint64_t s = 42;
    for (int i = 0; i < M * K; i++) {
        float v = frand(&s);
        W[i] = (next(&s) % 10 == 0) ? v : 0; // ~10% dense
    }
    for (int i = 0; i < M; i++) {
        BIAS[i] = frand(&s);
    }
    sg_options o;
    sg_options_init(&o);
    o.activation = SG_ACT_RELU;
    o.bias = BIAS, o.bias_len = M;

    o.threads = 1;
    sg_plan p = 0;
    if (sg_plan_dense(&p, M, K, W, K, &o) != SG_OK) {
        fprintf(stderr, "create: %s\n", sg_last_error());
        return 1;
    }
    run_phase("single-threaded plan", p);
    sg_plan_free(p);

    o.threads = 4;
    if (sg_plan_dense(&p, M, K, W, K, &o) != SG_OK) {
        fprintf(stderr, "create: %s\n", sg_last_error());
        return 1;
    }
    run_phase("plan with 4 threads per call", p);

    // Phase 3 reuses the last plan and its expected results.
    pthread_t th[THREADS];
    for (int t = 0; t < THREADS; t++) {
        pthread_create(&th[t], NULL, racer, &jobs[t]);
    }
    // Free once every racer made a call, then stop once every racer saw the free (or after
    // 10 s: a racer that never saw it is a failure below).
    for (int t = 0, waited = 0; t < THREADS && waited < 10000; waited++) {
        t = jobs[t].calls_ok > 0 ? t + 1 : t;
        usleep(t < THREADS ? 1000 : 0);
    }
    if (sg_plan_free(p) != SG_OK) {
        fail("free: %s%ld", sg_last_error(), 0);
    }
    for (int t = 0, waited = 0; t < THREADS && waited < 10000; waited++) {
        t = jobs[t].calls_handle > 0 ? t + 1 : t;
        usleep(t < THREADS ? 1000 : 0);
    }
    stop = 1;
    long ok = 0, handle = 0;
    for (int t = 0; t < THREADS; t++) {
        pthread_join(th[t], NULL);
        ok += jobs[t].calls_ok, handle += jobs[t].calls_handle;
        if (jobs[t].calls_ok == 0 || jobs[t].calls_handle == 0) {
            fail("%s: thread %ld did not run both before and after the free", "free race", t);
        }
    }
    printf("ok  free while running: %ld calls before the free, %ld reported SG_ERR_HANDLE after\n", ok,
           handle);
    if (sg_live_plans() != 0) {
        fail("%s: %ld plans alive", "leak", (long)sg_live_plans());
    }
    if (failures) {
        fprintf(stderr, "threads: %d failure(s)\n", failures);
        return 1;
    }
    printf("threads: all checks passed\n");
    return 0;
}
