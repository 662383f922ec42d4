/* Kernels over one floating type T (float or double), named SFX(name); see ck_kernels.c.
 * Arithmetic follows the numpy reference kernels' order of operations in T, so results agree
 * to rounding; sums accumulate in double. */

/* ============================== element-wise activations =================================== */
/* kinds: 0 relu, 1 sigmoid, 2 tanh, 3 softrelu, 4 softsign, 5 leaky, 6 elu, 7 selu */
#define CK_MAP(EXPR) do { CK_PFOR for (int64_t i = 0; i < n; ++i) { const T v = x[i]; y[i] = (EXPR); } } while (0)

CK_SIMD void SFX(ck_act_fwd)(const T* x, T* y, int64_t n, int kind, double slope, int nt) {
    const int nthr = ck_threads(nt);
    const int par = n > CK_PAR_MIN && nthr > 1;
    const T s = (T)slope;
    const T alpha = (T)1.6732632423543772848170429916717, lambda = (T)1.0507009873554804934193349852946;
    switch (kind) {
    case 0: CK_MAP(v < 0 ? (T)0 : v); break;
    case 1: CK_MAP(TFAST_SIGMOID(v)); break;
    case 2: CK_MAP(TFAST_TANH(v)); break;
    case 3: CK_MAP((v > 0 ? v : (T)0) + TLOG1P(TEXP(-TABS(v)))); break;
    case 4: CK_MAP(v / (TABS(v) + (T)1)); break;
    case 5: CK_MAP(v <= 0 ? v * s : v); break;
    case 6: CK_MAP(v <= 0 ? TEXPM1(v) * s : v); break;
    case 7: CK_MAP((v <= 0 ? TEXPM1(v) * alpha : v) * lambda); break;
    default: break;
    }
}
#undef CK_MAP

/* dx from the head gradient og and the output y (relu, sigmoid, tanh, softrelu) or the input
 * x (softsign, leaky, elu, selu); dx may alias og. */
#define CK_GRAD(EXPR) do { CK_PFOR for (int64_t i = 0; i < n; ++i) { const T g = og[i]; dx[i] = (EXPR); } } while (0)

CK_SIMD void SFX(ck_act_bwd)(const T* og, const T* x, const T* y, T* dx, int64_t n, int kind, double slope,
                     int nt) {
    const int nthr = ck_threads(nt);
    const int par = n > CK_PAR_MIN && nthr > 1;
    const T s = (T)slope, one = (T)1;
    const T alpha = (T)1.6732632423543772848170429916717, lambda = (T)1.0507009873554804934193349852946;
    switch (kind) {
    case 0: CK_GRAD(g * (T)(y[i] > 0)); break;
    case 1: CK_GRAD((one - y[i]) * y[i] * g); break;
    case 2: CK_GRAD((one - y[i] * y[i]) * g); break;
    case 3: CK_GRAD(-TEXPM1(-y[i]) * g); break;
    case 4: { CK_GRAD(g / ((TABS(x[i]) + one) * (TABS(x[i]) + one))); break; }
    case 5: CK_GRAD(x[i] <= 0 ? g * s : g); break;
    case 6: CK_GRAD((x[i] <= 0 ? TEXP(x[i]) * s : one) * g); break;
    case 7: CK_GRAD((x[i] <= 0 ? TEXP(x[i]) * alpha : one) * lambda * g); break;
    default: break;
    }
}
#undef CK_GRAD

/* prelu over (b, c, s) data with one slope per channel (gs = 1) or one in all (gs = 0) */
CK_SIMD void SFX(ck_prelu_fwd)(const T* x, const T* gamma, T* y, int64_t B, int64_t C, int64_t S,
                       int64_t gs, int nt) {
    const int nthr = ck_threads(nt);
    const int par = B * C * S > CK_PAR_MIN && nthr > 1;
    CK_PFOR2
    for (int64_t b = 0; b < B; ++b)
        for (int64_t c = 0; c < C; ++c) {
            const T g = gamma[c * gs];
            const T* xp = x + (b * C + c) * S;
            T* yp = y + (b * C + c) * S;
            for (int64_t i = 0; i < S; ++i) yp[i] = xp[i] <= 0 ? xp[i] * g : xp[i];
        }
}

/* dx (may be NULL) and dgamma (may be NULL; C entries, or 1 when gs = 0) */
CK_SIMD void SFX(ck_prelu_bwd)(const T* og, const T* x, const T* gamma, T* dx, T* dgamma, int64_t B,
                       int64_t C, int64_t S, int64_t gs, int nt) {
    const int nthr = ck_threads(nt);
    const int par = B * C * S > CK_PAR_MIN && nthr > 1;
    if (dx) {
        CK_PFOR2
        for (int64_t b = 0; b < B; ++b)
            for (int64_t c = 0; c < C; ++c) {
                const T g = gamma[c * gs];
                const int64_t o = (b * C + c) * S;
                for (int64_t i = 0; i < S; ++i) dx[o + i] = x[o + i] <= 0 ? og[o + i] * g : og[o + i];
            }
    }
    if (!dgamma) return;
    double total = 0;
    CK_PFOR
    for (int64_t c = 0; c < C; ++c) {
        double acc = 0;
        for (int64_t b = 0; b < B; ++b) {
            const int64_t o = (b * C + c) * S;
            for (int64_t i = 0; i < S; ++i) acc += (double)(og[o + i] * (x[o + i] < 0 ? x[o + i] : (T)0));
        }
        if (gs) dgamma[c] = (T)acc;
        else {
#ifdef _OPENMP
#pragma omp atomic
#endif
            total += acc;
        }
    }
    if (!gs) dgamma[0] = (T)total;
}

/* ============================== rows: bias, column sums ==================================== */
/* y[r, :] += bias (FullyConnected's epilogue) */
void SFX(ck_add_bias_rows)(T* y, const T* bias, int64_t rows, int64_t cols, int nt) {
    const int nthr = ck_threads(nt);
    const int par = rows * cols > CK_PAR_MIN && nthr > 1;
    CK_PFOR
    for (int64_t r = 0; r < rows; ++r) {
        T* yr = y + r * cols;
        for (int64_t c = 0; c < cols; ++c) yr[c] += bias[c];
    }
}

/* out[c] = sum_r g[r, c] (FullyConnected's bias gradient), column blocks in parallel */
#define CK_COLBLOCK 256
void SFX(ck_col_sum)(const T* g, T* out, int64_t rows, int64_t cols, int nt) {
    const int nthr = ck_threads(nt);
    const int64_t blocks = (cols + CK_COLBLOCK - 1) / CK_COLBLOCK;
    const int par = rows * cols > CK_PAR_MIN && nthr > 1 && blocks > 1;
    CK_PFOR
    for (int64_t blk = 0; blk < blocks; ++blk) {
        double acc[CK_COLBLOCK];
        const int64_t c0 = blk * CK_COLBLOCK;
        const int64_t w = cols - c0 < CK_COLBLOCK ? cols - c0 : CK_COLBLOCK;
        for (int64_t c = 0; c < w; ++c) acc[c] = 0;
        for (int64_t r = 0; r < rows; ++r) {
            const T* gr = g + r * cols + c0;
            for (int64_t c = 0; c < w; ++c) acc[c] += (double)gr[c];
        }
        for (int64_t c = 0; c < w; ++c) out[c0 + c] = (T)acc[c];
    }
}

/* FullyConnected's fused epilogue: y[r, :] = act(y[r, :] + bias), bias may be NULL; kinds
 * as ck_act_fwd (relu, sigmoid, tanh, softrelu), in the same order of operations as the bias
 * add followed by ck_act_fwd */
#define CK_EPI(EXPR) do { CK_PFOR for (int64_t r = 0; r < rows; ++r) { T* yr = y + r * cols; \
    for (int64_t c = 0; c < cols; ++c) { const T v = bias ? yr[c] + bias[c] : yr[c]; yr[c] = (EXPR); } } } while (0)
CK_SIMD void SFX(ck_fc_epilogue)(T* y, const T* bias, int64_t rows, int64_t cols, int kind, int nt) {
    const int nthr = ck_threads(nt);
    const int par = rows * cols > CK_PAR_MIN && nthr > 1;
    switch (kind) {
    case 0: CK_EPI(v < 0 ? (T)0 : v); break;
    case 1: CK_EPI(TFAST_SIGMOID(v)); break;
    case 2: CK_EPI(TFAST_TANH(v)); break;
    case 3: CK_EPI((v > 0 ? v : (T)0) + TLOG1P(TEXP(-TABS(v)))); break;
    default: break;
    }
}
#undef CK_EPI

/* its gradient: dpre = og * act'(y) (dpre may alias og), and db = the column sums of dpre when
 * db is not NULL */
