"""Greedy search, sampling and beam search against their oracles.

The generator is a table: the next-token log-probabilities and the stop probability of every
prefix of every example are independent random draws, so no search can exploit structure and
any mix-up of hypotheses (a wrong ``select``) changes the scores. Oracles:

- :func:`exhaustive_search` (the library's slow twin) for beam search with a beam wide enough to
  prune nothing: the same sequences and scores to 1e-12;
- a per-example list-based beam search written here, read straight from the tables, for narrow
  beams (it checks the batching, the reordering and the early end of the batched search);
- the exact probability of every complete sequence, from the tables, for sampling (χ² test);
- the toy model's own table lookups for each hypothesis's log-probability.
"""

from __future__ import annotations

import math
from collections import Counter

import pytest
import torch
from torch import Tensor

from rnnlab.decoding.exhaustive import exhaustive_search
from rnnlab.decoding.search import Hypothesis, beam_search, greedy, sample
from rnnlab.decoding.stop_rules import EndSymbol, FixedLength, StopRule, StopUnit

pytestmark = pytest.mark.usefixtures("single_thread")

DTYPE = torch.float64
V = 3  # output vocabulary
START = V  # the start symbol: an input token only
EOS = 1  # the end symbol under EndSymbol (in the middle of the vocabulary on purpose)
N = 3  # source examples
MAX_LENGTH = 4
LENGTHS = [4, 2, 3]  # FixedLength's predicted lengths of the N examples


class TableDecoder:
    """A :class:`StepDecoder` whose every prefix has its own random next-token distribution.

    The state is ``((example, memory), (step, code))``: ``memory`` stands for an encoder's
    output (one row per hypothesis, checked against ``example`` at every step) and ``code``
    numbers the prefix (``code' = code · (V + 1) + token + 1``).
    """

    def __init__(
        self,
        num_examples: int = N,
        max_length: int = MAX_LENGTH,
        *,
        stop_unit: bool = True,
        stop_bias: float = -0.5,
        seed: int = 0,
    ) -> None:
        gen = torch.Generator().manual_seed(seed)
        codes = (V + 1) ** max_length
        logits = 1.5 * torch.randn(num_examples, codes, V, generator=gen, dtype=DTYPE)
        self.table = logits.log_softmax(dim=2)  # (N, codes, V)
        stop_logits = torch.randn(num_examples, codes, generator=gen, dtype=DTYPE) + stop_bias
        self.stop_table = torch.nn.functional.logsigmoid(stop_logits)  # (N, codes)
        self.num_examples = num_examples
        self.stop_unit = stop_unit
        self.steps = 0  # calls of step

    def initial_state(self, example: Tensor | None = None) -> tuple:
        if example is None:
            example = torch.arange(self.num_examples)
        memory = example.to(DTYPE).unsqueeze(1).repeat(1, 2)  # (M, 2)
        zeros = torch.zeros_like(example)
        return (example, memory), (zeros, zeros.clone())

    def step(self, tokens: Tensor, state: tuple) -> tuple[Tensor, Tensor | None, tuple]:
        (example, memory), (t, code) = state
        assert tokens.shape == example.shape
        assert torch.equal(memory[:, 0], example.to(DTYPE)), "a state was selected wrongly"
        first = t == 0
        assert (tokens[first] == START).all()
        assert ((tokens[~first] >= 0) & (tokens[~first] < V)).all()
        code = torch.where(first, code, code * (V + 1) + tokens + 1)
        self.steps += 1
        stop = self.stop_table[example, code] if self.stop_unit else None
        return self.table[example, code], stop, ((example, memory), (t + 1, code))

    def select(self, state: tuple, index: Tensor) -> tuple:
        (example, memory), (t, code) = state
        return (example[index], memory[index]), (t[index], code[index])


def start(n: int = N) -> Tensor:
    return torch.full((n,), START, dtype=torch.long)


def make_rule(name: str, lengths: list[int] = LENGTHS) -> StopRule:
    return {"eos": EndSymbol(EOS), "unit": StopUnit(), "fixed": FixedLength(lengths)}[name]


