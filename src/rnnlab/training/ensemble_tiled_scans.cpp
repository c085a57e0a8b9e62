// The seed ensembles' Elman, LSTM and GRU scans, forward and backward, compiled whole: member by
// member, every step's products in vector registers (small_products.h) and its elementwise work
// in one vectorised pass over the member's rows (built on first use by rnnlab/compiled.py).
//
// Why whole scans: on Pascanu's workload (K = 32, B = 20, H = 50) a step of the Python scans is
// one batched ATen product, whose MKL kernel packs both operands at every call, and about a dozen
// elementwise tensor operations. Here a member's weights are packed once and stay in cache over
// its T steps, and each step's numbers are in cache when the next pass reads them.
// The equations, layouts and padding rule are the Python scans' (their docstrings:
// training/ensemble_scan.py, ensemble_lstm_scan.py, ensemble_gru_scan.py): member-major tensors;
// LSTM gates i, f, g, o with the g rows entering doubled, GRU gates r, z, n; tanh x as
// 2 σ(2x) - 1 in the gated cells; a padded step's state multiplied by its 0/1 mask. The Python
// scans are the reference (tests/training/test_ensemble_tiled_scans.py).

#include <torch/extension.h>

#include <ATen/Parallel.h>

#include "fast_math.h"
#include "small_products.h"

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <vector>

