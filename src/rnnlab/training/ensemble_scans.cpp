// The seed-ensemble scans of tiny networks in plain loops: Elman, LSTM and GRU, forward and
// backward, for K members at once (built on first use by rnnlab/compiled.py, taken where
// rnnlab/training/ensemble_native.py says so).
//
// The equations, layouts and padding rule are those of the Python scans they stand in for:
// ensemble_scan.py (Elman), ensemble_lstm_scan.py (LSTM) and ensemble_gru_scan.py (GRU). Every
// tensor is contiguous and member-major; member k's real steps are start[k] .. T-1 (padding at
// the front), and every state before its first real step is 0. The loops visit only real steps:
// on padded steps the Python scans add zeros, here nothing is done and the tapes hold zeros.
//
// For tiny networks (a handful of units, minibatches of one sequence) a step costs the Python
// scans a few microseconds per tensor operation, almost none of it arithmetic; here a step is a
// few hundred multiply-adds. The members are independent, so they are split over torch's intra-op
// threads (at::parallel_for).

#include <torch/extension.h>

#include <ATen/Parallel.h>

#include "fast_math.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace {

enum Activation : int64_t { kTanh = 0, kSigmoid = 1, kRelu = 2, kIdentity = 3 };

// σ and tanh: fast_math.h's (float: a few ulp from torch's, without a libm call, which costs
// most of a tiny net's step; double: libm, as before)
using rnnlab::sigmoid;
using rnnlab::tanh_;

template <typename T>
inline T activate(int64_t activation, T a) {
  switch (activation) {
    case kTanh:
      return tanh_(a);
    case kSigmoid:
      return sigmoid(a);
    case kRelu:
      return a > T(0) ? a : T(0);
    default:
      return a;
  }
}

// phi'(a) from h = phi(a)
template <typename T>
inline T slope(int64_t activation, T h) {
  switch (activation) {
    case kTanh:
      return T(1) - h * h;
    case kSigmoid:
      return h - h * h;
    case kRelu:
      return h > T(0) ? T(1) : T(0);
    default:
      return T(1);
  }
}

// out[r] = bias[r] + sum_i w[r, i] v[i] for r < R (bias may be null)
template <typename T>
inline void affine(const T* w, const T* v, const T* bias, int64_t R, int64_t n, T* out) {
  for (int64_t r = 0; r < R; ++r) {
    const T* row = w + r * n;
    T acc = bias == nullptr ? T(0) : bias[r];
    for (int64_t i = 0; i < n; ++i) acc += row[i] * v[i];
    out[r] = acc;
  }
}

// out[l] = sum_r g[r] w[r, l] for l < n (out = g w; w is (R, n))
template <typename T>
inline void transposed(const T* w, const T* g, int64_t R, int64_t n, T* out) {
  std::fill(out, out + n, T(0));
  for (int64_t r = 0; r < R; ++r) {
    const T* row = w + r * n;
    const T gr = g[r];
    for (int64_t l = 0; l < n; ++l) out[l] += gr * row[l];
  }
}

// grad[r, i] += g[r] v[i]
template <typename T>
inline void outer(const T* g, const T* v, int64_t R, int64_t n, T* grad) {
  for (int64_t r = 0; r < R; ++r) {
    const T gr = g[r];
    T* row = grad + r * n;
    for (int64_t i = 0; i < n; ++i) row[i] += gr * v[i];
  }
}

void check(const torch::Tensor& t, const torch::Tensor& like, const char* name,
           std::vector<int64_t> shape) {
  TORCH_CHECK(t.is_contiguous(), name, " must be contiguous");
  TORCH_CHECK(t.device().is_cpu(), name, " must be on the CPU");
  TORCH_CHECK(t.scalar_type() == like.scalar_type(), name, " must have the inputs' dtype");
  TORCH_CHECK(t.sizes() == at::IntArrayRef(shape), name, " must have shape ", at::IntArrayRef(shape),
              ", got ", t.sizes());
}

