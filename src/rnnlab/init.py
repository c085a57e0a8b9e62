r"""In-place initialisers for recurrent weights, in the style of :mod:`torch.nn.init`.

Each function fills its tensor(s) in place under ``torch.no_grad()`` (so it works on
parameters that require grad) and returns what it filled. Weights use torch's layout:
a unit's incoming weights are a row, ``weight_hh`` is (H, H) and acts as ``h @ weight_hh.T``.

========================================  =================================  ================
function                                  fills the weight with              source
========================================  =================================  ================
``orthogonal_(w, gain)``                  ``gain · Q``, Q (semi-)orthogonal  Saxe et al. 2014
``identity_(w, scale)``                   ``scale · I``                      Le et al. 2015
``spectral_radius_(w, radius)``           ``w · radius / ρ(w)``              Jaeger 2001, §6
``sparse_(w, k, std, radius=None)``       k N(0, std²) non-zeros per row     Martens 2010
``pascanu_(w_ih, w_hh, w_hy, biases)``    a scheme of the table below        Pascanu 2013, §5
``pascanu_cell_(cell, scheme, readout)``  the same, on an Elman cell         Pascanu 2013, §5
========================================  =================================  ================

ρ(w) = max |λ_i(w)| is the spectral radius. Pascanu, Mikolov & Bengio 2013 schemes (``scale``
in the paper's code is a standard deviation; all biases 0; "per unit" = outgoing weights, see
:func:`pascanu_`):

==============  ============  ======================================================  =======
scheme          W_ih, W_hy    W_hh                                                    act
==============  ============  ======================================================  =======
``sigmoid``     N(0, 0.01²)   N(0, 0.01²)                                             sigmoid
``basic_tanh``  N(0, 0.1²)    N(0, 0.1²)                                              tanh
``smart_tanh``  N(0, 0.01²)   N(0, 0.01²), 15 non-zeros per unit, rescaled to ρ 0.95  tanh
==============  ============  ======================================================  =======

Randomness: every random function takes ``generator`` (a :class:`torch.Generator`; ``None`` uses
torch's global generator). Draws are made on the generator's device (the weight's device when
``generator`` is None) in float64 (float32 on MPS, which lacks float64), the linear algebra is
done there, and the result is rounded once into the weight's dtype. The same seed therefore
gives the same weights bit for bit (on a given device), and a seeded call leaves torch's global
generator untouched. Eigenvalues are always computed on the CPU in float64
(``torch.linalg.eigvals``).
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import torch
from torch import Tensor, nn

from rnnlab._checks import check_choice, check_float_tensor, check_real
from rnnlab.cells.elman import Elman

__all__ = [
    "PASCANU_ACTIVATION",
    "PASCANU_SCHEMES",
    "PascanuScheme",
    "identity_",
    "orthogonal_",
    "pascanu_",
    "pascanu_cell_",
    "sparse_",
    "spectral_radius_",
]


# ---------------------------------------------------------------------------------------------
# argument checks


def _check_matrix(name: str, weight: object) -> Tensor:
    """A floating-point 2-D tensor with at least one row and one column."""
    weight = check_float_tensor(name, weight)
    if weight.dim() != 2:
        raise ValueError(
            f"{name} must be a 2-D matrix (rows, cols), got {weight.dim()}-D shape "
            f"{tuple(weight.shape)}"
        )
    if weight.numel() == 0:
        raise ValueError(
            f"{name} must have at least one row and one column, got shape {tuple(weight.shape)}"
        )
    return weight


def _check_square(name: str, weight: object) -> Tensor:
    weight = _check_matrix(name, weight)
    if weight.shape[0] != weight.shape[1]:
        raise ValueError(f"{name} must be square (n, n), got shape {tuple(weight.shape)}")
    return weight


def _check_generator(generator: object) -> torch.Generator | None:
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(
            f"generator must be a torch.Generator or None, got {type(generator).__name__}"
        )
    return generator


def _check_count(name: str, value: object, high: int, what: str) -> int:
    """An int in ``[1, high]``; ``what`` says what ``high`` is, for the message."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    value = int(value)
    if not 1 <= value <= high:
        raise ValueError(f"{name} must be in [1, {high}] ({what}), got {value}")
    return value


