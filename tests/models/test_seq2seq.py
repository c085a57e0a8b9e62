"""Seq2Seq against oracles written here: the teacher-forced forward against stepping the
StepDecoder one token at a time (every context mode, attention kind, stop rule and cell), padded
batches against each pair alone, select() against indexing, scheduled sampling against a
hand-fed step loop, the loss against per-example sums, greedy decoding against the
teacher-forced distributions, beam search against the shared search driven by hand; then
training on reversal, checkpoints and bad input."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch import nn
from torch.testing import assert_close

from rnnlab.decoding.protocol import StepDecoder
from rnnlab.decoding.search import beam_search, greedy
from rnnlab.decoding.stop_rules import EndSymbol, FixedLength, StopUnit
from rnnlab.models.seq2seq import Seq2Seq
from rnnlab.models.seq2seq_config import ATTENTION_KINDS, CONTEXTS, STOPS, Seq2SeqConfig
from rnnlab.models.seq2seq_state import Seq2SeqState
from rnnlab.tasks.pairs import PairTask, SequencePairs, Vocabulary, pad_pairs
from rnnlab.training.checkpoint import save_checkpoint
from rnnlab.training.seq2seq import (
    Seq2SeqTrainConfig,
    evaluate_seq2seq,
    load_seq2seq,
    save_seq2seq,
    train_seq2seq,
)

pytestmark = pytest.mark.usefixtures("single_thread")

DTYPE = torch.float64
VOCABULARY = Vocabulary("abcdef")  # <pad>=0 <unk>=1 <s>=2 </s>=3, a..f = 4..9
PAD, BOS, EOS = VOCABULARY.pad, VOCABULARY.bos, VOCABULARY.eos
V = len(VOCABULARY)


class Reverse(PairTask):
    """Reverse a string of 3-5 symbols over a..f: fixed random train and test splits."""

    name = "reverse"

    def __init__(self, seed: int = 0, sizes: tuple[int, int] = (1000, 100)) -> None:
        self.source_vocabulary = self.target_vocabulary = VOCABULARY
        self.input_size = V
        generator = torch.Generator().manual_seed(seed)
        self._pairs = {}
        for split, size in zip(self.splits, sizes, strict=True):
            lengths = torch.randint(3, 6, (size,), generator=generator).tolist()
            sources = [torch.randint(4, V, (n,), generator=generator) for n in lengths]
            self._pairs[split] = [(s, s.flip(0)) for s in sources]

    def pairs(self, split: str):
        return self._pairs[self._check_split(split)]


def make_batch(source_lengths=(4, 2, 3), target_lengths=(3, 1, 4), seed=0) -> SequencePairs:
    """Random source and target symbols (a..f) with the given lengths, padded."""
    generator = torch.Generator().manual_seed(seed)
    pairs = [
        (
            torch.randint(4, V, (s,), generator=generator),
            torch.randint(4, V, (u,), generator=generator),
        )
        for s, u in zip(source_lengths, target_lengths, strict=True)
    ]
    return pad_pairs(pairs, source_pad=PAD, target_pad=PAD)


def make_model(**options) -> Seq2Seq:
    settings = {
        "source_size": V,
        "target_size": V,
        "bos": BOS,
        "eos": EOS,
        "hidden_size": 5,
        "source_embedding_size": 3,
        "target_embedding_size": 4,
        "max_length": 6,
    } | options
    return Seq2Seq(Seq2SeqConfig(**settings)).to(DTYPE)


def truth_inputs(model: Seq2Seq, batch: SequencePairs) -> torch.Tensor:
    """(U', B): <s> then the targets, as the decoder reads them under teacher forcing."""
    B, U = batch.targets.shape
    steps = U if model.config.stop == "length" else U + 1
    return torch.cat([torch.full((B, 1), BOS), batch.targets], dim=1)[:, :steps].T


def step_through(model: Seq2Seq, batch: SequencePairs, inputs: torch.Tensor):
    """The oracle: start(), then step() once per input token; stacked log-probs, stop log-probs
    and attention weights."""
    state = model.start(batch.sources, batch.source_lengths)
    log_probs, stops, weights = [], [], []
    for token in inputs:
        lp, stop, state = model.step(token, state)
        log_probs.append(lp)
        stops.append(stop)
        weights.append(state.attention)
    return log_probs, stops, weights, state


def assert_matches_steps(model: Seq2Seq, batch: SequencePairs) -> None:
    output = model(batch)
    inputs = truth_inputs(model, batch)
    assert torch.equal(output.inputs, inputs)
    log_probs, stops, weights, _ = step_through(model, batch, inputs)
    assert_close(output.log_probs, torch.stack(log_probs))
    if model.config.stop == "unit":
        assert_close(nn.functional.logsigmoid(output.stop_logits), torch.stack(stops))
    else:
        assert output.stop_logits is None and all(s is None for s in stops)
    if model.attention is None:
        assert output.attention is None and all(w is None for w in weights)
    else:
        assert_close(output.attention, torch.stack(weights))
    if model.config.stop == "length":
        assert output.length_log_probs.shape == (batch.batch_size, model.config.max_length)
    else:
        assert output.length_log_probs is None


# ------------------------------------------------------------------------ forward vs step
@pytest.mark.parametrize(
    ("context", "attention", "stop"), list(itertools.product(CONTEXTS, ATTENTION_KINDS, STOPS))
)
def test_teacher_forced_forward_equals_stepping(context, attention, stop):
    model = make_model(context=context, attention=attention, stop=stop, seed=3)
    batch = make_batch()
    assert_matches_steps(model, batch)
    steps = batch.targets.shape[1] + (stop != "length")
    assert model(batch).log_probs.shape == (steps, 3, V)


@pytest.mark.parametrize(
    ("context", "attention"), list(itertools.product(CONTEXTS, ATTENTION_KINDS[1:]))
)
def test_input_feeding_equals_stepping(context, attention):
    model = make_model(context=context, attention=attention, input_feeding=True, stop="unit")
    assert model.stepwise_only
    assert_matches_steps(model, make_batch())


@pytest.mark.parametrize("cell", ["elman", "gru", "jordan", "lstm"])
@pytest.mark.parametrize("attention", ["none", "additive", "general"])
def test_deep_bidirectional_cells_equal_stepping(cell, attention):
    model = make_model(
        cell=cell,
        attention=attention,
        bidirectional=True,
        encoder_layers=2,
        decoder_layers=2,
        context="both" if attention == "additive" else "init",
        stop="eos",
    )
    assert model.memory_size == 10
    assert_matches_steps(model, make_batch())


def test_feature_sources_equal_stepping(randn):
    model = make_model(source_tokens=False, source_size=3, attention="dot", stop="length")
    tokens = make_batch()
    sources = randn(*tokens.sources.shape, 3)
    batch = SequencePairs(sources, tokens.source_lengths, tokens.targets, tokens.target_lengths)
    assert_matches_steps(model, batch)


def test_summary_is_last_valid_step_and_backward_first_step():
    model = make_model(bidirectional=True)
    batch = make_batch()
    memory, summary = model.encode(batch.sources, batch.source_lengths)
    for b, n in enumerate(batch.source_lengths.tolist()):
        assert_close(summary[b], torch.cat([memory[n - 1, b, :5], memory[0, b, 5:]]))
        assert bool((memory[n:, b] == 0).all())


def test_model_is_a_step_decoder_and_seeded():
    model = make_model(attention="general")
    assert isinstance(model, StepDecoder)
    again, other = make_model(attention="general"), make_model(attention="general", seed=1)
    assert all(
        torch.equal(a, b) for a, b in zip(model.parameters(), again.parameters(), strict=True)
    )
    assert not all(
        torch.equal(a, b) for a, b in zip(model.parameters(), other.parameters(), strict=True)
    )


# ------------------------------------------------------------------------ padding, select
PADDING_CONFIGS = [
    {"attention": "additive", "context": "both", "stop": "unit", "bidirectional": True},
    {"attention": "general", "context": "init", "stop": "length", "input_feeding": True},
    {"attention": "dot", "context": "init", "stop": "eos"},
    {"attention": "none", "context": "both", "stop": "eos", "cell": "gru"},
]


@pytest.mark.parametrize("options", PADDING_CONFIGS)
def test_padded_batch_equals_each_pair_alone(options):
    model = make_model(**options)
    batch = make_batch()
    output = model(batch)
    extra = 0 if options["stop"] == "length" else 1
    for b in range(batch.batch_size):
        alone = pad_pairs([(batch.source(b), batch.target(b))])
        one = model(alone)
        steps, S = int(batch.target_lengths[b]) + extra, int(batch.source_lengths[b])
        assert_close(output.log_probs[:steps, b], one.log_probs[:, 0])
        if one.stop_logits is not None:
            assert_close(output.stop_logits[:steps, b], one.stop_logits[:, 0])
        if one.length_log_probs is not None:
            assert_close(output.length_log_probs[b], one.length_log_probs[0])
        if one.attention is not None:
            assert_close(output.attention[:steps, b, :S], one.attention[:, 0])
            assert bool((output.attention[:, b, S:] == 0).all())
            assert_close(
                output.attention[:, b].sum(-1), torch.ones(output.attention.shape[0], dtype=DTYPE)
            )


@pytest.mark.parametrize("options", PADDING_CONFIGS)
def test_select_replicates_and_reorders_hypotheses(options):
    model = make_model(**options)
    batch = make_batch()
    state = model.start(batch.sources, batch.source_lengths)
    tokens = torch.full((3,), BOS)
    for token in (tokens, torch.tensor([4, 5, 6])):  # two steps, so every part of the state moved
        _, _, state = model.step(token, state)
    index = torch.tensor([2, 0, 0, 1, 2])
    chosen = model.select(state, index)
    assert isinstance(chosen, Seq2SeqState) and chosen.batch_size == 5
    next_tokens = torch.tensor([7, 8, 9])
    lp, stop, after = model.step(next_tokens, state)
    lp_sel, stop_sel, after_sel = model.step(next_tokens[index], chosen)
    assert_close(lp_sel, lp[index])
    if stop is not None:
        assert_close(stop_sel, stop[index])
    if after.attention is not None:
        assert_close(after_sel.attention, after.attention[index])
    if model.config.stop == "length":
        assert torch.equal(model.predicted_lengths(chosen), model.predicted_lengths(state)[index])
    # a second step from the selected state still follows the reordered hypotheses
    lp2, _, _ = model.step(torch.tensor([4, 4, 4]), after)
    lp2_sel, _, _ = model.step(torch.tensor([4, 4, 4, 4, 4]), after_sel)
    assert_close(lp2_sel, lp2[index])


# ------------------------------------------------------------------------ scheduled sampling
SAMPLING_CONFIGS = [
    {"attention": "general", "context": "init", "stop": "eos"},  # parallel teacher forcing
    {"attention": "additive", "context": "both", "stop": "unit", "input_feeding": True},
    {"attention": "none", "context": "input", "stop": "length"},
]


def feed_by_hand(model, batch, coins, feed, generator):
    """Oracle for scheduled sampling: step() once per step, choosing the input token by hand
    (coins (U'-1, B) True = ground truth; None = always the model's own)."""
    truth = truth_inputs(model, batch)
    state = model.start(batch.sources, batch.source_lengths)
    token, log_probs = truth[0], []
    for i in range(truth.shape[0]):
        if i > 0:
            previous = log_probs[-1]
            if feed == "argmax":
                own = previous.argmax(-1)
            else:
                own = torch.multinomial(previous.exp(), 1, generator=generator).squeeze(1)
            token = own if coins is None else torch.where(coins[i - 1], truth[i], own)
        lp, _, state = model.step(token, state)
        log_probs.append(lp)
    return torch.stack(log_probs)


@pytest.mark.parametrize("options", SAMPLING_CONFIGS)
def test_truth_probability_one_is_teacher_forcing_and_draws_nothing(options):
    model = make_model(**options)
    batch = make_batch()
    generator = torch.Generator().manual_seed(5)
    before = generator.get_state()
    sampled = model(batch, truth_probability=1.0, feed="sample", generator=generator)
    assert torch.equal(sampled.log_probs, model(batch).log_probs)
    assert torch.equal(generator.get_state(), before)
    # the step-by-step loop fed only the truth (ε just below 1) equals the parallel path
    nearly = model(batch, truth_probability=1 - 1e-12, generator=generator)
    assert torch.equal(nearly.inputs, truth_inputs(model, batch))
    assert_close(nearly.log_probs, model(batch).log_probs)


@pytest.mark.parametrize("options", SAMPLING_CONFIGS)
@pytest.mark.parametrize("feed", ["argmax", "sample"])
def test_truth_probability_zero_is_free_running(options, feed):
    model = make_model(**options)
    batch = make_batch()
    output = model(
        batch, truth_probability=0.0, feed=feed, generator=torch.Generator().manual_seed(7)
    )
    expected = feed_by_hand(model, batch, None, feed, torch.Generator().manual_seed(7))
    assert_close(output.log_probs, expected)
    assert bool(output.inputs[0].eq(BOS).all())
    if feed == "argmax":
        assert torch.equal(output.inputs[1:], expected[:-1].argmax(-1))


@pytest.mark.parametrize("options", SAMPLING_CONFIGS)
@pytest.mark.parametrize("feed", ["argmax", "sample"])
def test_scheduled_sampling_follows_its_coins(options, feed):
    model = make_model(**options)
    batch = make_batch(target_lengths=(5, 4, 5))
    epsilon = 0.5
    output = model(
        batch, truth_probability=epsilon, feed=feed, generator=torch.Generator().manual_seed(11)
    )
    generator = torch.Generator().manual_seed(11)
    steps = truth_inputs(model, batch).shape[0]
    coins = torch.rand(steps - 1, 3, generator=generator) < epsilon
    assert 0 < int(coins.sum()) < coins.numel()  # both kinds of input occur
    assert_close(output.log_probs, feed_by_hand(model, batch, coins, feed, generator))
    truth = truth_inputs(model, batch)
    assert torch.equal(output.inputs[1:][coins], truth[1:][coins])


def test_sampled_feeding_is_reproducible_and_not_differentiated():
    model = make_model(attention="general", context="init")
    batch = make_batch()
    a = model(
        batch, truth_probability=0.0, feed="sample", generator=torch.Generator().manual_seed(1)
    )
    b = model(
        batch, truth_probability=0.0, feed="sample", generator=torch.Generator().manual_seed(1)
    )
    assert torch.equal(a.log_probs, b.log_probs) and torch.equal(a.inputs, b.inputs)
    assert not a.inputs.requires_grad
    model.loss(a, batch).total.backward()
    assert all(p.grad is not None for p in model.parameters())


# ------------------------------------------------------------------------ the loss
@pytest.mark.parametrize("stop", STOPS)
def test_loss_equals_per_example_sums(stop):
    model = make_model(attention="general", context="init", stop=stop)
    batch = make_batch(target_lengths=(3, 1, 4) if stop == "length" else (3, 0, 4))
    with torch.no_grad():
        output = model(batch)
        loss = model.loss(output, batch)
    nll, count, bce, bce_count, length_nll = 0.0, 0, 0.0, 0, 0.0
    for b in range(3):
        target = batch.target(b).tolist()
        scored = [*target, EOS] if stop == "eos" else target
        for i, token in enumerate(scored):
            nll -= float(output.log_probs[i, b, token])
            count += 1
        if stop == "unit":
            for i in range(len(target) + 1):
                p = torch.sigmoid(output.stop_logits[i, b])
                bce -= float(torch.log(p) if i == len(target) else torch.log(1 - p))
                bce_count += 1
        if stop == "length":
            length_nll -= float(output.length_log_probs[b, len(target) - 1])
    assert float(loss.tokens) == pytest.approx(nll / count)
    assert float(loss.stop) == pytest.approx(bce / bce_count if stop == "unit" else 0.0)
    assert float(loss.length) == pytest.approx(length_nll / 3)
    assert float(loss.total) == pytest.approx(float(loss.tokens + loss.stop + loss.length))


# ------------------------------------------------------------------------ greedy decoding
@pytest.mark.parametrize("stop", STOPS)
def test_greedy_search_agrees_with_the_teacher_forced_distributions(stop):
    """Each greedy token is the argmax of the teacher-forced forward on the decoded prefix, and
    the sequence ends where the stop rule's most probable outcome is the stop: </s> is the
    argmax, the stop unit's log p beats log(1 - p) + the best token's log-prob, or the
    predicted length is reached; else at the limit of 5 tokens (marked truncated). The
    hypothesis' log-probability is the sum of the chosen outcomes'."""
    model = make_model(attention="additive", context="both", stop=stop, hidden_size=8, seed=2)
    with torch.no_grad():  # larger weights and chosen biases: some sequences end, some don't
        for parameter in model.parameters():
            parameter.mul_(4)
        if stop == "unit":
            model.stop_unit.bias.fill_(-2.0)
        elif stop == "eos":
            model.readout.bias[EOS] += 1.0
    batch = make_batch(source_lengths=(4, 2, 3, 5, 1, 3), target_lengths=(1,) * 6)
    limit = 5
    found = model.search(batch.sources, batch.source_lengths, max_length=limit)
    assert all(len(f) == 1 for f in found)
    decoded = [f[0].tokens for f in found]
    if stop == "length":
        state = model.start(batch.sources, batch.source_lengths)
        predicted = model.predicted_lengths(state).clamp(max=limit).tolist()
        assert [len(tokens) for tokens in decoded] == predicted
    for b, tokens in enumerate(decoded):
        if not tokens and stop == "length":
            continue
        alone = pad_pairs([(batch.source(b), torch.tensor(tokens, dtype=torch.int64))])
        with torch.no_grad():
            output = model(alone)
        log_probs = output.log_probs[:, 0]
        argmax = log_probs.argmax(-1).tolist()
        assert argmax[: len(tokens)] == tokens
        ended = len(tokens) < limit  # else cut at the limit, whatever comes next
        assert found[b][0].truncated == (not ended and stop != "length")
        expected = float(log_probs[torch.arange(len(tokens)), tokens].sum())
        if stop == "eos":
            assert EOS not in tokens and (argmax[len(tokens)] == EOS or not ended)
            if ended:
                expected += float(log_probs[len(tokens), EOS])
        if stop == "unit":
            s = nn.functional.logsigmoid(output.stop_logits[:, 0])
            stays = torch.log1p(-s.exp())
            stops = (s > stays + log_probs.max(-1).values).tolist()
            assert not any(stops[: len(tokens)]) and (stops[len(tokens)] or not ended)
            expected += float(stays[: len(tokens)].sum()) + (float(s[len(tokens)]) if ended else 0)
        assert found[b][0].log_prob == pytest.approx(expected)
    if stop != "length":
        assert {len(tokens) < limit for tokens in decoded} == {True, False}


@pytest.mark.parametrize("stop", STOPS)
def test_beam_search_is_the_shared_search_under_the_models_stop_rule(stop):
    """search(beam_width=3) returns what rnnlab.decoding.search.beam_search finds when driven
    by hand with the stop rule of the model's kind, scores included."""
    model = make_model(attention="general", context="init", stop=stop, hidden_size=6, seed=4)
    batch = make_batch(source_lengths=(4, 2, 3), target_lengths=(1, 1, 1))
    found = model.search(
        batch.sources, batch.source_lengths, beam_width=3, max_length=4, length_penalty=0.6
    )
    state = model.start(batch.sources, batch.source_lengths)
    if stop == "eos":
        rule = EndSymbol(EOS)
    elif stop == "unit":
        rule = StopUnit()
    else:
        rule = FixedLength(model.predicted_lengths(state).clamp(max=4))
    with torch.no_grad():
        expected = beam_search(
            model,
            state,
            torch.full((3,), BOS),
            stop=rule,
            beam_width=3,
            max_length=4,
            length_penalty=0.6,
        )
    assert found == expected
    for hypotheses in found:
        scores = [h.score for h in hypotheses]
        assert scores == sorted(scores, reverse=True)


def test_attention_map_is_the_teacher_forced_weights():
    model = make_model(attention="general", context="init")
    batch = make_batch()
    weights = model(batch).attention
    for b in range(3):
        picture = model.attention_map(batch.source(b), batch.target(b))
        U, S = int(batch.target_lengths[b]) + 1, int(batch.source_lengths[b])
        assert picture.shape == (U, S)
        assert_close(picture, weights[:U, b, :S])
    with pytest.raises(ValueError, match="needs attention"):
        make_model().attention_map(batch.source(0), batch.target(0))


# ------------------------------------------------------------------------ training
def test_attention_model_learns_to_reverse():
    task = Reverse()
    config = Seq2SeqConfig.for_task(
        task,
        cell="gru",
        hidden_size=32,
        attention="general",
        context="init",
        source_embedding_size=16,
        target_embedding_size=16,
        max_length=6,
    )
    model = Seq2Seq(config)
    train = Seq2SeqTrainConfig(
        learning_rate=0.01, max_updates=125, batch_size=128, clip_norm=5.0, eval_every=125
    )
    history = train_seq2seq(model, task, train)
    assert history.updates == 125 and len(history.losses) == 125
    assert history.truth_probabilities == [1.0] * 125
    final = history.evaluations[-1]
    assert final["step"] == 125
    assert final["exact_match"] >= 0.97 and final["error_rate"] < 0.01
    assert history.losses[-1] < 0.2 * history.losses[0]


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("free_running", [0.0] * 4),
        ("scheduled", [1.0 - 0.2 * i for i in range(4)]),
    ],
)
def test_training_modes_feed_by_their_schedule(mode, expected):
    task = Reverse(sizes=(50, 10))
    model = Seq2Seq(Seq2SeqConfig.for_task(task, hidden_size=8, max_length=6, stop="unit"))
    config = Seq2SeqTrainConfig(
        mode=mode, schedule="linear", schedule_c=0.2, max_updates=4, batch_size=4, eval_every=2
    )
    seen = []
    history = train_seq2seq(model, task, config, on_metrics=lambda step, m: seen.append(step))
    assert history.truth_probabilities == pytest.approx(expected)
    assert seen == [2, 4] and [e["step"] for e in history.evaluations] == [2, 4]
    assert all(math.isfinite(x) for x in history.losses)


