"""rnnlab.tasks.stream_draws: the compiled draws from many generators against torch's own calls
on each stream (``Tensor.random_`` and ``Tensor.uniform_``, bit for bit), and the reference
(one torch call per stream) beside them: the same numbers, the same refusals."""

from __future__ import annotations

import pytest
import torch

from rnnlab.tasks import stream_draws


@pytest.fixture(params=["compiled", "loop"])
def path(request, monkeypatch, compiled_module):
    if request.param == "compiled":
        compiled_module("stream_draws")  # skips where it cannot be built
    else:
        monkeypatch.setattr(stream_draws, "USE_COMPILED", False)
    return request.param


def streams(n: int, seed: int = 0) -> list[torch.Generator]:
    return [torch.Generator().manual_seed(seed + 1000 * k) for k in range(n)]


@pytest.mark.parametrize("n", [1, 3])
def test_integers_draw_what_random_draws_on_each_stream(path, n):
    K = 7
    highs = [1, 2, 10, 51, 1000, 2**20, 2**29]  # 2**29: the 64-bit draw of random_
    mine, torch_own = streams(K), streams(K)
    for _ in range(3):  # the streams move on as random_'s would
        rows = stream_draws.integers(torch.empty(K, n, dtype=torch.long), highs, mine)
        for k, (high, g) in enumerate(zip(highs, torch_own, strict=True)):
            expected = torch.empty(n, dtype=torch.long).random_(0, high, generator=g)
            assert torch.equal(rows[k], expected), k
    assert all(
        torch.equal(a.get_state(), b.get_state()) for a, b in zip(mine, torch_own, strict=True)
    )


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(), (3,)], ids=["1d", "2d"])
def test_uniform_blocks_draw_what_uniform_draws_on_each_stream(path, dtype, shape):
    sizes = [4, 0, 9, 1]
    mine, torch_own = streams(4, seed=5), streams(4, seed=5)
    for _ in range(2):
        buffer = torch.full((sum(sizes) + 2, *shape), -7.0, dtype=dtype)  # 2 rows past the blocks
        stream_draws.uniform_blocks(buffer, sizes, mine)
        start = 0
        for size, g in zip(sizes, torch_own, strict=True):
            expected = torch.empty(size, *shape, dtype=dtype).uniform_(generator=g)
            assert torch.equal(buffer[start : start + size], expected)
            start += size
        assert (buffer[start:] == -7.0).all()  # the rows past the blocks are left alone


def test_the_global_generator_is_one_of_the_streams(path):
    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(3)
        rows = stream_draws.integers(
            torch.empty(1, 4, dtype=torch.long), [9], [torch.default_generator]
        )
        torch.manual_seed(3)
        assert torch.equal(rows[0], torch.randint(9, (4,)))
    finally:
        torch.random.set_rng_state(state)


def test_tensors_the_compiled_loop_cannot_take_go_to_the_reference(compiled_module):
    compiled_module("stream_draws")
    rows = torch.empty(3, 2, dtype=torch.long).t()  # (2, 3), not contiguous
    stream_draws.integers(rows, [5, 6], streams(2))
    expected = stream_draws.integers_by_calls(
        torch.empty(2, 3, dtype=torch.long), [5, 6], streams(2)
    )
    assert torch.equal(rows, expected)
    halves = stream_draws.uniform_blocks(torch.empty(4, 2, dtype=torch.float16), [1, 3], streams(2))
    expected = stream_draws.uniform_blocks_by_calls(
        torch.empty(4, 2, dtype=torch.float16), [1, 3], streams(2)
    )
    assert torch.equal(halves, expected)


def test_nothing_to_draw(path):
    g = streams(2)
    before = [x.get_state() for x in g]
    stream_draws.integers(torch.empty(2, 0, dtype=torch.long), [3, 4], g)
    assert stream_draws.integers(torch.empty(0, 3, dtype=torch.long), [], []).shape == (0, 3)
    stream_draws.uniform_blocks(torch.empty(0, 3), [], [])
    stream_draws.uniform_blocks(torch.empty(5, 0), [2, 3], g)
    stream_draws.uniform_blocks(torch.empty(0, 3), [0, 0], g)
    assert all(torch.equal(x.get_state(), b) for x, b in zip(g, before, strict=True))


def test_bad_arguments_are_refused(path):
    with pytest.raises(ValueError, match=r"highs must have one entry per generator \(2\), got 1"):
        stream_draws.integers(torch.empty(2, 1, dtype=torch.long), [3], streams(2))
    with pytest.raises(ValueError, match=r"rows must have one entry per generator \(2\), got 3"):
        stream_draws.integers(torch.empty(3, 1, dtype=torch.long), [3, 3], streams(2))
    with pytest.raises(ValueError, match=r"rows must be \(K, n\), got shape \(2,\)"):
        stream_draws.integers(torch.empty(2, dtype=torch.long), [3, 3], streams(2))
    with pytest.raises(ValueError, match=r"highs must be >= 1 \(draws from \[0, high\)\), got 0"):
        stream_draws.integers(torch.empty(1, 1, dtype=torch.long), [0], streams(1))
    with pytest.raises(TypeError, match=r"generators\[1\] must be a torch.Generator, got NoneType"):
        stream_draws.integers(torch.empty(2, 1, dtype=torch.long), [3, 3], [streams(1)[0], None])
    with pytest.raises(ValueError, match=r"sizes must have one entry per generator \(2\), got 1"):
        stream_draws.uniform_blocks(torch.empty(4), [4], streams(2))
    with pytest.raises(ValueError, match=r"first dimension \(4\), got \[3, 2\]"):
        stream_draws.uniform_blocks(torch.empty(4), [3, 2], streams(2))
    with pytest.raises(ValueError, match="buffer must have at least one dimension"):
        stream_draws.uniform_blocks(torch.tensor(0.0), [], [])
