r"""The reservoir of an echo state network: a leaky recurrent layer with fixed random weights.

Jaeger 2001 (GMD Report 148, §5, eq. 21) with ReservoirPy's conventions (``reservoirpy.nodes.
Reservoir``, version 0.4.2; ``docs/reservoir_computing.md``, "Reservoir and the echo state
property"). The weights are drawn once and never trained by backpropagation — only a linear
readout is fitted on the states (:class:`rnnlab.models.esn.ESN`,
:func:`rnnlab.models.ridge.fit_ridge`) — so they are buffers, not parameters.
"""

from __future__ import annotations

import numbers

import torch
from torch import Tensor

from rnnlab._checks import check_float_tensor, check_real, check_size, check_state_like
from rnnlab.cells.activations import ACTIVATIONS, Activation, activation
from rnnlab.cells.base import Cell

__all__ = ["Reservoir", "effective_spectral_radius", "spectral_radius_of"]


class Reservoir(Cell):
    r"""A pool of leaky-integrator units with fixed random input and recurrent weights.

    .. math::
        x_t = (1 - \alpha) \odot x_{t-1} + \alpha \odot f(W x_{t-1} + W_{in} u_t + b),
        \qquad y_t = x_t,\quad x_0 = 0

    in code: ``x = (1 - leak) * x + leak * act(u_t @ weight_in.T + x @ weight_hh.T + bias)``.
    This is ReservoirPy's ``Reservoir._step`` (``lr`` is ``leak``) and Jaeger's leaky-integrator
    update (GMD Report 148 eq. 21; ``docs/reservoir_computing.md``) with step and time
    constant ``δC = leak`` and ``a = 1``; ``leak = 1`` gives the plain ESN
    ``x_t = f(W x_{t−1} + W_in u_t + b)``.

    Args:
        input_size: features of ``u_t``.
        units: reservoir units ``N``.
        leak: the leak rate ``α``, a float in (0, 1] or a (units,) tensor of them (default 1.0).
        spectral_radius: rescale ``weight_hh`` so that its largest ``|eigenvalue|`` is this
            (computed in float64 from the dense matrix; default 1.0, ReservoirPy's ``sr``
            default); ``None`` keeps the raw draw, whose spectral radius is about
            ``sqrt(units · recurrent_connectivity)`` (circular law).
        input_scaling: factor on ``weight_in``: a float or an (input_size,) tensor, one per
            input feature (ReservoirPy's ``input_scaling``; default 1.0).
        input_connectivity: fraction of nonzero entries of ``weight_in`` in (0, 1] (default 0.1).
        recurrent_connectivity: fraction of nonzero entries of ``weight_hh`` in (0, 1]
            (ReservoirPy's ``rc_connectivity``; default 0.1).
        bias_scaling: ``bias`` is ±1 × this per unit; 0 (default) gives a zero bias, which is
            ReservoirPy 0.4's default (``bias=0.0``).
        activation: ``f``: ``"tanh"`` (default), ``"sigmoid"``, ``"relu"`` or ``"identity"``
            (a linear reservoir).
        generator: a ``torch.Generator`` (CPU) or an int seed for every random draw; ``None``
            uses torch's global generator.
        dtype: dtype of the buffers (default ``torch.get_default_dtype()``). The draws are made
            in float64 and cast, so one seed gives the same weights (up to rounding) in every
            dtype; use float64 to compare with ReservoirPy.
        device: device of the buffers.

    Initialisation, following ReservoirPy 0.4.2's defaults (``Reservoir(W=normal,
    Win=bernoulli, bias=0.0)`` and ``reservoirpy.mat_gen``):

    - ``weight_hh``: exactly ``round(recurrent_connectivity · units²)`` nonzero entries at
      uniformly drawn positions (as ``scipy.sparse.random_array``), each ~ N(0, 1), then scaled
      by ``spectral_radius / ρ(weight_hh)``;
    - ``weight_in``: exactly ``round(input_connectivity · units · input_size)`` nonzero entries,
      each +1 or −1 with probability ½, times ``input_scaling`` (per input column);
    - ``bias``: dense ±1 with probability ½ times ``bias_scaling`` (what ReservoirPy 0.4.2 draws
      for ``bias=bernoulli``, and ReservoirPy 0.3's default with ``bias_scaling=1``), zero when
      ``bias_scaling`` is 0.

    Where rnnlab differs: the draws come from a ``torch.Generator`` (in the order ``weight_in``,
    ``weight_hh``, ``bias``), not numpy's, so the numbers differ from ReservoirPy's for any seed
    — only the distributions agree (use :meth:`from_weights` to copy ReservoirPy's matrices);
    the matrices are dense tensors, not scipy sparse ones; a draw with no nonzero entry, or a
    ``weight_hh`` whose spectral radius is 0 (nilpotent, from a tiny sparse draw), is refused
    with a ``ValueError`` where ReservoirPy would silently keep it (or divide by its ε).

    Shapes: ``x_t`` (B, input_size); state ``x`` (B, units); ``y_t = x`` (B, units).

    Buffers: ``weight_in`` (units, input_size), ``weight_hh`` (units, units), ``bias``
    (units,), ``leak`` (a 0-dim tensor for a float leak, else (units,)).

    :meth:`scan` is the fast path (one matmul for the input drive of every step, then the
    recurrence under ``no_grad`` when no gradient is needed); :meth:`~Cell.loop` is its twin.
    Autograd works through both: when the inputs, the state or a buffer require grad, the scan
    records the graph like the loop does.
    """

    weight_in: Tensor
    weight_hh: Tensor
    bias: Tensor
    leak: Tensor

    def __init__(
        self,
        input_size: int,
        units: int,
        *,
        leak: float | Tensor = 1.0,
        spectral_radius: float | None = 1.0,
        input_scaling: float | Tensor = 1.0,
        input_connectivity: float = 0.1,
        recurrent_connectivity: float = 0.1,
        bias_scaling: float = 0.0,
        activation: str = "tanh",
        generator: torch.Generator | int | None = None,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        input_size = check_size("input_size", input_size)
        units = check_size("units", units)
        input_connectivity = _check_connectivity("input_connectivity", input_connectivity)
        recurrent_connectivity = _check_connectivity(
            "recurrent_connectivity", recurrent_connectivity
        )
        if spectral_radius is not None:
            spectral_radius = check_real("spectral_radius", spectral_radius, positive=True)
        bias_scaling = check_real("bias_scaling", bias_scaling)
        if bias_scaling < 0:
            raise ValueError(f"bias_scaling must be >= 0, got {bias_scaling}")
        scaling = _check_input_scaling(input_scaling, input_size)
        generator = _check_generator(generator)
        dtype = _check_dtype(dtype)
        f64 = torch.float64

        # weight_in: sparse ±1 (ReservoirPy's bernoulli initializer), scaled per input column.
        weight_in = _sparse_draw(
            "input_connectivity", input_connectivity, (units, input_size), generator,
            lambda n: torch.randint(0, 2, (n,), generator=generator).to(f64) * 2 - 1,
        )  # fmt: skip
        weight_in = weight_in * scaling.to(f64)
        # weight_hh: sparse N(0, 1) (ReservoirPy's normal initializer), rescaled to the radius.
        weight_hh = _sparse_draw(
            "recurrent_connectivity", recurrent_connectivity, (units, units), generator,
            lambda n: torch.randn(n, generator=generator, dtype=f64),
        )  # fmt: skip
        if spectral_radius is not None:
            radius = spectral_radius_of(weight_hh)
            if radius <= 1e-10 * float(weight_hh.abs().max()):
                raise ValueError(
                    f"weight_hh drawn with recurrent_connectivity={recurrent_connectivity} "
                    f"({int((weight_hh != 0).sum())} nonzero entries for {units} units) has "
                    f"spectral radius {radius:.3g} and cannot be rescaled to "
                    f"spectral_radius={spectral_radius}; raise recurrent_connectivity"
                )
            weight_hh = weight_hh * (spectral_radius / radius)
        if bias_scaling > 0:
            signs = torch.randint(0, 2, (units,), generator=generator).to(f64) * 2 - 1
            bias = signs * bias_scaling
        else:
            bias = torch.zeros(units, dtype=f64)
        factory = {"dtype": dtype, "device": device}
        self._build(
            weight_in.to(**factory), weight_hh.to(**factory), bias.to(**factory), leak, activation
        )

    @classmethod
    def from_weights(
        cls,
        weight_in: Tensor,
        weight_hh: Tensor,
        bias: Tensor | None = None,
        *,
        leak: float | Tensor = 1.0,
        activation: str = "tanh",
    ) -> Reservoir:
        """A reservoir with the given matrices (copied), e.g. ReservoirPy's ``Win``, ``W`` and
        ``bias`` after initialisation, to compare the two on identical weights.

        Args:
            weight_in: (units, input_size) floating tensor; its dtype and device are the
                reservoir's.
            weight_hh: (units, units), same dtype and device.
            bias: (units,) or None for zeros.
            leak: as in the constructor.
            activation: as in the constructor.
        """
        weight_in = check_float_tensor("weight_in", weight_in)
        if weight_in.dim() != 2 or 0 in weight_in.shape:
            raise ValueError(
                f"weight_in must be 2-D (units, input_size), got shape {tuple(weight_in.shape)}"
            )
        units = weight_in.shape[0]
        weight_hh = _check_like("weight_hh", weight_hh, (units, units), weight_in)
        if bias is None:
            bias = torch.zeros(units, dtype=weight_in.dtype, device=weight_in.device)
        else:
            bias = _check_like("bias", bias, (units,), weight_in)
        for name, value in (("weight_in", weight_in), ("weight_hh", weight_hh), ("bias", bias)):
            if not bool(torch.isfinite(value).all()):
                raise ValueError(f"{name} must be finite, got non-finite entries")
        reservoir = cls.__new__(cls)
        Cell.__init__(reservoir)
        reservoir._build(
            weight_in.detach().clone(), weight_hh.detach().clone(), bias.detach().clone(),
            leak, activation,
        )  # fmt: skip
        return reservoir

    def _build(
        self, weight_in: Tensor, weight_hh: Tensor, bias: Tensor, leak: object, name: object
    ) -> None:
        self.units = self.hidden_size = self.output_size = weight_in.shape[0]
        self.input_size = weight_in.shape[1]
        self.activation = activation(
            name, argument="activation", choices=("tanh", "sigmoid", "relu", "identity")
        ).name
        self.register_buffer("weight_in", weight_in)
        self.register_buffer("weight_hh", weight_hh)
        self.register_buffer("bias", bias)
        self.register_buffer("leak", _check_leak(leak, self.units, weight_in))

    @property
    def act(self) -> Activation:
        return ACTIVATIONS[self.activation]

    def initial_state(self, batch_size: int, *, device=None, dtype=None) -> Tensor:
        """Zeros (B, units) on the buffers' device and dtype unless given (x_0 = 0)."""
        device = self.weight_in.device if device is None else device
        dtype = self.weight_in.dtype if dtype is None else dtype
        return torch.zeros(batch_size, self.units, device=device, dtype=dtype)

    def check_step(self, x_t: object, state: object) -> None:
        """Like :meth:`Cell.check_step`, against the buffers' dtype and device (a reservoir has
        no parameters)."""
        x_t = check_float_tensor("x_t", x_t)
        if x_t.dim() != 2 or x_t.shape[1] != self.input_size:
            raise ValueError(f"x_t must have shape (B, {self.input_size}), got {tuple(x_t.shape)}")
        self._check_like_buffers("x_t", x_t)
        check_state_like("state", state, self.initial_state(x_t.shape[0]))

    def forward(self, x_t: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        self.check_step(x_t, state)
        pre = torch.nn.functional.linear(x_t, self.weight_in, self.bias)
        pre = pre + torch.nn.functional.linear(state, self.weight_hh)  # (B, N)
        x = (1 - self.leak) * state + self.leak * self.act.forward(pre)
        return x, x

    def scan(self, x: Tensor, state: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """All steps of ``x`` (T, B, input_size) from ``state`` (B, units); equals
        :meth:`~Cell.loop`.

        The input drive ``u_t @ weight_in.T + bias`` of all steps is one matmul (T, B, N);
        each step then adds ``x @ weight_hh.T`` (``addmm``). Without a gradient to record (grad
        mode off, or nothing — inputs, state, buffers — requiring grad) the loop runs under
        ``no_grad`` and writes the states over the drive buffer; otherwise it builds the graph.
        ``mask`` (T, B) bool: padded steps keep the state and output zeros, as in the loop.
        """
        x = check_float_tensor("x", x)
        if x.dim() != 3 or x.shape[-1] != self.input_size:
            raise ValueError(f"x must have shape (T, B, {self.input_size}), got {tuple(x.shape)}")
        self._check_like_buffers("x", x)
        check_state_like("state", state, self.initial_state(x.shape[1]))
        if mask is not None and (mask.dtype != torch.bool or mask.shape != x.shape[:2]):
            raise ValueError(
                f"mask must be a bool tensor of shape {tuple(x.shape[:2])}, got "
                f"{mask.dtype} {tuple(mask.shape)}"
            )
        tensors = (x, state, self.weight_in, self.weight_hh, self.bias, self.leak)
        needs_grad = torch.is_grad_enabled() and any(t.requires_grad for t in tensors)
        if needs_grad:
            return self._scan_graph(x, state, mask)
        with torch.no_grad():
            return self._scan_no_grad(x, state, mask)

    def _scan_no_grad(self, x: Tensor, h: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor]:
        out = torch.nn.functional.linear(x, self.weight_in, self.bias)  # (T, B, N): the drive
        weight_t = self.weight_hh.t()
        f = self.act.forward
        plain = bool((self.leak == 1).all())
        keep = 1 - self.leak
        for t in range(x.shape[0]):
            pre = torch.addmm(out[t], h, weight_t)
            new = f(pre) if plain else keep * h + self.leak * f(pre)
            if mask is None:
                out[t] = new
                h = out[t]
            else:
                m = mask[t].unsqueeze(-1)  # (B, 1)
                h = torch.where(m, new, h)
                out[t] = new.masked_fill(~m, 0.0)
        return out, h.clone() if mask is None else h

    def _scan_graph(self, x: Tensor, h: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor]:
        # (T, B, N) split once: indexing drive[t] would make backward allocate and zero-fill a
        # full (T, B, N) gradient at every step
        drives = torch.nn.functional.linear(x, self.weight_in, self.bias).unbind(0)
        weight_t = self.weight_hh.t()
        f = self.act.forward
        outputs = []
        for t, drive in enumerate(drives):
            new = (1 - self.leak) * h + self.leak * f(torch.addmm(drive, h, weight_t))
            if mask is None:
                h, y = new, new
            else:
                m = mask[t].unsqueeze(-1)
                h, y = torch.where(m, new, h), new.masked_fill(~m, 0.0)
            outputs.append(y)
        return torch.stack(outputs), h

    def effective_spectral_radius(self) -> float:
        """:func:`effective_spectral_radius` of this reservoir's ``weight_hh`` and ``leak``."""
        return effective_spectral_radius(self.weight_hh, self.leak)

    def _check_like_buffers(self, name: str, x: Tensor) -> None:
        reference = self.weight_in
        if x.device != reference.device:
            raise ValueError(
                f"{name} must be on {reference.device} (that of the reservoir), got {x.device}"
            )
        if x.dtype != reference.dtype:
            raise TypeError(
                f"{name} must have dtype {reference.dtype} (that of the reservoir), got "
                f"{x.dtype} (convert with {name}.to({reference.dtype}) or the reservoir with "
                f".to({x.dtype}))"
            )

    def extra_repr(self) -> str:
        leak = self.leak
        shown = f"{float(leak):g}" if leak.dim() == 0 else f"tensor of {leak.numel()}"
        return (
            f"{self.input_size}, {self.units}, leak={shown}, activation={self.activation!r}, "
            f"spectral_radius={spectral_radius_of(self.weight_hh):.4g}"
        )


def spectral_radius_of(weight: Tensor) -> float:
    """The spectral radius ``max |λ_i(weight)|`` of a square matrix, computed in float64 with
    ``torch.linalg.eigvals`` (dense; ReservoirPy uses ARPACK on its sparse matrices)."""
    weight = check_float_tensor("weight", weight)
    if weight.dim() != 2 or weight.shape[0] != weight.shape[1] or weight.shape[0] == 0:
        raise ValueError(f"weight must be a square 2-D matrix, got shape {tuple(weight.shape)}")
    if not bool(torch.isfinite(weight).all()):
        raise ValueError("weight must be finite, got non-finite entries")
    matrix = weight.detach().to(device="cpu", dtype=torch.float64)
    return float(torch.linalg.eigvals(matrix).abs().max())


def effective_spectral_radius(weight_hh: Tensor, leak: float | Tensor = 1.0) -> float:
    r"""The spectral radius of the leaky reservoir's linearisation at 0,

    .. math:: \tilde W = \alpha \odot W + (1 - \alpha) I

    in code ``diag(leak) @ weight_hh + diag(1 - leak)`` (the Jacobian of :class:`Reservoir`'s
    update at ``x = 0``, zero bias, ``f'(0) = 1``). Jaeger et al. 2007 (and GMD Report 148 §5,
    Prop. 4 with ``δC = leak``, ``a = 1``; ``docs/reservoir_computing.md``): for tanh units,
    zero bias and no feedback, ``ρ(W̃) > 1`` means no echo state property.

    This is what ``reservoirpy.observables.effective_spectral_radius(W, lr)`` computes
    (``spectral_radius(lr * W + (1 - lr) * I)``). Its docstring calls it the "maximal singular
    value"; the code takes eigenvalues, and so does this function. The largest singular value
    (``torch.linalg.matrix_norm(W̃, ord=2)``) bounds it from above and gives the sufficient
    condition of GMD Report 148, §5, instead. A (units,) ``leak`` scales the rows of ``W``;
    ReservoirPy's ``lr * W`` scales the columns — the two matrices are similar (``D W`` vs
    ``W D``), so the radius is the same.

    Args:
        weight_hh: (N, N) recurrent weights.
        leak: the leak rate, a float in (0, 1] or an (N,) tensor (default 1.0).
    """
    weight_hh = check_float_tensor("weight_hh", weight_hh)
    if weight_hh.dim() != 2 or weight_hh.shape[0] != weight_hh.shape[1] or 0 in weight_hh.shape:
        raise ValueError(
            f"weight_hh must be a square 2-D matrix, got shape {tuple(weight_hh.shape)}"
        )
    units = weight_hh.shape[0]
    weight = weight_hh.detach().to(device="cpu", dtype=torch.float64)
    alpha = _check_leak(leak, units, weight).expand(units)
    matrix = alpha.unsqueeze(1) * weight + torch.diag(1 - alpha)
    return spectral_radius_of(matrix)


# ------------------------------------------------------------------------------------ helpers
def _check_connectivity(name: str, value: object) -> float:
    value = check_real(name, value)
    if not 0.0 < value <= 1.0:
        raise ValueError(f"{name} must be in (0, 1], got {value}")
    return value


def _check_leak(leak: object, units: int, like: Tensor) -> Tensor:
    """``leak`` as a 0-dim (float given) or (units,) tensor on ``like``'s dtype and device, all
    in (0, 1]."""
    if isinstance(leak, Tensor):
        leak = check_float_tensor("leak", leak)
        if leak.dim() == 0 or leak.shape == (units,):
            value = leak.detach().to(dtype=like.dtype, device=like.device).clone()
        else:
            raise ValueError(
                f"leak must be a float or a ({units},) tensor (one per unit), got shape "
                f"{tuple(leak.shape)}"
            )
        if not bool(((value > 0) & (value <= 1)).all()):
            raise ValueError(
                f"leak must be in (0, 1], got values in [{value.min()}, {value.max()}]"
            )
        return value
    if isinstance(leak, bool) or not isinstance(leak, numbers.Real):
        raise TypeError(
            f"leak must be a float in (0, 1] or a ({units},) tensor, got {type(leak).__name__} "
            f"{leak!r}"
        )
    if not 0.0 < float(leak) <= 1.0:
        raise ValueError(f"leak must be in (0, 1], got {leak}")
    return torch.tensor(float(leak), dtype=like.dtype, device=like.device)


def _check_input_scaling(value: object, input_size: int) -> Tensor:
    if isinstance(value, Tensor):
        value = check_float_tensor("input_scaling", value)
        if value.shape != (input_size,) and value.dim() != 0:
            raise ValueError(
                f"input_scaling must be a float or an ({input_size},) tensor (one per input "
                f"feature), got shape {tuple(value.shape)}"
            )
        if not bool(torch.isfinite(value).all()):
            raise ValueError("input_scaling must be finite, got non-finite entries")
        return value.detach().to(device="cpu", dtype=torch.float64)
    return torch.tensor(check_real("input_scaling", value), dtype=torch.float64)


def _check_generator(generator: object) -> torch.Generator | None:
    if generator is None or isinstance(generator, torch.Generator):
        if generator is not None and generator.device.type != "cpu":
            raise ValueError(f"generator must be a CPU generator, got one on {generator.device}")
        return generator
    if isinstance(generator, int) and not isinstance(generator, bool):
        return torch.Generator().manual_seed(generator)
    raise TypeError(
        f"generator must be a torch.Generator, an int seed or None, got {type(generator).__name__}"
    )


def _check_dtype(dtype: object) -> torch.dtype:
    if dtype is None:
        return torch.get_default_dtype()
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
    return dtype


def _sparse_draw(name, density, shape, generator, values) -> Tensor:
    """A float64 matrix of ``shape`` with exactly ``round(density · numel)`` nonzero entries at
    uniformly drawn distinct positions (as ``scipy.sparse.random_array``), values from
    ``values(n)``."""
    total = shape[0] * shape[1]
    count = round(density * total)
    if count == 0:
        raise ValueError(
            f"{name}={density} gives no nonzero entry in a {shape[0]}×{shape[1]} matrix "
            f"(round({density} · {total}) = 0); raise {name}"
        )
    positions = torch.randperm(total, generator=generator)[:count]
    matrix = torch.zeros(total, dtype=torch.float64)
    matrix[positions] = values(count)
    return matrix.view(shape)


def _check_like(name: str, value: object, shape: tuple[int, ...], like: Tensor) -> Tensor:
    value = check_float_tensor(name, value)
    if tuple(value.shape) != shape:
        raise ValueError(f"{name} must have shape {shape}, got {tuple(value.shape)}")
    if value.dtype != like.dtype or value.device != like.device:
        raise TypeError(
            f"{name} must have the dtype and device of weight_in ({like.dtype}, {like.device}), "
            f"got ({value.dtype}, {value.device})"
        )
    return value
