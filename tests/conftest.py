"""Shared fixtures: seeded randomness in float64, a factory for every cell configuration, a
``gradcheck`` that also perturbs a module's parameters, and the compiled loops.

``seeded`` and ``single_thread`` are opt-in (``pytestmark = pytest.mark.usefixtures(...)``) so
that they change nothing for test modules that do not ask for them.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from types import ModuleType, SimpleNamespace

import pytest
import torch
from torch import Tensor, nn

from rnnlab import cells
from rnnlab import compiled as rnnlab_compiled
from rnnlab.tasks.pairs import pad_pairs

DTYPE = torch.float64

# name -> factory(input_size, **factory_kwargs) -> Cell. Hidden sizes are tiny on purpose: these
# configurations feed the gradchecks, and every test below runs in milliseconds.
CELL_FACTORIES: dict[str, Callable[..., cells.Cell]] = {
    "elman-tanh": lambda n, **kw: cells.Elman(n, 3, **kw),
    "elman-sigmoid": lambda n, **kw: cells.Elman(n, 3, nonlinearity="sigmoid", **kw),
    "elman-relu": lambda n, **kw: cells.Elman(n, 3, nonlinearity="relu", **kw),
    "elman-nobias": lambda n, **kw: cells.Elman(n, 3, bias=False, **kw),
    "jordan-identity": lambda n, **kw: cells.Jordan(n, 3, 2, **kw),
    "jordan-softmax": lambda n, **kw: cells.Jordan(n, 3, 3, feedback="softmax", **kw),
    "jordan-sigmoid": lambda n, **kw: cells.Jordan(
        n, 3, 2, nonlinearity="relu", feedback="sigmoid", **kw
    ),
    "jordan-tanh-nobias": lambda n, **kw: cells.Jordan(
        n, 3, 2, bias=False, nonlinearity="sigmoid", feedback="tanh", **kw
    ),
    "lstm": lambda n, **kw: cells.LSTM(n, 3, **kw),
    "lstm-peephole": lambda n, **kw: cells.LSTM(n, 3, peephole=True, **kw),
    "lstm-forget-bias": lambda n, **kw: cells.LSTM(n, 3, forget_bias=1.0, **kw),
    "lstm-proj": lambda n, **kw: cells.LSTM(n, 4, proj_size=2, **kw),
    "lstm-peephole-proj": lambda n, **kw: cells.LSTM(n, 4, peephole=True, proj_size=2, **kw),
    "lstm-nobias": lambda n, **kw: cells.LSTM(n, 3, bias=False, **kw),
    "gru": lambda n, **kw: cells.GRU(n, 3, **kw),
    "gru-nobias": lambda n, **kw: cells.GRU(n, 3, bias=False, **kw),
    "leaky-fixed": lambda n, **kw: cells.Leaky(
        n, 3, time_constants=torch.tensor([1.0, 4, 16]), **kw
    ),
    "leaky-learned": lambda n, **kw: cells.Leaky(n, 3, learn_alpha=True, time_constants=8.0, **kw),
    "skip": lambda n, **kw: cells.SkipElman(n, 3, delays=2, **kw),
    "skip-no-one": lambda n, **kw: cells.SkipElman(n, 3, delays=(2, 3), delay_one=False, **kw),
    "clockwork": lambda n, **kw: cells.Clockwork(n, 4, [1, 2], **kw),
    "clockwork-full-sigmoid": lambda n, **kw: cells.Clockwork(
        n, 6, [1, 2, 3], connectivity="full", nonlinearity="sigmoid", **kw
    ),
    "clockwork-nobias": lambda n, **kw: cells.Clockwork(n, 3, modules=3, bias=False, **kw),
    "lru": lambda n, **kw: cells.LRU(n, 3, r_min=0.5, r_max=0.9, **kw),
    "lru-readout": lambda n, **kw: cells.LRU(n, 4, output_size=3, **kw),
}


HAS_COMPILER = shutil.which("c++") is not None and shutil.which("ninja") is not None


@pytest.fixture(scope="session")
def compiled_module() -> Callable[[str], ModuleType]:
    """``name -> rnnlab.compiled.load(name)``: skips the test where no compiler and ninja are
    found, and fails it where they are and the build failed anyway."""

    def load(name: str) -> ModuleType:
        module = rnnlab_compiled.load(name)
        if module is None:
            why = rnnlab_compiled.failure(name)
            if HAS_COMPILER:
                pytest.fail(f"a compiler and ninja are present, yet {name} was not built: {why}")
            pytest.skip(f"{name} cannot be built on this machine: {why}")
        return module

    return load


@pytest.fixture
def seeded() -> None:
    """Parameter initialisation and dropout draw from torch's global RNG: fix it per test."""
    torch.manual_seed(0)


@pytest.fixture
def single_thread():
    """One intra-op thread: these tests use tiny tensors, where thread hand-offs cost more than
    the arithmetic and make a loaded machine hundreds of times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def gen() -> torch.Generator:
    """A seeded CPU generator for the test's own data."""
    return torch.Generator().manual_seed(1234)


@pytest.fixture
def randn(gen: torch.Generator) -> Callable[..., Tensor]:
    """``randn(*shape)``: standard normal float64 data from ``gen``."""

    def draw(*shape: int) -> Tensor:
        return torch.randn(*shape, generator=gen, dtype=DTYPE)

    return draw