def test_checkpoint_round_trip_and_exact_resume(tmp_path):
    task = Reverse(sizes=(60, 10))
    options = {"hidden_size": 8, "attention": "additive", "stop": "length", "max_length": 6}
    config = Seq2SeqTrainConfig(
        mode="scheduled",
        schedule="exponential",
        schedule_k=0.9,
        max_updates=6,
        batch_size=4,
        eval_every=4,
        checkpoint_every=3,
    )
    straight = Seq2Seq(Seq2SeqConfig.for_task(task, **options))
    history = train_seq2seq(straight, task, config, checkpoint=tmp_path / "straight.pt")

    def crash(step, metrics):
        raise KeyboardInterrupt

    path = tmp_path / "resumed.pt"
    with pytest.raises(KeyboardInterrupt):  # interrupted at step 4, after the checkpoint at 3
        train_seq2seq(
            Seq2Seq(Seq2SeqConfig.for_task(task, **options)),
            task,
            config,
            checkpoint=path,
            on_metrics=crash,
        )
    resumed = Seq2Seq(Seq2SeqConfig.for_task(task, **options))
    again = train_seq2seq(resumed, task, config, checkpoint=path)
    assert again.losses == history.losses
    assert again.truth_probabilities == history.truth_probabilities
    for a, b in zip(straight.parameters(), resumed.parameters(), strict=True):
        assert torch.equal(a, b)

    model, source, target = load_seq2seq(tmp_path / "straight.pt")
    assert source == VOCABULARY and target == VOCABULARY
    assert model.config == straight.config
    batch = make_batch()
    assert torch.equal(model(batch).log_probs, straight(batch).log_probs)
    with pytest.raises(ValueError, match="different training config"):
        train_seq2seq(resumed, task, Seq2SeqTrainConfig(max_updates=6), checkpoint=path)