# ------------------------------------------------------------------ oracles read from the table
def outcome_log_probs(
    model: TableDecoder,
    n: int,
    prefix: list[int],
    rule: str,
    *,
    min_length: int = 0,
    no_repeat_ngram: int = 0,
    lengths: list[int] = LENGTHS,
) -> list[float]:
    """[continue with 0, …, continue with V−1, stop] for example ``n`` after ``prefix``; the
    caller handles the FixedLength stop at the length and the forced stop at max_length."""
    code = 0
    for k in prefix:
        code = code * (V + 1) + k + 1
    p = model.table[n, code].tolist()
    s = float(model.stop_table[n, code])
    if rule == "eos":
        cont, end = [-math.inf if k == EOS else p[k] for k in range(V)], p[EOS]
    elif rule == "unit":
        cont, end = [math.log(-math.expm1(s)) + p[k] for k in range(V)], s
    else:
        assert len(prefix) < lengths[n]
        cont, end = p, -math.inf
    if len(prefix) < min_length:
        end = -math.inf
    m = no_repeat_ngram
    if m:
        for k in range(V):
            grams = [tuple([*prefix, k][i : i + m]) for i in range(len(prefix) + 1 - m + 1)]
            if len(grams) > 1 and grams[-1] in grams[:-1]:
                cont[k] = -math.inf
    return [*cont, end]


def reference_beam(
    model: TableDecoder,
    n: int,
    rule: str,
    width: int,
    *,
    max_length: int = MAX_LENGTH,
    min_length: int = 0,
    alpha: float = 0.0,
    no_repeat_ngram: int = 0,
) -> list[tuple[list[int], float, float, bool]]:
    """Plain beam search for one example: keep the ``width`` best candidates (stop or token)
    by log-probability at each step, collect all finished ones, rank them at the end."""
    live: list[tuple[list[int], float]] = [([], 0.0)]
    done: list[tuple[list[int], float, bool]] = []
    for t in range(max_length + 1):
        if rule == "fixed" and t == LENGTHS[n]:
            done += [(p, s, False) for p, s in live]
            break
        if t == max_length:
            done += [(p, s, True) for p, s in live]
            break
        candidates = []
        for p, s in live:
            costs = outcome_log_probs(
                model, n, p, rule, min_length=min_length, no_repeat_ngram=no_repeat_ngram
            )
            candidates += [(s + c, p, k) for k, c in enumerate(costs) if c > -math.inf]
        candidates.sort(key=lambda c: -c[0])
        live = []
        for s, p, k in candidates[:width]:
            if k == V:
                done.append((p, s, False))
            else:
                live.append(([*p, k], s))
        if not live:
            break
    ranked = [(p, s, s / ((5 + len(p)) / 6) ** alpha, tr) for p, s, tr in done]
    return sorted(ranked, key=lambda h: -h[2])[:width]


def sequence_log_prob(model: TableDecoder, n: int, h: Hypothesis, rule: str) -> float:
    """The model's log-probability of a hypothesis, outcome by outcome (no constraints)."""
    total = 0.0
    for t, k in enumerate(h.tokens):
        total += outcome_log_probs(model, n, h.tokens[:t], rule)[k]
    if not h.truncated and not (rule == "fixed" and len(h.tokens) == LENGTHS[n]):
        total += outcome_log_probs(model, n, h.tokens, rule)[V]
    return total


def assert_same(ours: Hypothesis, tokens: list[int], log_prob: float, score: float, tr: bool):
    assert ours.tokens == tokens and ours.truncated == tr
    assert ours.log_prob == pytest.approx(log_prob, rel=0, abs=1e-12)
    assert ours.score == pytest.approx(score, rel=0, abs=1e-12)