// the members' first real steps, each in [0, T]
std::vector<int64_t> starts(const torch::Tensor& start, int64_t K, int64_t T) {
  TORCH_CHECK(start.scalar_type() == torch::kLong && start.numel() == K,
              "start must be K int64 values");
  auto s = start.contiguous();
  std::vector<int64_t> first(s.data_ptr<int64_t>(), s.data_ptr<int64_t>() + K);
  for (int64_t k = 0; k < K; ++k) {
    TORCH_CHECK(first[k] >= 0 && first[k] <= T, "start[", k, "] must be in [0, T = ", T, "], got ",
                first[k]);
  }
  return first;
}

// (K, T, B, features) of the packed inputs
std::vector<int64_t> shape_of(const torch::Tensor& inputs) {
  TORCH_CHECK(inputs.dim() == 4, "inputs must be (K, T, B, features), got ", inputs.sizes());
  return inputs.sizes().vec();
}

// ------------------------------------------------------------------------------------ Elman
// states (K, T+1, B, H) from inputs (K, T, B, I+1) with the bias channel, W_in (K, H, I+1),
// W_hh (K, H, H): h_t = phi(x~_t W_in^T + h_{t-1} W_hh^T)
torch::Tensor elman_forward(torch::Tensor inputs, torch::Tensor weight_in, torch::Tensor weight_hh,
                            torch::Tensor start, int64_t activation) {
  const auto n = shape_of(inputs);
  const int64_t K = n[0], T = n[1], B = n[2], I1 = n[3], H = weight_hh.size(1);
  check(inputs, inputs, "inputs", n);
  check(weight_in, inputs, "weight_in", {K, H, I1});
  check(weight_hh, inputs, "weight_hh", {K, H, H});
  const auto first = starts(start, K, T);
  auto states = torch::zeros({K, T + 1, B, H}, inputs.options());
  AT_DISPATCH_FLOATING_TYPES(inputs.scalar_type(), "elman_forward", [&] {
    const scalar_t* X = inputs.data_ptr<scalar_t>();
    const scalar_t* Win = weight_in.data_ptr<scalar_t>();
    const scalar_t* Whh = weight_hh.data_ptr<scalar_t>();
    scalar_t* S = states.data_ptr<scalar_t>();
    at::parallel_for(0, K, 1, [&](int64_t k0, int64_t k1) {
      std::vector<scalar_t> a(H);
      for (int64_t k = k0; k < k1; ++k) {
        const scalar_t* win = Win + k * H * I1;
        const scalar_t* whh = Whh + k * H * H;
        for (int64_t t = first[k]; t < T; ++t) {
          for (int64_t b = 0; b < B; ++b) {
            const scalar_t* x = X + ((k * T + t) * B + b) * I1;
            const scalar_t* h = S + ((k * (T + 1) + t) * B + b) * H;
            scalar_t* next = S + ((k * (T + 1) + t + 1) * B + b) * H;
            affine(win, x, static_cast<const scalar_t*>(nullptr), H, I1, a.data());
            for (int64_t j = 0; j < H; ++j) {
              const scalar_t* row = whh + j * H;
              scalar_t acc = a[j];
              for (int64_t l = 0; l < H; ++l) acc += row[l] * h[l];
              next[j] = activate(activation, acc);
            }
          }
        }
      }
    });
  });
  return states;
}

