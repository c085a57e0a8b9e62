"""Bahdanau, Cho & Bengio 2014 in miniature: a fixed context against attention as the source
grows (their Fig. 2), on the ``numbers`` translation task, in two parts:

1. **In distribution** (Fig. 2's protocol): a random split (``split_by="random"``) of a wider
   range (0..``random_max_number``), so that training holds sentences of every length and the
   test sentences are new numbers of the same lengths; a fixed-context model and an attention
   model of the same, small size (``random_hidden_size``: a fixed context this small is meant to
   be the bottleneck), scored by source length.
2. **Extrapolation** (not in the paper): a split by source length, every number whose English
   source is longer than ``train_max_length`` tokens in ``"test"`` (none of them is seen in
   training); with it teacher forcing against scheduled sampling (Bengio et al. 2015) judged
   free-running, and the three stop rules of the DL book (§10.2.3) judged on the length of what
   they generate.

Data: English numbers written in words → German (``num2words``), word level with German
compounds cut into morphemes ("twenty-one" → "ein@@ und@@ zwanzig": the ones come before the
tens, so the alignment is not monotone).

Units (one training run each, every variant × seed of each part):

==============  ===============  ==================  ======  ======================
variant         attention        training            stop    parts (quick, full)
==============  ===============  ==================  ======  ======================
``fixed``       none (C only)    teacher forcing     eos     random, length
``attention``   additive         teacher forcing     eos     random, length
``scheduled``   additive         scheduled sampling  eos     length
                                 (inverse sigmoid)
``unit``        additive         teacher forcing     unit    length
``length``      additive         teacher forcing     length  length
==============  ===============  ==================  ======  ======================

Every model has a bidirectional GRU encoder and a GRU decoder that gets the context at its
start and at every step (``context="both"``): the fixed summary ``C`` (Cho et al. 2014's
RNNencdec) or, with attention, Bahdanau's ``c_i`` read with the previous state ``s_{i-1}``
(RNNsearch). After training, every model decodes free-running, by greedy search and by beam
search (the shared searches of :mod:`rnnlab.decoding.search` under the model's stop rule), the
length part's whole ``valid`` split and an evenly spaced subset of its ``test``, or the random
part's evenly spaced ``test_size`` validation numbers and up to ``random_per_length`` test numbers
of every source length; each source length gets:

- exact match: the fraction of outputs equal to the reference, token for token;
- BLEU: ``sacrebleu``'s corpus BLEU of the outputs against the references, over the German
  morphemes (pieces joined by spaces, ``@@`` removed: "ein und zwanzig"; a whole German number
  is one word, so word BLEU would only count exact matches), with ``effective_order=True`` so
  that one- to three-token sentences still get a score; the signature is in the table's notes
  and the report;
- length error: the mean ``|Û − U|`` in tokens of the greedy outputs and the fraction with
  ``Û = U``.

What the quick preset found (one real run, 3 seeds, 21 units in 5 min 52 s on 2 workers; the
verdicts printed under the table are recomputed from the runs, and claim an ordering only where
every seed shows it):

- In distribution, the GRU-16 fixed context is a bottleneck, but not one that grows with
  length. Attention reaches test exact match 0.99-1.00 on every source of 6 or more tokens in
  every seed, the same-size fixed context 0.33-0.64 (validation, in the data's own mix of
  lengths: 0.98 against 0.40). But the fixed context's score does not fall with length: its
  exact match is 0.27-0.73 over 4 to 11 tokens with no trend, its BLEU rises from 41 at 4 tokens
  to 90 at 11, so attention's lead is wider on the longer half only because attention's own
  score rises there. Bahdanau et al.'s falling curve is not reproduced at this scale. Both
  models are worst on sources of 1 to 3 tokens, which are 26 of the 20,000 training numbers.
  Nor is the gap shown to be a ceiling: the fixed context's validation exact match was still
  rising at 1,500 updates (0.24-0.57 over the seeds), attention's had levelled off near 0.96 by
  update 800; the same-size fixed context learns more slowly, at every length alike. A longer
  probe after the run (fixed context, GRU 16, seed 0, 4,000 updates) reached validation exact
  match 0.95 and test exact match 1.00 on every length from 7 to 11 tokens: at this size the
  gap is the speed of learning, not the capacity of the fixed vector.
- Why, as far as the probes tell: a number below 100,000 carries at most 17 bits however many
  words spell it, so a longer source does not ask more of the fixed vector, unlike a longer
  sentence. Probes before choosing GRU 16 (one seed each, 20,000 training numbers): with GRU 32
  and 1,500 updates both models were near-perfect at every length of 4 or more tokens; at the
  character level (0..9,999, GRU 32, 1,000 updates, sources up to 47 characters) the fixed
  context scored 0.8-1.0 from 19 to 46 characters (0.62 at 47, on 8 sentences), with no fall
  (attention at that level trains about four times slower, beyond the quick budget). GRU 16 is
  the configuration where the two differ at all within 1,500 updates.
- Extrapolation: every variant scores 0.98-1.00 on the in-range validation split and exact
  match 0.00 on every longer source, whatever the attention, the training or the stop rule.

Honest limits: the data are tiny and synthetic, and a number carries little information (at
most 17 bits below 100,000) however many words it takes, so the length of a source is not the
amount the fixed context must carry, unlike a sentence of natural language. In the random split
short sources are rare (numbers below 1,000 are 1% of 0..99,999), so every model is worst on
them for want of examples, not for their length. In the length split, no training sentence has
"and" followed by a hyphenated tens ("... and twenty-one"), nor a thousands part followed by
"hundred and ...", so the longer test sentences probe composition as much as length.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from rnnlab._checks import check_size
from rnnlab._io import atomic_write
from rnnlab.experiments.plots.figure import save_figure
from rnnlab.experiments.presets import choose_preset
from rnnlab.models.seq2seq import Seq2Seq, Seq2SeqConfig
from rnnlab.runs.executor import RunContext
from rnnlab.runs.report import Section
from rnnlab.tasks.numbers import JOINER, NumberTranslation, tokenize
from rnnlab.training.seq2seq import Seq2SeqTrainConfig, train_seq2seq

EXPERIMENT = "bahdanau2014"
RUN_FUNCTION = "rnnlab.experiments.bahdanau2014:run_unit"

# name -> (attention, training mode, stop rule)
VARIANTS: dict[str, tuple[str, str, str]] = {
    "fixed": ("none", "teacher_forcing", "eos"),
    "attention": ("additive", "teacher_forcing", "eos"),
    "scheduled": ("additive", "scheduled", "eos"),
    "unit": ("additive", "teacher_forcing", "unit"),
    "length": ("additive", "teacher_forcing", "length"),
}
STYLE = {  # variant -> (colour, marker, label)
    "fixed": ("tab:red", "o", "fixed context (RNNencdec)"),
    "attention": ("tab:blue", "s", "attention (RNNsearch)"),
    "scheduled": ("tab:green", "^", "attention + scheduled sampling"),
    "unit": ("tab:purple", "v", "stop unit"),
    "length": ("tab:brown", "D", "length head"),
}
SPLITS = ("valid", "test")  # held-out of the training lengths; longer (length) or any (random)
PARTS = {  # split_by -> what the part is called in tables and figures
    "random": "in distribution (random split)",
    "length": "extrapolation (split by length)",
}
METRICS = ("exact", "exact_beam", "bleu", "bleu_beam", "length_error", "exact_length")
MODES = {"teacher_forcing": "teacher forcing", "scheduled": "scheduled (inv. sigmoid)"}
PAPER = (
    "Bahdanau et al. 2014 (WMT'14 En→Fr, Table 1 and Fig. 2): BLEU 17.82 RNNencdec-50 vs 26.75 "
    "RNNsearch-50 on all test sentences; RNNencdec's BLEU falls as sentences grow past ~20 "
    "words, RNNsearch-50's does not."
)


@dataclass(frozen=True)
class Preset:
    """Two parts: the extrapolation part (split by length: ``variants``, ``seeds``,
    ``max_number``, ``train_max_length``, ``hidden_size``, ``steps``, ``test_size``) and the
    in-distribution part (random split: the ``random_*`` fields); the rest is shared."""

    name: str
    variants: tuple[str, ...]  # of VARIANTS, trained on the split by length
    seeds: int  # runs per variant
    max_number: int  # numbers 0..max_number
    train_max_length: int | None  # longest training source in tokens; None = the task's choice
    hidden_size: int  # GRU units per layer and direction; also the attention's size
    embedding_size: int  # source and target embeddings
    learning_rate: float  # Adam
    batch_size: int
    steps: int  # updates per run
    random_variants: tuple[str, ...]  # of VARIANTS, trained on the random split; () = none
    random_seeds: int  # runs per variant of the random split
    random_max_number: int  # numbers 0..random_max_number in the random split
    random_n_train: int | None  # training numbers kept of the random split; None = all
    random_hidden_size: int  # GRU units of both models of the random split (small: a bottleneck)
    random_steps: int  # updates per run of the random split
    random_per_length: int  # random split: test numbers decoded per source length
    schedule_k: float  # inverse-sigmoid k of the scheduled-sampling variant
    eval_every: int  # updates between evaluations on (part of) valid during training
    train_eval_size: int  # valid examples evaluated during training
    test_size: int | None  # length: test examples decoded at the end (evenly spaced), random:
    # validation examples; None = all
    beam_width: int  # beam search's width at the final evaluation
    heatmaps: int  # sentences drawn as attention heatmaps (first seed of attention variants)
    note: str = ""


PRESETS = {
    "full": Preset(
        name="full",
        variants=tuple(VARIANTS),
        seeds=5,
        max_number=9999,
        train_max_length=5,
        hidden_size=128,
        embedding_size=64,
        learning_rate=2e-3,
        batch_size=64,
        steps=6000,
        random_variants=("fixed", "attention"),
        random_seeds=5,
        random_max_number=99_999,
        random_n_train=None,
        random_hidden_size=16,
        random_steps=6000,
        random_per_length=200,
        schedule_k=600.0,
        eval_every=500,
        train_eval_size=500,
        test_size=None,
        beam_width=5,
        heatmaps=4,
        note="numbers en→de instead of WMT'14 En→Fr: random split of 0..99,999 (≤ 11 tokens), "
        "GRU 16; split by length of 0..9,999 (≤ 9 tokens), GRU 128; 5 seeds",
    ),
    "quick": Preset(
        name="quick",
        variants=tuple(VARIANTS),
        seeds=3,
        max_number=9999,
        train_max_length=5,
        hidden_size=64,
        embedding_size=32,
        learning_rate=3e-3,
        batch_size=32,
        steps=1000,
        random_variants=("fixed", "attention"),
        random_seeds=3,
        random_max_number=99_999,
        random_n_train=20_000,
        random_hidden_size=16,
        random_steps=1500,
        random_per_length=60,
        schedule_k=120.0,
        eval_every=100,
        train_eval_size=200,
        test_size=600,
        beam_width=4,
        heatmaps=3,
        note="QUICK PRESET, NOT THE PAPER'S PROTOCOL: numbers en→de instead of WMT'14; random "
        "split of 0..99,999 (20,000 training numbers), GRU 16, 1,500 updates; split by length, "
        "GRU 64, 1,000 updates; 3 seeds",
    ),
}


def preset(name: str, **overrides: Any) -> Preset:
    """A named preset, optionally changed (see :func:`.presets.choose_preset`)."""
    chosen = choose_preset(PRESETS, name, overrides)
    unknown = [v for v in chosen.variants if v not in VARIANTS]
    if unknown or not chosen.variants:
        raise ValueError(f"variants must be a non-empty tuple of {list(VARIANTS)}, got {unknown}")
    unknown = [v for v in chosen.random_variants if v not in VARIANTS]
    if unknown:
        raise ValueError(f"random_variants must be a tuple of {list(VARIANTS)}, got {unknown}")
    check_size("seeds", chosen.seeds)
    check_size("random_seeds", chosen.random_seeds)
    check_size("random_per_length", chosen.random_per_length)
    check_size("heatmaps", chosen.heatmaps, minimum=0)
    check_size("beam_width", chosen.beam_width)
    if chosen.test_size is not None:
        check_size("test_size", chosen.test_size)
    return chosen


def group_specs(chosen: Preset) -> list[dict[str, Any]]:
    """One spec per (part, variant, seed), the random split's first; building the tasks and
    configs here checks every value."""
    parts = []
    if chosen.random_variants:
        parts.append(
            (
                {
                    "source": "en",
                    "target": "de",
                    "level": "word",
                    "max_number": chosen.random_max_number,
                    "split_by": "random",
                    "n_train": chosen.random_n_train,
                    "seed": 0,
                },
                chosen.random_variants,
                chosen.random_seeds,
                chosen.random_hidden_size,
                chosen.random_steps,
                {"valid_size": chosen.test_size, "per_length": chosen.random_per_length},
            )
        )
    parts.append(
        (
            {
                "source": "en",
                "target": "de",
                "level": "word",
                "max_number": chosen.max_number,
                "split_by": "length",
                "train_max_length": chosen.train_max_length,
                "seed": 0,
            },
            chosen.variants,
            chosen.seeds,
            chosen.hidden_size,
            chosen.steps,
            {"test_size": chosen.test_size},
        )
    )
    specs = []
    for task_spec, variants, seeds, hidden_size, steps, sizes in parts:
        task = NumberTranslation(**task_spec)
        if task.split_by == "length":
            task_spec["train_max_length"] = task.train_max_length
        longest_source = max(len(s) for split in task.splits for s, _ in task.pairs(split))
        longest_target = max(len(t) for split in task.splits for _, t in task.pairs(split))
        for variant in variants:
            attention, mode, stop = VARIANTS[variant]
            for seed in range(seeds):
                model = {
                    "cell": "gru",
                    "hidden_size": hidden_size,
                    "bidirectional": True,
                    "source_embedding_size": chosen.embedding_size,
                    "target_embedding_size": chosen.embedding_size,
                    "context": "both",
                    "attention": attention,
                    "stop": stop,
                    "max_length": longest_target + 4,
                    "max_source_length": longest_source,
                    "seed": seed,
                }
                train = Seq2SeqTrainConfig(
                    mode=mode,
                    schedule="inverse_sigmoid",
                    schedule_k=chosen.schedule_k if mode == "scheduled" else None,
                    feed="sample",
                    learning_rate=chosen.learning_rate,
                    steps=steps,
                    batch_size=chosen.batch_size,
                    clip_norm=1.0,
                    eval_every=chosen.eval_every,
                    eval_split="valid",
                    eval_size=chosen.train_eval_size,
                    checkpoint_every=max(chosen.eval_every, 100),
                    seed=seed,
                )
                Seq2Seq(Seq2SeqConfig.for_task(task, **model))  # fail now, not in a worker
                heatmaps = chosen.heatmaps if seed == 0 and attention != "none" else 0
                specs.append(
                    {
                        "experiment": EXPERIMENT,
                        "preset": chosen.name,
                        "variant": variant,
                        "seed": seed,
                        "task": task_spec,
                        "model": model,
                        "train": asdict(train),
                        "evaluation": sizes
                        | {"beam_width": chosen.beam_width, "heatmaps": heatmaps},
                    }
                )
    return specs


# ------------------------------------------------------------------------------ metrics
def bleu_text(tokens: Sequence[str]) -> str:
    """The string BLEU scores for word-level tokens: the pieces joined by spaces with the
    continuation marker removed (``["ein@@", "und@@", "zwanzig"]`` -> ``"ein und zwanzig"``)."""
    return " ".join(token.removesuffix(JOINER) for token in tokens)


def corpus_bleu(hypotheses: Sequence[str], references: Sequence[str]) -> tuple[float, str]:
    """``sacrebleu``'s corpus BLEU (one reference each, ``effective_order=True``) and its
    signature. NaN for no sentences."""
    from sacrebleu.metrics import BLEU

    if len(hypotheses) != len(references):
        raise ValueError(
            f"hypotheses and references must pair up, got {len(hypotheses)} and {len(references)}"
        )
    metric = BLEU(effective_order=True)
    if not hypotheses:
        return math.nan, ""
    score = metric.corpus_score(list(hypotheses), [list(references)])
    return float(score.score), str(metric.get_signature())


def evenly_spaced(count: int, size: int | None) -> list[int]:
    """``size`` indices spread evenly over ``range(count)`` (all of them if ``size`` is None or
    at least ``count``)."""
    if size is None or size >= count:
        return list(range(count))
    return sorted({(i * count) // size for i in range(size)})


def per_length(task: NumberTranslation, split: str, size: int) -> list[int]:
    """Indices of ``split``: for every source length, ``size`` of its examples evenly spaced
    (all of them where it has fewer), so that the rare lengths are scored too."""
    by_length: dict[int, list[int]] = {}
    for i, (source, _) in enumerate(task.pairs(split)):
        by_length.setdefault(len(source), []).append(i)
    return sorted(
        members[j] for members in by_length.values() for j in evenly_spaced(len(members), size)
    )


@torch.no_grad()
def decode_examples(
    model: Seq2Seq,
    task: NumberTranslation,
    split: str,
    indices: Sequence[int],
    *,
    beam_width: int,
    batch_size: int = 256,
) -> list[dict[str, Any]]:
    """Greedy and beam-search outputs for the examples ``indices`` of ``split``: one dict per
    example with its ``number``, ``source_length``, ``reference`` / ``greedy`` / ``beam``
    target ids, and their BLEU strings (``*_text``)."""
    pairs, numbers = task.pairs(split), task.numbers(split)
    _, reference_texts = zip(*task.texts(split), strict=True)
    vocabulary = task.target_vocabulary
    model.eval()
    out = []
    for start in range(0, len(indices), batch_size):
        chunk = list(indices[start : start + batch_size])
        batch = task.collate([pairs[i] for i in chunk])
        greedy = model.search(batch.sources, batch.source_lengths)
        beams = (
            greedy
            if beam_width == 1
            else model.search(batch.sources, batch.source_lengths, beam_width=beam_width)
        )
        for b, i in enumerate(chunk):
            g = greedy[b][0].tokens if greedy[b] else []
            k = beams[b][0].tokens if beams[b] else []
            reference = tokenize(reference_texts[i], task.target, task.level)
            out.append(
                {
                    "split": split,
                    "number": numbers[i],
                    "source_length": int(batch.source_lengths[b]),
                    "reference": pairs[i][1].tolist(),
                    "greedy": g,
                    "beam": k,
                    "reference_text": bleu_text(reference),
                    "greedy_text": bleu_text(vocabulary.decode(g)),
                    "beam_text": bleu_text(vocabulary.decode(k)),
                }
            )
    return out


def score(examples: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Exact match and BLEU of the greedy and beam outputs, and the greedy outputs' length
    error, over ``examples`` (from :func:`decode_examples`)."""
    n = len(examples)
    references = [e["reference_text"] for e in examples]
    errors = [abs(len(e["greedy"]) - len(e["reference"])) for e in examples]
    return {
        "n": n,
        "exact": sum(e["greedy"] == e["reference"] for e in examples) / n,
        "exact_beam": sum(e["beam"] == e["reference"] for e in examples) / n,
        "bleu": corpus_bleu([e["greedy_text"] for e in examples], references)[0],
        "bleu_beam": corpus_bleu([e["beam_text"] for e in examples], references)[0],
        "length_error": sum(errors) / n,
        "exact_length": sum(e == 0 for e in errors) / n,
    }


