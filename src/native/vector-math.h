// Vectorised float math shared by the addon's CPU kernels (kd-loss.cpp, fused-layers.cpp, optim.cpp):
// x86-64 AVX2 + FMA code in functions compiled for those instructions alone, so the library still
// loads and runs on CPUs without them (callers check hasAvx2() at run time and use a plain loop
// otherwise); loops compiled once per instruction set (DISTILLERY_VECTOR_CLONES); and bf16
// conversions those loops can vectorise.
#pragma once

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define DISTILLERY_AVX2 1
#define AVX2_FMA __attribute__((target("avx2,fma")))
#endif

// Plain loops that the compiler vectorises by itself (the fused AdamW update, a gradient's sum of
// squares, the rotary rows), compiled three times — AVX-512, AVX2 + FMA, and baseline x86-64 — with the clone the
// CPU supports chosen when the library loads (GCC's function multiversioning). A baseline build
// has SSE2 alone: four lanes, and a square root and a division per element that then bound the
// optimizer's pass rather than memory.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define DISTILLERY_VECTOR_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define DISTILLERY_VECTOR_CLONES
#endif

#include <c10/util/BFloat16.h>

#include <cstdint>
#include <type_traits>

namespace distillery {

// bf16 ↔ float32 on the bits, written so that the compiler vectorises them (c10::BFloat16's own
// conversions branch on NaN and go through memcpy one value at a time, which keeps a loop scalar).
// Widening is exact; narrowing rounds to nearest even with NaN kept a quiet NaN, as c10's does.
inline float widenBf16(uint16_t bits) {
  const uint32_t wide = static_cast<uint32_t>(bits) << 16;
  float value;
  __builtin_memcpy(&value, &wide, sizeof value);
  return value;
}

inline uint16_t narrowToBf16(float value) {
  uint32_t bits;
  __builtin_memcpy(&bits, &value, sizeof bits);
  const uint32_t rounded = (bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16;
  return value != value ? uint16_t{0x7fc0} : static_cast<uint16_t>(rounded);
}

// float → T, rounded as static_cast<T> rounds (bf16 through narrowToBf16); and T → float.
template <typename T>
inline T narrowTo(float value) {
  if constexpr (std::is_same_v<T, c10::BFloat16>)
    return c10::BFloat16(narrowToBf16(value), c10::BFloat16::from_bits());
  else
    return static_cast<T>(value);
}

template <typename T>
inline float widen(T value) {
  if constexpr (std::is_same_v<T, c10::BFloat16>)
    return widenBf16(value.x);
  else
    return static_cast<float>(value);
}

#ifdef DISTILLERY_AVX2
inline bool hasAvx2() {
  static const bool yes = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return yes;
}

// exp for 8 floats: Cephes' expf (range reduction by log 2, degree-5 polynomial), ~1 ulp in the
// range that matters; inputs are clamped to ±88.38 first (below about −87.3 the result is 0). The
// clamps take x as their second operand, which min/max return when it is NaN: a NaN input stays
// NaN (a NaN logit reaches the trainer's non-finite check).
AVX2_FMA inline __m256 exp8(__m256 x) {
  x = _mm256_min_ps(_mm256_set1_ps(88.3762626647949f), x);
  x = _mm256_max_ps(_mm256_set1_ps(-88.3762626647949f), x);
  __m256 fx = _mm256_floor_ps(_mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f)));
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), x);
  __m256 y = _mm256_set1_ps(1.9875691500e-4f);
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507e-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073e-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894e-2f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459e-1f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201e-1f));
  y = _mm256_fmadd_ps(y, _mm256_mul_ps(x, x), _mm256_add_ps(x, _mm256_set1_ps(1.0f)));
  __m256i n = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvttps_epi32(fx), _mm256_set1_epi32(0x7f)), 23);
  return _mm256_mul_ps(y, _mm256_castsi256_ps(n));
}
#else
inline bool hasAvx2() { return false; }
#endif

}  // namespace distillery