void SFX(ck_fc_act_bwd)(const T* og, const T* y, T* dpre, T* db, int64_t rows, int64_t cols,
                        int kind, int nt) {
    SFX(ck_act_bwd)(og, NULL, y, dpre, rows * cols, kind, 0.0, nt);
    if (db) SFX(ck_col_sum)(dpre, db, rows, cols, nt);
}

/* sum of x[0..n) in double, over 8 running partial sums: one sum would wait on the latency
 * of every addition, which bounds a long sum at a fraction of the machine's add rate */
static inline double SFX(ck_sum_double)(const T* restrict x, int64_t n) {
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; ++j) acc[j] += (double)x[i + j];
    double total = 0;
    for (; i < n; ++i) total += (double)x[i];
    return total + ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

/* out[c] = sum over b and s of g[b, c, s] (convolution bias gradient) */
void SFX(ck_channel_sum)(const T* g, T* out, int64_t B, int64_t C, int64_t S, int nt) {
    const int nthr = ck_threads(nt);
    const int par = B * C * S > CK_PAR_MIN_CHEAP && nthr > 1;
    CK_PFOR
    for (int64_t c = 0; c < C; ++c) {
        double acc = 0;
        for (int64_t b = 0; b < B; ++b) {
            acc += SFX(ck_sum_double)(g + (b * C + c) * S, S);
        }
        out[c] = (T)acc;
    }
}

/* dst (B, A, P) = src (A, B, P), plus bias[a] when bias is not NULL */
void SFX(ck_swap01)(const T* src, T* dst, const T* bias, int64_t A, int64_t B, int64_t P, int nt) {
    const int nthr = ck_threads(nt);
    const int par = A * B * P > CK_PAR_MIN_CHEAP && nthr > 1;
    CK_PFOR2
    for (int64_t b = 0; b < B; ++b)
        for (int64_t a = 0; a < A; ++a) {
            const T* s = src + (a * B + b) * P;
            T* d = dst + (b * A + a) * P;
            if (bias) {
                const T v = bias[a];
                for (int64_t i = 0; i < P; ++i) d[i] = s[i] + v;
            } else {
                memcpy(d, s, (size_t)P * sizeof(T));
            }
        }
}

/* ============================== im2col / col2im ============================================ */
/* geometry g[18]: in (d, h, w), out (d, h, w), kernel, stride, dilate, pad; 1-D and 2-D
 * windows are 3-D ones with leading extents 1. Columns are laid out (c, kd, kh, kw, n, od, oh,
 * ow), so that one GEMM covers the whole batch, or batch-major (bm): (n, c, kd, kh, kw, od, oh,
 * ow), one GEMM per sample writing the output directly (better for large images). */
#define CK_GEOM \
    const int64_t ID = g[0], IH = g[1], IW = g[2], OD = g[3], OH = g[4], OW = g[5]; \
    const int64_t KD = g[6], KH = g[7], KW = g[8], SD = g[9], SH = g[10], SW = g[11]; \
    const int64_t DD = g[12], DH = g[13], DW = g[14], PD = g[15], PH = g[16], PW = g[17]; \
    const int64_t P = OD * OH * OW, K = KD * KH * KW, IS = ID * IH * IW; \
    (void)K; (void)IS; (void)PD; (void)PH; (void)PW;

/* Rows of a few elements (convolution's output rows) cost more in loop control than in
 * moves when copied by a loop of run-time length: these move fixed-size blocks instead
 * (memcpy of a constant size is a vector load and store). d and s never overlap. */
CK_INLINE void SFX(ck_row_copy)(T* restrict d, const T* restrict s, int64_t n) {
    if (n < 4) {
        for (int64_t i = 0; i < n; ++i) d[i] = s[i];
        return;
    }
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) memcpy(d + i, s + i, 8 * sizeof(T));
    for (; i + 4 <= n; i += 4) memcpy(d + i, s + i, 4 * sizeof(T));
    if (i < n) memcpy(d + n - 4, s + n - 4, 4 * sizeof(T));  /* the last 4, overlapping */
}

CK_INLINE void SFX(ck_row_add)(T* restrict d, const T* restrict s, int64_t n) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        T a[4], b[4];
        memcpy(a, d + i, sizeof a);
        memcpy(b, s + i, sizeof b);
        for (int j = 0; j < 4; ++j) a[j] += b[j];
        memcpy(d + i, a, sizeof a);
    }
    for (; i < n; ++i) d[i] += s[i];
}

/* samples per task of the batch-minor loops: each task then walks runs of CK_NB * P columns */
#define CK_NB 8

/* No padding: every window position reads the data, so each (sample, channel, tap) plane of
 * columns is OD x OH rows of OW taken straight from the data, at the tap's offset. */
static void SFX(ck_im2col_dense)(const T* restrict x, T* restrict cols, int64_t N, int64_t C,
                                 const int64_t* g, int bm, int nt) {
    CK_GEOM
    const int nthr = ck_threads(nt);
    const int par = N * C * K * P > CK_PAR_MIN_CHEAP && nthr > 1;
    const int64_t NBS = (N + CK_NB - 1) / CK_NB;
    CK_PFOR2
    for (int64_t c = 0; c < C; ++c)
        for (int64_t nb = 0; nb < NBS; ++nb)
            for (int64_t k = 0; k < K; ++k) {
                const int64_t kd = k / (KH * KW), kh = k / KW % KH, kw = k % KW;
                const int64_t off = (kd * DD * IH + kh * DH) * IW + kw * DW;
                for (int64_t n = nb * CK_NB; n < N && n < (nb + 1) * CK_NB; ++n) {
                    const T* restrict s = x + (n * C + c) * IS + off;
                    T* restrict d = cols + (bm ? (n * C + c) * K + k : (c * K + k) * N + n) * P;
                    for (int64_t od = 0; od < OD; ++od)
                    for (int64_t oh = 0; oh < OH; ++oh, d += OW) {
                        const T* r = s + (od * SD * IH + oh * SH) * IW;
                        if (SW == 1) SFX(ck_row_copy)(d, r, OW);
                        else for (int64_t ow = 0; ow < OW; ++ow) d[ow] = r[ow * SW];
                    }
                }
            }
}

/* with padding: the window positions reading padding get zeros */
static void SFX(ck_im2col_padded)(const T* restrict x, T* restrict cols, int64_t N, int64_t C,
                                  const int64_t* g, int bm, int nt) {
    CK_GEOM
    const int nthr = ck_threads(nt);
    const int par = N * C * K * P > CK_PAR_MIN_CHEAP && nthr > 1;
    const int64_t NBS = (N + CK_NB - 1) / CK_NB;
    CK_PFOR2
    for (int64_t c = 0; c < C; ++c)
        for (int64_t nb = 0; nb < NBS; ++nb) {
            for (int64_t kd = 0; kd < KD; ++kd)
            for (int64_t kh = 0; kh < KH; ++kh) {
                /* output rows (od, oh) reading a data row, the same for every kw */
                const int64_t offh = kh * DH - PH;
                const int64_t hlo = ck_lo(offh, SH), hhi = ck_imax(ck_hi(offh, SH, IH, OH), hlo);
                for (int64_t kw = 0; kw < KW; ++kw)
                for (int64_t n = nb * CK_NB; n < N && n < (nb + 1) * CK_NB; ++n) {
                    const T* xp = x + (n * C + c) * IS;
                    const int64_t k = (kd * KH + kh) * KW + kw;
                    T* dst = cols + (bm ? (n * C + c) * K + k : (c * K + k) * N + n) * P;
                    const int64_t offw = kw * DW - PW;
                    const int64_t wlo = ck_lo(offw, SW), whi = ck_imax(ck_hi(offw, SW, IW, OW), wlo);
                    for (int64_t od = 0; od < OD; ++od) {
                        const int64_t id = od * SD - PD + kd * DD;
                        T* plane = dst + od * OH * OW;
                        if (id < 0 || id >= ID) {
                            memset(plane, 0, (size_t)(OH * OW) * sizeof(T));
                            continue;
                        }
                        if (hlo > 0) memset(plane, 0, (size_t)(hlo * OW) * sizeof(T));
                        if (hhi < OH) memset(plane + hhi * OW, 0, (size_t)((OH - hhi) * OW) * sizeof(T));
                        const T* src = xp + id * IH * IW;
                        for (int64_t oh = hlo; oh < hhi; ++oh) {
                            const T* s = src + (oh * SH + offh) * IW;
                            T* row = plane + oh * OW;
                            for (int64_t ow = 0; ow < wlo; ++ow) row[ow] = 0;
                            if (SW == 1) SFX(ck_row_copy)(row + wlo, s + wlo + offw, whi - wlo);
                            else for (int64_t ow = wlo; ow < whi; ++ow) row[ow] = s[ow * SW + offw];
                            for (int64_t ow = whi; ow < OW; ++ow) row[ow] = 0;
                        }
                    }
                }
            }
        }
}

