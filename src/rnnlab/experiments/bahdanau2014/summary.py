"""The runs in rows and sentences: :func:`summarize` (one row per preset, part and variant),
:func:`length_curves`, the terminal table (:func:`table_rows`) and the verdicts under it
(:func:`length_verdict`, :func:`verdicts`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from rnnlab.experiments.bahdanau2014.constants import METRICS, MODES, PARTS, SPLITS, VARIANTS


def _mean(values: Sequence[float]) -> float:
    values = [v for v in values if v is not None and not math.isnan(v)]
    return sum(values) / len(values) if values else math.nan


def _key(record) -> tuple[str, str, str]:
    """(preset, part, variant) of a run."""
    return record.spec["preset"], record.spec["part"], record.spec["variant"]


def _buckets(outcome: dict[str, Any], part: str) -> list[dict[str, Any]]:
    """The buckets a curve against length is drawn from: both splits of the length part (they
    hold different lengths), the test split of the others (valid holds the same lengths)."""
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
            "max_number": spec["task"].get("max_number"),  # the numbers' parts
            "train_max_length": spec["task"].get("train_max_length"),  # the length part
            "max_length": spec["task"].get("max_length"),  # the sentences' longest source
            "hidden_size": spec["model"]["hidden_size"],
            "updates": spec["train"]["max_updates"],
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
            [
                (b["length"], b["n"], b["exact"], b["bleu"])
                for b in _buckets(o, part)
                if b["split"] == "test"
            ]
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
    if row["part"] == "sentences":
        return f"sentences de→en, ≤ {row['max_length']} tokens"
    return f"length: train ≤ {row['train_max_length']}"


def table_rows(rows: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Header and cells of the terminal table, seed means. Part "random": valid and test are
    new numbers of every length (test: up to ``random_per_length`` per source length); part
    "length": valid within the training lengths, test longer than any training source; part
    "sentences": valid and test are new sentences of every length (test: up to
    ``sentence_per_length`` per source length)."""
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


def _pooled(buckets: Sequence[tuple[int, int, float, float]], keep, metric: str) -> float:
    """The mean of ``metric`` ("exact" or "bleu") over the buckets whose length satisfies
    ``keep``, weighted by their size (for BLEU: the mean of the per-length corpus BLEUs)."""
    column = {"exact": 2, "bleu": 3}[metric]
    chosen = [(b[1], b[column]) for b in buckets if keep(b[0]) and not math.isnan(b[column])]
    total = sum(n for n, _ in chosen)
    return sum(n * value for n, value in chosen) / total if total else math.nan


def _ordering(a: Sequence[float], b: Sequence[float], names: tuple[str, str]) -> str:
    """Which of two sets of per-seed values is ahead in every pairing of seeds, if any."""
    if min(a) > max(b):
        return f"{names[0]} ahead for every seed"
    if min(b) > max(a):
        return f"{names[1]} ahead for every seed"
    return "no ordering holds for every seed"


def length_verdict(
    fixed: dict[str, Any], attention: dict[str, Any], name: str, part: str, metric: str
) -> list[str]:
    """Fig. 2's question in sentences, for an in-distribution ``part`` and a ``metric``
    ("exact" match or "bleu", see :func:`_pooled`): per seed, the test score on the shorter and
    on the longer half of the test lengths; who is ahead on each half for every seed (every
    pairing of seeds); whether each model falls from the shorter to the longer half for every
    seed; whether attention's lead is wider on the longer half for every seed (seeds paired by
    number, as they share the initialisation seed and the batch order)."""
    lengths = sorted({b[0] for seed in fixed["seed_buckets"] for b in seed})
    if len(lengths) < 2:
        return []
    cut = lengths[len(lengths) // 2]  # the longer half: lengths >= cut
    digits = 2 if metric == "exact" else 1

    def span(values: Sequence[float]) -> str:
        low, high = min(values), max(values)
        if low == high:
            return _number(low, digits)
        return f"{_number(low, digits)}–{_number(high, digits)}"

    def halves(row):
        short = [_pooled(s, lambda n: n < cut, metric) for s in row["seed_buckets"]]
        long = [_pooled(s, lambda n: n >= cut, metric) for s in row["seed_buckets"]]
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
        changes.append(f"{label} {span(change)} ({falls})")
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
    title = "exact match" if metric == "exact" else "BLEU"
    where = f"{name}, {PARTS[part]}"
    return [
        f"{where}: test {title} (range over seeds) on sources of < {cut} tokens: attention "
        f"{span(a_short)} vs fixed {span(f_short)} ({_ordering(a_short, f_short, names)}); on "
        f"≥ {cut} tokens: attention {span(a_long)} vs fixed {span(f_long)} "
        f"({_ordering(a_long, f_long, names)})",
        f"{where}: {title} change from < {cut} to ≥ {cut} tokens: "
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
            where = f"training sources ≤ {limit} tokens" if part == "length" else "test"
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
            if part != "length" and fixed and attention:
                for metric in ("exact", "bleu") if part == "sentences" else ("exact",):
                    lines += length_verdict(fixed, attention, name, part, metric)
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