namespace {

using rnnlab::sigmoid;
using rnnlab::tanh_;

// One member row of the forward step; s is z_t = [h_{t-1}, x_t, 1] [W_hh, W_ih, b]ᵀ (g doubled)
// and z receives the activations i, f, g, o.
template <typename S>
__attribute__((noinline)) void forward_row(S* __restrict z, const S* __restrict s,
                                           const S* __restrict c_prev, S* __restrict c_now,
                                           S* __restrict tc, S* __restrict h, S m, int64_t H) {
  for (int64_t j = 0; j < 4 * H; ++j) z[j] = sigmoid(s[j]);
  S* __restrict g = z + 2 * H;
  for (int64_t j = 0; j < H; ++j) g[j] = g[j] * S(2) - S(1);  // tanh z_g = 2 σ(2 z_g) - 1
  const S* __restrict i = z;
  const S* __restrict f = z + H;
  const S* __restrict o = z + 3 * H;
  for (int64_t j = 0; j < H; ++j) {
    const S c = f[j] * c_prev[j] + i[j] * g[j];
    const S t = sigmoid(c * S(2)) * S(2) - S(1);
    tc[j] = t;
    c_now[j] = c * m;  // m = 1 without a mask: exact
    h[j] = o[j] * t * m;
  }
}

// One member row of the backward step: δ, γ (the gradients at h_t and c_t) and the tape's
// i, f, g, o, tanh c', c_{t-1} give z̄ (z, 4H) and the new γ:
//   δ ← m δ;  γ ← m γ + δ K_c;  z̄_o = δ S_o;  z̄_{i,f,g} = γ G_{i,f,g};  γ ← γ f
template <typename S>
__attribute__((noinline)) void backward_row(const S* __restrict gates, const S* __restrict tc,
                                            const S* __restrict c_prev, S* __restrict delta,
                                            S* __restrict gamma, S* __restrict z, S m,
                                            int64_t H) {
  const S *__restrict i = gates, *__restrict f = gates + H;
  const S *__restrict g = gates + 2 * H, *__restrict o = gates + 3 * H;
  S *__restrict z_i = z, *__restrict z_f = z + H, *__restrict z_g = z + 2 * H;
  S* __restrict z_o = z + 3 * H;
  for (int64_t j = 0; j < H; ++j) {
    const S d = delta[j] * m;  // m = 1 without a mask: exact
    const S gm = gamma[j] * m + d * ((S(1) - tc[j] * tc[j]) * o[j]);
    delta[j] = d;
    z_i[j] = gm * ((i[j] * g[j]) * (S(1) - i[j]));
    z_f[j] = gm * ((f[j] * c_prev[j]) * (S(1) - f[j]));
    z_g[j] = gm * ((S(1) - g[j] * g[j]) * i[j]);
    z_o[j] = d * ((o[j] * tc[j]) * (S(1) - o[j]));
    gamma[j] = gm * f[j];
  }
}

// One member row of the GRU's forward step: a holds x W_ihᵀ + b_ih and receives r, z, n; c is
// h_{t-1} W_hhᵀ + b_hh; hidden receives c_n; h_prev is h_{t-1}, h receives h_t.
template <typename S>
__attribute__((noinline)) void gru_forward_row(S* __restrict a, const S* __restrict c,
                                               S* __restrict hidden, const S* __restrict h_prev,
                                               S* __restrict h, S m, int64_t H) {
  for (int64_t j = 0; j < 2 * H; ++j) a[j] = sigmoid(a[j] + c[j]);
  const S* __restrict r = a;
  const S* __restrict z = a + H;
  S* __restrict n = a + 2 * H;
  const S* __restrict c_n = c + 2 * H;
  for (int64_t j = 0; j < H; ++j) {
    hidden[j] = c_n[j];
    const S v = sigmoid((n[j] + r[j] * c_n[j]) * S(2)) * S(2) - S(1);  // tanh = 2 σ(2x) - 1
    n[j] = v;
    h[j] = ((h_prev[j] - v) * z[j] + v) * m;  // m = 1 without a mask: exact
  }
}

// One member row of the GRU's backward step (before the product): δ ← m δ, then
//   ā_n = δ A_n;  ā_z = δ A_z;  ā_r = ā_n A_r;  c̄_n = ā_n r
// with A_n = (1 - n²)(1 - z), A_z = (h_{t-1} - n) z (1 - z), A_r = r c_n (1 - r), into
// g_c = [ā_r, ā_z, c̄_n] (the hidden products' gradients) and g_a = [ā_r, ā_z, ā_n] (the inputs').
template <typename S>
__attribute__((noinline)) void gru_backward_row(const S* __restrict gates,
                                                const S* __restrict c_n,
                                                const S* __restrict h_prev, S* __restrict delta,
                                                S* __restrict g_c, S* __restrict g_a, S m,
                                                int64_t H) {
  const S *__restrict r = gates, *__restrict z = gates + H, *__restrict n = gates + 2 * H;
  for (int64_t j = 0; j < H; ++j) {
    const S d = delta[j] * m;  // m = 1 without a mask: exact
    const S an = d * ((S(1) - n[j] * n[j]) * (S(1) - z[j]));
    const S ar = an * ((r[j] * c_n[j]) * (S(1) - r[j]));
    const S az = d * (((h_prev[j] - n[j]) * z[j]) * (S(1) - z[j]));
    delta[j] = d;
    g_c[j] = g_a[j] = ar;
    g_c[H + j] = g_a[H + j] = az;
    g_c[2 * H + j] = an * r[j];
    g_a[2 * H + j] = an;
  }
}

// The Elman scans' nonlinearities, as ensemble_scan.ACTIVATION_CODES numbers them
enum Activation : int64_t { kTanh = 0, kSigmoid = 1, kRelu = 2, kIdentity = 3 };

// h = φ(a) over one member row (n numbers, in place), φ chosen once for the row. float32's tanh
// and σ are fast_math.h's (torch's AVX2 float32 tanh costs 3.5 times its σ); tanh 0 = 0.
template <typename S>
__attribute__((noinline)) void activate_row(int64_t activation, S* __restrict h, int64_t n) {
  switch (activation) {
    case kTanh:
      for (int64_t j = 0; j < n; ++j) h[j] = tanh_(h[j]);
      break;
    case kSigmoid:
      for (int64_t j = 0; j < n; ++j) h[j] = sigmoid(h[j]);
      break;
    case kRelu:
      for (int64_t j = 0; j < n; ++j) h[j] = h[j] > S(0) ? h[j] : S(0);
      break;
    default:
      break;
  }
}

// ā = δ φ'(a) over one member row, φ' from h = φ(a): 1 - h², h - h², sign h, 1 (as the Python
// scan's _slope)
template <typename S>
__attribute__((noinline)) void slope_row(int64_t activation, const S* __restrict delta,
                                         const S* __restrict h, S* __restrict grad_a, int64_t n) {
  switch (activation) {
    case kTanh:
      for (int64_t j = 0; j < n; ++j) grad_a[j] = delta[j] * (S(1) - h[j] * h[j]);
      break;
    case kSigmoid:
      for (int64_t j = 0; j < n; ++j) grad_a[j] = delta[j] * (h[j] - h[j] * h[j]);
      break;
    case kRelu:
      for (int64_t j = 0; j < n; ++j) grad_a[j] = delta[j] * S((h[j] > S(0)) - (h[j] < S(0)));
      break;
    default:
      for (int64_t j = 0; j < n; ++j) grad_a[j] = delta[j];
  }
}

// A contiguous tensor on the CPU of like's dtype and the given shape.
void check_tensor(const at::Tensor& t, const at::Tensor& like, const char* name,
                  std::initializer_list<int64_t> shape) {
  TORCH_CHECK(t.is_contiguous() && t.device().is_cpu(), name, " must be contiguous, on the CPU");
  TORCH_CHECK(t.scalar_type() == like.scalar_type(), name, " must have the scan's dtype, ",
              like.scalar_type());
  TORCH_CHECK(t.sizes() == at::IntArrayRef(shape), name, " must have shape ",
              at::IntArrayRef(shape), ", got ", t.sizes());
}

// Numbers of gradients a compiled backward keeps for one product with their steps' rows (128 KiB
// in float32, 256 KiB in float64: in the second-level cache beside the member's packed weights)
constexpr int64_t kGradientBlock = 32768;

// The steps of such a block, of step_numbers gradients each: at least 1, at most T.
int64_t block_steps(int64_t step_numbers, int64_t T) {
  return std::clamp<int64_t>(kGradientBlock / std::max<int64_t>(step_numbers, 1), 1,
                             std::max<int64_t>(T, 1));
}

// delta (n numbers) = ∂E/∂h_{T-1} of member k: top[k], plus ȳ_{T-1} = step_grads[k, T-1] when
// every step is read out (step_grads not null, T > 0)
template <typename S>
void last_state_gradient(const S* top, const S* step_grads, int64_t k, int64_t T, int64_t n,
                         S* delta) {
  std::copy(top + k * n, top + (k + 1) * n, delta);
  if (step_grads == nullptr || T == 0) return;
  const S* last = step_grads + (k * T + T - 1) * n;
  for (int64_t e = 0; e < n; ++e) delta[e] += last[e];
}

// mask (T, K) of 0/1 per step and member, or absent (every value 1)
template <typename S>
const S* mask_values(const std::optional<at::Tensor>& mask, const at::Tensor& like, int64_t T,
                     int64_t K) {
  if (!mask) return nullptr;
  check_tensor(*mask, like, "mask", {T, K});
  return mask->data_ptr<S>();
}

}  // namespace

