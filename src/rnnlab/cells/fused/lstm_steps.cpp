// The time loops of the fused single-model LSTM (cells/fused/lstm.py, LSTMScan) with each step's
// elementwise work in one pass (built on first use by rnnlab/compiled.py, taken by LSTMScan where
// it is built).
//
// LSTMScan's Python loops spend a step on about ten elementwise tensor operations forward and
// four backward besides the matrix product; at the sizes people train (B·H of a few thousand)
// each costs a few microseconds, more than its arithmetic. Here a step is the same matrix product
// (ATen's addmm_/mm) and one loop over the step's numbers. The equations, gate order (o, i, f, g),
// buffers and mask rule are LSTMScan's; its docstring has them, and its Python loops stay the
// reference the tests compare with.
//
// σ and tanh come from fast_math.h: vectorisable in float32, libm in float64.

#include <torch/extension.h>

#include <ATen/Parallel.h>

#include "fast_math.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <optional>
#include <utility>
#include <vector>

namespace {

using rnnlab::sigmoid;
using rnnlab::tanh_;

// Rows of at least this many gate numbers (B·4H in all) are split between threads.
constexpr int64_t kParallelGrain = 32768;

int64_t grain_rows(int64_t H) {
  return std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(1, 4 * H));
}

// One row of a forward step: o, i, f, g hold the row's pre-activations and receive the
// activations; cn and hn receive c'_t and h'_t; p_* are the peephole weights (read only with
// kPeephole). Each row is a function of its own with restrict pointers and no branch in its
// loops (kPeephole is a compile-time choice), the form in which the compiler vectorises them.
template <typename S, bool kPeephole>
__attribute__((noinline)) void forward_row(
    S* __restrict o, S* __restrict i, S* __restrict f, S* __restrict g, const S* __restrict c,
    const S* __restrict p_i, const S* __restrict p_f, const S* __restrict p_o,
    S* __restrict cn, S* __restrict hn, int64_t H) {
  if constexpr (kPeephole) {
    for (int64_t j = 0; j < H; ++j) {  // apart: inside the next loop it ran 2.4 times slower
      i[j] += p_i[j] * c[j];
      f[j] += p_f[j] * c[j];
    }
  }
  for (int64_t j = 0; j < H; ++j) {
    const S ij = sigmoid(i[j]);
    const S fj = sigmoid(f[j]);
    const S gj = tanh_(g[j]);
    i[j] = ij;
    f[j] = fj;
    g[j] = gj;
    if constexpr (!kPeephole) o[j] = sigmoid(o[j]);
    cn[j] = fj * c[j] + ij * gj;
  }
  for (int64_t j = 0; j < H; ++j) {
    if constexpr (kPeephole) o[j] = sigmoid(o[j] + p_o[j] * cn[j]);  // o sees c'_t
    hn[j] = o[j] * tanh_(cn[j]);
  }
}

// The peephole weights' rows p_i, p_f, p_o of p (3, H), or nulls without peepholes.
template <typename S>
std::array<const S*, 3> peephole_rows(const S* p, int64_t H) {
  if (p == nullptr) return {nullptr, nullptr, nullptr};
  return {p, p + H, p + 2 * H};
}

// One forward step for rows [b0, b1): z (rows, 4H) in the gate order o, i, f, g; p (3, H) or
// null.
template <typename S>
void forward_rows(S* z, const S* c_prev, const S* p, S* c_next, S* h_next, int64_t b0,
                  int64_t b1, int64_t H) {
  const auto [p_i, p_f, p_o] = peephole_rows(p, H);
  for (int64_t b = b0; b < b1; ++b) {
    S* o = z + b * 4 * H;
    const auto row = p != nullptr ? forward_row<S, true> : forward_row<S, false>;
    row(o, o + H, o + 2 * H, o + 3 * H, c_prev + b * H, p_i, p_f, p_o, c_next + b * H,
        h_next + b * H, H);
  }
}

