"""The figures of the transduction experiment (Graves 2012, RNN Transducer against CTC): the
greedy label error rate and the test loss against updates."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rnnlab.experiments.plots.figure import pyplot, save_figure

COLORS = {"ctc": "tab:blue", "transducer": "tab:red"}
METRICS = ("ler_greedy", "test_loss")  # the two panels, left to right


def ler_curves(runs: Sequence[Mapping[str, Any]], path: Path, *, title: str) -> Path:
    """Two panels against updates, on the logged test utterances: the greedy label error rate
    and the test loss ``-ln Pr(y|x)`` per utterance (log scale). One thin line per run, the mean
    over the runs of each label thick (at the updates they all logged), one colour per system
    (dashed: the mlp joint; dash-dotted and dotted: the same with a CTC-pretrained encoder).

    Args:
        runs: one mapping per run, in drawing order: ``label`` (the legend's name of its
            system), ``system`` (``"ctc"`` or ``"transducer"``), ``joint`` (``"additive"``,
            ``"mlp"`` or None), optionally ``pretrained`` (True: the encoder started from CTC;
            dash-dotted, dotted for the mlp joint) and, for each of ``METRICS``, its
            ``[(update, value), ...]`` (empty or absent: not drawn).
        path: where the PNG goes.
        title: the figure's title.
    """
    plt = pyplot()
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    for axes, metric in zip((left, right), METRICS, strict=True):
        groups: dict[str, list[Sequence[tuple[int, float]]]] = {}
        styles = {}
        for run in runs:
            points = run.get(metric) or []
            if not points:
                continue
            label, color = run["label"], COLORS[run["system"]]
            linestyle = "--" if run["joint"] == "mlp" else "-"
            if run.get("pretrained"):
                linestyle = ":" if run["joint"] == "mlp" else "-."
            styles[label] = (color, linestyle)
            axes.plot(*zip(*points, strict=True), color=color, ls=linestyle, alpha=0.3, lw=1)
            groups.setdefault(label, []).append(points)
        for label, group in groups.items():
            steps = sorted(set.intersection(*({s for s, _ in points} for points in group)))
            values = [dict(points) for points in group]
            mean = [statistics.fmean(v[s] for v in values) for s in steps]
            color, linestyle = styles[label]
            axes.plot(
                steps, mean, color=color, ls=linestyle, lw=2, label=f"{label}, mean of {len(group)}"
            )
        axes.set_xlabel("update")
        axes.grid(alpha=0.3)
        if groups:
            axes.legend(fontsize=8)
    left.set_ylim(0, 1.05)
    left.set_ylabel("greedy label error rate")
    right.set_yscale("log")
    right.set_ylabel("test loss, -ln Pr(y|x) per utterance")
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    return save_figure(figure, path)
