"""Binary trees and recursive networks (TreeRNN, binary Tree-LSTM).

The batched level-by-level evaluation is compared with the node-by-node recursion (outputs and
gradients, float64, 1e-10); gradcheck on a tiny batch; the Tree-LSTM's node equations against
rnnlab's sequential LSTM cell (a node with one child zeroed is an LSTM step); a short training
run learns one-operator ListOps well above chance.
"""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

from rnnlab import cells
from rnnlab.models.tree import TreeLSTM, TreeRNN
from rnnlab.tasks import listops as lo
from rnnlab.tasks.pairs import Vocabulary
from rnnlab.tasks.trees import BinaryTree, batch_trees, parse_bracketed, to_bracketed

pytestmark = pytest.mark.usefixtures("single_thread")

DTYPE = torch.float64
MODELS = {
    "tree-rnn": lambda: TreeRNN(16, 4, 10),
    "tree-rnn-relu": lambda: TreeRNN(16, 4, 10, nonlinearity="relu"),
    "tree-lstm": lambda: TreeLSTM(16, 4, 10),
    "tree-lstm-embedding": lambda: TreeLSTM(16, 4, 10, embedding_size=3),
}


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ------------------------------------------------------------------------------ trees
def test_tree_arrays_hand_worked():
    """The example of the module docstring of rnnlab.tasks.trees."""
    tree = parse_bracketed("( ( [MAX 2 ) 9 )", lo.VOCABULARY)
    assert tree == BinaryTree((-1, -1, 0, -1, 2), (-1, -1, 1, -1, 3), (12, 3, -1, 10, -1))
    assert tree.heights == [0, 0, 1, 0, 2] and tree.leaves == [12, 3, 10]
    assert to_bracketed(tree, lo.VOCABULARY) == "( ( [MAX 2 ) 9 )"
    words = Vocabulary(["a", "b", "c", "d"], specials=())
    balanced = "( ( a b ) ( c d ) )"
    assert to_bracketed(parse_bracketed(balanced, words), words) == balanced
    assert parse_bracketed(balanced, words).heights == [0, 0, 1, 0, 0, 1, 2]


def test_batch_trees_numbering():
    examples = [*lo.make_examples(25, max_depth=6, generator=gen(0)), 3]
    trees = [lo.to_tree(e) for e in examples]
    batch = batch_trees(trees)
    n_leaves = sum(len(t.leaves) for t in trees)
    assert batch.n_leaves == n_leaves and batch.n_nodes == sum(map(len, trees))
    assert sorted(batch.leaf_tokens.tolist()) == sorted(x for t in trees for x in t.leaves)
    height = [0] * batch.n_nodes
    for h, (start, end) in enumerate(itertools.pairwise(batch.level_starts), 1):
        for node in range(start, end):
            a, b = batch.left[node - n_leaves], batch.right[node - n_leaves]
            assert a < start and b < start  # children computed at an earlier level
            height[node] = 1 + max(height[a], height[b])
            assert height[node] == h
    assert [height[r] for r in batch.roots.tolist()] == [t.heights[-1] for t in trees]
    assert batch.roots[-1] < n_leaves  # the lone digit is a leaf


def test_bad_trees_name_the_argument():
    with pytest.raises(ValueError, match="token\\[0\\] of leaf 0"):
        BinaryTree((-1,), (-1,), (-1,))
    with pytest.raises(ValueError, match="node 2's children"):
        BinaryTree((-1, -1, 2), (-1, -1, 1), (1, 2, -1))
    with pytest.raises(ValueError, match="exactly one parent"):
        BinaryTree((-1, -1, 0, 0), (-1, -1, 1, 1), (1, 2, -1, -1))
    with pytest.raises(ValueError, match="same length"):
        BinaryTree((-1,), (-1, -1), (1,))
    with pytest.raises(TypeError, match="left"):
        BinaryTree([-1], (-1,), (1,))
    with pytest.raises(ValueError, match="trees"):
        batch_trees([])
    with pytest.raises(TypeError, match="trees\\[1\\]"):
        batch_trees([lo.to_tree(1), "( 1 2 )"])


# ------------------------------------------------------------------------------ models
@pytest.mark.parametrize("name", list(MODELS))
def test_batched_equals_recursive(name):
    torch.manual_seed(0)
    model = MODELS[name]().to(DTYPE)
    examples = [*lo.make_examples(12, max_depth=5, generator=gen(1)), 7]
    trees = [lo.to_tree(e) for e in examples]
    targets = lo.labels(examples)

    def run(forward, arg):
        model.zero_grad()
        logits = forward(arg)
        F.cross_entropy(logits, targets).backward()
        return logits.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}

    batched, batched_grads = run(model, batch_trees(trees))
    recursive, recursive_grads = run(model.forward_recursive, trees)
    assert batched.shape == (13, 10)
    assert_close(batched, recursive, rtol=0, atol=1e-10)
    for n in batched_grads:
        assert_close(batched_grads[n], recursive_grads[n], rtol=0, atol=1e-10, msg=n)


@pytest.mark.parametrize("name", ["tree-rnn", "tree-lstm"])
def test_gradcheck(name, gradcheck_module):
    torch.manual_seed(0)
    model = TreeRNN(16, 2, 3) if name == "tree-rnn" else TreeLSTM(16, 2, 3)
    trees = [lo.to_tree(("[MAX", (2, ("[SM", (4, 5))))), lo.to_tree(6)]
    gradcheck_module(model.to(DTYPE), batch_trees(trees))