# ------------------------------------------------------------------------------ one unit
def run_unit(spec: dict[str, Any], run: RunContext) -> dict[str, Any]:
    """Train one variant (resumable from the run's checkpoint), decode valid and test, score
    every source length, draw attention heatmaps; returns the scores."""
    task = NumberTranslation(**spec["task"])
    model = Seq2Seq(Seq2SeqConfig.for_task(task, **spec["model"]))
    checkpoint = run.directory / "checkpoint.pt"
    started = time.perf_counter()
    history = train_seq2seq(
        model,
        task,
        Seq2SeqTrainConfig(**spec["train"]),
        checkpoint=checkpoint,
        on_metrics=run.log,
    )
    train_seconds = time.perf_counter() - started
    run.artifact("checkpoint", checkpoint)
    evaluation = spec["evaluation"]
    examples = []
    for split in SPLITS:
        if split == "test" and "per_length" in evaluation:
            indices = per_length(task, split, evaluation["per_length"])
        else:
            size = evaluation.get(f"{split}_size")  # absent: all of valid (length split)
            indices = evenly_spaced(task.size(split), size)
        examples += decode_examples(
            model, task, split, indices, beam_width=evaluation["beam_width"]
        )
    path = run.directory / "examples.json"
    atomic_write(path, json.dumps(examples))
    run.artifact("examples", path)
    buckets, splits = [], {}
    for split in SPLITS:
        chosen = [e for e in examples if e["split"] == split]
        splits[split] = score(chosen)
        for length in sorted({e["source_length"] for e in chosen}):
            same = [e for e in chosen if e["source_length"] == length]
            buckets.append({"split": split, "length": length} | score(same))
    for i, image in enumerate(heatmaps(model, task, spec, run.directory, evaluation["heatmaps"])):
        run.artifact(f"heatmap{i}", image)
    return {
        "variant": spec["variant"],
        "train_seconds": train_seconds,
        "steps": history.steps,
        "final_loss": history.losses[-1],
        "skipped": history.skipped,
        "splits": splits,
        "buckets": buckets,
        "bleu_signature": corpus_bleu(
            [e["greedy_text"] for e in examples], [e["reference_text"] for e in examples]
        )[1],
    }