// (dE/dW_in (K, H, I+1), dE/dW_hh (K, H, H)) from dE/dh_{T-1} (top, (K, B, H)) and, when every
// step is read out, the step gradients (K, T, B, H) (an empty tensor otherwise)
std::vector<torch::Tensor> elman_backward(torch::Tensor inputs, torch::Tensor weight_hh,
                                          torch::Tensor states, torch::Tensor start,
                                          int64_t activation, torch::Tensor top,
                                          torch::Tensor step_grads) {
  const auto n = shape_of(inputs);
  const int64_t K = n[0], T = n[1], B = n[2], I1 = n[3], H = weight_hh.size(1);
  check(inputs, inputs, "inputs", n);
  check(weight_hh, inputs, "weight_hh", {K, H, H});
  check(states, inputs, "states", {K, T + 1, B, H});
  check(top, inputs, "top", {K, B, H});
  const bool every = step_grads.numel() > 0;
  if (every) check(step_grads, inputs, "step_grads", {K, T, B, H});
  const auto first = starts(start, K, T);
  auto grad_in = torch::zeros({K, H, I1}, inputs.options());
  auto grad_hh = torch::zeros({K, H, H}, inputs.options());
  AT_DISPATCH_FLOATING_TYPES(inputs.scalar_type(), "elman_backward", [&] {
    const scalar_t* X = inputs.data_ptr<scalar_t>();
    const scalar_t* Whh = weight_hh.data_ptr<scalar_t>();
    const scalar_t* S = states.data_ptr<scalar_t>();
    const scalar_t* Top = top.data_ptr<scalar_t>();
    const scalar_t* Steps = every ? step_grads.data_ptr<scalar_t>() : nullptr;
    scalar_t* Gin = grad_in.data_ptr<scalar_t>();
    scalar_t* Ghh = grad_hh.data_ptr<scalar_t>();
    at::parallel_for(0, K, 1, [&](int64_t k0, int64_t k1) {
      std::vector<scalar_t> delta(B * H), grad_a(H);
      for (int64_t k = k0; k < k1; ++k) {
        const scalar_t* whh = Whh + k * H * H;
        scalar_t* gin = Gin + k * H * I1;
        scalar_t* ghh = Ghh + k * H * H;
        std::copy(Top + k * B * H, Top + (k + 1) * B * H, delta.begin());
        if (every) {
          const scalar_t* last = Steps + (k * T + T - 1) * B * H;
          for (int64_t e = 0; e < B * H; ++e) delta[e] += last[e];
        }
        for (int64_t t = T - 1; t >= first[k]; --t) {
          for (int64_t b = 0; b < B; ++b) {
            const scalar_t* h = S + ((k * (T + 1) + t + 1) * B + b) * H;
            const scalar_t* previous = S + ((k * (T + 1) + t) * B + b) * H;
            const scalar_t* x = X + ((k * T + t) * B + b) * I1;
            scalar_t* d = delta.data() + b * H;
            for (int64_t j = 0; j < H; ++j) grad_a[j] = d[j] * slope(activation, h[j]);
            outer(grad_a.data(), x, H, I1, gin);
            outer(grad_a.data(), previous, H, H, ghh);
            if (t > first[k]) {
              transposed(whh, grad_a.data(), H, H, d);
              if (every) {
                const scalar_t* y = Steps + ((k * T + t - 1) * B + b) * H;
                for (int64_t l = 0; l < H; ++l) d[l] += y[l];
              }
            }
          }
        }
      }
    });
  });
  return {grad_in, grad_hh};
}