void SFX(ck_im2col)(const T* restrict x, T* restrict cols, int64_t N, int64_t C, const int64_t* g,
                    int bm, int nt) {
    if (g[15] == 0 && g[16] == 0 && g[17] == 0) SFX(ck_im2col_dense)(x, cols, N, C, g, bm, nt);
    else SFX(ck_im2col_padded)(x, cols, N, C, g, bm, nt);
}

/* x = the columns added back at their windows (x is overwritten; padding is dropped), taps
 * in window order. Tasks own (channel, block of samples): no two write the same cell. */
static void SFX(ck_col2im_dense)(const T* restrict cols, T* restrict x, int64_t N, int64_t C,
                                 const int64_t* g, int bm, int nt) {
    CK_GEOM
    const int nthr = ck_threads(nt);
    const int par = N * C * K * P > CK_PAR_MIN_CHEAP && nthr > 1;
    const int64_t NBS = (N + CK_NB - 1) / CK_NB;
    CK_PFOR2
    for (int64_t c = 0; c < C; ++c)
        for (int64_t nb = 0; nb < NBS; ++nb) {
            const int64_t n0 = nb * CK_NB, n1 = ck_imin(N, (nb + 1) * CK_NB);
            for (int64_t n = n0; n < n1; ++n) memset(x + (n * C + c) * IS, 0, (size_t)IS * sizeof(T));
            for (int64_t k = 0; k < K; ++k) {
                const int64_t kd = k / (KH * KW), kh = k / KW % KH, kw = k % KW;
                const int64_t off = (kd * DD * IH + kh * DH) * IW + kw * DW;
                for (int64_t n = n0; n < n1; ++n) {
                    const T* restrict s = cols + (bm ? (n * C + c) * K + k : (c * K + k) * N + n) * P;
                    T* restrict d = x + (n * C + c) * IS + off;
                    for (int64_t od = 0; od < OD; ++od)
                    for (int64_t oh = 0; oh < OH; ++oh, s += OW) {
                        T* r = d + (od * SD * IH + oh * SH) * IW;
                        if (SW == 1) SFX(ck_row_add)(r, s, OW);
                        else for (int64_t ow = 0; ow < OW; ++ow) r[ow * SW] += s[ow];
                    }
                }
            }
        }
}

static void SFX(ck_col2im_padded)(const T* restrict cols, T* restrict x, int64_t N, int64_t C,
                                  const int64_t* g, int bm, int nt) {
    CK_GEOM
    const int nthr = ck_threads(nt);
    const int par = N * C * K * P > CK_PAR_MIN_CHEAP && nthr > 1;
    const int64_t NBS = (N + CK_NB - 1) / CK_NB;
    CK_PFOR2
    for (int64_t c = 0; c < C; ++c)
        for (int64_t nb = 0; nb < NBS; ++nb) {
            const int64_t n0 = nb * CK_NB, n1 = ck_imin(N, (nb + 1) * CK_NB);
            for (int64_t n = n0; n < n1; ++n) memset(x + (n * C + c) * IS, 0, (size_t)IS * sizeof(T));
            for (int64_t kd = 0; kd < KD; ++kd)
            for (int64_t kh = 0; kh < KH; ++kh)
            for (int64_t kw = 0; kw < KW; ++kw)
            for (int64_t n = n0; n < n1; ++n) {
                T* xp = x + (n * C + c) * IS;
                const int64_t k = (kd * KH + kh) * KW + kw;
                const T* src = cols + (bm ? (n * C + c) * K + k : (c * K + k) * N + n) * P;
                const int64_t offw = kw * DW - PW;
                const int64_t wlo = ck_lo(offw, SW), whi = ck_hi(offw, SW, IW, OW);
                for (int64_t od = 0; od < OD; ++od) {
                    const int64_t id = od * SD - PD + kd * DD;
                    if (id < 0 || id >= ID) continue;
                    for (int64_t oh = 0; oh < OH; ++oh) {
                        const int64_t ih = oh * SH - PH + kh * DH;
                        if (ih < 0 || ih >= IH) continue;
                        const T* row = src + (od * OH + oh) * OW;
                        T* dst = xp + (id * IH + ih) * IW;
                        if (SW == 1) SFX(ck_row_add)(dst + wlo + offw, row + wlo, whi - wlo);
                        else for (int64_t ow = wlo; ow < whi; ++ow) dst[ow * SW + offw] += row[ow];
                    }
                }
            }
        }
}

void SFX(ck_col2im)(const T* restrict cols, T* restrict x, int64_t N, int64_t C, const int64_t* g,
                    int bm, int nt) {
    if (g[15] == 0 && g[16] == 0 && g[17] == 0) SFX(ck_col2im_dense)(cols, x, N, C, g, bm, nt);
    else SFX(ck_col2im_padded)(cols, x, N, C, g, bm, nt);
}

/* ============================== pooling ==================================================== */
/* geometry g[15]: in (d, h, w), out (d, h, w), kernel, stride, pad (low side). Windows are cut
 * at the data's end; `kind` 0 max, 1 avg, 2 sum. Planes (n, c) run in parallel. */
#define CK_PGEOM \
    const int64_t ID = g[0], IH = g[1], IW = g[2], OD = g[3], OH = g[4], OW = g[5]; \
    const int64_t KD = g[6], KH = g[7], KW = g[8], SD = g[9], SH = g[10], SW = g[11]; \
    const int64_t PD = g[12], PH = g[13], PW = g[14]; \
    const int64_t IS = ID * IH * IW, OS = OD * OH * OW; \
    (void)SD; (void)SH; (void)SW; (void)PD; (void)PH; (void)PW; (void)IS; (void)OS;

/* -- the fast path: no padding and every window inside the data ------------------------------
 * Each output then reduces one full KD x KH x KW block, read straight from the data, taps in
 * window order (kd, kh, kw) as the numpy kernel applies them. The forward's `mode` is one of
 * CK_POOL_*: sum (then divided by `div`: the window size for avg, 1 for sum, which is exact),
 * max, or max over a plane known to hold no NaN (then NaN needs no tracking: checking the
 * plane first costs less than tracking it per tap). The plane functions are inlined with
 * constant extents for the common kernels (see CK_POOL_GEOMS), so the tap loops unroll and
 * the loop over ow vectorises. */
#define CK_POOL_MAX 0
#define CK_POOL_SUM 1
#define CK_POOL_MAX_NO_NAN 2

static inline int SFX(ck_has_nan)(const T* restrict x, int64_t n) {
    int any = 0;
    for (int64_t i = 0; i < n; ++i) any |= x[i] != x[i];
    return any;
}

static inline int SFX(ck_pool_inner)(const int64_t* g) {
    CK_PGEOM
    return PD == 0 && PH == 0 && PW == 0 && OD > 0 && OH > 0 && OW > 0
           && (OD - 1) * SD + KD <= ID && (OH - 1) * SH + KH <= IH && (OW - 1) * SW + KW <= IW;
}

CK_INLINE void SFX(ck_pool_plane_fwd)(const T* restrict xp, T* restrict yp, const int64_t* g,
                                      T div, int mode, int64_t SW, int64_t KD, int64_t KH,
                                      int64_t KW) {
    const int64_t IH = g[1], IW = g[2], OD = g[3], OH = g[4], OW = g[5], SD = g[9], SH = g[10];
    const int64_t ds = IH * IW;  /* data strides: plane of depth, row */
    for (int64_t od = 0; od < OD; ++od)
    for (int64_t oh = 0; oh < OH; ++oh) {
        const T* restrict w = xp + od * SD * ds + oh * SH * IW;  /* the row's first window */
        T* restrict yr = yp + (od * OH + oh) * OW;
        for (int64_t ow = 0; ow < OW; ++ow) {
            /* max keeps the first NaN apart (`nan`, kept once it is one): a chain of
             * NaN-aware selects (CK_MAXSEL) would not vectorise */
            const T* c = w + ow * SW;
            T r = c[0], nan = r;
            for (int64_t kd = 0; kd < KD; ++kd)
            for (int64_t kh = 0; kh < KH; ++kh)
            for (int64_t kw = 0; kw < KW; ++kw) {
                if (kd == 0 && kh == 0 && kw == 0) continue;
                const T v = c[kd * ds + kh * IW + kw];
                if (mode == CK_POOL_SUM) {
                    r = r + v;
                } else {
                    r = v > r ? v : r;
                    if (mode == CK_POOL_MAX) nan = nan == nan ? v : nan;
                }
            }
            yr[ow] = mode == CK_POOL_SUM ? r / div : mode == CK_POOL_MAX && nan != nan ? nan : r;
        }
    }
}