// The LSTM scan's forward over all T steps, member by member (ensemble_lstm_scan.forward):
// rows (K, T+1, B, W), W = H+I+1, holds each step's product rows [h_{t-1}, x_t, 1] (x and 1
// given, h[:, 0] = 0; h_t is written into rows[:, t+1, :, :H]); weights (K, W, 4H) = [W_hh, W_ih,
// b]ᵀ with the g columns doubled; gates (K, T, B, 4H), c (K, T+1, B, H) (c[:, 0] given) and
// tanh_c (K, T, B, H) receive the tape; mask (T, K) the 0/1 of each step and member, or absent.
// A member's weights are packed once (small_products.h) and stay in cache over its T steps.
void lstm_forward_scan(at::Tensor rows, at::Tensor weights, at::Tensor gates, at::Tensor c,
                       at::Tensor tanh_c, std::optional<at::Tensor> mask) {
  TORCH_CHECK(rows.dim() == 4 && weights.dim() == 3, "rows must be (K, T+1, B, W)");
  const int64_t K = rows.size(0), T = rows.size(1) - 1, B = rows.size(2), W = rows.size(3);
  const int64_t H4 = weights.size(2), H = H4 / 4;
  TORCH_CHECK(H4 % 4 == 0 && H > 0 && W > H, "weights must be (K, W, 4H) with W > H");
  check_tensor(rows, rows, "rows", {K, T + 1, B, W});
  check_tensor(weights, rows, "weights", {K, W, H4});
  check_tensor(gates, rows, "gates", {K, T, B, H4});
  check_tensor(c, rows, "c", {K, T + 1, B, H});
  check_tensor(tanh_c, rows, "tanh_c", {K, T, B, H});
  AT_DISPATCH_FLOATING_TYPES(rows.scalar_type(), "lstm_forward_scan", [&] {
    using S = scalar_t;
    S* pr = rows.data_ptr<S>();
    const S* pw = weights.data_ptr<S>();
    S *pz = gates.data_ptr<S>(), *pc = c.data_ptr<S>(), *ptc = tanh_c.data_ptr<S>();
    const S* m = mask_values<S>(mask, rows, T, K);
    at::parallel_for(0, K, 1, [&](int64_t k0, int64_t k1) {
      std::vector<S> panels(rnnlab::panels_of<S>(H4) * W * rnnlab::kLanes<S>), s(B * H4);
      for (int64_t k = k0; k < k1; ++k) {
        rnnlab::pack_panels<S>({pw + k * W * H4, H4, 1}, W, H4, panels.data());
        for (int64_t t = 0; t < T; ++t) {
          const S* now = pr + (k * (T + 1) + t) * B * W;
          rnnlab::multiply<S, false>({now, W, 1}, B, W, panels.data(), H4, s.data(), H4);
          const S mk = m == nullptr ? S(1) : m[t * K + k];
          for (int64_t b = 0; b < B; ++b) {
            const int64_t at = (k * T + t) * B + b, state = (k * (T + 1) + t) * B + b;
            forward_row<S>(pz + at * H4, s.data() + b * H4, pc + state * H, pc + (state + B) * H,
                           ptc + at * H, pr + (state + B) * W, mk, H);
          }
        }
      }
    });
  });
}

