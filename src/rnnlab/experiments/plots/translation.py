"""The figures of the translation experiment (Bahdanau, Cho & Bengio 2014 in miniature): exact
match, BLEU and length error against source length (their Fig. 2), learning curves, and
attention heatmaps (their Fig. 3)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rnnlab.experiments.plots.figure import pyplot, save_figure

STYLE = {  # variant -> (colour, marker, label)
    "fixed": ("tab:red", "o", "fixed context (RNNencdec)"),
    "attention": ("tab:blue", "s", "attention (RNNsearch)"),
    "scheduled": ("tab:green", "^", "attention + scheduled sampling"),
    "unit": ("tab:purple", "v", "stop unit"),
    "length": ("tab:brown", "D", "length head"),
}
STOP_LABELS = {"attention": "end symbol", "unit": "stop unit", "length": "length head"}

# variant -> metric -> [(source length, mean over seeds, spread)], spread = half the range
Curves = Mapping[str, Mapping[str, Sequence[tuple[int, float, float]]]]


def _curve(ax, curves: Curves, variant: str, metric: str, shift: float, label=None) -> None:
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


def fixed_vs_attention(
    random: Curves,
    length: Curves,
    path: Path,
    *,
    title: str,
    random_spec: Mapping[str, Any] | None = None,
    length_spec: Mapping[str, Any] | None = None,
) -> Path:
    """Bahdanau et al.'s Fig. 2 in miniature: test exact match and BLEU against source length,
    fixed context vs attention, on the random split (every length in training); beside it the
    extrapolation part's exact match against source length.

    Args:
        random: the random split's curves (metrics ``exact`` and ``bleu``).
        length: the split by length's curves (metric ``exact``).
        path: where the PNG goes.
        title: the figure's title.
        random_spec, length_spec: the spec of one run of each part, or None; its ``task``
            (``max_number``, ``n_train``, ``train_max_length``) and ``model`` (``hidden_size``)
            title the panels, and the split by length's ``train_max_length`` is marked.
    """
    plt = pyplot()
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
    if random_spec is not None:
        n_train = random_spec["task"]["n_train"]
        axes[0].set_title(
            f"in distribution: random split of 0..{random_spec['task']['max_number']:,}"
            + (f" ({n_train:,} trained)" if n_train else "")
            + f", GRU {random_spec['model']['hidden_size']}",
            fontsize=8,
        )
        axes[1].set_title("every length is in training; test numbers are new", fontsize=8)
    axes[0].set_ylim(-0.05, 1.05)
    for shift, variant in zip((-0.08, 0.08), ("fixed", "attention"), strict=True):
        _curve(axes[2], length, variant, "exact", shift)
    if length_spec is not None:
        _limit_line(axes[2], length_spec["task"]["train_max_length"])
        axes[2].set_title(
            f"extrapolation: split by length of 0..{length_spec['task']['max_number']:,}, "
            f"GRU {length_spec['model']['hidden_size']}",
            fontsize=8,
        )
    axes[2].set_xlabel("source length (tokens)")
    axes[2].set_ylabel("exact match (greedy)")
    axes[2].set_ylim(-0.05, 1.05)
    axes[2].legend(fontsize=7)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    return save_figure(figure, path)


def sentences_against_length(
    curves: Curves, path: Path, *, title: str, spec: Mapping[str, Any]
) -> Path:
    """Bahdanau et al.'s Fig. 2 on the German–English sentences: test BLEU (their measure) and
    exact match against the German source's length, fixed context vs attention; ``spec`` is one
    run's spec (its ``task``: ``n_train``; ``model``: ``hidden_size``) for the panels' title."""
    plt = pyplot()
    figure, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, metric, label in (
        (axes[0], "bleu", "BLEU (greedy, words)"),
        (axes[1], "exact", "exact match (greedy)"),
    ):
        for shift, variant in zip((-0.1, 0.1), ("fixed", "attention"), strict=True):
            _curve(ax, curves, variant, metric, shift)
        ax.set_xlabel("German source length (tokens)")
        ax.set_ylabel(label)
        ax.legend(fontsize=7)
    axes[0].set_title(
        f"{spec['task']['n_train']:,} training pairs, bidirectional GRU "
        f"{spec['model']['hidden_size']} encoder, GRU decoder",
        fontsize=8,
    )
    axes[1].set_title("every length is in training; test sentences are new", fontsize=8)
    axes[1].set_ylim(-0.05, 1.05)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    return save_figure(figure, path)


def extrapolation(curves: Curves, train_max_length: int, path: Path, *, title: str) -> Path:
    """The split by length: exact match and BLEU against source length (fixed vs attention vs
    scheduled sampling), and the stop rules' length error ``|Û − U|``; a dashed line after
    ``train_max_length``, the longest training source."""
    plt = pyplot()
    figure, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    panels = [
        ("exact", "exact match (greedy)", ("fixed", "attention", "scheduled")),
        ("bleu", "BLEU (greedy, morphemes)", ("fixed", "attention", "scheduled")),
        ("length_error", "mean |Û − U| (tokens)", ("attention", "unit", "length")),
    ]
    for ax, (metric, label, variants) in zip(axes, panels, strict=True):
        for shift, variant in zip((-0.1, 0.0, 0.1), variants, strict=True):
            text = STOP_LABELS[variant] if metric == "length_error" else None
            _curve(ax, curves, variant, metric, shift, text)
        _limit_line(ax, train_max_length)
        ax.set_xlabel("source length (tokens)")
        ax.set_ylabel(label)
        ax.legend(fontsize=7)
    axes[0].set_ylim(-0.05, 1.05)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    return save_figure(figure, path)


def learning_curves(
    panels: Mapping[str, Sequence[tuple[str, Sequence[tuple[int, float]]]]], path: Path
) -> Path:
    """Validation exact match (greedy, free-running) against updates: one panel per entry of
    ``panels`` (panel title -> its runs, each ``(variant, [(update, exact match), ...])``), one
    line per run coloured by its variant (runs without points are left out)."""
    plt = pyplot()
    figure, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 3.4), squeeze=False)
    for ax, (panel_title, runs) in zip(axes[0], panels.items(), strict=True):
        seen = set()
        for variant, points in runs:
            if not points:
                continue
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
        ax.set_title(panel_title, fontsize=9)
    figure.tight_layout()
    return save_figure(figure, path)


def attention_heatmap(
    weights: Sequence[Sequence[float]],
    source: Sequence[str],
    target: Sequence[str],
    path: Path,
    *,
    title: str,
) -> Path:
    """Bahdanau et al. 2014 Fig. 3: the weights α_ij, ``(U', S)`` (a nested list or array), as
    a grey image, the ``S`` source tokens along x, the ``U'`` generated target tokens along y."""
    plt = pyplot()
    U, S = np.shape(weights)
    figure, axes = plt.subplots(figsize=(0.45 * S + 1.6, 0.45 * U + 1.2))
    axes.imshow(weights, cmap="gray", vmin=0.0, vmax=1.0)
    axes.set_xticks(range(S), list(source), rotation=60, ha="right", fontsize=8)
    axes.set_yticks(range(U), list(target)[:U], fontsize=8)
    axes.set_title(title, fontsize=8)
    figure.tight_layout()
    return save_figure(figure, path)
