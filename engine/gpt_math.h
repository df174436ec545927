/*
 * engine/gpt_math.h - the elementary functions and generators of
 * attest-gpt/1 (ENGINE.md sections 3 and 4), internal to the engine.
 *
 * Every function is built from IEEE binary32/binary64 +, -, *, / and a
 * correctly rounded square root, in a documented order, so that any
 * implementation that follows ENGINE.md gets the same bits. No libm.
 */
#ifndef ATTEST_ENGINE_GPT_MATH_H
#define ATTEST_ENGINE_GPT_MATH_H

#include <stdint.h>

#ifndef GPT_INTERNAL
#define GPT_INTERNAL __attribute__((visibility("hidden")))
#endif

/* e^x in binary32 ([MATH-1]); 0 below -87, +inf above 88. */
GPT_INTERNAL float gpt_exp(float x);
/* tanh(x) in binary32 ([MATH-2]). */
GPT_INTERNAL float gpt_tanh(float x);
/* Natural logarithm in binary32 ([MATH-3]); -inf at 0, NaN below 0. */
GPT_INTERNAL float gpt_log(float x);
/* cos(x) in binary64 for |x| <= pi ([MATH-4]). */
GPT_INTERNAL double gpt_cos(double x);
/* Correctly rounded binary32 square root (the hardware's where it has one). */
GPT_INTERNAL float gpt_sqrt(float x);
/* The same, in integer arithmetic only (what gpt_sqrt falls back to). */
GPT_INTERNAL float gpt_sqrt_soft(float x);
/* b^e in binary64 by repeated squaring ([MATH-5]). */
GPT_INTERNAL double gpt_powi(double b, uint64_t e);

/* The SplitMix64 finalizer ([GEN-1]). */
GPT_INTERNAL uint64_t gpt_mix(uint64_t z);
/* The counter-based generator value(key, stream, counter) ([GEN-2]). */
GPT_INTERNAL uint64_t gpt_value(uint64_t key, uint64_t stream, uint64_t counter);
/* floor(a * b / 2^64), exactly ([GEN-4]). */
GPT_INTERNAL uint64_t gpt_mulhi(uint64_t a, uint64_t b);

#endif