// The LSTM scan's backward over all T steps, member by member (ensemble_lstm_scan.backward):
// weight_hh (K, 4H, H); the tape's gates, tanh_c, c and rows as lstm_forward_scan left them; top
// (K, B, H) = ∂E/∂h_{T-1}; step_grads (K, T, B, H), ȳ_t of a readout at every step, or absent;
// mask as in lstm_forward_scan. Returns Σ_t z̄_tᵀ [h_{t-1}, x_t, 1] (K, 4H, W): the gradients
// of [W_hh, W_ih, b], added a block of steps at a time while their z̄ are in cache.
at::Tensor lstm_backward_scan(at::Tensor weight_hh, at::Tensor gates, at::Tensor tanh_c,
                              at::Tensor c, at::Tensor rows, at::Tensor top,
                              std::optional<at::Tensor> step_grads,
                              std::optional<at::Tensor> mask) {
  TORCH_CHECK(rows.dim() == 4 && weight_hh.dim() == 3, "rows must be (K, T+1, B, W)");
  const int64_t K = rows.size(0), T = rows.size(1) - 1, B = rows.size(2), W = rows.size(3);
  const int64_t H4 = weight_hh.size(1), H = H4 / 4;
  TORCH_CHECK(H4 % 4 == 0 && H > 0 && W > H, "weight_hh must be (K, 4H, H)");
  check_tensor(weight_hh, rows, "weight_hh", {K, H4, H});
  check_tensor(gates, rows, "gates", {K, T, B, H4});
  check_tensor(tanh_c, rows, "tanh_c", {K, T, B, H});
  check_tensor(c, rows, "c", {K, T + 1, B, H});
  check_tensor(rows, rows, "rows", {K, T + 1, B, W});
  check_tensor(top, rows, "top", {K, B, H});
  if (step_grads) check_tensor(*step_grads, rows, "step_grads", {K, T, B, H});
  auto grad = at::zeros({K, H4, W}, rows.options());
  AT_DISPATCH_FLOATING_TYPES(rows.scalar_type(), "lstm_backward_scan", [&] {
    using S = scalar_t;
    const S *pg = gates.data_ptr<S>(), *ptc = tanh_c.data_ptr<S>(), *pc = c.data_ptr<S>();
    const S *pr = rows.data_ptr<S>(), *pw = weight_hh.data_ptr<S>(), *ptop = top.data_ptr<S>();
    const S* py = step_grads ? step_grads->data_ptr<S>() : nullptr;
    const S* m = mask_values<S>(mask, rows, T, K);
    S* pgrad = grad.data_ptr<S>();
    constexpr int64_t L = rnnlab::kLanes<S>;
    const int64_t n = block_steps(B * H4, T);  // z̄ of n steps, one product with their rows
    at::parallel_for(0, K, 1, [&](int64_t k0, int64_t k1) {
      std::vector<S> w_panels(rnnlab::panels_of<S>(H) * H4 * L);
      std::vector<S> row_panels(rnnlab::panels_of<S>(W) * n * B * L);
      std::vector<S> delta(B * H), gamma(B * H), z(n * B * H4);
      for (int64_t k = k0; k < k1; ++k) {
        rnnlab::pack_panels<S>({pw + k * H4 * H, H, 1}, H4, H, w_panels.data());
        last_state_gradient(ptop, py, k, T, B * H, delta.data());
        std::fill(gamma.begin(), gamma.end(), S(0));
        for (int64_t t1 = T; t1 > 0; t1 -= n) {
          const int64_t t0 = std::max<int64_t>(0, t1 - n);
          for (int64_t t = t1 - 1; t >= t0; --t) {
            const S mk = m == nullptr ? S(1) : m[t * K + k];
            S* zt = z.data() + (t - t0) * B * H4;
            for (int64_t b = 0; b < B; ++b) {
              const int64_t at = (k * T + t) * B + b, state = (k * (T + 1) + t) * B + b;
              backward_row<S>(pg + at * H4, ptc + at * H, pc + state * H, delta.data() + b * H,
                              gamma.data() + b * H, zt + b * H4, mk, H);
            }
            if (t == 0) break;
            rnnlab::multiply<S, false>({zt, H4, 1}, B, H4, w_panels.data(), H, delta.data(),
                                       H);  // δ = z̄_t W_hh
            if (py != nullptr) {
              const S* y = py + (k * T + t - 1) * B * H;
              for (int64_t e = 0; e < B * H; ++e) delta[e] += y[e];
            }
          }
          // ∂E/∂[W_hh, W_ih, b]ᵀ += Σ_{t0 <= t < t1} z̄_tᵀ rows_t: (4H × mB) · (mB × W)
          const int64_t mB = (t1 - t0) * B;
          rnnlab::pack_panels<S>({pr + (k * (T + 1) + t0) * B * W, W, 1}, mB, W, row_panels.data());
          rnnlab::multiply<S, true>({z.data(), 1, H4}, H4, mB, row_panels.data(), W,
                                    pgrad + k * H4 * W, W);
        }
      }
    });
  });
  return grad;
}

// rows (M × n, contiguous) = the vector v (n) in every row
template <typename S>
void fill_rows(S* rows, int64_t M, const S* v, int64_t n) {
  for (int64_t r = 0; r < M; ++r) std::copy(v, v + n, rows + r * n);
}

