r"""Encoder–decoder (sequence-to-sequence) networks (DL book §10.4; Cho et al. 2014; Sutskever
et al. 2014), with attention (Bahdanau et al. 2014; Luong et al. 2015) and three stop rules.

The encoder (any rnnlab cell, uni- or bidirectional, stacked) reads the source ``x`` (S, B) and
leaves its top layer's outputs ``h_j`` (the *memory*, M features) and a summary ``C`` (B, M): the
output at each source's last step, or ``[h→_{L-1}, h←_0]`` for a bidirectional encoder. The
decoder (a unidirectional stack of the same cell) emits ``y_1, y_2, ...`` one token at a time
from the start symbol ``y_0 = <s>``. At step ``i``, with ``s_{i-1}`` the decoder's state:

.. math::
    x_i &= [E y_{i-1};\ c^{in}_i;\ \tilde h_{i-1}] \qquad s_i = \mathrm{RNN}(x_i, s_{i-1}) \\
    o_i &= \tanh(W_c [s_i;\ c_i]) \ \text{(attention)} \quad\text{or}\quad o_i = s_i \\
    P(y_i \mid y_{<i}, x) &= \mathrm{softmax}(W_o o_i + b_o)

where the parts of ``x_i`` in brackets are present only when chosen:

- ``context`` (DL book §10.2.4, Fig. 10.9): ``"init"`` starts the decoder from
  ``s_0 = tanh(W_b C)`` (one ``W_b`` per state tensor of every layer; zeros otherwise);
  ``"input"`` gives it a context ``c^{in}_i`` as an input at every step; ``"both"`` does both.
- ``attention``: ``"none"`` makes every context the fixed summary, ``c^{in}_i = C``; otherwise
  the context is read by :class:`~rnnlab.models.attention.Attention` (``"additive"``, ``"dot"``,
  ``"general"``). With context as an input (``"input"``/``"both"``), the query is the previous
  state ``s_{i-1}`` and ``c^{in}_i = c_i`` enters the recurrence, as in Bahdanau et al. 2014
  (§3.1: ``s_i = f(s_{i-1}, y_{i-1}, c_i)``, ``e_ij = a(s_{i-1}, h_j)``); with ``"init"`` the
  query is the new state ``s_i``, as in Luong et al. 2015 (§3). Either way the output reads
  ``[s_i; c_i]`` through Luong's attentional layer ``o_i = h̃_i = tanh(W_c [s_i; c_i])`` (eq. 5).
  The query ``s`` is the top decoder layer's first state tensor (``h`` for Elman, GRU and LSTM,
  the fed-back output for Jordan).
- ``input_feeding`` (Luong et al. 2015 §3.3; needs attention): ``h̃_{i-1}`` joins the input, so
  that the decoder knows its past alignment decisions (``h̃_0 = 0``).

Stop rules (DL book §10.2.3):

- ``"eos"``: the target gets ``</s>`` appended; generation ends when ``</s>`` is emitted.
- ``"unit"``: a Bernoulli stop unit ``p_i = σ(w · o_i + b)`` at every step, the probability of
  stopping *now*, before emitting ``y_i``: ``P(y) = Π_{i≤U} (1 − p_i) P(y_i | y_{<i}) · p_{U+1}``.
  Trained by binary cross-entropy with target 0 at steps 1..U and 1 at step U+1, the step
  where ``</s>`` would be (so empty targets are possible, and the steps scored are those of
  ``"eos"``).
- ``"length"``: a head ``P(U = k | x) = softmax(W_L C + b_L)_k``, ``k = 1 .. max_length``,
  trained by cross-entropy; generation emits exactly the predicted number of tokens.

The teacher-forced loss is the token cross-entropy averaged over the scored target tokens (pad
ignored), plus the mean stop-unit BCE or the mean length cross-entropy (:meth:`Seq2Seq.loss`).

Generation follows :class:`rnnlab.decoding.protocol.StepDecoder`: :meth:`Seq2Seq.start`
encodes once; :meth:`Seq2Seq.step` and :meth:`Seq2Seq.select` drive any search of
:mod:`rnnlab.decoding.search`, and :meth:`Seq2Seq.search` runs greedy or beam search under the
model's own stop rule (:meth:`Seq2Seq.stop_rule`). The state
carries the memory and its mask, batch-major, so ``select`` replicates and reorders them with
the hypotheses. The teacher-forced :meth:`Seq2Seq.forward` is the fast twin of stepping: when no
step's input depends on the step before but through the recurrence (no input feeding, no
input-side attention) it runs the decoder over all steps at once (fused scans) and attends for
all steps in one batched product; the tests compare it with :meth:`Seq2Seq.step` token by token.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from rnnlab import cells
from rnnlab._checks import (
    check_choice,
    check_lengths,
    check_like_parameters,
    check_real,
    check_sequence,
    check_size,
)
from rnnlab.cells.base import map_state, state_leaves
from rnnlab.decoding.search import Hypothesis, beam_search, greedy
from rnnlab.decoding.stop_rules import EndSymbol, FixedLength, StopRule, StopUnit
from rnnlab.layers.padding import step_mask
from rnnlab.layers.stack import Stack
from rnnlab.models.attention import Attention
from rnnlab.models.seq2seq_config import Seq2SeqConfig
from rnnlab.models.seq2seq_state import Seq2SeqState
from rnnlab.tasks.base import check_generator
from rnnlab.tasks.pairs import SequencePairs

FEEDS = ("argmax", "sample")  # how free-running steps pick the next input


@dataclass(frozen=True)
class Seq2SeqOutput:
    """What :meth:`Seq2Seq.forward` computes for a batch; ``U'`` is the number of decoder steps,
    U + 1 for stop rules "eos" and "unit" (the last step predicts </s> or stop), U for
    "length"."""

    log_probs: Tensor  # (U', B, V): step i's log P(token | tokens read so far)
    stop_logits: Tensor | None  # (U', B): logit of p_i, the stop unit (stop="unit")
    length_log_probs: Tensor | None  # (B, max_length): log P(U = k + 1) (stop="length")
    attention: Tensor | None  # (U', B, S): attention weights, zero on padded source steps
    inputs: Tensor  # (U', B): the tokens the decoder read (<s>, then truth or its own)


@dataclass(frozen=True)
class Seq2SeqLoss:
    total: Tensor  # tokens + stop + length
    tokens: Tensor  # mean cross-entropy over the scored target tokens
    stop: Tensor  # mean binary cross-entropy of the stop unit over the scored steps (or 0)
    length: Tensor  # mean cross-entropy of the length head over the batch (or 0)


class Seq2Seq(nn.Module):
    """Encoder–decoder with optional attention; see the module text for the equations.

    Args:
        config: a :class:`Seq2SeqConfig`.

    Parameters: ``source_embedding`` (token sources), ``encoder`` (a
    :class:`~rnnlab.layers.stack.Stack`), ``target_embedding``, ``decoder`` (a unidirectional
    Stack, stepped cell by cell when generating), ``bridge`` (context "init"/"both": one
    ``Linear(M, n)`` per state tensor per decoder layer), ``attention`` and ``combine`` (``W_c``,
    no bias) with attention, ``readout`` (``W_o``, ``b_o``), ``stop_unit`` (stop "unit"),
    ``length_head`` (stop "length"). Cells and linears use torch's default initialisation.
    """

    def __init__(self, config: Seq2SeqConfig) -> None:
        super().__init__()
        if not isinstance(config, Seq2SeqConfig):
            raise TypeError(f"config must be a Seq2SeqConfig, got {type(config).__name__}")
        self.config = c = config
        H = c.hidden_size
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(c.seed)
            self.source_embedding = (
                nn.Embedding(c.source_size, c.source_embedding_size) if c.source_tokens else None
            )
            encoder_input = c.source_embedding_size if c.source_tokens else c.source_size
            self.encoder = Stack.build(
                self._make_cell, encoder_input, c.encoder_layers, bidirectional=c.bidirectional
            )
            M = self.memory_size = self.encoder.output_size
            self.target_embedding = nn.Embedding(c.target_size, c.target_embedding_size)
            decoder_input = (
                c.target_embedding_size
                + (M if self.context_as_input else 0)
                + (H if c.input_feeding else 0)
            )
            self.decoder = Stack.build(self._make_cell, decoder_input, c.decoder_layers)
            self.bridge = None
            if c.context in ("init", "both"):
                self.bridge = nn.ModuleList(
                    nn.ModuleList(
                        nn.Linear(M, t.shape[-1]) for t in state_leaves(layer.initial_state(1))
                    )
                    for layer in self.decoder.layers
                )
            D = self.decoder.output_size
            self.attention = self.combine = None
            if c.attention != "none":
                top = state_leaves(self.decoder.layers[-1].initial_state(1))[0].shape[-1]
                query_size = top if self.context_as_input else D
                self.attention = Attention(c.attention, query_size, M, c.attention_size or H)
                self.combine = nn.Linear(D + M, H, bias=False)
            O = H if c.attention != "none" else D
            self.readout = nn.Linear(O, c.target_size)
            self.stop_unit = nn.Linear(O, 1) if c.stop == "unit" else None
            self.length_head = nn.Linear(M, c.max_length) if c.stop == "length" else None

    def _make_cell(self, input_size: int) -> cells.Cell:
        return cells.make(self.config.cell, input_size, self.config.hidden_size)

    @property
    def context_as_input(self) -> bool:
        """The context enters the decoder's input at every step (context "input" or "both")."""
        return self.config.context in ("input", "both")

    @property
    def stepwise_only(self) -> bool:
        """Some step's input depends on the previous step's output beyond the recurrence (input
        feeding, or attention queried by s_{i-1}), so even teacher forcing runs step by step."""
        return self.config.input_feeding or (self.attention is not None and self.context_as_input)

    # ------------------------------------------------------------------------ checks
    def _check_sources(self, sources: object, source_lengths: object) -> tuple[Tensor, Tensor]:
        c = self.config
        if c.source_tokens:
            sources = _check_int_tensor("sources", sources)
            if sources.dim() != 2:
                raise ValueError(
                    f"sources must be 2-D (S, B) token ids, got shape {tuple(sources.shape)}"
                )
            if sources.numel() == 0:
                raise ValueError(
                    f"sources must have at least one step and one sequence, got "
                    f"(S, B) = {tuple(sources.shape)}"
                )
            _check_ids("sources", sources, c.source_size)
        else:
            sources = check_sequence("sources", sources, c.source_size, batch_first=False)
            check_like_parameters("sources", sources, self)
        S, B = sources.shape[:2]
        lengths = check_lengths(source_lengths, B, S)
        longest = c.max_source_length
        if longest is not None and B and int(lengths.max()) > longest:
            raise ValueError(
                f"source_lengths must be <= the model's max_source_length={longest}, got a "
                f"source of {int(lengths.max())} steps"
            )
        return sources, lengths.to(sources.device)

    def _check_targets(self, targets: object, target_lengths: object, batch_size: int) -> tuple:
        c = self.config
        targets = _check_int_tensor("targets", targets)
        if targets.dim() != 2 or targets.shape[0] != batch_size:
            raise ValueError(
                f"targets must have shape (B, U) with B={batch_size} (batch-major),"
                f" got {tuple(targets.shape)}"
            )
        _check_ids("targets", targets, c.target_size)
        target_lengths = _check_int_tensor("target_lengths", target_lengths)
        if target_lengths.shape != (batch_size,):
            raise ValueError(
                f"target_lengths must have shape ({batch_size},), got {tuple(target_lengths.shape)}"
            )
        U = targets.shape[1]
        low = 1 if c.stop == "length" else 0
        if target_lengths.numel() and (
            int(target_lengths.min()) < low or int(target_lengths.max()) > U
        ):
            raise ValueError(
                f"target_lengths must be in [{low}, U={U}] (stop={c.stop!r}), got "
                f"{target_lengths.tolist()}"
            )
        if int(target_lengths.max()) > c.max_length:
            raise ValueError(
                f"target_lengths must be <= max_length={c.max_length}, got a "
                f"length of {int(target_lengths.max())}"
            )
        target_lengths = target_lengths.long().to(targets.device)
        if c.stop == "eos":
            valid = step_mask(target_lengths, U).T  # (B, U)
            if bool((targets.eq(c.eos) & valid).any()):
                raise ValueError(
                    f"targets must not contain </s> (id {c.eos}) within their "
                    "lengths: the model appends it (stop='eos')"
                )
        return targets.long(), target_lengths

    # ------------------------------------------------------------------------ encoding
    def encode(self, sources: Tensor, source_lengths: Tensor) -> tuple[Tensor, Tensor]:
        """The memory (S, B, M) (zero on padded steps) and the summary C (B, M)."""
        sources, lengths = self._check_sources(sources, source_lengths)
        return self._encode(sources, lengths)

    def _encode(self, sources: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        x = self.source_embedding(sources) if self.source_embedding is not None else sources
        memory, _ = self.encoder(x, lengths=lengths)  # (S, B, M)
        B = memory.shape[1]
        last = memory[lengths - 1, torch.arange(B, device=memory.device)]  # (B, M)
        if self.config.bidirectional:
            forward = self.encoder.layers[-1].forward_layer.output_size
            summary = torch.cat([last[:, :forward], memory[0, :, forward:]], dim=-1)
        else:
            summary = last
        return memory, summary

    def start(self, sources: Tensor, source_lengths: Tensor) -> Seq2SeqState:
        """Encode ``sources`` (S, B) ids or (S, B, F) features with ``source_lengths`` (B,) and
        return the decoder's state before its first step (B hypotheses)."""
        return self._start(*self._check_sources(sources, source_lengths))

    def _start(self, sources: Tensor, lengths: Tensor) -> Seq2SeqState:
        memory, summary = self._encode(sources, lengths)
        S, B = memory.shape[:2]
        factory = {"device": summary.device, "dtype": summary.dtype}
        if self.bridge is None:
            rnn = self.decoder.initial_state(B, **factory)
        else:
            states = []
            for layer, linears in zip(self.decoder.layers, self.bridge, strict=True):
                made = iter(linears)
                template = layer.initial_state(B, **factory)
                states.append(
                    map_state(lambda _, made=made: torch.tanh(next(made)(summary)), template)
                )
            rnn = tuple(states)
        batch_major = memory.transpose(0, 1) if self.attention is not None else None  # (B,S,M)
        return Seq2SeqState(
            rnn=rnn,
            feed=summary.new_zeros(B, self.config.hidden_size)
            if self.config.input_feeding
            else None,
            memory=batch_major,
            keys=self.attention.project(batch_major) if self.attention is not None else None,
            mask=step_mask(lengths, S).T,
            summary=summary,
            length_log_probs=torch.log_softmax(self.length_head(summary), dim=-1)
            if self.length_head is not None
            else None,
        )

    # ------------------------------------------------------------------------ decoding
    def _decode_step(self, embedded: Tensor, state: Seq2SeqState) -> tuple[Tensor, Seq2SeqState]:
        """One decoder step from the embedded previous token (N, E): o_i (N, O) and the state."""
        parts, context, weights = [embedded], None, None
        if self.context_as_input:
            if self.attention is None:
                parts.append(state.summary)
            else:
                query = state_leaves(state.rnn[-1])[0]  # s_{i-1} of the top layer (Bahdanau)
                context, weights = self.attention.attend(
                    query, state.keys, state.memory, state.mask
                )
                parts.append(context)
        if state.feed is not None:
            parts.append(state.feed)
        x = torch.cat(parts, dim=-1)
        rnn = []
        for layer, layer_state in zip(self.decoder.layers, state.rnn, strict=True):
            x, layer_state = layer.cell(x, layer_state)
            rnn.append(layer_state)
        if self.attention is None:
            out = x
        else:
            if context is None:  # queried by s_i (Luong)
                context, weights = self.attention.attend(x, state.keys, state.memory, state.mask)
            out = torch.tanh(self.combine(torch.cat([x, context], dim=-1)))
        return out, dataclasses.replace(
            state,
            rnn=tuple(rnn),
            feed=out if state.feed is not None else None,
            attention=weights,
        )

    def _heads(self, out: Tensor) -> tuple[Tensor, Tensor | None]:
        """Log-probs (..., V) and stop logits (...) or None from o (..., O)."""
        log_probs = torch.log_softmax(self.readout(out), dim=-1)
        stop = self.stop_unit(out).squeeze(-1) if self.stop_unit is not None else None
        return log_probs, stop

    def step(self, tokens: Tensor, state: Seq2SeqState) -> tuple[Tensor, Tensor | None, Any]:
        """:class:`~rnnlab.decoding.protocol.StepDecoder` step: the previous tokens (N,) int64
        (``config.bos`` first) -> log P(next token) (N, V), log P(stop now) (N,) (stop "unit";
        None otherwise) and the next state."""
        if not isinstance(state, Seq2SeqState):
            raise TypeError(
                f"state must be a Seq2SeqState (from start()), got {type(state).__name__}"
            )
        tokens = _check_int_tensor("tokens", tokens)
        if tokens.shape != (state.batch_size,):
            raise ValueError(
                f"tokens must have shape ({state.batch_size},), one per hypothesis, "
                f"got {tuple(tokens.shape)}"
            )
        _check_ids("tokens", tokens, self.config.target_size)
        out, state = self._decode_step(self.target_embedding(tokens), state)
        log_probs, stop = self._heads(out)
        return log_probs, (nn.functional.logsigmoid(stop) if stop is not None else None), state

    def select(self, state: Seq2SeqState, index: Tensor) -> Seq2SeqState:
        """:class:`~rnnlab.decoding.protocol.StepDecoder` select: hypotheses ``index`` (M,)."""
        if not isinstance(state, Seq2SeqState):
            raise TypeError(f"state must be a Seq2SeqState, got {type(state).__name__}")
        if not isinstance(index, Tensor) or index.dtype != torch.int64 or index.dim() != 1:
            raise TypeError(
                f"index must be a 1-D int64 tensor, got "
                f"{getattr(index, 'dtype', type(index).__name__)} of shape "
                f"{tuple(getattr(index, 'shape', ()))}"
            )
        if index.numel() and (int(index.min()) < 0 or int(index.max()) >= state.batch_size):
            raise ValueError(f"index must be in [0, {state.batch_size}), got {index.tolist()}")
        return state.select(index)

    def predicted_lengths(self, state: Seq2SeqState) -> Tensor:
        """(N,) int64 most probable target lengths (stop "length"): ``argmax_k P(U = k)``."""
        if state.length_log_probs is None:
            raise ValueError(f"predicted_lengths needs stop='length', got {self.config.stop!r}")
        return state.length_log_probs.argmax(dim=-1) + 1

    # ------------------------------------------------------------------------ training
    def forward(
        self,
        batch: SequencePairs,
        *,
        truth_probability: float = 1.0,
        feed: str = "argmax",
        generator: torch.Generator | None = None,
    ) -> Seq2SeqOutput:
        """Run the decoder over ``batch``'s targets, feeding at each step the true previous
        token with probability ``truth_probability`` and the model's own previous prediction
        otherwise (scheduled sampling, Bengio et al. 2015; 1 = teacher forcing, 0 = free
        running). Every position is scored against the target either way (:meth:`loss`).

        Args:
            batch: sources (S, B) ids or (S, B, F), source_lengths, targets (B, U) without
                ``<s>`` and ``</s>``, target_lengths (each <= ``max_length``; >= 1 for stop
                "length").
            truth_probability: ε in [0, 1].
            feed: the model's own token: ``"argmax"`` (most probable) or ``"sample"`` (drawn
                from its distribution, as Bengio et al. 2015 §2.4). Never differentiated.
            generator: a CPU generator (None: torch's global RNG) for the draws, all made on
                the CPU: first, when 0 < ε < 1, the coins ``torch.rand(U' - 1, B) < ε`` (row
                i - 1 decides step i >= 1, True = the truth; step 0 reads ``<s>``), then, with
                ``"sample"`` and ε < 1, one ``torch.multinomial`` draw per step i >= 1 for
                every sequence. With ε = 1 nothing is drawn.

        Returns:
            A :class:`Seq2SeqOutput`.
        """
        if not isinstance(batch, SequencePairs):
            raise TypeError(f"batch must be a SequencePairs, got {type(batch).__name__}")
        epsilon = check_real("truth_probability", truth_probability)
        if not 0.0 <= epsilon <= 1.0:
            raise ValueError(f"truth_probability must be in [0, 1], got {epsilon}")
        check_choice("feed", feed, FEEDS)
        generator = check_generator(generator)
        sources, lengths = self._check_sources(batch.sources, batch.source_lengths)
        targets, _ = self._check_targets(batch.targets, batch.target_lengths, sources.shape[1])
        state = self._start(sources, lengths)
        B, U = targets.shape
        steps = U if self.config.stop == "length" else U + 1
        bos = targets.new_full((B, 1), self.config.bos)
        truth = torch.cat([bos, targets], dim=1)[:, :steps].T  # (U', B)
        if epsilon == 1.0 and not self.stepwise_only:
            return self._teacher_forced(truth, state)
        coins = None
        if 0.0 < epsilon < 1.0:
            coins = torch.rand(steps - 1, B, generator=generator).to(truth.device) < epsilon
        outs, weights, inputs = [], [], []
        token = truth[0]
        for i in range(steps):
            if i > 0 and epsilon < 1.0:
                previous = self._heads(outs[-1])[0].detach()  # (B, V)
                if feed == "argmax":
                    own = previous.argmax(dim=-1)
                else:
                    probabilities = previous.exp().cpu()  # drawn on the CPU, as the coins
                    own = torch.multinomial(probabilities, 1, generator=generator)
                    own = own.squeeze(1).to(truth.device)
                token = own if coins is None else torch.where(coins[i - 1], truth[i], own)
            elif i > 0:
                token = truth[i]
            out, state = self._decode_step(self.target_embedding(token), state)
            outs.append(out)
            weights.append(state.attention)
            inputs.append(token)
        return self._output(torch.stack(outs), weights, torch.stack(inputs), state)

    def _teacher_forced(self, truth: Tensor, state: Seq2SeqState) -> Seq2SeqOutput:
        """All steps at once (the fast twin of :meth:`step`); needs ``not stepwise_only``."""
        x = self.target_embedding(truth)  # (U', B, E)
        if self.context_as_input:  # attention none: the fixed context at every step
            x = torch.cat([x, state.summary.expand(x.shape[0], -1, -1)], dim=-1)
        top, _ = self.decoder(x, state.rnn)  # (U', B, D)
        weights = None
        if self.attention is not None:
            context, weights = self.attention.attend(top, state.keys, state.memory, state.mask)
            top = torch.tanh(self.combine(torch.cat([top, context], dim=-1)))
        return self._output(top, weights, truth, state)

    def _output(self, out: Tensor, weights, inputs: Tensor, state: Seq2SeqState):
        log_probs, stop = self._heads(out)
        if isinstance(weights, list):
            weights = torch.stack(weights) if self.attention is not None else None
        return Seq2SeqOutput(log_probs, stop, state.length_log_probs, weights, inputs)

    def loss(self, output: Seq2SeqOutput, batch: SequencePairs) -> Seq2SeqLoss:
        """The loss of :meth:`forward`'s ``output`` on ``batch``: mean token cross-entropy over
        the scored tokens (each target's own tokens, plus ``</s>`` for stop "eos"; pad never),
        plus the stop unit's mean binary cross-entropy over steps 1..U+1 (target 1 at U+1), plus
        the length head's mean cross-entropy."""
        targets, lengths = self._check_targets(
            batch.targets, batch.target_lengths, output.log_probs.shape[1]
        )
        stop = self.config.stop
        steps, B, _ = output.log_probs.shape
        positions = torch.arange(steps, device=targets.device).unsqueeze(1)  # (U', 1)
        scored = targets.T  # (U, B)
        if stop != "length":
            scored = torch.cat([scored, scored.new_zeros(1, B)])  # (U + 1, B)
        if stop == "eos":
            scored = torch.where(positions == lengths, self.config.eos, scored)
        token_mask = positions < lengths + (1 if stop == "eos" else 0)  # (U', B)
        picked = output.log_probs.gather(-1, scored.unsqueeze(-1)).squeeze(-1)  # (U', B)
        zero = picked.new_zeros(())
        count = token_mask.sum()
        tokens = -(picked * token_mask).sum() / count.clamp(min=1)
        stop_term = length_term = zero
        if stop == "unit":
            valid = positions <= lengths  # steps 1..U+1
            bce = nn.functional.binary_cross_entropy_with_logits(
                output.stop_logits,
                (positions == lengths).to(output.stop_logits.dtype),
                reduction="none",
            )
            stop_term = (bce * valid).sum() / valid.sum()
        elif stop == "length":
            length_term = nn.functional.nll_loss(output.length_log_probs, lengths - 1)
        return Seq2SeqLoss(tokens + stop_term + length_term, tokens, stop_term, length_term)

    # ------------------------------------------------------------------------ inference
    def stop_rule(self, state: Seq2SeqState, max_length: int | None = None) -> StopRule:
        """The :mod:`rnnlab.decoding.stop_rules` rule of this model's ``stop`` for the examples
        of ``state``: :class:`EndSymbol` (``config.eos``), :class:`StopUnit`, or
        :class:`FixedLength` of :meth:`predicted_lengths`, each at most ``max_length`` (default
        ``config.max_length``)."""
        if self.config.stop == "eos":
            return EndSymbol(self.config.eos)
        if self.config.stop == "unit":
            return StopUnit()
        limit = self.config.max_length if max_length is None else max_length
        return FixedLength(self.predicted_lengths(state).clamp(max=limit).cpu())

    @torch.no_grad()
    def search(
        self,
        sources: Tensor,
        source_lengths: Tensor,
        *,
        beam_width: int = 1,
        max_length: int | None = None,
        length_penalty: float = 0.0,
    ) -> list[list[Hypothesis]]:
        """Decode ``sources`` (S, B) ids or (S, B, F) features free-running, under the model's
        stop rule (:meth:`stop_rule`), with the shared searches of :mod:`rnnlab.decoding.search`:
        :func:`~rnnlab.decoding.search.greedy` for ``beam_width=1`` (default), else
        :func:`~rnnlab.decoding.search.beam_search` with GNMT's ``length_penalty`` α.

        Args:
            sources, source_lengths: as :meth:`start`.
            beam_width: hypotheses kept per example (>= 1).
            max_length: the longest output in tokens (default ``config.max_length``).
            length_penalty: α of the final ranking (beam search; default 0).

        Returns:
            Per example, its finished hypotheses best first (one for greedy search; none if
            every outcome became impossible).
        """
        beam_width = check_size("beam_width", beam_width)
        limit = (
            self.config.max_length if max_length is None else check_size("max_length", max_length)
        )
        state = self.start(sources, source_lengths)
        first = torch.full(
            (state.batch_size,), self.config.bos, dtype=torch.int64, device=state.summary.device
        )
        stop = self.stop_rule(state, limit)
        if beam_width == 1:
            found = greedy(self, state, first, stop=stop, max_length=limit)
            return [[h] if h is not None else [] for h in found]
        return beam_search(
            self,
            state,
            first,
            stop=stop,
            beam_width=beam_width,
            max_length=limit,
            length_penalty=length_penalty,
        )

    @torch.no_grad()
    def attention_map(self, source: Tensor, target: Tensor) -> Tensor:
        """Attention weights (U', S_i) of one example, teacher-forced: ``source`` (S_i,) ids or
        (S_i, F) features, ``target`` (U_i,) ids (a reference or a decoded sequence). Row i is
        the step that predicts target token i (for stop "eos"/"unit" the last row predicts the
        end)."""
        if self.attention is None:
            raise ValueError("attention_map needs attention, got attention='none'")
        if not isinstance(source, Tensor) or not isinstance(target, Tensor):
            raise TypeError("source and target must be tensors")
        if target.dim() != 1:
            raise ValueError(f"target must be 1-D (U,), got shape {tuple(target.shape)}")
        batch = SequencePairs(
            sources=source.unsqueeze(1),
            source_lengths=torch.tensor([source.shape[0]]),
            targets=target.unsqueeze(0),
            target_lengths=torch.tensor([target.shape[0]]),
        )
        return self(batch).attention[:, 0]


def _check_int_tensor(name: str, value: object) -> Tensor:
    if not isinstance(value, Tensor):
        raise TypeError(f"{name} must be an int64 tensor, got {type(value).__name__}")
    if value.is_floating_point() or value.is_complex() or value.dtype == torch.bool:
        raise TypeError(f"{name} must be an int64 tensor, got dtype {value.dtype}")
    return value


def _check_ids(name: str, ids: Tensor, size: int) -> None:
    if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= size):
        raise ValueError(
            f"{name} must be ids in [0, {size}), got values in [{int(ids.min())}, {int(ids.max())}]"
        )
