"""Recursive neural networks over binary trees (DL book §10.6): TreeRNN and binary Tree-LSTM.

A recursive network applies the same composition at every internal node of a given tree: the
leaves are token embeddings, each internal node combines the states of its two children, and a
classifier reads the root. Depth is O(log n) for a balanced tree instead of O(n) for a chain,
but ListOps's left-branching bracketings are long chains too.

Two evaluations, which the tests compare in float64:

- :meth:`TreeNetwork.forward_recursive`: node by node, by recursion over each
  :class:`~rnnlab.tasks.trees.BinaryTree` (the obviously correct reference);
- :meth:`TreeNetwork.forward`: a whole :class:`~rnnlab.tasks.trees.TreeBatch` level by level,
  one composition per node height for all trees at once. States live in one buffer
  ``states (N, S)``; level ``h`` gathers its children's rows (``index_select``, whose backward
  needs only the indices) and writes its own rows in place, so the buffer's memory is
  ``N · S`` however tall the trees are.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnlab._checks import check_choice, check_size
from rnnlab.cells.base import uniform_init_
from rnnlab.tasks.trees import BinaryTree, TreeBatch

NONLINEARITIES = {"tanh": torch.tanh, "relu": torch.relu}


class TreeNetwork(nn.Module, ABC):
    """What TreeRNN and TreeLSTM share: leaves from an embedding, a composition at every
    internal node, and ``logits = W_y h_root + b_y`` (``head``) read from the root.

    A node's state is one vector of ``state_size`` features; its first ``hidden_size`` are the
    output ``h`` that the parent and the head see.

    Subclasses implement :meth:`leaf` and :meth:`compose`.

    Forward: a :class:`~rnnlab.tasks.trees.TreeBatch` of ``B`` trees -> logits (B, num_classes).
    """

    state_size: int

    def __init__(self, vocab_size: int, hidden_size: int, num_classes: int) -> None:
        super().__init__()
        self.vocab_size = check_size("vocab_size", vocab_size)
        self.hidden_size = check_size("hidden_size", hidden_size)
        self.num_classes = check_size("num_classes", num_classes)
        self.head = nn.Linear(hidden_size, num_classes)

    @abstractmethod
    def leaf(self, tokens: Tensor) -> Tensor:
        """States (n, state_size) of leaves holding ``tokens`` (n,) int64."""

    @abstractmethod
    def compose(self, left: Tensor, right: Tensor) -> Tensor:
        """States (n, state_size) of nodes whose children have states ``left`` and ``right``
        (n, state_size)."""

    def hidden(self, states: Tensor) -> Tensor:
        """The outputs ``h`` (..., hidden_size) of states (..., state_size)."""
        return states[..., : self.hidden_size]

    # ------------------------------------------------------------------ batched
    def root_states(self, trees: TreeBatch) -> Tensor:
        """States (B, state_size) of the roots, level by level (see the module docstring)."""
        if not isinstance(trees, TreeBatch):
            raise TypeError(
                f"trees must be a rnnlab.tasks.trees.TreeBatch (batch_trees(...)), got "
                f"{type(trees).__name__}"
            )
        self._check_tokens("trees.leaf_tokens", trees.leaf_tokens)
        n_leaves = trees.n_leaves
        leaves = self.leaf(trees.leaf_tokens.to(self.head.weight.device))  # (n_leaves, S)
        states = leaves.new_empty(trees.n_nodes, self.state_size)  # (N, S)
        states[:n_leaves] = leaves
        left, right = trees.left.to(leaves.device), trees.right.to(leaves.device)
        for start, end in pairwise(trees.level_starts):
            k = slice(start - n_leaves, end - n_leaves)  # this height's internal nodes
            states[start:end] = self.compose(
                states.index_select(0, left[k]), states.index_select(0, right[k])
            )
        return states.index_select(0, trees.roots.to(leaves.device))

    def forward(self, trees: TreeBatch) -> Tensor:
        """Logits (B, num_classes) of each tree of ``trees``, evaluated level by level."""
        return self.head(self.hidden(self.root_states(trees)))

    # ------------------------------------------------------------------ reference
    def forward_recursive(self, trees: Sequence[BinaryTree]) -> Tensor:
        """Logits (B, num_classes) of each tree, node by node by recursion: the reference."""
        if isinstance(trees, BinaryTree) or not isinstance(trees, Sequence) or not trees:
            raise TypeError(f"trees must be a non-empty sequence of BinaryTree, got {trees!r}")
        roots = []
        for b, tree in enumerate(trees):
            if not isinstance(tree, BinaryTree):
                raise TypeError(f"trees[{b}] must be a BinaryTree, got {type(tree).__name__}")
            self._check_tokens(f"trees[{b}].token", torch.tensor(tree.leaves))
            roots.append(self._node_state(tree, len(tree) - 1))
        return self.head(self.hidden(torch.cat(roots)))

    def _node_state(self, tree: BinaryTree, i: int) -> Tensor:
        """State (1, state_size) of node ``i`` of ``tree``."""
        if tree.left[i] < 0:
            return self.leaf(torch.tensor([tree.token[i]], device=self.head.weight.device))
        return self.compose(
            self._node_state(tree, tree.left[i]), self._node_state(tree, tree.right[i])
        )

    def _check_tokens(self, name: str, tokens: Tensor) -> None:
        if len(tokens) and not (int(tokens.min()) >= 0 and int(tokens.max()) < self.vocab_size):
            raise ValueError(
                f"{name} must be token ids in [0, {self.vocab_size}) (vocab_size), got ids "
                f"from {int(tokens.min())} to {int(tokens.max())}"
            )


class TreeRNN(TreeNetwork):
    r"""Recursive neural network with one composition matrix (Socher et al. 2011, "Parsing
    natural scenes and natural language with recursive neural networks", §3; Socher et al.
    2013, "Recursive deep models for semantic compositionality", §4.1; DL book §10.6).

    .. math::
        h_{leaf} &= E[token] \\
        h &= f(W [h_l; h_r] + b)

    in the code's names: ``h = nonlinearity(weight @ cat([h_left, h_right]) + bias)``, with the
    leaves' states the rows of ``embedding``. The state is ``h`` (``state_size = H``).

    Args:
        vocab_size: token ids are in ``[0, vocab_size)``.
        hidden_size: ``H``, the size of every node's vector (and of the embeddings).
        num_classes: outputs of the linear head on the root.
        nonlinearity: ``"tanh"`` (default) or ``"relu"``.

    Parameters, all U(-1/√H, 1/√H): ``embedding.weight`` (vocab_size, H), ``weight`` (H, 2H),
    ``bias`` (H,), ``head.weight`` (num_classes, H), ``head.bias`` (num_classes,).
    """

    def __init__(
        self, vocab_size: int, hidden_size: int, num_classes: int, *, nonlinearity: str = "tanh"
    ) -> None:
        super().__init__(vocab_size, hidden_size, num_classes)
        self.nonlinearity = check_choice("nonlinearity", nonlinearity, list(NONLINEARITIES))
        self.state_size = hidden_size
        self.embedding = nn.Embedding(vocab_size, hidden_size)
        self.weight = nn.Parameter(torch.empty(hidden_size, 2 * hidden_size))
        self.bias = nn.Parameter(torch.empty(hidden_size))
        uniform_init_(self, hidden_size)

    def leaf(self, tokens: Tensor) -> Tensor:
        return self.embedding(tokens)  # (n, H)

    def compose(self, left: Tensor, right: Tensor) -> Tensor:
        children = torch.cat([left, right], dim=-1)  # (n, 2H)
        return NONLINEARITIES[self.nonlinearity](F.linear(children, self.weight, self.bias))


class TreeLSTM(TreeNetwork):
    r"""Binary Tree-LSTM: the N-ary Tree-LSTM of Tai, Socher & Manning 2015 ("Improved semantic
    representations from tree-structured long short-term memory networks", §3.2, eqs. 9-14)
    with N = 2, a forget gate per child, input only at the leaves (as on constituency trees).

    At an internal node with children ``(h_l, c_l)`` and ``(h_r, c_r)``, in the code's names
    (``z = weight_children @ cat([h_l, h_r]) + bias`` cut into ``i, f_l, f_r, o, u``)::

        i   = σ(U_i [h_l; h_r] + b_i)
        f_l = σ(U_fl [h_l; h_r] + b_fl)        f_r = σ(U_fr [h_l; h_r] + b_fr)
        o   = σ(U_o [h_l; h_r] + b_o)
        u   = tanh(U_u [h_l; h_r] + b_u)
        c   = i ⊙ u + f_l ⊙ c_l + f_r ⊙ c_r
        h   = o ⊙ tanh(c)

    At a leaf with embedding ``x = embedding[token]`` (no children: their terms vanish),
    ``z = weight_leaf @ x + bias`` and ``c = i ⊙ u``, ``h = o ⊙ tanh(c)`` (its forget gates
    multiply nothing). With one child's state zero the node is an LSTM step on the other
    child's state: ``c = i ⊙ u + f_l ⊙ c_l`` with gates from ``U_{·,l} h_l`` only; the
    sequential LSTM is the Tree-LSTM of a chain (Tai et al. §3.1).

    The state of a node is ``[h; c]`` (``state_size = 2H``); the head reads ``h`` of the root.

    Args:
        vocab_size: token ids are in ``[0, vocab_size)``.
        hidden_size: ``H``, units of ``h`` and ``c``.
        num_classes: outputs of the linear head on the root.
        embedding_size: ``E``, size of the leaf embeddings (default: ``hidden_size``).

    Parameters, all U(-1/√H, 1/√H): ``embedding.weight`` (vocab_size, E), ``weight_leaf``
    (5H, E) (``W``), ``weight_children`` (5H, 2H) (``U``), ``bias`` (5H,) (``b``), rows in the
    order ``i, f_l, f_r, o, u``; ``head.weight`` (num_classes, H), ``head.bias``.
    """

    def __init__(
        self,
        vocab_size: int,
        hidden_size: int,
        num_classes: int,
        *,
        embedding_size: int | None = None,
    ) -> None:
        super().__init__(vocab_size, hidden_size, num_classes)
        H = hidden_size
        E = H if embedding_size is None else check_size("embedding_size", embedding_size)
        self.embedding_size = E
        self.state_size = 2 * H
        self.embedding = nn.Embedding(vocab_size, E)
        self.weight_leaf = nn.Parameter(torch.empty(5 * H, E))
        self.weight_children = nn.Parameter(torch.empty(5 * H, 2 * H))
        self.bias = nn.Parameter(torch.empty(5 * H))
        uniform_init_(self, hidden_size)

    def _cell(self, z: Tensor, c_l: Tensor | None, c_r: Tensor | None) -> Tensor:
        """``[h; c]`` (n, 2H) from the pre-activations ``z`` (n, 5H) and the children's cells."""
        i, f_l, f_r, o, u = z.chunk(5, dim=-1)
        c = torch.sigmoid(i) * torch.tanh(u)
        if c_l is not None:
            c = c + torch.sigmoid(f_l) * c_l + torch.sigmoid(f_r) * c_r
        h = torch.sigmoid(o) * torch.tanh(c)
        return torch.cat([h, c], dim=-1)

    def leaf(self, tokens: Tensor) -> Tensor:
        x = self.embedding(tokens)  # (n, E)
        return self._cell(F.linear(x, self.weight_leaf, self.bias), None, None)

    def compose(self, left: Tensor, right: Tensor) -> Tensor:
        H = self.hidden_size
        h_l, c_l = left[:, :H], left[:, H:]
        h_r, c_r = right[:, :H], right[:, H:]
        z = F.linear(torch.cat([h_l, h_r], dim=-1), self.weight_children, self.bias)  # (n, 5H)
        return self._cell(z, c_l, c_r)


__all__ = ["NONLINEARITIES", "TreeLSTM", "TreeNetwork", "TreeRNN"]