@pytest.fixture
def random_state(gen: torch.Generator) -> Callable[..., object]:
    """``random_state(module, B)``: a random state shaped like ``module.initial_state(B)``."""

    def draw(module: nn.Module, batch_size: int) -> object:
        template = module.initial_state(batch_size, dtype=DTYPE)
        return map_leaves(
            lambda t: torch.randn(t.shape, generator=gen, dtype=t.dtype) * 0.5, template
        )

    return draw


@pytest.fixture(params=list(CELL_FACTORIES))
def cell_name(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def make_cell(cell_name: str) -> Callable[[int], cells.Cell]:
    """``make_cell(input_size)``: a fresh float64 cell of the parametrized configuration."""

    def build(input_size: int = 2) -> cells.Cell:
        return CELL_FACTORIES[cell_name](input_size, dtype=DTYPE)

    return build


# ------------------------------------------------------------------------------ state trees
def differentiable(t: Tensor) -> bool:
    """A floating-point or complex tensor (an LRU's state is complex; a step counter is not)."""
    return t.is_floating_point() or t.is_complex()


def float_leaves(tree: object) -> list[Tensor]:
    """The floating-point and complex tensors of a nested tuple/list, depth first."""
    if isinstance(tree, Tensor):
        return [tree] if differentiable(tree) else []
    if isinstance(tree, (tuple, list)):
        return [leaf for item in tree for leaf in float_leaves(item)]
    return []


def real_leaves(tree: object) -> list[Tensor]:
    """:func:`float_leaves`, complex ones viewed as real (..., 2) pairs: what a real-valued
    test loss reads."""
    return [torch.view_as_real(t) if t.is_complex() else t for t in float_leaves(tree)]


def map_leaves(fn: Callable[[Tensor], Tensor], tree: object) -> object:
    """Apply ``fn`` to every floating-point or complex tensor of a nested tuple/list (lists
    become tuples)."""
    if isinstance(tree, Tensor):
        return fn(tree) if differentiable(tree) else tree
    if isinstance(tree, (tuple, list)):
        return tuple(map_leaves(fn, item) for item in tree)
    return tree


def index_state(tree: object, index: object) -> object:
    """``state[index]`` on every leaf, floating or integer (a clockwork step counter); leaves
    are batch-major."""
    if isinstance(tree, Tensor):
        return tree[index]
    if isinstance(tree, (tuple, list)):
        return tuple(index_state(item, index) for item in tree)
    return tree


class _Method(nn.Module):
    """Exposes ``module.<method>`` as ``forward`` so that ``functional_call`` can reach it."""

    def __init__(self, module: nn.Module, method: str) -> None:
        super().__init__()
        self.module, self.method = module, method

    def forward(self, *args: object) -> object:
        return getattr(self.module, self.method)(*args)


@pytest.fixture
def gradcheck_module() -> Callable[..., None]:
    """``gradcheck_module(module, *args, method="forward")``: ``torch.autograd.gradcheck`` of
    ``module.method(*args)`` with respect to every parameter and every floating-point tensor in
    ``args`` (nested states included). Outputs are flattened to their floating-point leaves."""

    def check(module: nn.Module, *args: object, method: str = "forward") -> None:
        if method != "forward":
            module = _Method(module, method)
        names = [name for name, _ in module.named_parameters()]
        params = [p.detach().clone().requires_grad_() for _, p in module.named_parameters()]
        inputs = [t.detach().clone().requires_grad_() for t in float_leaves(args)]

        def fn(*flat: Tensor) -> tuple[Tensor, ...]:
            given = iter(flat[len(names) :])
            call_args = map_leaves(lambda _: next(given), args)
            parameters = dict(zip(names, flat[: len(names)], strict=True))
            out = torch.func.functional_call(module, parameters, call_args)
            return tuple(float_leaves(out))

        assert torch.autograd.gradcheck(fn, (*params, *inputs))

    return check


@pytest.fixture
def tree() -> SimpleNamespace:
    """Helpers on nested states: ``tree.leaves``, ``tree.reals``, ``tree.map``, ``tree.index``."""
    return SimpleNamespace(
        leaves=float_leaves, reals=real_leaves, map=map_leaves, index=index_state
    )


# ------------------------------------------------------------------------------ transduction
def labelled_frames(generator, batch_size, n_labels, max_labels=4):
    """Each label ``k`` shown as 2 frames of one-hot ``k`` and a zero frame: ``3 U`` frames."""
    pairs = []
    for _ in range(batch_size):
        U = int(torch.randint(1, max_labels + 1, (1,), generator=generator))
        y = torch.randint(0, n_labels, (U,), generator=generator)
        frames = torch.zeros(3 * U, n_labels)
        frames[0::3] = torch.nn.functional.one_hot(y, n_labels).float()
        frames[1::3] = frames[0::3]
        pairs.append((frames, y))
    return pad_pairs(pairs)


def label_errors(decoded, batch):
    return sum(d != batch.target(i).tolist() for i, d in enumerate(decoded))


def train_until_exact(model, make_batch, test, max_steps, lr=0.03):
    """Adam on fresh batches until greedy decoding of ``test`` is exact (checked every 20
    steps); returns the first and last training losses."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for step in range(max_steps):
        loss = model.loss(make_batch())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if (
            step % 20 == 19
            and label_errors(model.decode(test.sources, test.source_lengths), test) == 0
        ):
            break
    return losses[0], losses[-1]


@pytest.fixture
def transduction() -> SimpleNamespace:
    """Helpers for training transducer and CTC models in tests: ``labelled_frames``,
    ``label_errors``, ``train_until_exact``."""
    return SimpleNamespace(
        labelled_frames=labelled_frames,
        label_errors=label_errors,
        train_until_exact=train_until_exact,
    )