// Padding: where step[b] is false the state is kept: (c, h)_t = (c, h)_{t-1}.
template <typename S>
void keep_rows(const bool* step, const S* c_next, const S* c_prev, S* c_state, const S* h_next,
               const S* h_prev, S* h_state, int64_t b0, int64_t b1, int64_t H) {
  for (int64_t b = b0; b < b1; ++b) {
    const bool real = step[b];
    std::memcpy(c_state + b * H, (real ? c_next : c_prev) + b * H, H * sizeof(S));
    std::memcpy(h_state + b * H, (real ? h_next : h_prev) + b * H, H * sizeof(S));
  }
}

template <typename S>
void forward_loop(at::Tensor& gates, at::Tensor& c_states, at::Tensor& c_new, at::Tensor& h_new,
                  at::Tensor& h_states, const at::Tensor& h0, const at::Tensor& whh_t,
                  const std::optional<at::Tensor>& peephole,
                  const std::optional<at::Tensor>& mask) {
  const int64_t T = gates.size(0), B = gates.size(1), H = gates.size(2) / 4;
  const S* p = peephole ? peephole->data_ptr<S>() : nullptr;
  const bool* steps = mask ? mask->data_ptr<bool>() : nullptr;
  S* cs = c_states.data_ptr<S>();
  S* cn = c_new.data_ptr<S>();
  S* hn = h_new.data_ptr<S>();
  S* hs = h_states.data_ptr<S>();
  for (int64_t t = 0; t < T; ++t) {
    at::Tensor z = gates.select(0, t);
    z.addmm_(t == 0 ? h0 : h_states.select(0, t - 1), whh_t);
    S* zt = z.data_ptr<S>();
    const S* c_prev = cs + t * B * H;
    const S* h_prev = t == 0 ? h0.data_ptr<S>() : hs + (t - 1) * B * H;
    S* c_next = cn + t * B * H;
    S* h_next = hn + t * B * H;
    at::parallel_for(0, B, grain_rows(H), [&](int64_t b0, int64_t b1) {
      forward_rows<S>(zt, c_prev, p, c_next, h_next, b0, b1, H);
      if (steps != nullptr) {
        keep_rows<S>(steps + t * B, c_next, c_prev, cs + (t + 1) * B * H, h_next, h_prev,
                     hs + t * B * H, b0, b1, H);
      }
    });
  }
}

// One row of a backward step. LSTMScan's backward computes the step's factors (A, K, F, its
// docstring) for blocks of steps with tensor operations, then five operations per step; here
// both are one pass over the row, after tanh c'_t into the scratch tc:
//   A_o = σ'(o) tanh c'   A_i = σ'(i) g   A_f = σ'(f) c_{t-1}   A_g = i (1 - g²)
//   K = o (1 - tanh² c') [+ p_o A_o]      F = f [+ p_i A_i + p_f A_f]
//   then with the step mask r (1 real, 0 padding): A ← r A, K ← r K, F ← (1 - r) + r F
//   D = c̄ + ḡ K;  z̄_o = ḡ A_o;  z̄_{i,f,g} = D A_{i,f,g};  c̄ ← D F
// (σ' = s - s² from the activation s). The mask multiplies, as in the Python factors, so a
// non-finite number on a padded step reaches the gradients as it does there. The bracketed
// peephole terms (p_* read) only with kPeephole.
template <typename S, bool kPeephole>
__attribute__((noinline)) void backward_row(
    const S* __restrict o, const S* __restrict i, const S* __restrict f, const S* __restrict g,
    const S* __restrict cn, const S* __restrict cp, const S* __restrict p_i,
    const S* __restrict p_f, const S* __restrict p_o, const S* __restrict gh, S* __restrict dc,
    S* __restrict d_o, S* __restrict d_i, S* __restrict d_f, S* __restrict d_g,
    S* __restrict tc, S r, int64_t H) {
  for (int64_t j = 0; j < H; ++j) tc[j] = tanh_(cn[j]);
  for (int64_t j = 0; j < H; ++j) {
    const S t = tc[j];
    const S a_o = (o[j] - o[j] * o[j]) * t;
    const S a_i = (i[j] - i[j] * i[j]) * g[j];
    const S a_f = (f[j] - f[j] * f[j]) * cp[j];
    S k = o[j] - o[j] * t * t;
    S F = f[j];
    if constexpr (kPeephole) {
      k = k + p_o[j] * a_o;
      F = F + p_i[j] * a_i + p_f[j] * a_f;
    }
    const S D = dc[j] + gh[j] * (k * r);
    d_o[j] = gh[j] * (a_o * r);
    d_i[j] = D * (a_i * r);
    d_f[j] = D * (a_f * r);
    d_g[j] = D * ((i[j] - i[j] * g[j] * g[j]) * r);
    dc[j] = D * ((S(1) - r) + F * r);
  }
}

