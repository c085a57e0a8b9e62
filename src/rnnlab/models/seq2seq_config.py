"""The architecture of an encoder–decoder network (:class:`~rnnlab.models.seq2seq.Seq2Seq`):
what each field means is in that module's docstring."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rnnlab._checks import check_bool, check_choice, check_size
from rnnlab.models.attention import ATTENTIONS
from rnnlab.tasks.pairs import PairTask

__all__ = ["ATTENTION_KINDS", "CELLS", "CONTEXTS", "STOPS", "Seq2SeqConfig"]

# cells whose state leaves are (B, n) real vectors, which the bridge can set from the summary
# and the attention can query (not a clockwork counter, a skip ring, an LRU's complex modes)
CELLS = ("elman", "lstm", "gru", "jordan", "leaky")
CONTEXTS = ("init", "input", "both")
ATTENTION_KINDS = ("none", *ATTENTIONS)
STOPS = ("eos", "unit", "length")


@dataclass(frozen=True)
class Seq2SeqConfig:
    """Everything that fixes a :class:`Seq2Seq`'s architecture (and its initial weights)."""

    source_size: int  # source vocabulary size (token sources) or features per step (features)
    target_size: int  # target vocabulary size V, special symbols included
    bos: int  # id of <s>, the decoder's first input
    eos: int | None = None  # id of </s>; needed by stop="eos"
    source_tokens: bool = True  # sources are (S, B) token ids to embed; False: (S, B, F) floats
    cell: str = "lstm"  # "elman", "lstm", "gru", "jordan" or "leaky", for encoder and decoder
    hidden_size: int = 64  # units per layer and direction; also the attentional layer's size
    encoder_layers: int = 1  # stacked encoder layers
    decoder_layers: int = 1  # stacked decoder layers
    bidirectional: bool = False  # bidirectional encoder (memory of 2·hidden_size features)
    source_embedding_size: int = 32  # token sources only
    target_embedding_size: int = 32
    context: str = "both"  # "init" (initial state), "input" (every step's input) or "both"
    attention: str = "none"  # "none" (fixed context), "additive", "dot" or "general"
    attention_size: int | None = None  # additive attention's hidden units; None = hidden_size
    input_feeding: bool = False  # feed h̃_{i-1} back as an input (Luong 2015 §3.3)
    stop: str = "eos"  # "eos" (</s> symbol), "unit" (Bernoulli stop unit), "length" (length head)
    max_length: int = 50  # longest target handled: length-head classes, generation limit
    max_source_length: int | None = None  # longest source accepted; None = any length
    seed: int = 0  # the initial weights depend on this alone

    def __post_init__(self) -> None:
        for name in (
            "source_size",
            "target_size",
            "hidden_size",
            "encoder_layers",
            "decoder_layers",
            "source_embedding_size",
            "target_embedding_size",
            "max_length",
        ):
            check_size(name, getattr(self, name))
        for name in ("attention_size", "max_source_length"):
            if getattr(self, name) is not None:
                check_size(name, getattr(self, name))
        check_size("seed", self.seed, minimum=0)
        for name in ("source_tokens", "bidirectional", "input_feeding"):
            check_bool(name, getattr(self, name))
        check_choice("cell", self.cell, CELLS)
        check_choice("context", self.context, CONTEXTS)
        check_choice("attention", self.attention, ATTENTION_KINDS)
        check_choice("stop", self.stop, STOPS)
        self._check_id("bos", self.bos)
        if self.eos is not None:
            self._check_id("eos", self.eos)
        elif self.stop == "eos":
            raise ValueError("stop='eos' needs the id of </s>: eos must be set, got None")
        if self.input_feeding and self.attention == "none":
            raise ValueError(
                "input_feeding feeds back the attentional vector h̃ and needs attention, "
                "got attention='none'"
            )
        if self.attention == "dot" and self.bidirectional:
            raise ValueError(
                f"attention 'dot' needs the encoder's outputs to have the decoder's size "
                f"hidden_size={self.hidden_size}, but a bidirectional encoder gives "
                f"{2 * self.hidden_size}; use 'general' or 'additive'"
            )

    def _check_id(self, name: str, value: object) -> None:
        check_size(name, value, minimum=0)
        if value >= self.target_size:
            raise ValueError(
                f"{name} must be a target id < target_size={self.target_size}, got {value}"
            )

    @classmethod
    def for_task(cls, task: PairTask, **options: Any) -> Seq2SeqConfig:
        """The config for ``task``: sizes and special ids from its vocabularies, the rest from
        ``options`` (the fields above)."""
        target = task.target_vocabulary
        source = task.source_vocabulary
        eos = target.eos if "</s>" in target else None
        return cls(
            source_size=len(source) if source is not None else task.input_size,
            target_size=len(target),
            bos=target.bos,
            eos=eos,
            source_tokens=source is not None,
            **options,
        )
