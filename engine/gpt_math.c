/*
 * engine/gpt_math.c - exp, tanh, log, cos, sqrt and the counter-based
 * generator of attest-gpt/1, exactly as ENGINE.md sections 3 and 4 write
 * them: fixed range reductions and Horner polynomials in a fixed order.
 * Accurate to a few ulp over the ranges the engine uses; not a libm.
 */
#include "gpt_math.h"
#include "gpt_math_fn.h"

#include <string.h>

#if defined(__SSE2__) || defined(_M_X64)
#include <xmmintrin.h>
#define HAVE_SSE_SQRT 1
#endif

float gpt_exp(float x)
{
    return gpt_exp_fn(x);
}

float gpt_tanh(float x)
{
    return gpt_tanh_fn(x);
}

float gpt_log(float x)
{
    return gpt_log_fn(x);
}

/* [MATH-4] cos x = -sin(x - pi/2), odd Taylor polynomial of degree 23. */
static const double sin_coef[11] = {
    -0x1.5555555555555p-3,  0x1.1111111111111p-7,  -0x1.a01a01a01a01ap-13, 0x1.71de3a556c734p-19,
    -0x1.ae64567f544e4p-26, 0x1.6124613a86d09p-33, -0x1.ae7f3e733b81fp-41, 0x1.952c77030ad4ap-49,
    -0x1.2f49b46814157p-57, 0x1.71b8ef6dcf572p-66, -0x1.761b41316381ap-75,
};

double gpt_cos(double x)
{
    if (x < 0.0) x = -x;
    double y = (x - 0x1.921fb54442d18p+0) - 0x1.1a62633145c07p-54;
    double z = y * y;
    double p = sin_coef[10];
    for (int i = 9; i >= 0; i--)
        p = sin_coef[i] + z * p;
    return -(y + y * (z * p));
}

/* Integer square root of a (< 2^62) and whether it was inexact. */
static uint64_t isqrt64(uint64_t a, int *inexact)
{
    uint64_t r = 0, bit = (uint64_t)1 << 62;
    while (bit > a)
        bit >>= 2;
    while (bit != 0) {
        if (a >= r + bit) {
            a -= r + bit;
            r = (r >> 1) + bit;
        } else {
            r >>= 1;
        }
        bit >>= 2;
    }
    *inexact = a != 0;
    return r;
}

float gpt_sqrt_soft(float x)
{
    uint32_t u = gpt_f2u(x);
    if (x != x || u == 0x7f800000u || x == 0.0f) return x;
    if (u >> 31) return gpt_u2f(0x7fc00000u);
    int32_t e = (int32_t)(u >> 23);
    uint64_t m = u & 0x007fffffu;
    if (e == 0) { /* subnormal: normalize */
        e = 1;
        while (!(m & 0x00800000u)) {
            m <<= 1;
            e--;
        }
    } else {
        m |= 0x00800000u;
    }
    /* x = m * 2^(e - 150); make the exponent even. */
    int32_t k = e - 150;
    if (k & 1) {
        m <<= 1;
        k -= 1;
    }
    /* sqrt(m * 2^36) has 30 or 31 bits: enough for 24 + a round bit + sticky. */
    int inexact;
    uint64_t q = isqrt64(m << 36, &inexact);
    int32_t qexp = k / 2 - 18; /* sqrt(x) = q * 2^qexp (truncated) */
    int shift = 0;
    while ((q >> shift) >= ((uint64_t)1 << 24))
        shift++;
    uint64_t kept = q >> shift;
    uint64_t rest = q & (((uint64_t)1 << shift) - 1);
    uint64_t half = (uint64_t)1 << (shift - 1);
    if (rest > half || (rest == half && (inexact || (kept & 1)))) kept++;
    if (kept == ((uint64_t)1 << 24)) {
        kept >>= 1;
        shift++;
    }
    /* kept in [2^23, 2^24): value kept * 2^(qexp + shift); the result is always normal. */
    uint32_t bexp = (uint32_t)(qexp + shift + 23 + 127);
    return gpt_u2f((bexp << 23) | ((uint32_t)kept & 0x007fffffu));
}

float gpt_sqrt(float x)
{
#ifdef HAVE_SSE_SQRT
    return _mm_cvtss_f32(_mm_sqrt_ss(_mm_set_ss(x)));
#else
    return gpt_sqrt_soft(x);
#endif
}

/* [MATH-5] */
double gpt_powi(double b, uint64_t e)
{
    double r = 1.0;
    while (e != 0) {
        if (e & 1) r = r * b;
        b = b * b;
        e >>= 1;
    }
    return r;
}

/* [GEN-1] */
uint64_t gpt_mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

#define GOLDEN 0x9e3779b97f4a7c15u

/* [GEN-2] */
uint64_t gpt_value(uint64_t key, uint64_t stream, uint64_t counter)
{
    uint64_t base = gpt_mix(key + GOLDEN * (stream + 1));
    return gpt_mix(base + GOLDEN * (counter + 1));
}

/* [GEN-4] schoolbook product of 32-bit halves. */
uint64_t gpt_mulhi(uint64_t a, uint64_t b)
{
    uint64_t al = a & 0xffffffffu, ah = a >> 32, bl = b & 0xffffffffu, bh = b >> 32;
    uint64_t ll = al * bl, lh = al * bh, hl = ah * bl, hh = ah * bh;
    uint64_t mid = (ll >> 32) + (lh & 0xffffffffu) + (hl & 0xffffffffu);
    return hh + (lh >> 32) + (hl >> 32) + (mid >> 32);
}