def test_saved_model_reloads_and_other_kinds_are_refused(tmp_path):
    model = make_model(attention="dot", stop="unit").float()
    save_seq2seq(tmp_path / "m.pt", model, VOCABULARY, VOCABULARY)
    loaded, source, target = load_seq2seq(tmp_path / "m.pt")
    assert source == target == VOCABULARY
    batch = make_batch()
    assert_close(loaded(batch).stop_logits, model(batch).stop_logits, rtol=0, atol=0)
    save_checkpoint(tmp_path / "rnnt.pt", {"format": "rnnlab-checkpoint", "kind": "transducer"})
    with pytest.raises(ValueError, match="holds a 'transducer' model, not a 'seq2seq' model"):
        load_seq2seq(tmp_path / "rnnt.pt")
    save_checkpoint(tmp_path / "loop.pt", {"format": "rnnlab-checkpoint", "model": {}})
    with pytest.raises(ValueError, match="not a 'seq2seq' model"):
        load_seq2seq(tmp_path / "loop.pt")
    with pytest.raises(ValueError, match="do not match the target vocabulary"):
        save_seq2seq(tmp_path / "x.pt", model, VOCABULARY, Vocabulary("abc"))


def test_evaluation_counts_exact_matches():
    task = Reverse(sizes=(5, 8))
    model = Seq2Seq(Seq2SeqConfig.for_task(task, hidden_size=4, max_length=6))
    metrics = evaluate_seq2seq(model, task, "test", batch_size=3)
    with torch.no_grad():  # one example at a time, through the shared greedy search
        decoded = [
            greedy(
                model,
                model.start(s.unsqueeze(1), torch.tensor([len(s)])),
                torch.tensor([BOS]),
                stop=EndSymbol(EOS),
                max_length=6,
            )[0].tokens
            for s, _ in task.pairs("test")
        ]
    exact = sum(d == t.tolist() for d, (_, t) in zip(decoded, task.pairs("test"), strict=True))
    assert metrics["exact_match"] == exact / 8
    assert set(metrics) == {"loss", "exact_match", "error_rate"}