def heatmaps(
    model: Seq2Seq, task: NumberTranslation, spec: dict[str, Any], folder: Path, count: int
) -> list[Path]:
    """Attention heatmaps (source tokens × decoded target tokens) of ``count`` sentences: the
    last in-range validation number with ones and tens (reordered in German), then test
    numbers spread over the split."""
    if count == 0 or model.attention is None:
        return []

    def reordered(split: str) -> list[int]:
        numbers = task.numbers(split)
        picks = [i for i, n in enumerate(numbers) if n % 100 > 20 and n % 10]
        return picks or list(range(len(numbers)))

    valid, test = reordered("valid"), reordered("test")
    chosen = [("valid", valid[-1])] + [
        ("test", test[i]) for i in evenly_spaced(len(test), count - 1)
    ]
    paths = []
    for split, i in chosen[:count]:
        source, _ = task.pairs(split)[i]
        found = model.search(source.unsqueeze(1), torch.tensor([len(source)]))
        decoded = torch.tensor(found[0][0].tokens if found and found[0] else [], dtype=torch.long)
        weights = model.attention_map(source, decoded)  # (U', S)
        number = task.numbers(split)[i]
        paths.append(
            attention_heatmap(
                weights,
                task.source_vocabulary.decode(source),
                [*task.target_vocabulary.decode(decoded), "</s>"],
                folder / f"attention_{split}_{number}.png",
                title=f"{spec['variant']} seed {spec['seed']}, {split}: {number}",
            )
        )
    return paths


