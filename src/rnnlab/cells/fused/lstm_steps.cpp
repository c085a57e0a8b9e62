// The time loops of rnnlab's fused LSTM (cells/fused/lstm.py, LSTMScan) in C++: per step one
// BLAS product (at::addmm) and one pass over the gates that does all the elementwise work
// (peepholes and the step mask included), where the Python loop issues a dozen tensor
// operations. The equations, buffers and the inner gate order o, i, f, g are LSTMScan's; its
// docstring has them. Built on first use by rnnlab/compiled.py.

#include <torch/extension.h>

#include <cmath>
#include <cstdint>

namespace {

template <typename T>
inline T sigmoid(T x) {
  return T(1) / (T(1) + std::exp(-x));
}

void check(const torch::Tensor& t, const torch::Tensor& like, const char* name) {
  TORCH_CHECK(t.is_contiguous(), name, " must be contiguous");
  TORCH_CHECK(t.device().is_cpu(), name, " must be on the CPU");
  TORCH_CHECK(t.scalar_type() == like.scalar_type(), name, " must have the gates' dtype");
}

}  // namespace

// The forward loop. In: gates (T, B, 4H) holding x W_ih^T + b (inner order), whh_t (H, 4H),
// h0, c0 (B, H), peepholes (3H: p_i, p_f, p_o) or empty, mask (T, B) bool or empty. Out: gates
// hold the activations o, i, f, g; c_states (T+1, B, H) the state before each step and the last;
// c_new (T, B, H) c'_t; h_new (T, B, H) h'_t; h_states (T, B, H) the state after each step. Without
// a mask, c_new may be c_states[1:] and h_states h_new (the same memory).
void lstm_forward(torch::Tensor gates, torch::Tensor whh_t, torch::Tensor h0, torch::Tensor c0,
                  torch::Tensor peepholes, torch::Tensor mask, torch::Tensor c_states,
                  torch::Tensor c_new, torch::Tensor h_new, torch::Tensor h_states) {
  for (auto* t : {&whh_t, &h0, &c0, &c_states, &c_new, &h_new, &h_states}) check(*t, gates, "state");
  check(gates, gates, "gates");
  const bool peephole = peepholes.numel() > 0, masked = mask.numel() > 0;
  if (peephole) check(peepholes, gates, "peepholes");
  if (masked) {
    TORCH_CHECK(mask.scalar_type() == torch::kBool && mask.is_contiguous(), "mask must be bool");
  }
  const int64_t T = gates.size(0), B = gates.size(1), H = gates.size(2) / 4;
  c_states[0].copy_(c0);
  AT_DISPATCH_FLOATING_TYPES(gates.scalar_type(), "lstm_forward", [&] {
    const scalar_t* P = peephole ? peepholes.data_ptr<scalar_t>() : nullptr;
    const bool* M = masked ? mask.data_ptr<bool>() : nullptr;
    torch::Tensor h = h0;
    for (int64_t t = 0; t < T; ++t) {
      torch::Tensor z_t = gates[t];
      z_t.addmm_(h, whh_t);
      scalar_t* z = z_t.data_ptr<scalar_t>();
      const scalar_t* c = c_states[t].data_ptr<scalar_t>();
      const scalar_t* h_prev = h.data_ptr<scalar_t>();
      scalar_t* c_next = c_new[t].data_ptr<scalar_t>();
      scalar_t* c_state = c_states[t + 1].data_ptr<scalar_t>();
      scalar_t* h_next = h_new[t].data_ptr<scalar_t>();
      scalar_t* h_out = h_states[t].data_ptr<scalar_t>();
      for (int64_t b = 0; b < B; ++b) {
        scalar_t* zb = z + b * 4 * H;  // o, i, f, g
        const bool real = !masked || M[t * B + b];
        for (int64_t l = 0; l < H; ++l) {
          const int64_t e = b * H + l;
          const scalar_t cp = c[e];
          const scalar_t i = sigmoid(zb[H + l] + (peephole ? P[l] * cp : scalar_t(0)));
          const scalar_t f = sigmoid(zb[2 * H + l] + (peephole ? P[H + l] * cp : scalar_t(0)));
          const scalar_t g = std::tanh(zb[3 * H + l]);
          const scalar_t cn = f * cp + i * g;
          const scalar_t o = sigmoid(zb[l] + (peephole ? P[2 * H + l] * cn : scalar_t(0)));
          const scalar_t hn = o * std::tanh(cn);
          zb[l] = o;
          zb[H + l] = i;
          zb[2 * H + l] = f;
          zb[3 * H + l] = g;
          c_next[e] = cn;
          h_next[e] = hn;
          c_state[e] = real ? cn : cp;
          h_out[e] = real ? hn : h_prev[e];
        }
      }
      h = h_states[t];
    }
  });
}