# ------------------------------------------------------------------------ bad input
def test_bad_config():
    base = {"source_size": V, "target_size": V, "bos": BOS, "eos": EOS}
    cases = [
        ({"attention": "luong"}, ValueError, "attention must be one of"),
        ({"context": "output"}, ValueError, "context must be one of"),
        ({"stop": "never"}, ValueError, "stop must be one of"),
        ({"cell": "clockwork"}, ValueError, "cell must be one of"),
        ({"input_feeding": True}, ValueError, "input_feeding .* needs attention"),
        ({"attention": "dot", "bidirectional": True}, ValueError, "use 'general' or 'additive'"),
        ({"eos": None}, ValueError, "stop='eos' needs"),
        ({"bos": V}, ValueError, "bos must be a target id < target_size"),
        ({"hidden_size": 0}, ValueError, "hidden_size must be >= 1"),
        ({"bidirectional": 1}, TypeError, "bidirectional must be a bool"),
    ]
    for options, error, message in cases:
        with pytest.raises(error, match=message):
            Seq2SeqConfig(**(base | options))
    with pytest.raises(TypeError, match="config must be a Seq2SeqConfig"):
        Seq2Seq(base)


def test_bad_batches():
    model = make_model(stop="eos")
    batch = make_batch()

    def changed(**fields):
        return SequencePairs(
            **(
                {
                    "sources": batch.sources,
                    "source_lengths": batch.source_lengths,
                    "targets": batch.targets,
                    "target_lengths": batch.target_lengths,
                }
                | fields
            )
        )

    cases = [
        (changed(sources=batch.sources[:0]), ValueError, "at least one step"),
        (changed(sources=batch.sources.float()), TypeError, "sources must be an int64 tensor"),
        (changed(sources=batch.sources + 10), ValueError, r"sources must be ids in \[0, 10\)"),
        (changed(source_lengths=torch.tensor([5, 2, 3])), ValueError, "lengths must be <="),
        (changed(source_lengths=torch.tensor([0, 2, 3])), ValueError, "lengths must be >= 1"),
        (changed(targets=batch.targets.T), ValueError, "targets must have shape"),
        (changed(target_lengths=torch.tensor([3, 1, 5])), ValueError, "target_lengths must be in"),
        (changed(targets=torch.full((3, 4), EOS)), ValueError, "must not contain </s>"),
        (
            changed(targets=torch.full((3, 7), 4), target_lengths=torch.tensor([7, 1, 1])),
            ValueError,
            "target_lengths must be <= max_length=6",
        ),
    ]
    for bad, error, message in cases:
        with pytest.raises(error, match=message):
            model(bad)
    with pytest.raises(ValueError, match=r"target_lengths must be in \[1"):
        make_model(stop="length")(changed(target_lengths=torch.tensor([3, 0, 4])))
    with pytest.raises(TypeError, match="target_lengths must be an int64 tensor"):
        model(changed(target_lengths=torch.tensor([3.0, 1.0, 4.0])))
    with pytest.raises(TypeError, match="batch must be a SequencePairs"):
        model((batch.sources, batch.targets))
    with pytest.raises(ValueError, match="truth_probability must be in"):
        model(batch, truth_probability=1.5)
    with pytest.raises(ValueError, match="feed must be one of"):
        model(batch, feed="beam")
    with pytest.raises(ValueError, match="sources must have 3 features"):
        make_model(source_tokens=False, source_size=3).start(
            torch.zeros(4, 3, 2, dtype=DTYPE), torch.tensor([4, 2, 3])
        )


