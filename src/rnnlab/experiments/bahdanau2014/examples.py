"""What the trained models output: which examples are decoded (:func:`evenly_spaced`,
:func:`per_length`), their greedy and beam outputs (:func:`decode_examples`), their scores
(:func:`score`) and the attention heatmaps (:func:`heatmaps`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from rnnlab.experiments.plots.translation import attention_heatmap
from rnnlab.models.seq2seq import Seq2Seq
from rnnlab.tasks.bleu import bleu_text, corpus_bleu
from rnnlab.tasks.numbers import NumberTranslation
from rnnlab.tasks.pairs import PairTask


def evenly_spaced(count: int, size: int | None) -> list[int]:
    """``size`` indices spread evenly over ``range(count)`` (all of them if ``size`` is None or
    at least ``count``)."""
    if size is None or size >= count:
        return list(range(count))
    return sorted({(i * count) // size for i in range(size)})


def per_length(task: PairTask, split: str, size: int) -> list[int]:
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
    task: PairTask,
    split: str,
    indices: Sequence[int],
    *,
    beam_width: int,
    batch_size: int = 256,
) -> list[dict[str, Any]]:
    """Greedy and beam-search outputs for the examples ``indices`` of ``split`` of a token
    task (the numbers or ``german_english``): one dict per example with its ``index`` in the
    split, ``source`` text, ``source_length``, ``reference`` / ``greedy`` / ``beam`` target ids,
    and their BLEU strings (``*_text``)."""
    pairs = task.pairs(split)
    sources = [source for source, _ in task.texts(split)]
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
            out.append(
                {
                    "split": split,
                    "index": i,
                    "source": sources[i],
                    "source_length": int(batch.source_lengths[b]),
                    "reference": pairs[i][1].tolist(),
                    "greedy": g,
                    "beam": k,
                    "reference_text": bleu_text(vocabulary.decode(pairs[i][1])),
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


def _drawable(task: PairTask, split: str) -> list[tuple[int, str]]:
    """(index, label) of the examples of ``split`` worth drawing: for the numbers, those whose
    German reverses ones and tens, labelled by the number; otherwise every example, by index."""
    if isinstance(task, NumberTranslation):
        numbers = task.numbers(split)
        picks = [(i, str(n)) for i, n in enumerate(numbers) if n % 100 > 20 and n % 10]
        return picks or [(i, str(n)) for i, n in enumerate(numbers)]
    return [(i, f"#{i}") for i in range(task.size(split))]


def heatmaps(
    model: Seq2Seq, task: PairTask, spec: dict[str, Any], folder: Path, count: int
) -> list[Path]:
    """Attention heatmaps (source tokens × decoded target tokens) of ``count`` sentences: the
    last drawable validation example (:func:`_drawable`), then test examples spread over the
    split (the sentences' test split is ordered as drawn, so these are of mixed lengths)."""
    if count == 0 or model.attention is None:
        return []
    valid, test = _drawable(task, "valid"), _drawable(task, "test")
    chosen = [("valid", valid[-1])] + [
        ("test", test[i]) for i in evenly_spaced(len(test), count - 1)
    ]
    paths = []
    for split, (i, label) in chosen[:count]:
        source, _ = task.pairs(split)[i]
        found = model.search(source.unsqueeze(1), torch.tensor([len(source)]))
        decoded = torch.tensor(found[0][0].tokens if found and found[0] else [], dtype=torch.long)
        weights = model.attention_map(source, decoded)  # (U', S)
        paths.append(
            attention_heatmap(
                weights.detach().cpu().numpy(),
                task.source_vocabulary.decode(source),
                [*task.target_vocabulary.decode(decoded), "</s>"],
                folder / f"attention_{split}_{label.lstrip('#')}.png",
                title=f"{spec['variant']} seed {spec['seed']}, {split}: {label}",
            )
        )
    return paths
