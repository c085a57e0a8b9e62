"""The acoustic encoder shared by the transducer and CTC models, and the checks of their batches.

Both models read a padded batch of feature sequences ``sources`` (T, B, F) with
``source_lengths`` (B,) and score label sequences ``targets`` (B, U) with ``target_lengths``
(B,). The encoder is what Graves (2012) calls the transcription network: optional frame
stacking (Sak et al. 2015, "Fast and accurate recurrent neural network acoustic models for
speech recognition", §2.2: ``k`` consecutive frames concatenated, one output every ``k`` frames)
followed by recurrent layers, bidirectional by default (Graves 2012 §2.1).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from rnnlab import cells
from rnnlab._checks import (
    check_bool,
    check_lengths,
    check_probability,
    check_sequence,
    check_size,
)
from rnnlab.cells.base import Cell
from rnnlab.layers.bidirectional import Bidirectional
from rnnlab.layers.padding import step_mask
from rnnlab.layers.recurrent import Recurrent
from rnnlab.layers.stack import Stack
from rnnlab.tasks.pairs import SequencePairs

CELLS = ("elman", "lstm", "gru")


def stack_frames(x: Tensor, lengths: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """Concatenate ``k`` consecutive frames, stride ``k`` (Sak et al. 2015 §2.2).

    ``y[s, b] = [x[s·k, b], x[s·k + 1, b], ..., x[s·k + k - 1, b]]`` where frames at or beyond
    each sequence's length (and beyond T) read as zeros, so a padded batch stacks exactly as each
    sequence would alone.

    Args:
        x: (T, B, F) frames.
        lengths: (B,) int64 valid frames per sequence, in [1, T].
        k: frames per stacked frame (>= 1).

    Returns:
        ``y`` (T', B, k·F) with ``T' = ceil(T / k)``, and ``lengths' = ceil(lengths / k)``.
    """
    T, B, F = x.shape
    mask = step_mask(lengths.to(x.device), T).unsqueeze(-1)  # (T, B, 1)
    x = x.masked_fill(~mask, 0.0)
    T_out = -(-T // k)
    x = nn.functional.pad(x, (0, 0, 0, 0, 0, T_out * k - T))  # (T'·k, B, F)
    x = x.view(T_out, k, B, F).permute(0, 2, 1, 3).reshape(T_out, B, k * F)  # (T', B, kF)
    return x, (lengths + k - 1) // k


class Encoder(nn.Module):
    """Frame stacking by ``stack_frames``, then any rnnlab recurrent layer.

    ``h, lengths' = layer(stack_frames(x, lengths, k), lengths')`` with ``h`` (T', B, H),
    ``T' = ceil(T / k)`` and ``lengths' = ceil(lengths / k)``. Padded steps of ``h`` are zero and
    never influence valid ones (the layers respect ``lengths``), so a padded batch gives each
    sequence the outputs it would get alone.

    Args:
        layer: a time-major :class:`~rnnlab.layers.Recurrent`, :class:`~rnnlab.layers.Bidirectional`
            or :class:`~rnnlab.layers.Stack`, reading ``stack_frames · input_size`` features.
        stack_frames: ``k``, frames concatenated into one step (default 1: no stacking).

    Attributes:
        input_size: features ``F`` of one frame (``layer.input_size / k``).
        output_size: features ``H`` of the outputs (``layer.output_size``).

    :meth:`build` makes the usual configuration from names.
    """

    def __init__(self, layer: nn.Module, *, stack_frames: int = 1) -> None:
        super().__init__()
        if not isinstance(layer, (Recurrent, Bidirectional, Stack)):
            raise TypeError(
                "layer must be an rnnlab Recurrent, Bidirectional or Stack layer, "
                f"got {type(layer).__name__}"
            )
        if layer.batch_first:
            raise ValueError("layer must be time-major (batch_first=False), got batch_first=True")
        self.layer = layer
        self.stack_frames = check_size("stack_frames", stack_frames)
        if layer.input_size % stack_frames:
            raise ValueError(
                f"stack_frames must divide layer.input_size={layer.input_size}, got {stack_frames}"
            )
        self.input_size = layer.input_size // stack_frames
        self.output_size = layer.output_size

    @classmethod
    def build(
        cls,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        *,
        cell: str | Callable[[int], Cell] = "lstm",
        bidirectional: bool = True,
        stack_frames: int = 1,
        dropout: float = 0.0,
    ) -> Encoder:
        """A stack of ``num_layers`` layers over frames stacked by ``stack_frames``.

        Args:
            input_size: features ``F`` of one frame.
            hidden_size: units per direction of each layer (``H = 2·hidden_size`` when
                bidirectional).
            num_layers: layers in depth (default 1).
            cell: ``"lstm"`` (default), ``"gru"``, ``"elman"`` (tanh), or ``make_cell(n_inputs)
                -> Cell`` for any other rnnlab cell (its output size is then the cell's).
            bidirectional: each layer reads both ways (default True, as Graves 2012).
            stack_frames: ``k`` for frame stacking (default 1).
            dropout: between layers, as in :class:`~rnnlab.layers.Stack` (default 0).
        """
        check_size("input_size", input_size)
        check_size("hidden_size", hidden_size)
        check_size("num_layers", num_layers)
        check_size("stack_frames", stack_frames)
        check_bool("bidirectional", bidirectional)
        check_probability("dropout", dropout)
        if isinstance(cell, str):
            if cell not in CELLS:
                raise ValueError(f"cell must be one of {list(CELLS)} or a callable, got {cell!r}")
            name = cell

            def make_cell(n: int) -> Cell:
                return cells.make(name, n, hidden_size)

        elif callable(cell):
            make_cell = cell
        else:
            raise TypeError(f"cell must be a name or a callable, got {type(cell).__name__}")
        layer = Stack.build(
            make_cell,
            input_size * stack_frames,
            num_layers,
            bidirectional=bidirectional,
            dropout=dropout,
        )
        return cls(layer, stack_frames=stack_frames)

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``x`` (T, B, input_size), ``lengths`` (B,) or None (all T) -> ``h`` (T', B, H) and
        ``lengths'`` (B,) int64."""
        x = check_sequence("sources", x, self.input_size, batch_first=False)
        T, B = x.shape[:2]
        if lengths is None:
            lengths = torch.full((B,), T, dtype=torch.int64, device=x.device)
        lengths = check_lengths(lengths, B, T)
        x, lengths = stack_frames(x, lengths, self.stack_frames)
        h, _ = self.layer(x, None, lengths)
        return h, lengths


class LabelModel(nn.Module):
    """What the transducer and CTC share: an :class:`Encoder` and ``K = n_labels`` labels
    ``0..K-1`` with the blank last (id ``K``, ``V = K + 1`` classes; torchaudio's ``blank=-1``).
    """

    def __init__(self, encoder: Encoder, n_labels: int) -> None:
        super().__init__()
        if not isinstance(encoder, Encoder):
            raise TypeError(f"encoder must be an rnnlab Encoder, got {type(encoder).__name__}")
        self.n_labels = check_size("n_labels", n_labels)
        self.encoder = encoder

    @property
    def blank(self) -> int:
        """The blank's id: ``n_labels`` (the last class)."""
        return self.n_labels

    @property
    def vocab_size(self) -> int:
        """``V = n_labels + 1`` classes, the blank last."""
        return self.n_labels + 1


def check_targets(
    targets: object, target_lengths: object, batch_size: int, n_labels: int
) -> tuple[Tensor, Tensor]:
    """Check a padded label batch and return ``(targets, target_lengths)`` as int64, with the
    padding (entries at or beyond each length) replaced by 0.

    Args:
        targets: (B, U) integer labels in [0, n_labels) up to each target's length; anything
            after it is padding and is ignored.
        target_lengths: (B,) integers in [0, U].
        batch_size: ``B`` of the sources.
        n_labels: ``K``, the number of labels (the blank is not one of them).
    """
    if not isinstance(targets, Tensor):
        raise TypeError(f"targets must be a (B, U) integer tensor, got {type(targets).__name__}")
    if targets.is_floating_point() or targets.is_complex() or targets.dtype == torch.bool:
        raise TypeError(f"targets must hold integer labels, got dtype {targets.dtype}")
    if targets.dim() != 2 or targets.shape[0] != batch_size:
        raise ValueError(
            f"targets must have shape (B={batch_size}, U) (batch-major), got {tuple(targets.shape)}"
        )
    if isinstance(target_lengths, (list, tuple)):
        target_lengths = torch.as_tensor(target_lengths)
    if not isinstance(target_lengths, Tensor):
        raise TypeError(
            f"target_lengths must be a (B,) integer tensor, got {type(target_lengths).__name__}"
        )
    if (
        target_lengths.is_floating_point()
        or target_lengths.is_complex()
        or target_lengths.dtype == torch.bool
    ):
        raise TypeError(f"target_lengths must hold integers, got dtype {target_lengths.dtype}")
    if target_lengths.shape != (batch_size,):
        raise ValueError(
            f"target_lengths must have shape ({batch_size},), got {tuple(target_lengths.shape)}"
        )
    U = targets.shape[1]
    target_lengths = target_lengths.to(device=targets.device, dtype=torch.int64)
    if batch_size and (int(target_lengths.min()) < 0 or int(target_lengths.max()) > U):
        raise ValueError(f"target_lengths must be in [0, U={U}], got {target_lengths.tolist()}")
    valid = torch.arange(U, device=targets.device) < target_lengths.unsqueeze(1)  # (B, U)
    targets = targets.long()
    bad = valid & ((targets < 0) | (targets >= n_labels))
    if bool(bad.any()):
        b, u = (int(i) for i in bad.nonzero()[0])
        raise ValueError(
            f"targets must be labels in [0, {n_labels}) (the blank {n_labels} is not a target), "
            f"got targets[{b}, {u}] = {int(targets[b, u])}"
        )
    return targets.masked_fill(~valid, 0), target_lengths


def unpack_batch(
    sources: Tensor | SequencePairs,
    source_lengths: Tensor | None,
    targets: Tensor | None,
    target_lengths: Tensor | None,
) -> tuple[Tensor, Tensor | None, Tensor, Tensor]:
    """``loss(batch)`` or ``loss(sources, source_lengths, targets, target_lengths)``: the four
    tensors either way."""
    if isinstance(sources, SequencePairs):
        if source_lengths is not None or targets is not None or target_lengths is not None:
            raise TypeError(
                "give either a SequencePairs batch alone or the four tensors "
                "(sources, source_lengths, targets, target_lengths), not both"
            )
        return sources.sources, sources.source_lengths, sources.targets, sources.target_lengths
    if targets is None or target_lengths is None:
        raise TypeError(
            "targets and target_lengths are required unless the first argument is a "
            "SequencePairs batch"
        )
    return sources, source_lengths, targets, target_lengths