def attention_heatmap(
    weights: torch.Tensor,
    source: Sequence[str],
    target: Sequence[str],
    path: Path,
    *,
    title: str,
) -> Path:
    """Bahdanau et al. 2014 Fig. 3: the weights α_ij (U', S) as a grey image, source tokens
    along x, generated target tokens along y."""
    from rnnlab.experiments.plots.figure import pyplot

    plt = pyplot()
    U, S = weights.shape
    figure, axes = plt.subplots(figsize=(0.45 * S + 1.6, 0.45 * U + 1.2))
    axes.imshow(weights.detach().cpu().numpy(), cmap="gray", vmin=0.0, vmax=1.0)
    axes.set_xticks(range(S), list(source), rotation=60, ha="right", fontsize=8)
    axes.set_yticks(range(U), list(target)[:U], fontsize=8)
    axes.set_title(title, fontsize=8)
    figure.tight_layout()
    return save_figure(figure, path)


# ------------------------------------------------------------------------------ summaries
def _mean(values: Sequence[float]) -> float:
    values = [v for v in values if v is not None and not math.isnan(v)]
    return sum(values) / len(values) if values else math.nan


def _key(record) -> tuple[str, str, str]:
    """(preset, part, variant) of a run; the part is the task's ``split_by``."""
    return record.spec["preset"], record.spec["task"]["split_by"], record.spec["variant"]