/* windows that do not overlap (stride >= kernel): each dx cell is written once, by its
 * window; max writes dy * hit (as numpy: dy * 0 keeps the sign and NaN of dy) with hit set
 * on the first cell equal to the output. The caller zeroes cells no window covers. */
CK_INLINE void SFX(ck_pool_plane_bwd)(const T* restrict xp, const T* restrict yp,
                                      const T* restrict dyp, T* restrict dxp, const int64_t* g,
                                      T div, int add, int64_t SW, int64_t KD, int64_t KH,
                                      int64_t KW) {
    const int64_t IH = g[1], IW = g[2], OD = g[3], OH = g[4], OW = g[5], SD = g[9], SH = g[10];
    const int64_t ds = IH * IW;
    for (int64_t od = 0; od < OD; ++od)
    for (int64_t oh = 0; oh < OH; ++oh) {
        const int64_t first = od * SD * ds + oh * SH * IW, o = (od * OH + oh) * OW;
        T* restrict d = dxp + first;
        const T* restrict dyr = dyp + o;
        if (add) {
            for (int64_t ow = 0; ow < OW; ++ow) {
                const T share = dyr[ow] / div;
                for (int64_t kd = 0; kd < KD; ++kd)
                for (int64_t kh = 0; kh < KH; ++kh)
                for (int64_t kw = 0; kw < KW; ++kw) d[ow * SW + kd * ds + kh * IW + kw] = share;
            }
            continue;
        }
        const T* restrict w = xp + first;
        const T* restrict yr = yp + o;
        for (int64_t ow = 0; ow < OW; ++ow) {
            /* `left` is 1 until the first hit, then 0: selects in T vectorise, flags do not */
            const T m = yr[ow], gv = dyr[ow];
            T left = 1;
            for (int64_t kd = 0; kd < KD; ++kd)
            for (int64_t kh = 0; kh < KH; ++kh)
            for (int64_t kw = 0; kw < KW; ++kw) {
                const int64_t at = ow * SW + kd * ds + kh * IW + kw;
                const T hit = w[at] == m ? left : (T)0;
                d[at] = gv * hit;
                left -= hit;
            }
        }
    }
}

/* calls F(m, SW, KD, KH, KW), m a constant, with constant extents for the common windows
 * (2x2 / 2, 3x3 / 2, 3x3 / 3), else with the plane's values */
#define CK_POOL_GEOMS(F, m, SW, KD, KH, KW) do { \
    const int ck_2d = (KD) == 1, ck_k2 = (KH) == 2 && (KW) == 2, ck_k3 = (KH) == 3 && (KW) == 3; \
    if (ck_2d && ck_k2 && (SW) == 2) F(m, 2, 1, 2, 2); \
    else if (ck_2d && ck_k3 && (SW) == 2) F(m, 2, 1, 3, 3); \
    else if (ck_2d && ck_k3 && (SW) == 3) F(m, 3, 1, 3, 3); \
    else F(m, SW, KD, KH, KW); \
} while (0)

static void SFX(ck_pool_fast_fwd)(const T* x, T* y, int64_t planes, const int64_t* g, int kind,
                                  int nt) {
    CK_PGEOM
    const int nthr = ck_threads(nt);
    const int par = planes * OS * KD * KH * KW > CK_PAR_MIN_CHEAP && nthr > 1;
    const T div = kind == 1 ? (T)(KD * KH * KW) : (T)1;
    CK_PFOR
    for (int64_t pl = 0; pl < planes; ++pl) {
        const T* xp = x + pl * IS;
        T* yp = y + pl * OS;
#define CK_CALL(m, sw, kd, kh, kw) SFX(ck_pool_plane_fwd)(xp, yp, g, div, m, sw, kd, kh, kw)
        if (kind != 0) CK_POOL_GEOMS(CK_CALL, CK_POOL_SUM, SW, KD, KH, KW);
        else if (!SFX(ck_has_nan)(xp, IS)) CK_POOL_GEOMS(CK_CALL, CK_POOL_MAX_NO_NAN, SW, KD, KH, KW);
        else CK_CALL(CK_POOL_MAX, SW, KD, KH, KW);  /* NaN: rare, no specialisation */
#undef CK_CALL
    }
}

static void SFX(ck_pool_fast_bwd)(const T* x, const T* y, const T* dy, T* dx, int64_t planes,
                                  const int64_t* g, int kind, int nt) {
    CK_PGEOM
    const int nthr = ck_threads(nt);
    const int par = planes * IS > CK_PAR_MIN_CHEAP && nthr > 1;
    const T div = kind == 1 ? (T)(KD * KH * KW) : (T)1;
    const int add = kind != 0;
    /* windows tiling the data cover every cell: no zeroing */
    const int tiled = SD == KD && SH == KH && SW == KW && ID == OD * KD && IH == OH * KH
                      && IW == OW * KW;
    CK_PFOR
    for (int64_t pl = 0; pl < planes; ++pl) {
        const T* xp = add ? NULL : x + pl * IS;
        const T* yp = add ? NULL : y + pl * OS;
        T* dxp = dx + pl * IS;
        if (!tiled) memset(dxp, 0, (size_t)IS * sizeof(T));
#define CK_CALL(a, sw, kd, kh, kw) \
        SFX(ck_pool_plane_bwd)(xp, yp, dy + pl * OS, dxp, g, div, a, sw, kd, kh, kw)
        if (add) CK_POOL_GEOMS(CK_CALL, 1, SW, KD, KH, KW);
        else CK_POOL_GEOMS(CK_CALL, 0, SW, KD, KH, KW);
#undef CK_CALL
    }
}

/* -- the general path: padding, windows cut at the data's end, overlapping windows ----------- */
/* the running maximum after seeing v: NaN wins and stays (numpy's maximum) */
#define CK_MAXSEL(r, v) ((((v) > (r)) | ((v) != (v))) & ((r) == (r)) ? (v) : (r))

static void SFX(ck_pool_general_fwd)(const T* x, T* y, int64_t planes, const int64_t* g,
                                     int kind, int include_pad, int nt) {
    CK_PGEOM
    const int nthr = ck_threads(nt);
    const int par = planes * OS * KD * KH * KW > CK_PAR_MIN && nthr > 1;
    CK_PFOR
    for (int64_t pl = 0; pl < planes; ++pl) {
        const T* xp = x + pl * IS;
        T* yp = y + pl * OS;
        for (int64_t od = 0; od < OD; ++od)
        for (int64_t oh = 0; oh < OH; ++oh) {
            /* one output row: every tap of the window adds (or maxes) a strided input row;
             * max starts from the lowest value, as the numpy kernel's padding */
            const int64_t d0 = od * SD - PD, h0 = oh * SH - PH;
            T* yr = yp + (od * OH + oh) * OW;
            const T init = kind == 0 ? TLOWEST : (T)0;
            for (int64_t ow = 0; ow < OW; ++ow) yr[ow] = init;
            for (int64_t kd = 0; kd < KD; ++kd) {
                const int64_t d = d0 + kd;
                if (d < 0 || d >= ID) continue;
                for (int64_t kh = 0; kh < KH; ++kh) {
                    const int64_t h = h0 + kh;
                    if (h < 0 || h >= IH) continue;
                    const T* row = xp + (d * IH + h) * IW;
                    for (int64_t kw = 0; kw < KW; ++kw) {
                        const int64_t off = kw - PW;
                        const int64_t lo = ck_lo(off, SW), hi = ck_hi(off, SW, IW, OW);
                        if (kind == 0) {
                            for (int64_t ow = lo; ow < hi; ++ow) {
                                const T v = row[ow * SW + off], r = yr[ow];
                                yr[ow] = CK_MAXSEL(r, v);
                            }
                        } else {
                            for (int64_t ow = lo; ow < hi; ++ow) yr[ow] += row[ow * SW + off];
                        }
                    }
                }
            }
            if (kind == 1) {
                const int64_t cdh = ck_count(d0, KD, ID, PD, include_pad) * ck_count(h0, KH, IH, PH, include_pad);
                for (int64_t ow = 0; ow < OW; ++ow) {
                    const int64_t cnt = cdh * ck_count(ow * SW - PW, KW, IW, PW, include_pad);
                    yr[ow] = yr[ow] / (T)(cnt > 1 ? cnt : 1);
                }
            }
        }
    }
}

/* Each output row is walked once per kernel tap with an inner loop over the row; dx is
 * accumulated in tap order, as the numpy kernel does. `taken` and `share` (OW entries) are
 * per-thread work rows. */
