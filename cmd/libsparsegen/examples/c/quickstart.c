// quickstart.c: compile a small pruned weight matrix and run it channel-major and
// token-major. cmd/libsparsegen/README.md shows this file; .ci/cabi.sh builds it, runs it and
// compares what it prints with the Output comment at the end.
#include <stdio.h>
#include <string.h>

#include "sparsegen.h"

// check reports a failed call with the library's message for this thread.
static int check(sg_status s, const char *call) {
    if (s != SG_OK) {
        fprintf(stderr, "%s: %s: %s\n", call, sg_status_name(s), sg_last_error());
    }
    return s == SG_OK;
}

int main(void) {
    // W (M×K = 4×6) in CSR, as scipy.sparse.csr_matrix holds it (int32 or int64 indices).
    enum { M = 4, K = 6, N = 2 };
    const int32_t indptr[M + 1] = {0, 2, 4, 4, 6};
    const int32_t indices[] = {0, 3, 2, 5, 0, 4};
    const float data[] = {2, 1, -1, 3, 1, -2};
    const float bias[M] = {1, 0, 0.5f, -1};

    sg_options o;
    sg_options_init(&o); // always start from the defaults
    o.activation = SG_ACT_RELU; // Y = ReLU(W·X + bias), fused into the kernel
    o.bias = bias;
    o.bias_len = M;

    sg_plan p;
    if (!check(sg_plan_csr(&p, M, K, 6, indptr, SG_INDEX_INT32, indices, SG_INDEX_INT32, data, &o),
               "sg_plan_csr")) {
        return 1;
    }
    // The plan owns packed copies: the caller may free indptr, indices, data and bias now.

    // Channel-major: X is K×N, Y is M×N, both row-major (leading dimension N).
    const float x[K * N] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    float y[M * N];
    // Token-major: X is N×K (a token per row), Y is N×M (leading dimensions K and M).
    const float x_tok[N * K] = {1, 3, 5, 7, 9, 11, 2, 4, 6, 8, 10, 12}; // X transposed
    float y_tok[N * M];
    char desc[4096];
    size_t need;
    int ok = check(sg_mul(p, y, N, x, N, N), "sg_mul") &&
             check(sg_mul_tokens(p, y_tok, M, x_tok, K, N), "sg_mul_tokens") &&
             check(sg_plan_describe(p, desc, sizeof desc, &need), "sg_plan_describe");
    if (ok) {
        for (int i = 0; i < M; i++) {
            printf("Y row %d: %g %g\n", i, y[i * N], y[i * N + 1]);
        }
        for (int j = 0; j < N; j++) {
            printf("token %d: %g %g %g %g\n", j, y_tok[j * M], y_tok[j * M + 1], y_tok[j * M + 2],
                   y_tok[j * M + 3]);
        }
        // Which kernel runs for which N, and why. The first line measures W; the rest names
        // this machine's CPU and kernels, so this example prints the first line only.
        desc[strcspn(desc, "\n")] = '\0';
        printf("%s\n", desc);
    }
    ok = check(sg_plan_free(p), "sg_plan_free") && ok;
    return ok ? 0 : 1;
}

/* Output:
Y row 0: 10 13
Y row 1: 28 30
Y row 2: 0.5 0.5
Y row 3: 0 0
token 0: 10 28 0.5 0
token 1: 13 30 0.5 0
input: csr 4×6, 6 stored entries (int32 indptr, int32 indices; copied)
*/