// The GRU scan's forward, member by member (ensemble_gru_scan.forward): inputs (K, T, B, I),
// weight_ih (K, 3H, I), weight_hh (K, 3H, H), bias_ih and bias_hh (K, 3H); gates (K, T, B, 3H),
// hidden (K, T, B, H) and h (K, T+1, B, H) (h[:, 0] = 0, given) receive the tape; mask (T, K) the
// 0/1 of each step and member, or absent.
//   a_t = x_t W_ihᵀ + b_ih,  c_t = h_{t-1} W_hhᵀ + b_hh,  then gru_forward_row
void gru_forward_scan(at::Tensor inputs, at::Tensor weight_ih, at::Tensor weight_hh,
                      at::Tensor bias_ih, at::Tensor bias_hh, at::Tensor gates, at::Tensor hidden,
                      at::Tensor h, std::optional<at::Tensor> mask) {
  TORCH_CHECK(inputs.dim() == 4 && weight_hh.dim() == 3, "inputs must be (K, T, B, I)");
  const int64_t K = inputs.size(0), T = inputs.size(1), B = inputs.size(2), I = inputs.size(3);
  const int64_t H3 = weight_hh.size(1), H = H3 / 3;
  TORCH_CHECK(H3 % 3 == 0 && H > 0, "weight_hh must be (K, 3H, H)");
  check_tensor(inputs, inputs, "inputs", {K, T, B, I});
  check_tensor(weight_ih, inputs, "weight_ih", {K, H3, I});
  check_tensor(weight_hh, inputs, "weight_hh", {K, H3, H});
  check_tensor(bias_ih, inputs, "bias_ih", {K, H3});
  check_tensor(bias_hh, inputs, "bias_hh", {K, H3});
  check_tensor(gates, inputs, "gates", {K, T, B, H3});
  check_tensor(hidden, inputs, "hidden", {K, T, B, H});
  check_tensor(h, inputs, "h", {K, T + 1, B, H});
  AT_DISPATCH_FLOATING_TYPES(inputs.scalar_type(), "gru_forward_scan", [&] {
    using S = scalar_t;
    const S *px = inputs.data_ptr<S>(), *pih = weight_ih.data_ptr<S>();
    const S *phh = weight_hh.data_ptr<S>(), *pbi = bias_ih.data_ptr<S>();
    const S* pbh = bias_hh.data_ptr<S>();
    S *pg = gates.data_ptr<S>(), *phid = hidden.data_ptr<S>(), *ph = h.data_ptr<S>();
    const S* m = mask_values<S>(mask, inputs, T, K);
    constexpr int64_t L = rnnlab::kLanes<S>;
    at::parallel_for(0, K, 1, [&](int64_t k0, int64_t k1) {
      std::vector<S> ih(rnnlab::panels_of<S>(H3) * I * L), hh(rnnlab::panels_of<S>(H3) * H * L);
      std::vector<S> c(B * H3);
      for (int64_t k = k0; k < k1; ++k) {
        rnnlab::pack_panels<S>({pih + k * H3 * I, 1, I}, I, H3, ih.data());  // W_ihᵀ
        rnnlab::pack_panels<S>({phh + k * H3 * H, 1, H}, H, H3, hh.data());  // W_hhᵀ
        for (int64_t t = 0; t < T; ++t) {
          S* a = pg + (k * T + t) * B * H3;
          S* h_prev = ph + (k * (T + 1) + t) * B * H;  // h_t follows it
          fill_rows(a, B, pbi + k * H3, H3);
          rnnlab::multiply<S, true>({px + (k * T + t) * B * I, I, 1}, B, I, ih.data(), H3, a, H3);
          fill_rows(c.data(), B, pbh + k * H3, H3);
          rnnlab::multiply<S, true>({h_prev, H, 1}, B, H, hh.data(), H3, c.data(), H3);
          const S mk = m == nullptr ? S(1) : m[t * K + k];
          for (int64_t b = 0; b < B; ++b) {
            gru_forward_row<S>(a + b * H3, c.data() + b * H3, phid + ((k * T + t) * B + b) * H,
                               h_prev + b * H, h_prev + (B + b) * H, mk, H);
          }
        }
      }
    });
  });
}