def test_bad_steps_and_selects():
    model = make_model(attention="general")
    batch = make_batch()
    state = model.start(batch.sources, batch.source_lengths)
    with pytest.raises(ValueError, match=r"tokens must have shape \(3,\)"):
        model.step(torch.tensor([BOS, BOS]), state)
    with pytest.raises(TypeError, match="tokens must be an int64"):
        model.step(torch.zeros(3), state)
    with pytest.raises(ValueError, match=r"tokens must be ids in \[0, 10\)"):
        model.step(torch.tensor([BOS, BOS, 10]), state)
    with pytest.raises(TypeError, match="state must be a Seq2SeqState"):
        model.step(torch.full((3,), BOS), None)
    with pytest.raises(ValueError, match=r"index must be in \[0, 3\)"):
        model.select(state, torch.tensor([0, 3]))
    with pytest.raises(TypeError, match="index must be a 1-D int64"):
        model.select(state, torch.tensor([0.0]))
    with pytest.raises(ValueError, match="predicted_lengths needs stop='length'"):
        model.predicted_lengths(state)
    with pytest.raises(ValueError, match="beam_width must be >= 1"):
        model.search(batch.sources, batch.source_lengths, beam_width=0)
    with pytest.raises(ValueError, match="max_length must be >= 1"):
        model.search(batch.sources, batch.source_lengths, max_length=0)


