r"""Echo state network: a fixed random reservoir and a linear readout fitted by ridge regression.

Jaeger 2001 (GMD Report 148) with ReservoirPy's model semantics (``reservoirpy.ESN`` and
``Model.fit``/``run``, version 0.4.2; ``docs/reservoir_computing.md``, "Echo state network").
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnlab._checks import check_bool, check_float_tensor, check_real, check_size
from rnnlab.cells.reservoir import Reservoir
from rnnlab.models.ridge import fit_ridge

__all__ = ["ESN"]


class ESN(nn.Module):
    r"""A :class:`~rnnlab.cells.reservoir.Reservoir` followed by a ridge-regression readout.

    .. math::
        x_t = (1 - \alpha) \odot x_{t-1} + \alpha \odot f(W x_{t-1} + W_{in} u_t + b),
        \qquad \hat y_t = W_{out} z_t + b_{out},\quad z_t = x_t \text{ or } [x_t; u_t]

    in code: ``states, _ = reservoir.scan(u, x)``; ``y = features @ weight_out.T + bias_out``
    with ``features = states`` (or ``cat([states, u], -1)`` when ``input_to_readout``).

    Stateful like ReservoirPy's nodes: the ESN keeps the reservoir state between calls.
    :meth:`fit` runs the reservoir from the stored state, fits the readout and stores the final
    state, so that :meth:`run` on the test inputs continues where training stopped — the
    ReservoirPy README protocol (``esn.fit(x_train, y_train, warmup=100); esn.run(x_test)``).
    :meth:`reset` forgets the state (zeros); :meth:`forward` is the pure, stateless form.

    Args:
        reservoir: the fixed reservoir (its weights are shared, not copied).
        output_size: features ``O`` of the targets.
        ridge: the readout's regularisation ``λ >= 0`` (default 0.0, ReservoirPy's ``Ridge``).
        fit_bias: fit an unregularised readout bias (default True, as ReservoirPy).
        input_to_readout: the readout also sees the input, ``z_t = [x_t; u_t]`` (default False;
            ReservoirPy's ``ESN(input_to_readout=True)``).

    Shapes: inputs ``u`` are (T, input_size) or, for a batch of B sequences run side by side,
    (T, B, input_size) — time-major as everywhere in rnnlab; targets and predictions follow with
    ``output_size``. A batch is what ReservoirPy calls a multi-series input: every sequence
    starts from the (stored) state, and :meth:`fit` fits one readout on the states of all of
    them. The stored :attr:`state` is (units,) after an unbatched call and (B, units) after a
    batched one; it must match the next call's layout unless reset.

    Dtypes: the state, the readout and the predictions have the reservoir's dtype (inputs and
    targets must have it too); the ridge solve itself runs in float64. Use a float64 reservoir
    for ReservoirPy-level precision (ReservoirPy computes in float64).

    Buffers: ``weight_out`` (O, F), ``bias_out`` (O,), ``fitted`` (bool), and the
    non-persistent ``state`` (None until a run, and after :meth:`reset`), with
    ``F = units (+ input_size)``.
    """

    weight_out: Tensor
    bias_out: Tensor
    fitted: Tensor
    state: Tensor | None

    def __init__(
        self,
        reservoir: Reservoir,
        output_size: int,
        *,
        ridge: float = 0.0,
        fit_bias: bool = True,
        input_to_readout: bool = False,
    ) -> None:
        super().__init__()
        if not isinstance(reservoir, Reservoir):
            raise TypeError(
                f"reservoir must be an rnnlab.cells.Reservoir, got {type(reservoir).__name__}"
            )
        self.reservoir = reservoir
        self.input_size = reservoir.input_size
        self.output_size = check_size("output_size", output_size)
        self.ridge = check_real("ridge", ridge)
        if self.ridge < 0:
            raise ValueError(f"ridge must be >= 0, got {self.ridge}")
        self.fit_bias = check_bool("fit_bias", fit_bias)
        self.input_to_readout = check_bool("input_to_readout", input_to_readout)
        self.feature_size = reservoir.units + (self.input_size if self.input_to_readout else 0)
        factory = {"dtype": reservoir.weight_in.dtype, "device": reservoir.weight_in.device}
        self.register_buffer(
            "weight_out", torch.zeros(self.output_size, self.feature_size, **factory)
        )
        self.register_buffer("bias_out", torch.zeros(self.output_size, **factory))
        self.register_buffer("fitted", torch.tensor(False, device=factory["device"]))
        self.register_buffer("state", None, persistent=False)

    # ------------------------------------------------------------------------------ stateful API
    def fit(self, inputs: Tensor, targets: Tensor, *, warmup: int = 0) -> ESN:
        """Run the reservoir over ``inputs`` from the stored state, drop the first ``warmup``
        states, fit the readout on the rest with :func:`~rnnlab.models.ridge.fit_ridge`, and
        store the final state (ReservoirPy's ``Model.fit``).

        Args:
            inputs: ``u`` (T, input_size) or (T, B, input_size).
            targets: (T, output_size) or (T, B, output_size), the same layout as ``inputs``:
                ``targets[t]`` is what the readout of ``x_t`` should give.
            warmup: leading steps left out of the regression (their states still run), in
                ``[0, T)`` (default 0).

        Returns:
            self.
        """
        u, batched = self._sequence("inputs", inputs, self.input_size)
        y, batched_y = self._sequence("targets", targets, self.output_size)
        if batched != batched_y or y.shape[:2] != u.shape[:2]:
            raise ValueError(
                f"targets must have the steps (and batch) of inputs, shape "
                f"{(*inputs.shape[:-1], self.output_size)}, got {tuple(targets.shape)}"
            )
        steps = u.shape[0]
        warmup = check_size("warmup", warmup, minimum=0)
        if warmup >= steps:
            raise ValueError(f"warmup must be < the number of steps T={steps}, got {warmup}")
        with torch.no_grad():
            states, final = self.reservoir.scan(u, self._start("inputs", u, batched))
            features = self._features(states, u)[warmup:]  # (T - warmup, B, F)
            weight, bias = fit_ridge(
                features.reshape(-1, self.feature_size),
                y[warmup:].reshape(-1, self.output_size),
                ridge=self.ridge,
                fit_bias=self.fit_bias,
            )
            self.weight_out.copy_(weight)
            if bias is None:
                self.bias_out.zero_()
            else:
                self.bias_out.copy_(bias)
            self.fitted.fill_(True)
        self._store(final, batched)
        return self

    def run(self, inputs: Tensor) -> Tensor:
        """Predictions for ``inputs`` (T, input_size) or (T, B, input_size), continuing from the
        stored state and storing the final one (ReservoirPy's ``run``). Returns (T, output_size)
        or (T, B, output_size)."""
        u, batched = self._sequence("inputs", inputs, self.input_size)
        predictions, final = self._predict(u, self._start("inputs", u, batched))
        self._store(final, batched)
        return predictions if batched else predictions.squeeze(1)

    def reset(self) -> Tensor | None:
        """Forget the stored state (the next call starts from zeros); returns the old one."""
        previous, self.state = self.state, None
        return previous

    def generate(self, n_steps: int, *, warmup_inputs: Tensor) -> Tensor:
        """Closed loop: run ``warmup_inputs`` from the stored state, then feed each prediction
        back as the next input.

        The prediction after the last warm-up input is the first generated value; generated
        value ``k`` is the readout after the reservoir has taken the warm-up and generated
        values ``0..k−1`` as inputs. The stored state is updated to the one that produced the
        last generated value (it has not consumed that value yet), like after :meth:`run`.

        Args:
            n_steps: values to generate (>= 1).
            warmup_inputs: (T, input_size) or (T, B, input_size), T >= 1, teacher-forced.

        Returns:
            (n_steps, output_size) or (n_steps, B, output_size).

        Requires ``output_size == input_size`` (the prediction is the next input).
        """
        if self.output_size != self.input_size:
            raise ValueError(
                f"generate feeds predictions back as inputs, so it needs output_size == "
                f"reservoir.input_size, got output_size={self.output_size} and "
                f"input_size={self.input_size}"
            )
        n_steps = check_size("n_steps", n_steps)
        u, batched = self._sequence("warmup_inputs", warmup_inputs, self.input_size)
        predictions, state = self._predict(u, self._start("warmup_inputs", u, batched))
        value = predictions[-1]  # (B, O)
        generated = [value]
        for _ in range(n_steps - 1):
            _, state = self.reservoir(value, state)
            value = self._readout(self._features(state, value))
            generated.append(value)
        self._store(state, batched)
        out = torch.stack(generated)  # (n_steps, B, O)
        return out if batched else out.squeeze(1)

    # ------------------------------------------------------------------------------ pure API
    def forward(self, inputs: Tensor, state: Tensor | None = None) -> Tensor:
        """Predictions for ``inputs`` from ``state`` (zeros if None), leaving the stored state
        untouched. ``state`` is (units,) for unbatched inputs (T, input_size) and (B, units) for
        (T, B, input_size). Differentiable with respect to ``inputs`` and ``state``."""
        u, batched = self._sequence("inputs", inputs, self.input_size)
        zeros = self.reservoir.initial_state(u.shape[1])
        if state is None:
            start = zeros
        else:
            expected = zeros.shape if batched else zeros.shape[1:]
            if not isinstance(state, Tensor):
                raise TypeError(f"state must be a tensor or None, got {type(state).__name__}")
            if state.shape != expected:
                raise ValueError(
                    f"state must have shape {tuple(expected)} for inputs of shape "
                    f"{tuple(inputs.shape)}, got {tuple(state.shape)}"
                )
            start = state if batched else state.unsqueeze(0)
        predictions, _ = self._predict(u, start)
        return predictions if batched else predictions.squeeze(1)

    # ------------------------------------------------------------------------------ helpers
    def _predict(self, u: Tensor, start: Tensor) -> tuple[Tensor, Tensor]:
        if not bool(self.fitted):
            raise RuntimeError("the ESN's readout is not fitted yet: call fit(inputs, targets)")
        states, final = self.reservoir.scan(u, start)  # (T, B, N), (B, N)
        return self._readout(self._features(states, u)), final

    def _features(self, states: Tensor, u: Tensor) -> Tensor:
        return torch.cat([states, u], -1) if self.input_to_readout else states

    def _readout(self, features: Tensor) -> Tensor:
        return nn.functional.linear(features, self.weight_out, self.bias_out)

    def _sequence(self, name: str, value: object, size: int) -> tuple[Tensor, bool]:
        """``value`` as (T, B, size) and whether it was batched; checks layout, dtype, device."""
        value = check_float_tensor(name, value)
        if value.dim() not in (2, 3) or value.shape[-1] != size or 0 in value.shape:
            raise ValueError(
                f"{name} must be (T, {size}) or (T, B, {size}) with T, B >= 1, got "
                f"{tuple(value.shape)}"
            )
        reference = self.weight_out
        if value.dtype != reference.dtype or value.device != reference.device:
            raise TypeError(
                f"{name} must have the ESN's dtype {reference.dtype} on {reference.device}, "
                f"got {value.dtype} on {value.device} (convert with "
                f"{name}.to({reference.dtype}))"
            )
        batched = value.dim() == 3
        return (value if batched else value.unsqueeze(1)), batched

    def _start(self, name: str, u: Tensor, batched: bool) -> Tensor:
        """The stored state as (B, units), or zeros; refuses a layout mismatch."""
        batch = u.shape[1]
        if self.state is None:
            return self.reservoir.initial_state(batch)
        expected = (batch, self.reservoir.units) if batched else (self.reservoir.units,)
        if tuple(self.state.shape) != expected:
            raise ValueError(
                f"{name} of shape {tuple(u.shape if batched else u.squeeze(1).shape)} needs a "
                f"stored state of shape {expected}, but the ESN holds one of shape "
                f"{tuple(self.state.shape)} from its last call; call reset() first"
            )
        return self.state if batched else self.state.unsqueeze(0)

    def _store(self, final: Tensor, batched: bool) -> None:
        final = final.detach()
        self.state = final if batched else final.squeeze(0)

    def extra_repr(self) -> str:
        return (
            f"output_size={self.output_size}, ridge={self.ridge:g}, fit_bias={self.fit_bias}, "
            f"input_to_readout={self.input_to_readout}, fitted={bool(self.fitted)}"
        )