def _buckets(outcome: dict[str, Any], part: str) -> list[dict[str, Any]]:
    """The buckets a curve against length is drawn from: both splits of the length part (they
    hold different lengths), the test split of the random part (valid holds the same lengths)."""
    return [b for b in outcome["buckets"] if part == "length" or b["split"] == "test"]


def summarize(records) -> list[dict[str, Any]]:
    """One row per (preset, part, variant): the seeds' mean scores on each split, the curves
    against source length, and each seed's test buckets (for the verdicts)."""
    groups: dict[tuple[str, str, str], list] = {}
    for record in records:
        groups.setdefault(_key(record), []).append(record)
    order = {name: i for i, name in enumerate(VARIANTS)}
    parts = {name: i for i, name in enumerate(PARTS)}
    curves = length_curves(records)
    rows = []
    for key in sorted(groups, key=lambda k: (k[0], parts[k[1]], order[k[2]])):
        name, part, variant = key
        members = sorted(groups[key], key=lambda m: m.spec["seed"])
        outcomes = [m.outcome for m in members]
        attention, mode, stop = VARIANTS[variant]
        spec = members[0].spec
        row: dict[str, Any] = {
            "preset": name,
            "part": part,
            "variant": variant,
            "attention": attention,
            "mode": mode,
            "stop": stop,
            "seeds": len(members),
            "max_number": spec["task"]["max_number"],
            "train_max_length": spec["task"].get("train_max_length"),
            "hidden_size": spec["model"]["hidden_size"],
            "steps": spec["train"]["steps"],
            "train_seconds": _mean([o["train_seconds"] for o in outcomes]),
            "bleu_signature": outcomes[0]["bleu_signature"],
        }
        for split in SPLITS:
            for metric in METRICS:
                row[f"{split}_{metric}"] = _mean([o["splits"][split][metric] for o in outcomes])
        row["by_length"] = {
            metric: [(length, mean) for length, mean, _ in points]
            for metric, points in curves[key].items()
        }
        row["seed_buckets"] = [
            [(b["length"], b["n"], b["exact"]) for b in _buckets(o, part) if b["split"] == "test"]
            for o in outcomes
        ]
        rows.append(row)
    return rows