def has_repeated_ngram(tokens: list[int], n: int) -> bool:
    grams = [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
    return n > 0 and len(grams) != len(set(grams))


# ------------------------------------------------------------------------ beam vs exhaustive
CONFIGS = {
    "plain": {},
    "penalty": {"length_penalty": 0.8},
    "min-length": {"min_length": 2},
    "no-repeat-1": {"no_repeat_ngram": 1},
    "no-repeat-2": {"no_repeat_ngram": 2},
    "all": {"length_penalty": 1.3, "min_length": 1, "no_repeat_ngram": 2},
}
WIDE = 128  # > 1 + 3 + 9 + 27 + 81 sequences and > 27 · 4 candidates of any step: no pruning


@pytest.mark.parametrize("config", list(CONFIGS))
@pytest.mark.parametrize("rule", ["eos", "unit", "fixed"])
def test_wide_beam_is_exhaustive_search(rule, config):
    kwargs = CONFIGS[config]
    model = TableDecoder()
    stop = make_rule(rule)
    search = dict(stop=stop, max_length=MAX_LENGTH, **kwargs)
    exact = exhaustive_search(model, model.initial_state(), start(), **search)
    beams = beam_search(model, model.initial_state(), start(), beam_width=WIDE, **search)
    min_length = kwargs.get("min_length", 0)
    ngram = kwargs.get("no_repeat_ngram", 0)
    for n in range(N):
        assert len(beams[n]) == len(exact[n])  # every sequence, ranked
        for ours, theirs in zip(beams[n], exact[n], strict=True):
            assert_same(ours, theirs.tokens, theirs.log_prob, theirs.score, theirs.truncated)
        for h in exact[n]:
            assert len(h.tokens) >= min_length and not has_repeated_ngram(h.tokens, ngram)
            assert h.truncated == (len(h.tokens) == MAX_LENGTH and rule != "fixed")
            assert rule != "eos" or EOS not in h.tokens
            assert rule != "fixed" or len(h.tokens) == LENGTHS[n]
            expected = sequence_log_prob(model, n, h, rule)
            assert h.log_prob == pytest.approx(expected, rel=0, abs=1e-12)
    # (a fixed length of 4 over 3 tokens that may not repeat leaves example 0 nothing)
    assert sum(len(found) > 1 for found in exact) >= 2


@pytest.mark.parametrize("rule", ["eos", "unit", "fixed"])
def test_exhaustive_probabilities_sum_to_one(rule):
    # without constraints every outcome is counted once: the complete sequences (truncated ones
    # standing for all their continuations) carry the whole probability
    model = TableDecoder()
    found = exhaustive_search(
        model, model.initial_state(), start(), stop=make_rule(rule), max_length=MAX_LENGTH
    )
    for n in range(N):
        total = math.fsum(math.exp(h.log_prob) for h in found[n])
        assert total == pytest.approx(1.0, rel=0, abs=1e-12)


@pytest.mark.parametrize("config", list(CONFIGS))
@pytest.mark.parametrize("rule", ["eos", "unit", "fixed"])
def test_narrow_beam_is_plain_beam_search_and_never_beats_the_optimum(rule, config):
    kwargs = CONFIGS[config]
    model = TableDecoder()
    search = dict(stop=make_rule(rule), max_length=MAX_LENGTH, **kwargs)
    exact = exhaustive_search(model, model.initial_state(), start(), **search)
    for width in (1, 2, 3):
        beams = beam_search(model, model.initial_state(), start(), beam_width=width, **search)
        for n in range(N):
            reference = reference_beam(
                model,
                n,
                rule,
                width,
                min_length=kwargs.get("min_length", 0),
                alpha=kwargs.get("length_penalty", 0.0),
                no_repeat_ngram=kwargs.get("no_repeat_ngram", 0),
            )
            assert len(beams[n]) == len(reference)
            for ours, theirs in zip(beams[n], reference, strict=True):
                assert_same(ours, *theirs)
            if not exact[n]:  # a fixed length that blocking makes impossible
                assert beams[n] == []
                continue
            assert beams[n][0].score <= exact[n][0].score + 1e-12
            table = {(tuple(h.tokens), h.truncated): h for h in exact[n]}
            for h in beams[n]:  # a real sequence, with its exact log-probability and score
                assert_same(h, *_fields(table[(tuple(h.tokens), h.truncated)]))


def _fields(h: Hypothesis) -> tuple[list[int], float, float, bool]:
    return h.tokens, h.log_prob, h.score, h.truncated


def test_beam_ends_early_once_nothing_can_enter_and_the_result_stays_exact():
    # a likely stop: the W finished hypotheses soon beat every running one
    max_length = 6
    model = TableDecoder(max_length=max_length, stop_bias=2.0, seed=3)
    beams = beam_search(
        model, model.initial_state(), start(), stop=StopUnit(), beam_width=2, max_length=max_length
    )
    assert model.steps < max_length
    for n in range(N):
        reference = reference_beam(model, n, "unit", 2, max_length=max_length)
        for ours, theirs in zip(beams[n], reference, strict=True):
            assert_same(ours, *theirs)


@pytest.mark.parametrize("config", ["plain", "min-length", "no-repeat-1", "no-repeat-2"])
@pytest.mark.parametrize("rule", ["eos", "unit", "fixed"])
def test_greedy_is_beam_width_one(rule, config):
    kwargs = CONFIGS[config]
    model = TableDecoder()
    search = dict(stop=make_rule(rule), max_length=MAX_LENGTH, **kwargs)
    ours = greedy(model, model.initial_state(), start(), **search)
    beams = beam_search(model, model.initial_state(), start(), beam_width=1, **search)
    for n in range(N):
        if not beams[n]:  # a fixed length that blocking makes impossible
            assert ours[n] is None and rule == "fixed" and config == "no-repeat-1"
            continue
        assert ours[n] is not None and len(beams[n]) == 1
        assert_same(ours[n], *_fields(beams[n][0]))
        assert ours[n].score == ours[n].log_prob


@pytest.mark.parametrize("rule", ["eos", "unit"])
def test_float32_model_is_searched_in_float64(rule):
    model = TableDecoder()
    model.table, model.stop_table = model.table.float(), model.stop_table.float()
    search = dict(stop=make_rule(rule), max_length=MAX_LENGTH, length_penalty=0.6)
    exact = exhaustive_search(model, model.initial_state(), start(), **search)
    beams = beam_search(model, model.initial_state(), start(), beam_width=WIDE, **search)
    for n in range(N):
        assert [h.tokens for h in beams[n]] == [h.tokens for h in exact[n]]
        assert [h.log_prob for h in beams[n]] == pytest.approx(
            [h.log_prob for h in exact[n]], rel=0, abs=1e-5
        )


def test_beam_search_keeps_examples_apart():
    # one example alone gives the same beam as in a batch with others
    model = TableDecoder()
    batch = beam_search(
        model, model.initial_state(), start(), stop=EndSymbol(EOS), beam_width=3, max_length=4
    )
    for n in range(N):
        single = TableDecoder()
        single.table, single.stop_table = model.table[n : n + 1], model.stop_table[n : n + 1]
        alone = single.initial_state(torch.tensor([0]))
        (result,) = beam_search(
            single, alone, start(1), stop=EndSymbol(EOS), beam_width=3, max_length=4
        )
        assert [h.tokens for h in result] == [h.tokens for h in batch[n]]
        assert [h.score for h in result] == pytest.approx([h.score for h in batch[n]], abs=1e-12)


def test_zero_predicted_length_gives_the_empty_sequence_without_a_step():
    model = TableDecoder()
    stop = FixedLength([0, 0, 0])
    for search in (
        lambda: [
            [h] for h in greedy(model, model.initial_state(), start(), stop=stop, max_length=3)
        ],
        lambda: beam_search(
            model, model.initial_state(), start(), stop=stop, beam_width=2, max_length=3
        ),
    ):
        assert search() == [[Hypothesis([], 0.0, 0.0, False)]] * N
    assert model.steps == 0


def test_dead_end_gives_none_and_an_empty_beam():
    # two tokens that may not repeat and a stop forbidden before three tokens: no way out
    search = dict(stop=StopUnit(), max_length=4, min_length=3, no_repeat_ngram=1)
    two = TableDecoder()
    two.table[..., 2] = -math.inf  # token 2 is impossible
    assert greedy(two, two.initial_state(), start(), **search) == [None] * N
    assert sample(two, two.initial_state(), start(), **search) == [None] * N
    assert beam_search(two, two.initial_state(), start(), beam_width=4, **search) == [[]] * N
    assert exhaustive_search(two, two.initial_state(), start(), **search) == [[]] * N


# ------------------------------------------------------------------------------------ sampling
DRAWS = 20_000


def sampling_distribution(
    model: TableDecoder, rule: str, temperature: float, top_k: int | None
) -> dict[tuple[tuple[int, ...], bool], float]:
    """Exact probability of every complete sequence of example 0 under tempered top-k draws."""
    found: dict[tuple[tuple[int, ...], bool], float] = {}

    def visit(prefix: list[int], prob: float) -> None:
        if rule == "fixed" and len(prefix) == LENGTHS[0]:
            found[(tuple(prefix), False)] = prob
            return
        if len(prefix) == MAX_LENGTH:
            found[(tuple(prefix), True)] = prob
            return
        logits = [c / temperature for c in outcome_log_probs(model, 0, prefix, rule)]
        if top_k is not None:
            kth = sorted(logits, reverse=True)[top_k - 1]
            logits = [c if c >= kth else -math.inf for c in logits]
        top = max(logits)
        weights = [math.exp(c - top) for c in logits]
        for k, w in enumerate(weights):
            if w > 0 and k == V:
                found[(tuple(prefix), False)] = prob * w / sum(weights)
            elif w > 0:
                visit([*prefix, k], prob * w / sum(weights))

    visit([], 1.0)
    return found


def chi2_quantile(df: int, z: float = 3.72) -> float:
    """Wilson–Hilferty approximation of the χ² quantile at the normal quantile z (1e-4)."""
    return df * (1 - 2 / (9 * df) + z * math.sqrt(2 / (9 * df))) ** 3


@pytest.mark.parametrize(
    "rule, temperature, top_k",
    [
        ("eos", 1.0, None),
        ("unit", 1.0, None),
        ("fixed", 1.0, None),
        ("unit", 0.7, 2),
        ("eos", 1.6, 2),
        ("unit", 2.0, 3),
    ],
)
def test_sampling_follows_the_exact_distribution(rule, temperature, top_k):
    model = TableDecoder()
    state = model.select(model.initial_state(), torch.zeros(DRAWS, dtype=torch.long))
    stop = make_rule(rule, lengths=[LENGTHS[0]] * DRAWS)
    drawn = sample(
        model,
        state,
        start(DRAWS),
        stop=stop,
        max_length=MAX_LENGTH,
        temperature=temperature,
        top_k=top_k,
        generator=torch.Generator().manual_seed(7),
    )
    expected = sampling_distribution(model, rule, temperature, top_k)
    assert math.fsum(expected.values()) == pytest.approx(1.0, abs=1e-12)
    counts = Counter((tuple(h.tokens), h.truncated) for h in drawn)
    assert set(counts) <= set(expected)  # top-k never draws outside the k best outcomes
    for h in drawn[:200]:  # the model's own (untempered) log-probability
        assert h.log_prob == pytest.approx(sequence_log_prob(model, 0, h, rule), abs=1e-12)
        assert h.score == h.log_prob
    cells = [key for key, p in expected.items() if p * DRAWS >= 5]
    rare = 1.0 - math.fsum(expected[key] for key in cells)
    chi2 = sum(
        (counts[key] - DRAWS * expected[key]) ** 2 / (DRAWS * expected[key]) for key in cells
    )
    observed_rare = DRAWS - sum(counts[key] for key in cells)
    if rare * DRAWS >= 5:
        chi2 += (observed_rare - DRAWS * rare) ** 2 / (DRAWS * rare)
    assert len(cells) >= 3 and chi2 < chi2_quantile(len(cells))


@pytest.mark.parametrize("rule", ["eos", "unit", "fixed"])
def test_cold_sampling_and_top_one_are_greedy(rule):
    model = TableDecoder()
    search = dict(stop=make_rule(rule), max_length=MAX_LENGTH, no_repeat_ngram=2)
    best = greedy(model, model.initial_state(), start(), **search)
    for seed in range(5):
        gen = torch.Generator().manual_seed(seed)
        cold = sample(
            model, model.initial_state(), start(), temperature=1e-6, generator=gen, **search
        )
        top1 = sample(model, model.initial_state(), start(), top_k=1, generator=gen, **search)
        assert cold == best and top1 == best


def test_sampling_is_deterministic_given_the_generator():
    model = TableDecoder()
    state = model.select(model.initial_state(), torch.arange(N).repeat(50))

    def draw(seed: int) -> list[Hypothesis | None]:
        gen = torch.Generator().manual_seed(seed)
        return sample(model, state, start(50 * N), stop=StopUnit(), max_length=4, generator=gen)

    assert draw(1) == draw(1)
    assert draw(1) != draw(2)


def test_sampling_respects_min_length_and_ngram_blocking():
    model = TableDecoder()
    state = model.select(model.initial_state(), torch.arange(N).repeat(300))
    drawn = sample(
        model,
        state,
        start(300 * N),
        stop=EndSymbol(EOS),
        max_length=MAX_LENGTH,
        min_length=2,
        no_repeat_ngram=1,
        generator=torch.Generator().manual_seed(0),
    )
    assert all(len(h.tokens) >= 2 and len(set(h.tokens)) == len(h.tokens) for h in drawn)
    # tokens 0 and 2 only (1 is the end symbol): after both, the stop is the only way out
    assert all(not h.truncated and len(h.tokens) == 2 for h in drawn)


# ---------------------------------------------------------------------------------- bad input
def _greedy(model, state, tokens, **kw):
    return greedy(model, state, tokens, **kw)


def _sample(model, state, tokens, **kw):
    return sample(model, state, tokens, generator=torch.Generator().manual_seed(0), **kw)


def _beam(model, state, tokens, **kw):
    return beam_search(model, state, tokens, beam_width=2, **kw)


def _exhaustive(model, state, tokens, **kw):
    return exhaustive_search(model, state, tokens, **kw)


SEARCHES = [_greedy, _sample, _beam, _exhaustive]


class Broken(TableDecoder):
    """A table decoder whose step output is altered by ``damage``."""

    def __init__(self, damage) -> None:
        super().__init__()
        self.damage = damage

    def step(self, tokens, state):
        return self.damage(*super().step(tokens, state))


def _change_vocabulary(log_probs, stop, state):
    # a wider vocabulary from the second step on
    wide = torch.cat([log_probs, log_probs[:, :1]], dim=1)
    return (wide if bool((state[1][0] > 1).all()) else log_probs), stop, state


@pytest.mark.parametrize("search", SEARCHES, ids=lambda f: f.__name__.strip("_"))
@pytest.mark.parametrize(
    "damage, stop, error, match",
    [
        (lambda lp, s, st: (lp[None], s, st), StopUnit(), ValueError, "log_probs of shape"),
        (lambda lp, s, st: (lp[:-1], s, st), StopUnit(), ValueError, "log_probs of shape"),
        (lambda lp, s, st: (lp[:, 0], s, st), StopUnit(), ValueError, "log_probs of shape"),
        (lambda lp, s, st: (lp.long(), s, st), StopUnit(), TypeError, "log_probs"),
        (lambda lp, s, st: (lp, s[:-1], st), StopUnit(), ValueError, r"stop_log_prob of shape"),
        (lambda lp, s, st: (lp, s.unsqueeze(1), st), StopUnit(), ValueError, "stop_log_prob"),
        (lambda lp, s, st: (lp, 0.5, st), StopUnit(), TypeError, "stop_log_prob"),
        (lambda lp, s, st: (lp, None, st), StopUnit(), ValueError, "stop_log_prob"),
        (lambda lp, s, st: (lp, s), StopUnit(), TypeError, "step must return a tuple"),
        (_change_vocabulary, EndSymbol(0), ValueError, "same vocabulary size"),
        (lambda lp, s, st: (lp, s, st), EndSymbol(V), ValueError, "eos must be < the vocabulary"),
    ],
)
def test_bad_step_output(search, damage, stop, error, match):
    model = Broken(damage)
    with pytest.raises(error, match=match):
        search(model, model.initial_state(), start(), stop=stop, max_length=3)


def _lengths(n: int) -> FixedLength:
    return FixedLength([2] * n)


@pytest.mark.parametrize("search", SEARCHES, ids=lambda f: f.__name__.strip("_"))
@pytest.mark.parametrize(
    "changes, error, match",
    [
        ({"decoder": object()}, TypeError, "decoder must implement StepDecoder"),
        ({"start_tokens": start().float()}, TypeError, "start_tokens"),
        ({"start_tokens": start().view(1, N)}, ValueError, "start_tokens"),
        ({"start_tokens": [START] * N}, TypeError, "start_tokens"),
        ({"stop": "eos"}, TypeError, "stop must be a StopRule"),
        ({"max_length": 0}, ValueError, "max_length"),
        ({"max_length": 2.0}, TypeError, "max_length"),
        ({"min_length": -1}, ValueError, "min_length"),
        ({"min_length": 4}, ValueError, r"min_length must be <= max_length"),
        ({"no_repeat_ngram": -1}, ValueError, "no_repeat_ngram"),
        ({"stop": _lengths(N - 1)}, ValueError, r"lengths must have shape \(3,\)"),
        ({"stop": FixedLength([2, 5, 2])}, ValueError, r"lengths must lie in"),
        ({"stop": FixedLength([2, 0, 2]), "min_length": 1}, ValueError, r"lengths must lie in"),
    ],
)
def test_bad_search_arguments(search, changes, error, match):
    model = TableDecoder()
    args = {"decoder": model, "start_tokens": start(), "stop": StopUnit(), "max_length": 3}
    args.update(changes)
    decoder, tokens = args.pop("decoder"), args.pop("start_tokens")
    with pytest.raises(error, match=match):
        search(decoder, model.initial_state(), tokens, **args)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda m, s: beam_search(m, s, start(), stop=StopUnit(), beam_width=0, max_length=3),
         ValueError, "beam_width"),
        (lambda m, s: beam_search(m, s, start(), stop=StopUnit(), beam_width=2.0, max_length=3),
         TypeError, "beam_width"),
        (lambda m, s: beam_search(
            m, s, start(), stop=StopUnit(), beam_width=2, max_length=3, length_penalty=math.nan
        ), ValueError, "length_penalty"),
        (lambda m, s: sample(m, s, start(), stop=StopUnit(), max_length=3, temperature=0.0),
         ValueError, "temperature"),
        (lambda m, s: sample(m, s, start(), stop=StopUnit(), max_length=3, temperature=-1),
         ValueError, "temperature"),
        (lambda m, s: sample(m, s, start(), stop=StopUnit(), max_length=3, top_k=0),
         ValueError, "top_k"),
        (lambda m, s: sample(m, s, start(), stop=StopUnit(), max_length=3, generator=0),
         TypeError, "generator"),
        (lambda m, s: exhaustive_search(m, s, start(), stop=StopUnit(), max_length=3, top=0),
         ValueError, "top"),
    ],
)  # fmt: skip
def test_bad_search_options(call, error, match):
    model = TableDecoder()
    with pytest.raises(error, match=match):
        call(model, model.initial_state())


def test_searches_build_no_autograd_graph():
    """A model with trainable weights: the searches run without gradients (no graph is kept,
    no 'requires_grad to scalar' warning)."""

    class Trainable:
        def __init__(self) -> None:
            self.logits = torch.zeros(3, requires_grad=True)
            self.grad_enabled: list[bool] = []

        def step(self, tokens, state):
            self.grad_enabled.append(torch.is_grad_enabled())
            log_probs = torch.log_softmax(self.logits, 0).expand(len(tokens), 3)
            return log_probs, None, state

        def select(self, state, index):
            return state

    model = Trainable()
    start, stop = torch.tensor([0]), EndSymbol(2)
    greedy(model, None, start, stop=stop, max_length=3)
    sample(model, None, start, stop=stop, max_length=3, generator=torch.Generator())
    beam_search(model, None, start, stop=stop, beam_width=2, max_length=3)
    exhaustive_search(model, None, start, stop=stop, max_length=3)
    assert model.grad_enabled and not any(model.grad_enabled)