// One backward step for rows [b0, b1). z (rows, 4H): the activations o, i, f, g; d (rows, 4H)
// receives z̄; p (3, H) or null; step (rows) the mask or null.
template <typename S>
void backward_rows(const S* z, const S* c_new, const S* c_prev, const S* p, const bool* step,
                   const S* gh, S* dc, S* d, int64_t b0, int64_t b1, int64_t H) {
  const auto [p_i, p_f, p_o] = peephole_rows(p, H);
  std::vector<S> tc(H);
  for (int64_t b = b0; b < b1; ++b) {
    const S* o = z + b * 4 * H;
    S* d_b = d + b * 4 * H;
    const S r = step == nullptr || step[b] ? S(1) : S(0);
    const auto row = p != nullptr ? backward_row<S, true> : backward_row<S, false>;
    row(o, o + H, o + 2 * H, o + 3 * H, c_new + b * H, c_prev + b * H, p_i, p_f, p_o,
        gh + b * H, dc + b * H, d_b, d_b + H, d_b + 2 * H, d_b + 3 * H, tc.data(), r, H);
  }
}

// out += gy (the output gradient of the step before) + gh where the row is padding (the state
// gradient passes a padded step), for rows [b0, b1); gy or step (the mask) may be null.
template <typename S>
__attribute__((noinline)) void add_row(S* __restrict out, const S* __restrict gy,
                                       const S* __restrict gh, S pad, int64_t H) {
  if (gy != nullptr) {
    for (int64_t j = 0; j < H; ++j) out[j] += gy[j] + gh[j] * pad;
  } else {
    for (int64_t j = 0; j < H; ++j) out[j] += gh[j] * pad;
  }
}

template <typename S>
void add_rows(S* out, const S* gy, const S* gh, const bool* step, int64_t b0, int64_t b1,
              int64_t H) {
  for (int64_t b = b0; b < b1; ++b) {
    add_row<S>(out + b * H, gy == nullptr ? nullptr : gy + b * H, gh + b * H,
               step != nullptr && !step[b] ? S(1) : S(0), H);
  }
}

// Each named buffer contiguous and of dtype S.
template <typename S>
void check_kinds(std::initializer_list<std::pair<const at::Tensor*, const char*>> buffers) {
  for (const auto& [t, name] : buffers) {
    TORCH_CHECK(t->is_contiguous(), name, " must be contiguous");
    TORCH_CHECK(t->scalar_type() == c10::CppTypeToScalarType<S>::value, name,
                " must have the gates' dtype");
  }
}

// The optional peephole weights (3H) and step mask (contiguous bool (T, B)).
void check_peephole_and_mask(const std::optional<at::Tensor>& peephole,
                             const std::optional<at::Tensor>& mask, int64_t T, int64_t B,
                             int64_t H) {
  TORCH_CHECK(!peephole || peephole->numel() == 3 * H, "peephole must hold 3H weights");
  TORCH_CHECK(!mask || (mask->scalar_type() == at::kBool && mask->is_contiguous() &&
                        mask->sizes() == at::IntArrayRef({T, B})),
              "mask must be a contiguous bool (T, B)");
}

}  // namespace

