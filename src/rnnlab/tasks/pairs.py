"""Sequence-pair tasks: a source sequence and a target sequence of a different length.

Transduction (speech → digit string, ``spoken_digits``) and translation (English words → German
words, ``numbers``) share one shape of data: a source of ``S`` steps (feature vectors or token
ids), a target of ``U`` token ids, and no known alignment between the two. This module holds what
they share: the :class:`Vocabulary` of symbols, the padded :class:`SequencePairs` batch, the
:class:`PairTask` base with fixed splits, batching and shuffling, and the error measure of the
outputs (:func:`edit_distance`, :func:`error_rate`).
"""

from __future__ import annotations

import math
import warnings
from abc import ABC, abstractmethod
from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from rapidfuzz.distance import Levenshtein
from torch import Tensor

from rnnlab._checks import check_choice, check_size
from rnnlab.tasks.base import check_generator

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<s>", "</s>"
SPECIALS = (PAD, UNK, BOS, EOS)


class Vocabulary:
    """Symbols ↔ ids: the special symbols first (in the order given), then ``symbols``.

    ``Vocabulary(["a", "b"])`` has ids ``<pad>=0, <unk>=1, <s>=2, </s>=3, a=4, b=5``;
    ``Vocabulary("0123456789", specials=())`` has the ten digits at ids 0..9 and nothing else
    (a transducer appends its blank after them).

    Unknown symbols map to ``<unk>`` with a warning that names them (never a crash); a vocabulary
    without ``<unk>`` refuses them with a ``ValueError``.

    Args:
        symbols: the ordinary symbols, unique, in id order.
        specials: special symbols placed first; any of ``<pad>, <unk>, <s>, </s>``.
    """

    def __init__(self, symbols: Sequence[str], *, specials: Sequence[str] = SPECIALS) -> None:
        symbols, specials = list(symbols), list(specials)
        for name, group in (("symbols", symbols), ("specials", specials)):
            if not all(isinstance(s, str) and s for s in group):
                raise TypeError(f"{name} must be non-empty strings, got {group!r}")
        unknown = [s for s in specials if s not in SPECIALS]
        if unknown:
            raise ValueError(f"specials must be among {list(SPECIALS)}, got {unknown}")
        every = specials + symbols
        if len(set(every)) != len(every):
            duplicated = sorted({s for s in every if every.count(s) > 1})
            raise ValueError(f"symbols must be unique (and distinct from specials): {duplicated}")
        self.specials: tuple[str, ...] = tuple(specials)
        self.symbols: tuple[str, ...] = tuple(every)
        self._ids = {s: i for i, s in enumerate(every)}

    def __len__(self) -> int:
        return len(self.symbols)

    def __contains__(self, symbol: object) -> bool:
        return symbol in self._ids

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and other.symbols == self.symbols

    def __hash__(self) -> int:
        return hash(self.symbols)

    def __repr__(self) -> str:
        shown = " ".join(self.symbols[:12]) + (" …" if len(self) > 12 else "")
        return f"Vocabulary({len(self)} symbols: {shown})"

    def id(self, symbol: str) -> int:
        """The id of ``symbol`` (``KeyError`` if absent; use :meth:`encode` for lenient lookup)."""
        return self._ids[symbol]

    @property
    def pad(self) -> int:
        return self._special(PAD)

    @property
    def unk(self) -> int:
        return self._special(UNK)

    @property
    def bos(self) -> int:
        return self._special(BOS)

    @property
    def eos(self) -> int:
        return self._special(EOS)

    def _special(self, symbol: str) -> int:
        if symbol not in self._ids:
            raise ValueError(f"this vocabulary has no {symbol} symbol (specials: {self.specials})")
        return self._ids[symbol]

    def encode(self, tokens: Sequence[str]) -> Tensor:
        """(n,) int64 ids of ``tokens``; unknown ones become ``<unk>`` with one warning naming
        them (a ``ValueError`` if the vocabulary has no ``<unk>``)."""
        unknown = sorted({t for t in tokens if t not in self._ids})
        if unknown:
            if UNK not in self._ids:
                raise ValueError(f"tokens not in the vocabulary: {unknown}")
            warnings.warn(f"unknown symbols mapped to {UNK}: {unknown}", stacklevel=2)
        unk = self._ids.get(UNK, -1)
        return torch.tensor([self._ids.get(t, unk) for t in tokens], dtype=torch.int64)

    def decode(self, ids: Sequence[int] | Tensor, *, keep_specials: bool = False) -> list[str]:
        """The symbols of ``ids``; specials are dropped unless ``keep_specials``."""
        ids = ids.tolist() if isinstance(ids, Tensor) else list(ids)
        bad = [i for i in ids if not 0 <= i < len(self)]
        if bad:
            raise ValueError(f"ids must be in [0, {len(self)}), got {bad}")
        out = [self.symbols[i] for i in ids]
        return out if keep_specials else [s for s in out if s not in self.specials]

    def to_dict(self) -> dict[str, list[str]]:
        """JSON-serialisable; ``Vocabulary.from_dict(v.to_dict()) == v``."""
        return {
            "specials": list(self.specials),
            "symbols": list(self.symbols[len(self.specials) :]),
        }

    @classmethod
    def from_dict(cls, data: dict[str, list[str]]) -> Vocabulary:
        return cls(data["symbols"], specials=data["specials"])


