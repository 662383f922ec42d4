/* mxlite's C kernel pack: one translation unit, compiled by cffi (see _build.py).
 *
 * ck_body.h holds every kernel written once over a floating type T; it is included twice,
 * for float (suffix _f32) and double (suffix _f64). Kernels take C-contiguous arrays and a
 * thread count `nt` (0: follow OMP_NUM_THREADS) used in `num_threads` clauses; small
 * problems run on the calling thread. Nothing here touches Python objects, and cffi releases
 * the GIL around every call. Without OpenMP the pragmas are ignored and everything is serial.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <float.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* below this many elements a loop runs on the calling thread. The pack's GEMMs run on its own
 * OpenMP threads (see _blas.py), which spin for a moment between loops, so a parallel region
 * costs a microsecond or two; on LeNet's training step these thresholds gave 1.69x from a
 * second thread, against 1.61x with 4-8 times higher ones (medians of 5 interleaved runs) */
#define CK_PAR_MIN 32768
/* the same for loops doing a few cheap operations per element (copies, im2col, pooling, sums) */
#define CK_PAR_MIN_CHEAP 65536

/* a small helper to inline even where gcc would not (the pooling fast paths rely on it to
 * specialise on constant window extents) */
#if defined(__GNUC__)
#define CK_INLINE static inline __attribute__((always_inline))
#else
#define CK_INLINE static inline
#endif

/* element-wise kernels are compiled also for AVX-512 and AVX2, the variant chosen at load by
 * the CPU (gcc's function multi-versioning): each lane computes exactly what the baseline
 * SSE2 code computes (no contraction into FMA, -ffp-contract=off), only more lanes at once;
 * the polynomial exp/tanh/sigmoid run 3-4 times faster on AVX-512 */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__ELF__) && __GNUC__ >= 8
#define CK_SIMD __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define CK_SIMD
#endif

static int ck_threads(int nt) {
#ifdef _OPENMP
    return nt > 0 ? nt : omp_get_max_threads();
#else
    (void)nt;
    return 1;
#endif
}

