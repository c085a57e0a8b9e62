"""The figure of the waveform-generation experiment (Koutník et al. 2014, the Clockwork RNN's
first task): NMSE against parameter count per model, and the best generated fragments."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rnnlab.experiments.plots.figure import pyplot, save_figure

MODEL_COLORS = {"SRN": "tab:red", "LSTM": "tab:blue", "CW-RNN": "tab:green"}


def nmse_and_generated(
    rows: Sequence[Mapping[str, Any]],
    target: Sequence[float],
    generated: Mapping[str, tuple[str, Sequence[float]]],
    path: Path,
    *,
    title: str,
) -> Path:
    """Left: NMSE against parameter count (both log scale), one line per model: the median over
    seeds, bars from the best to the worst seed, a dotted line at NMSE 1 (outputting the
    fragment's mean). Right: one panel per model, its best run's output over the target.

    Args:
        rows: summary rows with ``label`` (the model's name, e.g. ``"CW-RNN"``), ``parameters``,
            ``median``, ``min`` and ``max`` (NMSE).
        target: the fragment, one value per step.
        generated: model label -> (a caption, that model's best output, one value per step);
            panels in this order.
        path: where the PNG goes.
        title: the figure's title.
    """
    plt = pyplot()
    panels = max(1, len(generated))
    figure = plt.figure(figsize=(11, 1.6 + 1.5 * panels))
    grid = figure.add_gridspec(panels, 2, width_ratios=(1, 1.4))
    left = figure.add_subplot(grid[:, 0])
    for label in dict.fromkeys(r["label"] for r in rows):
        points = sorted(
            (r["parameters"], r["median"], r["min"], r["max"]) for r in rows if r["label"] == label
        )
        x, median, low, high = zip(*points, strict=True)
        below = [m - lo for m, lo in zip(median, low, strict=True)]
        above = [hi - m for m, hi in zip(median, high, strict=True)]
        left.errorbar(
            x,
            median,
            yerr=(below, above),
            marker="o",
            capsize=3,
            color=MODEL_COLORS.get(label),
            label=label,
        )
    left.axhline(1.0, color="grey", linestyle=":", linewidth=1, label="the fragment's mean")
    left.set_xscale("log")
    left.set_yscale("log")
    left.set_xlabel("parameters (readout included)")
    left.set_ylabel("NMSE (median; bars: best–worst seed)")
    left.legend(fontsize=8)
    for i, (label, (caption, output)) in enumerate(generated.items()):
        ax = figure.add_subplot(grid[i, 1])
        ax.plot(target, color="black", linewidth=1.0, label="target")
        ax.plot(output, color=MODEL_COLORS.get(label), linewidth=1.0, alpha=0.85, label=label)
        ax.set_title(caption, fontsize=9)
        ax.legend(fontsize=7, loc="upper right")
        if i == panels - 1:
            ax.set_xlabel("step (sample)")
    figure.suptitle(title)
    figure.tight_layout()
    return save_figure(figure, path)


def nmse_curves(
    curves: Mapping[tuple[str, int], Sequence[Sequence[Sequence[float]]]],
    path: Path,
    *,
    title: str,
) -> Path:
    """Learning curves: one panel per parameter count, one line per run, coloured by model.

    Args:
        curves: (model label, parameter budget) -> the runs' curves, each a list of
            ``[update, NMSE]`` pairs.
        path: where the PNG goes.
        title: the figure's title.
    """
    plt = pyplot()
    budgets = sorted({budget for _, budget in curves})
    figure, axes = plt.subplots(
        1, len(budgets), squeeze=False, sharey=True, figsize=(3.2 * len(budgets), 3)
    )
    for ax, budget in zip(axes[0], budgets, strict=True):
        for (label, chosen), runs in curves.items():
            if chosen != budget:
                continue
            for i, curve in enumerate(runs):
                updates, values = zip(*curve, strict=True)
                ax.plot(
                    updates,
                    values,
                    color=MODEL_COLORS.get(label),
                    alpha=0.7,
                    linewidth=1,
                    label=label if i == 0 else None,
                )
        ax.set_yscale("log")
        ax.set_title(f"budget ≈{budget} parameters", fontsize=9)
        ax.set_xlabel("Adam update")
    axes[0][0].set_ylabel("NMSE on the fragment")
    axes[0][0].legend(fontsize=8)
    figure.suptitle(title)
    figure.tight_layout()
    return save_figure(figure, path)
