"""Binary trees as flat arrays: the input of recursive (tree-structured) networks.

A recursive network (DL book §10.6) reads a sentence along a given binary tree: the leaves are
tokens, every internal node combines its two children. Data sets that come with their trees
(ListOps, parsed sentences) write them as bracketings: ``( ( [MAX 2 ) 9 )`` is the internal
node whose left child is the node ``( [MAX 2 )`` and whose right child is the leaf ``9``.

:class:`BinaryTree` holds one tree in post-order (children before their parent, the root last):

    node i is a leaf       iff left[i] == right[i] == -1, and then token[i] >= 0 is its id;
    node i is internal     iff left[i], right[i] are both < i, and then token[i] == -1.

``( ( [MAX 2 ) 9 )`` with ids ``[MAX``=12, ``2``=3, ``9``=10 is ::

    node   0      1    2    3    4
    token  12     3    -1   10   -1
    left   -1     -1   0    -1   2
    right  -1     -1   1    -1   3

:func:`batch_trees` packs a minibatch of trees into one :class:`TreeBatch` (a forest) ordered
by node height, so that a model evaluates all nodes of one height at once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from rnnlab.tasks.pairs import Vocabulary

OPEN, CLOSE = "(", ")"


@dataclass(frozen=True)
class BinaryTree:
    """One full binary tree in post-order (the root is the last node); see the module docstring.

    Attributes:
        left: left child of each node, or -1 at a leaf.
        right: right child of each node, or -1 at a leaf.
        token: token id of each leaf, or -1 at an internal node.

    Construction checks the invariants (equal lengths, children before parents, every node but
    the root the child of exactly one node, tokens at leaves only) and raises a ``ValueError``
    naming the first node that breaks one.
    """

    left: tuple[int, ...]
    right: tuple[int, ...]
    token: tuple[int, ...]

    def __post_init__(self) -> None:
        for name in ("left", "right", "token"):
            value = getattr(self, name)
            if not isinstance(value, tuple) or not all(
                isinstance(v, int) and not isinstance(v, bool) for v in value
            ):
                raise TypeError(f"{name} must be a tuple of ints, got {value!r}")
        n = len(self.token)
        if n == 0 or len(self.left) != n or len(self.right) != n:
            raise ValueError(
                "left, right and token must have the same length >= 1, got "
                f"{len(self.left)}, {len(self.right)}, {n}"
            )
        parents = [0] * n
        for i, (a, b, t) in enumerate(zip(self.left, self.right, self.token, strict=True)):
            if a == b == -1:
                if t < 0:
                    raise ValueError(f"token[{i}] of leaf {i} must be >= 0, got {t}")
                continue
            if not (0 <= a < i and 0 <= b < i and a != b):
                raise ValueError(
                    f"node {i}'s children must be two distinct earlier nodes (post-order), "
                    f"got left {a}, right {b}"
                )
            if t != -1:
                raise ValueError(f"token[{i}] of internal node {i} must be -1, got {t}")
            parents[a] += 1
            parents[b] += 1
        bad = [i for i in range(n - 1) if parents[i] != 1]
        if bad or parents[-1] != 0:
            node = bad[0] if bad else n - 1
            raise ValueError(
                f"every node but the root (node {n - 1}) must have exactly one parent; node "
                f"{node} has {parents[node]}"
            )

    def __len__(self) -> int:
        """Nodes, leaves and internal ones."""
        return len(self.token)

    @property
    def leaves(self) -> list[int]:
        """The token ids of the leaves, left to right (the sentence)."""
        return [t for t in self.token if t >= 0]

    @property
    def heights(self) -> list[int]:
        """Height of each node: 0 at a leaf, 1 + the larger of the children's elsewhere."""
        height: list[int] = []
        for a, b in zip(self.left, self.right, strict=True):
            height.append(0 if a < 0 else 1 + max(height[a], height[b]))
        return height