// The forward time loop of LSTMScan. gates (T, B, 4H): the input projections on entry, the
// activations o, i, f, g on return. c_states (T+1, B, H) with c_states[0] = c0; c_new and h_new
// (T, B, H) receive c'_t and h'_t; h_states (T, B, H) the state h_t. Without a mask c_new is
// c_states[1:] and h_states is h_new (the same storage); with one (bool (T, B)) they are apart.
void lstm_forward(at::Tensor gates, at::Tensor c_states, at::Tensor c_new, at::Tensor h_new,
                  at::Tensor h_states, at::Tensor h0, at::Tensor whh_t,
                  std::optional<at::Tensor> peephole, std::optional<at::Tensor> mask) {
  TORCH_CHECK(gates.dim() == 3 && gates.size(2) % 4 == 0, "gates must be (T, B, 4H)");
  const int64_t T = gates.size(0), B = gates.size(1), H = gates.size(2) / 4;
  TORCH_CHECK(c_states.sizes() == at::IntArrayRef({T + 1, B, H}), "c_states must be (T+1, B, H)");
  for (const auto* t : {&c_new, &h_new, &h_states}) {
    TORCH_CHECK(t->sizes() == at::IntArrayRef({T, B, H}), "c_new, h_new, h_states must be (T, B, H)");
  }
  TORCH_CHECK(h0.sizes() == at::IntArrayRef({B, H}), "h0 must be (B, H)");
  TORCH_CHECK(whh_t.sizes() == at::IntArrayRef({H, 4 * H}), "whh_t must be (H, 4H)");
  check_peephole_and_mask(peephole, mask, T, B, H);
  // the loop writes c'_t and h'_t once; without a mask they are the states themselves
  const bool c_shared = c_new.data_ptr() == c_states.select(0, 1).data_ptr();
  const bool h_shared = h_new.data_ptr() == h_states.data_ptr();
  TORCH_CHECK(mask ? !c_shared && !h_shared : c_shared && h_shared,
              mask ? "with a mask, c_new and h_states must be buffers of their own"
                   : "without a mask, c_new must be c_states[1:] and h_states must be h_new");
  pybind11::gil_scoped_release no_gil;  // ATen only from here on
  AT_DISPATCH_FLOATING_TYPES(gates.scalar_type(), "lstm_forward", [&] {
    check_kinds<scalar_t>({{&gates, "gates"}, {&c_states, "c_states"}, {&c_new, "c_new"},
                           {&h_new, "h_new"}, {&h_states, "h_states"}, {&h0, "h0"}});
    if (peephole) check_kinds<scalar_t>({{&*peephole, "peephole"}});
    forward_loop<scalar_t>(gates, c_states, c_new, h_new, h_states, h0, whh_t, peephole, mask);
  });
}

