"""A temporal convolutional network where rnnlab expects a recurrent layer.

:class:`TemporalConvLayer` gives a :class:`~rnnlab.conv.temporal.TemporalConvNet` the interface
of rnnlab's layers — time-major ``(T, B, F)`` sequences in, ``forward(x, state=None) ->
(outputs, final_state)`` — so that :class:`~rnnlab.models.sequence.SequenceModel`, the training
loop (:func:`rnnlab.training.train`) and seed ensembles
(:func:`rnnlab.training.train_ensemble`, whose ``"loop"`` method takes any module) train it
like any recurrent model. :func:`tcn_model` builds one for a task, as
:func:`~rnnlab.models.factory.build_model` does for the cells.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from rnnlab._checks import check_bool, check_sequence, check_size
from rnnlab.conv.temporal import TemporalConvNet
from rnnlab.models.sequence import SequenceModel
from rnnlab.tasks.base import Task

__all__ = ["TemporalConvLayer", "tcn_model"]


class TemporalConvLayer(nn.Module):
    """A :class:`~rnnlab.conv.temporal.TemporalConvNet` over time-major sequences.

    ``outputs = net(x.permute(1, 2, 0)).permute(2, 0, 1)``: the net's (N, C, L) layout is
    rnnlab's (T, B, F) with the axes moved. A convolution carries no state from one call to the
    next: the final state is always None, and a given ``state`` is refused.

    Args:
        input_size: features per step.
        channels: output channels of each block (their number is the depth, ``levels``).
        kernel_size: ``k`` of every convolution (default 2, Bai's).
        dropout: drop probability after every convolution's ReLU (default 0).
        batch_first: ``x`` and ``outputs`` are (B, T, F) instead of (T, B, F) (default False).

    Forward: ``x`` (T, B, input_size) -> ``(outputs (T, B, channels[-1]), None)``.
    """

    def __init__(
        self,
        input_size: int,
        channels: Sequence[int],
        kernel_size: int = 2,
        dropout: float = 0.0,
        batch_first: bool = False,
    ) -> None:
        super().__init__()
        self.net = TemporalConvNet(input_size, channels, kernel_size, dropout)
        self.batch_first = check_bool("batch_first", batch_first)

    @property
    def input_size(self) -> int:
        return self.net.in_channels

    @property
    def output_size(self) -> int:
        return self.net.out_channels

    @property
    def receptive_field(self) -> int:
        """Steps the output at ``t`` sees: ``t-R+1 .. t`` (:func:`rnnlab.conv.temporal.
        receptive_field`)."""
        return self.net.receptive_field

    def forward(self, x: Tensor, state: None = None) -> tuple[Tensor, None]:
        if state is not None:
            raise ValueError(
                "state must be None: a temporal convolutional network carries no state between "
                f"calls (pass the whole sequence), got {type(state).__name__}"
            )
        x = check_sequence("x", x, self.input_size, batch_first=self.batch_first)
        layout = (0, 2, 1) if self.batch_first else (1, 2, 0)  # -> (B, F, T)
        y = self.net(x.permute(*layout))  # (B, C, T)
        outputs = y.transpose(1, 2) if self.batch_first else y.permute(2, 0, 1)
        return outputs, None


def tcn_model(
    task: Task,
    channels: Sequence[int],
    kernel_size: int = 2,
    dropout: float = 0.0,
    *,
    seed: int = 0,
) -> SequenceModel:
    """A temporal convolutional network with a linear readout suited to ``task``: of the last
    step's output (Bai's adding problem and sequential MNIST) or of every step's (the copy task).

    Args:
        task: fixes the input and output sizes and whether every step is read out.
        channels: output channels of each block, e.g. ``[30] * 8``.
        kernel_size, dropout: as :class:`TemporalConvLayer`.
        seed: the initial weights depend on this alone (the global RNG is left as is).

    The model's parameter count (``sum(p.numel() for p in model.parameters())``) includes the
    weight norms' ``g`` and the readout.
    """
    if not isinstance(task, Task):
        raise TypeError(
            f"task must be a rnnlab.tasks.Task (one scored per sequence or per step), got "
            f"{type(task).__name__}"
        )
    check_size("seed", seed, minimum=0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        layer = TemporalConvLayer(task.input_size, channels, kernel_size, dropout)
        readout = "every" if task.scored_every_step else "last"
        return SequenceModel(layer, task.output_size, readout=readout)