# ---------------------------------------------------------------------------------------------
# shared helpers


def _draw_device(weight: Tensor, generator: torch.Generator | None) -> torch.device:
    return weight.device if generator is None else generator.device


def _work_dtype(device: torch.device) -> torch.dtype:
    return torch.float32 if device.type == "mps" else torch.float64


def _gaussian(
    shape: tuple[int, ...], std: float, weight: Tensor, generator: torch.Generator | None
) -> Tensor:
    """N(0, std²) draws of ``shape`` on the draw device, in the working dtype."""
    device = _draw_device(weight, generator)
    z = torch.randn(shape, generator=generator, device=device, dtype=_work_dtype(device))
    return z * std


def _spectral_radius(matrix: Tensor) -> float:
    """ρ(matrix) = max |eigenvalue|, computed on the CPU in float64."""
    return torch.linalg.eigvals(matrix.detach().to("cpu", torch.float64)).abs().max().item()


def _rescaled(name: str, matrix: Tensor, radius: float) -> Tensor:
    """``matrix · radius / ρ(matrix)`` in the working dtype, or a clear error if ρ is 0."""
    finite = torch.isfinite(matrix)
    if not bool(finite.all()):
        bad = int((~finite).sum())
        raise ValueError(
            f"{name} must be finite to measure its spectral radius, got {bad} NaN or inf "
            f"entr{'y' if bad == 1 else 'ies'}"
        )
    rho = _spectral_radius(matrix)
    # A nilpotent matrix (zeros, strictly triangular, ...) has ρ = 0; rounding can leave a tiny
    # positive value, so anything below float64 resolution of the matrix's norm counts as 0.
    norm = torch.linalg.matrix_norm(matrix.detach().to("cpu", torch.float64)).item()
    if rho <= torch.finfo(torch.float64).eps * norm:
        raise ValueError(
            f"{name} has spectral radius {rho:.3g} (nilpotent, e.g. all zeros or strictly "
            f"triangular), so it cannot be rescaled to radius {radius}; fill it with a random "
            f"matrix first"
        )
    return matrix * (radius / rho)


# ---------------------------------------------------------------------------------------------
# the initialisers


def orthogonal_(
    weight: Tensor, gain: float = 1.0, *, generator: torch.Generator | None = None
) -> Tensor:
    r"""Fill ``weight`` (rows, cols) with a random (semi-)orthogonal matrix times ``gain``.

    .. math::
        A \sim \mathcal N(0, 1)^{n \times m},\ n = \max(rows, cols),\ m = \min(rows, cols);
        \qquad A = Q R;\qquad Q \leftarrow Q\,\mathrm{diag}(\mathrm{sign}\, r_{jj});
        \qquad W = g\,Q \text{ (or } g\,Q^\top \text{ if rows < cols)}

    The sign correction makes ``Q`` Haar-distributed (uniform over the orthogonal matrices;
    without it LAPACK's sign convention biases the columns). Afterwards ``WᵀW = g² I_cols``
    when rows >= cols and ``WWᵀ = g² I_rows`` when rows <= cols; a square ``W`` has every
    |eigenvalue| equal to ``|g|``, so its gradient through time neither explodes nor vanishes
    in a linear recurrence.

    Source: Saxe, McClelland & Ganguli 2014, "Exact solutions to the nonlinear dynamics of
    learning in deep linear neural networks" (ICLR), their random orthogonal initial conditions;
    sign correction as in Mezzadri 2007, "How to generate random matrices from the classical
    compact groups".

    Args:
        weight: floating-point 2-D tensor (rows, cols), overwritten.
        gain: multiplier ``g`` (default 1.0), any finite real.
        generator: source of the Gaussian draws (default None: torch's global generator).

    Returns:
        ``weight``.
    """
    weight = _check_matrix("weight", weight)
    gain = check_real("gain", gain)
    generator = _check_generator(generator)
    rows, cols = weight.shape
    a = _gaussian((max(rows, cols), min(rows, cols)), 1.0, weight, generator)  # (n, m)
    q, r = torch.linalg.qr(a)  # q (n, m), r (m, m)
    signs = torch.where(torch.diagonal(r) >= 0, 1.0, -1.0).to(q.dtype)
    q = q * signs  # column j times sign(r_jj)
    if rows < cols:
        q = q.T  # (rows, cols): orthonormal rows
    with torch.no_grad():
        weight.copy_(gain * q)
    return weight