def length_curves(
    records,
) -> dict[tuple[str, str, str], dict[str, list[tuple[int, float, float]]]]:
    """(preset, part, variant) -> metric -> [(source length, mean over seeds, spread)], the
    spread being half the range across seeds (buckets: :func:`_buckets`)."""
    pooled: dict[tuple[str, str, str, str, int], list[float]] = {}
    for record in records:
        key = _key(record)
        for bucket in _buckets(record.outcome, key[1]):
            for metric in ("exact", "bleu", "length_error"):
                pooled.setdefault((*key, metric, bucket["length"]), []).append(bucket[metric])
    curves: dict[tuple[str, str, str], dict[str, list[tuple[int, float, float]]]] = {}
    for (name, part, variant, metric, length), values in sorted(pooled.items()):
        finite = [v for v in values if not math.isnan(v)]
        if not finite:
            continue
        spread = (max(finite) - min(finite)) / 2
        curves.setdefault((name, part, variant), {}).setdefault(metric, []).append(
            (length, sum(finite) / len(finite), spread)
        )
    return curves


def _number(value: float, digits: int = 2) -> str:
    return "—" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def _part_label(row: dict[str, Any]) -> str:
    if row["part"] == "random":
        return f"random 0..{row['max_number']:,}"
    return f"length: train ≤ {row['train_max_length']}"


