/*
 * engine/gpt_math_fn.h - exp, tanh and log of attest-gpt/1 ([MATH-1..3]) as
 * inline functions that compile both for the CPU (engine/gpt_math.c) and
 * for CUDA devices (engine/cuda/), so that both run the very same
 * operations in the very same order. Internal to the engine.
 */
#ifndef ATTEST_ENGINE_GPT_MATH_FN_H
#define ATTEST_ENGINE_GPT_MATH_FN_H

#include <stdint.h>
#include <string.h>

#ifdef __CUDACC__
#define GPT_FN static inline __host__ __device__
#else
#define GPT_FN static inline
#endif

GPT_FN uint32_t gpt_f2u(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

GPT_FN float gpt_u2f(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* [MATH-1] Cody-Waite reduction by ln 2, Taylor polynomial of degree 7. */
#define EXP_LOG2E 0x1.715476p+0f /* 1.44269502 */
#define EXP_LN2_HI 0x1.62e4p-1f  /* 0.693145752, 16 significant bits */
#define EXP_LN2_LO 0x1.7f7d1cp-20f
#define EXP_C3 0x1.555556p-3f  /* 1/3! */
#define EXP_C4 0x1.555556p-5f  /* 1/4! */
#define EXP_C5 0x1.111112p-7f  /* 1/5! */
#define EXP_C6 0x1.6c16c2p-10f /* 1/6! */
#define EXP_C7 0x1.a01a02p-13f /* 1/7! */

GPT_FN float gpt_exp_fn(float x)
{
    if (x != x) return x;
    if (x < -87.0f) return 0.0f;
    if (x > 88.0f) return gpt_u2f(0x7f800000u);
    float t = x * EXP_LOG2E;
    int32_t k = (int32_t)(t + (t >= 0.0f ? 0.5f : -0.5f)); /* C conversion truncates */
    float kf = (float)k;
    float r = (x - kf * EXP_LN2_HI) - kf * EXP_LN2_LO;
    float p = EXP_C7;
    p = EXP_C6 + r * p;
    p = EXP_C5 + r * p;
    p = EXP_C4 + r * p;
    p = EXP_C3 + r * p;
    p = 0.5f + r * p;
    p = 1.0f + r * p;
    p = 1.0f + r * p;
    return p * gpt_u2f((uint32_t)(k + 127) << 23);
}

/*
 * [MATH-2] Near 0 (|x| < 0.55) an odd polynomial fitted to tanh x / x by
 * least squares; elsewhere 1 - 2/(e^{2|x|} + 1), where tanh >= 0.5 and the
 * subtraction loses nothing.
 */
#define TANH_C3 -0x1.55554ep-2f
#define TANH_C5 0x1.110ddp-3f
#define TANH_C7 -0x1.b94642p-5f
#define TANH_C9 0x1.5a3eeap-6f
#define TANH_C11 -0x1.a1218ep-8f

GPT_FN float gpt_tanh_fn(float x)
{
    if (x != x) return x;
    float a = gpt_u2f(gpt_f2u(x) & 0x7fffffffu);
    if (a < 0.55f) {
        float z = x * x;
        float p = TANH_C11;
        p = TANH_C9 + z * p;
        p = TANH_C7 + z * p;
        p = TANH_C5 + z * p;
        p = TANH_C3 + z * p;
        return x + x * (z * p);
    }
    float r = 1.0f;
    if (a < 10.0f) r = 1.0f - 2.0f / (gpt_exp_fn(a + a) + 1.0f);
    return x < 0.0f ? -r : r;
}

/* [MATH-3] x = 2^e m, m in [sqrt(1/2), sqrt(2)], log m = 2 atanh((m-1)/(m+1)). */
#define LOG_SQRT2 0x1.6a09e6p+0f
#define LOG_LN2_HI EXP_LN2_HI
#define LOG_LN2_LO EXP_LN2_LO
#define LOG_C3 0x1.555556p-2f /* 1/3 */
#define LOG_C5 0x1.99999ap-3f /* 1/5 */
#define LOG_C7 0x1.24924ap-3f /* 1/7 */
#define LOG_C9 0x1.c71c72p-4f /* 1/9 */

GPT_FN float gpt_log_fn(float x)
{
    if (x != x) return x;
    if (x < 0.0f) return gpt_u2f(0x7fc00000u);
    if (x == 0.0f) return gpt_u2f(0xff800000u);
    uint32_t u = gpt_f2u(x);
    if (u == 0x7f800000u) return x;
    int32_t e = 0;
    if (u < 0x00800000u) { /* subnormal: scale by 2^23 */
        u = gpt_f2u(x * 0x1p23f);
        e = -23;
    }
    e += (int32_t)(u >> 23) - 127;
    float m = gpt_u2f((u & 0x007fffffu) | 0x3f800000u);
    if (m > LOG_SQRT2) {
        m = m * 0.5f;
        e += 1;
    }
    float s = (m - 1.0f) / (m + 1.0f);
    float z = s * s;
    float p = LOG_C9;
    p = LOG_C7 + z * p;
    p = LOG_C5 + z * p;
    p = LOG_C3 + z * p;
    float lm = (s + s * (z * p)) * 2.0f;
    float ef = (float)e;
    return ef * LOG_LN2_HI + (lm + ef * LOG_LN2_LO);
}

#endif