def identity_(weight: Tensor, scale: float = 1.0) -> Tensor:
    r"""Fill the square ``weight`` (n, n) with ``scale · I`` exactly.

    .. math::
        W = s\,I_n

    With ReLU units and zero biases this is the IRNN: at initialisation the recurrence copies
    the state, ``h_t = relu(h_{t-1} + W_ih x_t)``, so gradients pass through time unchanged.
    The paper uses ``scale = 1`` for long-range tasks and a smaller scaled identity for tasks
    with shorter dependencies.

    Source: Le, Jaitly & Hinton 2015, "A Simple Way to Initialize Recurrent Networks of
    Rectified Linear Units" (arXiv 1504.00941), the IRNN: recurrent matrix the identity (or a
    scaled identity), biases zero.

    Args:
        weight: floating-point square tensor (n, n), overwritten.
        scale: the diagonal value ``s`` (default 1.0), any finite real.

    Returns:
        ``weight``.
    """
    weight = _check_square("weight", weight)
    scale = check_real("scale", scale)
    with torch.no_grad():
        weight.zero_()
        weight.diagonal().fill_(scale)
    return weight


def spectral_radius_(weight: Tensor, radius: float) -> Tensor:
    r"""Rescale the square ``weight`` (n, n) so that its spectral radius equals ``radius``.

    .. math::
        W \leftarrow W \cdot \frac{r}{\rho(W)}, \qquad \rho(W) = \max_i |\lambda_i(W)|

    ``ρ(W)`` comes from ``torch.linalg.eigvals`` on the CPU in float64 and the product is taken
    in float64, then rounded once into ``weight``'s dtype. Deterministic: no random draw.

    Source: Jaeger 2001, "The 'echo state' approach to analysing and training recurrent neural
    networks" (GMD Report 148), §6: the reservoir matrix is rescaled to a chosen |λ_max|;
    Pascanu, Mikolov & Bengio 2013, §5: ``smart_tanh`` rescales W_hh to ρ = 0.95.

    Args:
        weight: floating-point square tensor (n, n) with finite entries, rescaled in place.
        radius: the target ``r`` > 0 (no default).

    Returns:
        ``weight``.

    Raises:
        ValueError: if ``weight`` is not square, not finite or has spectral radius 0 (nilpotent:
            zeros, strictly triangular, ...), or if ``radius`` <= 0.
    """
    weight = _check_square("weight", weight)
    radius = check_real("radius", radius, positive=True)
    scaled = _rescaled("weight", weight.detach().to("cpu", torch.float64), radius)
    with torch.no_grad():
        weight.copy_(scaled)
    return weight


