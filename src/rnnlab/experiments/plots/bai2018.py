"""The figures of the convolution-against-recurrence experiment (Bai, Kolter & Koltun 2018): each
model's test metric against the sequence length, its wall time per update, and its training
curves."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rnnlab.experiments.plots.figure import pyplot, save_figure

MODEL_STYLES = {  # label -> (colour, marker)
    "TCN": ("tab:green", "o"),
    "LSTM": ("tab:blue", "s"),
    "GRU": ("tab:orange", "^"),
    "TCN, one level short": ("tab:olive", "x"),
}
TASK_TITLES = {
    "addition": "adding (arjovsky16): test MSE",
    "copy": "copy (arjovsky16): test loss (CE per step)",
    "digits": "sequential 8×8 digits: test accuracy",
}


def _style(label: str) -> tuple[str | None, str]:
    return MODEL_STYLES.get(label, (None, "o"))


def metric_against_length(rows: Sequence[Mapping[str, Any]], path: Path, *, title: str) -> Path:
    """One panel per task: the median test metric over the seeds against T (adding, copy; log
    scale, bars from the best to the worst seed, the task's baseline dotted, the short TCN's
    floor as dashes) or per order (digits: bars); and a last panel with each model's wall time
    per update against the steps its receptive field must cover.

    Args:
        rows: summary rows with ``task``, ``case``, ``label``, ``median``, ``best``, ``worst``,
            ``baseline``, ``floor``, ``needed`` and ``ms_per_update``.
        path: where the PNG goes.
        title: the figure's title.
    """
    plt = pyplot()
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    figure, axes = plt.subplots(1, len(tasks) + 1, figsize=(4.2 * (len(tasks) + 1), 3.8))
    for axis, task in zip(axes, tasks, strict=False):
        chosen = [r for r in rows if r["task"] == task]
        labels = list(dict.fromkeys(r["label"] for r in chosen))
        if task == "digits":
            orders = list(dict.fromkeys(r["case"] for r in chosen))
            width = 0.8 / len(labels)
            for i, label in enumerate(labels):
                for j, order in enumerate(orders):
                    row = next(
                        (r for r in chosen if (r["label"], r["case"]) == (label, order)), None
                    )
                    if row is None:
                        continue
                    axis.bar(
                        j + i * width,
                        row["median"],
                        width,
                        yerr=[[row["median"] - row["worst"]], [row["best"] - row["median"]]],
                        color=_style(label)[0],
                        label=label if j == 0 else None,
                        capsize=3,
                    )
            axis.set_xticks([j + 0.4 - width / 2 for j in range(len(orders))], orders)
            axis.set_ylim(0, 1)
            axis.axhline(0.1, color="grey", linestyle=":", linewidth=1, label="chance")
        else:
            for label in labels:
                points = sorted(
                    (r["case"], r["median"], r["best"], r["worst"])
                    for r in chosen
                    if r["label"] == label
                )
                x, median, best, worst = zip(*points, strict=True)
                colour, marker = _style(label)
                axis.errorbar(
                    x,
                    median,
                    yerr=(
                        [m - b for m, b in zip(median, best, strict=True)],
                        [w - m for m, w in zip(median, worst, strict=True)],
                    ),
                    marker=marker,
                    color=colour,
                    capsize=3,
                    label=label,
                )
            baselines = sorted({(r["case"], r["baseline"]) for r in chosen})
            axis.plot(
                [b[0] for b in baselines],
                [b[1] for b in baselines],
                color="grey",
                linestyle=":",
                label="memoryless baseline",
            )
            floors = sorted((r["case"], r["floor"]) for r in chosen if r["floor"] is not None)
            if floors:
                axis.scatter(
                    [f[0] for f in floors],
                    [f[1] for f in floors],
                    marker="_",
                    s=300,
                    color=_style("TCN, one level short")[0],
                    label="floor of the short TCN",
                )
            axis.set_yscale("log")
            axis.set_xlabel("T")
        axis.set_title(TASK_TITLES[task], fontsize=9)
        axis.legend(fontsize=7)
    timing = axes[-1]
    for label in dict.fromkeys(r["label"] for r in rows):
        points = sorted((r["needed"], r["ms_per_update"]) for r in rows if r["label"] == label)
        colour, marker = _style(label)
        timing.plot(
            *zip(*points, strict=True), marker=marker, color=colour, linestyle="", label=label
        )
    timing.set_xscale("log")
    timing.minorticks_off()
    timing.set_yscale("log")
    timing.set_xlabel("steps the receptive field must cover")
    timing.set_ylabel("ms per update (one model)")
    timing.set_title("wall time per update", fontsize=9)
    timing.legend(fontsize=7)
    figure.suptitle(title, fontsize=10, y=1.02)
    figure.subplots_adjust(wspace=0.4)  # cheaper than tight_layout; the PNG is cropped tight
    return save_figure(figure, path)


def learning_curves(rows: Sequence[Mapping[str, Any]], path: Path, *, title: str) -> Path:
    """One panel per (task, case): each model's training loss against the update, the median
    over its seeds at every point of the curve (log scale).

    Args:
        rows: summary rows with ``task``, ``case``, ``label`` and ``curves`` (per seed, lists of
            ``[update, mean training loss]``).
        path: where the PNG goes.
        title: the figure's title.
    """
    plt = pyplot()
    panels = list(dict.fromkeys((r["task"], r["case"]) for r in rows))
    columns = min(4, len(panels))
    lines = -(-len(panels) // columns)
    figure, axes = plt.subplots(lines, columns, figsize=(3.6 * columns, 3.0 * lines), squeeze=False)
    for axis, (task, case) in zip(axes.flat, panels, strict=False):
        for row in (r for r in rows if (r["task"], r["case"]) == (task, case)):
            curves = row["curves"]
            steps = [point[0] for point in curves[0]]
            median = [statistics.median(curve[i][1] for curve in curves) for i in range(len(steps))]
            colour, _ = _style(row["label"])
            axis.plot(steps, median, color=colour, label=row["label"])
        axis.set_yscale("log")
        axis.set_title(f"{task} {case}", fontsize=9)
        axis.set_xlabel("update")
        axis.legend(fontsize=7)
    for axis in list(axes.flat)[len(panels) :]:
        axis.set_visible(False)
    figure.suptitle(title, fontsize=10, y=1.02)
    figure.subplots_adjust(wspace=0.4, hspace=0.45)
    return save_figure(figure, path)