// ------------------------------------------------------------------------------------- LSTM
// the tape (gates i, f, g, o (K, T, B, 4H), h (K, T+1, B, H), c (K, T+1, B, H),
// tanh c (K, T, B, H)) from inputs (K, T, B, I), W_ih (K, 4H, I), W_hh (K, 4H, H), b (K, 4H)
std::vector<torch::Tensor> lstm_forward(torch::Tensor inputs, torch::Tensor weight_ih,
                                        torch::Tensor weight_hh, torch::Tensor bias,
                                        torch::Tensor start) {
  const auto n = shape_of(inputs);
  const int64_t K = n[0], T = n[1], B = n[2], I = n[3];
  const int64_t H4 = weight_hh.size(1), H = H4 / 4;
  check(inputs, inputs, "inputs", n);
  check(weight_ih, inputs, "weight_ih", {K, 4 * H, I});
  check(weight_hh, inputs, "weight_hh", {K, 4 * H, H});
  check(bias, inputs, "bias", {K, 4 * H});
  const auto first = starts(start, K, T);
  auto gates = torch::zeros({K, T, B, H4}, inputs.options());
  auto hs = torch::zeros({K, T + 1, B, H}, inputs.options());
  auto cs = torch::zeros({K, T + 1, B, H}, inputs.options());
  auto tanh_c = torch::zeros({K, T, B, H}, inputs.options());
  AT_DISPATCH_FLOATING_TYPES(inputs.scalar_type(), "lstm_forward", [&] {
    const scalar_t* X = inputs.data_ptr<scalar_t>();
    const scalar_t* Wih = weight_ih.data_ptr<scalar_t>();
    const scalar_t* Whh = weight_hh.data_ptr<scalar_t>();
    const scalar_t* Bias = bias.data_ptr<scalar_t>();
    scalar_t* G = gates.data_ptr<scalar_t>();
    scalar_t* Hs = hs.data_ptr<scalar_t>();
    scalar_t* Cs = cs.data_ptr<scalar_t>();
    scalar_t* TC = tanh_c.data_ptr<scalar_t>();
    at::parallel_for(0, K, 1, [&](int64_t k0, int64_t k1) {
      for (int64_t k = k0; k < k1; ++k) {
        const scalar_t* wih = Wih + k * H4 * I;
        const scalar_t* whh = Whh + k * H4 * H;
        for (int64_t t = first[k]; t < T; ++t) {
          for (int64_t b = 0; b < B; ++b) {
            const scalar_t* x = X + ((k * T + t) * B + b) * I;
            const scalar_t* h = Hs + ((k * (T + 1) + t) * B + b) * H;
            const scalar_t* c = Cs + ((k * (T + 1) + t) * B + b) * H;
            scalar_t* z = G + ((k * T + t) * B + b) * H4;
            affine(wih, x, Bias + k * H4, H4, I, z);
            for (int64_t r = 0; r < H4; ++r) {
              const scalar_t* row = whh + r * H;
              scalar_t acc = z[r];
              for (int64_t l = 0; l < H; ++l) acc += row[l] * h[l];
              z[r] = (r >= 2 * H && r < 3 * H) ? tanh_(acc) : sigmoid(acc);
            }
            scalar_t* h_new = Hs + ((k * (T + 1) + t + 1) * B + b) * H;
            scalar_t* c_new = Cs + ((k * (T + 1) + t + 1) * B + b) * H;
            scalar_t* tc = TC + ((k * T + t) * B + b) * H;
            for (int64_t l = 0; l < H; ++l) {
              c_new[l] = z[H + l] * c[l] + z[l] * z[2 * H + l];
              tc[l] = tanh_(c_new[l]);
              h_new[l] = z[3 * H + l] * tc[l];
            }
          }
        }
      }
    });
  });
  return {gates, hs, cs, tanh_c};
}

