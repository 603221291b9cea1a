// Memory read bandwidth for `make bench` (B6): N threads each stream through their share of a
// buffer much larger than the caches, summing 64-bit words (the access pattern of a decode step,
// which reads every weight once). Prints one line: "<GB/s> <threads> <MiB>" (GB = 1e9 bytes), the
// median of the passes.
//
//   gcc -O2 -mavx2 -fopenmp -o membw membw.c && ./membw [threads] [MiB] [passes]
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 2;
    size_t mib = argc > 2 ? (size_t)atol(argv[2]) : 1024;
    int passes = argc > 3 ? atoi(argv[3]) : 7;
    if (threads < 1 || mib < 16 || passes < 1 || passes > 64) {
        fprintf(stderr, "usage: membw [threads>=1] [MiB>=16] [passes 1..64]\n");
        return 2;
    }
    size_t n = mib * 1024 * 1024 / sizeof(uint64_t);
    uint64_t *buf = aligned_alloc(64, n * sizeof(uint64_t));
    if (!buf) {
        fprintf(stderr, "membw: cannot allocate %zu MiB\n", mib);
        return 1;
    }
    omp_set_num_threads(threads);
    // first touch by the threads that will read the pages
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) buf[i] = i;

    double rates[64];
    volatile uint64_t sink = 0;
    for (int p = 0; p < passes; p++) {
        double t0 = now();
        uint64_t total = 0;
#pragma omp parallel for schedule(static) reduction(+ : total)
        for (size_t i = 0; i < n; i += 8) {
            // eight independent accumulators so the loop is bound by loads, not by the add chain
            total += buf[i] + buf[i + 1] + buf[i + 2] + buf[i + 3] + buf[i + 4] + buf[i + 5] + buf[i + 6] +
                     buf[i + 7];
        }
        double dt = now() - t0;
        sink += total;
        rates[p] = (double)(n * sizeof(uint64_t)) / dt / 1e9;
    }
    qsort(rates, (size_t)passes, sizeof(double), cmp);
    printf("%.2f %d %zu\n", rates[passes / 2], threads, mib);
    free(buf);
    return sink == 42 ? 3 : 0;
}