def parse_bracketed(text: str, vocabulary: Vocabulary) -> BinaryTree:
    """The :class:`BinaryTree` of a bracketing such as ``"( ( [MAX 2 ) 9 )"``.

    Tokens are separated by whitespace; ``(`` opens a node that must hold exactly two children
    before its ``)``; any other token is a leaf, looked up in ``vocabulary``. A lone token is a
    tree of one leaf.

    Raises:
        ValueError: a bracket that does not close on exactly two children, text after the
            root, empty text, or a token that is not in ``vocabulary`` (all name ``text``).
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    left: list[int] = []
    right: list[int] = []
    token: list[int] = []
    stack: list[list[int]] = [[]]  # children collected by each open bracket (the bottom: roots)
    for position, word in enumerate(text.split()):
        if word == OPEN:
            stack.append([])
        elif word == CLOSE:
            if len(stack) < 2 or len(stack[-1]) != 2:
                held = len(stack[-1]) if len(stack) >= 2 else "no open bracket"
                raise ValueError(
                    f"text: ')' at token {position} must close a bracket holding two children, "
                    f"got {held} in {text!r}"
                )
            a, b = stack.pop()
            left.append(a)
            right.append(b)
            token.append(-1)
            stack[-1].append(len(token) - 1)
        else:
            if word not in vocabulary or word in vocabulary.specials:
                raise ValueError(f"text: token {word!r} is not in the vocabulary {vocabulary}")
            left.append(-1)
            right.append(-1)
            token.append(vocabulary.id(word))
            stack[-1].append(len(token) - 1)
    if len(stack) != 1 or len(stack[0]) != 1:
        raise ValueError(
            f"text must hold exactly one complete tree, got {len(stack) - 1} unclosed "
            f"bracket(s) and {len(stack[0])} top-level tree(s) in {text!r}"
        )
    return BinaryTree(tuple(left), tuple(right), tuple(token))


def to_bracketed(tree: BinaryTree, vocabulary: Vocabulary) -> str:
    """The bracketing of ``tree`` (the inverse of :func:`parse_bracketed`)."""
    words: list[str] = []
    for i in range(len(tree)):
        if tree.left[i] < 0:
            words.append(vocabulary.symbols[tree.token[i]])
        else:
            # The subtrees of the children are the last two strings, left then right.
            b, a = words.pop(), words.pop()
            words.append(f"{OPEN} {a} {b} {CLOSE}")
    return words[0]


@dataclass(frozen=True)
class TreeBatch:
    """A minibatch of ``B`` trees as one forest, numbered by height.

    The ``N = n_leaves + n_internal`` nodes of all trees are renumbered: first every leaf
    (tree by tree, left to right), then the internal nodes of height 1, then those of height 2,
    and so on. Internal node ``k`` (``0 <= k < n_internal``) is node ``n_leaves + k``; its
    children have smaller heights, hence smaller numbers, and the internal nodes of height
    ``h`` are the contiguous range ``level_starts[h - 1] <= node < level_starts[h]``.

    Attributes:
        leaf_tokens: (n_leaves,) int64 token ids of nodes ``0 .. n_leaves - 1``.
        left: (n_internal,) int64 node number of the left child of each internal node.
        right: (n_internal,) int64 node number of the right child.
        level_starts: node numbers where each height's internal nodes begin, then ``N``:
            ``(n_leaves, ..., N)``, one entry per height 1..H plus the end.
        roots: (B,) int64 node number of each tree's root.
    """

    leaf_tokens: Tensor
    left: Tensor
    right: Tensor
    level_starts: tuple[int, ...]
    roots: Tensor

    @property
    def batch_size(self) -> int:
        return self.roots.shape[0]

    @property
    def n_leaves(self) -> int:
        return self.leaf_tokens.shape[0]

    @property
    def n_nodes(self) -> int:
        return self.level_starts[-1]

    def to(self, device: torch.device | str | None = None) -> TreeBatch:
        """The same batch with every tensor on ``device``."""
        return TreeBatch(
            leaf_tokens=self.leaf_tokens.to(device),
            left=self.left.to(device),
            right=self.right.to(device),
            level_starts=self.level_starts,
            roots=self.roots.to(device),
        )


def batch_trees(trees: Sequence[BinaryTree]) -> TreeBatch:
    """Pack ``trees`` (at least one :class:`BinaryTree`) into a :class:`TreeBatch`."""
    if isinstance(trees, BinaryTree) or not isinstance(trees, Sequence) or not trees:
        raise ValueError(f"trees must be a non-empty sequence of BinaryTree, got {trees!r}")
    for i, tree in enumerate(trees):
        if not isinstance(tree, BinaryTree):
            raise TypeError(f"trees[{i}] must be a BinaryTree, got {type(tree).__name__}")
    # Key every node by (height, tree, position): sorting gives the numbering.
    keys: list[tuple[int, int, int]] = []
    for b, tree in enumerate(trees):
        keys.extend((h, b, i) for i, h in enumerate(tree.heights))
    keys.sort()
    number = {(b, i): k for k, (_, b, i) in enumerate(keys)}
    n_leaves = sum(1 for h, _, _ in keys if h == 0)
    leaf_tokens = [trees[b].token[i] for _, b, i in keys[:n_leaves]]
    left = [number[b, trees[b].left[i]] for _, b, i in keys[n_leaves:]]
    right = [number[b, trees[b].right[i]] for _, b, i in keys[n_leaves:]]
    per_height = Counter(h for h, _, _ in keys)  # no height is skipped below the tallest
    level_starts = [n_leaves]
    for h in range(1, keys[-1][0] + 1):
        level_starts.append(level_starts[-1] + per_height[h])
    return TreeBatch(
        leaf_tokens=torch.tensor(leaf_tokens, dtype=torch.int64),
        left=torch.tensor(left, dtype=torch.int64),
        right=torch.tensor(right, dtype=torch.int64),
        level_starts=tuple(level_starts),
        roots=torch.tensor([number[b, len(t) - 1] for b, t in enumerate(trees)]),
    )


__all__ = ["BinaryTree", "TreeBatch", "batch_trees", "parse_bracketed", "to_bracketed"]