static void SFX(ck_pool_general_bwd_plane)(const T* xp, const T* yp, const T* dyp, T* dxp,
                                           const int64_t* g, int kind, int include_pad,
                                           unsigned char* taken, T* share) {
    CK_PGEOM
    memset(dxp, 0, (size_t)IS * sizeof(T));
    for (int64_t od = 0; od < OD; ++od)
    for (int64_t oh = 0; oh < OH; ++oh) {
        const int64_t d0 = od * SD - PD, h0 = oh * SH - PH;
        const T* dyr = dyp + (od * OH + oh) * OW;
        const T* yr = kind == 0 ? yp + (od * OH + oh) * OW : NULL;
        const T* gr = dyr;
        if (kind == 0) memset(taken, 0, (size_t)OW);
        if (kind == 1) {
            const int64_t cdh = ck_count(d0, KD, ID, PD, include_pad) * ck_count(h0, KH, IH, PH, include_pad);
            for (int64_t ow = 0; ow < OW; ++ow) {
                const int64_t cnt = cdh * ck_count(ow * SW - PW, KW, IW, PW, include_pad);
                share[ow] = dyr[ow] / (T)(cnt > 1 ? cnt : 1);
            }
            gr = share;
        }
        for (int64_t kd = 0; kd < KD; ++kd)
        for (int64_t kh = 0; kh < KH; ++kh) {
            const int64_t d = d0 + kd, h = h0 + kh;
            const int rows_in = d >= 0 && d < ID && h >= 0 && h < IH;
            const T* xrow = rows_in && kind == 0 ? xp + (d * IH + h) * IW : NULL;
            T* drow = rows_in ? dxp + (d * IH + h) * IW : NULL;
            for (int64_t kw = 0; kw < KW; ++kw) {
                const int64_t off = kw - PW;
                const int64_t lo = rows_in ? ck_lo(off, SW) : 0;
                const int64_t hi = rows_in ? ck_imax(ck_hi(off, SW, IW, OW), lo) : 0;
                if (kind != 0) {
                    for (int64_t ow = lo; ow < hi; ++ow) drow[ow * SW + off] += gr[ow];
                    continue;
                }
                /* a padding cell (the lowest value) can be the first maximum */
                for (int64_t ow = 0; ow < lo; ++ow) taken[ow] |= yr[ow] == TLOWEST;
                for (int64_t ow = hi; ow < OW; ++ow) taken[ow] |= yr[ow] == TLOWEST;
                for (int64_t ow = lo; ow < hi; ++ow) {
                    const unsigned char hit = (xrow[ow * SW + off] == yr[ow]) & !taken[ow];
                    drow[ow * SW + off] += dyr[ow] * (T)hit;  /* as numpy: dy * hit */
                    taken[ow] |= hit;
                }
            }
        }
    }
}

static void SFX(ck_pool_general_bwd)(const T* x, const T* y, const T* dy, T* dx, int64_t planes,
                                     const int64_t* g, int kind, int include_pad, int nt) {
    CK_PGEOM
    const int nthr = ck_threads(nt);
    const int par = planes * OS * KD * KH * KW > CK_PAR_MIN && nthr > 1;
#ifdef _OPENMP
#pragma omp parallel num_threads(nthr) if(par)
#endif
    {
        unsigned char* taken = (unsigned char*)malloc((size_t)OW + 1);
        T* share = (T*)malloc(((size_t)OW + 1) * sizeof(T));
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
        for (int64_t pl = 0; pl < planes; ++pl)
            SFX(ck_pool_general_bwd_plane)(kind == 0 ? x + pl * IS : NULL,
                                           kind == 0 ? y + pl * OS : NULL, dy + pl * OS,
                                           dx + pl * IS, g, kind, include_pad, taken, share);
        free(taken);
        free(share);
    }
}

void SFX(ck_pool_fwd)(const T* x, T* y, int64_t planes, const int64_t* g, int kind,
                      int include_pad, int nt) {
    if (SFX(ck_pool_inner)(g)) SFX(ck_pool_fast_fwd)(x, y, planes, g, kind, nt);
    else SFX(ck_pool_general_fwd)(x, y, planes, g, kind, include_pad, nt);
}

/* dx from dy: max sends each window's gradient to its first cell (in window order, padding
 * cells counting as the lowest value) equal to the output; avg/sum spread it over the window.
 * max reads x and y; avg and sum read neither. */
void SFX(ck_pool_bwd)(const T* x, const T* y, const T* dy, T* dx, int64_t planes, const int64_t* g,
                      int kind, int include_pad, int nt) {
    const int disjoint = g[9] >= g[6] && g[10] >= g[7] && g[11] >= g[8];
    if (disjoint && SFX(ck_pool_inner)(g)) SFX(ck_pool_fast_bwd)(x, y, dy, dx, planes, g, kind, nt);
    else SFX(ck_pool_general_bwd)(x, y, dy, dx, planes, g, kind, include_pad, nt);
}

/* ============================== BatchNorm ================================================== */
/* data seen as (B, C, S) with channels C; statistics per channel, channels in parallel */
CK_SIMD void SFX(ck_bn_fwd_train)(const T* x, T* y, const T* gamma, const T* beta, T* mean, T* invstd,
                          T* mmean, T* mvar, int64_t B, int64_t C, int64_t S, double eps,
                          double momentum, int nt) {
    const int nthr = ck_threads(nt);
    const int par = B * C * S > CK_PAR_MIN && nthr > 1;
    const int64_t cnt = B * S > 1 ? B * S : 1;
    const T mom = (T)momentum, keep = (T)(1.0 - momentum);
    CK_PFOR
    for (int64_t c = 0; c < C; ++c) {
        double s = 0;
        for (int64_t b = 0; b < B; ++b) {
            const T* xp = x + (b * C + c) * S;
            double part = 0;
#ifdef _OPENMP
#pragma omp simd reduction(+:part)
#endif
            for (int64_t i = 0; i < S; ++i) part += (double)xp[i];
            s += part;
        }
        const T m = (T)(s / (double)cnt);
        double v = 0;
        for (int64_t b = 0; b < B; ++b) {
            const T* xp = x + (b * C + c) * S;
            double part = 0;
#ifdef _OPENMP
#pragma omp simd reduction(+:part)
#endif
            for (int64_t i = 0; i < S; ++i) { const T d = xp[i] - m; part += (double)(d * d); }
            v += part;
        }
        const T var = (T)(v / (double)cnt);
        mean[c] = m;
        mmean[c] = mmean[c] * mom + m * keep;
        mvar[c] = mvar[c] * mom + var * keep;
        const T is = (T)1 / TSQRT(var + (T)eps);
        invstd[c] = is;
        const T sc = gamma[c] * is, bb = beta[c];
        for (int64_t b = 0; b < B; ++b) {
            const T* xp = x + (b * C + c) * S;
            T* yp = y + (b * C + c) * S;
            for (int64_t i = 0; i < S; ++i) yp[i] = (xp[i] - m) * sc + bb;
        }
    }
}

/* inference: the moving statistics, copied into mean / invstd for backward */
CK_SIMD void SFX(ck_bn_fwd_infer)(const T* x, T* y, const T* gamma, const T* beta, T* mean, T* invstd,
                          const T* mmean, const T* mvar, int64_t B, int64_t C, int64_t S,
                          double eps, int nt) {
    const int nthr = ck_threads(nt);
    const int par = B * C * S > CK_PAR_MIN && nthr > 1;
    for (int64_t c = 0; c < C; ++c) {
        mean[c] = mmean[c];
        invstd[c] = (T)1 / TSQRT(mvar[c] + (T)eps);
    }
    CK_PFOR2
    for (int64_t b = 0; b < B; ++b)
        for (int64_t c = 0; c < C; ++c) {
            const T sc = gamma[c] * invstd[c];
            const T shift = beta[c] - mean[c] * sc;
            const T* xp = x + (b * C + c) * S;
            T* yp = y + (b * C + c) * S;
            for (int64_t i = 0; i < S; ++i) yp[i] = xp[i] * sc + shift;
        }
}