def table_rows(rows: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Header and cells of the terminal table, seed means. Part "random": valid and test are
    new numbers of every length (test: up to ``random_per_length`` per source length); part
    "length": valid within the training lengths, test longer than any training source."""
    header = [
        "part",
        "variant",
        "GRU",
        "training",
        "stop",
        "seeds",
        "exact valid",
        "exact test (beam)",
        "BLEU valid",
        "BLEU test",
        "|Û−U| valid / test",
        "Û=U test",
    ]
    cells = []
    for r in rows:
        cells.append(
            [
                _part_label(r),
                r["variant"],
                str(r["hidden_size"]),
                MODES[r["mode"]],
                r["stop"],
                str(r["seeds"]),
                _number(r["valid_exact"]),
                f"{_number(r['test_exact'])} ({_number(r['test_exact_beam'])})",
                _number(r["valid_bleu"], 1),
                _number(r["test_bleu"], 1),
                f"{_number(r['valid_length_error'])} / {_number(r['test_length_error'])}",
                _number(r["test_exact_length"]),
            ]
        )
    return header, cells


def _pooled_exact(buckets: Sequence[tuple[int, int, float]], keep) -> float:
    """Exact match over the buckets whose length satisfies ``keep``, weighted by their size."""
    chosen = [(n, exact) for length, n, exact in buckets if keep(length)]
    total = sum(n for n, _ in chosen)
    return sum(n * exact for n, exact in chosen) / total if total else math.nan


def _ordering(a: Sequence[float], b: Sequence[float], names: tuple[str, str]) -> str:
    """Which of two sets of per-seed values is ahead in every pairing of seeds, if any."""
    if min(a) > max(b):
        return f"{names[0]} ahead for every seed"
    if min(b) > max(a):
        return f"{names[1]} ahead for every seed"
    return "no ordering holds for every seed"


def _span(values: Sequence[float]) -> str:
    low, high = min(values), max(values)
    return _number(low) if low == high else f"{_number(low)}–{_number(high)}"


def length_verdict(fixed: dict[str, Any], attention: dict[str, Any], name: str) -> list[str]:
    """The random part's Fig. 2 question in sentences: per seed, test exact match on the shorter
    and on the longer half of the test lengths; who is ahead on each half for every seed (every
    pairing of seeds); whether each model falls from the shorter to the longer half for every
    seed; whether attention's lead is wider on the longer half for every seed (seeds paired by
    number, as they share the initialisation seed and the batch order)."""
    lengths = sorted({n for seed in fixed["seed_buckets"] for n, _, _ in seed})
    if len(lengths) < 2:
        return []
    cut = lengths[len(lengths) // 2]  # the longer half: lengths >= cut

    def halves(row):
        short = [_pooled_exact(s, lambda n: n < cut) for s in row["seed_buckets"]]
        long = [_pooled_exact(s, lambda n: n >= cut) for s in row["seed_buckets"]]
        return short, long

    (f_short, f_long), (a_short, a_long) = halves(fixed), halves(attention)
    names = ("attention", "fixed context")
    changes = []
    for label, short, long in (("fixed", f_short, f_long), ("attention", a_short, a_long)):
        change = [g - s for s, g in zip(short, long, strict=True)]
        falls = (
            "falls for every seed"
            if max(change) < 0
            else "rises for every seed"
            if min(change) > 0
            else "neither falls nor rises for every seed"
        )
        changes.append(f"{label} {_span(change)} ({falls})")
    gaps = [
        (al - fl) - (as_ - fs)
        for fs, fl, as_, al in zip(f_short, f_long, a_short, a_long, strict=True)
    ]
    wider = (
        "wider on the longer half for every seed"
        if min(gaps) > 0
        else "narrower on the longer half for every seed"
        if max(gaps) < 0
        else "not wider on the longer half for every seed"
    )
    return [
        f"{name}, in distribution: test exact match (range over seeds) on sources of < {cut} "
        f"tokens: attention {_span(a_short)} vs fixed {_span(f_short)} "
        f"({_ordering(a_short, f_short, names)}); on ≥ {cut} tokens: attention {_span(a_long)} "
        f"vs fixed {_span(f_long)} ({_ordering(a_long, f_long, names)})",
        f"{name}, in distribution: change from < {cut} to ≥ {cut} tokens: "
        + ", ".join(changes)
        + f"; attention's lead over the fixed context is {wider} (Bahdanau et al.'s Fig. 2: the "
        "fixed context's score falls with length, attention's does not)",
    ]


def verdicts(rows: list[dict[str, Any]]) -> list[str]:
    """What the table says, in sentences: exact match and BLEU against source length for fixed
    context and attention in both parts, the Fig. 2 comparison, the extrapolation comparisons,
    and the BLEU signature."""
    lines = []
    by = {(r["preset"], r["part"], r["variant"]): r for r in rows}
    for name in dict.fromkeys(r["preset"] for r in rows):
        for part, title in PARTS.items():
            members = [r for r in rows if (r["preset"], r["part"]) == (name, part)]
            if not members:
                continue
            limit = members[0]["train_max_length"]
            where = "test" if part == "random" else f"training sources ≤ {limit} tokens"
            for metric, digits in (("exact", 2), ("bleu", 0)):
                curves = [
                    f"{v} "
                    + ", ".join(
                        f"{n}:{_number(b, digits)}"
                        for n, b in by[(name, part, v)]["by_length"][metric]
                    )
                    for v in ("fixed", "attention")
                    if (name, part, v) in by
                ]
                if curves:
                    lines.append(
                        f"{name}, {title}: {'BLEU' if metric == 'bleu' else 'exact match'} by "
                        f"source length ({where}): " + "; ".join(curves)
                    )
            fixed, attention = by.get((name, part, "fixed")), by.get((name, part, "attention"))
            if part == "random" and fixed and attention:
                lines += length_verdict(fixed, attention, name)
            if part == "length" and fixed and attention:
                lines.append(
                    f"{name}, extrapolation: attention vs fixed context, greedy exact match "
                    f"in-range {_number(attention['valid_exact'])} vs "
                    f"{_number(fixed['valid_exact'])}, on longer sources "
                    f"{_number(attention['test_exact'])} vs {_number(fixed['test_exact'])}; BLEU "
                    f"on longer sources {_number(attention['test_bleu'], 1)} vs "
                    f"{_number(fixed['test_bleu'], 1)}"
                )
            scheduled = by.get((name, part, "scheduled"))
            if scheduled and attention:
                lines.append(
                    f"{name}, {title}: scheduled sampling vs teacher forcing, free-running greedy "
                    f"exact match valid {_number(scheduled['valid_exact'])} vs "
                    f"{_number(attention['valid_exact'])}, BLEU test "
                    f"{_number(scheduled['test_bleu'], 1)} vs {_number(attention['test_bleu'], 1)}"
                )
            stops = [
                by[(name, part, v)]
                for v in ("attention", "unit", "length")
                if (name, part, v) in by
            ]
            if len(stops) > 1:
                lines.append(
                    f"{name}, {title}: stop rules, mean |Û−U| valid / test: "
                    + ", ".join(
                        f"{r['stop']} {_number(r['valid_length_error'])} / "
                        f"{_number(r['test_length_error'])}"
                        for r in stops
                    )
                )
    signatures = sorted({r["bleu_signature"] for r in rows})
    lines += [f"BLEU signature (sacrebleu): {s}" for s in signatures]
    return lines


# ------------------------------------------------------------------------------ report
def _curve(ax, curves, variant: str, metric: str, shift: float, label: str | None = None) -> None:
    if variant not in curves or metric not in curves[variant]:
        return
    colour, marker, text = STYLE[variant]
    x, y, spread = zip(*curves[variant][metric], strict=True)
    x = [n + shift for n in x]  # side by side where the curves coincide
    ax.errorbar(x, y, yerr=spread, color=colour, marker=marker, capsize=2, label=label or text)


def _limit_line(ax, limit: int) -> None:
    ax.axvline(limit + 0.5, color="grey", linestyle="--", linewidth=1)
    ax.annotate(
        "longer than any\ntraining source →",
        (limit + 0.6, 0.88),
        xycoords=("data", "axes fraction"),
        fontsize=7,
        color="grey",
    )


def _part_curves(records, name: str, part: str) -> dict[str, dict[str, list]]:
    return {v: c for (p, s, v), c in length_curves(records).items() if (p, s) == (name, part)}


def headline_figure(records, name: str, path: Path) -> Path:
    """Bahdanau et al.'s Fig. 2 in miniature: test exact match and BLEU against source length,
    fixed context vs attention, on the random split (every length in training); beside it the
    extrapolation part's exact match against source length."""
    from rnnlab.experiments.plots.figure import pyplot

    plt = pyplot()
    random = _part_curves(records, name, "random")
    length = _part_curves(records, name, "length")
    mine = [r for r in records if r.spec["preset"] == name]
    figure, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for ax, metric, label in (
        (axes[0], "exact", "exact match (greedy)"),
        (axes[1], "bleu", "BLEU (greedy, morphemes)"),
    ):
        for shift, variant in zip((-0.08, 0.08), ("fixed", "attention"), strict=True):
            _curve(ax, random, variant, metric, shift)
        ax.set_xlabel("source length (tokens)")
        ax.set_ylabel(label)
        ax.legend(fontsize=7)
    spec = next((r.spec for r in mine if r.spec["task"]["split_by"] == "random"), None)
    if spec is not None:
        n_train = spec["task"]["n_train"]
        axes[0].set_title(
            f"in distribution: random split of 0..{spec['task']['max_number']:,}"
            + (f" ({n_train:,} trained)" if n_train else "")
            + f", GRU {spec['model']['hidden_size']}",
            fontsize=8,
        )
        axes[1].set_title("every length is in training; test numbers are new", fontsize=8)
    axes[0].set_ylim(-0.05, 1.05)
    for shift, variant in zip((-0.08, 0.08), ("fixed", "attention"), strict=True):
        _curve(axes[2], length, variant, "exact", shift)
    spec = next((r.spec for r in mine if r.spec["task"]["split_by"] == "length"), None)
    if spec is not None:
        _limit_line(axes[2], spec["task"]["train_max_length"])
        axes[2].set_title(
            f"extrapolation: split by length of 0..{spec['task']['max_number']:,}, "
            f"GRU {spec['model']['hidden_size']}",
            fontsize=8,
        )
    axes[2].set_xlabel("source length (tokens)")
    axes[2].set_ylabel("exact match (greedy)")
    axes[2].set_ylim(-0.05, 1.05)
    axes[2].legend(fontsize=7)
    figure.suptitle(
        f"{EXPERIMENT} ({name}): fixed context vs attention against source length, numbers "
        "en→de, mean over seeds (bars: half the range)",
        fontsize=10,
    )
    figure.tight_layout()
    return save_figure(figure, path)