@dataclass(frozen=True)
class SequencePairs:
    """A padded minibatch of (source, target) pairs.

    Attributes:
        sources: (S, B, F) float features, or (S, B) int64 token ids; time-major, padded after
            each source's own length with zeros (features) or the pad id (tokens).
        source_lengths: (B,) int64, each in [1, S]; ``S = source_lengths.max()``.
        targets: (B, U) int64 token ids, batch-major as ``rnnt_loss`` and ``ctc_loss`` take
            them, padded after each target's length with ``pad_id``.
        target_lengths: (B,) int64, each in [0, U]; ``U = target_lengths.max()``.
    """

    sources: Tensor
    source_lengths: Tensor
    targets: Tensor
    target_lengths: Tensor

    @property
    def batch_size(self) -> int:
        return self.targets.shape[0]

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None):
        """Move every tensor to ``device``; ``dtype`` applies to float sources only."""
        sources_dtype = dtype if self.sources.is_floating_point() else None
        return SequencePairs(
            sources=self.sources.to(device=device, dtype=sources_dtype),
            source_lengths=self.source_lengths.to(device),
            targets=self.targets.to(device),
            target_lengths=self.target_lengths.to(device),
        )

    def source(self, i: int) -> Tensor:
        """Example ``i``'s source without padding: (S_i, F) or (S_i,)."""
        return self.sources[: int(self.source_lengths[i]), i]

    def target(self, i: int) -> Tensor:
        """Example ``i``'s target without padding: (U_i,)."""
        return self.targets[i, : int(self.target_lengths[i])]


def pad_pairs(
    pairs: Sequence[tuple[Tensor, Tensor]], *, source_pad: int = 0, target_pad: int = 0
) -> SequencePairs:
    """Stack ``(source (S_i, F) or (S_i,), target (U_i,))`` pairs into a :class:`SequencePairs`.

    Token sources are padded with ``source_pad``, targets with ``target_pad``, features with 0.
    """
    if not pairs:
        raise ValueError("pairs must hold at least one (source, target) pair")
    sources, targets = zip(*pairs, strict=True)
    source_lengths = torch.tensor([len(s) for s in sources], dtype=torch.int64)
    target_lengths = torch.tensor([len(t) for t in targets], dtype=torch.int64)
    if int(source_lengths.min()) < 1:
        raise ValueError("every source must have at least one step")
    first = sources[0]
    shape = (int(source_lengths.max()), len(pairs), *first.shape[1:])
    fill = 0 if first.is_floating_point() else source_pad
    padded_sources = torch.full(shape, fill, dtype=first.dtype)
    for i, s in enumerate(sources):
        padded_sources[: len(s), i] = s
    padded_targets = torch.full((len(pairs), int(target_lengths.max())), target_pad)
    for i, t in enumerate(targets):
        padded_targets[i, : len(t)] = t
    return SequencePairs(padded_sources, source_lengths, padded_targets, target_lengths)