// The backward loop over steps stop-1 .. start of one block (LSTMScan.backward's inner loop).
// In: a (n, B, 4, H) factors A_o, A_i, A_f, A_g of steps start .. start+n-1; k (n, B, H) and f
// (n, B, H) the factors K and F of those steps (f may be a strided view of the gates);
// gy (T, B, H) the output gradients (masked); pad (T, B, 1) 1 - m or empty; w_hh (4H, H).
// In/out: gh (B, H) the gradient at h_t, dc (B, H) at c_t; d (n_outer, B, 4H) receives z̄_t at
// row t - d_offset. Returns the gradient at h_{start-1} (a new tensor or gh's memory).
torch::Tensor lstm_backward_block(torch::Tensor a, torch::Tensor k, torch::Tensor f,
                                  torch::Tensor gy, torch::Tensor pad, torch::Tensor w_hh,
                                  torch::Tensor gh, torch::Tensor dc, torch::Tensor d,
                                  int64_t d_offset, int64_t start, int64_t stop) {
  for (auto* t : {&a, &gy, &w_hh, &gh, &dc, &d}) check(*t, a, "block");
  TORCH_CHECK(k.scalar_type() == a.scalar_type() && f.scalar_type() == a.scalar_type(),
              "k and f must have the factors' dtype");
  const bool masked = pad.numel() > 0;
  if (masked) check(pad, a, "pad");
  const int64_t B = gh.size(0), H = gh.size(1);
  torch::Tensor spare = torch::empty_like(gh);
  AT_DISPATCH_FLOATING_TYPES(a.scalar_type(), "lstm_backward_block", [&] {
    auto ks = k.accessor<scalar_t, 3>();
    auto fs = f.accessor<scalar_t, 3>();
    scalar_t* dcp = dc.data_ptr<scalar_t>();
    for (int64_t t = stop - 1; t >= start; --t) {
      const int64_t j = t - start;
      const scalar_t* A = a[j].data_ptr<scalar_t>();
      torch::Tensor d_t = d[t - d_offset];
      scalar_t* D = d_t.data_ptr<scalar_t>();
      const scalar_t* g = gh.data_ptr<scalar_t>();
      for (int64_t b = 0; b < B; ++b) {
        const scalar_t* Ab = A + b * 4 * H;
        scalar_t* Db = D + b * 4 * H;
        for (int64_t l = 0; l < H; ++l) {
          const int64_t e = b * H + l;
          const scalar_t grad_c = dcp[e] + g[e] * ks[j][b][l];  // D_t
          Db[l] = g[e] * Ab[l];
          Db[H + l] = grad_c * Ab[H + l];
          Db[2 * H + l] = grad_c * Ab[2 * H + l];
          Db[3 * H + l] = grad_c * Ab[3 * H + l];
          dcp[e] = grad_c * fs[j][b][l];
        }
      }
      if (t > 0) {
        at::addmm_out(spare, gy[t - 1], d_t, w_hh);
      } else {
        at::mm_out(spare, d_t, w_hh);
      }
      if (masked) spare.addcmul_(gh, pad[t]);
      std::swap(gh, spare);
    }
  });
  return gh;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("lstm_forward", &lstm_forward);
  m.def("lstm_backward_block", &lstm_backward_block);
}
