// σ and tanh that the compiler can vectorise, for the compiled loops (rnnlab/compiled.py puts
// this folder on the include path).
//
// float32: branch-free arithmetic around exp_approx, a Cephes-style e^x, accurate to a few ulp
// (tests/cells/test_lstm_steps.py checks them against torch over the whole float range); a libm
// call would keep a loop scalar. float64: libm.

#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace rnnlab {

// e^x for float, as 2^n · e^r with n = round(x / ln 2) and |r| <= ln(2)/2: Cephes' expf
// polynomial. x is clamped to [-87.3, 88.3] (the normal range; σ and tanh saturate long before)
// and a NaN stays NaN (both comparisons are false, and p is NaN).
inline float exp_approx(float x) {
  x = x < -87.3f ? -87.3f : x;
  x = x > 88.3f ? 88.3f : x;
  const float n = std::floor(x * 1.44269504088896341f + 0.5f);
  const float r = x - n * 0.693359375f + n * 2.12194440e-4f;  // ln 2 in two parts
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const float n_ok = n == n ? n : 0.0f;  // NaN (then p is NaN): no conversion of a NaN to int
  const int32_t bits = (static_cast<int32_t>(n_ok) + 127) << 23;  // 2^n, n + 127 in [1, 254]
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

inline float sigmoid(float x) { return 1.0f / (1.0f + exp_approx(-x)); }

// tanh x: Cephes' odd polynomial for |x| < 0.625 (where 1 - 2/(e^{2x} + 1) would lose digits),
// else 1 - 2 / (e^{2|x|} + 1) with x's sign.
inline float tanh_(float x) {
  const float a = std::fabs(x);
  const float z = x * x;
  float small = -5.70498872745e-3f;
  small = small * z + 2.06390887954e-2f;
  small = small * z - 5.37397155531e-2f;
  small = small * z + 1.33314422036e-1f;
  small = small * z - 3.33332819422e-1f;
  small = small * z * x + x;
  const float large = std::copysign(1.0f - 2.0f / (exp_approx(2.0f * a) + 1.0f), x);
  return a < 0.625f ? small : large;
}

inline double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
inline double tanh_(double x) { return std::tanh(x); }

}  // namespace rnnlab
