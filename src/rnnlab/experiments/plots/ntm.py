"""The figures of the NTM copy experiment (Graves, Wayne & Danihelka 2014, §4.1): bits per
sequence against test length with the training range shaded, learning curves, and the NTM's
read and write weightings over one test sequence (the paper's Fig. 6)."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rnnlab.experiments.plots.figure import pyplot, save_figure

MODEL_COLORS = {"NTM (feed-forward)": "tab:green", "LSTM": "tab:blue"}

Points = Sequence[Sequence[float]]  # [(length or update, value, ...), ...]


def bits_and_curves(
    runs: Mapping[str, Sequence[tuple[Points, Points, Points]]],
    train_length: int,
    width: int,
    path: Path,
    *,
    title: str,
) -> Path:
    """Three panels: wrong bits and cross-entropy bits per sequence against the test length,
    and the learning curves; one thin line per run, the median over runs thick.

    Args:
        runs: model label -> its runs, each ``(wrong, cost, curve)``: ``wrong`` and ``cost``
            are ``[(length, bits per sequence), ...]`` sorted by length; ``curve`` is
            ``[(update, wrong bits, cross-entropy bits), ...]`` at the training lengths.
        train_length: the longest training length ``T`` (lengths 1..T are shaded).
        width: bits per vector (the chance line is ``length·width/2`` wrong bits).
        path: where the PNG goes.
        title: the figure's title.
    """
    plt = pyplot()
    figure, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    for column, name in ((0, "wrong bits (threshold ½)"), (1, "cross-entropy (bits)")):
        ax = axes[column]
        ax.axvspan(0.5, train_length + 0.5, color="0.9", label="training lengths")
        longest = 1
        for label, chosen in runs.items():
            color = MODEL_COLORS.get(label)
            series = [run[column] for run in chosen]
            for points in series:
                lengths, values = zip(*points, strict=True)
                longest = max(longest, max(lengths))
                ax.plot(lengths, values, color=color, alpha=0.3, linewidth=0.8)
            lengths = [n for n, _ in series[0]]
            medians = [
                statistics.median(points[i][1] for points in series) for i in range(len(lengths))
            ]
            ax.plot(lengths, medians, color=color, linewidth=2, label=f"{label} (median)")
        if column == 0:
            ax.plot(
                [1, longest],
                [width / 2, longest * width / 2],
                color="0.5",
                linestyle=":",
                label="guessing",
            )
        ax.set_xlabel("sequence length (vectors)")
        ax.set_ylabel(f"{name} per sequence")
        ax.legend(fontsize=7)
    ax = axes[2]
    for label, chosen in runs.items():
        for i, (_, _, curve) in enumerate(chosen):
            updates = [point[0] for point in curve]
            ax.plot(
                updates,
                [point[1] for point in curve],
                color=MODEL_COLORS.get(label),
                alpha=0.7,
                linewidth=1,
                label=label if i == 0 else None,
            )
    ax.set_xlabel("update")
    ax.set_ylabel(f"wrong bits per sequence, lengths 1–{train_length}")
    ax.legend(fontsize=7)
    figure.suptitle(title)
    figure.tight_layout()
    return save_figure(figure, path)


def weighting_heatmap(weightings: Mapping[str, Any], path: Path, *, title: str) -> Path:
    """Write and read weightings over time (memory slot against step), as in the paper's Fig. 6.

    Args:
        weightings: ``{"write": (L, N), "read": (L, N), "length": n}`` nested lists, one row
            per step of a copy sequence of ``n`` vectors (``L = 2n + 1``).
        path: where the PNG goes.
        title: the figure's title.
    """
    plt = pyplot()
    figure, axes = plt.subplots(1, 2, figsize=(9, 3.5), sharey=True)
    n = weightings["length"]
    for ax, name in zip(axes, ("write", "read"), strict=True):
        image = ax.imshow(
            list(zip(*weightings[name], strict=True)),  # (N, L): slots down, steps across
            aspect="auto",
            origin="lower",
            cmap="gray_r",
            vmin=0.0,
            vmax=1.0,
            interpolation="nearest",
        )
        ax.axvline(n, color="tab:red", linewidth=0.8)  # the delimiter's step
        ax.set_title(f"{name} weighting", fontsize=9)
        ax.set_xlabel("step (red: delimiter)")
    axes[0].set_ylabel("memory slot")
    figure.colorbar(image, ax=axes, fraction=0.03)
    figure.suptitle(title)
    return save_figure(figure, path)