// (dE/dW_ih (K, 4H, I), dE/dW_hh (K, 4H, H), dE/db (K, 4H)) from the tape, top (K, B, H) and
// the step gradients (K, T, B, H) (an empty tensor when only the last step is read out)
std::vector<torch::Tensor> lstm_backward(torch::Tensor inputs, torch::Tensor weight_hh,
                                         torch::Tensor gates, torch::Tensor hs, torch::Tensor cs,
                                         torch::Tensor tanh_c, torch::Tensor start,
                                         torch::Tensor top, torch::Tensor step_grads) {
  const auto n = shape_of(inputs);
  const int64_t K = n[0], T = n[1], B = n[2], I = n[3];
  const int64_t H4 = weight_hh.size(1), H = H4 / 4;
  check(inputs, inputs, "inputs", n);
  check(weight_hh, inputs, "weight_hh", {K, 4 * H, H});
  check(gates, inputs, "gates", {K, T, B, 4 * H});
  check(hs, inputs, "h", {K, T + 1, B, H});
  check(cs, inputs, "c", {K, T + 1, B, H});
  check(tanh_c, inputs, "tanh_c", {K, T, B, H});
  check(top, inputs, "top", {K, B, H});
  const bool every = step_grads.numel() > 0;
  if (every) check(step_grads, inputs, "step_grads", {K, T, B, H});
  const auto first = starts(start, K, T);
  auto grad_ih = torch::zeros({K, H4, I}, inputs.options());
  auto grad_hh = torch::zeros({K, H4, H}, inputs.options());
  auto grad_b = torch::zeros({K, H4}, inputs.options());
  AT_DISPATCH_FLOATING_TYPES(inputs.scalar_type(), "lstm_backward", [&] {
    const scalar_t* X = inputs.data_ptr<scalar_t>();
    const scalar_t* Whh = weight_hh.data_ptr<scalar_t>();
    const scalar_t* G = gates.data_ptr<scalar_t>();
    const scalar_t* Hs = hs.data_ptr<scalar_t>();
    const scalar_t* Cs = cs.data_ptr<scalar_t>();
    const scalar_t* TC = tanh_c.data_ptr<scalar_t>();
    const scalar_t* Top = top.data_ptr<scalar_t>();
    const scalar_t* Steps = every ? step_grads.data_ptr<scalar_t>() : nullptr;
    scalar_t* Gih = grad_ih.data_ptr<scalar_t>();
    scalar_t* Ghh = grad_hh.data_ptr<scalar_t>();
    scalar_t* Gb = grad_b.data_ptr<scalar_t>();
    at::parallel_for(0, K, 1, [&](int64_t k0, int64_t k1) {
      std::vector<scalar_t> delta(B * H), gamma(B * H), zbar(H4);
      for (int64_t k = k0; k < k1; ++k) {
        const scalar_t* whh = Whh + k * H4 * H;
        std::copy(Top + k * B * H, Top + (k + 1) * B * H, delta.begin());
        std::fill(gamma.begin(), gamma.end(), scalar_t(0));
        if (every) {
          const scalar_t* last = Steps + (k * T + T - 1) * B * H;
          for (int64_t e = 0; e < B * H; ++e) delta[e] += last[e];
        }
        for (int64_t t = T - 1; t >= first[k]; --t) {
          for (int64_t b = 0; b < B; ++b) {
            const scalar_t* z = G + ((k * T + t) * B + b) * H4;
            const scalar_t* tc = TC + ((k * T + t) * B + b) * H;
            const scalar_t* c_prev = Cs + ((k * (T + 1) + t) * B + b) * H;
            const scalar_t* h_prev = Hs + ((k * (T + 1) + t) * B + b) * H;
            const scalar_t* x = X + ((k * T + t) * B + b) * I;
            scalar_t* d = delta.data() + b * H;
            scalar_t* gm = gamma.data() + b * H;
            for (int64_t l = 0; l < H; ++l) {
              const scalar_t i = z[l], f = z[H + l], g = z[2 * H + l], o = z[3 * H + l];
              gm[l] += d[l] * o * (scalar_t(1) - tc[l] * tc[l]);
              zbar[l] = gm[l] * i * (scalar_t(1) - i) * g;
              zbar[H + l] = gm[l] * f * (scalar_t(1) - f) * c_prev[l];
              zbar[2 * H + l] = gm[l] * i * (scalar_t(1) - g * g);
              zbar[3 * H + l] = d[l] * o * (scalar_t(1) - o) * tc[l];
              gm[l] *= f;
            }
            outer(zbar.data(), h_prev, H4, H, Ghh + k * H4 * H);
            outer(zbar.data(), x, H4, I, Gih + k * H4 * I);
            scalar_t* gb = Gb + k * H4;
            for (int64_t r = 0; r < H4; ++r) gb[r] += zbar[r];
            if (t > first[k]) {
              transposed(whh, zbar.data(), H4, H, d);
              if (every) {
                const scalar_t* y = Steps + ((k * T + t - 1) * B + b) * H;
                for (int64_t l = 0; l < H; ++l) d[l] += y[l];
              }
            }
          }
        }
      }
    });
  });
  return {grad_ih, grad_hh, grad_b};
}