def length_figure(records, name: str, path: Path) -> Path:
    """The extrapolation part: exact match and BLEU against source length (fixed vs attention
    vs scheduled sampling), and the stop rules' length error, for preset ``name``."""
    from rnnlab.experiments.plots.figure import pyplot

    plt = pyplot()
    curves = _part_curves(records, name, "length")
    limit = next(
        r.spec["task"]["train_max_length"]
        for r in records
        if (r.spec["preset"], r.spec["task"]["split_by"]) == (name, "length")
    )
    figure, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    panels = [
        ("exact", "exact match (greedy)", ("fixed", "attention", "scheduled")),
        ("bleu", "BLEU (greedy, morphemes)", ("fixed", "attention", "scheduled")),
        ("length_error", "mean |Û − U| (tokens)", ("attention", "unit", "length")),
    ]
    stops = {"attention": "end symbol", "unit": "stop unit", "length": "length head"}
    for ax, (metric, label, variants) in zip(axes, panels, strict=True):
        for shift, variant in zip((-0.1, 0.0, 0.1), variants, strict=True):
            text = stops[variant] if metric == "length_error" else None
            _curve(ax, curves, variant, metric, shift, text)
        _limit_line(ax, limit)
        ax.set_xlabel("source length (tokens)")
        ax.set_ylabel(label)
        ax.legend(fontsize=7)
    axes[0].set_ylim(-0.05, 1.05)
    figure.suptitle(
        f"{EXPERIMENT} ({name}), extrapolation (split by length): numbers en→de, mean over "
        "seeds (bars: half the range)",
        fontsize=10,
    )
    figure.tight_layout()
    return save_figure(figure, path)


def curves_figure(store, records, name: str, path: Path) -> Path:
    """Validation exact match (greedy, free-running) during training, one line per run, one
    panel per part."""
    from rnnlab.experiments.plots.figure import pyplot

    plt = pyplot()
    parts = [p for p in PARTS if any(_key(r)[:2] == (name, p) for r in records)]
    figure, axes = plt.subplots(1, len(parts), figsize=(5.5 * len(parts), 3.4), squeeze=False)
    for ax, part in zip(axes[0], parts, strict=True):
        seen = set()
        for record in records:
            if _key(record)[:2] != (name, part):
                continue
            points = store.metrics(record.key, "exact_match").get("exact_match", [])
            if not points:
                continue
            variant = record.spec["variant"]
            colour, _, label = STYLE[variant]
            ax.plot(
                *zip(*points, strict=True),
                color=colour,
                alpha=0.8,
                label=label if variant not in seen else None,
            )
            seen.add(variant)
        ax.set_xlabel("update")
        ax.set_ylabel("valid exact match (greedy)")
        ax.set_ylim(-0.05, 1.05)
        ax.legend(fontsize=7)
        ax.set_title(f"{EXPERIMENT} ({name}): learning curves, {PARTS[part]}", fontsize=9)
    figure.tight_layout()
    return save_figure(figure, path)


def report_sections(store, records, out: Path) -> list[Section]:
    rows = summarize(records)
    header, cells = table_rows(rows)
    signatures = "; ".join(sorted({r["bleu_signature"] for r in rows}))
    sections = [
        Section(
            f"{EXPERIMENT}: fixed context vs attention against source length",
            text=(
                "Numbers written in English words translated into German morphemes. Part "
                "'random' (in distribution, Fig. 2's protocol): a random split, every length in "
                "training, valid and test new numbers of every length (test: the same count per "
                "source length where there are enough). Part 'length' (extrapolation): valid "
                "within the training lengths, test longer than any training source. "
                f"{PAPER} BLEU signature: {signatures}."
            ),
            header=["preset", *header],
            rows=[[r["preset"], *c] for r, c in zip(rows, cells, strict=True)],
        )
    ]
    for name in dict.fromkeys(r["preset"] for r in rows):
        parts = {r["part"] for r in rows if r["preset"] == name}
        images = []
        if "random" in parts:
            images.append(headline_figure(records, name, out / f"{name}_fixed_vs_attention.png"))
        if "length" in parts:
            images.append(length_figure(records, name, out / f"{name}_against_length.png"))
        images.append(curves_figure(store, records, name, out / f"{name}_learning_curves.png"))
        for record in records:
            if record.spec["preset"] == name:
                images += [
                    Path(p)
                    for kind, p in store.artifacts(record.key)
                    if kind.startswith("heatmap") and Path(p).is_file()
                ]
        sections.append(
            Section(
                f"{EXPERIMENT} ({name}): accuracy against length, training, attention",
                text="Attention heatmaps: source tokens along x, the greedy output along y "
                "(the last row predicts the end).",
                images=images,
            )
        )
    return sections
