"""The RNN Transducer (Graves 2012, "Sequence transduction with recurrent neural networks")."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnlab import cells
from rnnlab._checks import check_choice, check_size
from rnnlab.cells.base import Cell, State
from rnnlab.decoding.transducer import (
    transducer_beam_search,
    transducer_greedy_search,
    transducer_modified_beam_search,
)
from rnnlab.layers.recurrent import Recurrent
from rnnlab.losses.rnnt import rnnt_loss
from rnnlab.losses.rnnt_additive import rnnt_loss_additive
from rnnlab.models.encoder import Encoder, LabelModel, check_targets, unpack_batch
from rnnlab.tasks.pairs import SequencePairs

JOINTS = ("additive", "mlp")
METHODS = ("greedy", "beam", "modified_beam")


class Transducer(LabelModel):
    r"""Transcription network, prediction network and joint (Graves 2012 §2; Graves et al. 2013).

    With ``K = n_labels`` labels ``0..K-1`` and the blank ∅ as the last class (id ``K``, so
    ``V = K + 1`` outputs, torchaudio's ``blank=-1``):

    - transcription: ``h, T' = encoder(x, lengths)`` (T', B, H), then ``f_t = W_f h_t + b_f``;
    - prediction: a unidirectional recurrent cell over ``ŷ = (∅, y_1, ..., y_U)``, with input
      ``onehot_K(y_u)`` and ∅ encoded as the all-zero vector (Graves 2012 §2.2):
      ``p_u, s_u = cell(onehot_K(ŷ_u), s_{u-1})``, then ``g_u = W_g p_u + b_g``;
    - joint ``"additive"`` (Graves 2012, eq. 11–12): ``f_t, g_u ∈ R^V`` and
      ``z(t, u) = f_t + g_u``, ``Pr(k | t, u) = softmax(z(t, u))_k``;
    - joint ``"mlp"`` (Graves et al. 2013, §3.1): ``f_t, g_u ∈ R^J`` and
      ``z(t, u) = W_out tanh(f_t + g_u) + b_out`` (the bias ``b`` of ``W_f f + W_g g + b`` is
      ``b_f``; ``b_g`` is absent).

    The projections ``W_f``, ``W_g`` are applied once in :meth:`encode` and :meth:`predict`, so
    :meth:`join` costs only an addition (and the output layer for ``"mlp"``); decoders never run
    the full (T, U) joint.

    Args:
        encoder: the transcription network's recurrent part (:class:`Encoder`).
        n_labels: ``K``, the number of labels (>= 1).
        joint: ``"additive"`` (default) or ``"mlp"``.
        prediction_cell: any rnnlab cell with ``input_size = n_labels`` for the prediction
            network; default ``rnnlab.cells.LSTM(n_labels, prediction_size)`` (one LSTM layer, as
            Graves 2012).
        prediction_size: hidden units of the default prediction LSTM (default 64).
        joint_size: ``J``, the hidden units of the ``"mlp"`` joint (default 64; unused by
            ``"additive"``, whose joint space is ``V``).

    Shapes: ``sources`` (T, B, F) time-major, ``source_lengths`` (B,), ``targets`` (B, U) int64
    batch-major padded, ``target_lengths`` (B,) in [0, U].
    """

    def __init__(
        self,
        encoder: Encoder,
        n_labels: int,
        *,
        joint: str = "additive",
        prediction_cell: Cell | None = None,
        prediction_size: int = 64,
        joint_size: int = 64,
    ) -> None:
        super().__init__(encoder, n_labels)
        self.joint = check_choice("joint", joint, JOINTS)
        check_size("prediction_size", prediction_size)
        check_size("joint_size", joint_size)
        if prediction_cell is None:
            prediction_cell = cells.LSTM(n_labels, prediction_size)
        if not isinstance(prediction_cell, Cell):
            raise TypeError(
                f"prediction_cell must be an rnnlab Cell, got {type(prediction_cell).__name__}"
            )
        if prediction_cell.input_size != n_labels:
            raise ValueError(
                f"prediction_cell.input_size must be n_labels={n_labels} (one-hot labels), "
                f"got {prediction_cell.input_size}"
            )
        self.prediction = Recurrent(prediction_cell)
        size = self.vocab_size if joint == "additive" else joint_size
        self.joint_input_size = size
        self.project_f = nn.Linear(encoder.output_size, size)
        self.project_g = nn.Linear(prediction_cell.output_size, size, bias=joint == "additive")
        self.output = nn.Linear(joint_size, self.vocab_size) if joint == "mlp" else None

    # ---------------------------------------------------------------- the pieces decoders use
    def encode(
        self, sources: Tensor, source_lengths: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """Transcription: ``sources`` (T, B, F) -> ``f`` (T', B, joint_input_size) and
        ``lengths'`` (B,) (frame stacking shortens T to T')."""
        h, lengths = self.encoder(sources, source_lengths)
        return self.project_f(h), lengths

    def initial_prediction_state(self, batch_size: int, *, device=None, dtype=None) -> State:
        """The prediction network's state before ∅: zeros, (N, ...) per leaf."""
        return self.prediction.initial_state(batch_size, device=device, dtype=dtype)

    def predict(self, tokens: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """One prediction step: ``tokens`` (N,) int64 in [0, K], where ``K`` (the blank) stands
        for ∅ (the all-zero input) -> ``g`` (N, joint_input_size) and the new state.

        ``state`` is None (the initial state) or what a previous call returned.
        """
        if not isinstance(tokens, Tensor) or tokens.dim() != 1 or tokens.is_floating_point():
            shape = tuple(tokens.shape) if isinstance(tokens, Tensor) else type(tokens).__name__
            raise ValueError(f"tokens must be a (N,) integer tensor, got {shape}")
        if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) > self.n_labels):
            raise ValueError(
                f"tokens must be in [0, {self.n_labels}] ({self.n_labels} = ∅), "
                f"got {tokens.tolist()}"
            )
        x = self._one_hot(tokens.long())  # (N, K)
        if state is None:
            state = self.initial_prediction_state(x.shape[0], device=x.device, dtype=x.dtype)
        p, state = self.prediction.cell(x, state)
        return self.project_g(p), state

    def predict_targets(self, targets: Tensor) -> Tensor:
        """The prediction network over ``(∅, y_1, ..., y_U)``: ``targets`` (B, U) labels (checked
        by the caller) -> ``g`` (B, U+1, joint_input_size); ``g[:, u]`` has read ``y_1..y_u``."""
        B = targets.shape[0]
        start = torch.full((B, 1), self.blank, dtype=torch.int64, device=targets.device)
        tokens = torch.cat([start, targets], dim=1).t()  # (U+1, B)
        p, _ = self.prediction(self._one_hot(tokens))  # (U+1, B, P)
        return self.project_g(p).transpose(0, 1)  # (B, U+1, J)

    def join(self, f: Tensor, g: Tensor) -> Tensor:
        """Joint logits ``z`` (..., V) from ``f`` and ``g`` (..., joint_input_size), broadcast:
        ``f + g`` (additive) or ``W_out tanh(f + g) + b_out`` (mlp)."""
        z = f + g
        return z if self.output is None else self.output(torch.tanh(z))

    def _one_hot(self, tokens: Tensor) -> Tensor:
        """``onehot_K(token)``, with ∅ (= K) as the zero vector, in the parameters' dtype."""
        dtype = self.project_g.weight.dtype
        return nn.functional.one_hot(tokens, self.vocab_size)[..., : self.n_labels].to(dtype)

    # --------------------------------------------------------------------- training interface
    def forward(
        self,
        sources: Tensor,
        source_lengths: Tensor | None,
        targets: Tensor,
        target_lengths: Tensor,
    ) -> tuple[Tensor, Tensor]:
        """The full joint: ``logits`` (B, T', U+1, V), ``logits[b, t, u] = z(t, u)``, and
        ``logit_lengths`` (B,). ``T' = max(logit_lengths)``; ``U = targets.shape[1]``."""
        f, g, lengths, _, _ = self._parts(sources, source_lengths, targets, target_lengths)
        return self.join(f.unsqueeze(2), g.unsqueeze(1)), lengths

    def _parts(self, sources, source_lengths, targets, target_lengths):
        """``f`` (B, T', J), ``g`` (B, U+1, J), and checked lengths and targets."""
        f, lengths = self.encode(sources, source_lengths)
        targets, target_lengths = check_targets(targets, target_lengths, f.shape[1], self.n_labels)
        f = f[: int(lengths.max())].transpose(0, 1)  # (B, T', J)
        g = self.predict_targets(targets.to(f.device))  # (B, U+1, J)
        return f, g, lengths, targets, target_lengths

    def loss(
        self,
        sources: Tensor | SequencePairs,
        source_lengths: Tensor | None = None,
        targets: Tensor | None = None,
        target_lengths: Tensor | None = None,
    ) -> Tensor:
        """The batch mean of ``-ln Pr(y | x)`` (Graves 2012 eq. 17), a scalar.

        Takes a :class:`~rnnlab.tasks.pairs.SequencePairs` batch alone, or the four tensors.
        The additive joint uses :func:`rnnlab.losses.rnnt_additive.rnnt_loss_additive` (the
        (B, T', U+1, V) tensor is never formed); the mlp joint forms the logits and uses
        :func:`rnnlab.losses.rnnt.rnnt_loss`.
        """
        sources, source_lengths, targets, target_lengths = unpack_batch(
            sources, source_lengths, targets, target_lengths
        )
        f, g, lengths, targets, target_lengths = self._parts(
            sources, source_lengths, targets, target_lengths
        )
        targets, lengths, target_lengths = (
            tensor.to(f.device) for tensor in (targets, lengths, target_lengths)
        )
        if self.output is None:
            return rnnt_loss_additive(f, g, targets, lengths, target_lengths, blank=self.blank)
        logits = self.join(f.unsqueeze(2), g.unsqueeze(1))  # (B, T', U+1, V)
        return rnnt_loss(logits, targets, lengths, target_lengths, blank=self.blank)

    @torch.no_grad()
    def decode(
        self,
        sources: Tensor,
        source_lengths: Tensor | None = None,
        method: str = "greedy",
        *,
        beam: int = 4,
        max_symbols_per_frame: int = 4,
        length_norm: bool = True,
    ) -> list[list[int]]:
        """The label sequence of each source, by one of :mod:`rnnlab.decoding.transducer`'s
        searches.

        Args:
            sources, source_lengths: (T, B, F) and (B,) (None: all T).
            method: ``"greedy"`` (default; at most ``max_symbols_per_frame`` labels per frame),
                ``"beam"`` (Graves 2012 Algorithm 1) or ``"modified_beam"`` (batched, at most one
                label per frame).
            beam: the beam width ``W`` of the beam searches (default 4).
            max_symbols_per_frame: the cap on labels per frame of the greedy search (default
                4). ``"beam"`` runs Algorithm 1 as published, without a cap: a capped
                hypothesis must leave its frame through ∅, and the low ``Pr(∅)`` of a frame in
                which the model emits a burst of labels (a word spelled out within one stacked
                frame) pushes the right hypothesis out of the beam. For a cap (a guard against a
                model that rarely emits ∅) call
                :func:`~rnnlab.decoding.transducer.transducer_beam_search` directly.
            length_norm: the beam searches pick ``argmax log Pr(y) / |y|`` (default True, as
                Graves 2012) instead of ``argmax log Pr(y)``.
        """
        check_choice("method", method, METHODS)
        check_size("beam", beam)
        check_size("max_symbols_per_frame", max_symbols_per_frame)
        f, lengths = self.encode(sources, source_lengths)
        if method == "greedy":
            return transducer_greedy_search(
                self, f, lengths, max_symbols_per_frame=max_symbols_per_frame
            )
        if method == "beam":
            beams = transducer_beam_search(self, f, lengths, beam=beam, length_norm=length_norm)
        else:
            beams = transducer_modified_beam_search(
                self, f, lengths, beam=beam, length_norm=length_norm
            )
        return [list(hypotheses[0].labels) for hypotheses in beams]