/* gradients; dx, dgamma, dbeta may each be NULL */
CK_SIMD void SFX(ck_bn_bwd)(const T* og, const T* x, const T* gamma, const T* mean, const T* invstd,
                    T* dx, T* dgamma, T* dbeta, int64_t B, int64_t C, int64_t S, int fix_gamma,
                    int use_global, int nt) {
    const int nthr = ck_threads(nt);
    const int par = B * C * S > CK_PAR_MIN && nthr > 1;
    const int64_t cnt = B * S > 1 ? B * S : 1;
    CK_PFOR
    for (int64_t c = 0; c < C; ++c) {
        const T m = mean[c], is = invstd[c];
        double sg = 0, sgx = 0;
        for (int64_t b = 0; b < B; ++b) {
            const T* gp = og + (b * C + c) * S;
            const T* xp = x + (b * C + c) * S;
            double p1 = 0, p2 = 0;
#ifdef _OPENMP
#pragma omp simd reduction(+:p1, p2)
#endif
            for (int64_t i = 0; i < S; ++i) { p1 += (double)gp[i]; p2 += (double)gp[i] * (double)(xp[i] - m); }
            sg += p1;
            sgx += p2;
        }
        const T db = (T)sg, dg = (T)sgx * is;
        if (dgamma) dgamma[c] = fix_gamma ? (T)0 : dg;
        if (dbeta) dbeta[c] = db;
        if (!dx) continue;
        const T sc = fix_gamma ? is : gamma[c] * is;
        const T k1 = -is * dg / (T)cnt, k2 = db / (T)cnt;
        for (int64_t b = 0; b < B; ++b) {
            const T* gp = og + (b * C + c) * S;
            const T* xp = x + (b * C + c) * S;
            T* dp = dx + (b * C + c) * S;
            if (use_global) for (int64_t i = 0; i < S; ++i) dp[i] = gp[i] * sc;
            else for (int64_t i = 0; i < S; ++i) dp[i] = ((xp[i] - m) * k1 + gp[i] - k2) * sc;
        }
    }
}

/* ============================== softmax ==================================================== */
/* rows of n elements `inner` apart: data (outer, n, inner); row r = (o, i) */
CK_SIMD void SFX(ck_softmax_fwd)(const T* x, T* y, int64_t outer, int64_t n, int64_t inner, double scale,
                         int log_out, int nt) {
    const int nthr = ck_threads(nt);
    const int64_t rows = outer * inner;
    const int par = rows * n > CK_PAR_MIN / 4 && nthr > 1 && rows > 1;
    const T sc = (T)scale;
    CK_PFOR
    for (int64_t r = 0; r < rows; ++r) {
        const int64_t base = (r / inner) * n * inner + r % inner;
        const T* xp = x + base;
        T* yp = y + base;
        T mx = TLOWEST;
        int nan = 0;
        for (int64_t j = 0; j < n; ++j) {
            const T v = xp[j * inner] * sc;
            yp[j * inner] = v;
            mx = v > mx ? v : mx;
            nan |= v != v;
        }
        if (nan) mx = (T)NAN;
        double s = 0;
        if (log_out) {
            for (int64_t j = 0; j < n; ++j) { yp[j * inner] -= mx; s += (double)TEXP(yp[j * inner]); }
            const T ls = (T)log(s);
            for (int64_t j = 0; j < n; ++j) yp[j * inner] -= ls;
        } else {
            for (int64_t j = 0; j < n; ++j) { const T e = TEXP(yp[j * inner] - mx); yp[j * inner] = e; s += (double)e; }
            const T ts = (T)s;
            for (int64_t j = 0; j < n; ++j) yp[j * inner] /= ts;
        }
    }
}

CK_SIMD void SFX(ck_softmax_bwd)(const T* y, const T* og, T* dx, int64_t outer, int64_t n, int64_t inner,
                         double scale, int log_out, int nt) {
    const int nthr = ck_threads(nt);
    const int64_t rows = outer * inner;
    const int par = rows * n > CK_PAR_MIN / 4 && nthr > 1 && rows > 1;
    const T sc = (T)scale;
    CK_PFOR
    for (int64_t r = 0; r < rows; ++r) {
        const int64_t base = (r / inner) * n * inner + r % inner;
        const T* yp = y + base;
        const T* gp = og + base;
        T* dp = dx + base;
        double s = 0;
        if (log_out) {
            for (int64_t j = 0; j < n; ++j) s += (double)gp[j * inner];
            const T ts = (T)s;
            for (int64_t j = 0; j < n; ++j) dp[j * inner] = (gp[j * inner] - TEXP(yp[j * inner]) * ts) * sc;
        } else {
            for (int64_t j = 0; j < n; ++j) s += (double)(gp[j * inner] * yp[j * inner]);
            const T ts = (T)s;
            for (int64_t j = 0; j < n; ++j) dp[j * inner] = (gp[j * inner] - ts) * yp[j * inner] * sc;
        }
    }
}

/* SoftmaxOutput's gradient against class indices: prob (outer, k, inner), label (outer,
 * inner). Returns -1, or the flat position of the first label outside [0, k) (nothing is
 * written then). Ignored rows (use_ignore and label == ignore_label, both truncated to
 * integers) get 0. og may be NULL (out_grad off); factor = grad_scale / normalisation. */
int64_t SFX(ck_softmax_output_bwd)(const T* prob, const T* label, const T* og, T* dx,
                                   int64_t outer, int64_t k, int64_t inner, int use_ignore,
                                   double ignore_label, double smooth_alpha, double factor, int nt) {
    const int64_t rows = outer * inner;
    const int64_t ignore = (int64_t)ignore_label;
    for (int64_t r = 0; r < rows; ++r) {
        const int64_t idx = (int64_t)label[r];
        if (use_ignore && idx == ignore) continue;
        if (idx < 0 || idx >= k) return r;
    }
    const int nthr = ck_threads(nt);
    const int par = rows * k > CK_PAR_MIN / 4 && nthr > 1 && rows > 1;
    const T off = smooth_alpha != 0 ? (T)(smooth_alpha / (double)(k - 1)) : (T)0;
    const T on = (T)(smooth_alpha != 0 ? (1.0 - smooth_alpha) - smooth_alpha / (double)(k - 1)
                                       : 1.0 - smooth_alpha);
    const T f = (T)factor;
    CK_PFOR
    for (int64_t r = 0; r < rows; ++r) {
        const int64_t base = (r / inner) * k * inner + r % inner;
        const int64_t idx = (int64_t)label[r];
        const int skip = use_ignore && idx == ignore;
        for (int64_t j = 0; j < k; ++j) {
            const int64_t at = base + j * inner;
            T v = prob[at];
            if (smooth_alpha != 0) v -= off;
            if (j == idx) v -= on;
            if (skip) v = 0;
            if (og) v *= og[at];
            dx[at] = v * f;
        }
    }
    return -1;
}

/* ============================== broadcast element-wise ===================================== */
/* out (contiguous, `shape`) = op(a, b, c) with element strides sa, sb, sc (0 where an operand
 * is broadcast; c and sc may be NULL). ops: 0 a+b, 1 a-b, 2 a*b, 3 a/b, 4 max(a,b), 5 min(a,b),
 * 6 -a, 7 a, 8 -(c/b)*a, 9 (b>=c)*a, 10 (b<c)*a, 11 (b<=c)*a, 12 (b>c)*a, 13 (b==c)*a,
 * 14 a*scalar. Rows of the last axis run in parallel. */
/* a binary operation over one row, with loops specialised for the usual stride patterns */
#define CK_BINARY(EXPR) do { \
    if (ja == 1 && jb == 1) for (j = 0; j < L; ++j) { const T u = ap[j], v = bp[j]; op_[j] = (EXPR); } \
    else if (ja == 1 && jb == 0) { const T v = bp[0]; for (j = 0; j < L; ++j) { const T u = ap[j]; op_[j] = (EXPR); } } \
    else if (ja == 0 && jb == 1) { const T u = ap[0]; for (j = 0; j < L; ++j) { const T v = bp[j]; op_[j] = (EXPR); } } \
    else for (j = 0; j < L; ++j) { const T u = ap[j * ja], v = bp[j * jb]; op_[j] = (EXPR); } \
} while (0)

