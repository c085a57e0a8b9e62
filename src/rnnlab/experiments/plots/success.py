"""Figures of success and error: Pascanu et al. 2013's success rate against length, learning
curves, and test error against length (generalization)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rnnlab.experiments.plots.figure import pyplot, save_figure

METHOD_STYLE = {
    "MSGD": ("tab:red", "o"),
    "MSGD-C": ("tab:blue", "s"),
    "MSGD-CR": ("tab:green", "^"),
}
CELL_STYLE = {"lstm": ("tab:blue", "s"), "elman": ("tab:red", "o")}


def success_against_length(rows: list[dict[str, Any]], path: Path, *, title: str) -> Path:
    """Pascanu et al. 2013 Fig. 7: success rate against length, one panel per (task, init).

    ``rows`` hold ``task, init, method, length, solved, runs``.
    """
    plt = pyplot()
    tasks = sorted({r["task"] for r in rows})
    inits = list(dict.fromkeys(r["init"] for r in rows))
    figure, axes = plt.subplots(
        len(tasks),
        len(inits),
        squeeze=False,
        sharey=True,
        figsize=(3.6 * len(inits), 2.8 * len(tasks)),
    )
    for i, task in enumerate(tasks):
        for j, scheme in enumerate(inits):
            ax = axes[i][j]
            for method, (color, marker) in METHOD_STYLE.items():
                points = sorted(
                    (r["length"], r["solved"] / r["runs"])
                    for r in rows
                    if (r["task"], r["init"], r["method"]) == (task, scheme, method)
                )
                if points:
                    ax.plot(*zip(*points, strict=True), color=color, marker=marker, label=method)
            ax.set_title(f"{task}, {scheme}", fontsize=9)
            ax.set_ylim(-0.05, 1.05)
            ax.set_xlabel("sequence length T")
            if j == 0:
                ax.set_ylabel("success rate")
    axes[0][0].legend(fontsize=8)
    figure.suptitle(title)
    figure.tight_layout()
    return save_figure(figure, path)


def learning_curves(
    series: dict[str, list[tuple[int, float]]], path: Path, *, title: str, ylabel: str
) -> Path:
    """One line per series (label -> [(update, value)]); colour by the label's first part
    (the method, for ``"MSGD-C/3"``, or the cell, for ``"lstm/3"``)."""
    plt = pyplot()
    figure, axes = plt.subplots(figsize=(5, 3.2))
    seen = set()
    for label, points in sorted(series.items()):
        group = label.split("/", 1)[0]
        color = (METHOD_STYLE | CELL_STYLE).get(group, (None, None))[0]
        axes.plot(
            *zip(*points, strict=True),
            color=color,
            alpha=0.8,
            linewidth=1,
            label=group if group not in seen else None,
        )
        seen.add(group)
    axes.set_xlabel("update")
    axes.set_ylabel(ylabel)
    axes.set_title(title, fontsize=9)
    if seen:
        axes.legend(fontsize=7)
    figure.tight_layout()
    return save_figure(figure, path)


def error_against_length(rows: list[dict[str, Any]], path: Path, *, title: str) -> Path:
    """Test error rate of each seed against test length (log-log-ish), one panel per task;
    the 1% line is the paper's success threshold."""
    plt = pyplot()
    tasks = sorted({r["task"] for r in rows})
    figure, axes = plt.subplots(1, len(tasks), squeeze=False, figsize=(4.5 * len(tasks), 3.2))
    for ax, task in zip(axes[0], tasks, strict=True):
        chosen = sorted((r for r in rows if r["task"] == task), key=lambda r: r["length"])
        lengths = [r["length"] for r in chosen]
        for seed in range(len(chosen[0]["error_rates"])):
            rates = [max(r["error_rates"][seed], 1e-4) for r in chosen]
            ax.plot(lengths, rates, marker="o", label=f"seed {seed}")
        ax.axhline(0.01, color="gray", linestyle="--", linewidth=1)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_ylim(5e-5, 1.5)
        ax.set_xlabel("test length T")
        ax.set_ylabel("error rate (0 drawn at 1e-4)")
        ax.set_title(task, fontsize=9)
        ax.legend(fontsize=7)
    figure.suptitle(title)
    figure.tight_layout()
    return save_figure(figure, path)