def sparse_(
    weight: Tensor,
    nonzeros_per_row: int,
    std: float,
    *,
    radius: float | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    r"""Fill ``weight`` (rows, cols) with ``k`` random N(0, std²) entries per row, zeros elsewhere.

    .. math::
        W_{ij} = \begin{cases} z_{ij} \sim \mathcal N(0, \sigma^2) & j \in S_i \\
        0 & \text{otherwise} \end{cases},
        \qquad S_i \subset \{0..cols-1\},\ |S_i| = k \text{ uniform at random}

    then, if ``radius`` is given, ``W ← W · radius / ρ(W)`` (see :func:`spectral_radius_`; the
    rescaling discards ``std``'s scale). In torch's layout a row holds a unit's incoming
    weights, so each unit gets ``k`` inputs (Martens' convention). For ``k`` outgoing
    connections per unit, as in Pascanu's code, fill the transpose: ``sparse_(w.T, ...)``.
    Every row has exactly ``k`` non-zeros, unless a draw rounds to 0 in ``weight``'s dtype
    (possible only in half precision, and then with probability ~1e-5 per entry at std 0.01).

    Source: the sparse initialisation of Martens 2010, "Deep learning via Hessian-free
    optimization" (ICML), 15 non-zeros per unit; combined with a spectral-radius rescaling in
    Pascanu, Mikolov & Bengio 2013, §5 (``smart_tanh``).

    Args:
        weight: floating-point 2-D tensor (rows, cols), overwritten; square if ``radius`` is
            given.
        nonzeros_per_row: ``k``, an int in [1, cols].
        std: ``σ`` > 0, the standard deviation of the non-zero entries.
        radius: target spectral radius > 0, or None (default) to keep the raw draws.
        generator: source of the draws (default None: torch's global generator).

    Returns:
        ``weight``.
    """
    weight = _check_matrix("weight", weight)
    rows, cols = weight.shape
    k = _check_count("nonzeros_per_row", nonzeros_per_row, cols, f"weight has {cols} columns")
    std = check_real("std", std, positive=True)
    if radius is not None:
        weight = _check_square("weight (square because radius is given)", weight)
        radius = check_real("radius", radius, positive=True)
    generator = _check_generator(generator)
    device = _draw_device(weight, generator)
    dtype = _work_dtype(device)
    keys = torch.rand(rows, cols, generator=generator, device=device, dtype=dtype)
    columns = keys.argsort(dim=1)[:, :k]  # (rows, k): k distinct columns per row, uniform
    values = _gaussian((rows, k), std, weight, generator)  # (rows, k)
    dense = torch.zeros(rows, cols, device=device, dtype=dtype).scatter_(1, columns, values)
    if radius is not None:
        dense = _rescaled("the sparse draw", dense, radius)
    with torch.no_grad():
        weight.copy_(dense)
    return weight


# ---------------------------------------------------------------------------------------------
# Pascanu, Mikolov & Bengio 2013


@dataclass(frozen=True)
class PascanuScheme:
    """One initialisation of Pascanu, Mikolov & Bengio 2013 (§5 and ``RNN.py`` of their code).

    Attributes:
        std: standard deviation of W_ih and W_hy (the code's ``W_uh`` and ``W_hy``).
        std_hh: standard deviation of W_hh's draws (before any sparsifying and rescaling).
        nonzeros_per_unit: if set, each hidden unit keeps this many random outgoing recurrent
            weights (``min(this, H)``), the rest are zeroed.
        radius: if set, W_hh is rescaled to this spectral radius.
        activation: the nonlinearity the scheme is meant for.
    """

    std: float
    std_hh: float
    nonzeros_per_unit: int | None
    radius: float | None
    activation: str


#: The three schemes by name, read-only.
PASCANU_SCHEMES: Mapping[str, PascanuScheme] = MappingProxyType(
    {
        "sigmoid": PascanuScheme(0.01, 0.01, None, None, "sigmoid"),
        "basic_tanh": PascanuScheme(0.1, 0.1, None, None, "tanh"),
        "smart_tanh": PascanuScheme(0.01, 0.01, 15, 0.95, "tanh"),
    }
)

#: Which cell nonlinearity goes with each scheme, read-only.
PASCANU_ACTIVATION: Mapping[str, str] = MappingProxyType(
    {name: scheme.activation for name, scheme in PASCANU_SCHEMES.items()}
)


def pascanu_(
    weight_ih: Tensor,
    weight_hh: Tensor,
    weight_hy: Tensor | None = None,
    biases: Iterable[Tensor | None] = (),
    *,
    scheme: str,
    generator: torch.Generator | None = None,
) -> None:
    r"""Initialise an Elman network's weights with one of Pascanu et al.'s three schemes.

    .. math::
        W_{ih}, W_{hy} \sim \mathcal N(0, \sigma^2), \quad
        W_{hh} \sim \mathcal N(0, \sigma_{hh}^2), \quad b = 0

    with ``(σ, σ_hh) = (0.01, 0.01)`` for ``"sigmoid"``, ``(0.1, 0.1)`` for ``"basic_tanh"`` and
    ``(0.01, 0.01)`` for ``"smart_tanh"``, which then keeps ``min(15, H)`` random non-zeros per
    hidden unit in W_hh and rescales W_hh to spectral radius 0.95 (see :data:`PASCANU_SCHEMES`;
    pair each scheme with the nonlinearity of :data:`PASCANU_ACTIVATION`).

    Code-exact sparsity: the paper's code (``RNN.py``) computes ``h_t = act(h_{t-1} @ W_hh +
    u_t @ W_uh + b_hh)`` and keeps 15 entries per *row* of its W_hh, i.e. 15 *outgoing*
    connections per unit. Its W_hh is the transpose of torch's ``weight_hh``, so here each
    *column* of ``weight_hh`` has ``min(15, H)`` non-zeros (rows vary). The spectral radius is
    unaffected by the transpose.

    Draw order (for reproducibility): ``weight_ih``, then ``weight_hh``, then ``weight_hy``.
    All arguments are checked before anything is written, so a bad call changes nothing.

    Source: Pascanu, Mikolov & Bengio 2013, "On the difficulty of training recurrent neural
    networks" (ICML), §5 (experiments: the sigmoid, basic tanh and smart tanh setups), and their
    code (``pascanur/trainingRNNs``, ``RNN.py``).

    Args:
        weight_ih: input weights (H, I), overwritten.
        weight_hh: recurrent weights (H, H), overwritten.
        weight_hy: readout weights (O, H), overwritten, or None (default) if there is none.
        biases: tensors to zero (default none); None entries are skipped, so a cell built with
            ``bias=False`` can pass its ``bias_ih``/``bias_hh`` as they are.
        scheme: ``"sigmoid"``, ``"basic_tanh"`` or ``"smart_tanh"`` (keyword, required).
        generator: source of the draws (default None: torch's global generator).

    Returns:
        None (several tensors are filled).
    """
    params = _check_scheme(scheme)
    weight_ih = _check_matrix("weight_ih", weight_ih)
    hidden = weight_ih.shape[0]
    weight_hh = _check_matrix("weight_hh", weight_hh)
    if tuple(weight_hh.shape) != (hidden, hidden):
        raise ValueError(
            f"weight_hh must be (H, H) with H = weight_ih.shape[0] = {hidden}, "
            f"got shape {tuple(weight_hh.shape)}"
        )
    if weight_hy is not None:
        weight_hy = _check_matrix("weight_hy", weight_hy)
        if weight_hy.shape[1] != hidden:
            raise ValueError(
                f"weight_hy must be (O, H) with H = weight_ih.shape[0] = {hidden} columns, "
                f"got shape {tuple(weight_hy.shape)}"
            )
    if isinstance(biases, Tensor) or not isinstance(biases, Iterable):
        raise TypeError(
            f"biases must be a tuple or list of tensors, got {type(biases).__name__}"
            + ("; wrap a single bias as biases=(b,)" if isinstance(biases, Tensor) else "")
        )
    biases = list(biases)
    for i, bias in enumerate(biases):
        if bias is not None:
            check_float_tensor(f"biases[{i}]", bias)
    generator = _check_generator(generator)

    with torch.no_grad():
        weight_ih.copy_(_gaussian(tuple(weight_ih.shape), params.std, weight_ih, generator))
        if params.nonzeros_per_unit is None:
            weight_hh.copy_(_gaussian((hidden, hidden), params.std_hh, weight_hh, generator))
        else:
            # torch's weight_hh is the code's W_hh transposed: its rows are our columns.
            sparse_(
                weight_hh.T,
                min(params.nonzeros_per_unit, hidden),
                params.std_hh,
                radius=params.radius,
                generator=generator,
            )
        if weight_hy is not None:
            weight_hy.copy_(_gaussian(tuple(weight_hy.shape), params.std, weight_hy, generator))
        for bias in biases:
            if bias is not None:
                bias.zero_()


def pascanu_cell_(
    cell: Elman | nn.RNNCell,
    scheme: str,
    readout: nn.Linear | None = None,
    *,
    generator: torch.Generator | None = None,
) -> Elman | nn.RNNCell:
    """Apply :func:`pascanu_` to an Elman cell (and its readout), checking the nonlinearity.

    ``cell.weight_ih``, ``cell.weight_hh`` and (if given) ``readout.weight`` are drawn as in
    the scheme; ``cell.bias_ih``, ``cell.bias_hh`` and ``readout.bias`` (where they exist) are
    zeroed. The code has one recurrent bias ``b_hh``; torch-layout cells have two, both zero
    here, which is the same network.

    Source: Pascanu, Mikolov & Bengio 2013, §5, and ``RNN.py`` of their code.

    Args:
        cell: an :class:`rnnlab.cells.Elman` or a :class:`torch.nn.RNNCell` whose nonlinearity
            is ``PASCANU_ACTIVATION[scheme]``.
        scheme: ``"sigmoid"``, ``"basic_tanh"`` or ``"smart_tanh"``.
        readout: the output layer ``y = readout(h)``, an ``nn.Linear`` with
            ``in_features == cell.hidden_size``, or None (default).
        generator: source of the draws (default None: torch's global generator).

    Returns:
        ``cell``.

    Raises:
        ValueError: unknown scheme; the cell's nonlinearity is not the scheme's; the readout's
            ``in_features`` is not the cell's hidden size.
        TypeError: ``cell`` or ``readout`` of the wrong type.
    """
    params = _check_scheme(scheme)
    if not isinstance(cell, (Elman, nn.RNNCell)):
        raise TypeError(
            f"cell must be an rnnlab.cells.Elman or a torch.nn.RNNCell, got {type(cell).__name__}"
        )
    if cell.nonlinearity != params.activation:
        matching = [name for name, act in PASCANU_ACTIVATION.items() if act == cell.nonlinearity]
        hint = f" or use a scheme for {cell.nonlinearity} units: {matching}" if matching else ""
        raise ValueError(
            f"scheme {scheme!r} is for {params.activation} units, but the cell's nonlinearity is "
            f"{cell.nonlinearity!r}; build the cell with nonlinearity={params.activation!r}{hint}"
        )
    if readout is not None:
        if not isinstance(readout, nn.Linear):
            raise TypeError(
                f"readout must be a torch.nn.Linear or None, got {type(readout).__name__}"
            )
        if readout.in_features != cell.hidden_size:
            raise ValueError(
                f"readout must read the cell's hidden state: in_features = hidden_size = "
                f"{cell.hidden_size}, got in_features = {readout.in_features}"
            )
    pascanu_(
        cell.weight_ih,
        cell.weight_hh,
        None if readout is None else readout.weight,
        biases=(cell.bias_ih, cell.bias_hh, None if readout is None else readout.bias),
        scheme=scheme,
        generator=generator,
    )
    return cell


def _check_scheme(scheme: object) -> PascanuScheme:
    return PASCANU_SCHEMES[check_choice("scheme", scheme, tuple(PASCANU_SCHEMES))]
