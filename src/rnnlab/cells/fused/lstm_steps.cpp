// The time loops of rnnlab's fused LSTM (cells/fused/lstm.py, LSTMScan) in C++: the same
// tensor operations in the same order as the Python loops (_forward_steps and the inner loop of
// LSTMScan.backward), so the results are the same bit for bit, without Python's dispatch around
// each of them: a step of a small LSTM is a dozen operations of a few microseconds each, and
// that overhead is what separates it from torch's own fused LSTM. The equations, buffers and
// the inner gate order o, i, f, g are LSTMScan's; its docstring has them. Built on first use by
// rnnlab/compiled.py.

#include <torch/extension.h>

#include <cstdint>
#include <utility>
#include <vector>

using torch::Tensor;

// The forward loop. In: gates (T, B, 4H) holding x W_ih^T + b (inner order), whh_t (H, 4H),
// h0 (B, H), peepholes (3H: p_i, p_f, p_o) or empty, mask (T, B) bool or empty. Out: gates hold
// the activations o, i, f, g; c_states (T+1, B, H), whose row 0 holds c_0, the state before each
// step and the last; c_new (T, B, H) c'_t; h_new (T, B, H) h'_t; h_states (T, B, H) the state
// after each step. Without a mask c_new is c_states[1:] and h_states is h_new (the same memory).
void lstm_forward(Tensor gates, Tensor whh_t, Tensor h0, Tensor peepholes, Tensor mask,
                  Tensor c_states, Tensor c_new, Tensor h_new, Tensor h_states) {
  const int64_t T = gates.size(0), B = gates.size(1), H = gates.size(2) / 4;
  const bool peephole = peepholes.numel() > 0, masked = mask.numel() > 0;
  Tensor gates4 = gates.view({T, B, 4, H});
  Tensor p_if, p_o;
  if (peephole) {
    p_if = peepholes.slice(0, 0, 2 * H).view({2, H});
    p_o = peepholes.slice(0, 2 * H, 3 * H);
  }
  Tensor steps = masked ? mask.unsqueeze(-1) : Tensor();  // (T, B, 1)
  Tensor tanh_c = torch::empty({B, H}, gates.options());
  Tensor h = h0;
  for (int64_t t = 0; t < T; ++t) {
    Tensor z = gates[t];
    Tensor g4 = gates4[t];  // (B, 4, H): o, i, f, g
    Tensor o = g4.select(1, 0), i = g4.select(1, 1), f = g4.select(1, 2), g = g4.select(1, 3);
    Tensor c = c_states[t], c_next = c_new[t], h_next = h_new[t];
    z.addmm_(h, whh_t);
    if (peephole) {
      Tensor s = g4.slice(1, 1, 3);  // i, f
      s.addcmul_(p_if, c.unsqueeze(1));
      s.sigmoid_();
    } else {
      z.slice(1, 0, 3 * H).sigmoid_();  // o, i, f
    }
    g.tanh_();
    at::mul_out(c_next, f, c);
    c_next.addcmul_(i, g);
    if (peephole) {
      o.addcmul_(p_o, c_next);
      o.sigmoid_();
    }
    at::tanh_out(tanh_c, c_next);
    at::mul_out(h_next, o, tanh_c);
    if (!masked) {
      h = h_next;
    } else {
      Tensor step = steps[t], c_state = c_states[t + 1], h_out = h_states[t];
      at::where_out(c_state, step, c_next, c);
      h = at::where_out(h_out, step, h_next, h);
    }
  }
}

// LSTMScan.backward's loop over the steps stop-1 .. start of one inner block. In: a (n, B, 4, H)
// the factors A_o, A_i, A_f, A_g of steps start .. start+n-1; k, f (n, B, H) the factors K and
// F (f may be a view of the forget gates); gy (T, B, H) the output gradients (masked), pad
// (T, B, 1) 1 - m or empty, w_hh (4H, H). In/out: gh (B, H), the gradient at h_t; dc (B, H),
// at c_t; spare (B, H), scratch; d (n_outer, B, 4H) receives z̄_t at row t - d_offset. Returns
// (gh, spare) after the block: gh the gradient at h_{start-1}, the two buffers swapped as the
// loop swaps them.
std::vector<Tensor> lstm_backward_block(Tensor a, Tensor k, Tensor f, Tensor gy, Tensor pad,
                                        Tensor w_hh, Tensor gh, Tensor dc, Tensor spare, Tensor d,
                                        int64_t d_offset, int64_t start, int64_t stop) {
  const int64_t B = gh.size(0), H = gh.size(1);
  const bool masked = pad.numel() > 0;
  Tensor dc1 = dc.unsqueeze(1);  // (B, 1, H)
  for (int64_t t = stop - 1; t >= start; --t) {
    const int64_t j = t - start;
    Tensor d_t = d[t - d_offset];
    Tensor d4 = d_t.view({B, 4, H});
    Tensor a_j = a[j];
    dc.addcmul_(gh, k[j]);  // D_t
    Tensor d_o = d4.select(1, 0), d_ifg = d4.slice(1, 1, 4);
    at::mul_out(d_o, gh, a_j.select(1, 0));
    at::mul_out(d_ifg, dc1, a_j.slice(1, 1, 4));
    dc.mul_(f[j]);
    if (t == 0) {
      at::mm_out(spare, d_t, w_hh);
    } else {
      at::addmm_out(spare, gy[t - 1], d_t, w_hh);
    }
    if (masked) spare.addcmul_(gh, pad[t]);
    std::swap(gh, spare);
  }
  return {gh, spare};
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("lstm_forward", &lstm_forward);
  m.def("lstm_backward_block", &lstm_backward_block);
}
