r"""Pascanu, Mikolov & Bengio 2013's Ω regularizer (§3.3, eq. 9–10), for Elman cells and any cell.

The regularizer asks each step's Jacobian to preserve the norm of the error signal that flows
back through it:

.. math::
    \Omega = \frac{1}{N} \sum_{(t, b)\ \text{kept}} \Big(
        \frac{\lVert \delta_t \, \partial h_t / \partial h_{t-1} \rVert^2}
             {\lVert \delta_t \rVert^2} - 1 \Big)^2,
    \qquad \delta_t = \frac{\partial E}{\partial h_t}

with ``δ_t`` the *total* derivative of the loss with respect to the state after step t (through
every later step), one term per real step t and sequence b, and N the number of terms kept. For
an Elman cell in torch's convention ``h_t = φ(a_t)``, ``a_t = W_ih x_t + b_ih + W_hh h_{t-1} +
b_hh``, the Jacobian is ``∂h_t/∂h_{t-1} = diag(φ'_t) W_hh``, so with row vectors

.. math::
    u_t = \delta_t \odot \varphi'_t, \qquad v_t = u_t W_{hh}, \qquad
    r_t = \lVert v_t \rVert^2 / \lVert \delta_t \rVert^2, \qquad
    \Omega = \tfrac{1}{N} \textstyle\sum (r_t - 1)^2, \qquad
    \frac{\partial^+ \Omega}{\partial W_{hh}} = \sum c_t\, u_t^\top v_t, \quad
    c_t = \frac{4 (r_t - 1)}{N \lVert \delta_t \rVert^2}.

Training adds ``α · ∂⁺Ω/∂W_hh`` to the loss gradient of ``W_hh`` before the gradient norm is
measured and clipped (the paper's "MSGD-CR").

Conventions, checked against the paper's code (``RNN.py`` of ``pascanur/trainingRNNs``):

1. **δ is the total state gradient, held constant.** The code takes ``gH``, the gradient of the
   cost with respect to the scan's whole state buffer (its comment: ``d_ht[i] = (d+ c/d h[i]) +
   Σ_k>0 (d c/d h[i+k]) (d h[i+k])/(d h[i])``), and substitutes it into Ω only *after*
   differentiating.
2. **φ' is held constant too, and only W_hh is differentiated.** The code writes Ω with symbolic
   placeholders ``d_ht`` (for δ) and ``ht`` (for the states, from which ``1 - ht**2`` or
   ``ht * (1 - ht)`` gives φ'), calls ``TT.grad(tmp_reg, W_hh)``, and only then replaces the
   placeholders by the real tensors (``theano.clone(..., replace=...)``). The gradient therefore
   flows only through the explicit ``W_hh`` of ``TT.dot(tmp_x, W_hh.T)``: this is the paper's
   "immediate" ``∂⁺``, with neither δ, nor φ', nor the states depending on W_hh, and the other
   parameters get nothing from Ω.
3. **One term per step and sequence, including the first step** (the transition h_0 → h_1):
   ``d_ht[1:]`` pairs with the scan's outputs h_1..h_L.
4. **Skipping**: a term with ``‖δ_t‖² < bound`` (``bound = 1e-20``) counts as ratio 1 — it adds
   0 — and is left out of N (``TT.switch(TT.ge(tmp_y, bound), tmp_x / tmp_y, 1)``).
5. **Averaging** over the kept (step, sequence) pairs: ``tmp_reg.mean(1).sum() /
   n_elems.sum()``, with ``n_elems`` the per-step fraction of kept sequences, is the sum of the
   terms over the number of kept terms.

Two additions the code does not need: with no term kept the code divides 0 by 0 (NaN); here
Ω = 0 with zero gradient. Padded steps (a mask; the code has none) keep the state, so they are
no transition of the network and contribute no term.

Convention 2 is the default of the Elman functions (``hold_slope=True``). It relies on knowing
which factor of the Jacobian is a nonlinearity's derivative, which autograd cannot tell for an
arbitrary cell, so the generic path differentiates the Jacobian fully: only δ and the states are
held constant, and φ'(a_t) (or any gate) varies with every parameter through ``a_t``. The Elman
functions offer that convention too (``hold_slope=False``), and the two paths agree on it. For
ReLU and identity units (φ'' = 0) the two conventions coincide.

Three functions, in three modules, all importable from here:

- :func:`omega_elman` (:mod:`rnnlab.training.omega_elman_layer`): the fast analytic path for
  Elman layers, from the layer's outputs and the direct gradients of the loss with respect to
  them: a backward recursion for δ, then Ω and its gradient in a few matrix products.
- :func:`omega_reference` (same module): its slow, obviously correct twin: δ by autograd through the
  tangent-linear network, Ω built step by step as a function of ``W_hh``, gradient by autograd.
- :func:`omega_generic` (:mod:`rnnlab.training.omega_any_cell`): any
  :class:`~rnnlab.cells.Cell`, by autograd: the states' total gradients, the vector-Jacobian
  products with ``create_graph=True``, and the gradient of Ω with respect to every parameter of
  the cell.

What they share (:mod:`rnnlab.training.omega_terms`): the result, :class:`OmegaResult`; Ω and its
coefficients from the squared norms of the terms, :func:`omega_from_norms` (also the seed
ensembles'); the skipping bound :data:`BOUND` and its check.
"""

from rnnlab.training.omega_any_cell import omega_generic
from rnnlab.training.omega_elman_layer import omega_elman, omega_reference
from rnnlab.training.omega_terms import BOUND, OmegaResult, check_bound, omega_from_norms

__all__ = [
    "BOUND",
    "OmegaResult",
    "check_bound",
    "omega_elman",
    "omega_from_norms",
    "omega_generic",
    "omega_reference",
]
