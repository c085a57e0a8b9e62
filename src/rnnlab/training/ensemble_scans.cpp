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
//
// Vectorised: rnnlab/compiled.py builds this file for the CPU's vector instructions, with
// contraction into fused multiply-adds turned off. Every product h W^T runs along the rows of
// W^T (a member's weights transposed once per call), so blocks of the G*H outputs are summed in
// vector registers, while each output still adds its terms in the order of the row's dot
// product: the same roundings as the scalar loops, up to the last bit. Gradients whose rows are
// shorter than G*H (dE/dW_ih, I inputs wide) are accumulated transposed for the same reason.

#include <torch/extension.h>

#include <ATen/Parallel.h>

#include "fast_math.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

namespace {

enum Activation : int64_t { kTanh = 0, kSigmoid = 1, kRelu = 2, kIdentity = 3 };

// σ and tanh: fast_math.h's (float: a few ulp from torch's, without a libm call, which costs
// most of a tiny net's step; double: libm, as before)
using rnnlab::sigmoid;
using rnnlab::tanh_;

// out[j] = d[j] phi'(a_j) for j < n, from h = phi(a), the activation chosen once for the row
template <typename T>
inline void times_slope(int64_t activation, const T* __restrict__ d, const T* __restrict__ h,
                        int64_t n, T* __restrict__ out) {
  switch (activation) {
    case kTanh:
      for (int64_t j = 0; j < n; ++j) out[j] = d[j] * (T(1) - h[j] * h[j]);
      break;
    case kSigmoid:
      for (int64_t j = 0; j < n; ++j) out[j] = d[j] * (h[j] - h[j] * h[j]);
      break;
    case kRelu:
      for (int64_t j = 0; j < n; ++j) out[j] = d[j] * (h[j] > T(0) ? T(1) : T(0));
      break;
    default:
      for (int64_t j = 0; j < n; ++j) out[j] = d[j] * T(1);
  }
}

// out[r] = a(in[r]) for r < n (out may be in), the activation chosen once for the whole row
template <typename T>
inline void activate_all(int64_t activation, const T* in, int64_t n, T* out) {
  switch (activation) {
    case kTanh:
      for (int64_t r = 0; r < n; ++r) out[r] = tanh_(in[r]);
      break;
    case kSigmoid:
      for (int64_t r = 0; r < n; ++r) out[r] = sigmoid(in[r]);
      break;
    case kRelu:
      for (int64_t r = 0; r < n; ++r) out[r] = in[r] > T(0) ? in[r] : T(0);
      break;
    default:
      std::copy(in, in + n, out);
  }
}

// wT (n, R) = w^T for w (R, n): the products below then run along contiguous rows of R
template <typename T>
inline void transpose_into(const T* __restrict__ w, int64_t R, int64_t n, T* __restrict__ wT) {
  for (int64_t r = 0; r < R; ++r)
    for (int64_t i = 0; i < n; ++i) wT[i * R + r] = w[r * n + i];
}

// The two products below add into a block of kBlock outputs held in vector registers over the
// whole sum (a GCC/Clang vector type), instead of adding into memory term by term: a tiny net's
// step is a chain of such sums, and each store and reload would add its latency. Each output
// still adds its terms in the same order, one rounding per product and per sum.
constexpr int64_t kBlock = 8;
template <typename T>
using Block [[gnu::vector_size(kBlock * sizeof(T))]] = T;

// out[r] += sum_i v[i] w[r, i] for r < R, from wT = w^T (n, R). Each out[r] adds its terms in
// the order of i, one rounding per product and per sum (the build turns off contraction into
// fused multiply-adds), as the dot product of row r would.
template <typename T>
inline void accumulate_rows(const T* __restrict__ wT, const T* __restrict__ v, int64_t R,
                            int64_t n, T* __restrict__ out) {
  int64_t r0 = 0;
  for (; r0 + kBlock <= R; r0 += kBlock) {
    Block<T> sum, row;
    std::memcpy(&sum, out + r0, sizeof sum);
    for (int64_t i = 0; i < n; ++i) {
      std::memcpy(&row, wT + i * R + r0, sizeof row);
      sum += v[i] * row;
    }
    std::memcpy(out + r0, &sum, sizeof sum);
  }
  for (int64_t i = 0; i < n; ++i) {  // the last R mod kBlock outputs
    const T vi = v[i];
    const T* row = wT + i * R;
    for (int64_t r = r0; r < R; ++r) out[r] += vi * row[r];
  }
}

// out[l] = sum_r g[r] w[r, l] for l < n (out = g w; w is (R, n))
template <typename T>
inline void transposed(const T* __restrict__ w, const T* __restrict__ g, int64_t R, int64_t n,
                       T* __restrict__ out) {
  int64_t l0 = 0;
  for (; l0 + kBlock <= n; l0 += kBlock) {
    Block<T> sum = {}, row;
    for (int64_t r = 0; r < R; ++r) {
      std::memcpy(&row, w + r * n + l0, sizeof row);
      sum += g[r] * row;
    }
    std::memcpy(out + l0, &sum, sizeof sum);
  }
  std::fill(out + l0, out + n, T(0));  // the last n mod kBlock outputs
  for (int64_t r = 0; r < R; ++r) {
    const T gr = g[r];
    const T* row = w + r * n;
    for (int64_t l = l0; l < n; ++l) out[l] += gr * row[l];
  }
}

// grad[r, i] += g[r] v[i]
template <typename T>
inline void outer(const T* __restrict__ g, const T* __restrict__ v, int64_t R, int64_t n,
                  T* __restrict__ grad) {
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
      std::vector<scalar_t> a(H), winT(I1 * H), whhT(H * H);
      for (int64_t k = k0; k < k1; ++k) {
        transpose_into(Win + k * H * I1, H, I1, winT.data());
        transpose_into(Whh + k * H * H, H, H, whhT.data());
        for (int64_t t = first[k]; t < T; ++t) {
          for (int64_t b = 0; b < B; ++b) {
            const scalar_t* x = X + ((k * T + t) * B + b) * I1;
            const scalar_t* h = S + ((k * (T + 1) + t) * B + b) * H;
            scalar_t* next = S + ((k * (T + 1) + t + 1) * B + b) * H;
            std::fill(a.begin(), a.end(), scalar_t(0));
            accumulate_rows(winT.data(), x, H, I1, a.data());
            accumulate_rows(whhT.data(), h, H, H, a.data());
            activate_all(activation, a.data(), H, next);
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
  auto grad_in_t = torch::zeros({K, I1, H}, inputs.options());  // transposed: rows H wide
  auto grad_hh = torch::zeros({K, H, H}, inputs.options());
  AT_DISPATCH_FLOATING_TYPES(inputs.scalar_type(), "elman_backward", [&] {
    const scalar_t* X = inputs.data_ptr<scalar_t>();
    const scalar_t* Whh = weight_hh.data_ptr<scalar_t>();
    const scalar_t* S = states.data_ptr<scalar_t>();
    const scalar_t* Top = top.data_ptr<scalar_t>();
    const scalar_t* Steps = every ? step_grads.data_ptr<scalar_t>() : nullptr;
    scalar_t* Gin = grad_in_t.data_ptr<scalar_t>();
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
            times_slope(activation, d, h, H, grad_a.data());
            outer(x, grad_a.data(), I1, H, gin);
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
  return {grad_in_t.transpose(1, 2).contiguous(), grad_hh};
}

// ------------------------------------------------------------------------------------- LSTM
// One step's cell update from the activated gates z = (i, f, g, o) (4H) and c_{t-1}:
// c_t = f c_{t-1} + i g, tanh c_t, h_t = o tanh c_t (a helper, so that its pointers are known
// apart and the loop vectorises)
template <typename T>
inline void lstm_cell(const T* __restrict__ z, const T* __restrict__ c, int64_t H,
                      T* __restrict__ c_new, T* __restrict__ tc, T* __restrict__ h_new) {
  for (int64_t l = 0; l < H; ++l) {
    c_new[l] = z[H + l] * c[l] + z[l] * z[2 * H + l];
    tc[l] = tanh_(c_new[l]);
    h_new[l] = z[3 * H + l] * tc[l];
  }
}

// One step back through the cell: with delta = dE/dh_t and gamma = dE/dc_t (updated in place
// to dE/dc_{t-1} through the cell), the gates' pre-activation gradients zbar (4H)
template <typename T>
inline void lstm_cell_backward(const T* __restrict__ z, const T* __restrict__ tc,
                               const T* __restrict__ c_prev, const T* __restrict__ delta,
                               int64_t H, T* __restrict__ gamma, T* __restrict__ zbar) {
  for (int64_t l = 0; l < H; ++l) {
    const T i = z[l], f = z[H + l], g = z[2 * H + l], o = z[3 * H + l];
    const T gm = gamma[l] + delta[l] * o * (T(1) - tc[l] * tc[l]);
    zbar[l] = gm * i * (T(1) - i) * g;
    zbar[H + l] = gm * f * (T(1) - f) * c_prev[l];
    zbar[2 * H + l] = gm * i * (T(1) - g * g);
    zbar[3 * H + l] = delta[l] * o * (T(1) - o) * tc[l];
    gamma[l] = gm * f;
  }
}

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
      std::vector<scalar_t> wihT(I * H4), whhT(H * H4);
      for (int64_t k = k0; k < k1; ++k) {
        transpose_into(Wih + k * H4 * I, H4, I, wihT.data());
        transpose_into(Whh + k * H4 * H, H4, H, whhT.data());
        for (int64_t t = first[k]; t < T; ++t) {
          for (int64_t b = 0; b < B; ++b) {
            const scalar_t* x = X + ((k * T + t) * B + b) * I;
            const scalar_t* h = Hs + ((k * (T + 1) + t) * B + b) * H;
            const scalar_t* c = Cs + ((k * (T + 1) + t) * B + b) * H;
            scalar_t* z = G + ((k * T + t) * B + b) * H4;
            std::copy(Bias + k * H4, Bias + (k + 1) * H4, z);
            accumulate_rows(wihT.data(), x, H4, I, z);
            accumulate_rows(whhT.data(), h, H4, H, z);
            activate_all(int64_t(kSigmoid), z, 2 * H, z);  // i, f
            activate_all(int64_t(kTanh), z + 2 * H, H, z + 2 * H);  // g
            activate_all(int64_t(kSigmoid), z + 3 * H, H, z + 3 * H);  // o
            scalar_t* h_new = Hs + ((k * (T + 1) + t + 1) * B + b) * H;
            scalar_t* c_new = Cs + ((k * (T + 1) + t + 1) * B + b) * H;
            lstm_cell(z, c, H, c_new, TC + ((k * T + t) * B + b) * H, h_new);
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
  auto grad_ih_t = torch::zeros({K, I, H4}, inputs.options());  // transposed: rows 4H wide
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
    scalar_t* Gih = grad_ih_t.data_ptr<scalar_t>();
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
            lstm_cell_backward(z, tc, c_prev, d, H, gamma.data() + b * H, zbar.data());
            outer(zbar.data(), h_prev, H4, H, Ghh + k * H4 * H);
            outer(x, zbar.data(), I, H4, Gih + k * H4 * I);
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
  return {grad_ih_t.transpose(1, 2).contiguous(), grad_hh, grad_b};
}

// -------------------------------------------------------------------------------------- GRU
// One step's gates and state from a = x W_ih^T + b_ih (3H, overwritten with the gates r, u, n)
// and c = h_{t-1} W_hh^T + b_hh (3H): r = σ(a_r + c_r), u = σ(a_u + c_u),
// n = tanh(a_n + r c_n), h_t = n + u (h_{t-1} - n); c_n is kept for the backward
template <typename T>
inline void gru_cell(const T* __restrict__ c, const T* __restrict__ h, int64_t H,
                     T* __restrict__ a, T* __restrict__ cn, T* __restrict__ h_new) {
  for (int64_t l = 0; l < H; ++l) {
    const T r = sigmoid(a[l] + c[l]);
    const T u = sigmoid(a[H + l] + c[H + l]);
    const T n = tanh_(a[2 * H + l] + r * c[2 * H + l]);
    a[l] = r;
    a[H + l] = u;
    a[2 * H + l] = n;
    cn[l] = c[2 * H + l];
    h_new[l] = n + u * (h[l] - n);
  }
}

// One step back through the gates: from delta = dE/dh_t, the gradients of c (g_c, 3H: the
// recurrent product's, r inside the candidate's) and of a (g_a, 3H)
template <typename T>
inline void gru_cell_backward(const T* __restrict__ a, const T* __restrict__ cn,
                              const T* __restrict__ h_prev, const T* __restrict__ delta,
                              int64_t H, T* __restrict__ g_c, T* __restrict__ g_a) {
  for (int64_t l = 0; l < H; ++l) {
    const T r = a[l], u = a[H + l], n = a[2 * H + l];
    const T grad_n = delta[l] * (T(1) - u) * (T(1) - n * n);
    const T grad_r = grad_n * r * (T(1) - r) * cn[l];
    const T grad_u = delta[l] * u * (T(1) - u) * (h_prev[l] - n);
    g_c[l] = g_a[l] = grad_r;
    g_c[H + l] = g_a[H + l] = grad_u;
    g_c[2 * H + l] = grad_n * r;
    g_a[2 * H + l] = grad_n;
  }
}

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
      std::vector<scalar_t> c(H3), wihT(I * H3), whhT(H * H3);
      for (int64_t k = k0; k < k1; ++k) {
        transpose_into(Wih + k * H3 * I, H3, I, wihT.data());
        transpose_into(Whh + k * H3 * H, H3, H, whhT.data());
        for (int64_t t = first[k]; t < T; ++t) {
          for (int64_t b = 0; b < B; ++b) {
            const scalar_t* x = X + ((k * T + t) * B + b) * I;
            const scalar_t* h = Hs + ((k * (T + 1) + t) * B + b) * H;
            scalar_t* a = G + ((k * T + t) * B + b) * H3;
            std::copy(Bih + k * H3, Bih + (k + 1) * H3, a);
            accumulate_rows(wihT.data(), x, H3, I, a);
            std::copy(Bhh + k * H3, Bhh + (k + 1) * H3, c.begin());
            accumulate_rows(whhT.data(), h, H3, H, c.data());
            gru_cell(c.data(), h, H, a, Cn + ((k * T + t) * B + b) * H,
                     Hs + ((k * (T + 1) + t + 1) * B + b) * H);
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
  auto grad_ih_t = torch::zeros({K, I, H3}, inputs.options());  // transposed: rows 3H wide
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
    scalar_t* Gih = grad_ih_t.data_ptr<scalar_t>();
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
            gru_cell_backward(a, cn, h_prev, d, H, g_c.data(), g_a.data());
            outer(g_c.data(), h_prev, H3, H, Ghh + k * H3 * H);
            outer(x, g_a.data(), I, H3, Gih + k * H3 * I);
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
  return {grad_ih_t.transpose(1, 2).contiguous(), grad_hh, grad_bih, grad_bhh};
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