void SFX(ck_ewise)(int op, const T* a, const T* b, const T* c, T* out, int ndim,
                   const int64_t* shape, const int64_t* sa, const int64_t* sb, const int64_t* sc,
                   double scalar, int nt) {
    int64_t total = 1;
    for (int d = 0; d < ndim; ++d) total *= shape[d];
    if (total == 0) return;
    const int64_t L = ndim ? shape[ndim - 1] : 1;
    const int64_t rows = total / L;
    const int64_t ja = ndim ? sa[ndim - 1] : 0;
    const int64_t jb = (b && ndim) ? sb[ndim - 1] : 0;
    const int64_t jc = (c && ndim) ? sc[ndim - 1] : 0;
    const T s = (T)scalar;
    const int nthr = ck_threads(nt);
    const int par = total > CK_PAR_MIN && nthr > 1 && rows > 1;
    CK_PFOR
    for (int64_t r = 0; r < rows; ++r) {
        int64_t oa = 0, ob = 0, oc = 0, rem = r;
        for (int d = ndim - 2; d >= 0; --d) {
            const int64_t i = rem % shape[d];
            rem /= shape[d];
            oa += i * sa[d];
            if (b) ob += i * sb[d];
            if (c) oc += i * sc[d];
        }
        const T* ap = a + oa;
        const T* bp = b ? b + ob : NULL;
        const T* cp = c ? c + oc : NULL;
        T* op_ = out + r * L;
        int64_t j;
        switch (op) {
        case 0: CK_BINARY(u + v); break;
        case 1: CK_BINARY(u - v); break;
        case 2: CK_BINARY(u * v); break;
        case 3: CK_BINARY(u / v); break;
        case 4: CK_BINARY((u != u || u >= v) ? u : v); break;
        case 5: CK_BINARY((u != u || u <= v) ? u : v); break;
        case 6: for (j = 0; j < L; ++j) op_[j] = -ap[j * ja]; break;
        case 7: for (j = 0; j < L; ++j) op_[j] = ap[j * ja]; break;
        case 8: for (j = 0; j < L; ++j) op_[j] = -(cp[j * jc] / bp[j * jb]) * ap[j * ja]; break;
        case 9: for (j = 0; j < L; ++j) op_[j] = (T)(bp[j * jb] >= cp[j * jc]) * ap[j * ja]; break;
        case 10: for (j = 0; j < L; ++j) op_[j] = (T)(bp[j * jb] < cp[j * jc]) * ap[j * ja]; break;
        case 11: for (j = 0; j < L; ++j) op_[j] = (T)(bp[j * jb] <= cp[j * jc]) * ap[j * ja]; break;
        case 12: for (j = 0; j < L; ++j) op_[j] = (T)(bp[j * jb] > cp[j * jc]) * ap[j * ja]; break;
        case 13: for (j = 0; j < L; ++j) op_[j] = (T)(bp[j * jb] == cp[j * jc]) * ap[j * ja]; break;
        case 14: for (j = 0; j < L; ++j) op_[j] = ap[j * ja] * s; break;
        default: break;
        }
    }
}
#undef CK_BINARY

/* ============================== reductions ================================================= */
/* out (A, B) = reduce over r of x (A, R, B); op 0 sum (accumulated in double), 1 max, 2 min
 * (NaN propagates). Runs over (a, block of b) pairs in parallel. */
#define CK_RBLOCK 256
void SFX(ck_reduce)(const T* x, T* out, int64_t A, int64_t R, int64_t B, int op, int nt) {
    const int nthr = ck_threads(nt);
    if (B == 1) {
        const int par = A * R > CK_PAR_MIN && nthr > 1 && A > 1;
        CK_PFOR
        for (int64_t a = 0; a < A; ++a) {
            const T* xp = x + a * R;
            if (op == 0) {
                double s = 0;
#ifdef _OPENMP
#pragma omp simd reduction(+:s)
#endif
                for (int64_t r = 0; r < R; ++r) s += (double)xp[r];
                out[a] = (T)s;
            } else {
                T m = xp[0];
                for (int64_t r = 1; r < R; ++r) {
                    const T v = xp[r];
                    const int better = op == 1 ? v > m : v < m;
                    m = (better || v != v) && m == m ? v : m;
                }
                out[a] = m;
            }
        }
        return;
    }
    const int64_t blocks = (B + CK_RBLOCK - 1) / CK_RBLOCK;
    const int par = A * R * B > CK_PAR_MIN && nthr > 1 && A * blocks > 1;
    CK_PFOR2
    for (int64_t a = 0; a < A; ++a)
        for (int64_t blk = 0; blk < blocks; ++blk) {
            const int64_t b0 = blk * CK_RBLOCK;
            const int64_t w = B - b0 < CK_RBLOCK ? B - b0 : CK_RBLOCK;
            const T* xp = x + a * R * B + b0;
            T* op_ = out + a * B + b0;
            if (op == 0) {
                double acc[CK_RBLOCK];
                for (int64_t j = 0; j < w; ++j) acc[j] = 0;
                for (int64_t r = 0; r < R; ++r)
                    for (int64_t j = 0; j < w; ++j) acc[j] += (double)xp[r * B + j];
                for (int64_t j = 0; j < w; ++j) op_[j] = (T)acc[j];
            } else {
                for (int64_t j = 0; j < w; ++j) op_[j] = xp[j];
                for (int64_t r = 1; r < R; ++r)
                    for (int64_t j = 0; j < w; ++j) {
                        const T v = xp[r * B + j], m = op_[j];
                        const int better = op == 1 ? v > m : v < m;
                        op_[j] = (better || v != v) && m == m ? v : m;
                    }
            }
        }
}

/* ============================== optimizer updates ========================================== */
/* MXNet's sgd_update / sgd_mom_update in T, in the optimizer's order of operations; hyper-
 * parameters arrive as float (rounded to float32 as MXNet's kernels parse them), then are
 * widened to T. clip < 0: no clipping. */
CK_SIMD void SFX(ck_sgd_update)(T* w, const T* g, T* mom, int64_t n, float lr_f, float wd_f,
                        float rescale_f, float clip_f, float momentum_f, int nt) {
    const T lr = lr_f, wd = wd_f, rescale = rescale_f, clip = clip_f, momentum = momentum_f;
    const int nthr = ck_threads(nt);
    const int par = n > CK_PAR_MIN && nthr > 1;
    const T lr_rescale = lr * rescale, lr_wd = lr * wd;
    CK_PFOR
    for (int64_t i = 0; i < n; ++i) {
        T step;
        if (clip < 0) step = g[i] * lr_rescale;
        else {
            step = g[i] * rescale;
            step = step < -clip ? -clip : (step > clip ? clip : step);
            step = step * lr;
        }
        if (!mom) {
            step += w[i] * lr_wd;
            w[i] -= step;
        } else {
            T m = mom[i] * momentum;
            m -= w[i] * lr_wd;
            m -= step;
            mom[i] = m;
            w[i] += m;
        }
    }
}

CK_SIMD void SFX(ck_adam_update)(T* w, const T* g, T* mean, T* var, int64_t n, float lr_f, float wd_f,
                         float rescale_f, float clip_f, float beta1_f, float beta2_f, float eps_f,
                         int nt) {
    const T lr = lr_f, wd = wd_f, rescale = rescale_f, clip = clip_f, beta1 = beta1_f,
            beta2 = beta2_f, eps = eps_f;
    const int nthr = ck_threads(nt);
    const int par = n > CK_PAR_MIN && nthr > 1;
    const T one = (T)1, k1 = one - beta1, k2 = one - beta2;
    CK_PFOR
    for (int64_t i = 0; i < n; ++i) {
        T step = g[i] * rescale;
        step += w[i] * wd;
        if (clip >= 0) step = step < -clip ? -clip : (step > clip ? clip : step);
        T m = mean[i] * beta1;
        m += step * k1;
        mean[i] = m;
        T v = var[i] * beta2;
        v += step * k2 * step;
        var[i] = v;
        const T den = TSQRT(v) + eps;
        w[i] -= (m * lr) / den;
    }
}

/* ============================== GEMM through the BLAS ====================================== */
/* `count` row-major GEMMs C_i = op(A_i) op(B_i) + beta C_i, the i-th operands at element
 * offsets i * sA, i * sB, i * sC (a stride 0 repeats one operand). They are split over the
 * threads: whole GEMMs when there are at least as many as threads, else each GEMM's columns
 * (or rows, when it has fewer columns than rows) in blocks of 16, every piece a single-threaded
 * BLAS call; small problems run whole on the calling thread, single-threaded too (so the BLAS's
 * own threads stay asleep). Call only when ck_have_blas(). */
void SFX(ck_gemm)(int ta, int tb, int64_t count, int64_t M, int64_t N, int64_t K,
                  const T* A, int64_t lda, int64_t sA, const T* B, int64_t ldb, int64_t sB,
                  T beta, T* C, int64_t ldc, int64_t sC, int nt) {
    const int nthr = ck_threads(nt);
    const int par = nthr > 1 && count * M * N * K >= CK_GEMM_PAR_MIN;
    const int by_cols = N >= M;
    const int64_t span = by_cols ? N : M;
    const int64_t blocks = (span + 15) / 16;
    /* pieces per GEMM: 1 when whole GEMMs keep every thread busy */
    const int64_t split = (!par || count >= nthr) ? 1 : (blocks < nthr ? blocks : nthr);
    const int64_t tasks = count * split;
    ck_blas_single_begin();
#ifdef _OPENMP
#pragma omp parallel for num_threads(nthr) if(par && tasks > 1) schedule(static)
#endif
    for (int64_t task = 0; task < tasks; ++task) {
        const int64_t i = task / split, piece = task % split;
        const int64_t lo = blocks * piece / split * 16;
        int64_t hi = blocks * (piece + 1) / split * 16;
        hi = hi < span ? hi : span;
        if (hi <= lo) continue;
        const T* a = A + i * sA;
        const T* b = B + i * sB;
        T* c = C + i * sC;
        if (by_cols)  /* columns lo..hi of C: those columns of op(B) */
            TBLAS(ta, tb, M, hi - lo, K, a, lda, b + (tb ? lo * ldb : lo), ldb, beta, c + lo, ldc);
        else          /* rows lo..hi of C: those rows of op(A) */
            TBLAS(ta, tb, hi - lo, N, K, a + (ta ? lo : lo * lda), lda, b, ldb, beta,
                  c + lo * ldc, ldc);
    }
    ck_blas_single_end();
}

