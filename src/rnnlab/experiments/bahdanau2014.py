"""Bahdanau, Cho & Bengio 2014 in miniature: a fixed context against attention, as the source
grows (their Fig. 2), on the ``numbers`` translation task; plus teacher forcing against
scheduled sampling (Bengio et al. 2015) judged free-running, and the three stop rules of the DL
book (§10.2.3) judged on the length of what they generate.

Data: English numbers written in words → German (``num2words``, 0..``max_number``), word level
with German compounds cut into morphemes ("twenty-one" → "ein@@ und@@ zwanzig": the ones come
before the tens, so the alignment is not monotone). The split is by source length: every number
whose English source is longer than ``train_max_length`` tokens is in ``"test"`` (none of them is
seen in training), the rest is shuffled into ``"train"`` and an in-range ``"valid"`` split.

Units (one training run each, every variant × seed):

==============  ===============  ==================  ======
variant         attention        training            stop
==============  ===============  ==================  ======
``fixed``       none (C only)    teacher forcing     eos
``attention``   additive         teacher forcing     eos
``scheduled``   additive         scheduled sampling  eos
                                 (inverse sigmoid)
``unit``        additive         teacher forcing     unit
``length``      additive         teacher forcing     length
==============  ===============  ==================  ======

Every model has a bidirectional GRU encoder and a GRU decoder that gets the context at its
start and at every step (``context="both"``): the fixed summary ``C`` (Cho et al. 2014's
RNNencdec) or, with attention, Bahdanau's ``c_i`` read with the previous state ``s_{i-1}``
(RNNsearch). After training, every model decodes the whole ``valid`` split and an evenly spaced
subset of ``test`` free-running, by greedy search and by beam search (the shared searches of
:mod:`rnnlab.decoding.search` under the model's stop rule), and each source length gets:

- exact match: the fraction of outputs equal to the reference, token for token;
- BLEU: ``sacrebleu``'s corpus BLEU of the outputs against the references, over the German
  morphemes (pieces joined by spaces, ``@@`` removed: "ein und zwanzig"; a whole German number
  is one word, so word BLEU would only count exact matches), with ``effective_order=True`` so
  that one- to three-token sentences still get a score; the signature is in the table's notes
  and the report;
- length error: the mean ``|Û − U|`` in tokens of the greedy outputs and the fraction with
  ``Û = U``.

Honest limits: the data are tiny and synthetic (10,000 numbers) and sentences are at most nine
tokens. With the presets' training sources of at most five tokens, no training sentence has
"and" followed by a hyphenated tens ("... and twenty-one"), nor a thousands part followed by
"hundred and ...", so the longer test sentences probe composition as much as length; and a
model that never saw a target longer than five tokens has little reason to emit seven.
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
from rnnlab.experiments.executor import RunContext
from rnnlab.experiments.presets import choose_preset
from rnnlab.experiments.report import Section, save_figure, write_atomic
from rnnlab.models.seq2seq import Seq2Seq, Seq2SeqConfig
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
SPLITS = ("valid", "test")  # in-range held-out, longer than any training source
METRICS = ("exact", "exact_beam", "bleu", "bleu_beam", "length_error", "exact_length")
MODES = {"teacher_forcing": "teacher forcing", "scheduled": "scheduled (inv. sigmoid)"}
PAPER = (
    "Bahdanau et al. 2014 (WMT'14 En→Fr, Table 1 and Fig. 2): BLEU 17.82 RNNencdec-50 vs 26.75 "
    "RNNsearch-50 on all test sentences; RNNencdec's BLEU falls as sentences grow past ~20 "
    "words, RNNsearch-50's does not."
)


@dataclass(frozen=True)
class Preset:
    name: str
    variants: tuple[str, ...]  # of VARIANTS
    seeds: int  # runs per variant
    max_number: int  # numbers 0..max_number
    train_max_length: int | None  # longest training source in tokens; None = the task's choice
    hidden_size: int  # GRU units per layer and direction; also the attention's size
    embedding_size: int  # source and target embeddings
    learning_rate: float  # Adam
    batch_size: int
    steps: int  # updates per run
    schedule_k: float  # inverse-sigmoid k of the scheduled-sampling variant
    eval_every: int  # updates between evaluations on (part of) valid during training
    train_eval_size: int  # valid examples evaluated during training
    test_size: int | None  # test examples decoded at the end (evenly spaced); None = all
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
        schedule_k=600.0,
        eval_every=500,
        train_eval_size=500,
        test_size=None,
        beam_width=5,
        heatmaps=4,
        note="numbers en→de (10,000 sentences of ≤ 9 tokens) instead of WMT'14 En→Fr; GRU 128, "
        "5 seeds",
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
        schedule_k=120.0,
        eval_every=100,
        train_eval_size=200,
        test_size=600,
        beam_width=4,
        heatmaps=3,
        note="QUICK PRESET, NOT THE PAPER'S PROTOCOL: numbers en→de instead of WMT'14, GRU 64, "
        "1,000 updates, 3 seeds, 600 test sentences",
    ),
}


def preset(name: str, **overrides: Any) -> Preset:
    """A named preset, optionally changed (see :func:`.presets.choose_preset`)."""
    chosen = choose_preset(PRESETS, name, overrides)
    unknown = [v for v in chosen.variants if v not in VARIANTS]
    if unknown or not chosen.variants:
        raise ValueError(f"variants must be a non-empty tuple of {list(VARIANTS)}, got {unknown}")
    check_size("seeds", chosen.seeds)
    check_size("heatmaps", chosen.heatmaps, minimum=0)
    check_size("beam_width", chosen.beam_width)
    if chosen.test_size is not None:
        check_size("test_size", chosen.test_size)
    return chosen


def group_specs(chosen: Preset) -> list[dict[str, Any]]:
    """One spec per (variant, seed); building the task and configs here checks every value."""
    task_spec = {
        "source": "en",
        "target": "de",
        "level": "word",
        "max_number": chosen.max_number,
        "split_by": "length",
        "train_max_length": chosen.train_max_length,
        "seed": 0,
    }
    task = NumberTranslation(**task_spec)
    task_spec["train_max_length"] = task.train_max_length
    longest_source = max(len(s) for split in task.splits for s, _ in task.pairs(split))
    longest_target = max(len(t) for split in task.splits for _, t in task.pairs(split))
    specs = []
    for variant in chosen.variants:
        attention, mode, stop = VARIANTS[variant]
        for seed in range(chosen.seeds):
            model = {
                "cell": "gru",
                "hidden_size": chosen.hidden_size,
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
                steps=chosen.steps,
                batch_size=chosen.batch_size,
                clip_norm=1.0,
                eval_every=chosen.eval_every,
                eval_split="valid",
                eval_size=chosen.train_eval_size,
                checkpoint_every=max(chosen.eval_every, 100),
                seed=seed,
            )
            Seq2Seq(Seq2SeqConfig.for_task(task, **model))  # fail now, not in a worker
            specs.append(
                {
                    "experiment": EXPERIMENT,
                    "preset": chosen.name,
                    "variant": variant,
                    "seed": seed,
                    "task": task_spec,
                    "model": model,
                    "train": asdict(train),
                    "evaluation": {
                        "test_size": chosen.test_size,
                        "beam_width": chosen.beam_width,
                        "heatmaps": chosen.heatmaps if seed == 0 and attention != "none" else 0,
                    },
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
        sizes = {"valid": None, "test": evaluation["test_size"]}
        indices = evenly_spaced(task.size(split), sizes[split])
        examples += decode_examples(
            model, task, split, indices, beam_width=evaluation["beam_width"]
        )
    path = run.directory / "examples.json"
    write_atomic(path, json.dumps(examples))
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
    from rnnlab.experiments.plots import _pyplot

    plt = _pyplot()
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


def summarize(records) -> list[dict[str, Any]]:
    """One row per (preset, variant): the seeds' mean scores on each split."""
    groups: dict[tuple[str, str], list] = {}
    for record in records:
        groups.setdefault((record.spec["preset"], record.spec["variant"]), []).append(record)
    order = {name: i for i, name in enumerate(VARIANTS)}
    rows = []
    for (name, variant), members in sorted(groups.items(), key=lambda g: (g[0][0], order[g[0][1]])):
        outcomes = [m.outcome for m in members]
        attention, mode, stop = VARIANTS[variant]
        row: dict[str, Any] = {
            "preset": name,
            "variant": variant,
            "attention": attention,
            "mode": mode,
            "stop": stop,
            "seeds": len(members),
            "train_max_length": members[0].spec["task"]["train_max_length"],
            "train_seconds": _mean([o["train_seconds"] for o in outcomes]),
            "bleu_signature": outcomes[0]["bleu_signature"],
        }
        for split in SPLITS:
            for metric in METRICS:
                row[f"{split}_{metric}"] = _mean([o["splits"][split][metric] for o in outcomes])
        row["by_length"] = {
            metric: [(length, mean) for length, mean, _ in points]
            for metric, points in length_curves(members)[(name, variant)].items()
        }
        rows.append(row)
    return rows


