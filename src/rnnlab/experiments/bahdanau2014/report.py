"""The report of the reproduction: its figures (:func:`figures`) and sections
(:func:`report_sections`)."""

from __future__ import annotations

from pathlib import Path

from rnnlab.experiments.bahdanau2014.constants import EXPERIMENT, PAPER, PARTS
from rnnlab.experiments.bahdanau2014.summary import _key, length_curves, summarize, table_rows
from rnnlab.experiments.plots.translation import (
    extrapolation,
    fixed_vs_attention,
    learning_curves,
    sentences_against_length,
)
from rnnlab.runs.report import Section


def figures(store, records, name: str, out: Path) -> list[Path]:
    """The figures of preset ``name`` (:mod:`.plots.translation`): accuracy against source
    length in both numbers' parts (if it has the random split), the extrapolation part's scores
    and stop rules (if it has the split by length), BLEU and exact match against length on the
    sentences (if it has them), and the learning curves of every part."""
    curves = length_curves(records)
    specs = {
        part: next((r.spec for r in records if _key(r)[:2] == (name, part)), None) for part in PARTS
    }

    def part_curves(part: str) -> dict[str, dict[str, list]]:
        return {v: c for (p, s, v), c in curves.items() if (p, s) == (name, part)}

    images = []
    spread = "mean over seeds (bars: half the range)"
    if specs["random"] is not None:
        images.append(
            fixed_vs_attention(
                part_curves("random"),
                part_curves("length"),
                out / f"{name}_fixed_vs_attention.png",
                title=f"{EXPERIMENT} ({name}): fixed context vs attention against source length, "
                f"numbers en→de, {spread}",
                random_spec=specs["random"],
                length_spec=specs["length"],
            )
        )
    if specs["length"] is not None:
        images.append(
            extrapolation(
                part_curves("length"),
                specs["length"]["task"]["train_max_length"],
                out / f"{name}_against_length.png",
                title=f"{EXPERIMENT} ({name}), extrapolation (split by length): numbers en→de, "
                f"{spread}",
            )
        )
    if specs["sentences"] is not None:
        images.append(
            sentences_against_length(
                part_curves("sentences"),
                out / f"{name}_sentences.png",
                title=f"{EXPERIMENT} ({name}): fixed context vs attention against sentence "
                f"length, German→English, {spread}",
                spec=specs["sentences"],
            )
        )
    panels = {
        f"{EXPERIMENT} ({name}): learning curves, {title}": [
            (r.spec["variant"], store.metrics(r.key, "exact_match").get("exact_match", []))
            for r in records
            if _key(r)[:2] == (name, part)
        ]
        for part, title in PARTS.items()
        if specs[part] is not None
    }
    images.append(learning_curves(panels, out / f"{name}_learning_curves.png"))
    return images


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
                "within the training lengths, test longer than any training source. Part "
                "'sentences': German sentences of a synchronous grammar translated into English "
                "(the german_english task), a random split as in 'random'. "
                f"{PAPER} BLEU signature: {signatures}."
            ),
            header=["preset", *header],
            rows=[[r["preset"], *c] for r, c in zip(rows, cells, strict=True)],
        )
    ]
    for name in dict.fromkeys(r["preset"] for r in rows):
        images = figures(store, records, name, out)
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
