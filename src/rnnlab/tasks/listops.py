"""ListOps: nested list operations on digits, with their ground-truth trees.

Nangia & Bowman 2018, "ListOps: A diagnostic dataset for latent tree learning" (NAACL SRW,
arXiv:1804.06028), generator ``python/spinn/data/listops/make_data.py`` of ``nyu-mll/spinn``
(branch ``listops-release``); the Long Range Arena variant of Tay et al. 2021,
``lra_benchmarks/data/listops.py`` of ``google-research/long-range-arena``. Definitions:
``docs/tasks.md``, "ListOps".

An expression is a digit ``0..9`` or an operator applied to two or more expressions::

    [MAX 2 9 [MIN 4 7 ] 0 ]          = 9
    [MED 1 2 ]                       = int(np.median([1, 2])) = int(1.5) = 1
    [SM 8 [MAX 3 5 ] ]               = (8 + 5) % 10 = 3

Operators: ``[MIN``, ``[MAX``, ``[MED`` (``int(np.median(args))``: with an even count, the mean
of the two middle values, truncated) and ``[SM`` (``sum(args) % 10``); ``]`` closes.

The generator (``generate_tree`` in both sources, :func:`draw_expressions` here), started at
``depth = 1``: draw ``r ~ U[0, 1)`` if ``depth < max_depth``, else ``r = 1``; if ``r > VALUE_P``
(0.25) the node is a digit drawn uniformly from 0..9, else an operator with ``n ~ U{2, ...,
max_args}`` arguments, each drawn the same way at ``depth + 1``, and the operator drawn
uniformly from the four. So a node is an operator with probability 0.25 (three quarters of all
draws are a lone digit), operators nest at most ``max_depth - 1`` deep, and a data set keeps
each distinct expression once (the sources collect them in a set).

Written forms (both sources' ``to_string``): the **left-branching binary bracketing**
``t = (op, a1)``, then ``t = (t, a_i)`` for each further argument, then ``t = (t, ])``::

    [MAX 2 9 ]  ->  ( ( ( [MAX 2 ) 9 ) ] )

This bracketing is the ground-truth tree that TreeRNNs and Tree-LSTMs read
(:func:`to_tree`, a :class:`~rnnlab.tasks.trees.BinaryTree` whose leaves are the tokens);
dropping the brackets gives the token sequence that sequential models read
(:func:`to_tokens`; its length, digits plus two per operator, is the LRA ``length``). A data
file holds one ``label<TAB>string`` line per example (:func:`to_line`, as the released
``test_d20s.tsv``).

Variants (:data:`VARIANTS`):

- ``"nangia2018"``: ``max_depth = 20``, ``max_args = 5``, no length filter; 90,000 training and
  10,000 test examples (the paper's counts, recalled and not verified; the released test file
  has 10,000: ``docs/tasks.md``, "ListOps").
- ``"lra"``: ``max_depth = 10``, ``max_args = 10``, only expressions with ``500 < length <
  2000``; 96,000 / 2,000 / 2,000 train / valid / test.

Randomness: every draw is a ``U[0, 1)`` float64 from a ``torch.Generator`` (drawn in blocks of
:data:`BLOCK`, handed out one by one); an integer in ``{0..n-1}`` is ``int(u · n)``. The same
seed gives the same expressions, bit for bit. The sources draw from Python's ``random``, so the
distribution is the same but the individual expressions are not.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import numpy as np
import torch
from torch import Tensor

from rnnlab._checks import check_choice, check_size
from rnnlab.tasks.base import Batch, LastStepClassification, check_generator, one_hot, randint
from rnnlab.tasks.pairs import PAD, Vocabulary
from rnnlab.tasks.trees import BinaryTree, TreeBatch, batch_trees, parse_bracketed

MIN, MAX, MED, SUM_MOD = "[MIN", "[MAX", "[MED", "[SM"
OPERATORS = (MIN, MAX, MED, SUM_MOD)  # FIRST and LAST are defined but unused in both sources
END = "]"
VALUE_P = 0.25  # a node is a digit when r > VALUE_P
N_VALUES = 10  # digits 0..9, also the classes
BLOCK = 4096  # uniforms drawn from the torch.Generator at a time

# <pad> = 0, "0".."9" = 1..10, [MIN = 11, [MAX = 12, [MED = 13, [SM = 14, ] = 15.
VOCABULARY = Vocabulary([*map(str, range(N_VALUES)), *OPERATORS, END], specials=(PAD,))

# A digit, or (operator, arguments).
Expression = Union[int, tuple[str, tuple["Expression", ...]]]  # noqa: UP007 (a runtime alias)

APPLY: dict[str, Callable[[list[int]], int]] = {
    MIN: min,
    MAX: max,
    MED: lambda values: int(np.median(values)),
    SUM_MOD: lambda values: sum(values) % 10,
}


@dataclass(frozen=True)
class Variant:
    """A published configuration of the generator and of the data set.

    Attributes:
        max_depth: nodes at this depth are digits (the root is at depth 1).
        max_args: most arguments of an operator (at least 2).
        min_length: keep only expressions with ``length > min_length`` (None: no bound).
        max_length: keep only expressions with ``length < max_length`` (None: no bound).
        n_train, n_valid, n_test: examples in each split.
    """

    max_depth: int
    max_args: int
    min_length: int | None
    max_length: int | None
    n_train: int
    n_valid: int
    n_test: int


VARIANTS = {
    "nangia2018": Variant(20, 5, None, None, 90_000, 0, 10_000),
    "lra": Variant(10, 10, 500, 2000, 96_000, 2_000, 2_000),
}
SPLITS = ("train", "valid", "test")


# ---------------------------------------------------------------------------- drawing
class _Uniforms:
    """``U[0, 1)`` float64 draws from ``generator``, fetched ``BLOCK`` at a time."""

    def __init__(self, generator: torch.Generator | None) -> None:
        self.generator = generator
        self.block: list[float] = []
        self.next = 0

    def __call__(self) -> float:
        if self.next == len(self.block):
            self.block = torch.rand(BLOCK, generator=self.generator, dtype=torch.float64).tolist()
            self.next = 0
        self.next += 1
        return self.block[self.next - 1]

    def below(self, n: int) -> int:
        """Uniform in ``{0, ..., n - 1}``."""
        return int(self() * n)


def _draw(uniforms: _Uniforms, depth: int, max_depth: int, max_args: int) -> Expression:
    """``generate_tree(depth)`` of the sources, in their order of draws."""
    r = uniforms() if depth < max_depth else 1.0
    if r > VALUE_P:
        return uniforms.below(N_VALUES)
    n_args = 2 + uniforms.below(max_args - 1)
    args = tuple(_draw(uniforms, depth + 1, max_depth, max_args) for _ in range(n_args))
    return OPERATORS[uniforms.below(len(OPERATORS))], args


def _check_shape(max_depth: object, max_args: object) -> tuple[int, int]:
    return check_size("max_depth", max_depth), check_size("max_args", max_args, minimum=2)


def draw_expressions(
    n: int,
    *,
    max_depth: int = 20,
    max_args: int = 5,
    generator: torch.Generator | None = None,
) -> list[Expression]:
    """``n`` independent draws of the generator (repeats and lone digits included: the raw
    distribution, before a data set keeps each expression once).

    Args:
        n: expressions to draw (>= 1).
        max_depth: nodes at this depth are digits; the root is at depth 1, so operators nest
            at most ``max_depth - 1`` deep (>= 1; default 20, the original's).
        max_args: most arguments of an operator (>= 2; default 5, the original's).
        generator: a CPU ``torch.Generator`` for every draw; ``None`` uses torch's global RNG.
    """
    check_size("n", n)
    max_depth, max_args = _check_shape(max_depth, max_args)
    uniforms = _Uniforms(check_generator(generator))
    return [_draw(uniforms, 1, max_depth, max_args) for _ in range(n)]


def make_examples(
    n: int,
    *,
    max_depth: int = 20,
    max_args: int = 5,
    min_length: int | None = None,
    max_length: int | None = None,
    generator: torch.Generator | None = None,
    max_draws: int | None = None,
) -> list[Expression]:
    """``n`` distinct expressions with ``min_length < length < max_length``, in the order they
    were first drawn (the sources' data-set loop: draw, filter, keep each expression once).

    Args:
        n: distinct expressions wanted (>= 1).
        max_depth, max_args: as :func:`draw_expressions` (defaults 20 and 5).
        min_length: keep only ``length > min_length`` (None, default: no lower bound).
        max_length: keep only ``length < max_length`` (None, default: no upper bound).
        generator: a CPU ``torch.Generator``; ``None`` uses torch's global RNG.
        max_draws: give up after this many draws (default ``1000 · n + 100_000``).

    Raises:
        ValueError: ``n`` distinct expressions were not found within ``max_draws`` draws
            (there may be fewer than ``n``: ``max_depth=1`` allows only the ten digits).
    """
    check_size("n", n)
    max_depth, max_args = _check_shape(max_depth, max_args)
    low = -1 if min_length is None else check_size("min_length", min_length, minimum=0)
    high = math.inf if max_length is None else check_size("max_length", max_length)
    if high <= low + 1:
        raise ValueError(
            f"max_length must exceed min_length + 1 (lengths strictly between), got "
            f"min_length={min_length}, max_length={max_length}"
        )
    max_draws = 1000 * n + 100_000 if max_draws is None else check_size("max_draws", max_draws)
    uniforms = _Uniforms(check_generator(generator))
    found: dict[Expression, None] = {}  # insertion-ordered set
    for _ in range(max_draws):
        expression = _draw(uniforms, 1, max_depth, max_args)
        if low < length(expression) < high:
            found[expression] = None
            if len(found) == n:
                return list(found)
    raise ValueError(
        f"n: found only {len(found)} distinct expressions of {n} wanted in {max_draws} draws "
        f"(max_depth={max_depth}, max_args={max_args}, min_length={min_length}, "
        f"max_length={max_length}); lower n or widen the limits"
    )


# ---------------------------------------------------------------------------- semantics
def _check_expression(expression: object) -> None:
    if isinstance(expression, bool) or not isinstance(expression, (int, tuple)):
        raise TypeError(
            f"expression must be a digit or an (operator, arguments) tuple, got "
            f"{type(expression).__name__} {expression!r}"
        )
    if isinstance(expression, int):
        if not 0 <= expression < N_VALUES:
            raise ValueError(f"expression: a digit must be in 0..9, got {expression}")
        return
    if (
        len(expression) != 2
        or expression[0] not in OPERATORS
        or not isinstance(expression[1], tuple)
        or not expression[1]
    ):
        raise ValueError(
            f"expression must be (operator in {list(OPERATORS)}, non-empty tuple of "
            f"arguments), got {expression!r}"
        )
    for argument in expression[1]:
        _check_expression(argument)


def evaluate(expression: Expression) -> int:
    """The value of ``expression`` by direct recursion (the oracle of the labels)."""
    _check_expression(expression)
    return _evaluate(expression)


def _evaluate(expression: Expression) -> int:
    if isinstance(expression, int):
        return expression
    operator, arguments = expression
    return APPLY[operator]([_evaluate(a) for a in arguments])


def length(expression: Expression) -> int:
    """Tokens without brackets: one per digit, two per operator (``[OP`` and ``]``) — the LRA
    generator's ``length``."""
    if isinstance(expression, int):
        return 1
    return 2 + sum(length(a) for a in expression[1])


def depth(expression: Expression) -> int:
    """Operator nesting: 0 for a digit, 1 + the deepest argument for an operator."""
    if isinstance(expression, int):
        return 0
    return 1 + max(depth(a) for a in expression[1])


def to_tokens(expression: Expression) -> list[str]:
    """The tokens that sequential models read: ``[MAX 2 9 ]`` -> ``["[MAX", "2", "9", "]"]``."""
    if isinstance(expression, int):
        return [str(expression)]
    operator, arguments = expression
    return [operator, *(t for a in arguments for t in to_tokens(a)), END]


def to_string(expression: Expression) -> str:
    """The sources' written form: the left-branching binary bracketing,
    ``[MAX 2 9 ]`` -> ``"( ( ( [MAX 2 ) 9 ) ] )"``; a lone digit is itself."""
    if isinstance(expression, int):
        return str(expression)
    operator, arguments = expression
    text = operator
    for part in (*map(to_string, arguments), END):
        text = f"( {text} {part} )"
    return text


def to_tree(expression: Expression) -> BinaryTree:
    """The bracketing of :func:`to_string` as a :class:`~rnnlab.tasks.trees.BinaryTree` with
    :data:`VOCABULARY` ids at the leaves (the ground-truth tree)."""
    left: list[int] = []
    right: list[int] = []
    token: list[int] = []

    def node(a: int, b: int, t: int) -> int:
        left.append(a)
        right.append(b)
        token.append(t)
        return len(token) - 1

    def emit(e: Expression) -> int:
        if isinstance(e, int):
            return node(-1, -1, VOCABULARY.id(str(e)))
        operator, arguments = e
        current = node(-1, -1, VOCABULARY.id(operator))
        for a in arguments:
            current = node(current, emit(a), -1)
        return node(current, node(-1, -1, VOCABULARY.id(END)), -1)

    emit(expression)
    return BinaryTree(tuple(left), tuple(right), tuple(token))


def from_tree(tree: BinaryTree) -> Expression:
    """The expression of a ListOps bracketing tree (the inverse of :func:`to_tree`).

    Raises:
        ValueError: ``tree`` is not the bracketing of an expression (it names the node).
    """
    if not isinstance(tree, BinaryTree):
        raise TypeError(f"tree must be a BinaryTree, got {type(tree).__name__}")
    return _from_tree(tree, "tree")


def _from_tree(tree: BinaryTree, name: str) -> Expression:
    """:func:`from_tree`; errors name the argument ``name``."""
    # Each node's meaning: a complete expression, ("open", operator, arguments so far) for an
    # operator still taking arguments, or END.
    meaning: list[Any] = []
    for i in range(len(tree)):
        if tree.left[i] < 0:
            if not 0 < tree.token[i] < len(VOCABULARY):
                raise ValueError(
                    f"{name}: token[{i}] must be a ListOps token id in 1..{len(VOCABULARY) - 1}, "
                    f"got {tree.token[i]}"
                )
            symbol = VOCABULARY.symbols[tree.token[i]]
            if symbol in OPERATORS:
                meaning.append(("open", symbol, ()))
            elif symbol == END:
                meaning.append(symbol)
            else:
                meaning.append(int(symbol))
            continue
        a, b = meaning[tree.left[i]], meaning[tree.right[i]]
        if not (isinstance(a, tuple) and a[0] == "open"):
            raise ValueError(f"{name}: node {i} must join an open operator and an argument or ]")
        if b == END:
            if not a[2]:
                raise ValueError(f"{name}: node {i} closes an operator without arguments")
            meaning.append((a[1], a[2]))
        elif isinstance(b, tuple) and b[0] == "open":
            raise ValueError(f"{name}: node {i}'s right child is not a complete expression")
        else:
            meaning.append(("open", a[1], (*a[2], b)))
    root = meaning[-1]
    if root == END or (isinstance(root, tuple) and root[0] == "open"):
        raise ValueError(f"{name}: the root is not a complete expression, got {root!r}")
    return root


def parse(text: str) -> Expression:
    """The expression of a bracketed string (the inverse of :func:`to_string`)."""
    return _from_tree(parse_bracketed(text, VOCABULARY), "text")


def to_line(expression: Expression) -> str:
    """``"label<TAB>string"``, a line of the released files (without the newline)."""
    return f"{evaluate(expression)}\t{to_string(expression)}"


def from_line(line: str) -> tuple[int, Expression]:
    """``(label, expression)`` of a ``"label<TAB>string"`` line.

    Raises:
        ValueError: no tab, a label that is not a digit, or a label that differs from the
            expression's value (the message names ``line``).
    """
    label, tab, text = line.rstrip("\n").partition("\t")
    if not tab or label not in tuple(map(str, range(N_VALUES))):
        raise ValueError(f"line must be 'label<TAB>string' with a digit label, got {line!r}")
    expression = parse(text)
    if evaluate(expression) != int(label):
        raise ValueError(
            f"line: label {label} differs from the value {evaluate(expression)} of {text!r}"
        )
    return int(label), expression


def write_tsv(path: str | Path, expressions: Sequence[Expression]) -> None:
    """Write ``expressions`` to ``path``, one ``label<TAB>string`` line each."""
    Path(path).write_text("".join(to_line(e) + "\n" for e in expressions))


def read_tsv(path: str | Path) -> list[Expression]:
    """The expressions of a ``label<TAB>string`` file (every label checked)."""
    return [from_line(line)[1] for line in Path(path).read_text().splitlines() if line]


# ---------------------------------------------------------------------------- batches
def encode(expression: Expression) -> Tensor:
    """(n,) int64 :data:`VOCABULARY` ids of :func:`to_tokens`."""
    return VOCABULARY.encode(to_tokens(expression))


def labels(expressions: Sequence[Expression]) -> Tensor:
    """(B,) int64 values of ``expressions``, the class ids."""
    return torch.tensor([evaluate(e) for e in expressions], dtype=torch.int64)


def token_batch(
    expressions: Sequence[Expression], *, pad_left: bool = False
) -> tuple[Tensor, Tensor]:
    """Token ids for sequential models: ``(tokens (L, B) int64, lengths (B,) int64)``, time
    major, padded with ``<pad>`` (id 0) after each sequence, or before it with ``pad_left``
    (then every sequence ends at the last step). ``L = lengths.max()``."""
    _check_expressions(expressions)
    ids = [encode(e) for e in expressions]
    lengths = torch.tensor([len(i) for i in ids], dtype=torch.int64)
    L = int(lengths.max())
    tokens = torch.full((L, len(ids)), VOCABULARY.pad, dtype=torch.int64)
    for b, i in enumerate(ids):
        start = L - len(i) if pad_left else 0
        tokens[start : start + len(i), b] = i
    return tokens, lengths


def tree_batch(expressions: Sequence[Expression]) -> TreeBatch:
    """The ground-truth trees of ``expressions`` as one :class:`~rnnlab.tasks.trees.TreeBatch`."""
    _check_expressions(expressions)
    return batch_trees([to_tree(e) for e in expressions])


def _check_expressions(expressions: object) -> None:
    """A non-empty list or tuple of expressions (not one expression: its first item is a
    str)."""
    if (
        not isinstance(expressions, (list, tuple))
        or not expressions
        or isinstance(expressions[0], str)
    ):
        raise TypeError(
            f"expressions must be a non-empty list of expressions, got "
            f"{type(expressions).__name__} {str(expressions)[:80]}"
        )


# ---------------------------------------------------------------------------- the task
@functools.lru_cache(maxsize=4)
def _splits(
    variant: Variant, max_depth: int, max_args: int, seed: int
) -> dict[str, tuple[Expression, ...]]:
    """The disjoint splits: ``make_examples`` of all of them from a generator seeded ``seed``,
    shuffled by the same generator, cut into train, valid and test."""
    generator = torch.Generator().manual_seed(seed)
    total = variant.n_train + variant.n_valid + variant.n_test
    examples = make_examples(
        total,
        max_depth=max_depth,
        max_args=max_args,
        min_length=variant.min_length,
        max_length=variant.max_length,
        generator=generator,
    )
    examples = [examples[i] for i in torch.randperm(total, generator=generator).tolist()]
    a, b = variant.n_train, variant.n_train + variant.n_valid
    return {
        "train": tuple(examples[:a]),
        "valid": tuple(examples[a:b]),
        "test": tuple(examples[b:]),
    }


class ListOps(LastStepClassification):
    """ListOps as a last-step classification task (10 classes, the value of the expression).

    The data are a fixed set of distinct expressions (:func:`make_examples` from a generator
    seeded ``seed``), shuffled and cut into disjoint ``"train"``, ``"valid"`` and ``"test"``
    splits; ``sample`` draws examples of ``split`` uniformly with replacement, among those of
    at most ``length`` tokens (all when ``length`` is None; the SPINN README trains with
    ``seq_length 100``).

    Inputs: one-hot tokens of :data:`VOCABULARY` (``input_size`` 16), **padded on the left**
    with ``<pad>`` to the longest sequence of the batch, so that every sequence ends at the
    last step, where the model is read (the Task protocol has no lengths). Models that take
    lengths or trees use :func:`token_batch` and :func:`tree_batch` on :attr:`examples`.

    Loss: cross-entropy at the last step; wrong when the argmax differs. Baseline: ln 10.

    Measured here (seed 0, 2026-12, one loaded CPU core): the 100,000 distinct expressions of
    ``"nangia2018"`` take ~45 s to generate; 10,000 of them have 44.2 tokens on average
    (median 16, max 1421), operator depth 4.6 on average (max 19) and labels 917-1154 per
    class, as the released ``test_d20s.tsv`` (42.8, 16, 939; 4.5, 19; 0: 1127 ... 9: 1141).
    ``"lra"`` draws ~90 accepted expressions a second (its 100,000 take ~20 min); its labels
    are skewed to 0 and 9 (deep MIN/MAX chains), e.g. 49 and 55 of 300 against 14 for 2.
    Pass small ``n_*`` for quick runs.

    Args:
        length: the longest sequence ``sample`` may draw, in tokens without brackets (>= 1),
            or None (default) for no limit.
        variant: ``"nangia2018"`` (default) or ``"lra"`` (:data:`VARIANTS`).
        split: ``"train"`` (default), ``"valid"`` or ``"test"``.
        n_train, n_valid, n_test: examples in each split (>= 0; default: the variant's).
        max_depth, max_args: override the variant's generator (default: the variant's).
        seed: seeds the data set (>= 0; default 0); the same seed gives the same splits.
    """

    name = "listops"
    variants = tuple(VARIANTS)
    input_size = len(VOCABULARY)
    output_size = N_VALUES
    min_length = 1
    min_length_reason = "a lone digit has one token"

    def __init__(
        self,
        length: int | None = None,
        *,
        variant: str = "nangia2018",
        split: str = "train",
        n_train: int | None = None,
        n_valid: int | None = None,
        n_test: int | None = None,
        max_depth: int | None = None,
        max_args: int | None = None,
        seed: int = 0,
    ) -> None:
        published = VARIANTS[check_choice("variant", variant, list(VARIANTS))]
        self.split = check_choice("split", split, SPLITS)
        sizes = {}
        for name, value in (("n_train", n_train), ("n_valid", n_valid), ("n_test", n_test)):
            default = getattr(published, name)
            sizes[name] = default if value is None else check_size(name, value, minimum=0)
        self.max_depth, self.max_args = _check_shape(
            published.max_depth if max_depth is None else max_depth,
            published.max_args if max_args is None else max_args,
        )
        self.config = Variant(
            self.max_depth, self.max_args, published.min_length, published.max_length, **sizes
        )
        if getattr(self.config, f"n_{self.split}") == 0:
            raise ValueError(f"split {split!r} of {variant} is empty: give n_{split} >= 1")
        self.seed = check_size("seed", seed, minimum=0)
        super().__init__(length, variant=variant)

    def _check_length(self, name: str, length: object) -> int | None:
        return None if length is None else super()._check_length(name, length)

    def _options(self) -> dict[str, Any]:
        return {
            "split": self.split,
            "n_train": self.config.n_train,
            "n_valid": self.config.n_valid,
            "n_test": self.config.n_test,
            "max_depth": self.max_depth,
            "max_args": self.max_args,
            "seed": self.seed,
        }

    @property
    def examples(self) -> tuple[Expression, ...]:
        """The expressions of the split (generated on first use, shared between instances)."""
        return _splits(self.config, self.max_depth, self.max_args, self.seed)[self.split]

    @functools.cached_property
    def _lengths(self) -> Tensor:
        return torch.tensor([length(e) for e in self.examples], dtype=torch.int64)

    def __len__(self) -> int:
        return len(self.examples)

    def _sample(
        self, batch_size: int, length: int | None, generator: torch.Generator | None
    ) -> Batch:
        pool = torch.arange(len(self))
        if length is not None:
            pool = pool[self._lengths <= length]
            if len(pool) == 0:
                raise ValueError(
                    f"length: no {self.split} example has <= {length} tokens (the shortest has "
                    f"{int(self._lengths.min())})"
                )
        index = pool[randint(len(pool), (batch_size,), generator)].tolist()
        chosen = [self.examples[i] for i in index]
        tokens, _ = token_batch(chosen, pad_left=True)
        return Batch(inputs=one_hot(tokens, len(VOCABULARY)), targets=labels(chosen))


__all__ = [
    "BLOCK",
    "END",
    "OPERATORS",
    "SPLITS",
    "VALUE_P",
    "VARIANTS",
    "VOCABULARY",
    "Expression",
    "ListOps",
    "Variant",
    "depth",
    "draw_expressions",
    "encode",
    "evaluate",
    "from_line",
    "from_tree",
    "labels",
    "length",
    "make_examples",
    "parse",
    "read_tsv",
    "to_line",
    "to_string",
    "to_tokens",
    "to_tree",
    "token_batch",
    "tree_batch",
    "write_tsv",
]
