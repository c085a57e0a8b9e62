r"""K Elman networks at once: stacked weights, batched matrix products, a hand-written BPTT.

The batched counterpart of :mod:`rnnlab.cells.fused.elman` for seed ensembles
(:mod:`rnnlab.training.ensemble`): member k has its own weights ``W_in[k] = [W_ih | b]``
(H, I+1) and ``W_hh[k]`` (H, H), its own minibatch, and shares only the shapes. Every step is
one batched product over the K members; no autograd graph is built.

Padding. Members' minibatches may differ in length (Pascanu's tasks draw the length once per
minibatch). They are padded to the longest, ``T``, *at the front*: member k's ``L_k`` real
steps are the last ones, ``start_k = T - L_k``. The padded steps keep the state at ``h_0 = 0``
exactly: their input row is all zero, the bias included (the bias is the weight of a constant
input channel that is 1 on real steps and 0 on padding), so ``a_t = 0 + 0 · W_hh = 0`` and
``φ(0) = 0`` for tanh, ReLU and identity; sigmoid's padded pre-activations are set to
``-inf``. The final state is then every member's own last state, and its first real step starts
from ``h_0 = 0`` as when it is trained alone.

Forward, for t = 0..T-1 (``x̃_t = [x_t, m_t]``, ``m_t = 1`` on real steps)::

    a_t = x̃_t W_inᵀ + h_{t-1} W_hhᵀ        (K, B, H); x̃ W_inᵀ one bmm per block of steps
    h_t = φ(a_t)

Where it is built, the whole scan, forward and backward (without Ω), runs compiled, member by
member (``ensemble_tiled_scans.cpp``, :func:`tiled_scans`); the tensor operations here are its
reference (``tests/training/test_ensemble_tiled_scans.py``).

Backward, with ``δ_t = ∂E/∂h_t`` (``δ_{T-1}`` = the readout's gradient ``top``, plus ``ȳ_{T-1}``
when every step is read out, ``ȳ_t = ∂E/∂h_t`` directly) and ``ā_t = ∂E/∂a_t``::

    ā_t     = δ_t ⊙ φ'_t                   φ' from h_t: 1 - h², h - h², sign h, 1
    v_t     = ā_t W_hh                     bmm
    δ_{t-1} = v_t + ȳ_{t-1}
    ∂E/∂W_in = Σ_t ā_tᵀ x̃_t,    ∂E/∂W_hh = Σ_t ā_tᵀ h_{t-1}

On padded steps ``ā_t`` need not be zero: it meets ``x̃_t = 0`` and ``h_{t-1} = 0`` and adds
nothing.

Blocks. The backward walks the steps in blocks of ``n`` (about :data:`BLOCK_ELEMENTS` numbers
per (K, n, B, H) buffer): the block's slopes come from its states in one op, its ``ā`` stay in a
block buffer, and when the block is done its share of the weight gradients is added by one
``baddbmm`` while those buffers are still in cache. Nothing of size (T, K, B, H) is written in
the backward; the forward writes only the states.

Ω (:mod:`rnnlab.training.omega`, the paper code's conventions) comes almost free: its ``u_t``
is ``ā_t`` and its ``v_t = u_t W_hh`` is the backward's own product. Each step stores the squared
norms ``n_t = ‖v_t‖²`` and ``d_t = ‖δ_t‖²`` in a small (T, K, B) buffer (without step gradients
``d_{t-1} = n_t``: one buffer serves both). Per block, on kept terms (real steps with
``d_t >= bound``), ``r_t = n_t / d_t`` and::

    c'_t = 4 (r_t - 1) / d_t        M += Σ c'_t ā_tᵀ ā_t      (one product, like the loss's)

and at the end, from all the norms at once, ``Ω = Σ (r_t - 1)² / N`` with N the number of kept
terms (:func:`rnnlab.training.omega.omega_from_norms`), and ``∂⁺Ω/∂W_hh = Σ c'_t ā_tᵀ v_t / N =
M W_hh / N`` per member (``v_t = ā_t W_hh``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType

import torch
from torch import Tensor
from torch.nn.utils.rnn import pad_sequence

from rnnlab import compiled
from rnnlab.training.omega import omega_from_norms

#: Elements per (K, n, B, H) block buffer of the backward (float32: 1 MiB).
BLOCK_ELEMENTS = 1 << 18

#: Whether the scans (here and in the LSTM and GRU scans) may run compiled (tests set it False
#: for the reference).
USE_COMPILED = True


def tiled_scans(like: Tensor) -> ModuleType | None:
    """The compiled scans (``ensemble_tiled_scans.cpp``) for tensors like ``like``, or None
    where the scans' tensor operations run: not on CPU, not float32/float64,
    :data:`USE_COMPILED` false, or not built."""
    return compiled.load_for("ensemble_tiled_scans", like) if USE_COMPILED else None


def step_mask(real: Tensor | None, dtype: torch.dtype) -> Tensor | None:
    """The (T, K) real-step flags as the compiled scans read them: 0/1 of ``dtype``, contiguous
    (None stays None: every step real)."""
    return None if real is None else real.to(dtype).contiguous()


@dataclass(frozen=True)
class PackedInputs:
    """The members' minibatches in one tensor, padded at the front.

    Attributes:
        inputs: (K, T, B, I+1): member k's inputs in ``[k, start_k:, :, :I]``; channel ``I``
            is 1 on real steps (the bias input); everything else is 0.
        start: (K,) int64, each member's first real step ``T - L_k``.
        real: (T, K) bool, true on real steps.
    """

    inputs: Tensor
    start: Tensor
    real: Tensor

    @property
    def steps(self) -> int:
        """T, the padded length."""
        return self.inputs.shape[1]


def pack_inputs(
    inputs: Sequence[Tensor], *, dtype: torch.dtype, device: torch.device | None = None
) -> PackedInputs:
    """Pad each member's inputs (L_k, B, I) at the front to ``T = max L_k``; add the bias
    channel. The result is of ``dtype`` on ``device`` (default: torch's default device)."""
    device = torch.get_default_device() if device is None else torch.device(device)
    lengths = [x.shape[0] for x in inputs]
    T = max(lengths)
    padded = pad_sequence(  # (K, T, B, I)
        [x.to(device, dtype) for x in inputs], batch_first=True, padding_side="left"
    )
    K, _, B, _ = padded.shape
    start = torch.tensor([T - L for L in lengths], dtype=torch.long)
    real = (torch.arange(T).unsqueeze(1) >= start.unsqueeze(0)).to(device)  # (T, K)
    bias = real.t()[:, :, None, None].expand(K, T, B, 1)  # the bias channel: 1 on real steps
    return PackedInputs(torch.cat([padded, bias.to(dtype)], dim=-1), start, real)


class Workspace:
    """Reusable scratch tensors, so that an update allocates (and page-faults) nothing big.

    ``get(name, shape, like)`` returns a contiguous tensor of ``shape`` backed by a cached flat
    buffer that only grows. Its content is whatever the last user left: callers overwrite it.
    A tensor from ``get`` is valid until the next ``get`` of the same name.
    """

    def __init__(self) -> None:
        self._flat: dict[str, Tensor] = {}

    def get(self, name: str, shape: tuple[int, ...], like: Tensor) -> Tensor:
        numel = math.prod(shape)
        flat = self._flat.get(name)
        if (
            flat is None
            or flat.numel() < numel
            or flat.dtype != like.dtype
            or flat.device != like.device
        ):
            flat = like.new_empty(numel)
            self._flat[name] = flat
        return flat[:numel].view(shape)


def fresh(workspace: Workspace | None, name: str, shape: tuple[int, ...], like: Tensor) -> Tensor:
    """A tensor of ``shape`` like ``like``: from ``workspace`` when given, else new."""
    return like.new_empty(shape) if workspace is None else workspace.get(name, shape, like)


def block_length(T: int, step_elements: int) -> int:
    """Steps per block: about :data:`BLOCK_ELEMENTS` numbers per block buffer, at least 1."""
    return max(1, min(T, BLOCK_ELEMENTS // max(1, step_elements)))


#: The nonlinearities' numbers in the compiled scans (``ensemble_tiled_scans.cpp``)
ACTIVATION_CODES = {"tanh": 0, "sigmoid": 1, "relu": 2, "identity": 3}

_ACTIVATE = {
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "relu": lambda a, out: torch.clamp(a, min=0, out=out),
    "identity": lambda a, out: out.copy_(a),
}


def _slope(nonlinearity: str, h: Tensor, out: Tensor) -> Tensor:
    """``out = φ'(a)`` from ``h = φ(a)``, in one op."""
    if nonlinearity == "tanh":
        return torch.addcmul(torch.ones((), dtype=h.dtype), h, h, value=-1, out=out)
    if nonlinearity == "sigmoid":
        return torch.addcmul(h, h, h, value=-1, out=out)
    if nonlinearity == "relu":
        return torch.sign(h, out=out)
    return out.fill_(1.0)


def forward(
    weight_in: Tensor,
    weight_hh: Tensor,
    packed: PackedInputs,
    nonlinearity: str,
    *,
    keep: bool = True,
    workspace: Workspace | None = None,
) -> Tensor:
    """Run the K recurrences (see the module docstring).

    Args:
        weight_in: (K, H, I+1), ``[W_ih | b]``.
        weight_hh: (K, H, H), torch's layout.
        packed: the inputs (:func:`pack_inputs`).
        nonlinearity: ``"tanh"``, ``"sigmoid"``, ``"relu"`` or ``"identity"``.
        keep: keep every state (default True, as the backward needs); False keeps the last
            only, in memory of two states (for predictions read from the last step).
        workspace: where to put the big buffers (default None: fresh tensors).

    Returns:
        states (K, T+1, B, H): ``states[:, 0] = h_0 = 0`` and ``states[:, t+1] = h_t``; with
        ``keep=False``, (K, 1, B, H): the last state only.
    """
    X = packed.inputs
    K, T, B, I1 = X.shape
    H = weight_hh.shape[1]
    states = fresh(workspace, "states", (K, T + 1 if keep else 2, B, H), X)
    states[:, 0].zero_()
    steps = tiled_scans(X)
    if steps is not None:  # the whole scan compiled, member by member
        real = step_mask(packed.real, X.dtype)
        w_in, w_hh = weight_in.contiguous(), weight_hh.contiguous()
        x, code = X.contiguous(), ACTIVATION_CODES[nonlinearity]
        steps.elman_forward_scan(x, w_in, w_hh, real, code, states)
        return states if keep else states[:, T % 2 : T % 2 + 1]
    whh_t = weight_hh.transpose(1, 2).contiguous()  # (K, H, H): h @ W_hhᵀ
    win_t = weight_in.transpose(1, 2).contiguous()  # (K, I+1, H)
    hs = states.unbind(1) if keep else states.unbind(1) * ((T + 2) // 2)  # two slots, in turn
    scratch = X.new_empty(K, B, H)
    activate = _ACTIVATE[nonlinearity]
    mask_padding = nonlinearity == "sigmoid" and not bool(packed.real.all())
    n = block_length(T, K * B * H)
    for t0 in range(0, T, n):
        t1 = min(t0 + n, T)
        m = t1 - t0
        proj = fresh(workspace, "projection", (K, m, B, H), X)
        torch.bmm(X[:, t0:t1].reshape(K, m * B, I1), win_t, out=proj.view(K, m * B, H))
        if mask_padding:
            proj.masked_fill_(~packed.real[t0:t1].t()[:, :, None, None], -torch.inf)  # σ → 0
        for j, p in enumerate(proj.unbind(1)):
            t = t0 + j
            # bmm then add, not baddbmm: baddbmm copies p into its output before the product
            torch.bmm(hs[t], whh_t, out=scratch)
            activate(scratch.add_(p), out=hs[t + 1])
    return states if keep else states[:, T % 2 : T % 2 + 1]


@dataclass(frozen=True)
class Gradients:
    """What :func:`backward` returns.

    Attributes:
        weight_in: ``∂E/∂W_in`` (K, H, I+1).
        weight_hh: ``∂E/∂W_hh`` (K, H, H).
        omega: Ω (K,), or None when not asked for.
        omega_grad: ``∂⁺Ω/∂W_hh`` (K, H, H), or None.
        omega_terms: N (K,) int64, or None.
    """

    weight_in: Tensor
    weight_hh: Tensor
    omega: Tensor | None = None
    omega_grad: Tensor | None = None
    omega_terms: Tensor | None = None


def backward(
    weight_hh: Tensor,
    states: Tensor,
    packed: PackedInputs,
    nonlinearity: str,
    top: Tensor,
    step_grads: Tensor | None = None,
    *,
    omega_bound: float | None = None,
    workspace: Workspace | None = None,
) -> Gradients:
    """Backpropagation through time for the K recurrences, with the weight gradients and Ω.

    Args:
        weight_hh: (K, H, H).
        states: (K, T+1, B, H) from :func:`forward`.
        packed: the inputs given to :func:`forward`.
        nonlinearity: as given to :func:`forward`.
        top: ``∂E/∂h_{T-1}`` from a readout of the last state (K, B, H).
        step_grads: ``ȳ_t``, the direct gradients from a readout of every step (K, T, B, H),
            or None.
        omega_bound: compute Ω, skipping terms with ``‖δ_t‖²`` below this (default None: no
            Ω).
        workspace: where to put the block buffers (default None: fresh tensors).
    """
    K, T1, B, H = states.shape
    T = T1 - 1
    X = packed.inputs
    I1 = X.shape[-1]
    steps = tiled_scans(X)
    if steps is not None and omega_bound is None:  # the whole scan compiled, member by member
        ys = None if step_grads is None else step_grads.contiguous()
        code, w_hh = ACTIVATION_CODES[nonlinearity], weight_hh.contiguous()
        x, top = X.contiguous(), top.contiguous()
        return Gradients(*steps.elman_backward_scan(x, w_hh, states, code, top, ys))
    n = block_length(T, K * B * H)
    g_in_t = X.new_zeros(K, I1, H)  # Σ x̃ᵀ ā, transposed at the end
    g_hh = X.new_zeros(K, H, H)
    g = X.new_empty(K, B, H)  # δ_t
    spare = X.new_empty(K, B, H)
    if step_grads is None:
        g.copy_(top)
    else:
        torch.add(top, step_grads[:, T - 1], out=g)
    extra = None if step_grads is None else step_grads.unbind(1)
    omega = omega_bound is not None
    if omega:
        g_om = X.new_zeros(K, H, H)  # Σ c'_t ā_tᵀ ā_t
        real = packed.real.unsqueeze(-1)  # (T, K, 1)
        # step-major squared norms: n[t] = ‖v_t‖², d[t] = ‖δ_t‖²; without step gradients
        # δ_{t-1} = v_t, so both are views of one buffer (n[t] = d[t-1])
        if step_grads is None:
            norms = fresh(workspace, "norms", (T + 1, K, B), X)
            n_sq, d_sq = norms[:T], norms[1:]
            torch.linalg.vecdot(g, g, out=d_sq[T - 1])
        else:
            norms = fresh(workspace, "norms", (2, T, K, B), X)
            n_sq, d_sq = norms.unbind(0)
        n_steps, d_steps = n_sq.unbind(0), d_sq.unbind(0)
    for t1 in range(T, 0, -n):
        t0 = max(0, t1 - n)
        m = t1 - t0
        slope = _slope(
            nonlinearity, states[:, t0 + 1 : t1 + 1], fresh(workspace, "slope", (K, m, B, H), X)
        )
        grad_a = fresh(workspace, "grad_a", (K, m, B, H), X)
        a_steps, s_steps = grad_a.unbind(1), slope.unbind(1)
        for j in range(m - 1, -1, -1):
            t = t0 + j
            if omega and extra is not None:
                torch.linalg.vecdot(g, g, out=d_steps[t])
            a_t = a_steps[j]
            torch.mul(g, s_steps[j], out=a_t)
            if t == 0 and not omega:
                break
            torch.bmm(a_t, weight_hh, out=spare)  # v_t
            if omega:
                torch.linalg.vecdot(spare, spare, out=n_steps[t])
            if t == 0:
                break
            if extra is not None:
                spare.add_(extra[t - 1])
            g, spare = spare, g
        a2 = grad_a.view(K, m * B, H)
        g_in_t.baddbmm_(X[:, t0:t1].reshape(K, m * B, I1).transpose(1, 2), a2)
        g_hh.baddbmm_(a2.transpose(1, 2), states[:, t0:t1].reshape(K, m * B, H))
        if omega:  # c'_t = 4 (r_t - 1) / d_t on kept terms, r_t = n_t / d_t
            d = d_sq[t0:t1]
            kept = (d >= omega_bound).logical_and_(real[t0:t1])
            coef = torch.where(kept, (n_sq[t0:t1] / d).sub_(1).div_(d).mul_(4), 0.0)
            mixed = fresh(workspace, "mixed", (K, m, B, H), X)
            torch.mul(grad_a, coef.transpose(0, 1).unsqueeze(-1), out=mixed)  # c'_t ā_t
            g_om.baddbmm_(a2.transpose(1, 2), mixed.view(K, m * B, H))
    if not omega:
        return Gradients(g_in_t.transpose(1, 2), g_hh)
    kept = (d_sq >= omega_bound).logical_and_(real)
    value, _, count = omega_from_norms(n_sq, d_sq, kept, dims=(0, 2))
    N = count.clamp_min(1).to(X.dtype)
    return Gradients(
        g_in_t.transpose(1, 2),
        g_hh,
        omega=value,
        omega_grad=torch.bmm(g_om, weight_hh) / N.view(K, 1, 1),  # Σ c' āᵀ (ā W_hh) / N
        omega_terms=count,
    )