// The GRU scan's backward, member by member (ensemble_gru_scan.backward): weight_hh (K, 3H, H);
// the tape's gates, hidden and h as gru_forward_scan left them; inputs as given to it; top
// (K, B, H) = ∂E/∂h_{T-1}; step_grads (K, T, B, H) or absent; mask as in gru_forward_scan.
// Returns ∂E/∂W_ih (K, 3H, I), ∂E/∂W_hh (K, 3H, H), ∂E/∂b_ih, ∂E/∂b_hh (K, 3H), added a block of
// steps at a time while their gradients are in cache:
//   δ ← δ ⊙ z + g_c W_hh (+ ȳ_{t-1}),  ∂E/∂W_hh = Σ g_cᵀ h_{t-1},  ∂E/∂W_ih = Σ g_aᵀ x_t
std::vector<at::Tensor> gru_backward_scan(at::Tensor weight_hh, at::Tensor gates,
                                          at::Tensor hidden, at::Tensor h, at::Tensor inputs,
                                          at::Tensor top, std::optional<at::Tensor> step_grads,
                                          std::optional<at::Tensor> mask) {
  TORCH_CHECK(inputs.dim() == 4 && weight_hh.dim() == 3, "inputs must be (K, T, B, I)");
  const int64_t K = inputs.size(0), T = inputs.size(1), B = inputs.size(2), I = inputs.size(3);
  const int64_t H3 = weight_hh.size(1), H = H3 / 3;
  TORCH_CHECK(H3 % 3 == 0 && H > 0, "weight_hh must be (K, 3H, H)");
  check_tensor(weight_hh, inputs, "weight_hh", {K, H3, H});
  check_tensor(gates, inputs, "gates", {K, T, B, H3});
  check_tensor(hidden, inputs, "hidden", {K, T, B, H});
  check_tensor(h, inputs, "h", {K, T + 1, B, H});
  check_tensor(inputs, inputs, "inputs", {K, T, B, I});
  check_tensor(top, inputs, "top", {K, B, H});
  if (step_grads) check_tensor(*step_grads, inputs, "step_grads", {K, T, B, H});
  auto grad_ih = at::zeros({K, H3, I}, inputs.options());
  auto grad_hh = at::zeros({K, H3, H}, inputs.options());
  auto grad_bih = at::zeros({K, H3}, inputs.options());
  auto grad_bhh = at::zeros({K, H3}, inputs.options());
  AT_DISPATCH_FLOATING_TYPES(inputs.scalar_type(), "gru_backward_scan", [&] {
    using S = scalar_t;
    const S *pw = weight_hh.data_ptr<S>(), *pg = gates.data_ptr<S>();
    const S *phid = hidden.data_ptr<S>(), *ph = h.data_ptr<S>(), *px = inputs.data_ptr<S>();
    const S *ptop = top.data_ptr<S>(), *py = step_grads ? step_grads->data_ptr<S>() : nullptr;
    const S* m = mask_values<S>(mask, inputs, T, K);
    S *gih = grad_ih.data_ptr<S>(), *ghh = grad_hh.data_ptr<S>();
    S *gbi = grad_bih.data_ptr<S>(), *gbh = grad_bhh.data_ptr<S>();
    constexpr int64_t L = rnnlab::kLanes<S>;
    const int64_t n = block_steps(B * H3, T);
    at::parallel_for(0, K, 1, [&](int64_t k0, int64_t k1) {
      std::vector<S> w(rnnlab::panels_of<S>(H) * H3 * L), delta(B * H), spare(B * H);
      std::vector<S> g_c(n * B * H3), g_a(n * B * H3);
      std::vector<S> h_panels(rnnlab::panels_of<S>(H) * n * B * L);
      std::vector<S> x_panels(rnnlab::panels_of<S>(I) * n * B * L);
      for (int64_t k = k0; k < k1; ++k) {
        rnnlab::pack_panels<S>({pw + k * H3 * H, H, 1}, H3, H, w.data());  // W_hh
        last_state_gradient(ptop, py, k, T, B * H, delta.data());
        for (int64_t t1 = T; t1 > 0; t1 -= n) {
          const int64_t t0 = std::max<int64_t>(0, t1 - n);
          for (int64_t t = t1 - 1; t >= t0; --t) {
            const S mk = m == nullptr ? S(1) : m[t * K + k];
            S *gc = g_c.data() + (t - t0) * B * H3, *ga = g_a.data() + (t - t0) * B * H3;
            const S* gate = pg + (k * T + t) * B * H3;
            for (int64_t b = 0; b < B; ++b) {
              gru_backward_row<S>(gate + b * H3, phid + ((k * T + t) * B + b) * H,
                                  ph + ((k * (T + 1) + t) * B + b) * H, delta.data() + b * H,
                                  gc + b * H3, ga + b * H3, mk, H);
            }
            if (t == 0) break;
            rnnlab::multiply<S, false>({gc, H3, 1}, B, H3, w.data(), H, spare.data(), H);
            const S* y = py == nullptr ? nullptr : py + (k * T + t - 1) * B * H;
            for (int64_t b = 0; b < B; ++b) {
              const S* z = gate + b * H3 + H;
              for (int64_t j = 0; j < H; ++j) {
                S& d = delta[b * H + j];
                d = d * z[j] + spare[b * H + j];
                if (y != nullptr) d += y[b * H + j];
              }
            }
          }
          // the block's share: Σ g_cᵀ h_{t-1}, Σ g_aᵀ x_t and the biases' sums
          const int64_t mB = (t1 - t0) * B;
          rnnlab::pack_panels<S>({ph + (k * (T + 1) + t0) * B * H, H, 1}, mB, H, h_panels.data());
          rnnlab::multiply<S, true>({g_c.data(), 1, H3}, H3, mB, h_panels.data(), H,
                                    ghh + k * H3 * H, H);
          rnnlab::pack_panels<S>({px + (k * T + t0) * B * I, I, 1}, mB, I, x_panels.data());
          rnnlab::multiply<S, true>({g_a.data(), 1, H3}, H3, mB, x_panels.data(), I,
                                    gih + k * H3 * I, I);
          for (int64_t r = 0; r < mB; ++r) {
            for (int64_t j = 0; j < H3; ++j) {
              gbh[k * H3 + j] += g_c[r * H3 + j];
              gbi[k * H3 + j] += g_a[r * H3 + j];
            }
          }
        }
      }
    });
  });
  return {grad_ih, grad_hh, grad_bih, grad_bhh};
}