// -------------------------------------------------------------------------------------- GRU
// the tape (gates r, z, n (K, T, B, 3H), c_n (K, T, B, H), h (K, T+1, B, H)) from inputs
// (K, T, B, I), W_ih (K, 3H, I), W_hh (K, 3H, H), b_ih and b_hh (K, 3H)
std::vector<torch::Tensor> gru_forward(torch::Tensor inputs, torch::Tensor weight_ih,
                                       torch::Tensor weight_hh, torch::Tensor bias_ih,
                                       torch::Tensor bias_hh, torch::Tensor start) {
  const auto n = shape_of(inputs);
  const int64_t K = n[0], T = n[1], B = n[2], I = n[3];
  const int64_t H3 = weight_hh.size(1), H = H3 / 3;
  check(inputs, inputs, "inputs", n);
  check(weight_ih, inputs, "weight_ih", {K, 3 * H, I});
  check(weight_hh, inputs, "weight_hh", {K, 3 * H, H});
  check(bias_ih, inputs, "bias_ih", {K, 3 * H});
  check(bias_hh, inputs, "bias_hh", {K, 3 * H});
  const auto first = starts(start, K, T);
  auto gates = torch::zeros({K, T, B, H3}, inputs.options());
  auto hidden = torch::zeros({K, T, B, H}, inputs.options());
  auto hs = torch::zeros({K, T + 1, B, H}, inputs.options());
  AT_DISPATCH_FLOATING_TYPES(inputs.scalar_type(), "gru_forward", [&] {
    const scalar_t* X = inputs.data_ptr<scalar_t>();
    const scalar_t* Wih = weight_ih.data_ptr<scalar_t>();
    const scalar_t* Whh = weight_hh.data_ptr<scalar_t>();
    const scalar_t* Bih = bias_ih.data_ptr<scalar_t>();
    const scalar_t* Bhh = bias_hh.data_ptr<scalar_t>();
    scalar_t* G = gates.data_ptr<scalar_t>();
    scalar_t* Cn = hidden.data_ptr<scalar_t>();
    scalar_t* Hs = hs.data_ptr<scalar_t>();
    at::parallel_for(0, K, 1, [&](int64_t k0, int64_t k1) {
      std::vector<scalar_t> c(H3);
      for (int64_t k = k0; k < k1; ++k) {
        for (int64_t t = first[k]; t < T; ++t) {
          for (int64_t b = 0; b < B; ++b) {
            const scalar_t* x = X + ((k * T + t) * B + b) * I;
            const scalar_t* h = Hs + ((k * (T + 1) + t) * B + b) * H;
            scalar_t* a = G + ((k * T + t) * B + b) * H3;
            affine(Wih + k * H3 * I, x, Bih + k * H3, H3, I, a);
            affine(Whh + k * H3 * H, h, Bhh + k * H3, H3, H, c.data());
            scalar_t* cn = Cn + ((k * T + t) * B + b) * H;
            scalar_t* h_new = Hs + ((k * (T + 1) + t + 1) * B + b) * H;
            for (int64_t l = 0; l < H; ++l) {
              const scalar_t r = sigmoid(a[l] + c[l]);
              const scalar_t u = sigmoid(a[H + l] + c[H + l]);
              const scalar_t n = tanh_(a[2 * H + l] + r * c[2 * H + l]);
              a[l] = r;
              a[H + l] = u;
              a[2 * H + l] = n;
              cn[l] = c[2 * H + l];
              h_new[l] = n + u * (h[l] - n);
            }
          }
        }
      }
    });
  });
  return {gates, hidden, hs};
}