def test_tree_rnn_node_equation():
    torch.manual_seed(0)
    model = TreeRNN(16, 3, 10).to(DTYPE)
    h_l, h_r = torch.randn(2, 3, dtype=DTYPE), torch.randn(2, 3, dtype=DTYPE)
    expected = torch.tanh(torch.cat([h_l, h_r], -1) @ model.weight.T + model.bias)
    assert_close(model.compose(h_l, h_r), expected, rtol=0, atol=1e-14)
    assert_close(model.leaf(torch.tensor([4])), model.embedding.weight[4:5])


def lstm_cell_from(model: TreeLSTM, weight_hh, weight_ih, input_size):
    """rnnlab's LSTM cell (gate order i, f, g, o) holding the Tree-LSTM's rows i, f_l, u, o."""
    H = model.hidden_size
    rows = torch.cat([torch.arange(0, H), torch.arange(H, 2 * H), torch.arange(4 * H, 5 * H)])
    rows = torch.cat([rows, torch.arange(3 * H, 4 * H)])  # i, f_l, u, o
    cell = cells.LSTM(input_size, H, dtype=DTYPE)
    with torch.no_grad():
        cell.weight_hh.copy_(weight_hh[rows])
        cell.weight_ih.copy_(weight_ih[rows])
        cell.bias_hh.copy_(model.bias[rows])
        cell.bias_ih.zero_()
    return cell


def test_tree_lstm_with_one_child_zeroed_is_an_lstm_step():
    """c = i ⊙ u + f_l ⊙ c_l with gates from U_{·,l} h_l: rnnlab's LSTM step from (h_l, c_l)
    with no input; a leaf is an LSTM step from the zero state with input x = embedding."""
    torch.manual_seed(0)
    model = TreeLSTM(16, 3, 10, embedding_size=5).to(DTYPE)
    H = 3
    h_l, c_l = torch.randn(4, H, dtype=DTYPE), torch.randn(4, H, dtype=DTYPE)
    left = torch.cat([h_l, c_l], -1)
    zero = torch.zeros(4, 2 * H, dtype=DTYPE)
    cell = lstm_cell_from(
        model, model.weight_children[:, :H], torch.zeros(5 * H, 1, dtype=DTYPE), 1
    )
    h, (_, c) = cell(torch.zeros(4, 1, dtype=DTYPE), (h_l, c_l))
    assert_close(model.compose(left, zero), torch.cat([h, c], -1), rtol=0, atol=1e-14)
    # The right child zeroed is the mirror image: gates from U_{·,r} h_r and f_r.
    mirrored = model.compose(zero, left)
    U_r = model.weight_children[:, H:]
    i, _, f_r, o, u = (h_l @ U_r.T + model.bias).chunk(5, -1)
    c_r = torch.sigmoid(i) * torch.tanh(u) + torch.sigmoid(f_r) * c_l
    assert_close(mirrored, torch.cat([torch.sigmoid(o) * torch.tanh(c_r), c_r], -1))
    # A leaf: the zero state and input x.
    tokens = torch.tensor([0, 5, 15])
    cell = lstm_cell_from(model, torch.zeros(5 * H, H, dtype=DTYPE), model.weight_leaf, 5)
    h, (_, c) = cell(model.embedding(tokens), cell.initial_state(3, dtype=DTYPE))
    assert_close(model.leaf(tokens), torch.cat([h, c], -1), rtol=0, atol=1e-14)


def test_tree_lstm_learns_one_operator_listops():
    """One operator over 2-5 digits (max_depth=2): ~50% held-out accuracy after 12 epochs over
    400 examples (chance 10%); asserted >= 35%."""
    examples = lo.make_examples(700, max_depth=2, generator=gen(1))
    train, test = examples[:400], examples[400:]
    chunks = [train[i : i + 100] for i in range(0, 400, 100)]
    batches = [(lo.tree_batch(chunk), lo.labels(chunk)) for chunk in chunks]
    torch.manual_seed(0)
    model = TreeLSTM(len(lo.VOCABULARY), 24, 10)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.03)
    for _ in range(12):
        for trees, labels in batches:
            loss = F.cross_entropy(model(trees), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    with torch.no_grad():
        accuracy = (model(lo.tree_batch(test)).argmax(-1) == lo.labels(test)).double().mean()
    assert accuracy >= 0.35, accuracy


def test_bad_model_input_names_the_argument():
    model = TreeRNN(16, 4, 10)
    with pytest.raises(TypeError, match=r"trees must be a rnnlab\.tasks\.trees\.TreeBatch"):
        model([lo.to_tree(3)])
    with pytest.raises(ValueError, match=r"trees\.leaf_tokens must be token ids in \[0, 8\)"):
        TreeRNN(8, 4, 10)(batch_trees([lo.to_tree(("[MAX", (2, 9)))]))
    with pytest.raises(ValueError, match=r"trees\[0\]\.token"):
        TreeLSTM(8, 4, 10).forward_recursive([lo.to_tree(("[MAX", (2, 9)))])
    with pytest.raises(TypeError, match="trees must be a non-empty sequence"):
        model.forward_recursive(lo.to_tree(3))
    with pytest.raises(ValueError, match="nonlinearity"):
        TreeRNN(16, 4, 10, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="hidden_size"):
        TreeLSTM(16, 0, 10)
    with pytest.raises(TypeError, match="embedding_size"):
        TreeLSTM(16, 4, 10, embedding_size=2.0)