def length_curves(records) -> dict[tuple[str, str], dict[str, list[tuple[int, float, float]]]]:
    """(preset, variant) -> metric -> [(source length, mean over seeds, spread)] over both
    splits, the spread being half the range across seeds."""
    pooled: dict[tuple[str, str, str, int], list[float]] = {}
    for record in records:
        key = (record.spec["preset"], record.spec["variant"])
        for bucket in record.outcome["buckets"]:
            for metric in ("exact", "bleu", "length_error"):
                pooled.setdefault((*key, metric, bucket["length"]), []).append(bucket[metric])
    curves: dict[tuple[str, str], dict[str, list[tuple[int, float, float]]]] = {}
    for (name, variant, metric, length), values in sorted(pooled.items()):
        finite = [v for v in values if not math.isnan(v)]
        if not finite:
            continue
        spread = (max(finite) - min(finite)) / 2
        curves.setdefault((name, variant), {}).setdefault(metric, []).append(
            (length, sum(finite) / len(finite), spread)
        )
    return curves


def _number(value: float, digits: int = 2) -> str:
    return "—" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def table_rows(rows: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Header and cells of the terminal table: "in" = validation sources within the training
    lengths, "longer" = test sources longer than any training source; seed means."""
    header = [
        "variant",
        "training",
        "stop",
        "seeds",
        "exact in",
        "exact longer (beam)",
        "BLEU in",
        "BLEU longer",
        "|Û−U| in / longer",
        "Û=U longer",
    ]
    cells = []
    for r in rows:
        cells.append(
            [
                r["variant"],
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


def verdicts(rows: list[dict[str, Any]]) -> list[str]:
    """What the table says, in sentences: BLEU against source length (the Fig. 2 curve), the
    three comparisons, and the BLEU signature."""
    lines = []
    by = {(r["preset"], r["variant"]): r for r in rows}
    for name in dict.fromkeys(r["preset"] for r in rows):
        limit = next(r["train_max_length"] for r in rows if r["preset"] == name)
        curves = [
            f"{v} "
            + ", ".join(f"{n}:{_number(b, 0)}" for n, b in by[(name, v)]["by_length"]["bleu"])
            for v in ("fixed", "attention")
            if (name, v) in by
        ]
        if curves:
            lines.append(
                f"{name}: BLEU by source length (training sources ≤ {limit} tokens): "
                + "; ".join(curves)
            )
        fixed, attention = by.get((name, "fixed")), by.get((name, "attention"))
        if fixed and attention:
            lines.append(
                f"{name}: attention vs fixed context, greedy exact match in-range "
                f"{_number(attention['valid_exact'])} vs {_number(fixed['valid_exact'])}, on "
                f"longer sources {_number(attention['test_exact'])} vs "
                f"{_number(fixed['test_exact'])}; BLEU on longer sources "
                f"{_number(attention['test_bleu'], 1)} vs {_number(fixed['test_bleu'], 1)}"
            )
        scheduled = by.get((name, "scheduled"))
        if scheduled and attention:
            lines.append(
                f"{name}: scheduled sampling vs teacher forcing, free-running greedy exact match "
                f"in-range {_number(scheduled['valid_exact'])} vs "
                f"{_number(attention['valid_exact'])}, BLEU on longer sources "
                f"{_number(scheduled['test_bleu'], 1)} vs {_number(attention['test_bleu'], 1)}"
            )
        stops = [by[(name, v)] for v in ("attention", "unit", "length") if (name, v) in by]
        if len(stops) > 1:
            lines.append(
                f"{name}: stop rules, mean |Û−U| in-range / longer: "
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
def length_figure(records, name: str, path: Path) -> Path:
    """Exact match and BLEU against source length (fixed vs attention vs scheduled sampling),
    and the stop rules' length error against source length, for preset ``name``."""
    from rnnlab.experiments.plots import _pyplot

    plt = _pyplot()
    curves = {v: c for (p, v), c in length_curves(records).items() if p == name}
    limit = next(r.spec["task"]["train_max_length"] for r in records if r.spec["preset"] == name)
    figure, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    panels = [
        ("exact", "exact match (greedy)", ("fixed", "attention", "scheduled")),
        ("bleu", "BLEU (greedy, morphemes)", ("fixed", "attention", "scheduled")),
        ("length_error", "mean |Û − U| (tokens)", ("attention", "unit", "length")),
    ]
    for ax, (metric, label, variants) in zip(axes, panels, strict=True):
        for shift, variant in zip((-0.1, 0.0, 0.1), variants, strict=True):
            if variant not in curves or metric not in curves[variant]:
                continue
            colour, marker, text = STYLE[variant]
            if metric == "length_error":
                text = {"attention": "end symbol", "unit": "stop unit", "length": "length head"}[
                    variant
                ]
            x, y, spread = zip(*curves[variant][metric], strict=True)
            x = [n + shift for n in x]  # side by side where the curves coincide
            ax.errorbar(x, y, yerr=spread, color=colour, marker=marker, capsize=2, label=text)
        ax.axvline(limit + 0.5, color="grey", linestyle="--", linewidth=1)
        ax.annotate(
            "longer than any\ntraining source →",
            (limit + 0.6, 0.88),
            xycoords=("data", "axes fraction"),
            fontsize=7,
            color="grey",
        )
        ax.set_xlabel("source length (tokens)")
        ax.set_ylabel(label)
        ax.legend(fontsize=7)
    axes[0].set_ylim(-0.05, 1.05)
    figure.suptitle(
        f"{EXPERIMENT} ({name}): numbers en→de, mean over seeds (bars: half the range)",
        fontsize=10,
    )
    figure.tight_layout()
    return save_figure(figure, path)


def curves_figure(store, records, name: str, path: Path) -> Path:
    """Validation exact match (greedy, free-running) during training, one line per run."""
    from rnnlab.experiments.plots import _pyplot

    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(5.5, 3.4))
    seen = set()
    for record in records:
        if record.spec["preset"] != name:
            continue
        points = store.metrics(record.key, "exact_match").get("exact_match", [])
        if not points:
            continue
        variant = record.spec["variant"]
        colour, _, label = STYLE[variant]
        axes.plot(
            *zip(*points, strict=True),
            color=colour,
            alpha=0.8,
            label=label if variant not in seen else None,
        )
        seen.add(variant)
    axes.set_xlabel("update")
    axes.set_ylabel("valid exact match (greedy)")
    axes.set_ylim(-0.05, 1.05)
    axes.legend(fontsize=7)
    axes.set_title(f"{EXPERIMENT} ({name}): learning curves", fontsize=9)
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
                "Numbers written in English words translated into German morphemes; "
                "'in' = validation sources within the training lengths, 'longer' = test "
                "sources longer than any training source. "
                f"{PAPER} BLEU signature: {signatures}."
            ),
            header=["preset", *header],
            rows=[[r["preset"], *c] for r, c in zip(rows, cells, strict=True)],
        )
    ]
    for name in dict.fromkeys(r["preset"] for r in rows):
        images = [
            length_figure(records, name, out / f"{name}_against_length.png"),
            curves_figure(store, records, name, out / f"{name}_learning_curves.png"),
        ]
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