class PairTask(ABC):
    """A sequence-pair task with fixed splits, e.g. ``"train"`` and ``"test"``.

    Subclasses set ``name``, ``splits``, ``target_vocabulary``, either ``source_vocabulary``
    (token sources) or ``input_size`` (feature sources; ``source_vocabulary = None``), and
    implement :meth:`pairs`.

    Attributes:
        name: the registry name (``rnnlab.tasks.make(name)``).
        splits: the split names; the first is the training split.
        source_vocabulary: the source symbols, or ``None`` when sources are feature vectors.
        target_vocabulary: the target symbols.
        input_size: features per source step (``len(source_vocabulary)`` for token sources).
    """

    name: ClassVar[str]
    splits: ClassVar[tuple[str, ...]] = ("train", "test")
    source_vocabulary: Vocabulary | None = None
    target_vocabulary: Vocabulary
    input_size: int

    @abstractmethod
    def pairs(self, split: str) -> Sequence[tuple[Tensor, Tensor]]:
        """Every example of ``split`` as ``(source, target)``, in a fixed order:
        source (S_i, input_size) floats or (S_i,) int64 ids, target (U_i,) int64 ids."""

    def size(self, split: str) -> int:
        """The number of examples in ``split``."""
        return len(self.pairs(self._check_split(split)))

    def batches(
        self,
        split: str,
        batch_size: int,
        *,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
    ) -> Iterator[SequencePairs]:
        """The whole ``split`` in batches of ``batch_size`` (the last may be smaller), in the
        fixed order or shuffled with ``generator``."""
        examples = self.pairs(self._check_split(split))
        check_size("batch_size", batch_size)
        order = (
            torch.randperm(len(examples), generator=check_generator(generator)).tolist()
            if shuffle
            else list(range(len(examples)))
        )
        for start in range(0, len(order), batch_size):
            yield self.collate([examples[i] for i in order[start : start + batch_size]])

    def sample(
        self, batch_size: int, *, split: str | None = None, generator: torch.Generator | None = None
    ) -> SequencePairs:
        """``batch_size`` examples drawn uniformly with replacement from ``split`` (default: the
        training split)."""
        check_size("batch_size", batch_size)
        examples = self.pairs(self._check_split(self.splits[0] if split is None else split))
        picks = torch.randint(len(examples), (batch_size,), generator=check_generator(generator))
        return self.collate([examples[i] for i in picks.tolist()])

    def collate(self, pairs: Sequence[tuple[Tensor, Tensor]]) -> SequencePairs:
        """Pad ``pairs`` with this task's pad ids."""
        source_pad = self.source_vocabulary.pad if self._has_pad(self.source_vocabulary) else 0
        target_pad = self.target_vocabulary.pad if self._has_pad(self.target_vocabulary) else 0
        return pad_pairs(pairs, source_pad=source_pad, target_pad=target_pad)

    @staticmethod
    def _has_pad(vocabulary: Vocabulary | None) -> bool:
        return vocabulary is not None and PAD in vocabulary

    def _check_split(self, split: str) -> str:
        return check_choice("split", split, self.splits)

    def describe(self) -> dict[str, Any]:
        """Name and options, JSON-serialisable: ``make(**task.describe())`` rebuilds the task."""
        return {"name": self.name} | self._options()

    def _options(self) -> dict[str, Any]:
        return {}

    def __repr__(self) -> str:
        described = self.describe()
        name = described.pop("name")
        return f"{name}({', '.join(f'{k}={v!r}' for k, v in described.items())})"


def edit_distance(reference: Sequence[Hashable], hypothesis: Sequence[Hashable]) -> int:
    """Levenshtein distance between two sequences of hashable symbols (label ids, words,
    characters): the fewest substitutions, insertions and deletions, each costing 1, that turn
    ``reference`` into ``hypothesis``. Computed by ``rapidfuzz`` (C++, bit-parallel);
    :func:`edit_distance_reference` is its slow, obviously correct twin.

    The symbols of one call should be of one kind (all ints, or all strings): ``rapidfuzz``
    compares a one-character string by its code point, so ``[97]`` and ``["a"]`` count as equal.
    """
    return Levenshtein.distance(reference, hypothesis)


def edit_distance_reference(reference: Sequence[Any], hypothesis: Sequence[Any]) -> int:
    """Levenshtein distance by the textbook O(len·len) dynamic programme, one row at a time
    (``d[i][j]``: the distance between the first ``i`` reference and ``j`` hypothesis symbols);
    the oracle of :func:`edit_distance`."""
    previous = list(range(len(hypothesis) + 1))
    for i, r in enumerate(reference, 1):
        current = [i]
        for j, h in enumerate(hypothesis, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r != h)))
        previous = current
    return previous[-1]


def error_rate(references: Sequence[Sequence[Any]], hypotheses: Sequence[Sequence[Any]]) -> float:
    """Σ edit distances / Σ reference lengths (label or word error rate), NaN if no reference
    symbols."""
    if len(references) != len(hypotheses):
        raise ValueError(
            f"references and hypotheses must pair up, got {len(references)} and {len(hypotheses)}"
        )
    total = sum(len(r) for r in references)
    errors = sum(edit_distance(r, h) for r, h in zip(references, hypotheses, strict=True))
    return errors / total if total else math.nan