/* ============================== convolution over batch chunks ============================== */
/* Convolution with the batch cut into chunks of `chunk` samples that the threads share out,
 * each chunk done by one thread from im2col to output with the BLAS single-threaded: its
 * columns stay in that core's cache and the threads meet once per call, not once per GEMM.
 * A thread takes the next chunk when it is done with one (dynamic scheduling), so a core
 * slowed by other work (a busy neighbour on a shared machine) does fewer chunks instead of
 * holding the other threads at the end of the loop.
 * Columns are (groups, kg, n * P) when `bm` is 0, else (n, groups, kg, P) (see ck_im2col);
 * kg = C / groups * K. `work` holds per thread `cols_len` elements of columns followed by
 * `tmp_len` of (F, n * P) GEMM output or transposed head gradient. Call only when
 * ck_have_blas(). */
#define CK_CONV_CHUNKS                                                                     \
    const int64_t IS = g[0] * g[1] * g[2], P = g[3] * g[4] * g[5], K = g[6] * g[7] * g[8];  \
    const int nthr = ck_threads(nt);                                                       \
    const int64_t nchunks = (N + chunk - 1) / chunk, fg = F / groups, kg = C / groups * K; \
    const int par = nthr > 1 && nchunks > 1;                                               \
    (void)par; (void)fg; (void)kg;

void SFX(ck_conv_fwd)(const T* x, const T* w, const T* bias, T* y, T* work, int64_t N, int64_t C,
                      int64_t F, int64_t groups, const int64_t* g, int bm, int64_t chunk,
                      int64_t cols_len, int64_t tmp_len, int nt) {
    CK_CONV_CHUNKS
    ck_blas_single_begin();
#ifdef _OPENMP
#pragma omp parallel for num_threads(nthr) if(par) schedule(dynamic, 1)
#endif
    for (int64_t ci = 0; ci < nchunks; ++ci) {
        T* cols = work + ck_thread_id() * (cols_len + tmp_len);
        T* tmp = cols + cols_len;
        const int64_t lo = ci * chunk, n = lo + chunk < N ? chunk : N - lo;
        T* yc = y + lo * F * P;
        SFX(ck_im2col)(x + lo * C * IS, cols, n, C, g, bm, 1);
        if (bm) {
            for (int64_t s = 0; s < n; ++s)
                for (int64_t gi = 0; gi < groups; ++gi)
                    TBLAS(0, 0, fg, P, kg, w + gi * fg * kg, kg, cols + (s * groups + gi) * kg * P,
                          P, 0, yc + (s * F + gi * fg) * P, P);
            if (bias)
                for (int64_t s = 0; s < n; ++s)
                    for (int64_t f = 0; f < F; ++f) {
                        T* r = yc + (s * F + f) * P;
                        for (int64_t i = 0; i < P; ++i) r[i] += bias[f];
                    }
        } else {
            for (int64_t gi = 0; gi < groups; ++gi)
                TBLAS(0, 0, fg, n * P, kg, w + gi * fg * kg, kg, cols + gi * kg * n * P, n * P, 0,
                      tmp + gi * fg * n * P, n * P);
            SFX(ck_swap01)(tmp, yc, bias, F, n, P, 1);
        }
    }
    ck_blas_single_end();
}

/* dw[gi, f, k] = the sum over runs, in order, of dwt[run, gi, k, f] */
static void SFX(ck_sum_runs)(const T* dwt, T* dw, int64_t runs, int64_t groups, int64_t kg,
                             int64_t fg, int nthr) {
    const int64_t wlen = groups * kg * fg;
    const int par = nthr > 1 && runs * wlen > CK_PAR_MIN_CHEAP;
    CK_PFOR2
    for (int64_t gi = 0; gi < groups; ++gi)
        for (int64_t f = 0; f < fg; ++f)
            for (int64_t k = 0; k < kg; ++k) {
                T acc = 0;
                for (int64_t r = 0; r < runs; ++r) acc += dwt[r * wlen + (gi * kg + k) * fg + f];
                dw[(gi * fg + f) * kg + k] = acc;
            }
}

/* the gradients: dx (NULL: not wanted) through col2im, and the weight gradient (when dwt is
 * not NULL) as partial sums, transposed: the chunks are dealt in order into `max_runs` runs of
 * consecutive chunks (fewer when there are fewer chunks), a run is the task a thread takes,
 * and its chunks add up into the run's block of dwt, (groups, kg, fg); the blocks are summed
 * in order into dw (groups * fg, kg) at the end (ck_sum_runs). Which thread takes a run
 * changes no sum: the result depends on `chunk` and `max_runs`, never on timing. */
void SFX(ck_conv_bwd)(const T* x, const T* w, const T* dy, T* dx, T* dw, T* dwt, T* work,
                      int64_t N, int64_t C, int64_t F, int64_t groups, const int64_t* g, int bm,
                      int64_t chunk, int64_t max_runs, int64_t cols_len, int64_t tmp_len, int nt) {
    CK_CONV_CHUNKS
    const int64_t wlen = groups * kg * fg;
    const int64_t runs = dwt && max_runs < nchunks ? max_runs : nchunks;
    if (dwt) memset(dwt, 0, (size_t)(runs * wlen) * sizeof(T));
    ck_blas_single_begin();
#ifdef _OPENMP
#pragma omp parallel for num_threads(nthr) if(par) schedule(dynamic, 1)
#endif
    for (int64_t run = 0; run < runs; ++run) {
        const int tid = ck_thread_id();
        T* cols = work + tid * (cols_len + tmp_len);
        T* tmp = cols + cols_len;
        T* part = dwt ? dwt + run * wlen : NULL;
        for (int64_t ci = nchunks * run / runs; ci < nchunks * (run + 1) / runs; ++ci) {
            const int64_t lo = ci * chunk, n = lo + chunk < N ? chunk : N - lo;
            const T* dyc = dy + lo * F * P;
            if (!bm) SFX(ck_swap01)(dyc, tmp, NULL, n, F, P, 1);  /* (n, F, P) -> (F, n * P) */
            if (part) {
                SFX(ck_im2col)(x + lo * C * IS, cols, n, C, g, bm, 1);
                if (bm) {  /* dw^T (kg, fg) += cols (kg, P) @ dy^T (P, fg), per sample */
                    for (int64_t s = 0; s < n; ++s)
                        for (int64_t gi = 0; gi < groups; ++gi)
                            TBLAS(0, 1, kg, fg, P, cols + (s * groups + gi) * kg * P, P,
                                  dyc + (s * F + gi * fg) * P, P, 1, part + gi * kg * fg, fg);
                } else {
                    for (int64_t gi = 0; gi < groups; ++gi)
                        TBLAS(0, 1, kg, fg, n * P, cols + gi * kg * n * P, n * P,
                              tmp + gi * fg * n * P, n * P, 1, part + gi * kg * fg, fg);
                }
            }
            if (dx) {  /* columns = w^T (kg, fg) @ dy (fg, P or n * P), folded back */
                if (bm) {
                    for (int64_t s = 0; s < n; ++s)
                        for (int64_t gi = 0; gi < groups; ++gi)
                            TBLAS(1, 0, kg, P, fg, w + gi * fg * kg, kg,
                                  dyc + (s * F + gi * fg) * P, P, 0,
                                  cols + (s * groups + gi) * kg * P, P);
                } else {
                    for (int64_t gi = 0; gi < groups; ++gi)
                        TBLAS(1, 0, kg, n * P, fg, w + gi * fg * kg, kg, tmp + gi * fg * n * P,
                              n * P, 0, cols + gi * kg * n * P, n * P);
                }
                SFX(ck_col2im)(cols, dx + lo * C * IS, n, C, g, bm, 1);
            }
        }
    }
    ck_blas_single_end();
    if (dwt) SFX(ck_sum_runs)(dwt, dw, runs, groups, kg, fg, nthr);
}
#undef CK_CONV_CHUNKS
