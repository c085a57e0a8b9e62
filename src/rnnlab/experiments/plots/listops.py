"""The figure of the ListOps experiment (Nangia & Bowman 2018): held-out accuracy against the
expressions' operator depth per model — where sequential readers fall behind tree readers —
and the learning curves."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rnnlab.experiments.plots.figure import pyplot, save_figure

MODEL_STYLES = {  # label prefix -> (colour, line style): trees solid, sequential dashed
    "Tree-LSTM": ("tab:green", "-"),
    "TreeRNN": ("tab:olive", "-"),
    "LSTM": ("tab:blue", "--"),
    "LRU": ("tab:purple", "--"),
}


def _style(label: str) -> tuple[str | None, str]:
    for prefix, style in MODEL_STYLES.items():
        if label.startswith(prefix):
            return style
    return None, "-"


def accuracy_by_depth_and_curves(
    rows: Sequence[Mapping[str, Any]],
    curves: Mapping[str, Sequence[Sequence[Sequence[float]]]],
    path: Path,
    *,
    title: str,
) -> Path:
    """Left: held-out accuracy against operator depth, one line per model (pooled over seeds),
    a dotted line at chance (the held-out set's largest class). Middle and right: held-out
    accuracy (chance dotted) and mean training loss after each epoch, one line per run.

    Args:
        rows: summary rows with ``label``, ``by_depth`` (depth -> accuracy in [0, 1]),
            ``depth_counts`` (depth -> held-out expressions per seed) and ``chance``.
        curves: model label -> the runs' curves, each a list of ``[epoch, training loss,
            held-out accuracy]``.
        path: where the PNG goes.
        title: the figure's title.
    """
    plt = pyplot()
    figure, (by_depth, accuracy, loss) = plt.subplots(1, 3, figsize=(14, 4))
    for r in rows:
        colour, line = _style(r["label"])
        depths = [d for d in r["by_depth"] if d >= 1]  # depth 0: the few lone digits
        by_depth.plot(
            depths,
            [100 * r["by_depth"][d] for d in depths],
            marker="o",
            color=colour,
            linestyle=line,
            label=r["label"],
        )
    if rows:
        by_depth.axhline(
            100 * rows[0]["chance"], color="grey", linestyle=":", linewidth=1, label="chance"
        )
        counts = rows[0]["depth_counts"]
        by_depth.set_xticks([d for d in counts if d >= 1])
        by_depth.set_xticklabels([f"{d}\n(n={counts[d]})" for d in counts if d >= 1])
    by_depth.set_xlabel("operator depth of the expression")
    by_depth.set_ylabel("held-out accuracy % (pooled over seeds)")
    by_depth.set_ylim(0, 100)
    by_depth.legend(fontsize=8)
    for label, runs in curves.items():
        colour, line = _style(label)
        for i, curve in enumerate(runs):
            epochs, train_loss, held_out = zip(*curve, strict=True)
            shown = label if i == 0 else None
            accuracy.plot(
                epochs, [100 * a for a in held_out], color=colour, linestyle=line, label=shown
            )
            loss.plot(epochs, train_loss, color=colour, linestyle=line, label=shown)
    if rows:
        accuracy.axhline(100 * rows[0]["chance"], color="grey", linestyle=":", linewidth=1)
    for ax in (accuracy, loss):
        ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
    accuracy.set_xlabel("epoch")
    accuracy.set_ylabel("held-out accuracy %")
    accuracy.set_ylim(0, 100)
    loss.set_xlabel("epoch")
    loss.set_ylabel("mean training cross-entropy")
    loss.legend(fontsize=8)
    figure.suptitle(title)
    figure.tight_layout()
    return save_figure(figure, path)