// The steps stop-1 .. start of LSTMScan's backward. gates (T, B, 4H) hold the activations
// o, i, f, g; c_states (T+1, B, H) the states (c_states[t] = c_{t-1} of step t); c_new (T, B, H)
// c'_t; peephole (3H) and mask (bool (T, B)) as in lstm_forward. d (n, B, 4H) receives z̄_t at
// row t - d_offset. gy (T, B, H, contiguous) is the masked output gradient. gh and dc hold ḡ_t
// and c̄_t on entry and ḡ_{start-1}, c̄_{start-1} on return; spare is scratch of gh's shape.
// Returns (gh, spare) as the caller should name them afterwards.
std::vector<at::Tensor> lstm_backward_steps(at::Tensor gates, at::Tensor c_states,
                                            at::Tensor c_new, std::optional<at::Tensor> peephole,
                                            std::optional<at::Tensor> mask, at::Tensor d,
                                            int64_t d_offset, at::Tensor gy, at::Tensor w_hh,
                                            int64_t start, int64_t stop, at::Tensor gh,
                                            at::Tensor spare, at::Tensor dc) {
  TORCH_CHECK(gates.dim() == 3 && gates.size(2) % 4 == 0, "gates must be (T, B, 4H)");
  const int64_t T = gates.size(0), B = gates.size(1), H = gates.size(2) / 4;
  TORCH_CHECK(0 <= start && start < stop && stop <= T, "need 0 <= start < stop <= T");
  TORCH_CHECK(c_states.sizes() == at::IntArrayRef({T + 1, B, H}), "c_states must be (T+1, B, H)");
  TORCH_CHECK(c_new.sizes() == at::IntArrayRef({T, B, H}), "c_new must be (T, B, H)");
  check_peephole_and_mask(peephole, mask, T, B, H);
  TORCH_CHECK(d.dim() == 3 && d.size(1) == B && d.size(2) == 4 * H && d_offset <= start &&
                  stop - d_offset <= d.size(0),
              "d must be (n, B, 4H) and hold steps start .. stop-1 from d_offset");
  TORCH_CHECK(gy.sizes() == at::IntArrayRef({T, B, H}), "gy must be (T, B, H)");
  TORCH_CHECK(w_hh.sizes() == at::IntArrayRef({4 * H, H}), "w_hh must be (4H, H)");
  for (const auto* t : {&gh, &spare, &dc}) {
    TORCH_CHECK(t->sizes() == at::IntArrayRef({B, H}), "gh, spare and dc must be (B, H)");
  }
  pybind11::gil_scoped_release no_gil;  // ATen only from here on
  AT_DISPATCH_FLOATING_TYPES(gates.scalar_type(), "lstm_backward_steps", [&] {
    check_kinds<scalar_t>({{&gates, "gates"}, {&c_states, "c_states"}, {&c_new, "c_new"},
                           {&d, "d"}, {&gy, "gy"}, {&gh, "gh"}, {&spare, "spare"}, {&dc, "dc"}});
    if (peephole) check_kinds<scalar_t>({{&*peephole, "peephole"}});
    const scalar_t* pz = gates.data_ptr<scalar_t>();
    const scalar_t* pcs = c_states.data_ptr<scalar_t>();
    const scalar_t* pcn = c_new.data_ptr<scalar_t>();
    const scalar_t* pp = peephole ? peephole->data_ptr<scalar_t>() : nullptr;
    const bool* steps = mask ? mask->data_ptr<bool>() : nullptr;
    const scalar_t* pgy = gy.data_ptr<scalar_t>();
    scalar_t* pd = d.data_ptr<scalar_t>();
    for (int64_t t = stop - 1; t >= start; --t) {
      at::Tensor d_t = d.select(0, t - d_offset);
      scalar_t* dt = pd + (t - d_offset) * B * 4 * H;
      const scalar_t* g = gh.data_ptr<scalar_t>();
      scalar_t* c = dc.data_ptr<scalar_t>();
      const bool* step = steps == nullptr ? nullptr : steps + t * B;
      at::parallel_for(0, B, grain_rows(H), [&](int64_t b0, int64_t b1) {
        backward_rows<scalar_t>(pz + t * B * 4 * H, pcn + t * B * H, pcs + t * B * H, pp, step,
                                g, c, dt, b0, b1, H);
      });
      at::mm_out(spare, d_t, w_hh);
      const scalar_t* gy_before = t == 0 ? nullptr : pgy + (t - 1) * B * H;
      if (gy_before != nullptr || step != nullptr) {
        scalar_t* out = spare.data_ptr<scalar_t>();
        at::parallel_for(0, B, grain_rows(H), [&](int64_t b0, int64_t b1) {
          add_rows<scalar_t>(out, gy_before, g, step, b0, b1, H);
        });
      }
      std::swap(gh, spare);
    }
  });
  return {gh, spare};
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("lstm_forward", &lstm_forward, "LSTMScan's forward time loop");
  m.def("lstm_backward_steps", &lstm_backward_steps, "steps of LSTMScan's backward loop");
}