// (dE/dW_ih (K, 3H, I), dE/dW_hh (K, 3H, H), dE/db_ih, dE/db_hh (K, 3H)) from the tape, top
// (K, B, H) and the step gradients (K, T, B, H) (an empty tensor when not read out every step)
std::vector<torch::Tensor> gru_backward(torch::Tensor inputs, torch::Tensor weight_hh,
                                        torch::Tensor gates, torch::Tensor hidden,
                                        torch::Tensor hs, torch::Tensor start, torch::Tensor top,
                                        torch::Tensor step_grads) {
  const auto n = shape_of(inputs);
  const int64_t K = n[0], T = n[1], B = n[2], I = n[3];
  const int64_t H3 = weight_hh.size(1), H = H3 / 3;
  check(inputs, inputs, "inputs", n);
  check(weight_hh, inputs, "weight_hh", {K, 3 * H, H});
  check(gates, inputs, "gates", {K, T, B, 3 * H});
  check(hidden, inputs, "hidden", {K, T, B, H});
  check(hs, inputs, "h", {K, T + 1, B, H});
  check(top, inputs, "top", {K, B, H});
  const bool every = step_grads.numel() > 0;
  if (every) check(step_grads, inputs, "step_grads", {K, T, B, H});
  const auto first = starts(start, K, T);
  auto grad_ih = torch::zeros({K, H3, I}, inputs.options());
  auto grad_hh = torch::zeros({K, H3, H}, inputs.options());
  auto grad_bih = torch::zeros({K, H3}, inputs.options());
  auto grad_bhh = torch::zeros({K, H3}, inputs.options());
  AT_DISPATCH_FLOATING_TYPES(inputs.scalar_type(), "gru_backward", [&] {
    const scalar_t* X = inputs.data_ptr<scalar_t>();
    const scalar_t* Whh = weight_hh.data_ptr<scalar_t>();
    const scalar_t* G = gates.data_ptr<scalar_t>();
    const scalar_t* Cn = hidden.data_ptr<scalar_t>();
    const scalar_t* Hs = hs.data_ptr<scalar_t>();
    const scalar_t* Top = top.data_ptr<scalar_t>();
    const scalar_t* Steps = every ? step_grads.data_ptr<scalar_t>() : nullptr;
    scalar_t* Gih = grad_ih.data_ptr<scalar_t>();
    scalar_t* Ghh = grad_hh.data_ptr<scalar_t>();
    scalar_t* Gbih = grad_bih.data_ptr<scalar_t>();
    scalar_t* Gbhh = grad_bhh.data_ptr<scalar_t>();
    at::parallel_for(0, K, 1, [&](int64_t k0, int64_t k1) {
      std::vector<scalar_t> delta(B * H), g_c(H3), g_a(H3), back(H);
      for (int64_t k = k0; k < k1; ++k) {
        const scalar_t* whh = Whh + k * H3 * H;
        std::copy(Top + k * B * H, Top + (k + 1) * B * H, delta.begin());
        if (every) {
          const scalar_t* last = Steps + (k * T + T - 1) * B * H;
          for (int64_t e = 0; e < B * H; ++e) delta[e] += last[e];
        }
        for (int64_t t = T - 1; t >= first[k]; --t) {
          for (int64_t b = 0; b < B; ++b) {
            const scalar_t* a = G + ((k * T + t) * B + b) * H3;
            const scalar_t* cn = Cn + ((k * T + t) * B + b) * H;
            const scalar_t* h_prev = Hs + ((k * (T + 1) + t) * B + b) * H;
            const scalar_t* x = X + ((k * T + t) * B + b) * I;
            scalar_t* d = delta.data() + b * H;
            for (int64_t l = 0; l < H; ++l) {
              const scalar_t r = a[l], u = a[H + l], n = a[2 * H + l];
              const scalar_t grad_n = d[l] * (scalar_t(1) - u) * (scalar_t(1) - n * n);
              const scalar_t grad_r = grad_n * r * (scalar_t(1) - r) * cn[l];
              const scalar_t grad_u = d[l] * u * (scalar_t(1) - u) * (h_prev[l] - n);
              g_c[l] = g_a[l] = grad_r;
              g_c[H + l] = g_a[H + l] = grad_u;
              g_c[2 * H + l] = grad_n * r;
              g_a[2 * H + l] = grad_n;
            }
            outer(g_c.data(), h_prev, H3, H, Ghh + k * H3 * H);
            outer(g_a.data(), x, H3, I, Gih + k * H3 * I);
            for (int64_t r = 0; r < H3; ++r) {
              Gbhh[k * H3 + r] += g_c[r];
              Gbih[k * H3 + r] += g_a[r];
            }
            if (t > first[k]) {
              transposed(whh, g_c.data(), H3, H, back.data());
              const scalar_t* y = every ? Steps + ((k * T + t - 1) * B + b) * H : nullptr;
              for (int64_t l = 0; l < H; ++l) {
                d[l] = d[l] * a[H + l] + back[l] + (every ? y[l] : scalar_t(0));
              }
            }
          }
        }
      }
    });
  });
  return {grad_ih, grad_hh, grad_bih, grad_bhh};
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("elman_forward", &elman_forward);
  m.def("elman_backward", &elman_backward);
  m.def("lstm_forward", &lstm_forward);
  m.def("lstm_backward", &lstm_backward);
  m.def("gru_forward", &gru_forward);
  m.def("gru_backward", &gru_backward);
}
