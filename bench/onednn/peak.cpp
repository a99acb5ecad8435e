// The machine's fp32 FMA peak, the method `convgrad bench` uses: 12 independent FMA chains per thread in 256-bit
// (AVX2/FMA) and, where the build targets it, 512-bit (AVX-512F) vectors, all threads started together; the best of 7
// repetitions after a second of warm-up (on a shared host other tenants only slow a repetition down).
// Build: bench/onednn/run.sh --peak (g++ -O2 -march=native -fopenmp). Threads: OMP_NUM_THREADS.
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

namespace {

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

template <typename V, V (*Fma)(V, V, V), V (*Set)(float)>
float chains(long iterations, float seed) {
  V a[12];
  for (int i = 0; i < 12; ++i) a[i] = Set(seed + i);
  const V m = Set(0.999999f), c = Set(1e-7f);
  for (long it = 0; it < iterations; ++it) {
#pragma GCC unroll 12
    for (int i = 0; i < 12; ++i) a[i] = Fma(a[i], m, c);
  }
  V s = a[0];
  for (int i = 1; i < 12; ++i) s = Fma(s, m, a[i]);
  float out[16];
  std::copy_n(reinterpret_cast<const float*>(&s), sizeof(V) / sizeof(float), out);
  return out[0];
}

__m256 fma256(__m256 a, __m256 b, __m256 c) { return _mm256_fmadd_ps(a, b, c); }
__m256 set256(float v) { return _mm256_set1_ps(v); }
#ifdef __AVX512F__
__m512 fma512(__m512 a, __m512 b, __m512 c) { return _mm512_fmadd_ps(a, b, c); }
__m512 set512(float v) { return _mm512_set1_ps(v); }
#endif

// GFLOP/s of `kernel` (lanes floats per vector) on all OpenMP threads: best of 7 after >= 1 s of warm-up.
double peak(float (*kernel)(long, float), int lanes, int threads) {
  long iterations = 1 << 20;
  double t0 = now();
  kernel(iterations, 0.5f);
  iterations = std::max(1L << 16, static_cast<long>(iterations * 0.1 / std::max(now() - t0, 1e-6)));
  volatile float sink = 0;
  auto once = [&] {
    double start = now();
#pragma omp parallel num_threads(threads)
    { float v = kernel(iterations, 0.5f + omp_get_thread_num()); if (v == 12345.f) sink = v; }
    return now() - start;
  };
  for (double warm = now(); now() - warm < 1.0;) once();
  double best = 1e30;
  for (int rep = 0; rep < 7; ++rep) best = std::min(best, once());
  return 12.0 * lanes * 2 * iterations * threads / best / 1e9;
}

}  // namespace

int main() {
  const int threads = omp_get_max_threads();
  std::printf("fp32 FMA peak on %d thread(s), 12 chains per thread, best of 7:\n", threads);
  std::printf("  256-bit (AVX2/FMA):  %.1f GFLOP/s\n", peak(chains<__m256, fma256, set256>, 8, threads));
#ifdef __AVX512F__
  std::printf("  512-bit (AVX-512F):  %.1f GFLOP/s\n", peak(chains<__m512, fma512, set512>, 16, threads));
#else
  std::printf("  512-bit (AVX-512F):  not built (the compiler's -march=native has no AVX-512 here)\n");
#endif
  return 0;
}