/* this thread's number within the parallel region (0 outside one) */
static inline int ck_thread_id(void) {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

int ck_openmp(void) {
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

int ck_max_threads(void) { return ck_threads(0); }

/* a parallel loop over `par`-gated iterations with `nthr` threads (both locals) */
#define CK_PFOR _Pragma("omp parallel for num_threads(nthr) if(par) schedule(static)")
#define CK_PFOR2 _Pragma("omp parallel for collapse(2) num_threads(nthr) if(par) schedule(static)")

/* -- float32 exp and tanh that vectorize (no libm calls): Cephes polynomials ----------------- */
static inline float ck_bits_to_float(int32_t i) { float f; memcpy(&f, &i, 4); return f; }
static inline int32_t ck_float_to_bits(float f) { int32_t i; memcpy(&i, &f, 4); return i; }

/* exp(x) for x in float range; about 1 ulp. Inputs below -87.3 give ~1e-38, above 88 give
 * ~1.6e38 (callers only use it where that makes no difference: sigmoid, tanh). */
static inline float ck_expf(float x) {
    const float magic = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    x = x < -87.3f ? -87.3f : x;
    x = x > 88.0f ? 88.0f : x;
    float t = x * 1.44269504088896341f + magic;
    int32_t n = ck_float_to_bits(t) - ck_float_to_bits(magic);
    float fn = t - magic;
    float r = x - fn * 0.693359375f;
    r = r - fn * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    float y = p * r * r + r + 1.0f;
    return y * ck_bits_to_float((n + 127) << 23);
}

/* tanh(x) as a rational function of x (odd degree-13 over even degree-6 polynomials, the
 * approximation Eigen uses): within 4e-7 of tanh on float32, and no exp or table, so it
 * vectorises to a few instructions an element; +-1 beyond |x| = 7.9, x itself below 4e-4 */
static inline float ck_tanhf(float x) {
    const float a = fabsf(x), edge = 7.90531110763549805f;
    const float xc = a > edge ? copysignf(edge, x) : x;
    const float z = xc * xc;
    float p = z * -2.76076847742355e-16f + 2.00018790482477e-13f;
    p = p * z + -8.60467152213735e-11f;
    p = p * z + 5.12229709037114e-08f;
    p = p * z + 1.48572235717979e-05f;
    p = p * z + 6.37261928875436e-04f;
    p = p * z + 4.89352455891786e-03f;
    p = p * xc;
    float q = z * 1.19825839466702e-06f + 1.18534705686654e-04f;
    q = q * z + 2.26843463243900e-03f;
    q = q * z + 4.89352518554385e-03f;
    float r = p / q;
    r = a < 0.0004f ? x : r;
    r = a >= edge ? copysignf(1.0f, x) : r;
    return x != x ? x : r;
}

static inline float ck_sigmoidf(float x) {
    float r = 1.0f / (1.0f + ck_expf(-x));
    return x != x ? x : r;
}

static inline double ck_sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

/* first output index o >= 0 with o*s + off >= 0, and one past the last with o*s + off < size */
static inline int64_t ck_lo(int64_t off, int64_t s) { return off >= 0 ? 0 : (-off + s - 1) / s; }
static inline int64_t ck_hi(int64_t off, int64_t s, int64_t size, int64_t n_out) {
    if (size - 1 - off < 0) return 0;
    int64_t h = (size - 1 - off) / s + 1;
    return h < n_out ? h : n_out;
}

static inline int64_t ck_imax(int64_t a, int64_t b) { return a > b ? a : b; }
static inline int64_t ck_imin(int64_t a, int64_t b) { return a < b ? a : b; }

/* cells averaged by a window starting at `start` of extent k along an axis of `size` */
static inline int64_t ck_count(int64_t start, int64_t k, int64_t size, int64_t pad, int include_pad) {
    int64_t cnt = include_pad ? ck_imin(start + k, size + pad) - start
                              : ck_imin(start + k, size) - ck_imax(start, 0);
    return cnt > 0 ? cnt : 0;
}

/* -- BLAS GEMMs under our own threads ------------------------------------------------------
 * numpy's BLAS, found at run time (_blas.py hands its cblas_?gemm and OpenBLAS's per-thread
 * thread-count setter over). ck_gemm_* split a GEMM (or a batch of them) over OpenMP threads,
 * each calling the BLAS single-threaded: the pack's parallel loops and its GEMMs then share one
 * pool of threads, instead of OpenBLAS's threads spinning against ours between calls. */
typedef void (*ck_gemm_ilp64_f32)(int, int, int, int64_t, int64_t, int64_t, float, const float*,
                                  int64_t, const float*, int64_t, float, float*, int64_t);
typedef void (*ck_gemm_ilp64_f64)(int, int, int, int64_t, int64_t, int64_t, double, const double*,
                                  int64_t, const double*, int64_t, double, double*, int64_t);
typedef void (*ck_gemm_lp64_f32)(int, int, int, int, int, int, float, const float*, int,
                                 const float*, int, float, float*, int);
typedef void (*ck_gemm_lp64_f64)(int, int, int, int, int, int, double, const double*, int,
                                 const double*, int, double, double*, int);
static void* ck_blas_gemm_f32 = NULL;
static void* ck_blas_gemm_f64 = NULL;
static int (*ck_blas_get_threads)(void) = NULL;
static void (*ck_blas_set_threads)(int) = NULL;
static int ck_blas_ilp64 = 0;

void ck_set_blas(void* sgemm, void* dgemm, void* get_threads, void* set_threads, int ilp64) {
    ck_blas_gemm_f32 = sgemm;
    ck_blas_gemm_f64 = dgemm;
    ck_blas_get_threads = (int (*)(void))get_threads;
    ck_blas_set_threads = (void (*)(int))set_threads;
    ck_blas_ilp64 = ilp64;
}

int ck_have_blas(void) {
    return ck_blas_gemm_f32 && ck_blas_gemm_f64 && ck_blas_get_threads && ck_blas_set_threads;
}

/* OpenBLAS built with pthreads (numpy's wheels) runs a call single-threaded only when its
 * global thread count is 1: it is set to 1 while any of our calls runs (from the calling
 * thread, before and after the parallel region) and put back when the last one ends. A
 * counter under a spin lock keeps calls from several Python threads (cffi releases the GIL)
 * from restoring each other's setting in the wrong order. */
static int ck_blas_users = 0, ck_blas_saved = 1;
#if defined(__GNUC__) || defined(__clang__)
static volatile int ck_blas_lock = 0;
static void ck_blas_lock_take(void) { while (__sync_lock_test_and_set(&ck_blas_lock, 1)) { } }
static void ck_blas_lock_give(void) { __sync_lock_release(&ck_blas_lock); }
#else
static void ck_blas_lock_take(void) { }
static void ck_blas_lock_give(void) { }
#endif

static void ck_blas_single_begin(void) {
    ck_blas_lock_take();
    if (ck_blas_users++ == 0) {
        ck_blas_saved = ck_blas_get_threads();
        if (ck_blas_saved != 1) ck_blas_set_threads(1);
    }
    ck_blas_lock_give();
}

static void ck_blas_single_end(void) {
    ck_blas_lock_take();
    if (--ck_blas_users == 0 && ck_blas_saved != 1) ck_blas_set_threads(ck_blas_saved);
    ck_blas_lock_give();
}

/* row-major C = op(A) op(B) + beta C on the calling thread (ck_blas_f32, ck_blas_f64), through
 * the 64-bit or 32-bit integer interface the BLAS has */
#define CK_ROW_MAJOR 101
#define CK_TRANS(t) ((t) ? 112 : 111)
#define CK_BLAS_CALL(SUFFIX, TT)                                                                   \
static void ck_blas_##SUFFIX(int ta, int tb, int64_t M, int64_t N, int64_t K, const TT* A,       \
                             int64_t lda, const TT* B, int64_t ldb, TT beta, TT* C, int64_t ldc) { \
    if (ck_blas_ilp64)                                                                            \
        ((ck_gemm_ilp64_##SUFFIX)ck_blas_gemm_##SUFFIX)(CK_ROW_MAJOR, CK_TRANS(ta), CK_TRANS(tb),  \
                                                        M, N, K, (TT)1, A, lda, B, ldb, beta, C, ldc); \
    else                                                                                          \
        ((ck_gemm_lp64_##SUFFIX)ck_blas_gemm_##SUFFIX)(CK_ROW_MAJOR, CK_TRANS(ta), CK_TRANS(tb),   \
                                                       (int)M, (int)N, (int)K, (TT)1, A, (int)lda, \
                                                       B, (int)ldb, beta, C, (int)ldc);           \
}
CK_BLAS_CALL(f32, float)
CK_BLAS_CALL(f64, double)
#undef CK_BLAS_CALL

/* below this many multiply-adds a GEMM runs on the calling thread */
#define CK_GEMM_PAR_MIN 262144

int ck_gemm_parallel_min(void) { return CK_GEMM_PAR_MIN; }

/* -- the typed kernels ----------------------------------------------------------------------- */
#define T float
#define SFX(name) name##_f32
#define TEXP expf
#define TEXPM1 expm1f
#define TLOG logf
#define TLOG1P log1pf
#define TSQRT sqrtf
#define TABS fabsf
#define TFAST_TANH ck_tanhf
#define TFAST_SIGMOID ck_sigmoidf
#define TLOWEST (-FLT_MAX)
#define TBLAS ck_blas_f32
#include "ck_body.h"
#undef T
#undef SFX
#undef TEXP
#undef TEXPM1
#undef TLOG
#undef TLOG1P
#undef TSQRT
#undef TABS
#undef TFAST_TANH
#undef TFAST_SIGMOID
#undef TLOWEST
#undef TBLAS

#define T double
#define SFX(name) name##_f64
#define TEXP exp
#define TEXPM1 expm1
#define TLOG log
#define TLOG1P log1p
#define TSQRT sqrt
#define TABS fabs
#define TFAST_TANH tanh
#define TFAST_SIGMOID ck_sigmoid
#define TLOWEST (-DBL_MAX)
#define TBLAS ck_blas_f64
#include "ck_body.h"