// The Elman scan's forward, member by member (ensemble_scan.forward): inputs (K, T, B, I+1) with
// the bias channel, weight_in (K, H, I+1) = [W_ih | b], weight_hh (K, H, H); mask (T, K) the 0/1
// of each step and member; states (K, S, B, H) receives h_t in slot t+1 (S = T+1), or in slot
// (t+1) mod 2 (S = 2: the last state only); slot 0 is h_0 = 0, given.
//   a_t = h_{t-1} W_hhᵀ + x̃_t W_inᵀ,   h_t = φ(a_t),   h_t = 0 on padded steps
void elman_forward_scan(at::Tensor inputs, at::Tensor weight_in, at::Tensor weight_hh,
                        at::Tensor mask, int64_t activation, at::Tensor states) {
  TORCH_CHECK(inputs.dim() == 4 && weight_hh.dim() == 3 && states.dim() == 4,
              "inputs must be (K, T, B, I+1)");
  const int64_t K = inputs.size(0), T = inputs.size(1), B = inputs.size(2), I1 = inputs.size(3);
  const int64_t H = weight_hh.size(1), slots = states.size(1);
  TORCH_CHECK(slots == T + 1 || slots == 2, "states must be (K, T+1, B, H) or (K, 2, B, H)");
  TORCH_CHECK(activation >= kTanh && activation <= kIdentity, "activation must be 0 to 3");
  check_tensor(inputs, inputs, "inputs", {K, T, B, I1});
  check_tensor(weight_in, inputs, "weight_in", {K, H, I1});
  check_tensor(weight_hh, inputs, "weight_hh", {K, H, H});
  check_tensor(mask, inputs, "mask", {T, K});
  check_tensor(states, inputs, "states", {K, slots, B, H});
  AT_DISPATCH_FLOATING_TYPES(inputs.scalar_type(), "elman_forward_scan", [&] {
    using S = scalar_t;
    const S *px = inputs.data_ptr<S>(), *pin = weight_in.data_ptr<S>();
    const S *phh = weight_hh.data_ptr<S>(), *pm = mask.data_ptr<S>();
    S* ps = states.data_ptr<S>();
    constexpr int64_t L = rnnlab::kLanes<S>;
    at::parallel_for(0, K, 1, [&](int64_t k0, int64_t k1) {
      std::vector<S> hh(rnnlab::panels_of<S>(H) * H * L), in(rnnlab::panels_of<S>(H) * I1 * L);
      for (int64_t k = k0; k < k1; ++k) {
        rnnlab::pack_panels<S>({phh + k * H * H, 1, H}, H, H, hh.data());  // W_hhᵀ
        rnnlab::pack_panels<S>({pin + k * H * I1, 1, I1}, I1, H, in.data());  // W_inᵀ
        for (int64_t t = 0; t < T; ++t) {
          const S* previous = ps + (k * slots + (slots == 2 ? t % 2 : t)) * B * H;
          S* h = ps + (k * slots + (slots == 2 ? (t + 1) % 2 : t + 1)) * B * H;
          if (pm[t * K + k] == S(0)) {
            std::fill(h, h + B * H, S(0));
            continue;
          }
          rnnlab::multiply<S, false>({previous, H, 1}, B, H, hh.data(), H, h, H);
          rnnlab::multiply<S, true>({px + (k * T + t) * B * I1, I1, 1}, B, I1, in.data(), H, h, H);
          activate_row<S>(activation, h, B * H);
        }
      }
    });
  });
}