def test_sources_longer_than_max_source_length_are_refused():
    model = make_model(max_source_length=3)
    batch = make_batch(source_lengths=(3, 2, 1))
    model.start(batch.sources, batch.source_lengths)  # up to 3 steps: accepted
    longer = make_batch(source_lengths=(3, 4, 1))
    message = "source_lengths must be <= the model's max_source_length=3, got a source of 4"
    for call in (
        lambda: model.start(longer.sources, longer.source_lengths),
        lambda: model(longer),
        lambda: model.search(longer.sources, longer.source_lengths),
    ):
        with pytest.raises(ValueError, match=message):
            call()
    with pytest.raises(ValueError, match="max_source_length must be >= 1"):
        make_model(max_source_length=0)


def test_bad_training_config():
    with pytest.raises(ValueError, match="mode must be one of"):
        Seq2SeqTrainConfig(mode="professor_forcing")
    with pytest.raises(ValueError, match="schedule must be one of"):
        Seq2SeqTrainConfig(mode="scheduled", schedule="teacher_forcing")
    with pytest.raises(ValueError, match="base k must be in"):
        Seq2SeqTrainConfig(mode="scheduled", schedule="exponential", schedule_k=2.0)
    with pytest.raises(ValueError, match="learning_rate must be > 0"):
        Seq2SeqTrainConfig(learning_rate=0.0)
    with pytest.raises(ValueError, match="clip_norm must be >= 0"):
        Seq2SeqTrainConfig(clip_norm=-1.0)
    task = Reverse(sizes=(5, 5))
    model = Seq2Seq(Seq2SeqConfig.for_task(task, hidden_size=4))
    with pytest.raises(ValueError, match="eval_split must be one of"):
        train_seq2seq(model, task, Seq2SeqTrainConfig(eval_split="valid"))
    other = Seq2Seq(Seq2SeqConfig(source_size=4, target_size=V, bos=BOS, eos=EOS, hidden_size=4))
    with pytest.raises(ValueError, match="do not match the task's"):
        train_seq2seq(other, task, Seq2SeqTrainConfig(max_updates=1))
