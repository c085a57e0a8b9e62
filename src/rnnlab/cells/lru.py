r"""The Linear Recurrent Unit (Orvieto, Smith, Gu, Fernando, Gulcehre, Pascanu, De; ICML 2023,
arXiv:2303.06349): a diagonal complex linear recurrence, stable by construction, with a
per-step readout; ``docs/architectures.md``, "Linear Recurrent Unit".
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from rnnlab._checks import (
    check_float_dtype,
    check_float_tensor,
    check_like_parameters,
    check_real,
    check_size,
    check_state_like,
)
from rnnlab.cells.base import Cell
from rnnlab.cells.fused.linear_scan import linear_scan_reference, linear_scan_tree

__all__ = ["LRU", "TREE_MAX_WIDTH"]

# Widest state per step and per intra-op thread, B·N complex numbers, for which LRU.scan uses the
# tree scan on CPU (the limit is TREE_MAX_WIDTH × torch.get_num_threads()). Measured with
# benchmarks/scan.py on a shared 2-core x86 machine, forward + backward, complex64: with one
# thread the tree took 0.18–0.65× the loop's time at B·N ≤ 512 (T = 256 … 16384), about 1× at
# 1024 and 1.6–2.6× at 2048–8192; with two threads 0.47–0.56× at 1024, 0.81–0.82× at 2048,
# 0.97–1.30× at 4096 and 1.9–2.4× at 8192 (T = 256, 1024) — the crossover moves with the threads,
# since each step of the loop works in cache while the tree streams (T, B, N) arrays.
TREE_MAX_WIDTH = 1024


class LRU(Cell):
    r"""Linear Recurrent Unit: ``N`` complex modes driven by ``H`` real inputs.

    .. math::
        x_k = \Lambda x_{k-1} + \exp(\gamma^{\log}) \odot (B u_k), \qquad
        y_k = \mathrm{Re}(C x_k) + D \odot u_k, \qquad x_{-1} = 0

    with ``Λ = diag(λ)``, ``λ_j = exp(−exp(ν^log_j) + i·exp(θ^log_j))`` (paper §3.3–3.4, the
    "stable exponential" parametrisation with log-phase). In code::

        lam = exp(complex(-exp(nu_log), exp(theta_log)))          # (N,)
        x = lam * x + exp(gamma_log) * (u @ (B_re + i B_im).T)   # (B, N) complex
        y = (x @ (C_re + i C_im).T).real + D * u                 # (B, O) real

    ``|λ_j| = exp(−exp(ν^log_j)) < 1`` for every finite ``nu_log`` (in floating point it rounds
    to 1, never above, once ``exp(nu_log)`` is below the dtype's ``eps / 2``, i.e.
    ``nu_log < −17`` in float32, ``< −37`` in float64).

    Args:
        input_size: features ``H`` of ``u_k``.
        hidden_size: complex modes ``N`` of the state ``x_k``.
        output_size: features of ``y_k`` (default ``input_size``, the paper's setting). The
            feed-through ``D ⊙ u_k`` is elementwise and exists only when ``output_size ==
            input_size``; any other ``output_size`` gives ``y_k = Re(C x_k)`` with no ``D``.
        r_min: smallest ``|λ|`` of the ring initialisation, in [0, 1) (default 0.0).
        r_max: largest ``|λ|`` of the ring initialisation, in [r_min, 1] (default 1.0; the
            paper's per-task values are e.g. [0.0, 0.99] for ListOps, [0.9, 0.999] for sCIFAR).
        max_phase: ``arg λ`` is drawn in [0, max_phase] (default 2π; π/10 for PathX).
        generator: a ``torch.Generator`` (CPU) for every draw; None uses torch's global one.
        device: device of the parameters.
        dtype: real floating dtype of the parameters (default ``torch.get_default_dtype()``);
            the state is the matching complex dtype (float32 → complex64, float64 →
            complex128). The draws are made in float64 and cast, so one seed gives the same
            parameters (up to rounding) in every dtype.

    Initialisation (all in the order below from ``generator``):

    - ring (Lemma 2): ``u1, u2 ~ U[0, 1)`` per mode, ``ν = −½ log(u1 (r_max² − r_min²) +
      r_min²)``, ``θ = max_phase · u2``, ``nu_log = log ν``, ``theta_log = log θ``: ``|λ|²`` is
      uniform on [r_min², r_max²] (λ uniform on the annulus), the phase uniform on
      [0, max_phase];
    - γ normalisation (§3.3, Prop. 3): ``gamma_log = log sqrt(1 − |λ|²)``, so that white-noise
      input gives ``E|x_k|² = E|B u|²`` per mode at initialisation (once the transient
      ``|λ|^{2k}`` has died out);
    - ``B_re, B_im ~ N(0, 1/(2H))``, ``C_re, C_im ~ N(0, 1/N)``, ``D ~ N(0, 1)``: minimal-LRU's
      ``lru/model.py`` (``docs/architectures.md``; the paper's Glorot-style B with halved
      variance, §3.2.2).

    Shapes: ``u_k`` (B, H); state ``x`` (B, N) complex; ``y_k`` (B, output_size) real.

    Parameters (minimal-LRU's names), all real: ``nu_log``, ``theta_log``, ``gamma_log`` (N,);
    ``B_re``, ``B_im`` (N, H); ``C_re``, ``C_im`` (output_size, N); ``D`` (H,) or None.

    :meth:`scan` evaluates all steps at once: the drives and readouts of all steps as matmuls, the
    recurrence by :func:`~rnnlab.cells.fused.linear_scan.linear_scan_tree` (or, for wide states
    on CPU, by the loop, see :meth:`scan`); :meth:`~rnnlab.cells.base.Cell.loop` (one
    :meth:`forward` per step) is its twin.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int | None = None,
        *,
        r_min: float = 0.0,
        r_max: float = 1.0,
        max_phase: float = 2 * math.pi,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.input_size = check_size("input_size", input_size)
        self.hidden_size = check_size("hidden_size", hidden_size)
        self.output_size = (
            input_size if output_size is None else check_size("output_size", output_size)
        )
        self.r_min = check_real("r_min", r_min)
        self.r_max = check_real("r_max", r_max)
        if not 0.0 <= self.r_min < 1.0:
            raise ValueError(f"r_min must be in [0, 1), got {r_min}")
        if not self.r_min <= self.r_max <= 1.0:
            raise ValueError(f"r_max must be in [r_min, 1] = [{r_min}, 1], got {r_max}")
        self.max_phase = check_real("max_phase", max_phase, positive=True)
        if generator is not None and not isinstance(generator, torch.Generator):
            raise TypeError(
                f"generator must be a torch.Generator or None, got {type(generator).__name__}"
            )
        if generator is not None and generator.device.type != "cpu":
            raise ValueError(f"generator must be a CPU generator, got one on {generator.device}")
        dtype = torch.get_default_dtype() if dtype is None else check_float_dtype("dtype", dtype)
        H, N, O = self.input_size, self.hidden_size, self.output_size

        f64 = {"dtype": torch.float64, "generator": generator}
        u1, u2 = torch.rand(N, **f64), torch.rand(N, **f64)
        nu = -0.5 * torch.log(u1 * (self.r_max**2 - self.r_min**2) + self.r_min**2)
        theta = self.max_phase * u2
        gamma_log = 0.5 * torch.log(-torch.expm1(-2 * nu))  # log sqrt(1 − |λ|²)
        drawn = {
            "nu_log": torch.log(nu),
            "theta_log": torch.log(theta),
            "gamma_log": gamma_log,
            "B_re": torch.randn(N, H, **f64) / math.sqrt(2 * H),
            "B_im": torch.randn(N, H, **f64) / math.sqrt(2 * H),
            "C_re": torch.randn(O, N, **f64) / math.sqrt(N),
            "C_im": torch.randn(O, N, **f64) / math.sqrt(N),
        }
        if O == H:
            drawn["D"] = torch.randn(H, **f64)
        factory = {"device": device, "dtype": dtype}
        for name, value in drawn.items():
            setattr(self, name, nn.Parameter(value.to(**factory)))
        if O != H:
            self.register_parameter("D", None)

    # ------------------------------------------------------------------------- the recurrence
    def eigenvalues(self) -> Tensor:
        """``λ = exp(−exp(nu_log) + i·exp(theta_log))`` (N,), complex: the diagonal of Λ."""
        return torch.exp(torch.complex(-torch.exp(self.nu_log), torch.exp(self.theta_log)))

    def initial_state(self, batch_size: int, *, device=None, dtype=None) -> Tensor:
        """Zeros (B, N), complex: the complex dtype matching ``dtype`` (a real dtype is mapped
        to its complex counterpart; default: the parameters'), on ``device`` (default: the
        parameters')."""
        device = self.nu_log.device if device is None else device
        dtype = self.nu_log.dtype if dtype is None else dtype
        if not dtype.is_complex:
            dtype = torch.complex128 if dtype == torch.float64 else torch.complex64
        return torch.zeros(batch_size, self.hidden_size, device=device, dtype=dtype)

    def _drive(self, u: Tensor) -> Tensor:
        """``exp(gamma_log) ⊙ (B u)`` for ``u`` (..., H) real → (..., N) complex."""
        gamma = torch.exp(self.gamma_log)
        real = nn.functional.linear(u, gamma.unsqueeze(-1) * self.B_re)
        imag = nn.functional.linear(u, gamma.unsqueeze(-1) * self.B_im)
        return torch.complex(real, imag)

    def _readout(self, x: Tensor, u: Tensor) -> Tensor:
        """``Re(C x) + D ⊙ u`` = ``C_re x.real − C_im x.imag + D u`` (..., output_size)."""
        y = nn.functional.linear(x.real, self.C_re) - nn.functional.linear(x.imag, self.C_im)
        return y if self.D is None else y + self.D * u

    def forward(self, x_t: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        """One step: ``x_t`` (B, H) real and ``state`` (B, N) complex → ``y_t``
        (B, output_size) and the new state."""
        self.check_step(x_t, state)
        x = self.eigenvalues() * state + self._drive(x_t)
        return self._readout(x, x_t), x

    def scan(self, x: Tensor, state: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """All steps of ``x`` (T, B, H) from ``state`` (B, N) at once; equals
        :meth:`~rnnlab.cells.base.Cell.loop`.

        The drives of all steps are two real matmuls; the states come from the scan of
        ``h_t = a_t ⊙ h_{t−1} + b_t`` with ``a = λ`` and ``b`` the drives; the outputs are two
        more matmuls. The scan is :func:`~rnnlab.cells.fused.linear_scan.linear_scan_tree`
        unless the input is on the CPU and ``B · N > TREE_MAX_WIDTH × threads`` (1024 per
        thread), where the loop :func:`~rnnlab.cells.fused.linear_scan.linear_scan_reference` was
        measured faster (see ``TREE_MAX_WIDTH``); on other devices the tree is always used (a
        loop there pays a kernel launch per operation and step; not measured in rnnlab).

        ``mask`` (T, B) bool marks the valid steps: on a padded step the scan gets ``a_t = 1,
        b_t = 0``, so the state passes through unchanged (any pattern of holes, not only trailing
        padding), and the output is zero.

        Returns:
            outputs (T, B, output_size) and the state after the last valid step (B, N).
        """
        x = check_float_tensor("x", x)
        if x.dim() != 3 or x.shape[-1] != self.input_size:
            raise ValueError(f"x must have shape (T, B, {self.input_size}), got {tuple(x.shape)}")
        check_like_parameters("x", x, self)
        check_state_like("state", state, self.initial_state(x.shape[1], dtype=x.dtype))
        if mask is not None and (
            not isinstance(mask, Tensor) or mask.dtype != torch.bool or mask.shape != x.shape[:2]
        ):
            got = f"{mask.dtype} {tuple(mask.shape)}" if isinstance(mask, Tensor) else mask
            raise ValueError(f"mask must be a bool tensor of shape {tuple(x.shape[:2])}, got {got}")
        drive = self._drive(x)  # (T, B, N)
        lam = self.eigenvalues()  # (N,)
        width = x.shape[1] * self.hidden_size
        wide = x.device.type == "cpu" and width > TREE_MAX_WIDTH * torch.get_num_threads()
        scan = linear_scan_reference if wide else linear_scan_tree
        if mask is None:
            h = scan(lam, drive, state)  # (T, B, N)
            return self._readout(h, x), h[-1]
        valid = mask.unsqueeze(-1)  # (T, B, 1)
        a = torch.where(valid, lam, torch.ones_like(lam))  # (T, B, N)
        h = scan(a, drive.masked_fill(~valid, 0), state)
        return self._readout(h, x).masked_fill(~valid, 0.0), h[-1]

    def extra_repr(self) -> str:
        output = "" if self.output_size == self.input_size else f", {self.output_size}"
        return (
            f"{self.input_size}, {self.hidden_size}{output}, r_min={self.r_min:g}, "
            f"r_max={self.r_max:g}, max_phase={self.max_phase:.4g}"
        )