// The Elman scan's backward without Ω, member by member (ensemble_scan.backward): inputs,
// weight_hh and activation as in elman_forward_scan, states (K, T+1, B, H) from it, top (K, B, H)
// = ∂E/∂h_{T-1}, step_grads (K, T, B, H) or absent. Returns (∂E/∂W_in (K, H, I+1), ∂E/∂W_hh
// (K, H, H)), added a block of steps at a time while their ā are in cache:
//   ā_t = δ_t φ'_t,   δ_{t-1} = ā_t W_hh + ȳ_{t-1},   ∂E/∂W_in = Σ ā_tᵀ x̃_t,   ∂E/∂W_hh = Σ ā_tᵀ h_{t-1}
std::vector<at::Tensor> elman_backward_scan(at::Tensor inputs, at::Tensor weight_hh,
                                            at::Tensor states, int64_t activation, at::Tensor top,
                                            std::optional<at::Tensor> step_grads) {
  TORCH_CHECK(inputs.dim() == 4 && weight_hh.dim() == 3, "inputs must be (K, T, B, I+1)");
  const int64_t K = inputs.size(0), T = inputs.size(1), B = inputs.size(2), I1 = inputs.size(3);
  const int64_t H = weight_hh.size(1);
  TORCH_CHECK(activation >= kTanh && activation <= kIdentity, "activation must be 0 to 3");
  check_tensor(inputs, inputs, "inputs", {K, T, B, I1});
  check_tensor(weight_hh, inputs, "weight_hh", {K, H, H});
  check_tensor(states, inputs, "states", {K, T + 1, B, H});
  check_tensor(top, inputs, "top", {K, B, H});
  if (step_grads) check_tensor(*step_grads, inputs, "step_grads", {K, T, B, H});
  auto grad_in = at::zeros({K, H, I1}, inputs.options());
  auto grad_hh = at::zeros({K, H, H}, inputs.options());
  AT_DISPATCH_FLOATING_TYPES(inputs.scalar_type(), "elman_backward_scan", [&] {
    using S = scalar_t;
    const S *px = inputs.data_ptr<S>(), *pw = weight_hh.data_ptr<S>();
    const S *ps = states.data_ptr<S>(), *ptop = top.data_ptr<S>();
    const S* py = step_grads ? step_grads->data_ptr<S>() : nullptr;
    S *gin = grad_in.data_ptr<S>(), *ghh = grad_hh.data_ptr<S>();
    constexpr int64_t L = rnnlab::kLanes<S>;
    const int64_t n = block_steps(B * H, T);
    at::parallel_for(0, K, 1, [&](int64_t k0, int64_t k1) {
      std::vector<S> w(rnnlab::panels_of<S>(H) * H * L), delta(B * H), grad_a(n * B * H);
      std::vector<S> h_panels(rnnlab::panels_of<S>(H) * n * B * L);
      std::vector<S> x_panels(rnnlab::panels_of<S>(I1) * n * B * L);
      for (int64_t k = k0; k < k1; ++k) {
        rnnlab::pack_panels<S>({pw + k * H * H, H, 1}, H, H, w.data());  // W_hh
        last_state_gradient(ptop, py, k, T, B * H, delta.data());
        for (int64_t t1 = T; t1 > 0; t1 -= n) {
          const int64_t t0 = std::max<int64_t>(0, t1 - n);
          for (int64_t t = t1 - 1; t >= t0; --t) {
            S* a = grad_a.data() + (t - t0) * B * H;
            slope_row<S>(activation, delta.data(), ps + (k * (T + 1) + t + 1) * B * H, a, B * H);
            if (t == 0) break;
            rnnlab::multiply<S, false>({a, H, 1}, B, H, w.data(), H, delta.data(), H);
            if (py != nullptr) {
              const S* y = py + (k * T + t - 1) * B * H;
              for (int64_t e = 0; e < B * H; ++e) delta[e] += y[e];
            }
          }
          // Σ_{t0 <= t < t1} ā_tᵀ [x̃_t | h_{t-1}]: (H × mB) · (mB × I+1), (H × mB) · (mB × H)
          const int64_t mB = (t1 - t0) * B;
          const rnnlab::Strided<S> grads{grad_a.data(), 1, H};  // āᵀ
          rnnlab::pack_panels<S>({px + (k * T + t0) * B * I1, I1, 1}, mB, I1, x_panels.data());
          rnnlab::multiply<S, true>(grads, H, mB, x_panels.data(), I1, gin + k * H * I1, I1);
          rnnlab::pack_panels<S>({ps + (k * (T + 1) + t0) * B * H, H, 1}, mB, H, h_panels.data());
          rnnlab::multiply<S, true>(grads, H, mB, h_panels.data(), H, ghh + k * H * H, H);
        }
      }
    });
  });
  return {grad_in, grad_hh};
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("lstm_forward_scan", &lstm_forward_scan, "the ensemble LSTM scan's forward");
  m.def("lstm_backward_scan", &lstm_backward_scan, "the ensemble LSTM scan's backward");
  m.def("gru_forward_scan", &gru_forward_scan, "the ensemble GRU scan's forward");
  m.def("gru_backward_scan", &gru_backward_scan, "the ensemble GRU scan's backward");
  m.def("elman_forward_scan", &elman_forward_scan, "the ensemble Elman scan's forward");
  m.def("elman_backward_scan", &elman_backward_scan, "the ensemble Elman scan's backward");
}
