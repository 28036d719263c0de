// bench.c: the per-call cost of the C ABI and the cost of the first call on a new host thread.
//
// Per call: a tiny plan (1×1, and 8×8 with N = 1) run many times from one thread; the time
// per call minus the Go-side time of the same Plan.Mul (go test -bench PlanMulTiny in
// cmd/libsparsegen) is the ABI's overhead. Two reference points isolate the parts:
// sg_abi_version (pure C, no Go) and sg_live_plans (one C→Go call that does nothing).
// First call: threads created one after another, each timing its first and second sg_mul;
// the first-call cost must stay bounded (not grow with the number of threads seen before).
//
//   gcc -O2 -pthread -I cmd/libsparsegen cmd/libsparsegen/examples/c/bench.c -L. -lsparsegen
//   ./a.out [calls]

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "sparsegen.h"

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
    qsort(v, n, sizeof *v, cmp);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

enum { REPS = 7 };
static volatile uint64_t sink;

#define TIME(label, calls, stmt)                                                          \
    do {                                                                                  \
        double t[REPS];                                                                   \
        for (int r = 0; r < REPS; r++) {                                                  \
            double t0 = now_ns();                                                         \
            for (long i = 0; i < (calls); i++) {                                          \
                stmt;                                                                     \
            }                                                                             \
            t[r] = (now_ns() - t0) / (calls);                                             \
        }                                                                                 \
        double lo = t[0];                                                                 \
        for (int r = 1; r < REPS; r++) lo = t[r] < lo ? t[r] : lo;                        \
        printf("%-44s median %7.1f ns/call  (min %.1f, %d reps × %ld calls)\n", label,    \
               median(t, REPS), lo, REPS, (long)(calls));                                 \
    } while (0)

static sg_plan tiny;
static float X[64], Y[64];

typedef struct {
    double first, second;
} firsts;

static void *first_call(void *arg) {
    firsts *f = arg;
    double t0 = now_ns();
    sg_status s1 = sg_mul(tiny, Y, 1, X, 1, 1);
    double t1 = now_ns();
    sg_status s2 = sg_mul(tiny, Y, 1, X, 1, 1);
    double t2 = now_ns();
    if (s1 != SG_OK || s2 != SG_OK) {
        fprintf(stderr, "sg_mul: %s\n", sg_last_error());
        exit(1);
    }
    f->first = t1 - t0, f->second = t2 - t1;
    return NULL;
}

int main(int argc, char **argv) {
    long calls = argc > 1 ? atol(argv[1]) : 1000000;
    sg_options o;
    sg_options_init(&o);
    o.threads = 1;
    float w1 = 2, w64[64];
    for (int i = 0; i < 64; i++) {
        w64[i] = (float)(i % 3);
        X[i] = 1;
    }
    sg_plan p8;
    if (sg_plan_dense(&tiny, 1, 1, &w1, 1, &o) != SG_OK || sg_plan_dense(&p8, 8, 8, w64, 8, &o) != SG_OK) {
        fprintf(stderr, "create: %s\n", sg_last_error());
        return 1;
    }
    printf("per-call cost from C, one thread:\n");
    TIME("sg_abi_version (pure C)", calls, sink += sg_abi_version());
    TIME("sg_live_plans (empty C->Go call)", calls, sink += (uint64_t)sg_live_plans());
    TIME("sg_mul 1x1, N=1 (channel-major)", calls, sink += sg_mul(tiny, Y, 1, X, 1, 1));
    TIME("sg_mul_tokens 1x1, N=1", calls, sink += sg_mul_tokens(tiny, Y, 1, X, 1, 1));
    TIME("sg_mul 8x8, N=1", calls, sink += sg_mul(p8, Y, 1, X, 1, 1));
    TIME("sg_mul with a bad handle (error path)", calls / 10, sink += sg_mul(12345, Y, 1, X, 1, 1));

    enum { NT = 1000, GROUPS = 10 };
    static firsts f[NT];
    for (int t = 0; t < NT; t++) { // one new thread at a time
        pthread_t th;
        pthread_create(&th, NULL, first_call, &f[t]);
        pthread_join(th, NULL);
    }
    printf("first call on a new host thread (%d threads, created one after another):\n", NT);
    double g[NT / GROUPS], c[NT], mx = 0;
    for (int d = 0; d < GROUPS; d++) {
        for (int i = 0; i < NT / GROUPS; i++) {
            g[i] = f[d * (NT / GROUPS) + i].first;
        }
        printf("  threads %4d-%4d: median first call %8.0f ns\n", d * (NT / GROUPS) + 1,
               (d + 1) * (NT / GROUPS), median(g, NT / GROUPS));
    }
    for (int i = 0; i < NT; i++) {
        c[i] = f[i].second;
        mx = f[i].first > mx ? f[i].first : mx;
    }
    printf("  max first call:             %8.0f ns\n", mx);
    printf("  second call on each thread: median %8.0f ns\n", median(c, NT));
    sg_plan_free(tiny);
    sg_plan_free(p8);
    return 0;
}
